"""Small JPEG helpers shared by detectors (no detector imports another)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from ..image import Image, JpegInternals

#: Zig-zag scan order of an 8x8 block as (row, column) pairs.
ZIGZAG: tuple[tuple[int, int], ...] = tuple(
    sorted(
        ((u, v) for u in range(8) for v in range(8)),
        key=lambda uv: (uv[0] + uv[1], uv[0] if (uv[0] + uv[1]) % 2 else uv[1]),
    )
)

_SUBSAMPLING_CODE = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def recompress(pixels: np.ndarray, quality: int | None = None, jpeg: JpegInternals | None = None) -> np.ndarray:
    """Encode ``pixels`` as JPEG and decode them again.

    With ``jpeg`` given, the file's own quantization tables and chroma
    subsampling are reused, which reproduces "the same quality" exactly even for
    camera tables that are not IJG scalings; otherwise IJG ``quality`` is used.
    """
    options: dict = {"format": "JPEG"}
    if jpeg is not None:
        tables = [jpeg.quant_tables["Y"]]
        if "Cb" in jpeg.quant_tables:
            tables.append(jpeg.quant_tables["Cb"])
        options["qtables"] = [np.asarray(t, dtype=int).ravel().tolist() for t in tables]
        options["subsampling"] = _SUBSAMPLING_CODE.get(jpeg.subsampling, 2)
    else:
        options["quality"] = int(quality if quality is not None else 90)
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(pixels)).save(buffer, **options)
    buffer.seek(0)
    decoded = PILImage.open(buffer)
    return np.asarray(decoded if decoded.mode == "RGB" else decoded.convert("RGB"))


#: Rows of pixels re-saved at a time by :func:`recompressed_strips` (a multiple of every MCU height, 16).
STRIP_ROWS = 1024
#: Rows re-saved on each side of a strip and discarded: a whole MCU row, more than the two rows a decoder's
#: chroma upsampling reads across a boundary plus the few a caller's small filter reads.
STRIP_CONTEXT = 16


def recompressed_strips(
    pixels: np.ndarray, quality: int | None = None, jpeg: JpegInternals | None = None, rows: int = STRIP_ROWS
):
    """:func:`recompress` strip by strip, for bounded memory on large images; the same pixels.

    Yields ``(first, start, stop, resaved)``: ``resaved`` holds the re-saved rows ``first ..
    first + len(resaved)``, of which rows ``start .. stop`` are exactly those of :func:`recompress` on the
    whole image, with at least :data:`STRIP_CONTEXT` exact-or-edge rows around them (the image's own edge, or
    context rows to discard). It holds because each strip starts on an MCU boundary (``rows`` and the
    context are multiples of 16, the tallest MCU ``recompress`` writes): the encoder's chroma downsampling,
    DCT and quantization work within MCUs, and only the decoder's chroma upsampling reads one chroma row
    across a strip's edge, which the context absorbs.
    """
    if rows % 16:
        raise ValueError("strips must be a multiple of 16 rows")
    height = pixels.shape[0]
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        first, last = max(0, start - STRIP_CONTEXT), min(height, stop + STRIP_CONTEXT)
        yield first, start, stop, recompress(pixels[first:last], quality, jpeg)


def block_dct(plane: np.ndarray) -> np.ndarray:
    """Orthonormal 8x8 DCT (the JPEG DCT) of each whole block, shape (rows, cols, 8, 8)."""
    from scipy import fft

    rows, cols = plane.shape[0] // 8, plane.shape[1] // 8
    blocks = plane[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).transpose(0, 2, 1, 3)
    return fft.dctn(blocks, axes=(2, 3), norm="ortho")


def dct_basis() -> np.ndarray:
    """The orthonormal 8-point DCT-II matrix ``C``: a block's coefficients are ``C @ block @ C.T``."""
    k = np.arange(8)
    basis = np.sqrt(2.0 / 8.0) * np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16.0)
    basis[0] /= np.sqrt(2.0)
    return basis


def block_dct_at(plane: np.ndarray, frequencies, strip_blocks: int = 64) -> dict[tuple[int, int], np.ndarray]:
    """The orthonormal 8x8 DCT coefficients ``(u, v)`` of every whole block, only those: each ``(rows, cols)``.

    The same numbers as :func:`block_dct` (to float32 rounding) for a fraction of its cost when few frequencies
    are read: two matrix products with the needed rows of the DCT matrix, the first over block rows, the second
    over block columns; ``strip_blocks`` rows of blocks at a time, so the working memory stays small.
    """
    rows, cols = plane.shape[0] // 8, plane.shape[1] // 8
    pairs = [(int(u), int(v)) for u, v in frequencies]
    us, vs = sorted({u for u, _ in pairs}), sorted({v for _, v in pairs})
    basis = dct_basis().astype(np.float32)
    down, across = basis[us], np.ascontiguousarray(basis[vs].T)
    out = {pair: np.empty((rows, cols), dtype=np.float32) for pair in pairs}
    for top in range(0, rows, strip_blocks):
        count = min(strip_blocks, rows - top)
        blocks = np.ascontiguousarray(plane[8 * top : 8 * (top + count), : cols * 8], dtype=np.float32)
        vertical = np.matmul(down, blocks.reshape(count, 8, cols * 8))  # (count, len(us), cols * 8)
        coefficients = vertical.reshape(count, len(us), cols, 8) @ across  # (count, len(us), cols, len(vs))
        for u, v in pairs:
            out[(u, v)][top : top + count] = coefficients[:, us.index(u), :, vs.index(v)]
    return out


def block_idct(coefficients: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Dequantize and inverse-DCT quantized blocks (rows, cols, 8, 8) into a float plane,
    without the level shift, rounding or clipping a decoder applies."""
    from scipy import fft

    rows, cols = coefficients.shape[:2]
    blocks = fft.idctn(coefficients.astype(np.float64) * table.astype(np.float64), axes=(2, 3), norm="ortho")
    return blocks.transpose(0, 2, 1, 3).reshape(rows * 8, cols * 8)


def rounding_error_dct(jpeg: JpegInternals, max_blocks: int = 16384) -> np.ndarray:
    """Block DCT of the luminance of the decoder's rounding and truncation error.

    The float RGB reconstruction (before rounding to 8 bits) minus its rounded,
    clipped version, combined as luminance: the error an earlier decompression
    added between two compressions, as Bianchi et al. estimate its variance.
    Chroma is upsampled by repetition. Only its statistics are used, so it is
    computed on a central window of at most ``max_blocks`` luminance blocks
    (about 1 MP), which bounds the cost on large images.
    """
    y_coefficients = jpeg.coefficients["Y"]
    rows, cols = y_coefficients.shape[:2]
    chroma_names = [n for n in ("Cb", "Cr") if n in jpeg.coefficients]
    fy = fx = 1
    if len(chroma_names) == 2:
        fy = max(1, round(rows / jpeg.coefficients["Cb"].shape[0]))
        fx = max(1, round(cols / jpeg.coefficients["Cb"].shape[1]))
    scale = min(1.0, (max_blocks / (rows * cols)) ** 0.5)
    # Whole MCUs only, so that chroma blocks stay aligned with the luminance they cover.
    take_rows = max(fy, int(rows * scale) // fy * fy)
    take_cols = max(fx, int(cols * scale) // fx * fx)
    top = (rows - take_rows) // 2 // fy * fy
    left = (cols - take_cols) // 2 // fx * fx
    luma = block_idct(y_coefficients[top : top + take_rows, left : left + take_cols], jpeg.quant_tables["Y"])
    luma += 128.0
    if len(chroma_names) == 2:
        chroma = []
        for name in chroma_names:
            window = jpeg.coefficients[name][top // fy : (top + take_rows) // fy, left // fx : (left + take_cols) // fx]
            plane = block_idct(window, jpeg.quant_tables[name])
            plane = np.repeat(np.repeat(plane, fy, axis=0), fx, axis=1)
            padded = np.zeros_like(luma)
            h, w = min(plane.shape[0], luma.shape[0]), min(plane.shape[1], luma.shape[1])
            padded[:h, :w] = plane[:h, :w]
            chroma.append(padded)
        cb, cr = chroma
        rgb = np.stack([luma + 1.402 * cr, luma - 0.34414 * cb - 0.71414 * cr, luma + 1.772 * cb])
        error = rgb - np.round(np.clip(rgb, 0, 255))
        error_luma = 0.299 * error[0] + 0.587 * error[1] + 0.114 * error[2]
    else:
        error_luma = luma - np.round(np.clip(luma, 0, 255))
    return block_dct(error_luma)


def shared_luma_plane(image: Image) -> np.ndarray:
    """:func:`block_idct` of the luminance coefficients (float, no level shift), once per image (ADQ2, NADQ)."""
    jpeg = image.jpeg
    return image.shared(("luma_plane",), lambda: block_idct(jpeg.coefficients["Y"], jpeg.quant_tables["Y"]))


def shared_rounding_error_dct(image: Image, max_blocks: int = 16384) -> np.ndarray:
    """:func:`rounding_error_dct` of the image's JPEG internals, once per image and window (ADQ2, NADQ)."""
    return image.shared(("rounding_error_dct", max_blocks), lambda: rounding_error_dct(image.jpeg, max_blocks))
