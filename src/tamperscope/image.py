"""Loading an image once, with everything forensics needs from the file.

:func:`load` is the only place tamperscope opens an image. It returns an
:class:`Image`: the pixels as stored (never rotated), the EXIF orientation so
that overlays can be shown upright, the raw metadata blocks, and for JPEG files
the quantization tables and quantized DCT coefficients of every component read
with libjpeg (through ``jpeglib``), not re-derived from pixels.

Limits are checked before any pixel is decoded: the file size, the declared
pixel count, and the ratio of declared pixels to file bytes that marks a
decompression bomb.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, TypeVar, Union

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFile, UnidentifiedImageError

from .errors import (
    DecompressionBomb,
    ImageTooLarge,
    TruncatedImage,
    UnreadableImage,
    UnsupportedFormat,
)

try:  # HEIC/AVIF are optional: only when pillow-heif is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_AVAILABLE = False

#: Formats tamperscope analyses (Pillow's format names).
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "WEBP", "BMP", "MPO", "GIF"}) | (
    frozenset({"HEIF", "AVIF"}) if HEIF_AVAILABLE else frozenset()
)

ImageSource = Union[str, os.PathLike, bytes, np.ndarray]
T = TypeVar("T")
#: Rows converted at a time where a whole-image temporary would be several times the image (the luminance).
_STRIP_ROWS = 512


@dataclass(frozen=True)
class Limits:
    """Resource limits: checked before decoding, and on each detector's run time.

    Parameters
    ----------
    max_pixels : int
        Largest accepted canvas (width x height). Default 120 MP.
    max_file_bytes : int
        Largest accepted file. Default 256 MiB.
    max_pixels_per_byte : float
        A file whose declared canvas exceeds ``max_pixels`` and holds more than
        this many pixels per byte of file is reported as a decompression bomb
        rather than merely too large.
    detector_seconds : float or None
        Wall-clock limit of each detector; one that runs longer is recorded as
        failed ("ran past its time limit") and the others' evidence stands.
        Enforced in the main thread of a POSIX process (a ``SIGALRM`` timer);
        ``None`` turns it off. Default 120 s.

    Notes
    -----
    Pillow keeps its own process-wide guard (``PIL.Image.MAX_IMAGE_PIXELS``,
    about 179 MP before it refuses to open a file). A ``max_pixels`` above that
    also needs Pillow's guard raised by the caller.
    """

    max_pixels: int = 120_000_000
    max_file_bytes: int = 256 * 1024 * 1024
    max_pixels_per_byte: float = 100.0
    detector_seconds: float | None = 120.0


DEFAULT_LIMITS = Limits()


@dataclass
class JpegInternals:
    """What libjpeg reads from a JPEG file without decompressing it.

    Attributes
    ----------
    quant_tables : dict of str to ndarray
        The 8x8 quantization table used by each component ("Y", "Cb", "Cr",
        "K"), in natural (row-major frequency) order.
    coefficients : dict of str to ndarray
        Quantized DCT coefficients per component, int16 of shape
        ``(rows_of_blocks, cols_of_blocks, 8, 8)``; index ``[i, j, u, v]`` is
        vertical frequency ``u`` and horizontal frequency ``v`` of the block at
        block-row ``i``, block-column ``j``.
    sampling_factors : list of tuple of int
        (horizontal, vertical) sampling factor of each component.
    progressive : bool
        Whether the file is progressive.
    quality : float or None
        IJG quality that best explains the luminance table (see
        :func:`estimate_jpeg_quality`); None when the table is not an IJG
        scaling of the standard one at any quality.
    quality_exact : bool
        True when the luminance table equals an IJG table exactly.
    """

    quant_tables: dict[str, np.ndarray]
    coefficients: dict[str, np.ndarray]
    sampling_factors: list[tuple[int, int]]
    progressive: bool
    quality: float | None
    quality_exact: bool

    @property
    def subsampling(self) -> str:
        """Chroma subsampling as the usual J:a:b label (e.g. "4:2:0")."""
        if len(self.sampling_factors) < 3:
            return "none (grayscale)"
        (h0, v0), (h1, v1) = self.sampling_factors[0], self.sampling_factors[1]
        ratio = (h0 // max(h1, 1), v0 // max(v1, 1))
        return {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0", (4, 1): "4:1:1"}.get(
            ratio, f"{h0}x{v0},{h1}x{v1}"
        )


@dataclass
class Metadata:
    """Raw metadata blocks, kept as found (parsing is left to detectors)."""

    exif: bytes | None = None
    xmp: bytes | None = None
    icc_profile: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    c2pa_present: bool = False


@dataclass
class Image:
    """A decoded image and what its file says about itself.

    Attributes
    ----------
    pixels : ndarray
        uint8 RGB array ``(height, width, 3)`` as stored in the file (EXIF
        orientation is *not* applied: the traces live in stored order).
    format : str
        Pillow's format name ("JPEG", "PNG", ...) or "ARRAY" for arrays.
    mode : str
        The stored colour mode before conversion to RGB (e.g. "L", "CMYK").
    orientation : int
        EXIF orientation 1..8 (1 = upright as stored).
    jpeg : JpegInternals or None
        Present for JPEG files whose internals libjpeg could read.
    jpeg_error : str or None
        Why ``jpeg`` is missing for a JPEG file.
    metadata : Metadata
    sha256 : str
        Hex digest of the file bytes (of the array bytes for arrays).
    file_size : int
    frames : int
        Number of frames; only the first is analysed.
    decode_warnings : list of str
        What the decoders reported about damage they worked around (libjpeg's
        "Corrupt JPEG data: ..." messages, Pillow's warnings on broken EXIF):
        the pixels are analysed as decoded, and the report says so.
    source : str
        Path of the file, or a short description of the source.
    file_bytes : bytes or None
        The file exactly as read (None for arrays). Provenance checks need the
        bytes, not the pixels: a C2PA hard binding hashes the file itself.
    """

    pixels: np.ndarray
    format: str
    mode: str
    orientation: int
    jpeg: JpegInternals | None
    jpeg_error: str | None
    metadata: Metadata
    sha256: str
    file_size: int
    frames: int
    source: str
    decode_warnings: list[str] = field(default_factory=list)
    file_bytes: bytes | None = field(default=None, repr=False, compare=False)
    _luminance: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _shared: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def upright(self, array: np.ndarray) -> np.ndarray:
        """Return ``array`` (any map at image resolution) turned upright."""
        return apply_orientation(array, self.orientation)

    def luminance(self) -> np.ndarray:
        """Luma Y of ITU-R BT.601 (as JPEG uses), float32 in [0, 255], read-only.

        Computed once and shared by every detector; copy it before changing it.
        """
        if self._luminance is None:
            import cv2

            weights = np.array([[0.299, 0.587, 0.114]], dtype=np.float32)
            luma = np.empty(self.shape, dtype=np.float32)
            for top in range(0, self.height, _STRIP_ROWS):  # a float copy of a strip at a time, not of the image
                strip = self.pixels[top : top + _STRIP_ROWS].astype(np.float32)
                luma[top : top + len(strip)] = cv2.transform(strip, weights)
            luma.flags.writeable = False
            self._luminance = luma
        return self._luminance

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A computation on this image that several detectors need, done once: ``compute()`` on first use.

        The decoded planes, block DCTs and residuals that more than one method reads are asked for here by the
        helpers in ``tamperscope.detectors._*`` (detectors never import each other), under a key that names the
        computation and its parameters; the second detector gets the first one's result. Results are read-only
        by convention (copy before changing). :meth:`release_shared` drops them (and the luminance) once the
        detectors are done, so that their memory is free for what follows.
        """
        if key not in self._shared:
            value = compute()
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            self._shared[key] = value
        return self._shared[key]

    def release_shared(self) -> None:
        """Forget :meth:`shared` results and the luminance (recomputed if asked for again)."""
        self._shared.clear()
        self._luminance = None


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to the first two axes of ``array``."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],
    }
    return np.ascontiguousarray(ops.get(orientation, ops[1])(array))


# Standard IJG tables (ITU-T T.81 Annex K), natural order.
_IJG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)


def ijg_table(quality: int) -> np.ndarray:
    """The IJG (libjpeg ``jpeg_set_quality``) luminance table at ``quality``."""
    quality = int(np.clip(quality, 1, 100))
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


def estimate_jpeg_quality(luma_table: np.ndarray, max_error: float | None = 2.0) -> tuple[float | None, bool]:
    """Estimate the IJG quality of a luminance quantization table.

    Returns the integer quality whose IJG table is closest (mean absolute
    difference), and whether the match is exact. Tables that are not IJG
    scalings (many cameras) are matched to the closest quality; the match is
    then approximate and only a hint. ``None`` when no quality comes within a
    mean of ``max_error`` steps per coefficient (``None``: always the closest).
    """
    table = np.asarray(luma_table, dtype=np.float64)
    errors = np.array([np.abs(ijg_table(q) - table).mean() for q in range(1, 101)])
    best = int(np.argmin(errors)) + 1
    if max_error is not None and errors[best - 1] > max_error:
        return None, False
    return float(best), bool(errors[best - 1] == 0)


def load(source: ImageSource, limits: Limits = DEFAULT_LIMITS) -> Image:
    """Load an image file (or array) for analysis.

    Parameters
    ----------
    source : path, bytes or ndarray
        A file path, the bytes of a file, or an ``(H, W)``/``(H, W, 3|4)``
        uint8 array (analysed as pixels only: no JPEG internals, no metadata).
    limits : Limits
        Size limits, checked before decoding.

    Returns
    -------
    Image

    Raises
    ------
    UnreadableImage, UnsupportedFormat, TruncatedImage, ImageTooLarge,
    DecompressionBomb
        Each with a one-line message.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, limits)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name, path = bytes(source), "<bytes>", None
    else:
        path = Path(source)
        name = str(path)
        data = _read_file(path, limits)
    if not data:
        raise UnreadableImage(f"{name}: the file is empty")
    if len(data) > limits.max_file_bytes:
        raise ImageTooLarge(f"{name}: {len(data)} bytes is over the {limits.max_file_bytes}-byte limit")
    return _decode(data, name, path, limits)


def _read_file(path: Path, limits: Limits) -> bytes:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UnreadableImage(f"{path}: not a regular file")
        if size > limits.max_file_bytes:
            raise ImageTooLarge(f"{path}: {size} bytes is over the {limits.max_file_bytes}-byte limit")
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImage(f"{path}: no such file") from None
    except PermissionError:
        raise UnreadableImage(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise UnreadableImage(f"{path}: is a directory") from None
    except OSError as exc:
        raise UnreadableImage(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_canvas(width: int, height: int, file_size: int, name: str, limits: Limits) -> None:
    pixels = width * height
    if width <= 0 or height <= 0:
        raise TruncatedImage(f"{name}: declares an empty {width}x{height} canvas")
    if pixels > limits.max_pixels:
        if pixels / max(file_size, 1) > limits.max_pixels_per_byte:
            raise DecompressionBomb(
                f"{name}: decompression bomb refused: a {file_size}-byte file declares a {width}x{height} canvas "
                f"({pixels / 1e6:.0f} MP, limit {limits.max_pixels / 1e6:.0f} MP)"
            )
        raise ImageTooLarge(
            f"{name}: {width}x{height} ({pixels / 1e6:.0f} MP) is over the {limits.max_pixels / 1e6:.0f} MP limit"
        )


def _decode(data: bytes, name: str, path: Path | None, limits: Limits) -> Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            pil = PILImage.open(io.BytesIO(data))
    except PILImage.DecompressionBombError as exc:
        # Pillow refuses to even open canvases above its own guard; say it in our words.
        raise DecompressionBomb(f"{name}: decompression bomb refused ({exc})") from None
    except UnidentifiedImageError:
        raise UnsupportedFormat(f"{name}: not an image in a supported format ({_sniff(data)})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImage(f"{name}: damaged image header ({_first_line(exc)})") from None

    fmt = pil.format or "UNKNOWN"
    if fmt not in SUPPORTED_FORMATS:
        hint = " (install tamperscope[heif] for HEIC/AVIF)" if fmt in {"HEIF", "AVIF"} else ""
        raise UnsupportedFormat(f"{name}: {fmt} is not a supported format{hint}")
    _check_canvas(pil.width, pil.height, len(data), name, limits)

    try:
        # Decoding must fail loudly on truncated data instead of padding it with grey.
        previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pil.load()
                metadata = _metadata(pil, data)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
        decode_warnings = _unique(str(w.message).strip() for w in caught if w.category is not DeprecationWarning)
        orientation = _orientation(pil)
        frames = int(getattr(pil, "n_frames", 1) or 1)
        mode = pil.mode
        pixels = _to_rgb(pil)
        pil.close()  # its decoded copy (4 bytes a pixel) is not needed beside the JPEG internals read next
    except PILImage.DecompressionBombError as exc:
        raise DecompressionBomb(f"{name}: decompression bomb refused ({exc})") from None
    except MemoryError:
        raise ImageTooLarge(f"{name}: not enough memory to decode {pil.width}x{pil.height}") from None
    except (OSError, SyntaxError, ValueError, EOFError, KeyError, IndexError, TypeError) as exc:
        raise TruncatedImage(f"{name}: truncated or corrupt {fmt} data ({_first_line(exc)})") from None

    jpeg, jpeg_error = (None, None)
    if fmt in {"JPEG", "MPO"}:
        libjpeg_messages: list[str] = []
        with _c_stderr_into(libjpeg_messages):
            jpeg, jpeg_error = _jpeg_internals(data, path, pixels.shape[:2])
        decode_warnings = _unique([*decode_warnings, *(f"libjpeg: {m}" for m in libjpeg_messages)])
        fmt = "JPEG"

    return Image(
        pixels=pixels,
        format=fmt,
        mode=mode,
        orientation=orientation,
        jpeg=jpeg,
        jpeg_error=jpeg_error,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        frames=frames,
        source=name,
        decode_warnings=decode_warnings,
        file_bytes=data,
    )


def _from_array(array: np.ndarray, limits: Limits) -> Image:
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise UnsupportedFormat(f"array of shape {array.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    _check_canvas(arr.shape[1], arr.shape[0], arr.nbytes, "array", limits)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)
    pixels = np.ascontiguousarray(arr[..., :3])
    return Image(
        pixels=pixels,
        format="ARRAY",
        mode="RGB",
        orientation=1,
        jpeg=None,
        jpeg_error=None,
        metadata=Metadata(),
        sha256=hashlib.sha256(pixels.tobytes()).hexdigest(),
        file_size=int(pixels.nbytes),
        frames=1,
        source="array",
    )


def _to_rgb(pil: PILImage.Image) -> np.ndarray:
    mode = pil.mode
    if mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        # High bit depth greyscale: scale to 8 bits instead of clipping at 255.
        arr = np.asarray(pil, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or float(arr.max(initial=0)) > 255 else 255.0
        grey = np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in pil.info):
        pil = pil.convert("RGBA")
        # Fully transparent pixels keep their stored colour: forensics wants the stored values.
        return np.ascontiguousarray(np.asarray(pil)[..., :3])
    if mode != "RGB":
        pil = pil.convert("RGB")
    return np.ascontiguousarray(np.asarray(pil))


def _orientation(pil: PILImage.Image) -> int:
    try:
        value = int(pil.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block must not stop the analysis
        return 1
    return value if 1 <= value <= 8 else 1


def _metadata(pil: PILImage.Image, data: bytes) -> Metadata:
    info = pil.info
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    exif = info.get("exif")
    text = {}
    for key, value in (getattr(pil, "text", None) or {}).items():
        if isinstance(value, str):
            text[str(key)] = value
    return Metadata(
        exif=bytes(exif) if isinstance(exif, (bytes, bytearray)) else None,
        xmp=bytes(xmp) if isinstance(xmp, (bytes, bytearray)) else None,
        icc_profile=info.get("icc_profile") or None,
        text=text,
        c2pa_present=_has_c2pa(data),
    )


def _has_c2pa(data: bytes) -> bool:
    """Whether the file embeds a C2PA manifest store.

    The store is a JUMBF superbox whose description box ("jumd") starts with
    the C2PA type UUID, whose first four bytes spell "c2pa"; that holds in
    every container (JPEG APP11, PNG caBX, BMFF, RIFF). Looking for the box
    rather than the word avoids XMP that merely *mentions* a manifest.
    """
    at = data.find(b"jumd")
    while at >= 0:
        if data[at + 4 : at + 8] == b"c2pa":
            return True
        at = data.find(b"jumd", at + 4)
    return False


def _jpeg_internals(
    data: bytes, path: Path | None, shape: tuple[int, ...]
) -> tuple[JpegInternals | None, str | None]:
    import jpeglib  # imported here: only JPEG files need it

    tmp = None
    try:
        if path is None:
            # libjpeg reads from a path; bytes go through a private temporary file.
            handle = tempfile.NamedTemporaryFile(suffix=".jpg", delete=False)
            handle.write(data)
            handle.close()
            tmp = handle.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dct = jpeglib.read_dct(tmp or str(path))
            dct.load()
        names = ["Y", "Cb", "Cr", "K"][: int(dct.num_components)]
        coefficients: dict[str, np.ndarray] = {}
        tables: dict[str, np.ndarray] = {}
        for index, comp in enumerate(names):
            coef = getattr(dct, comp)
            if coef is None:
                continue
            coefficients[comp] = np.asarray(coef, dtype=np.int16)  # jpeglib's own array, not copied
            table_index = int(dct.quant_tbl_no[index])
            tables[comp] = np.array(dct.qt[table_index], dtype=np.uint16, copy=True)
        if "Y" not in coefficients:
            return None, "libjpeg returned no luminance coefficients"
        if any((table == 0).any() for table in tables.values()):
            # libjpeg decodes it (a zero step zeroes that frequency), but every DCT-domain method divides by the step.
            return None, "a quantization table holds a zero step, which the JPEG standard forbids"
        y = coefficients["Y"]
        if y.shape[0] * 8 < shape[0] or y.shape[1] * 8 < shape[1]:
            return None, "DCT coefficient grid does not cover the decoded image"
        factors = [tuple(int(v) for v in row) for row in np.asarray(dct.samp_factor).reshape(-1, 2)]
        quality, exact = estimate_jpeg_quality(tables["Y"])
        return (
            JpegInternals(
                quant_tables=tables,
                coefficients=coefficients,
                sampling_factors=factors,
                progressive=bool(dct.progressive_mode),
                quality=quality,
                quality_exact=exact,
            ),
            None,
        )
    except Exception as exc:  # libjpeg errors come in many types; the reason is reported, not hidden
        return None, f"libjpeg could not read the DCT coefficients ({_first_line(exc)})"
    finally:
        if tmp:
            os.unlink(tmp)


@contextlib.contextmanager
def _c_stderr_into(lines: list[str], limit: int = 8):
    """Collect what C libraries print on file descriptor 2 (libjpeg's warnings) into ``lines``.

    Only in the main thread: redirecting a process-wide descriptor from a
    worker thread would swallow other threads' output.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(16_384).decode("utf-8", "replace")
            lines.extend(line.strip()[:200] for line in text.splitlines()[:limit] if line.strip())


def _unique(messages) -> list[str]:
    return list(dict.fromkeys(messages))[:8]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _sniff(data: bytes) -> str:
    head = data[:512]
    if head.lstrip().startswith((b"<!DOCTYPE", b"<html", b"<?xml", b"<svg")):
        return "looks like markup/text"
    try:
        head.decode("utf-8")
        return "looks like text"
    except UnicodeDecodeError:
        return f"starts with bytes {head[:8].hex()}"
