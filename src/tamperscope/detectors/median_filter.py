"""Median filtering: the streaking of the first-order difference histogram.

M. Kirchner and J. Fridrich, "On detection of median filtering in digital
images", Proc. SPIE 7541, Media Forensics and Security II, 2010.

Method
------
A median filter replaces each pixel by a value of its neighbourhood, so
neighbouring outputs often take the very same value: the filtered image has
"streaks" of equal pixels. Kirchner and Fridrich measure this with the
histogram ``h_k`` of the first-order differences of neighbouring pixels: the
ratio ``Gamma = h_0 / h_1`` of zero differences to differences of one grey
level is much larger after median filtering than in a camera image, where
noise makes exact equality no likelier than a step of one. As in the paper,
differences are taken horizontally and vertically on the 8-bit values of each
channel (R, G and B pooled) of uncompressed images.

Our choices, beyond the paper
-----------------------------
*Local map.* ``Gamma`` is computed in ``window x window`` windows (64 px, step
32). Differences with both pixels clipped (some channel within 2 grey levels
of 0 or 255) are left out: equal values there come from saturation, not filtering. A
window with fewer than 25% of its differences at least 2 grey levels in
magnitude (flat content, where equality is everywhere) is not measured
(confidence 0). A window's heat is ``clip(log2(Gamma_w / Gamma_img), 0, 1)``
with ``Gamma_img`` the median over the measured windows: 0.5 where the window
streaks 1.4 times as much as the image typically does, 1 at twice.

*No decision.* The paper decides with a threshold on ``Gamma`` learnt on its
database (and, for JPEG images, with an SVM on SPAM features); ``Gamma`` of an
authentic image depends on its noise level and compression, so without such
training there is no calibrated threshold. The evidence has no score
(``decides = False``); the global ``Gamma`` is reported in the facts with the
map. On our synthetic check (benchmarks/processing_synthetic.py) a 3x3
median filter multiplies ``Gamma`` by several times on a noisy photo.

Limits
------
JPEG compression after the filter hides the streaks (quantization noise breaks
exact equality) and JPEG's own flat blocks add zeros; very clean or
low-noise images streak by themselves. The map is relative to the image:
a wholly filtered image shows no region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ._blocks import cells_from_windows
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable


def difference_counts(pixels: np.ndarray, size: int, step: int) -> dict[str, np.ndarray]:
    """Per window: counts of zero, unit and large (>= 2) neighbour differences, all channels pooled."""
    h, w = pixels.shape[:2]
    rows, cols = (h - size) // step + 1, (w - size) // step + 1
    counts = {k: np.zeros((rows, cols)) for k in ("zero", "one", "large")}
    inside = cv2.inRange(pixels, (3, 3, 3), (252, 252, 252)) == 0
    # A pixel counts as clipped when any channel is; cheap and conservative.
    for axis in (0, 1):
        a = pixels[1:] if axis == 0 else pixels[:, 1:]
        b = pixels[:-1] if axis == 0 else pixels[:, :-1]
        d = cv2.absdiff(a, b)
        both_clipped = inside[1:] & inside[:-1] if axis == 0 else inside[:, 1:] & inside[:, :-1]
        zero = (d == 0).sum(axis=2, dtype=np.uint8)
        one = (d == 1).sum(axis=2, dtype=np.uint8)
        large = 3 - zero - one
        for key, plane in (("zero", zero), ("one", one), ("large", large)):
            plane[both_clipped] = 0
            # Pad back to the image size so that every window sums over the same support.
            plane = cv2.copyMakeBorder(plane, 0, int(axis == 0), 0, int(axis == 1), cv2.BORDER_CONSTANT, value=0)
            counts[key] += _window_sums(plane, size, step, rows, cols)
    return counts


def _window_sums(plane: np.ndarray, size: int, step: int, rows: int, cols: int) -> np.ndarray:
    integral = cv2.integral(plane, sdepth=cv2.CV_64F)
    ys = np.arange(rows) * step
    xs = np.arange(cols) * step
    return (
        integral[np.ix_(ys + size, xs + size)]
        - integral[np.ix_(ys, xs + size)]
        - integral[np.ix_(ys + size, xs)]
        + integral[np.ix_(ys, xs)]
    )


@register
@dataclass
class MedianFilter(Detector):
    """Median-filtering streaks (Kirchner & Fridrich 2010), a map to read.

    Parameters
    ----------
    window : int
        Side of the windows in pixels (even); the map's stride is half of it.
    min_busy : float
        Least share of differences of 2 grey levels or more for a window to be measured.
    """

    window: int = 64
    min_busy: float = 0.25

    name: ClassVar[str] = "median_filter"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "M. Kirchner, J. Fridrich, On detection of median filtering in digital images, Proc. SPIE 7541, 2010"
    )
    summary: ClassVar[str] = "streaks of equal neighbouring pixels left by median filtering (a layer to read, no decision)"
    title: ClassVar[str] = "Median filtering"
    trace: ClassVar[str] = "has the streaks of equal neighbouring pixels that a median filter leaves"
    requires: ClassVar[frozenset[str]] = frozenset()
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        size, step = self.window, self.window // 2
        h, w = image.shape
        if min(h, w) < 2 * size:
            raise NotApplicable(f"{w}x{h} is too small for {size}x{size} difference-histogram windows")
        counts = difference_counts(image.pixels, size, step)
        total = counts["zero"] + counts["one"] + counts["large"]
        busy = counts["large"] / np.maximum(total, 1)
        measured = (busy >= self.min_busy) & (counts["one"] > 0)
        if measured.sum() < 2:
            raise NotApplicable("the image is too flat (or too clipped) to tell streaks from flat content")
        gamma = counts["zero"] / np.maximum(counts["one"], 1)
        typical = float(np.median(gamma[measured]))
        heat = np.where(measured, np.clip(np.log2(np.maximum(gamma, 1e-9) / max(typical, 1e-9)), 0.0, 1.0), 0.0)
        zero, one = counts["zero"][measured].sum(), counts["one"][measured].sum()
        global_gamma = float(zero / max(one, 1))
        facts = {
            "gamma": round(global_gamma, 4),
            "typical_window_gamma": round(typical, 4),
            "streaking_window_share": round(float(np.mean(heat[measured] >= 0.5)), 4),
            "measured_window_share": round(float(measured.mean()), 4),
        }
        notes = [
            f"Zero to one-grey-level neighbour differences (Gamma = h0/h1): {global_gamma:.2f} over the measured "
            f"windows; {100 * facts['streaking_window_share']:.1f}% of them streak at least 1.4 times as much as "
            f"the typical window ({typical:.2f}).",
        ]
        return Finding(
            score=None,
            heatmap=cells_from_windows(heat, (h, w), step).astype(np.float32),
            stride=step,
            confidence=cells_from_windows(measured.astype(float), (h, w), step).astype(np.float32),
            notes=notes,
            facts=facts,
        )
