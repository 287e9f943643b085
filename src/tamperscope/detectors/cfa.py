"""Colour filter array (demosaicing) artifacts, CFA1.

P. Ferrara, T. Bianchi, A. De Rosa and A. Piva, "Image forgery localization
via fine-grained analysis of CFA artifacts", IEEE Transactions on Information
Forensics and Security 7(5):1566-1577, 2012.

Method
------
A camera with a Bayer sensor measures one colour per pixel and interpolates
the other two (demosaicing). In the green channel half the pixels (a
quincunx lattice) are *acquired* and half are *interpolated* from their
neighbours, so a linear predictor of a pixel from its four neighbours makes a
much smaller error at interpolated positions than at acquired ones. A region
pasted from another picture, resampled, or demosaiced with another Bayer
phase breaks that pattern. As in the paper:

1. Prediction error of the green channel with the bilinear kernel,
   ``e = g - K * g``, ``K = [[0, 1/4, 0], [1/4, 0, 1/4], [0, 1/4, 0]]``.
2. Local weighted variance of ``e`` at each pixel, computed only over the
   pixels of the same lattice (acquired or interpolated) in a 7x7 window with
   Gaussian weights (standard deviation 1), normalised over that lattice.
3. Per ``block x block`` block, the feature ``L = log(GM(var, acquired) /
   GM(var, interpolated))`` (GM: geometric mean), i.e. the mean log-variance
   difference between the two lattices.
4. ``L`` is modelled as a two-component mixture, fitted by EM: blocks without
   CFA artifacts follow a zero-mean Gaussian ``N(0, s1^2)``, blocks with them a
   Gaussian ``N(mu2, s2^2)`` with ``mu2 > 0``.
5. The per-block log-likelihood ratio ``log p(L | CFA) - log p(L | no CFA)``
   is summed over ``window x window`` blocks (the paper's ``Nm``; 5), and the
   map is the probability of tampering ``1 / (1 + exp(LLR))``.

Our choices, beyond the paper
-----------------------------
*Lattice.* Which quincunx holds the acquired greens is unknown. Both are
tried; the acquired one is the lattice with the larger prediction-error
variance in most blocks (the sign of the median ``L``).

*Applicability.* Without a demosaicing trace the mixture has nothing to fit,
and the map would mark the whole image. The trace strength is the median of
``L`` over textured blocks divided by its robust spread (1.4826 MAD); below
``min_strength`` (1.0: about 84% of the textured blocks favour the acquired
lattice) the method answers "not applicable", naming JPEG compression,
resizing or denoising as the usual causes. Flat blocks (acquired-lattice
variance below 4x that of 8-bit rounding, 1/12) carry no trace and get low
confidence.

*Decision.* The paper localizes; it gives no image-level test with a known
false-alarm rate, and our authentic sets are JPEG files where the trace is
gone, so the false-alarm rate of any threshold cannot be measured here. The
detector therefore gives a map (``decides = False``, score ``None``), like
ELA; ``flagged_share`` reports the area with probability >= 0.5.

Limits
------
JPEG compression (even at quality 90), resizing and denoising remove the
trace; non-Bayer sensors and multi-frame smartphone pipelines do not fit the
model; flat and saturated areas carry no trace and look "tampered" to the
mixture, which the confidence map shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

_BILINEAR = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], dtype=np.float32)
#: Variance of 8-bit rounding error: what an exactly interpolated pixel still shows.
_ROUNDING_VAR = 1.0 / 12.0


def prediction_error(green: np.ndarray) -> np.ndarray:
    """``g - K * g`` with the bilinear kernel of the paper, float32."""
    g = green.astype(np.float32)
    return g - cv2.filter2D(g, cv2.CV_32F, _BILINEAR, borderType=cv2.BORDER_REFLECT_101)


def quincunx(shape: tuple[int, int]) -> np.ndarray:
    """True where ``(row + col)`` is even: one of the two green lattices."""
    rows, cols = np.indices(shape, sparse=True)
    return (rows + cols) % 2 == 0


def lattice_variance(error: np.ndarray, lattice: np.ndarray, sigma: float = 1.0, size: int = 7) -> np.ndarray:
    """Local weighted variance of ``error`` over the pixels of ``lattice`` only.

    The Gaussian weights are renormalised over the lattice pixels inside the
    window, so each pixel of ``lattice`` gets the variance of its own class.
    Values off the lattice are meaningless.
    """
    g = cv2.getGaussianKernel(size, sigma).astype(np.float32)
    mask = lattice.astype(np.float32)

    def smooth(x: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(x, cv2.CV_32F, g, g, borderType=cv2.BORDER_REFLECT_101)

    norm = smooth(mask)
    masked = error * mask
    mean = smooth(masked) / norm
    second = smooth(masked * error) / norm
    return np.maximum(second - mean * mean, 0.0)


def block_features(green: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: ``L`` with the even quincunx taken as acquired, and the mean
    log-variance of each lattice (even, odd). Only whole blocks are used."""
    h, w = green.shape
    ny, nx = h // block, w // block
    green = green[: ny * block, : nx * block]
    error = prediction_error(green)
    even = quincunx(green.shape)
    # Rounding leaves every pixel some variance; the floor keeps log finite on flat areas.
    var_even = lattice_variance(error, even)
    var_odd = lattice_variance(error, ~even)
    log_var = np.log(np.where(even, var_even, var_odd) + _ROUNDING_VAR * 0.1)

    def block_mean(x: np.ndarray, lattice: np.ndarray) -> np.ndarray:
        x = np.where(lattice, x, 0.0).reshape(ny, block, nx, block).sum(axis=(1, 3))
        n = lattice.reshape(ny, block, nx, block).sum(axis=(1, 3))
        return x / n

    mean_even = block_mean(log_var, even)
    mean_odd = block_mean(log_var, ~even)
    return mean_even - mean_odd, mean_even, mean_odd


def _gauss_logpdf(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def fit_mixture(values: np.ndarray, iterations: int = 300, tol: float = 1e-7) -> dict[str, float]:
    """EM for ``L``: CFA ``N(mu2, s2)``, no CFA ``N(0, s1)``, misaligned CFA ``N(mu3, s3)``.

    The paper's mixture has the first two components (``mu2 >= 0``). A region
    demosaiced with another Bayer phase has its acquired greens on the other
    lattice, so its ``L`` is negative (``mu3 <= 0``): without the third
    component the zero-mean Gaussian would have to stretch to cover it and
    would then claim the host's own low-``L`` blocks too.

    Returns the means, standard deviations and the weights ``pi_cfa``,
    ``pi_none``, ``pi_mirror``.
    """
    x = values.ravel().astype(np.float64)
    spread = max(float(np.std(x)), 1e-3)
    mu = np.array([max(float(np.median(x)), 1e-3), 0.0, -max(float(np.median(x)), 1e-3)])
    sd = np.full(3, spread)
    pis = np.array([0.6, 0.3, 0.1])
    floor = 1e-3 * spread
    previous = -np.inf
    for _ in range(iterations):
        logs = np.log(pis)[:, None] + _gauss_logpdf(x[None, :], mu[:, None], sd[:, None])
        total = np.logaddexp.reduce(logs, axis=0)
        r = np.exp(logs - total)
        likelihood = float(total.mean())
        n = r.sum(axis=1)
        pis = np.clip(n / x.size, 1e-6, 1.0)
        pis /= pis.sum()
        safe = np.maximum(n, 1e-12)
        mu = (r @ x) / safe
        mu[0], mu[1], mu[2] = max(mu[0], 0.0), 0.0, min(mu[2], 0.0)
        sd = np.maximum(np.sqrt((r * (x[None, :] - mu[:, None]) ** 2).sum(axis=1) / safe), floor)
        if abs(likelihood - previous) < tol:
            break
        previous = likelihood
    return {"mu2": float(mu[0]), "s2": float(sd[0]), "s1": float(sd[1]), "mu3": float(mu[2]), "s3": float(sd[2]),
            "pi_cfa": float(pis[0]), "pi_none": float(pis[1]), "pi_mirror": float(pis[2])}


def log_likelihood_ratio(feature: np.ndarray, model: dict[str, float]) -> np.ndarray:
    """``log p(L | CFA) - log p(L | no or misaligned CFA)`` per block.

    ``L`` above the CFA mean counts as the CFA mean: a block whose trace is
    stronger than the image's typical one is no evidence of tampering, while
    the light Gaussian tail would otherwise hand it to the wider components.
    """
    feature = np.minimum(feature, model["mu2"])
    cfa = _gauss_logpdf(feature, model["mu2"], model["s2"])
    share = model["pi_mirror"] / (model["pi_mirror"] + model["pi_none"])
    none = np.logaddexp(
        np.log1p(-share) + _gauss_logpdf(feature, 0.0, model["s1"]),
        np.log(share) + _gauss_logpdf(feature, model["mu3"], model["s3"]),
    )
    return cfa - none


def _box_sum(x: np.ndarray, size: int) -> np.ndarray:
    return cv2.boxFilter(x.astype(np.float32), cv2.CV_32F, (size, size), normalize=False,
                         borderType=cv2.BORDER_REFLECT_101)


@register
@dataclass
class CfaArtifacts(Detector):
    """Demosaicing-trace inconsistency of the green channel (Ferrara et al. 2012).

    Parameters
    ----------
    block : int
        Side of the blocks on which ``L`` is computed (even, >= 2).
    window : int
        Side, in blocks, of the window summing the log-likelihood ratios (odd).
    min_strength : float
        Smallest trace strength (median ``L`` / robust spread) for the method to apply.
    """

    block: int = 8
    window: int = 5
    min_strength: float = 1.0

    name: ClassVar[str] = "cfa"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "P. Ferrara, T. Bianchi, A. De Rosa and A. Piva, 'Image forgery localization via fine-grained "
        "analysis of CFA artifacts', IEEE TIFS 7(5):1566-1577, 2012"
    )
    summary: ClassVar[str] = "blocks whose green channel lacks the camera's demosaicing (Bayer) pattern"
    title: ClassVar[str] = "Demosaicing (CFA) pattern"
    trace: ClassVar[str] = "lacks the demosaicing pattern of the camera sensor found in the rest of the image"
    decides: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset({"color"})

    def analyze(self, image: Image) -> Finding:
        if self.block < 2 or self.block % 2:
            raise ValueError(f"block must be an even number >= 2, not {self.block}")
        h, w = image.shape
        side = self.block * max(self.window, 4)
        if min(h, w) < side:
            raise NotApplicable(f"the image ({w}x{h}) is too small: the CFA map needs at least {side}x{side} pixels")
        pixels = image.pixels
        if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
            raise NotApplicable("the image is greyscale: a Bayer demosaicing trace lives in colour images")

        feature, log_even, log_odd = block_features(pixels[..., 1], self.block)
        acquired_log = np.maximum(log_even, log_odd)
        textured = acquired_log > np.log(4 * _ROUNDING_VAR)
        if textured.sum() < max(16, 0.02 * feature.size):
            raise NotApplicable("the image is almost flat: no block has enough texture or noise to show a CFA trace")

        values = feature[textured]
        lattice = "even" if np.median(values) >= 0 else "odd"
        if lattice == "odd":
            feature, values = -feature, -values
        median = float(np.median(values))
        spread = max(1.4826 * float(np.median(np.abs(values - median))), 1e-3)
        strength = median / spread
        if strength < self.min_strength:
            raise NotApplicable(self._no_trace_reason(image, strength))

        model = fit_mixture(values)
        llr = log_likelihood_ratio(feature, model)
        llr_sum = _box_sum(llr, self.window)
        heatmap = 1.0 / (1.0 + np.exp(np.clip(llr_sum, -60, 60)))
        heatmap = _pad_to_cells(heatmap, (h, w), self.block).astype(np.float32)
        # Confidence: 0.5 where the acquired lattice varies 4x as much as rounding alone, near 1 above.
        acquired_var = np.exp(acquired_log)
        confidence = _pad_to_cells(acquired_var / (acquired_var + 4 * _ROUNDING_VAR), (h, w), self.block)

        flagged = float(np.mean(heatmap >= 0.5))
        facts = {
            "cfa_strength": round(strength, 2),
            "acquired_lattice": lattice,
            "mu_cfa": round(model["mu2"], 3),
            "sd_cfa": round(model["s2"], 3),
            "sd_no_cfa": round(model["s1"], 3),
            "cfa_weight": round(model["pi_cfa"], 3),
            "misaligned_weight": round(model["pi_mirror"], 3),
            "flagged_share": round(flagged, 4),
            "block": self.block,
        }
        notes = [
            f"Demosaicing trace found: green prediction error is larger on the {lattice} quincunx "
            f"(median log-variance ratio {median:.2f}, strength {strength:.1f})."
        ]
        if flagged > 0:
            notes.append(f"{flagged:.1%} of the image lacks the trace (probability >= 0.5); "
                         "flat or saturated areas also lack it, see the confidence map.")
        else:
            notes.append("Every textured area carries the trace.")
        return Finding(score=None, heatmap=heatmap, stride=self.block, confidence=confidence.astype(np.float32),
                       notes=notes, facts=facts)

    @staticmethod
    def _no_trace_reason(image: Image, strength: float) -> str:
        reason = f"no demosaicing (CFA) trace to analyse (strength {strength:.2f})"
        if image.jpeg is not None:
            quality = image.jpeg.quality
            at = f" at quality {quality:.0f}" if quality is not None else ""
            return reason + f": the image is JPEG-compressed{at}, which erases the trace"
        return reason + ": the image was resized, denoised, compressed before, or not demosaiced from a Bayer sensor"


def _pad_to_cells(blocks: np.ndarray, shape: tuple[int, int], block: int) -> np.ndarray:
    """Extend a per-block map to ``ceil(shape / block)`` cells, repeating the last row/column
    for the partial blocks at the border."""
    ny, nx = -(-shape[0] // block), -(-shape[1] // block)
    return np.pad(blocks, ((0, ny - blocks.shape[0]), (0, nx - blocks.shape[1])), mode="edge")
