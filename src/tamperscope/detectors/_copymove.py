"""Helpers shared by the copy-move detectors: describing a cloned pair.

A pair links two regions of the same image by an affine transform
``target = A @ source + t`` in stored-pixel coordinates (x right, y down).
Neither method can tell which region was the original: "source" is only the
end the transform starts from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class ClonePair:
    """Two linked regions and the affine map from the first to the second."""

    source_bbox: tuple[int, int, int, int]  # x, y, w, h
    target_bbox: tuple[int, int, int, int]
    transform: np.ndarray  # 2x3, source (x, y) -> target (x, y)
    support: int  # inlier matches (keypoints) or matched pixels (dense)
    source_idx: np.ndarray | None = None  # keypoint indices of the inliers, when keypoints found the pair
    target_idx: np.ndarray | None = None

    @property
    def rotation_deg(self) -> float:
        """Rotation of the map; positive turns clockwise on screen (y points down)."""
        a, c = self.transform[0, 0], self.transform[1, 0]
        return math.degrees(math.atan2(c, a))

    @property
    def scale(self) -> float:
        """Isotropic scale: the square root of the area ratio |det A|."""
        return math.sqrt(abs(float(np.linalg.det(self.transform[:, :2]))))

    def to_fact(self, support_name: str) -> dict:
        return {
            "source_bbox": [int(v) for v in self.source_bbox],
            "target_bbox": [int(v) for v in self.target_bbox],
            "transform": [[round(float(v), 4) for v in row] for row in self.transform],
            "rotation_deg": round(self.rotation_deg, 1),
            "scale": round(self.scale, 3),
            support_name: int(self.support),
        }


def bbox_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x, y, w, h) of the true pixels of ``mask`` (which must have some)."""
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    return int(x), int(y), int(w), int(h)


def scaled_pair(pair: ClonePair, factor: float) -> ClonePair:
    """The pair measured on an image resized by ``factor``, expressed in the original's pixels."""
    if factor == 1.0:
        return pair

    def box(b):
        x, y, w, h = b
        return (round(x / factor), round(y / factor), round(w / factor), round(h / factor))

    transform = pair.transform.copy()
    transform[:, 2] /= factor
    return ClonePair(box(pair.source_bbox), box(pair.target_bbox), transform, pair.support)


def pair_sentence(index: int, pair: dict, support_name: str, support_words: str) -> str:
    """One plain sentence describing a reported pair (used in notes and the explanation)."""
    sx, sy, sw, sh = pair["source_bbox"]
    tx, ty, tw, th = pair["target_bbox"]
    return (
        f"Pair {index}: the {sw}x{sh}-pixel area at x={sx}, y={sy} reappears as the {tw}x{th}-pixel area at "
        f"x={tx}, y={ty}, rotated {pair['rotation_deg']:+.0f} degrees and scaled {pair['scale']:.2f}x "
        f"({pair[support_name]} {support_words})."
    )
