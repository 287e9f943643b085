"""ADQ2: aligned double-JPEG likelihood map with per-frequency primary step estimation.

T. Bianchi, A. De Rosa, A. Piva, "Improved DCT coefficient analysis for forgery
localization in JPEG images", Proc. IEEE ICASSP 2011, 2444-2447.

A region that was JPEG compressed twice on the same grid (step ``Q1`` then
``Q2`` for a DCT frequency) has quantized coefficients whose histogram is the
single-compression histogram modulated by a periodic function

    n(x) = Q1 / Q2 * (floor(Q2 / Q1 (x + 1/2)) - ceil(Q2 / Q1 (x - 1/2)) + 1),

the number of multiples of ``Q1`` that fall in bin ``x`` (in units of ``Q2``),
normalised to mean 1; the rounding and truncation error of the decompression
between both compressions blurs it (Gaussian of the error's standard deviation
over ``Q2``). The model of the paper, per frequency:

1. The observed histogram ``h`` of the quantized coefficient (read from the file).
2. The single-compression histogram ``p`` by calibration: the DCT of the float
   decompressed luminance cropped by one pixel (which breaks the first
   compression's grid), binned in steps of ``Q2`` and scaled to ``h``'s count.
3. The rounding/truncation error: variance of the DCT of the luminance of
   (float decompression - its rounded, clipped version), over all frequencies;
   its mean is a bias of the DC term only.
4. For each candidate ``Q1`` in ``1..Q1up`` (20 for the DC and first 9 AC
   frequencies, 30 for the next five, as the reference code), the mixture
   ``alpha n p + (1 - alpha) p`` is fitted to ``h`` by least squares over all
   bins but zero (closed-form ``alpha``, at most 1); ``Q1`` dividing ``Q2``
   leaves no trace and stands for "no double compression". The ``Q1`` of
   smallest squared error with ``alpha > 0.25`` is kept.
5. If the kept ``Q1`` does not divide ``Q2``, each block's coefficient ``x``
   contributes the likelihood ratio ``m / n_alpha(x)`` (``n_alpha = alpha n + 1 -
   alpha``, ``m`` its mean over bins) of "tampered" (singly compressed) over
   "doubly compressed"; the zero bin is uninformative.
6. The per-frequency ratios are multiplied over the first 15 zig-zag
   frequencies (DC included) into the posterior probability of tampering per
   8x8 block, median filtered 5x5. Blocks whose 3x3 neighbourhood has no
   non-zero coefficient in the used frequencies stay at the 0.5 prior; they
   are set to 0 in the map (no evidence), as DQ leaves unreliable blocks out.

Departures, each for a stated reason:

* The calibrated histogram is scaled to the observed count (the reference uses
  raw counts of a grid one block smaller in each direction, a bias of a few
  percent in the fit).
* The reference code uses a frequency whenever some ``Q1`` not dividing ``Q2``
  fits best, however slightly. On singly compressed photos that happens in
  the high frequencies with small ``Q2`` and maps the whole image as tampered
  (the test photo at quality 90: 3 of 15 frequencies, 49% of the blocks). A
  frequency is used only when the mixture lowers the Pearson chi-square of
  the histogram (Poisson variances, zero bin excluded) by at least
  ``min_chi2_gain`` = 200 against "no double compression". Measured gains:
  at most 112 on singly compressed versions of the test photo (quality 75,
  90, 95), 2,000-17,000 on doubly compressed ones (70 then 90, 60 then 80),
  50-750 for 80 then 70 (a lower second quality, the known weak case). On
  authentic photos the map still flags 5-6% of blocks on average (camera
  JPEGs, MICC-F220), mostly from a few files where one high frequency passes
  and then marks most of the image (docs/accuracy.md).
* A bin where the periodic model has no mass (``n_alpha = 0`` when ``alpha =
  1``) would make one coefficient decide its block alone; the ratio is capped
  at 1000 (``n_alpha`` floored at 1e-3).

What it can and cannot say: the model assumes the doubly-compressed part is
the authentic majority (``alpha > 0.25``) and marks blocks without the
periodic trace. A minority region from a lower-quality JPEG pasted into a
singly compressed host is not modelled (use DQ). Like the paper, the method
gives a localization map and no image-level decision: ``decides = False``,
score None. ``facts`` give the estimated primary steps and mixture weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import ndimage

from ._jpeg import ZIGZAG, block_dct, shared_luma_plane, shared_rounding_error_dct
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

#: Largest primary step tried per zig-zag index 0..14 (reference code ``Q1up``).
Q1_UPPER = (20,) * 10 + (30,) * 5
#: Mixture weight a primary step must explain to be accepted (reference code).
MIN_ALPHA = 0.25


def periodic_factor(q1: int, q2: int, bins: np.ndarray, bias: float = 0.0) -> np.ndarray:
    """``n(x)``: multiples of ``q1`` per bin of width ``q2`` centred on ``x q2``, times ``q1 / q2``."""
    shifted = bins + bias / q2
    upper = _floor_open((q2 / q1) * (shifted + 0.5))
    lower = _ceil_open((q2 / q1) * (shifted - 0.5))
    return (q1 / q2) * (upper - lower + 1)


def _floor_open(x: np.ndarray) -> np.ndarray:
    # A multiple exactly on a bin edge belongs to one of two bins: count it half in each.
    out = np.floor(x)
    edge = np.abs(x - out) < 1e-12
    out[edge] = x[edge] - 0.5
    return out


def _ceil_open(x: np.ndarray) -> np.ndarray:
    out = np.ceil(x)
    edge = np.abs(x - out) < 1e-12
    out[edge] = x[edge] + 0.5
    return out


def gaussian_blur(values: np.ndarray, sigma_bins: float) -> np.ndarray:
    if sigma_bins <= 1e-3:
        return values
    return ndimage.gaussian_filter1d(values, sigma_bins, mode="constant", truncate=6.0)


@dataclass
class PrimaryEstimate:
    """The fitted primary step of one frequency and its per-value tampering log-odds."""

    q1: int
    q2: int
    alpha: float
    error: float
    chi2_gain: float  # Pearson chi-square of "no double compression" minus that of the fitted mixture
    log_odds: np.ndarray | None  # per bin, None when q1 divides q2 (no trace)


def fit_frequency(observed: np.ndarray, unquantized: np.ndarray, q2: int, q1_upper: int,
                  sigma: float, bias: float, limit: int, min_chi2_gain: float = 0.0) -> PrimaryEstimate:
    """Fit the mixture of step 4 and return the tampering log-odds per bin (step 5)."""
    bins = np.arange(-limit, limit + 1)
    observed_hist = np.bincount(np.clip(observed.ravel(), -limit, limit) + limit, minlength=bins.size).astype(float)
    calibrated = np.floor(unquantized / q2 + 0.5).astype(np.int64)
    single = np.bincount(np.clip(calibrated, -limit, limit) + limit, minlength=bins.size).astype(float)
    single *= observed_hist.sum() / max(single.sum(), 1.0)
    informative = bins != 0
    informative[[0, -1]] = False  # the clipped tails pool everything beyond the range
    sigma_bins = sigma / q2
    best = PrimaryEstimate(1, q2, 1.0, math.inf, 0.0, None)
    variance = np.maximum(single, 1.0)[informative]  # Poisson counts
    chi2_single = float(np.sum((single - observed_hist)[informative] ** 2 / variance))
    for q1 in range(1, q1_upper + 1):
        residual = (single - observed_hist)[informative]
        if q2 % q1 == 0:
            alpha, error = 1.0, float(residual @ residual)
        else:
            n = gaussian_blur(periodic_factor(q1, q2, bins, bias), sigma_bins)
            shape = (n * single - single)[informative]
            denominator = float(shape @ shape)
            alpha = min(1.0, -float(shape @ residual) / denominator) if denominator > 0 else 0.0
            error = float(np.sum((alpha * shape + residual) ** 2))
        if error < best.error and alpha > MIN_ALPHA:
            best = PrimaryEstimate(q1, q2, alpha, error, 0.0, None)
            if q2 % q1 != 0:
                best.chi2_gain = chi2_single - float(np.sum((alpha * shape + residual) ** 2 / variance))
    if q2 % best.q1 != 0 and best.chi2_gain >= min_chi2_gain:
        n = gaussian_blur(periodic_factor(best.q1, q2, bins, bias), sigma_bins)
        mixed = np.maximum(best.alpha * n + 1.0 - best.alpha, 1e-3)
        best.log_odds = np.log(mixed.mean()) - np.log(mixed)
        best.log_odds[limit] = 0.0
    return best


@register
@dataclass
class ADQ2(Detector):
    """Aligned double-JPEG posterior map (Bianchi, De Rosa, Piva 2011).

    Parameters
    ----------
    frequencies : int
        Zig-zag frequencies used, DC included (reference code: 15).
    median : int
        Side of the median filter on the posterior map, in blocks (reference: 5).
    min_chi2_gain : float
        Pearson chi-square improvement the fitted mixture must bring over "no
        double compression" for a frequency to be used (see the departures).
    """

    frequencies: int = 15
    median: int = 5
    min_chi2_gain: float = 200.0

    name: ClassVar[str] = "adq2"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "T. Bianchi, A. De Rosa, A. Piva, 'Improved DCT coefficient analysis for forgery localization in JPEG "
        "images', IEEE ICASSP 2011"
    )
    summary: ClassVar[str] = "posterior of missing aligned double-quantization traces, primary step per frequency"
    title: ClassVar[str] = "Aligned double JPEG likelihood (ADQ2)"
    trace: ClassVar[str] = "lacks the traces of the earlier JPEG compression that the rest of the image carries"
    decides: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset({"jpeg"})

    def analyze(self, image: Image) -> Finding:
        jpeg = image.jpeg
        coefficients = jpeg.coefficients["Y"]
        rows, cols = coefficients.shape[:2]
        if rows < 4 or cols < 4:
            raise NotApplicable(f"{image.width}x{image.height} is too small for DCT histograms (needs 32x32)")
        table = jpeg.quant_tables["Y"]
        error_dct = shared_rounding_error_dct(image)
        sigma = float(np.sqrt(np.var(error_dct)))
        calibrated = block_dct(shared_luma_plane(image)[1:, 1:])
        limit = int(min(2047, max(16, np.abs(coefficients).max())))

        log_odds = np.zeros((rows, cols))
        steps: dict[str, int] = {}
        weights: dict[str, float] = {}
        used: list[tuple[int, int]] = []
        for index, (u, v) in enumerate(ZIGZAG[: self.frequencies]):
            q2 = int(table[u, v])
            values = coefficients[:, :, u, v].astype(np.int64)
            bias = float(error_dct[:, :, u, v].mean()) if index == 0 else 0.0
            fit = fit_frequency(values, calibrated[:, :, u, v].ravel(), q2, Q1_UPPER[min(index, 14)],
                                sigma, bias, limit, self.min_chi2_gain)
            if fit.log_odds is None:
                continue
            steps[f"{u},{v}"] = fit.q1
            weights[f"{u},{v}"] = round(fit.alpha, 3)
            used.append((u, v))
            log_odds += fit.log_odds[np.clip(values, -limit, limit) + limit]

        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -50, 50)))
        heatmap = ndimage.median_filter(posterior, size=self.median, mode="nearest")
        if used:
            informative = np.mean([coefficients[:, :, u, v] != 0 for u, v in used], axis=0)
        else:
            informative = np.zeros((rows, cols))
        confidence = ndimage.uniform_filter(informative, size=3, mode="nearest")
        # A block with no non-zero coefficient around it carries no evidence: its posterior stays at the
        # 0.5 prior, which the map convention would read as "manipulated".
        heatmap = np.where(confidence > 0, heatmap, 0.0)
        facts = {
            "primary_steps": steps,
            "mixture_weights": weights,
            "double_quantized_frequencies": len(used),
            "rounding_error_sigma": round(sigma, 3),
            "tampered_block_share": round(float((heatmap > 0.5).mean()), 4) if used else 0.0,
        }
        if not used:
            notes = [f"No primary quantization step found in the first {self.frequencies} frequencies: no trace "
                     "of an earlier aligned compression to compare regions against."]
            heatmap = np.zeros((rows, cols))
        else:
            listed = ", ".join(f"({k}): {q}" for k, q in list(steps.items())[:5])
            notes = [
                f"An earlier aligned compression explains {len(used)} of {self.frequencies} DCT frequencies "
                f"(estimated primary steps {listed}).",
                "Blocks whose coefficients lack that compression's periodic trace are mapped as tampered.",
            ]
        return Finding(score=None, heatmap=heatmap, stride=8, confidence=confidence, notes=notes, facts=facts)
