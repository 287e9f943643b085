"""The difference between the aligned versions, with the benign part discounted, and its noise model.

Steps (all in the analysis frame, over the overlap)
---------------------------------------------------
1. *Colour space.* Both images in JPEG's YCbCr (ITU-R BT.601, full range):
   re-compression treats luma and chroma differently (chroma is subsampled),
   so they get separate filters below.
2. *Resampling and sharpening discounted.* Per channel, a 5x5 radially
   symmetric linear filter (6 taps: the rings at squared radius 0, 1, 2, 4, 5,
   8) plus an offset, fitted by trimmed least squares so that the filtered
   original predicts the suspect: the kernel-matching step of difference
   imaging (Alard & Lupton, "A method for optimal image subtraction", ApJ
   503, 1998). It absorbs what the two resizers, a platform's sharpening and
   the chroma subsampling did differently, estimated from the pair itself.
   Trimmed: three rounds, each refitted on the 80% of samples that fit best.
   Samples are drawn with probability proportional to the local range of the
   original's channel plus its mean over the overlap: flat pixels can hardly
   tell one filter from another, and drawn uniformly they would outvote (and
   trim away) the edges of a logo on a plain background.
3. *Residual tolerant to sub-pixel misalignment.* Per channel, how far the
   suspect lies outside the range (min..max) of the original over each
   pixel's neighbourhood, and the original outside the suspect's range; the
   larger of the two (so a thin line added *or* removed shows). The luma
   residual is that of Y over 3x3 pixels; the chroma residual the norm of
   those of Cb and Cr over the chroma neighbourhood (:func:`chroma_radius`:
   one 4:2:0 chroma sample each way). A misalignment of up to a pixel moves
   a value within its neighbourhood's range and costs nothing.
4. *Noise model from the pair.* What re-compression and resampling leave
   grows with local detail, so each residual is judged against pixels of the
   same detail: the activity of a pixel is the smaller of the two images'
   local range (of Y for luma, of Cb and Cr for chroma: an edit seen against
   flat ground keeps the ground's low activity). The benign scale is a curve
   ``scale(activity) = max(MIN_SCALE, exp(alpha) (1 + activity)^beta)``
   fitted through the ``SCALE_QUANTILE`` quantiles of the residual in
   ``ACTIVITY_BINS`` equal-count bins of activity by the Theil-Sen estimator
   (:func:`noise_model`). The normalised residual is ``z = max(luma / luma
   scale, chroma / chroma scale)``: under the benign hypothesis about
   1 - ``SCALE_QUANTILE`` of the pixels of any activity exceed 1 in each.
   The first pass takes ``ROUGH_FACTOR`` times the median instead of the
   quantile (an edit under half of a bin cannot move a median); later passes
   leave the regions found out of the fit (:mod:`tamperscope.comparison.changes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: RGB -> YCbCr (BT.601 full range, offsets dropped: differences only).
YCC = np.float32([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
#: Squared radii of the rings of the 5x5 matching filter.
RINGS = (0, 1, 2, 4, 5, 8)
#: Samples for the filter fit.
FILTER_SAMPLES = 50_000
#: Samples for the noise model's quantiles.
NOISE_SAMPLES = 100_000
#: Share of the samples kept at each trimmed least-squares round.
FILTER_KEEP = 0.8
#: Equal-count bins of activity in the noise model.
ACTIVITY_BINS = 16
#: The residual quantile taken as a bin's benign scale.
SCALE_QUANTILE = 0.9
#: First-pass scale: this many times a bin's median residual.
ROUGH_FACTOR = 3.0
#: Smallest benign scale (levels of 255): a colour difference about as large as the just-noticeable one
#: (CIELAB Delta E*ab about 2.3, Mahy, Van Eycken & Oosterlinck, Color Res. Appl. 19(2), 1994) never counts as a
#: change by itself; it is also what rounding after a tone curve steeper than 1 leaves.
MIN_SCALE = 2.0

_KERNELS = []
for _r2 in RINGS:
    _k = np.zeros((5, 5), np.float32)
    for _dy in range(-2, 3):
        for _dx in range(-2, 3):
            if _dy * _dy + _dx * _dx == _r2:
                _k[_dy + 2, _dx + 2] = 1.0
    _KERNELS.append(_k)


@dataclass
class Difference:
    """The discounted difference and what was fitted to get it (analysis frame, 0 outside the overlap).

    Attributes
    ----------
    luma, chroma : ndarray
        float32: the misalignment-tolerant residual of Y, and the norm of those of Cb and Cr.
    luma_activity, chroma_activity : ndarray
        float32: the smaller of the two images' local range, of Y (3x3) and of Cb, Cr (the chroma neighbourhood).
    z : ndarray
        float32: the larger of ``luma / luma scale`` and ``chroma / chroma scale`` (module doc, step 4).
    noise : dict of str to NoiseModel
        The benign scale of "luma" and of "chroma" as functions of their activity.
    filters : dict
        Per channel ("Y", "Cb", "Cr"): the fitted ring weights and offset.
    original_ycc, suspect_ycc : ndarray
        The filtered original and the suspect in YCbCr.
    """

    luma: np.ndarray
    chroma: np.ndarray
    luma_activity: np.ndarray
    chroma_activity: np.ndarray
    z: np.ndarray
    noise: dict
    filters: dict
    original_ycc: np.ndarray
    suspect_ycc: np.ndarray


def to_ycc(rgb: np.ndarray) -> np.ndarray:
    """float32 RGB -> float32 YCbCr (no offsets)."""
    return cv2.transform(np.ascontiguousarray(rgb, dtype=np.float32), YCC)


def fit_filter(source: np.ndarray, target: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring filter + offset with ``filter(source) ~ target`` at the flat indices ``where``; (filtered, weights)."""
    rings = [cv2.filter2D(source, -1, kernel, borderType=cv2.BORDER_REFLECT_101) for kernel in _KERNELS]
    design = np.stack([ring.ravel()[where] for ring in rings] + [np.ones(len(where), np.float32)], axis=1)
    design = design.astype(np.float64)
    goal = target.ravel()[where].astype(np.float64)
    keep = np.ones(len(where), bool)
    weights = np.zeros(len(_KERNELS) + 1)
    weights[0] = 1.0
    for _ in range(3):
        if keep.sum() <= design.shape[1]:
            break
        weights = least_squares(design[keep], goal[keep])
        error = np.abs(design @ weights - goal)
        keep = error <= np.quantile(error, FILTER_KEEP)
    filtered = sum(float(w) * ring for w, ring in zip(weights[:-1], rings)) + float(weights[-1])
    return filtered.astype(np.float32), weights


def weighted_sample(weights: np.ndarray, valid: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted flat indices of ``valid`` pixels, ``count`` draws (with replacement) with probability proportional to
    ``weights`` there; uniform when the weights are all zero; every valid pixel when there are few."""
    where = np.flatnonzero(valid.ravel())
    if len(where) <= count:
        return where
    chance = np.maximum(weights.ravel()[where].astype(np.float64), 0.0)
    total = chance.sum()
    if not np.isfinite(total) or total <= 0:
        return np.sort(where[rng.integers(0, len(where), count)])
    return np.sort(where[rng.choice(len(where), count, p=chance / total)])


def least_squares(design: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Least-squares solution through the normal equations (well conditioned here: few, distinct columns)."""
    gram = design.T @ design
    gram[np.diag_indices_from(gram)] += 1e-9 * max(float(np.trace(gram)), 1.0)
    return np.linalg.solve(gram, design.T @ goal)


def tolerant_residual(original: np.ndarray, suspect: np.ndarray, radius: int = 1) -> np.ndarray:
    """Per-pixel distance outside each other's ``(2 radius + 1)``-square ranges, norm over the channels given.

    ``original`` and ``suspect`` are (H, W, C) float32 (module doc, step 3).
    """
    square = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    total = np.zeros(original.shape[:2], np.float32)
    for channel in range(original.shape[2]):
        a = np.ascontiguousarray(original[..., channel])
        b = np.ascontiguousarray(suspect[..., channel])
        outside_a = np.maximum(np.maximum(b - cv2.dilate(a, square), cv2.erode(a, square) - b), 0)
        outside_b = np.maximum(np.maximum(a - cv2.dilate(b, square), cv2.erode(b, square) - a), 0)
        total += np.maximum(outside_a, outside_b) ** 2
    return np.sqrt(total)


def chroma_radius(factor: float) -> int:
    """Neighbourhood radius for Cb and Cr: JPEG's 4:2:0 stores chroma at every other pixel of the suspect, so one
    chroma sample each way spans two suspect pixels, ``2 * factor`` analysis pixels (at least one)."""
    return max(1, int(round(2.0 * factor)))


def local_range(channels: np.ndarray, radius: int = 1) -> np.ndarray:
    """Largest max - min over each pixel's ``(2 radius + 1)``-square neighbourhood among the channels given."""
    square = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    planes = channels[..., None] if channels.ndim == 2 else channels
    spread = [cv2.dilate(np.ascontiguousarray(planes[..., c]), square) - cv2.erode(np.ascontiguousarray(planes[..., c]),
                                                                                  square)
              for c in range(planes.shape[2])]
    return np.maximum.reduce(spread)


@dataclass
class NoiseModel:
    """Benign residual scale as a function of activity: ``scale(a) = max(MIN_SCALE, exp(alpha) (1 + a)^beta)``."""

    alpha: float
    beta: float
    quantile: float
    factor: float
    bins: list

    def scale(self, activity: np.ndarray) -> np.ndarray:
        # The exponent is bounded so that no scale exceeds the largest possible residual (255 per channel).
        exponent = np.minimum(self.alpha + self.beta * np.log1p(np.maximum(activity, 0.0)), math.log(512.0))
        return np.maximum(np.exp(exponent) * self.factor, MIN_SCALE).astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "form": "scale = max(min_scale, factor * exp(alpha) * (1 + activity)^beta)",
            "alpha": round(self.alpha, 4),
            "beta": round(self.beta, 4),
            "factor": self.factor,
            "residual_quantile": self.quantile,
            "min_scale": MIN_SCALE,
            "bins": self.bins,
        }


def noise_model(residual: np.ndarray, activity: np.ndarray, benign: np.ndarray,
                rng: np.random.Generator | None = None, quantile: float = SCALE_QUANTILE,
                factor: float = 1.0) -> NoiseModel:
    """Fit the benign scale curve on ``benign`` pixels.

    Pixels are put into ``ACTIVITY_BINS`` equal-count bins of activity; in
    each, the ``quantile`` of the residual; then ``log scale = alpha + beta
    log(1 + activity)`` through the bins by the Theil-Sen estimator (the
    median of pairwise slopes, Sen 1968), which a minority of bins taken over
    by an edit (a flat pasted area is a bin of its own: zero activity) cannot
    pull.
    """
    from scipy.stats import theilslopes

    where = np.flatnonzero(benign.ravel())
    if len(where) > NOISE_SAMPLES:
        where = where[(rng or np.random.default_rng(0)).integers(0, len(where), NOISE_SAMPLES)]
    values = activity.ravel()[where]
    errors = residual.ravel()[where]
    if values.size < ACTIVITY_BINS * 50:
        level = float(np.quantile(errors, quantile)) if errors.size else MIN_SCALE
        return NoiseModel(float(np.log(max(level, MIN_SCALE))), 0.0, quantile, factor, [])
    order = np.argsort(values, kind="stable")
    chunks = np.array_split(order, ACTIVITY_BINS)
    centres = np.array([float(np.median(values[c])) for c in chunks])
    levels = np.array([max(float(np.quantile(errors[c], quantile)), 1e-3) for c in chunks])
    x, y = np.log1p(centres), np.log(levels)
    # Bins of (nearly) the same activity are one point: pairs of them would make near-infinite slopes.
    keys = np.round(x, 2)
    distinct = np.unique(keys)
    x = np.array([float(np.median(x[keys == k])) for k in distinct])
    y = np.array([float(np.median(y[keys == k])) for k in distinct])
    if len(x) < 2:
        alpha, beta = float(np.median(y)), 0.0
    else:
        beta, alpha, *_ = theilslopes(y, x)
    bins = [{"activity": round(float(a), 3), "residual_quantile": round(float(v), 3)} for a, v in zip(centres, levels)]
    return NoiseModel(float(alpha), float(beta), quantile, factor, bins)


def normalise(diff: "Difference", valid: np.ndarray, benign: np.ndarray, quantile: float = SCALE_QUANTILE,
              factor: float = 1.0) -> tuple[np.ndarray, dict]:
    """``z`` map and the two noise models (luma, chroma) fitted on ``benign`` pixels."""
    models = {}
    z = np.zeros(valid.shape, np.float32)
    for name, residual, activity in (("luma", diff.luma, diff.luma_activity),
                                     ("chroma", diff.chroma, diff.chroma_activity)):
        model = noise_model(residual, activity, benign, quantile=quantile, factor=factor)
        np.maximum(z, residual / model.scale(activity), out=z)
        models[name] = model
    z[~valid] = 0.0
    return z, models


def difference(original: np.ndarray, suspect: np.ndarray, valid: np.ndarray,
               rng: np.random.Generator | None = None, factor: float = 1.0) -> Difference:
    """The discounted difference of two aligned, tone-matched float32 RGB images over ``valid``."""
    rng = rng or np.random.default_rng(0)
    a = to_ycc(original)
    b = to_ycc(suspect)
    filters = {}
    matched = np.empty_like(a)
    for channel, name in enumerate(("Y", "Cb", "Cr")):
        plane = np.ascontiguousarray(a[..., channel])
        # A flat neighbourhood says little about a filter (any filter that keeps the mean fits it): rows are drawn
        # with probability proportional to the channel's local range plus its mean, so that the edges and texture,
        # a few per cent of a graphic or a sky, take part in the fit instead of being trimmed as its worst-fitting
        # rows, while flat areas keep their say in proportion to what they hold.
        spread = local_range(plane)
        where = weighted_sample(spread + float(spread[valid].mean()) if valid.any() else spread, valid,
                                FILTER_SAMPLES, rng)
        if len(where) > 2 * (len(_KERNELS) + 1):
            matched[..., channel], weights = fit_filter(plane, np.ascontiguousarray(b[..., channel]), where)
        else:
            matched[..., channel], weights = plane, np.r_[1.0, np.zeros(len(_KERNELS))]
        filters[name] = {"rings_r2": list(RINGS), "weights": [round(float(w), 5) for w in weights[:-1]],
                         "offset": round(float(weights[-1]), 4)}
    radius = chroma_radius(factor)
    luma = tolerant_residual(matched[..., :1], b[..., :1], 1)
    chroma = tolerant_residual(matched[..., 1:], b[..., 1:], radius)
    luma[~valid] = 0.0
    chroma[~valid] = 0.0
    luma_activity = np.minimum(local_range(matched[..., 0]), local_range(b[..., 0]))
    chroma_activity = np.minimum(local_range(matched[..., 1:], radius), local_range(b[..., 1:], radius))
    diff = Difference(luma, chroma, luma_activity, chroma_activity, np.zeros(valid.shape, np.float32), {}, filters,
                      matched, b)
    # First pass: the median (unmoved by an edit under half of a bin) times ROUGH_FACTOR, a rough scale that
    # only serves to keep gross changes out of the next passes' estimate.
    diff.z, diff.noise = normalise(diff, valid, valid, quantile=0.5, factor=ROUGH_FACTOR)
    return diff
