"""Each changed region in words and numbers: where it is in both images and how it changed.

How it changed
--------------
Read inside the region on the aligned pair (after the tone model and the
matching filter), on the luma's detail ``d = Y - Gaussian(Y, sigma=2 px)``:

* ``structure`` - the correlation of the two images' detail over the region;
  near 1 when the same edges and texture are there in both.
* ``detail`` - the RMS of each image's detail over the region.

Then, in this order:

* **recoloured** - the structure is kept (``structure >= STRUCTURE_KEPT``) or
  neither image has detail there (both below ``FLAT_DETAIL`` grey levels):
  the same content with other colours or tones;
* **added** - the suspect has ``DETAIL_RATIO`` times the original's detail
  or more: something appeared;
* **removed** - the original has ``DETAIL_RATIO`` times the suspect's detail
  or more: something was taken out and the gap filled with smoother content;
* **replaced** - otherwise: other content of similar detail.

These are descriptions of what the pixels show, with the numbers they rest
on; a removal filled with busy texture reads as *replaced*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Detail correlation at or above which the structure counts as kept.
STRUCTURE_KEPT = 0.7
#: Detail RMS (grey levels) below which a region counts as flat in an image.
FLAT_DETAIL = 2.0
#: Ratio of detail RMS that makes a change an addition or a removal.
DETAIL_RATIO = 1.5


@dataclass
class ChangedRegion:
    """One reported change.

    Boxes are ``(x, y, width, height)`` in each image's upright pixel frame.
    """

    id: int
    bbox_suspect: tuple[int, int, int, int]
    bbox_original: tuple[int, int, int, int] | None
    share: float
    share_of_overlap: float
    kind: str
    mass: float
    median_z: float
    structure: float | None
    detail_original: float
    detail_suspect: float
    luma_share: float
    mean_colour_shift: float

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "bbox": list(self.bbox_suspect),
            "bbox_original": None if self.bbox_original is None else list(self.bbox_original),
            "share": round(self.share, 5),
            "share_of_overlap": round(self.share_of_overlap, 5),
            "change": self.kind,
            "statistic": {"mass": round(self.mass, 1), "median_z": round(self.median_z, 2)},
            "measures": {
                "structure": None if self.structure is None else round(self.structure, 3),
                "detail_original": round(self.detail_original, 2),
                "detail_suspect": round(self.detail_suspect, 2),
                "luma_share": round(self.luma_share, 3),
                "mean_colour_shift": round(self.mean_colour_shift, 2),
            },
        }


def _detail(luma: np.ndarray) -> np.ndarray:
    return luma - cv2.GaussianBlur(luma, (0, 0), 2.0)


def change_kind(structure: float | None, detail_original: float, detail_suspect: float) -> str:
    """The rule of the module doc."""
    if (detail_original < FLAT_DETAIL and detail_suspect < FLAT_DETAIL) or (
        structure is not None and structure >= STRUCTURE_KEPT
    ):
        return "recoloured"
    if detail_suspect >= DETAIL_RATIO * max(detail_original, 1e-6):
        return "added"
    if detail_original >= DETAIL_RATIO * max(detail_suspect, 1e-6):
        return "removed"
    return "replaced"


def box_of(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer bounding box (x, y, w, h) of (N, 2) points, clipped to a ``width`` x ``height`` image."""
    if len(points) == 0:
        return None
    x0 = int(max(0, math.floor(points[:, 0].min())))
    y0 = int(max(0, math.floor(points[:, 1].min())))
    x1 = int(min(width - 1, math.ceil(points[:, 0].max())))
    y1 = int(min(height - 1, math.ceil(points[:, 1].max())))
    if x1 < x0 or y1 < y0:
        return None
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def describe(
    member: np.ndarray,
    region_id: int,
    mass: float,
    median_z: float,
    original_ycc: np.ndarray,
    suspect_ycc: np.ndarray,
    valid: np.ndarray,
    factor: float,
    to_frame: np.ndarray,
    suspect_size: tuple[int, int],
    original_size: tuple[int, int],
) -> ChangedRegion:
    """Measure one region (``member``: bool mask in the analysis frame).

    ``suspect_size`` and ``original_size`` are (width, height) of each upright
    image; ``to_frame`` maps original pixels to analysis pixels and
    ``factor`` is analysis pixels per suspect pixel.
    """
    ys, xs = np.nonzero(member)
    frame_h, frame_w = member.shape
    # Pixel (x, y) of the analysis frame covers suspect pixels around (x + 0.5) / factor - 0.5.
    corners = np.column_stack([np.r_[xs - 0.5, xs + 0.5], np.r_[ys - 0.5, ys + 0.5]])
    suspect_points = (corners + 0.5) / factor - 0.5
    bbox_suspect = box_of(suspect_points, *suspect_size)
    outline, _ = cv2.findContours(member.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline_points = np.vstack([c.reshape(-1, 2) for c in outline]).astype(np.float64)
    back = cv2.perspectiveTransform(outline_points.reshape(-1, 1, 2), np.linalg.inv(to_frame)).reshape(-1, 2)
    bbox_original = box_of(back, *original_size)

    luma_a = np.ascontiguousarray(original_ycc[..., 0])
    luma_b = np.ascontiguousarray(suspect_ycc[..., 0])
    detail_a, detail_b = _detail(luma_a)[member], _detail(luma_b)[member]
    rms_a = float(np.sqrt(np.mean(detail_a**2)))
    rms_b = float(np.sqrt(np.mean(detail_b**2)))
    denominator = math.sqrt(float((detail_a**2).sum() * (detail_b**2).sum()))
    structure = float((detail_a * detail_b).sum() / denominator) if denominator > 1e-9 else None
    shift = suspect_ycc[member] - original_ycc[member]
    energy = (shift**2).sum(axis=0)
    luma_share = float(energy[0] / max(energy.sum(), 1e-9))
    mean_shift = float(np.sqrt((shift.mean(axis=0) ** 2).sum()))
    return ChangedRegion(
        id=region_id,
        bbox_suspect=bbox_suspect or (0, 0, 0, 0),
        bbox_original=bbox_original,
        share=float(member.sum()) / float(frame_h * frame_w),
        share_of_overlap=float(member.sum()) / max(float(valid.sum()), 1.0),
        kind=change_kind(structure, rms_a, rms_b),
        mass=mass,
        median_z=median_z,
        structure=structure,
        detail_original=rms_a,
        detail_suspect=rms_b,
        luma_share=luma_share,
        mean_colour_shift=mean_shift,
    )
