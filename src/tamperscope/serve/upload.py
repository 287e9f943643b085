"""Checking an upload before any worker sees it: type from content, size, pixels, a safe file name."""

from __future__ import annotations

import io
import re
import unicodedata
import warnings

from PIL import Image as PILImage

from ..image import HEIF_AVAILABLE, _sniff


class Rejected(Exception):
    """An upload the service refuses; ``status`` is the HTTP status, ``kind`` a stable machine-readable word."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff_format(head: bytes) -> str | None:
    """The image format the first bytes declare (never the file name), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM") and len(head) >= 26:
        return "BMP"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIF"
    return None


def check_image(data: bytes, max_bytes: int, max_pixels: int) -> tuple[str, int, int]:
    """(format, width, height) of an acceptable upload; raises :class:`Rejected` with the reason in words."""
    if not data:
        raise Rejected(422, "empty", "the uploaded file is empty")
    if len(data) > max_bytes:
        raise Rejected(413, "too-large", f"the file is {_mb(len(data))}; the limit is {_mb(max_bytes)}")
    fmt = sniff_format(data[:32])
    if fmt is None:
        raise Rejected(415, "unsupported-type", "this file is not a JPEG, PNG, TIFF, WebP, BMP, GIF, HEIC or AVIF image "
                       f"({_sniff(data)}); the file name is not trusted, only the content")
    if fmt in {"HEIF", "AVIF"} and not HEIF_AVAILABLE:
        raise Rejected(415, "unsupported-type", f"{fmt} images need the server to have tamperscope[heif] installed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Reads the header only: the canvas size is known before a single pixel is decoded.
            with PILImage.open(io.BytesIO(data)) as pil:
                width, height = pil.size
    except PILImage.DecompressionBombError:
        raise Rejected(413, "too-many-pixels", f"the image declares more pixels than the limit "
                       f"({max_pixels / 1e6:.0f} MP)") from None
    except Exception:  # Pillow raises many types for a bad header; every one means the same to the uploader
        raise Rejected(422, "damaged", f"the file starts like a {fmt} image but its header is damaged") from None
    if width * height > max_pixels:
        raise Rejected(413, "too-many-pixels", f"the image is {width} x {height} ({width * height / 1e6:.1f} MP); "
                       f"the limit is {max_pixels / 1e6:.1f} MP")
    return fmt, width, height


def safe_filename(name: str | None) -> str:
    """The uploaded name reduced to one harmless path component (it is shown in the report and history)."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if len(name) > 120:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: 110] + dot + suffix[:9]) if dot and len(suffix) <= 9 else name[:120]
    return name or "upload"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
