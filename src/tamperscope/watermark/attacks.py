"""The edits and processing that the watermark benchmark and tests apply, each with its exact mask.

Local edits cover a rectangle of a chosen share of the image: a splice
(pixels from another photo), a copy-move (pixels from elsewhere in the same
photo) and an inpainting (OpenCV's Telea fill of the hole, the content an
eraser tool invents). Processing that must leave the mark intact: JPEG
re-compression and resizing.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image as PILImage

EDITS = ("splice", "copy-move", "inpaint")


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    """Compress as JPEG at ``quality`` (4:2:0, Pillow/libjpeg) and decode."""
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.array(PILImage.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def resize(pixels: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` with area averaging (what most tools use to shrink)."""
    height, width = pixels.shape[:2]
    size = (max(1, int(round(width * factor))), max(1, int(round(height * factor))))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def region(shape: tuple[int, int], share: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random rectangle (top, left, height, width) covering ``share`` of the image."""
    height, width = shape
    aspect = rng.uniform(0.6, 1.6)
    h = int(round(min(height, np.sqrt(share * height * width * aspect))))
    w = int(round(min(width, share * height * width / max(h, 1))))
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    return top, left, h, w


def edit(pixels: np.ndarray, kind: str, share: float, rng: np.random.Generator,
         donor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply one local edit; returns (edited pixels, exact boolean mask)."""
    top, left, h, w = region(pixels.shape[:2], share, rng)
    mask = np.zeros(pixels.shape[:2], dtype=bool)
    mask[top : top + h, left : left + w] = True
    out = pixels.copy()
    if kind == "splice":
        if donor is None:
            raise ValueError("a splice needs a donor image")
        source = cv2.resize(donor, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_AREA)
        out[mask] = source[mask]
    elif kind == "copy-move":
        src_top, src_left = _distant_origin(pixels.shape[:2], (top, left, h, w), rng)
        out[top : top + h, left : left + w] = pixels[src_top : src_top + h, src_left : src_left + w]
    elif kind == "inpaint":
        out = cv2.inpaint(pixels, mask.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
    else:
        raise ValueError(f"unknown edit {kind!r} (choose from {', '.join(EDITS)})")
    return out, mask


def _distant_origin(shape, box, rng) -> tuple[int, int]:
    """Where to copy from: a place that does not overlap the target when the image allows it."""
    height, width = shape
    top, left, h, w = box
    for _ in range(100):
        src_top = int(rng.integers(0, height - h + 1))
        src_left = int(rng.integers(0, width - w + 1))
        if abs(src_top - top) >= h or abs(src_left - left) >= w:
            return src_top, src_left
    return (height - h - top, width - w - left)
