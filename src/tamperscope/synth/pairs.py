"""Pairs of versions of one photo, for testing and measuring ``tamperscope compare``.

A pair is what a fact-checker holds: the *original* (a published file) and a
*suspect* made from it by what platforms and people do to pictures (crop,
resize, rotate, mirror, colour grading, re-compression), possibly after a
local edit. The mask of the edit is carried through the same geometry into
the suspect's frame, so the region a comparison finds can be scored.

>>> import numpy as np
>>> from tamperscope.synth.pairs import make_pair
>>> photo = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
>>> pair = make_pair(photo, np.random.default_rng(1), edit="none", transform="crop")
>>> pair.mask.any(), pair.suspect_pixels.shape[2]
(False, 3)

Pipeline of one pair
--------------------
1. The original file: the photo saved as a JPEG at quality 85-95 (4:2:0),
   or as PNG with probability 0.15; ``original_pixels`` is its decode.
2. The edit (a kind of :mod:`tamperscope.synth.kinds`: ``splice``,
   ``copy-move``, ``removal``, ``resample``, ``color``, or ``none``) applied
   to the decoded original; its mask marks the pixels the edit put there.
3. The benign transform (:data:`TRANSFORMS`), a geometry (a 3x3 map from
   original to suspect pixels, pixel centres at integers) followed by a tone
   change where the transform has one, then the suspect's save: a JPEG at
   quality 60-90 (4:2:0), except for ``upscale`` (quality 80-95).
4. The mask warped with the same map (linear interpolation, > 0.5).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image as PILImage

from .kinds import KINDS, encode

#: Local edits a pair may carry ("none" makes a benign-only pair).
EDITS = ("none", "splice", "copy-move", "removal", "resample", "color")

#: Benign transforms, each what a platform or a person commonly does to a picture.
TRANSFORMS = ("resave", "resize", "crop", "rotate", "mirror", "tone", "upscale", "platform", "all")


@dataclass
class Pair:
    """Two versions of a photo and the truth about how they differ.

    Attributes
    ----------
    original, suspect : bytes
        The two files.
    original_pixels, suspect_pixels : ndarray
        Their decodes (uint8 RGB).
    mask : ndarray
        bool, suspect frame: the pixels of the suspect that the edit made
        (all False for ``edit="none"``).
    matrix : ndarray
        3x3 map from original pixels to suspect pixels.
    params : dict
        Everything drawn (qualities, crop, angle, scale, tone, the edit's own parameters).
    """

    original: bytes
    suspect: bytes
    original_pixels: np.ndarray
    suspect_pixels: np.ndarray
    mask: np.ndarray
    matrix: np.ndarray
    params: dict = field(default_factory=dict)


def _decode(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as pil:
        return np.array(pil.convert("RGB"))


def _save(pixels: np.ndarray, rng: np.random.Generator, quality: tuple[int, int], png_share: float) -> tuple[bytes, dict]:
    if rng.random() < png_share:
        save = {"format": "PNG"}
    else:
        save = {"format": "JPEG", "quality": int(rng.integers(quality[0], quality[1] + 1)), "subsampling": "4:2:0"}
    return encode(pixels, save), save


def _scale(factor_x: float, factor_y: float | None = None) -> np.ndarray:
    """Pixel-centre-correct resize map: the new pixel i covers old pixels around (i + 0.5) / factor - 0.5."""
    fy = factor_x if factor_y is None else factor_y
    return np.array([[factor_x, 0.0, 0.5 * factor_x - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _rotation(angle_deg: float, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """Turn by ``angle_deg`` counter-clockwise about the centre, onto the bounding canvas; its size."""
    matrix = np.vstack([cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle_deg, 1.0), [0, 0, 1]])
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float)
    mapped = corners @ matrix.T
    low = mapped[:, :2].min(axis=0)
    high = mapped[:, :2].max(axis=0)
    new_w, new_h = int(round(high[0] - low[0] + 1)), int(round(high[1] - low[1] + 1))
    return _shift(-low[0], -low[1]) @ matrix, new_w, new_h


def _inner_rectangle(width: int, height: int, angle_deg: float) -> tuple[float, float]:
    """Largest axis-aligned rectangle (w, h) inside a ``width`` x ``height`` rectangle turned by ``angle_deg``."""
    angle = math.radians(abs(angle_deg)) % math.pi
    if angle > math.pi / 2:
        angle = math.pi - angle
    sin, cos = math.sin(angle), math.cos(angle)
    long, short = max(width, height), min(width, height)
    if short <= 2 * sin * cos * long or abs(sin - cos) < 1e-10:
        x = 0.5 * short
        w, h = (x / sin, x / cos) if width >= height else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        w, h = (width * cos - height * sin) / cos2, (height * cos - width * sin) / cos2
    return w, h


def _warp(pixels: np.ndarray, matrix: np.ndarray, width: int, height: int, flag: int) -> np.ndarray:
    """Apply ``matrix`` with area pre-filtering when it shrinks (what good resizers do)."""
    scale = math.sqrt(abs(np.linalg.det(matrix[:2, :2])))
    if scale < 0.9:
        factor = max(scale, 1e-3)
        size = (max(1, round(pixels.shape[1] * factor)), max(1, round(pixels.shape[0] * factor)))
        small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.linalg.inv(_scale(size[0] / pixels.shape[1], size[1] / pixels.shape[0]))
        pixels = small
    return cv2.warpPerspective(pixels, matrix, (width, height), flags=flag, borderMode=cv2.BORDER_REFLECT_101)


def _tone(pixels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A global grade: per-channel gains (white balance), a gamma, a contrast S-curve or flattening, saturation."""
    gains = rng.uniform(0.9, 1.1, 3)
    gamma = float(rng.uniform(0.7, 1.4))
    contrast = float(rng.uniform(-0.25, 0.25))
    saturation = float(rng.uniform(0.6, 1.4))
    values = pixels.astype(np.float32) / 255.0
    values = np.clip(values * gains.astype(np.float32), 0, 1) ** gamma
    # Contrast: blend with a smoothstep S-curve (positive) or towards mid-grey (negative).
    curve = values * values * (3 - 2 * values)
    values = values + contrast * (curve - values) if contrast > 0 else values + contrast * (values - 0.5)
    grey = values @ np.float32([0.299, 0.587, 0.114])
    values = grey[..., None] + saturation * (values - grey[..., None])
    out = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    return out, {"gains": [round(float(g), 4) for g in gains], "gamma": round(gamma, 4),
                 "contrast": round(contrast, 4), "saturation": round(saturation, 4)}


def _sharpen(pixels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    amount = float(rng.uniform(0.2, 0.8))
    blurred = cv2.GaussianBlur(pixels.astype(np.float32), (0, 0), 1.0)
    out = np.clip(np.rint(pixels + amount * (pixels - blurred)), 0, 255).astype(np.uint8)
    return out, {"unsharp_amount": round(amount, 4)}


def _geometry(transform: str, width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int, dict]:
    """The map from original to suspect pixels, the suspect's size, and what was drawn."""
    identity = np.eye(3)
    if transform in ("resave", "tone"):
        return identity, width, height, {}
    if transform == "resize":
        factor = float(rng.uniform(0.3, 0.8))
        new_w, new_h = max(16, round(width * factor)), max(16, round(height * factor))
        return _scale(new_w / width, new_h / height), new_w, new_h, {"scale": round(factor, 4)}
    if transform == "upscale":
        factor = float(rng.uniform(1.2, 2.0))
        new_w, new_h = round(width * factor), round(height * factor)
        return _scale(new_w / width, new_h / height), new_w, new_h, {"scale": round(factor, 4)}
    if transform == "crop":
        keep_w, keep_h = rng.uniform(0.6, 0.95, 2)
        new_w, new_h = round(width * keep_w), round(height * keep_h)
        left, top = int(rng.integers(0, width - new_w + 1)), int(rng.integers(0, height - new_h + 1))
        return _shift(-left, -top), new_w, new_h, {"crop": [left, top, new_w, new_h]}
    if transform == "mirror":
        factor = float(rng.uniform(0.5, 1.0))
        new_w, new_h = round(width * factor), round(height * factor)
        flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        return _scale(new_w / width, new_h / height) @ flip, new_w, new_h, {"scale": round(factor, 4)}
    if transform == "rotate":
        quarter = int(rng.integers(0, 4)) if rng.random() < 0.3 else 0
        small = float(rng.uniform(1.0, 10.0)) * (1 if rng.random() < 0.5 else -1)
        angle = 90.0 * quarter + small
        factor = float(rng.uniform(0.5, 1.0))
        return (*_turned(angle, factor, width, height, rng), {"angle": round(angle, 4), "scale": round(factor, 4)})
    if transform == "platform":
        keep_w, keep_h = rng.uniform(0.85, 1.0, 2)
        crop_w, crop_h = round(width * keep_w), round(height * keep_h)
        left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        side = int(rng.choice([1080, 1280, 1600]))
        factor = min(1.0, side / max(crop_w, crop_h))
        new_w, new_h = max(16, round(crop_w * factor)), max(16, round(crop_h * factor))
        matrix = _scale(new_w / crop_w, new_h / crop_h) @ _shift(-left, -top)
        return matrix, new_w, new_h, {"crop": [left, top, crop_w, crop_h], "long_side": side}
    if transform == "all":
        angle = float(rng.uniform(-6.0, 6.0))
        factor = float(rng.uniform(0.4, 0.9))
        matrix, new_w, new_h = _turned(angle, factor, width, height, rng)
        mirrored = bool(rng.random() < 0.5)
        if mirrored:
            matrix = np.array([[-1.0, 0.0, new_w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
        return matrix, new_w, new_h, {"angle": round(angle, 4), "scale": round(factor, 4), "mirrored": mirrored}
    raise ValueError(f"unknown transform {transform!r} (choose from {', '.join(TRANSFORMS)})")


def _turned(angle: float, factor: float, width: int, height: int, rng: np.random.Generator):
    """Rotate by ``angle``, crop inside the turned frame (no invented borders, a little more at random), scale."""
    rotation, rot_w, rot_h = _rotation(angle, width, height)
    inner_w, inner_h = _inner_rectangle(width, height, angle)
    keep = float(rng.uniform(0.85, 1.0))
    crop_w, crop_h = max(16, int(inner_w * keep) - 2), max(16, int(inner_h * keep) - 2)
    left = (rot_w - crop_w) / 2 + rng.uniform(-0.5, 0.5) * (inner_w - crop_w)
    top = (rot_h - crop_h) / 2 + rng.uniform(-0.5, 0.5) * (inner_h - crop_h)
    new_w, new_h = max(16, round(crop_w * factor)), max(16, round(crop_h * factor))
    matrix = _scale(new_w / crop_w, new_h / crop_h) @ _shift(-round(left), -round(top)) @ rotation
    return matrix, new_w, new_h


def make_pair(
    photo: np.ndarray,
    rng: np.random.Generator,
    *,
    edit: str = "none",
    transform: str = "resave",
    donor: np.ndarray | None = None,
) -> Pair:
    """Make an (original, suspect) pair from ``photo`` (uint8 RGB).

    Parameters
    ----------
    photo : ndarray
        The photo the original file is saved from.
    rng : numpy.random.Generator
        The only source of randomness.
    edit : str
        One of :data:`EDITS`.
    transform : str
        One of :data:`TRANSFORMS`.
    donor : ndarray, optional
        Another photo, needed by ``splice``.
    """
    if edit not in EDITS:
        raise ValueError(f"unknown edit {edit!r} (choose from {', '.join(EDITS)})")
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r} (choose from {', '.join(TRANSFORMS)})")
    original, original_save = _save(photo, rng, (85, 95), png_share=0.15)
    original_pixels = _decode(original)
    if edit == "none":
        edited, mask, edit_params = original_pixels, np.zeros(original_pixels.shape[:2], bool), {}
    else:
        edited, mask, edit_params, _ = KINDS[edit].make(rng, original_pixels, donor)
    suspect, suspect_pixels, suspect_mask, matrix, applied = apply_transform(edited, mask, transform, rng)
    params = {
        "edit": edit,
        "original_save": original_save,
        **applied,
        **({"edit_params": edit_params} if edit_params else {}),
    }
    return Pair(original, suspect, original_pixels, suspect_pixels, suspect_mask, matrix, params)


def apply_transform(
    pixels: np.ndarray, mask: np.ndarray, transform: str, rng: np.random.Generator
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, dict]:
    """One benign transform of :data:`TRANSFORMS` and the suspect's save, applied to ``pixels`` (uint8 RGB).

    Returns the suspect file, its decode, ``mask`` (bool, the pixels' frame) carried into the suspect's frame,
    the 3x3 map from the pixels to the suspect, and what was drawn. :func:`make_pair` uses it after its edit;
    it also turns a real edited image (CASIA's, say) into a re-published copy.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r} (choose from {', '.join(TRANSFORMS)})")
    height, width = pixels.shape[:2]
    matrix, new_w, new_h, geometry = _geometry(transform, width, height, rng)
    flag = cv2.INTER_AREA if transform == "resize" and rng.random() < 0.5 else cv2.INTER_CUBIC
    suspect_pixels = pixels if transform in ("resave", "tone") else _warp(pixels, matrix, new_w, new_h, flag)
    photometric: dict = {}
    if transform in ("tone", "all"):
        suspect_pixels, photometric = _tone(suspect_pixels, rng)
    if transform == "platform" and rng.random() < 0.5:
        suspect_pixels, photometric = _sharpen(suspect_pixels, rng)
    quality = (80, 95) if transform == "upscale" else (60, 90)
    suspect, suspect_save = _save(suspect_pixels, rng, quality, png_share=0.0)
    warped = cv2.warpPerspective(mask.astype(np.float32), matrix, (new_w, new_h), flags=cv2.INTER_LINEAR)
    params = {"transform": transform, "suspect_save": suspect_save, **geometry, **photometric}
    return suspect, _decode(suspect), warped > 0.5, matrix, params
