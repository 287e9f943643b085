"""Synthetic forgeries with exact masks, generated inside the tests.

The photo is scikit-image's ``astronaut`` (NASA, public domain) upscaled to the
requested size with a mild sensor-like Gaussian noise (sigma 2) added, so that
compression and noise traces behave as on a camera image.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def photo(height: int = 768, width: int = 1024, seed: int = 0) -> np.ndarray:
    from skimage import data

    base = data.astronaut()
    scale = max(height / base.shape[0], width / base.shape[1])
    size = (int(np.ceil(base.shape[1] * scale)), int(np.ceil(base.shape[0] * scale)))
    big = cv2.resize(base, size, interpolation=cv2.INTER_CUBIC)[:height, :width]
    rng = np.random.default_rng(seed)
    noisy = big.astype(np.float64) + rng.normal(0.0, 2.0, big.shape)
    return np.clip(noisy, 0, 255).round().astype(np.uint8)


def jpeg_bytes(pixels: np.ndarray, quality: int, subsampling: int = 2) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def box_mask(shape: tuple[int, int], top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def double_jpeg_splice(
    path: Path, q_region: int = 60, q_host: int = 90, box=(256, 384, 256, 320), size=(768, 1024)
) -> np.ndarray:
    """A region of the photo saved at ``q_region`` pasted into the same photo saved
    at ``q_host``, the result saved at ``q_host``. Returns the exact mask."""
    original = photo(*size)
    region_source = decode(jpeg_bytes(original, q_region))
    host = decode(jpeg_bytes(original, q_host))
    mask = box_mask(size, *box)
    host[mask] = region_source[mask]
    path.write_bytes(jpeg_bytes(host, q_host))
    return mask


def noise_splice(path: Path, sigma: float = 10.0, box=(200, 300, 256, 256), size=(768, 1024), quality=None) -> np.ndarray:
    """The photo with Gaussian noise of ``sigma`` added inside a box; PNG unless ``quality``."""
    pixels = photo(*size).astype(np.float64)
    mask = box_mask(size, *box)
    rng = np.random.default_rng(1)
    pixels[mask] += rng.normal(0.0, sigma, pixels[mask].shape)
    pixels = np.clip(pixels, 0, 255).round().astype(np.uint8)
    if quality is None:
        Image.fromarray(pixels).save(path, format="PNG")
    else:
        path.write_bytes(jpeg_bytes(pixels, quality))
    return mask


def authentic_jpeg(path: Path, quality: int = 90, size=(768, 1024)) -> None:
    path.write_bytes(jpeg_bytes(photo(*size), quality))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def copy_move(
    pixels: np.ndarray, box=(150, 120, 160, 160), to=(480, 700), angle: float = 0.0, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copy the square ``box`` (top, left, height, width) of ``pixels``, rotated by ``angle`` degrees
    (counter-clockwise on screen) and scaled by ``scale`` about its centre, so that its centre lands on ``to``
    (row, column). Returns the forged image and the exact source and target masks."""
    top, left, height, width = box
    centre = (left + (width - 1) / 2, top + (height - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[0, 2] += to[1] - centre[0]
    matrix[1, 2] += to[0] - centre[1]
    shape = pixels.shape[:2]
    source = box_mask(shape, top, left, height, width)
    size = (shape[1], shape[0])
    moved = cv2.warpAffine(pixels, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    # Only pixels whose whole interpolation support lies inside the box count as the clone.
    inside = cv2.erode(source.astype(np.uint8), np.ones((3, 3), np.uint8))
    target = cv2.warpAffine(inside, matrix, size, flags=cv2.INTER_NEAREST).astype(bool)
    forged = pixels.copy()
    forged[target] = moved[target]
    return forged, source, target
