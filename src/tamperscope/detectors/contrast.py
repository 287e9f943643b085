"""Contrast enhancement: peaks and gaps in the pixel-value histogram.

M. C. Stamm and K. J. R. Liu, "Forensic detection of image manipulation using
statistical intrinsic fingerprints", IEEE Transactions on Information
Forensics and Security 5(3):492-506, 2010.

Method
------
A pixel-value mapping applied to an 8-bit image (gamma, levels, curves,
histogram equalisation) sends several input values to one output value in
some places and none in others: the histogram gets impulsive peaks and gaps.
A camera's histogram, made before the final quantization to 8 bits, is
smooth. As in the paper, the histogram ``h(x)`` of a channel is multiplied by
the pinch-off function ``p(x)`` (a raised cosine over the ``n_p`` values at
each end, 1 elsewhere) so that saturation at 0 and 255 does not count,
``g = p h`` is Fourier-transformed, ``G(k)``, and the energy at high
frequencies ``c <= k <= 127`` (periods of 2 to 2.3 grey levels, where a
smooth histogram has none) is the fingerprint. ``n_p = 8`` and ``c = 112``
are our reading of the paper.

Our choices, beyond the paper
-----------------------------
*Null distribution instead of a learnt threshold.* Stamm and Liu compare the
mean ``|G(k)|`` with a threshold learnt on their data. A smooth histogram
still has counting noise: with ``h(x)`` Poisson, each high-frequency
``|G(k)|^2`` is about ``V * Exp(1)`` with ``V = sum p(x)^2 h(x)``. So
``T = sum_k |G(k)|^2 / V`` over the ``n = 128 - c`` ordinates is Gamma(n) under
the null, and its tail probability is the test. Channels R, G, B are tested
separately.

*Global and local.* The whole image is one test per channel; for composites
(one region enhanced, pasted) the same test runs in ``block x block``
windows (128 px, step 64) per channel. The number of false alarms is
``NFA = N_tests * P(Gamma(n) >= T)`` with ``N_tests`` = 3 x (1 + number of
windows), and ``NFA < epsilon`` (1) detects.

*Applicability.* A window whose channel histogram spans fewer than
``min_spread`` grey levels (robust standard deviation < 2) has a histogram
narrow enough for its smooth shape itself to reach the high frequencies; it
is not tested (confidence 0). Windows more than half clipped likewise.

Heatmap, score, confidence
--------------------------
A window's heat is ``1 / (1 + NFA / epsilon)`` (its best channel) times the
size term ``R^2 / (R^2 + min_ratio^2)`` of its energy ratio ``R = T / n``:
spatially correlated pixels make histogram counts overdispersed (a smooth
authentic window reached ``R`` = 3 on our test photo), so significance alone
is not enough. Cells of 64 px are the mean of the covering windows.

*No decision.* On authentic camera JPEGs the test fires often: the camera's
own 8-bit tone curve leaves the same peaks and gaps (44.7% of exif-camera,
80% of MICC-F220, 20% of CASIA v1 authentic images with a heat >= 0.5; see
docs/accuracy.md). Contrast enhancement is a processing trace, not by itself
a manipulation: the evidence has no score (``decides = False``); the largest
of the global and window heats is the fact ``peak_heat``.

Other facts: the global ``NFA`` and high-frequency energy ratio ``T / n`` per
channel, the share of detected windows, and the number of empty histogram
bins inside the occupied range (gaps).

Limits
------
Enhancement done before the last lossy compression is mostly blurred out of
the histogram by JPEG at quality below about 90. Images that were already
8-bit-mapped in the camera (in-camera tone curves applied after
quantization) carry the fingerprint too; so do images with very few colours
(graphics, screenshots). The test says "a value mapping was applied", not
who applied it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import gammaincc

from ._blocks import cells_from_windows, windows_view
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

_LEVELS = 256


def pinch_off(n_p: int) -> np.ndarray:
    """Stamm and Liu's weights: a raised cosine from 0 to 1 over ``n_p`` values at each end."""
    x = np.arange(_LEVELS, dtype=np.float64)
    weight = np.ones(_LEVELS)
    low = x <= n_p
    high = x >= _LEVELS - 1 - n_p
    weight[low] = 0.5 - 0.5 * np.cos(np.pi * x[low] / n_p)
    weight[high] = 0.5 - 0.5 * np.cos(np.pi * (_LEVELS - 1 - x[high]) / n_p)
    return weight


def high_frequency_statistic(hist: np.ndarray, weight: np.ndarray, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
    """``T / n`` and the null tail probability of ``T`` for histograms on the last axis."""
    g = hist * weight
    spectrum = np.fft.rfft(g, axis=-1)[..., cutoff:_LEVELS // 2]
    variance = np.maximum((hist * weight**2).sum(axis=-1), 1e-12)
    n = spectrum.shape[-1]
    t = (spectrum.real**2 + spectrum.imag**2).sum(axis=-1) / variance
    return t / n, gammaincc(n, t)


def _histograms(channel_windows: np.ndarray) -> np.ndarray:
    """256-bin histograms of each window of a ``(rows, cols, size, size)`` uint8 view."""
    rows, cols = channel_windows.shape[:2]
    out = np.empty((rows, cols, _LEVELS))
    for i in range(rows):
        flat = np.asarray(channel_windows[i]).reshape(cols, -1)
        offsets = (np.arange(cols) * _LEVELS)[:, None]
        out[i] = np.bincount((flat + offsets).ravel(), minlength=cols * _LEVELS).reshape(cols, _LEVELS)
    return out


def _robust_spread(hist: np.ndarray) -> np.ndarray:
    """Half the interquartile range of each histogram over 0.6745 (a robust standard deviation)."""
    cdf = np.cumsum(hist, axis=-1)
    total = cdf[..., -1:]
    q1 = (cdf < 0.25 * total).sum(axis=-1)
    q3 = (cdf < 0.75 * total).sum(axis=-1)
    return (q3 - q1) / (2 * 0.6745)


@register
@dataclass
class ContrastEnhancement(Detector):
    """Peaks and gaps of a pixel-value mapping in the histogram (Stamm & Liu 2010).

    Parameters
    ----------
    pinch : int
        ``n_p``: grey levels at each end weighted down by the pinch-off function.
    cutoff : int
        ``c``: first DFT ordinate of the high-frequency band (of 256).
    block : int
        Side of the local windows (even); the map's stride is half of it.
    epsilon : float
        Expected number of false detections per image under the null.
    min_spread : float
        Robust standard deviation (grey levels) below which a window is not tested.
    min_ratio : float
        High-frequency energy over the counting-noise level at which the size term is 1/2.
    """

    pinch: int = 8
    cutoff: int = 112
    block: int = 128
    epsilon: float = 1.0
    min_spread: float = 2.0
    min_ratio: float = 10.0

    name: ClassVar[str] = "contrast"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "M. C. Stamm, K. J. R. Liu, Forensic detection of image manipulation using statistical intrinsic "
        "fingerprints, IEEE TIFS 5(3), 2010"
    )
    summary: ClassVar[str] = "peaks and gaps in the pixel-value histogram left by a contrast or gamma mapping"
    title: ClassVar[str] = "Contrast enhancement"
    trace: ClassVar[str] = "has the comb-like histogram of a contrast or gamma adjustment"
    requires: ClassVar[frozenset[str]] = frozenset()
    decides: ClassVar[bool] = False

    def _heat(self, nfa: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """Significant (``NFA``) and large (energy ratio against ``min_ratio``): both must hold."""
        significance = 1.0 / (1.0 + np.asarray(nfa) / self.epsilon)
        size = np.asarray(ratio) ** 2 / (np.asarray(ratio) ** 2 + self.min_ratio**2)
        return significance * size

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        if min(h, w) < self.block:
            raise NotApplicable(f"{w}x{h} is too small for {self.block}x{self.block} histogram windows")
        weight = pinch_off(self.pinch)
        pixels = image.pixels
        step = self.block // 2
        whole = np.stack([np.bincount(pixels[..., c].ravel(), minlength=_LEVELS) for c in range(3)]).astype(float)
        if (_robust_spread(whole) < self.min_spread).all() or (whole * weight).sum() < 0.5 * whole.sum():
            raise NotApplicable("the histogram is too narrow or too clipped to show peaks and gaps")
        global_ratio, global_tail = high_frequency_statistic(whole, weight, self.cutoff)

        tails, ratios, testable = [], [], []
        for c in range(3):
            hist = _histograms(windows_view(pixels[..., c], self.block, step))
            ratio, tail = high_frequency_statistic(hist, weight, self.cutoff)
            ok = (_robust_spread(hist) >= self.min_spread) & ((hist * weight).sum(axis=-1) >= 0.5 * hist.sum(axis=-1))
            tails.append(np.where(ok, tail, 1.0))
            ratios.append(ratio)
            testable.append(ok)
        tails = np.stack(tails)
        n_tests = 3 * (1 + tails[0].size)
        window_nfa = n_tests * tails.min(axis=0)
        global_nfa = n_tests * global_tail
        window_ratio = np.stack(ratios).max(axis=0)
        window_heat = self._heat(window_nfa, window_ratio)
        global_heat = float(self._heat(global_nfa, global_ratio).max())
        heatmap = cells_from_windows(window_heat, (h, w), step)
        confidence = cells_from_windows(np.stack(testable).any(axis=0).astype(float), (h, w), step)

        gaps = [_inner_gaps(whole[c]) for c in range(3)]
        facts = {
            "global_nfa": [float(f"{v:.3g}") for v in global_nfa],
            "global_energy_ratio": [round(float(v), 3) for v in global_ratio],
            "histogram_gaps": gaps,
            "detected_window_share": round(float(np.mean(window_nfa < self.epsilon)), 4),
            "best_window_nfa": float(f"{window_nfa.min():.3g}"),
            "peak_heat": round(max(global_heat, float(window_heat.max())), 4),
        }
        channel = "RGB"[int(np.argmin(global_nfa))]
        notes = [
            f"Whole-image histogram: high-frequency energy {max(facts['global_energy_ratio']):.2f}x the "
            f"counting-noise level (channel {channel}, NFA {global_nfa.min():.2g}); "
            f"{sum(gaps)} empty values inside the occupied ranges (R, G, B: {gaps[0]}, {gaps[1]}, {gaps[2]}).",
            f"{100 * facts['detected_window_share']:.1f}% of the {self.block}x{self.block} windows show peaks and "
            f"gaps (best window NFA {facts['best_window_nfa']:.2g}).",
        ]
        return Finding(
            score=None,
            heatmap=heatmap.astype(np.float32),
            stride=step,
            confidence=confidence.astype(np.float32),
            notes=notes,
            facts=facts,
        )


def _inner_gaps(hist: np.ndarray) -> int:
    """Empty bins between the 0.1% and 99.9% points of the histogram."""
    cdf = np.cumsum(hist) / max(hist.sum(), 1)
    lo, hi = int(np.searchsorted(cdf, 0.001)), int(np.searchsorted(cdf, 0.999))
    return int((hist[lo : hi + 1] == 0).sum())
