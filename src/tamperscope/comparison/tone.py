"""A global colour and tone mapping fitted between the aligned versions, robust to the edited part.

Model
-----
``suspect_c ~ h_c( t_c + sum over input channels k of g_ck(original_k) )`` for
each output channel ``c`` of R, G, B:

* ``g_ck`` - a curve of one input channel, piecewise linear on ``KNOTS``
  evenly spaced levels. The sum over ``k`` is an additive model (Hastie &
  Tibshirani, *Generalized Additive Models*, 1990): with ``g_ck = m_ck
  f_k`` it is per-channel curves followed by a colour matrix (levels, gamma,
  white balance, then saturation or channel mixing), and it also fits a
  grade whose curves differ per output channel;
* ``h_c`` - a monotone non-decreasing curve on 256 levels (a tone curve
  applied after the colour change).

Every part is a function of the pixel's colour alone, the same everywhere in
the picture: a local change (a brush, a pasted object) cannot be represented
and is left to the difference map, as it should be.

Fitting
-------
* The additive part: least squares on a uniform sample of the overlap's
  pixels (the hat functions of each input channel as design; sampling evenly
  over colours instead was tried and over-weights the blends along edges,
  the colours JPEG and resampling disturb most), refitted twice on the
  ``KEEP`` share of the samples that fit best, so that an edited area does
  not pull it. Each output channel is fitted apart, without the samples
  where it is within ``CLIP_MARGIN`` of 0 or 255 (a clipped target says
  nothing about how far the map went; the model clips its output instead).
* The output curves: every overlap pixel counts (a joint 256 x 256
  histogram, so that rare levels, a dark cable against the sky, are fitted
  too): the median target at each level, made non-decreasing by weighted
  isotonic regression (pool-adjacent-violators,
  ``scipy.optimize.isotonic_regression``), interpolated between levels with
  at least ``MIN_LEVEL`` pixels.

A stage that does not lower the median colour error of the sample (the
absolute error summed over R, G, B) is dropped. The caller refits after
excluding the regions found in a first pass, so the edit has even less say.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import isotonic_regression

from .difference import least_squares

#: Knots of each input curve of the additive part (evenly spaced over 0..255).
KNOTS = 17
#: Least pixels an input level needs to take part in an output-curve fit.
MIN_LEVEL = 5
#: Pixels sampled for the additive fit and the residual checks (the output curves use every pixel).
SAMPLES = 60_000
#: Share of the samples the additive part is refitted on (those with the smallest errors).
KEEP = 0.8
#: Levels this close to 0 or 255 count as clipped (JPEG ringing moves a clipped 255 a little).
CLIP_MARGIN = 3

_LEVELS = np.arange(256, dtype=np.float32)
_KNOT_LEVELS = np.linspace(0.0, 255.0, KNOTS)


@dataclass
class ToneModel:
    """The fitted grade; ``apply`` maps original colours to suspect colours."""

    curves: np.ndarray  # (3 outputs, 3 inputs, KNOTS) float64: g_ck at the knots
    offsets: np.ndarray  # (3,)
    curves_out: np.ndarray  # (3, 256) float32
    stages: tuple[str, ...] = ()
    residual_before: float = 0.0
    residual_after: float = 0.0

    @classmethod
    def identity(cls) -> "ToneModel":
        curves = np.zeros((3, 3, KNOTS))
        for c in range(3):
            curves[c, c] = _KNOT_LEVELS
        return cls(curves, np.zeros(3), np.tile(_LEVELS, (3, 1)))

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The model applied to float32 RGB in [0, 255] (any shape ``(..., 3)``)."""
        out = np.asarray(rgb, dtype=np.float32)
        if "mixing" in self.stages:
            out = _additive(out, self.curves, self.offsets)
        if "curves-out" in self.stages:
            out = _apply_curves(out, self.curves_out)
        return out

    def to_dict(self) -> dict:
        """The fitted model: its stages, each curve at the knots, and the colour error it removed."""
        names = "RGB"
        return {
            "model": "additive-curves",
            "form": "out_c = h_c(offset_c + sum_k g_ck(in_k)), g piecewise linear on the knot levels, h monotone",
            "stages": list(self.stages),
            "knot_levels": [round(float(k), 2) for k in _KNOT_LEVELS],
            "curves": {f"{names[c]}<-{names[k]}": [round(float(v), 2) for v in self.curves[c, k]]
                       for c in range(3) for k in range(3)},
            "offsets": [round(float(v), 3) for v in self.offsets],
            "curves_out": {names[c]: [round(float(np.interp(k, _LEVELS, self.curves_out[c])), 2)
                                      for k in _KNOT_LEVELS] for c in range(3)},
            "median_colour_error_before": round(self.residual_before, 3),
            "median_colour_error_after": round(self.residual_after, 3),
        }


def _hats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the knot interval and the position in it, for the piecewise-linear curves."""
    step = 255.0 / (KNOTS - 1)
    position = np.clip(values, 0.0, 255.0) / step
    low = np.minimum(position.astype(np.int32), KNOTS - 2)
    return low, (position - low).astype(np.float32)


def _additive(rgb: np.ndarray, curves: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    flat = rgb.reshape(-1, 3)
    out = np.tile(offsets.astype(np.float32), (len(flat), 1))
    for k in range(3):
        low, frac = _hats(flat[:, k])
        for c in range(3):
            table = curves[c, k].astype(np.float32)
            out[:, c] += table[low] + frac * (table[low + 1] - table[low])
    return np.clip(out, 0.0, 255.0).reshape(rgb.shape)


def _terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The additive model's design, sparse: for each colour, 7 (column, weight) pairs (two hat functions per input
    channel and the constant), as two (N, 7) arrays. The dense design would be N x (3 KNOTS + 1), mostly zeros."""
    columns = np.empty((len(x), 7), np.int64)
    weights = np.empty((len(x), 7), np.float64)
    for k in range(3):
        low, frac = _hats(x[:, k])
        columns[:, 2 * k] = k * KNOTS + low
        columns[:, 2 * k + 1] = k * KNOTS + low + 1
        weights[:, 2 * k] = 1.0 - frac
        weights[:, 2 * k + 1] = frac
    columns[:, 6] = 3 * KNOTS
    weights[:, 6] = 1.0
    return columns, weights


def _normal_equations(columns: np.ndarray, weights: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``D^T D`` and ``D^T target`` of the sparse design, accumulated with bincount (no dense matrix)."""
    size = 3 * KNOTS + 1
    gram = np.zeros(size * size)
    for p in range(7):
        for q in range(7):
            gram += np.bincount(columns[:, p] * size + columns[:, q], weights=weights[:, p] * weights[:, q],
                                minlength=size * size)
    right = np.zeros(size)
    for p in range(7):
        right += np.bincount(columns[:, p], weights=weights[:, p] * target, minlength=size)
    return gram.reshape(size, size), right


def fit_additive(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curves (3, 3, KNOTS) and offsets (3,) of the additive part, trimmed least squares (module doc).

    Each output channel is its own least-squares problem, on the samples where that channel is not clipped.
    """
    columns, weights = _terms(x)
    size = 3 * KNOTS + 1
    # A light ridge towards the identity keeps knots with no samples (levels absent from the image) in place
    # and settles the constant that the three curves of an output channel could trade with its offset.
    ridge = 1e-3 * len(x) / (3 * KNOTS)
    curves = np.zeros((3, 3, KNOTS))
    offsets = np.zeros(3)
    for c in range(3):
        target = y[:, c].astype(np.float64)
        prior = np.zeros(size)
        prior[c * KNOTS:(c + 1) * KNOTS] = _KNOT_LEVELS
        usable = (target > CLIP_MARGIN) & (target < 255 - CLIP_MARGIN)
        if usable.sum() < 10 * size:
            usable = np.ones(len(target), bool)
        keep = usable
        solution = prior
        for _ in range(3):
            gram, right = _normal_equations(columns[keep], weights[keep], target[keep])
            solution = np.linalg.solve(gram + ridge * np.eye(size), right + ridge * prior)
            error = np.abs((solution[columns] * weights).sum(axis=1) - target)
            keep = usable & (error <= np.quantile(error[usable], KEEP))
        for k in range(3):
            curves[c, k] = solution[k * KNOTS:(k + 1) * KNOTS]
        offsets[c] = solution[-1]
    return curves, offsets


def _apply_curves(rgb: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Each channel through its 256-level curve, linearly interpolated between the integer levels."""
    out = np.empty(rgb.shape, dtype=np.float32)
    for channel in range(3):
        values = np.clip(rgb[..., channel], 0.0, 255.0)
        low = np.minimum(values.astype(np.int32), 254)
        curve = curves[channel].astype(np.float32)
        step = np.diff(curve)
        out[..., channel] = curve[low] + (values - low) * step[low]
    return out


def fit_curve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Monotone non-decreasing 256-level curve with ``y ~ curve(x)`` from every pixel (module doc)."""
    xi = np.clip(np.rint(x), 0, 255).astype(np.int64)
    yi = np.clip(np.rint(y), 0, 255).astype(np.int64)
    hist = np.bincount(xi * 256 + yi, minlength=65536).reshape(256, 256)
    counts = hist.sum(axis=1)
    present = np.flatnonzero(counts >= MIN_LEVEL)
    if len(present) < 2:
        return _LEVELS.copy()
    cumulative = np.cumsum(hist[present], axis=1)
    medians = np.argmax(cumulative >= (counts[present, None] / 2.0), axis=1).astype(np.float64)
    monotone = isotonic_regression(medians, weights=counts[present].astype(np.float64), increasing=True).x
    return np.interp(_LEVELS, present.astype(np.float64), monotone).astype(np.float32)


def colour_error(x: np.ndarray, y: np.ndarray) -> float:
    """Median over pixels of the absolute colour error summed over R, G, B."""
    return float(np.median(np.abs(x - y).sum(axis=1)))


def fit_tone(
    original: np.ndarray, suspect: np.ndarray, valid: np.ndarray, rng: np.random.Generator | None = None
) -> ToneModel:
    """Fit the tone model mapping ``original`` onto ``suspect`` (float32 RGB, aligned) over ``valid`` pixels."""
    rng = rng or np.random.default_rng(0)
    every = np.flatnonzero(valid.ravel())
    model = ToneModel.identity()
    if len(every) < 100:
        return model
    pick = every[rng.integers(0, len(every), SAMPLES)] if len(every) > SAMPLES else every
    x = original.reshape(-1, 3)[pick].astype(np.float32)
    y = suspect.reshape(-1, 3)[pick].astype(np.float32)
    before = colour_error(x, y)
    best, current, stages = before, x, []
    curves, offsets = fit_additive(x, y)
    candidate = _additive(x, curves, offsets)
    if colour_error(candidate, y) < best:
        model.curves, model.offsets = curves, offsets
        current, best = candidate, colour_error(candidate, y)
        stages.append("mixing")
    through = original.reshape(-1, 3)[every].astype(np.float32)
    if stages:
        through = _additive(through, model.curves, model.offsets)
    target = suspect.reshape(-1, 3)[every]
    curves_out = np.stack([fit_curve(through[:, c], target[:, c]) for c in range(3)])
    candidate = _apply_curves(current, curves_out)
    if colour_error(candidate, y) < best:
        model.curves_out, best = curves_out, colour_error(candidate, y)
        stages.append("curves-out")
    model.stages = tuple(stages)
    model.residual_before, model.residual_after = before, best
    return model
