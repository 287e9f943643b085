"""Find frontal faces and fit a face ellipse with OpenCV's bundled Haar cascades.

P. Viola and M. Jones, "Rapid object detection using a boosted cascade of
simple features", CVPR 2001; R. Lienhart and J. Maydt, "An extended set of
Haar-like features for rapid object detection", ICIP 2002 (the cascades
``haarcascade_frontalface_default.xml`` and ``haarcascade_eye.xml`` ship inside
the opencv-python-headless 4.x wheel, so nothing is downloaded).

The cascade gives a square box from the brows to below the mouth. The eye
cascade, run in the upper part of the box, gives two coarse landmarks; their
line sets the ellipse's roll. The face ellipse is fitted to the box with fixed
proportions measured on frontal faces: centred 5% of the box below its centre,
semi-axes 0.42 and 0.58 box sides (it reaches the chin and the hairline and
stops at the cheeks), so it covers the area a face swap replaces.

Faces whose box side is below ``min_judged_side`` pixels are still reported,
as too small to judge: the swap detector reads a face at 128x128 and a
smaller face has too little of the blending trace left to read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..errors import InputError

#: Box side (pixels) below which a face is reported but not judged.
MIN_JUDGED_SIDE = 64
#: Smallest box the cascade looks for.
MIN_FIND_SIDE = 24
#: Faces are searched on a copy at most this many pixels on its longer side (cost bound).
WORK_SIDE = 1024
#: Side of the square crop around a face box the swap network reads, in box sides.
CROP_MARGIN = 1.5
ELLIPSE_DROP, ELLIPSE_HALF_WIDTH, ELLIPSE_HALF_HEIGHT = 0.05, 0.42, 0.58


@dataclass(frozen=True)
class Face:
    """One face: its box, eyes (when found) and ellipse, in image pixels ``(x, y)``."""

    box: tuple[int, int, int, int]  # x, y, width, height
    eyes: tuple[tuple[float, float], tuple[float, float]] | None
    roll_deg: float
    too_small: bool

    @property
    def side(self) -> int:
        return int(self.box[2])

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0

    @property
    def ellipse(self) -> tuple[tuple[float, float], tuple[float, float], float]:
        """OpenCV's ``((cx, cy), (full width, full height), angle_deg)``."""
        x, y, w, h = self.box
        cx, cy = self.center
        return (cx, cy + ELLIPSE_DROP * h), (2 * ELLIPSE_HALF_WIDTH * w, 2 * ELLIPSE_HALF_HEIGHT * h), self.roll_deg

    def crop_square(self, margin: float = CROP_MARGIN) -> tuple[int, int, int]:
        """``(x0, y0, side)`` of the square the swap network reads (may leave the image)."""
        cx, cy = self.center
        side = int(round(margin * self.box[2]))
        return int(round(cx - side / 2)), int(round(cy - side / 2)), side

    def to_dict(self) -> dict:
        (cx, cy), (ew, eh), angle = self.ellipse
        return {
            "box": [int(v) for v in self.box],
            "eyes": None if self.eyes is None else [[round(float(v), 1) for v in eye] for eye in self.eyes],
            "ellipse": {"center": [round(float(cx), 1), round(float(cy), 1)], "axes": [round(float(ew), 1), round(float(eh), 1)],
                        "angle_deg": round(float(angle), 1)},
            "too_small": self.too_small,
        }


@lru_cache(maxsize=None)
def _cascade(filename: str) -> cv2.CascadeClassifier:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    cascade = cv2.CascadeClassifier(folder + filename) if folder else None
    if cascade is None or cascade.empty():
        raise InputError(
            f"OpenCV {cv2.__version__} has no Haar cascade {filename} (the 5.x wheels dropped them): "
            "install opencv-python-headless>=4.9,<5"
        )
    return cascade


def find_faces(pixels: np.ndarray, min_judged_side: int = MIN_JUDGED_SIDE) -> list[Face]:
    """Frontal faces in an RGB (or grey) uint8 image, largest first."""
    grey = _grey(pixels)
    scale = min(1.0, WORK_SIDE / max(grey.shape))
    work = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    work = cv2.equalizeHist(work)
    min_side = max(MIN_FIND_SIDE, int(MIN_FIND_SIDE * scale))
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        work, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    faces = []
    for box in _suppress_overlaps([tuple(int(v) for v in b) for b in boxes]):
        eyes = _eyes(work, box)
        full_box = tuple(int(round(v / scale)) for v in box)
        full_eyes = None if eyes is None else tuple((ex / scale, ey / scale) for ex, ey in eyes)
        roll = 0.0 if full_eyes is None else _roll(full_eyes)
        faces.append(Face(full_box, full_eyes, roll, too_small=full_box[2] < min_judged_side))
    return sorted(faces, key=lambda f: -f.side)


def _grey(pixels: np.ndarray) -> np.ndarray:
    array = np.asarray(pixels)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(array[..., :3]), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(array)


def _suppress_overlaps(boxes: list[tuple[int, int, int, int]], limit: float = 0.3) -> list:
    """Keep the larger of two boxes that overlap (the cascade can fire on a face and on its part)."""
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if all(box_iou(box, other) < limit and not _inside(box, other) for other in kept):
            kept.append(box)
    return kept


def box_iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def _inside(small, big) -> bool:
    sx, sy, sw, sh = small
    bx, by, bw, bh = big
    cx, cy = sx + sw / 2, sy + sh / 2
    return bx <= cx <= bx + bw and by <= cy <= by + bh


def _eyes(grey: np.ndarray, box) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Left and right eye centres (image left first) in the upper 55% of the box, else None."""
    x, y, w, h = box
    band = grey[y + int(0.15 * h): y + int(0.55 * h), x: x + w]
    if band.size == 0 or w < 40:
        return None
    size = max(8, w // 8)
    found = _cascade("haarcascade_eye.xml").detectMultiScale(band, 1.1, 3, minSize=(size, size), maxSize=(w // 2, w // 2))
    left = [e for e in found if e[0] + e[2] / 2 < w / 2]
    right = [e for e in found if e[0] + e[2] / 2 >= w / 2]
    if not left or not right:
        return None
    centre = lambda e: (x + e[0] + e[2] / 2.0, y + int(0.15 * h) + e[1] + e[3] / 2.0)  # noqa: E731
    first = centre(max(left, key=lambda e: e[2]))
    second = centre(max(right, key=lambda e: e[2]))
    distance = math.hypot(second[0] - first[0], second[1] - first[1])
    if not 0.25 * w <= distance <= 0.65 * w:  # two detections on one eye, or an eyebrow
        return None
    return first, second


def _roll(eyes) -> float:
    (x1, y1), (x2, y2) = eyes
    angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
    return angle if abs(angle) <= 25 else 0.0


def face_crop(pixels: np.ndarray, face: Face, size: int = 128, margin: float = CROP_MARGIN) -> np.ndarray:
    """The square around ``face`` resized to ``size`` (edge pixels repeated where it leaves the image)."""
    x0, y0, side = face.crop_square(margin)
    return square_crop(pixels, x0, y0, side, size)


def square_crop(pixels: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    source = pixels
    if pad:
        source = cv2.copyMakeBorder(pixels, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    cut = source[y0 + pad: y0 + pad + side, x0 + pad: x0 + pad + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(cut), (size, size), interpolation=interpolation)


def ellipse_mask(shape: tuple[int, int], face: Face) -> np.ndarray:
    """Boolean mask of ``face``'s ellipse in an image of ``shape``."""
    mask = np.zeros(shape, dtype=np.uint8)
    (cx, cy), (ew, eh), angle = face.ellipse
    cv2.ellipse(mask, ((cx, cy), (ew, eh), angle), 1, thickness=-1)
    return mask.astype(bool)
