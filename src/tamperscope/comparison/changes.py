"""From the aligned pair to changed regions: tone fit, discounted difference, robust passes, candidate regions.

Passes
------
The tone model and the noise model are fitted on the pixels believed
unchanged. Pass 0 fits both on the whole overlap, with the rough (median
based) noise scale; each later pass refits both without the candidate
regions of the pass before (grown by ``EXCLUDE_PX`` pixels), with the
``SCALE_QUANTILE`` scale. ``PASSES`` passes in all; the exclusion is skipped
when it would leave less than ``MIN_BENIGN`` of the overlap (the change is
then most of the picture, and is reported against the rough model).

Candidates
----------
A pixel is *exceeding* when ``z > 1``: its residual is above what the
``SCALE_QUANTILE`` share of unchanged pixels of the same detail reach. The
*exceedance density* is the share of exceeding pixels in the
``WINDOW`` x ``WINDOW`` window around each pixel: about ``1 -
SCALE_QUANTILE`` where nothing changed, near 1 inside a change. Candidate
pixels have density above one half (most of their neighbourhood differs);
candidate regions are their 8-connected components.

Evidence of a region
--------------------
``mass = sum over the region of log z`` (pixels with ``z > 1``). Read the
benign normalised residual above its scale as a Pareto tail, ``P(z > t) ~
t^-a``: then ``sum log z`` is the sufficient statistic of the tail index over
the region (Hill, Ann. Statist. 3(5), 1975), and the log-likelihood ratio of
"this region follows the benign tail" against "something else set these
values" grows with it. It grows both with the region's size and with how far
above the benign level it is, so a small strong change and a large faint one
can both reach it, and a heavy-tailed benign residual needs many pixels to.
A region is reported when its mass reaches the threshold calibrated on
benign-only pairs (:mod:`tamperscope.comparison.calibration`): the level the
largest candidate of such pairs stays below in 99% of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .difference import SCALE_QUANTILE, Difference, difference, normalise
from .frame import Frame
from .tone import ToneModel, fit_tone

#: Passes of the robust estimation (pass 0 included).
PASSES = 3
#: Candidates are grown by this many pixels before they are kept out of the model fits.
EXCLUDE_PX = 4
#: Least share of the overlap that must stay in the fits for a pass to exclude candidates.
MIN_BENIGN = 0.3
#: Side of the exceedance-density window (analysis pixels).
WINDOW = 9
#: Candidate pixels: exceedance density above this (most of the window).
DENSITY = 0.5


@dataclass
class Candidate:
    """One connected candidate region (analysis frame)."""

    label: int
    area: int
    mass: float
    bbox: tuple[int, int, int, int]  # x, y, w, h in the analysis frame


@dataclass
class Changes:
    """What the passes found."""

    tone: ToneModel
    difference: Difference
    noise: dict
    z: np.ndarray
    density: np.ndarray
    labels: np.ndarray
    candidates: list[Candidate]
    passes: int
    benign_share: float


def exceedance_density(z: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Share of pixels with ``z > 1`` among the valid ones of each ``WINDOW`` x ``WINDOW`` window."""
    over = ((z > 1.0) & valid).astype(np.float32)
    counted = cv2.boxFilter(valid.astype(np.float32), -1, (WINDOW, WINDOW), normalize=False,
                            borderType=cv2.BORDER_CONSTANT)
    hits = cv2.boxFilter(over, -1, (WINDOW, WINDOW), normalize=False, borderType=cv2.BORDER_CONSTANT)
    density = hits / np.maximum(counted, 1.0)
    density[~valid] = 0.0
    return density


def candidate_regions(z: np.ndarray, density: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[Candidate]]:
    """Label map and the candidate regions with their evidence."""
    mask = ((density > DENSITY) & valid).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return labels, []
    evidence = np.log(np.maximum(z, 1.0))
    mass = np.bincount(labels.ravel(), weights=evidence.ravel(), minlength=count)
    found = []
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[k])
        found.append(Candidate(k, area, float(mass[k]), (x, y, w, h)))
    return labels, found


def find_changes(frame: Frame, rng: np.random.Generator | None = None) -> Changes:
    """Run the passes over an aligned pair (see the module doc)."""
    rng = rng or np.random.default_rng(0)
    valid = frame.valid
    benign = valid
    passes = 0
    total = max(int(valid.sum()), 1)
    tone = fit_tone(frame.original, frame.suspect, benign, rng)
    diff = difference(tone.apply(frame.original), frame.suspect, valid, rng, frame.factor)
    z, noise = diff.z, diff.noise
    density = exceedance_density(z, valid)
    labels, found = candidate_regions(z, density, valid)
    passes = 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EXCLUDE_PX + 1, 2 * EXCLUDE_PX + 1))
    while passes < PASSES:
        grown = cv2.dilate((labels > 0).astype(np.uint8), kernel) > 0
        keep = valid & ~grown
        if keep.sum() < MIN_BENIGN * total:
            break
        benign = keep
        tone = fit_tone(frame.original, frame.suspect, benign, rng)
        diff = difference(tone.apply(frame.original), frame.suspect, valid, rng, frame.factor)
        z, noise = normalise(diff, valid, benign, quantile=SCALE_QUANTILE)
        density = exceedance_density(z, valid)
        labels, found = candidate_regions(z, density, valid)
        passes += 1
    diff.z, diff.noise = z, noise
    return Changes(tone, diff, noise, z, density, labels, found, passes, float(benign.sum()) / total)
