"""Pictures of a report: the one place that turns maps and photos into pixels, and pixels into file bytes.

Every picture of a map goes through :func:`colorize` (or the same palette in :func:`map_png`), so a colour means
the same strength in every file: the PNG maps, the overlay, the HTML report, the scan's thumbnails and the HTML
legend. Every overlay is composed by :func:`overlay` (arrays of one size) or :func:`overlay_picture` (a map given
per ``stride``-pixel cell laid over a photo, at full size or fitted to a preview or thumbnail size).

A map given per cell of ``stride`` pixels covers the image from its top-left corner
(:func:`tamperscope.evidence.expand_cells`): pictures are composed in the image's stored orientation and turned
upright last, so that cells land exactly where they belong.

Encoders return bytes, so that a picture written to disk and the same picture embedded in the HTML page are
encoded once (:func:`with_transparency` gives an encoded :func:`map_png` the HTML overlay's alpha without
encoding its pixels again).
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image as PILImage

from ..evidence import expand_cells

#: Weight of the heat at its strongest in an overlay (the photo keeps the rest).
OPACITY = 0.6
#: Rows composed at a time by :func:`overlay_picture` at full size: bounds its working memory on large images.
STRIP_ROWS = 512
#: JPEG quality of the overlay and of the photo previews.
JPEG_QUALITY = 88


def to_grey(values: np.ndarray) -> np.ndarray:
    """float [0, 1] map -> uint8 0..255, rounded to nearest: the one quantization of every picture of a map.

    Values above 1 give 255 (maps are never negative).
    """
    values = np.asarray(values)
    if values.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float32)
    return cv2.convertScaleAbs(values, alpha=255.0).reshape(values.shape)  # one pass, saturating


@lru_cache(maxsize=1)
def palette() -> np.ndarray:
    """The inferno colour map as a read-only ``(256, 3)`` uint8 RGB table indexed by :func:`to_grey` levels."""
    levels = np.arange(256, dtype=np.uint8).reshape(256, 1)
    table = np.ascontiguousarray(cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)[:, 0, ::-1])
    table.flags.writeable = False
    return table


def colorize(heat: np.ndarray) -> np.ndarray:
    """float [0, 1] map -> uint8 RGB with the perceptually uniform inferno colormap."""
    return colorize_levels(to_grey(heat))


def colorize_levels(levels: np.ndarray) -> np.ndarray:
    """uint8 levels of :func:`to_grey` -> uint8 RGB inferno."""
    # A user table is applied channel for channel as given: an RGB table gives RGB pixels.
    return cv2.applyColorMap(np.ascontiguousarray(levels), palette().reshape(256, 1, 3))


@lru_cache(maxsize=8)
def _weights(opacity: float) -> tuple[np.ndarray, np.ndarray]:
    heat = np.arange(256, dtype=np.float32) / np.float32(255.0) * np.float32(opacity)
    return np.float32(1.0) - heat, heat


def overlay(pixels: np.ndarray, heat: np.ndarray, mask: np.ndarray | None = None,
            opacity: float = OPACITY) -> np.ndarray:
    """Heat blended over the photo, stronger where the heat is higher; mask outlined in cyan.

    ``pixels`` (uint8 RGB), ``heat`` (float in [0, 1], or uint8 levels of :func:`to_grey`) and ``mask`` (bool)
    have the same height and width; the heat's weight at a pixel is ``opacity x heat`` (on the 256 levels).
    """
    levels = heat if heat.dtype == np.uint8 else to_grey(heat)
    photo_weight, heat_weight = _weights(float(opacity))
    out = cv2.blendLinear(np.ascontiguousarray(pixels), colorize_levels(levels),
                          cv2.LUT(levels, photo_weight), cv2.LUT(levels, heat_weight))
    if mask is not None and mask.any():
        outline(out, mask)
    return out


def outline(picture: np.ndarray, mask: np.ndarray | None = None, *, contours=None, top: int = 0,
            long_side: int | None = None) -> None:
    """Draw the outline of ``mask`` (or of its ``contours``) on ``picture`` in place, cyan.

    The line is about 1/400 of the image's long side (``long_side``, default the picture's). ``top`` is the
    picture's first row in the image whose ``contours`` are given (drawing an image strip by strip).
    """
    if contours is None:
        contours = mask_contours(mask)
    thickness = max(1, round((long_side or max(picture.shape[:2])) / 400))
    cv2.drawContours(picture, contours, -1, (0, 255, 255), thickness, offset=(0, -top))


def mask_contours(mask: np.ndarray):
    """Outer contours of a boolean mask (OpenCV's point lists)."""
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return contours


def fit(array: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (area average, :func:`shrink`) so that the long side is at most ``max_side``; never upscale."""
    height, width = array.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return array
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return shrink(array.astype(np.float32) if array.dtype == bool else array, size)


def shrink(array: np.ndarray, size: tuple[int, int], smooth: bool = True) -> np.ndarray:
    """``array`` resized to ``size`` (width, height), fast for large reductions.

    OpenCV's area interpolation has a fast path for whole-number factors and a slow general one (about 4x slower
    on a 12 MP photo); so the image is first reduced by the largest whole factor that keeps it at least ``size``
    (the last rows and columns that do not fill a block are left out), then area-resampled the rest of the way:
    every source pixel still counts, as in a one-step area resize. ``smooth=False`` (maps that are already
    smooth, or masks) picks every k-th pixel for the first step instead, reading only what it keeps.
    """
    if array.dtype == bool:
        return shrink(array.view(np.uint8), size, smooth).astype(bool)
    height, width = array.shape[:2]
    factor = max(1, min(width // max(1, size[0]), height // max(1, size[1])))
    if factor > 1:
        cropped = array[: height - height % factor, : width - width % factor]
        if smooth:
            array = cv2.resize(cropped, (cropped.shape[1] // factor, cropped.shape[0] // factor),
                               interpolation=cv2.INTER_AREA)
        else:
            array = np.ascontiguousarray(cropped[::factor, ::factor])
    if array.shape[1] == size[0] and array.shape[0] == size[1]:
        return array
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA if smooth else cv2.INTER_NEAREST)


def fit_cells(cells: np.ndarray, stride: int, image_shape: tuple[int, int], size: tuple[int, int],
              nearest: bool = False) -> np.ndarray:
    """A map given per ``stride`` cell of an image of ``image_shape``, drawn at ``size`` (height, width).

    ``size`` is that of a picture of the whole image (a preview: the image scaled down). Cells larger than a
    picture pixel are sampled at each pixel's centre (they stay sharp); smaller ones are area-averaged, unless
    ``nearest`` (a mask). Exact at the image's own size.
    """
    height, width = image_shape
    out_h, out_w = size
    if (out_h, out_w) == (height, width):
        return expand_cells(cells, stride, image_shape)
    rows, cols = cells.shape[:2]
    finer = stride * out_w / width < 1.0 or stride * out_h / height < 1.0  # cells smaller than picture pixels
    if finer and not nearest:
        # Area average: the cells' own grid scaled like the image, then cut or edge-extended to the picture.
        scaled = shrink(np.ascontiguousarray(cells, dtype=np.float32),
                        (max(1, round(cols * stride * out_w / width)), max(1, round(rows * stride * out_h / height))))
        return expand_cells(scaled, 1, size) if scaled.shape[:2] != size else scaled
    ys = np.minimum(((np.arange(out_h) + 0.5) * height / out_h).astype(np.int64) // stride, rows - 1)
    xs = np.minimum(((np.arange(out_w) + 0.5) * width / out_w).astype(np.int64) // stride, cols - 1)
    return np.take(np.take(cells, ys, axis=0), xs, axis=1)


def overlay_picture(pixels: np.ndarray, heat: np.ndarray, stride: int = 1, mask: np.ndarray | None = None,
                    max_side: int | None = None, opacity: float = OPACITY) -> np.ndarray:
    """The photo with a map laid over it (:func:`overlay`), at full size or fitted within ``max_side``.

    ``heat`` and ``mask`` are given per ``stride`` cell of ``pixels`` (both in the same, stored, orientation;
    turn the result upright with ``Image.upright``). At full size the picture is composed in strips of
    :data:`STRIP_ROWS` rows, so that its working memory stays a few strips whatever the image size; with
    ``max_side`` the photo is first shrunk (area average) and the map drawn at that size: the cheap way to a
    preview or a thumbnail (the scan gallery's 320 px thumbnails, the HTML report's previews).
    """
    height, width = pixels.shape[:2]
    if max_side is not None and max(height, width) > max_side:
        small = fit(pixels, max_side)
        size = small.shape[:2]
        small_mask = None if mask is None else fit_cells(mask, stride, (height, width), size, nearest=True)
        return overlay(small, fit_cells(heat, stride, (height, width), size), small_mask, opacity)
    out = np.empty_like(pixels)
    contours = None
    if mask is not None and mask.any():
        contours = mask_contours(expand_cells(np.asarray(mask, dtype=np.uint8), stride, (height, width)))
    levels = to_grey(heat)  # once per cell, not per pixel
    for top in range(0, height, STRIP_ROWS):
        rows = min(STRIP_ROWS, height - top)
        strip = overlay(pixels[top : top + rows], expand_cells(levels, stride, (rows, width), top=top),
                        None, opacity)
        if contours:
            outline(strip, contours=contours, top=top, long_side=max(height, width))
        out[top : top + rows] = strip
    return out


# --------------------------------------------------------------------------
# Encoding


#: zlib's run-length strategy (``Z_RLE``) for the PNGs written: at level 1 it encodes a 12 MP ELA map in 0.12 s
#: instead of 0.28 s (7 % more bytes), and the sparse maps (most cells 0) compress as well as with the default.
PNG_STRATEGY = 3


def png_bytes(array: np.ndarray, compress_level: int = 1) -> bytes:
    """A uint8 array (grey or RGB) as PNG. Level 1, run-length: these are large, short-lived files; speed beats
    bytes."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=compress_level,
                                                         compress_type=PNG_STRATEGY)
    return buffer.getvalue()


def jpeg_bytes(pixels: np.ndarray, quality: int = JPEG_QUALITY, consume: bool = False) -> bytes:
    """uint8 RGB pixels as a baseline JPEG (4:2:0, libjpeg-turbo through OpenCV: the same bytes as Pillow's).

    ``consume``: the caller gives the array up, and its channels are reordered in place for the encoder instead
    of in a copy the size of the picture.
    """
    pixels = np.ascontiguousarray(pixels)
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR, dst=pixels if consume else None)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV reports no reason
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


def map_png(values: np.ndarray, compress_level: int = 1) -> bytes:
    """A [0, 1] map as a palette PNG: pixel value = :func:`to_grey` level, palette = inferno.

    Viewers show the same colours as :func:`colorize`; a program reads the levels directly
    (``numpy.asarray(PIL.Image.open(path))``, 0..255 for 0..1), or the colours with ``.convert("RGB")``.
    """
    levels = to_grey(values) if values.dtype != np.uint8 else values
    picture = PILImage.frombytes("P", (levels.shape[1], levels.shape[0]), np.ascontiguousarray(levels).tobytes())
    picture.putpalette(palette().reshape(-1).tolist())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=compress_level, compress_type=PNG_STRATEGY)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def overlay_alpha() -> bytes:
    """Alpha per :func:`to_grey` level of a map laid over a photo in the HTML report: 0 at 0, rising to opaque."""
    return bytes(int(round(255 * (i / 255) ** 0.75)) for i in range(256))


def with_transparency(png: bytes, alpha: bytes | None = None) -> bytes:
    """A :func:`map_png` with the alpha ramp of :func:`overlay_alpha` (a tRNS chunk) added, pixels untouched."""
    alpha = overlay_alpha() if alpha is None else alpha
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG")
    at, seen = 8, set()
    while at + 8 <= len(png):  # walk the chunks: length, type, data, CRC
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"IDAT":
            break
        seen.add(kind)
        at += 12 + length
    else:
        raise ValueError("a PNG without image data")
    if b"PLTE" not in seen or b"tRNS" in seen:
        raise ValueError("not a palette PNG without transparency")
    chunk = struct.pack(">I", len(alpha)) + b"tRNS" + alpha + struct.pack(">I", zlib.crc32(b"tRNS" + alpha))
    return png[:at] + chunk + png[at:]


def data_uri(data: bytes, mime: str) -> str:
    """Encoded bytes as a ``data:`` URI (the HTML report embeds every picture so)."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
