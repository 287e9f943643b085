"""NADQ: non-aligned double-JPEG likelihood map with grid-shift estimation by EM.

T. Bianchi, A. Piva, "Image forgery localization via block-grained analysis of
JPEG artifacts", IEEE Transactions on Information Forensics and Security 7(3),
2012, 1003-1017 (the non-aligned, NA-DJPG, model).

When an image compressed once (grid origin shifted by ``(k1, k2)`` relative to
the final one, e.g. after a crop or a paste) is compressed again, the DCT of
the *decompressed* image on the first grid is close to multiples of the first
step ``Q`` plus the error of the second compression: a comb of Gaussians. On
any other grid it follows the smooth unquantized distribution. Per the paper
and the toolbox code (``getJmapNA_EM``):

1. Float luminance reconstruction from the file's coefficients; the DCT of the
   8x8 window at every pixel offset (the DC and the first ``frequencies``
   zig-zag terms).
2. For each of the 63 shifts ``(k1, k2) != (0, 0)``, the DC values on that
   grid; their unquantized distribution ``h0`` by calibration on a grid one
   pixel away (``k + 1`` for ``k < 4``, else ``k - 1``), Laplace-corrected.
3. The doubly-compressed model ``h1(Q)``: ``h0`` quantized with step ``Q``
   (mass summed over each step), put back on the multiples of ``Q``, blurred by
   a Gaussian of variance ``Q2^2 / 12 + var(E)`` (second quantization and the
   rounding/truncation error ``E``, with ``E``'s mean as bias).
4. EM for the mixture ``alpha h0 + (1 - alpha) h1(Q)`` over ``Q`` in
   ``[max(2, floor(Q2 / sqrt 3)), max(Q50, Q2)]`` (``Q50``: the standard table at
   quality 50), ``alpha`` starting at 0.95, until the log-likelihood gains less
   than 5 or after 20 rounds; the shift with the largest likelihood is the
   estimated grid of the first compression.
5. On that grid, for the DC and the next AC zig-zag frequencies (6 terms in
   all, the toolbox's ``c2``), the same fit gives ``Q`` and each block's
   log-likelihood ratio ``log h1(x) / h0(x)`` (positive: doubly compressed).
6. The ratios are summed over frequencies and over 3x3 blocks (``ones(3)``
   filter); the map is ``1 / (1 + exp(LLR))``, the probability that a block is
   *not* doubly compressed on that grid.

Implementation notes and departures:

* The EM runs on the histogram of the rounded values with counts (the model
  depends only on the rounded value), which gives the same estimates as the
  per-sample loop and makes the 63-shift search cheap.
* The paper assumes the NA-doubly-compressed part is the authentic majority.
  When the EM says most blocks are *not* doubly compressed (``alpha > 0.5`` on
  the DC term) the doubly-compressed minority is the region with the foreign
  history (a region cut from another JPEG and pasted off-grid, then the
  whole saved again), and the map is inverted, as the DQ detector does;
  ``facts['inverted']`` says which way it was read.
* The shift is chosen by the likelihood *gain* of the mixture over the
  calibrated model alone, not by the raw likelihood the toolbox compares:
  the raw likelihood also rewards shifts whose values are simply more
  concentrated.
* Blocks lie on the estimated first grid; the map is resampled onto the
  image's 8x8 cells (``stride`` 8) by averaging.

Measured limits (tests/test_nadq.py): the classic case (a JPEG cropped off its
grid, a region pasted, saved again) gives the right shift and primary steps
and marks the region; a *minority* region from a shifted lower-quality JPEG in
a host saved at quality 90 is not found (the shift search settles on a
spurious shift with the host's own small steps), and authentic single JPEGs
show 5-12% of blocks at >= 0.5 in the map (noise of the per-block ratios).

Like the paper, the method gives a map and no image-level decision:
``decides = False``, score None. Large images are analysed on their central
``max_megapixels`` crop for the shift search (the shift is global), then on
the whole image for the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy import ndimage

from .._jpeg import ZIGZAG, block_idct, rounding_error_dct
from ..image import Image
from . import register
from .base import Detector, Finding, NotApplicable

#: Quality-50 IJG luminance table (ITU-T T.81 Annex K), natural order: the toolbox's upper step bound.
Q50_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)
LIMIT = 2048  # histogram bins -2048..2047, as the toolbox
ALPHA0, MIN_GAIN, MAX_ROUNDS = 0.95, 5.0, 20


def window_coefficient(plane: np.ndarray, u: int, v: int) -> np.ndarray:
    """DCT coefficient (u, v) of the 8x8 window whose top-left is each pixel (valid part)."""
    n = np.arange(8)
    basis = np.cos((2 * n[None, :] + 1) * n[:, None] * np.pi / 16) * math.sqrt(2 / 8)
    basis[0] /= math.sqrt(2)
    out = cv2.sepFilter2D(plane.astype(np.float32), cv2.CV_32F, basis[v].astype(np.float32),
                          basis[u].astype(np.float32), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    return out[: plane.shape[0] - 7, : plane.shape[1] - 7]


def calibration_shift(k: int) -> int:
    return k + 1 if k < 4 else k - 1


def histogram(values: np.ndarray) -> np.ndarray:
    index = np.clip(np.round(values).astype(np.int64), -LIMIT, LIMIT - 1) + LIMIT
    return np.bincount(index.ravel(), minlength=2 * LIMIT).astype(float)


def doubly_quantized_model(calibration: np.ndarray, q: int, sigma: float, bias: float) -> np.ndarray:
    """``h1(Q)`` per bin: the calibrated histogram quantized by ``q``, dequantized, blurred."""
    if q % 2 == 0:  # a step of even width splits its edge bins between two steps
        box = np.concatenate([[0.5], np.ones(q - 1), [0.5]])
    else:
        box = np.ones(q)
    mass = np.convolve(calibration, box, mode="same")
    comb = np.zeros_like(calibration)
    multiples = np.arange(LIMIT % q, 2 * LIMIT, q)  # bins whose value is a multiple of q
    comb[multiples] = mass[multiples]
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-((offsets + bias) ** 2) / (2 * sigma**2))
    blurred = np.convolve(comb, kernel, mode="same")  # the earlier rounding error moves mass by -bias
    total = calibration.sum()
    blurred /= max(blurred.sum(), 1e-300)
    return (blurred * total + 1.0) / (total + blurred.size)  # Laplace correction, as the toolbox


@dataclass
class ShiftFit:
    q: int
    alpha: float
    log_likelihood: float  # gain over the calibrated model alone
    single: np.ndarray  # h0 per bin
    double: np.ndarray  # h1(q) per bin


def fit_period(counts: np.ndarray, calibration: np.ndarray, q_range: range, sigma: float,
               bias: float) -> ShiftFit:
    """EM of ``alpha h0 + (1 - alpha) h1(Q)`` on a histogram of counts, all ``Q`` updated each round."""
    single = (calibration + 1.0) / (calibration.sum() + calibration.size)
    occupied = counts > 0
    n, h0 = counts[occupied], single[occupied]
    models = [doubly_quantized_model(calibration, q, sigma, bias) for q in q_range]
    alphas = np.full(len(models), ALPHA0)
    previous = np.full(len(models), -np.inf)
    best = ShiftFit(q_range[0], ALPHA0, -np.inf, single, models[0])
    baseline = float(np.sum(n * np.log(h0)))
    for _ in range(MAX_ROUNDS):
        gain = np.inf
        for k, model in enumerate(models):
            h1 = model[occupied]
            mixed = alphas[k] * h0 + (1.0 - alphas[k]) * h1
            alphas[k] = float(np.sum(n * alphas[k] * h0 / mixed) / n.sum())
            likelihood = float(np.sum(n * np.log(alphas[k] * h0 + (1.0 - alphas[k]) * h1)))
            if likelihood > best.log_likelihood:
                best = ShiftFit(q_range[k], alphas[k], likelihood, single, model)
                gain = min(gain, likelihood - previous[k])
            previous[k] = likelihood
        if gain <= MIN_GAIN:
            break
    best.log_likelihood -= baseline  # the gain over "no earlier compression on this grid"
    return best


@register
@dataclass
class NADQ(Detector):
    """Non-aligned double-JPEG likelihood map (Bianchi & Piva 2012).

    Parameters
    ----------
    frequencies : int
        Zig-zag terms summed into the map, DC included (toolbox: 6).
    max_megapixels : float
        Size of the central crop used for the 63-shift search.
    """

    frequencies: int = 6
    max_megapixels: float = 2.0

    name: ClassVar[str] = "nadq"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "T. Bianchi, A. Piva, 'Image forgery localization via block-grained analysis of JPEG artifacts', "
        "IEEE Transactions on Information Forensics and Security 7(3), 2012"
    )
    summary: ClassVar[str] = "traces of an earlier JPEG compression on a shifted 8x8 grid, by EM per DCT frequency"
    title: ClassVar[str] = "Non-aligned double JPEG likelihood (NADQ)"
    trace: ClassVar[str] = "has a different history of JPEG compression on a shifted 8x8 grid from the rest"
    decides: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset({"jpeg"})

    def analyze(self, image: Image) -> Finding:
        jpeg = image.jpeg
        coefficients = jpeg.coefficients["Y"]
        rows, cols = coefficients.shape[:2]
        if rows < 6 or cols < 6:
            raise NotApplicable(f"{image.width}x{image.height} is too small for shifted-grid histograms (needs 48x48)")
        table = jpeg.quant_tables["Y"]
        plane = block_idct(coefficients, table)
        error = rounding_error_dct(jpeg)

        k1, k2, dc_fit = self._search_shift(plane, error, table)
        llr = np.zeros(((plane.shape[0] - 7 - k1 + 7) // 8, (plane.shape[1] - 7 - k2 + 7) // 8))
        steps: dict[str, int] = {}
        weights: dict[str, float] = {}
        for index, (u, v) in enumerate(ZIGZAG[: self.frequencies]):
            coefficient = window_coefficient(plane, u, v)
            on_grid = coefficient[k1::8, k2::8]
            calibration = histogram(coefficient[calibration_shift(k1)::8, calibration_shift(k2)::8])
            bias = float(error[:, :, u, v].mean()) if index <= 1 else 0.0
            sigma = math.sqrt(float(table[u, v]) ** 2 / 12 + float(np.var(error[:, :, u, v])))
            fit = fit_period(histogram(on_grid), calibration, _q_range(table, u, v), sigma, bias)
            steps[f"{u},{v}"], weights[f"{u},{v}"] = int(fit.q), round(float(fit.alpha), 3)
            bins = np.clip(np.round(on_grid).astype(np.int64), -LIMIT, LIMIT - 1) + LIMIT
            llr[: on_grid.shape[0], : on_grid.shape[1]] += np.log(fit.double[bins]) - np.log(fit.single[bins])

        llr = ndimage.correlate(llr, np.ones((3, 3)), mode="reflect")
        not_double = 1.0 / (1.0 + np.exp(np.clip(llr, -50, 50)))
        inverted = bool(dc_fit.alpha > 0.5)
        block_map = 1.0 - not_double if inverted else not_double
        heatmap = _onto_image_cells(block_map, k1, k2, image.height, image.width)
        facts = {
            "first_grid_shift": [k1, k2],
            "primary_steps": steps,
            "mixture_weights": weights,
            "shift_log_likelihood_gain": round(float(dc_fit.log_likelihood), 1),
            "inverted": inverted,
            "flagged_block_share": round(float((heatmap >= 0.5).mean()), 4),
        }
        notes = [
            f"Most likely grid of an earlier compression: shifted by {k1} rows and {k2} columns "
            f"(DC step {dc_fit.q}, share not doubly compressed {dc_fit.alpha:.0%}).",
            ("Most blocks lack that earlier grid; blocks that carry it are mapped as the anomaly." if inverted
             else "Blocks that lack the earlier shifted grid are mapped as the anomaly."),
        ]
        return Finding(score=None, heatmap=heatmap, stride=8, notes=notes, facts=facts)

    def _search_shift(self, plane: np.ndarray, error: np.ndarray, table: np.ndarray) -> tuple[int, int, ShiftFit]:
        crop = _central_crop(plane, self.max_megapixels)
        dc = window_coefficient(crop, 0, 0)
        sigma = math.sqrt(float(table[0, 0]) ** 2 / 12 + float(np.var(error[:, :, 0, 0])))
        bias = float(error[:, :, 0, 0].mean())
        q_range = _q_range(table, 0, 0)
        best: tuple[int, int, ShiftFit] | None = None
        for k1 in range(8):
            for k2 in range(8):
                if k1 == 0 and k2 == 0:
                    continue  # the aligned grid is the current compression's own
                calibration = histogram(dc[calibration_shift(k1)::8, calibration_shift(k2)::8])
                fit = fit_period(histogram(dc[k1::8, k2::8]), calibration, q_range, sigma, bias)
                if best is None or fit.log_likelihood > best[2].log_likelihood:
                    best = (k1, k2, fit)
        return best


def _q_range(table: np.ndarray, u: int, v: int) -> range:
    q2 = int(table[u, v])
    low = max(2, int(math.floor(q2 / math.sqrt(3))))
    return range(low, max(int(Q50_LUMA[u, v]), q2) + 1)


def _central_crop(plane: np.ndarray, megapixels: float) -> np.ndarray:
    height, width = plane.shape
    scale = min(1.0, math.sqrt(megapixels * 1e6 / (height * width)))
    h, w = max(64, int(height * scale) // 8 * 8), max(64, int(width * scale) // 8 * 8)
    top, left = (height - min(h, height)) // 16 * 8, (width - min(w, width)) // 16 * 8
    return plane[top : top + h, left : left + w]


def _onto_image_cells(block_map: np.ndarray, k1: int, k2: int, height: int, width: int) -> np.ndarray:
    """Average a map of blocks starting at (k1 + 8i, k2 + 8j) onto the image's 8x8 cells."""
    pixels = np.full((height, width), np.nan, dtype=np.float32)
    full = np.repeat(np.repeat(block_map, 8, axis=0), 8, axis=1)
    h, w = min(full.shape[0], height - k1), min(full.shape[1], width - k2)
    pixels[k1 : k1 + h, k2 : k2 + w] = full[:h, :w]
    rows, cols = -(-height // 8), -(-width // 8)
    padded = np.full((rows * 8, cols * 8), np.nan, dtype=np.float32)
    padded[:height, :width] = pixels
    with np.errstate(invalid="ignore"):
        cells = np.nanmean(padded.reshape(rows, 8, cols, 8), axis=(1, 3)) if np.isfinite(padded).any() else None
    return np.nan_to_num(cells, nan=0.0)
