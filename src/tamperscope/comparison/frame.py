"""Bringing both versions into one frame: the suspect's, at the resolution both can support.

The comparison runs in the *analysis frame*: the suspect's upright frame
resized by ``factor`` so that (a) it holds no more detail than the original
supplies (a suspect up-scaled from a smaller original is compared at the
original's resolution), and (b) it stays under ``max_pixels``. The suspect is
shrunk into it with area averaging; the original is warped into it with the
fitted map, area-averaged first where the map shrinks it (a plain
interpolating warp would alias what a resizer averages), then bilinear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .align import Alignment

#: Largest analysis frame (pixels); larger suspects are compared at a reduced size.
MAX_ANALYSIS_PIXELS = 4_000_000
#: Pixels at the edge of the warped original that are left out (interpolation there mixes in the border).
EDGE_MARGIN = 2


def resize_map(factor_x: float, factor_y: float) -> np.ndarray:
    """3x3 map of a resize by (factor_x, factor_y), pixel centres at integers."""
    return np.array([[factor_x, 0.0, 0.5 * factor_x - 0.5], [0.0, factor_y, 0.5 * factor_y - 0.5], [0.0, 0.0, 1.0]])


@dataclass
class Frame:
    """Both images in the analysis frame.

    Attributes
    ----------
    original, suspect : ndarray
        float32 RGB in [0, 255], the analysis frame's size.
    valid : ndarray
        bool: where the original covers the suspect (the overlap), less a
        thin margin at its edge.
    factor : float
        Analysis-frame pixels per suspect pixel (<= 1).
    to_frame : ndarray
        3x3 map from original pixels to analysis-frame pixels.
    """

    original: np.ndarray
    suspect: np.ndarray
    valid: np.ndarray
    factor: float
    to_frame: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.suspect.shape[:2]


def analysis_factor(alignment: Alignment, suspect_shape: tuple[int, int], max_pixels: int = MAX_ANALYSIS_PIXELS) -> float:
    """Analysis-frame pixels per suspect pixel: at most 1, at most the original's own resolution, within ``max_pixels``."""
    height, width = suspect_shape
    factor = 1.0
    if alignment.scale > 1.0:
        factor = 1.0 / alignment.scale  # the suspect holds no detail beyond the original's
    return min(factor, math.sqrt(max_pixels / float(height * width)))


def build_frame(
    original: np.ndarray, suspect: np.ndarray, alignment: Alignment, max_pixels: int = MAX_ANALYSIS_PIXELS
) -> Frame:
    """Warp ``original`` and resize ``suspect`` (both uint8 RGB, upright) into the analysis frame."""
    factor = analysis_factor(alignment, suspect.shape[:2], max_pixels)
    height, width = suspect.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if size != (width, height):
        suspect_frame = cv2.resize(suspect, size, interpolation=cv2.INTER_AREA)
    else:
        suspect_frame = suspect
    to_frame = resize_map(size[0] / width, size[1] / height) @ alignment.matrix
    warped, valid = warp_into(original, to_frame, size)
    return Frame(warped.astype(np.float32), suspect_frame.astype(np.float32), valid, factor, to_frame)


def warp_into(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``image`` warped by ``matrix`` onto a ``size`` (w, h) canvas, area pre-filtered where it shrinks; and coverage."""
    h0, w0 = image.shape[:2]
    centre = np.array([(w0 - 1) / 2, (h0 - 1) / 2])
    w = matrix[2, 0] * centre[0] + matrix[2, 1] * centre[1] + matrix[2, 2]
    scale = math.sqrt(abs(np.linalg.det(matrix) / w**3))
    source = image
    if scale < 0.8:
        # Shrink by area averaging to the map's scale, so that the remaining warp hardly resamples.
        small = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
        source = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.linalg.inv(resize_map(small[0] / w0, small[1] / h0))
    warped = cv2.warpPerspective(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ones = np.full(source.shape[:2], 255, np.uint8)
    covered = cv2.warpPerspective(ones, matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0
    if EDGE_MARGIN:
        kernel = np.ones((2 * EDGE_MARGIN + 1, 2 * EDGE_MARGIN + 1), np.uint8)
        covered = cv2.erode(covered.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return warped, covered
