"""Spectral traces of up-sampling in generated images (Durall 2020; Frank 2020).

R. Durall, M. Keuper, J. Keuper, "Watch your Up-Convolution: CNN Based
Generative Deep Neural Networks are Failing to Reproduce Spectral
Distributions", CVPR 2020.
J. Frank, T. Eisenhofer, L. Schoenherr, A. Fischer, D. Kolossa, T. Holz,
"Leveraging Frequency Analysis for Deep Fake Image Recognition", ICML 2020.

Method
------
Both papers observe that the up-sampling layers of generators leave the
spectrum of their images unlike a camera's: Frank et al. find a grid of peaks
(a periodic pattern of period 2, 4 or 8 pixels repeats the spectrum at
multiples of 1/8 cycle per pixel); Durall et al. find that the azimuthally
averaged power spectrum does not fall off at high frequencies as a photo's
does. Both papers then train classifiers on generated images; we train none
and measure each trace against what authentic photos show.

*Spectrum.* The luma is whitened by a 3x3 Laplacian (so that the photo's 1/f
fall-off does not dominate), cut into ``64 x 64`` tiles, each multiplied by a
Hann window, and the power spectra of the tiles averaged (Welch).

*Grid peaks (Frank).* For each frequency ``(u, v)`` with ``u, v`` multiples of
1/8 (except 0, 0), the peak is ``log`` of its power over the median power of
its 5x5 neighbourhood of bins (the other grid frequencies left out). The
statistic is the largest peak. A JPEG file's 8x8 block grid puts peaks at the
very same frequencies, so on JPEG files this statistic is not used.

*High-frequency excess (Durall).* The radial profile is the mean log power of
the whitened spectrum over rings of frequency ``f``; a line is fitted to it over
``0.1 <= f < 0.3`` cycles per pixel and the excess is the mean residual over
``0.35 <= f <= 0.5``: camera images lose power at the highest frequencies
(lens, demosaicking, JPEG), images up-sampled by a network keep or gain it.

*Score.* Each statistic is mapped by a logistic with 0.5 at its 99th
percentile on authentic photos held out for calibration (``benchmarks/
ai_signal_eval.py --calibrate``); ``facts["ai_score"]`` is the larger of the
two (only the excess on JPEG files). The heatmap is the grid-peak statistic per
``256 x 256`` window when the image has several.

*Not deciding.* At matched size and format (central 256x256 crops of generated
and real images re-saved alike) this statistic separated generated images from
real photos no better than chance, and real portraits scored *higher* than
StyleGAN2 faces (docs/benchmarks.md, "AI-image signal detectors"). So the
detector gives its map and ``facts["ai_score"]`` for a reader and for the
verdict-class layer, and no score (``decides = False``).

Limits
------
Resizing and JPEG at ordinary qualities remove the high-frequency traces;
diffusion models leave much weaker peaks than the GANs of 2020 (the papers'
own cross-generator accuracies are 68 % and 79 % with trained classifiers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ..image import Image
from .registry import register
from ._crop import central_crop, crop_origin, logistic
from .base import Detector, Finding, NotApplicable

#: Calibration on authentic photos (``benchmarks/ai_signal_eval.py --calibrate``): 99th percentile and
#: median absolute deviation of each statistic.
PEAK_THRESHOLD, PEAK_SCALE = 1.6755, 0.3351
EXCESS_THRESHOLD, EXCESS_SCALE = -0.3533, 0.3766

_TILE = 64
_LAPLACIAN = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.float32)


def welch_spectrum(luma: np.ndarray, tile: int = _TILE) -> np.ndarray:
    """Mean power spectrum (``tile x tile``, DC at [0, 0]) of the whitened luma's tiles."""
    residual = cv2.filter2D(np.asarray(luma, dtype=np.float32), cv2.CV_32F, _LAPLACIAN, borderType=cv2.BORDER_REFLECT)
    ny, nx = residual.shape[0] // tile, residual.shape[1] // tile
    tiles = residual[: ny * tile, : nx * tile].reshape(ny, tile, nx, tile).transpose(0, 2, 1, 3)
    tiles = tiles - tiles.mean(axis=(2, 3), keepdims=True)
    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    power = np.abs(np.fft.fft2(tiles * window, axes=(2, 3))) ** 2
    return power.reshape(-1, tile, tile).mean(axis=0)


def grid_peaks(power: np.ndarray) -> np.ndarray:
    """``log`` power over the local median at each multiple of 1/8 cycle per pixel: ``(8, 8)``, [0, 0] = 0."""
    n = power.shape[0]
    step = n // 8
    grid = np.zeros((n, n), dtype=bool)
    grid[::step, ::step] = True
    logp = np.log(np.maximum(power, 1e-12))
    peaks = np.zeros((8, 8))
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if (dy, dx) != (0, 0)]
    for i in range(8):
        for j in range(8):
            if i == 0 and j == 0:
                continue
            u, v = i * step, j * step
            around = [logp[(u + dy) % n, (v + dx) % n] for dy, dx in offsets if not grid[(u + dy) % n, (v + dx) % n]]
            peaks[i, j] = logp[u, v] - float(np.median(around))
    return peaks


def high_frequency_excess(power: np.ndarray) -> float:
    """Mean residual of the radial log-power profile above 0.35 cycles/pixel from a line fitted on [0.1, 0.3)."""
    n = power.shape[0]
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :])
    bins = np.round(radius * n).astype(int)
    logp = np.log(np.maximum(power, 1e-12))
    counts = np.bincount(bins.ravel())
    profile = np.bincount(bins.ravel(), logp.ravel()) / np.maximum(counts, 1)
    freq = np.arange(profile.size) / n
    fit = (freq >= 0.1) & (freq < 0.3)
    slope, intercept = np.polyfit(freq[fit], profile[fit], 1)
    high = (freq >= 0.35) & (freq <= 0.5)
    return float(np.mean(profile[high] - (slope * freq[high] + intercept)))



@register
@dataclass
class SpectralArtifacts(Detector):
    """Up-sampling peaks and high-frequency excess in the power spectrum (Frank 2020; Durall 2020).

    Parameters
    ----------
    window : int
        Side of the windows of the heatmap (a multiple of 64).
    max_side : int
        Larger images are analysed on their central crop of this side (never
        resized, which would erase the traces).
    """

    window: int = 256
    max_side: int = 2048

    name: ClassVar[str] = "spectral"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "R. Durall, M. Keuper, J. Keuper, 'Watch your Up-Convolution', CVPR 2020; "
        "J. Frank et al., 'Leveraging Frequency Analysis for Deep Fake Image Recognition', ICML 2020"
    )
    summary: ClassVar[str] = "periodic spectral peaks and excess high-frequency power left by up-sampling layers"
    title: ClassVar[str] = "Up-sampling spectrum (AI generation)"
    trace: ClassVar[str] = "has the periodic spectral peaks that a generator's up-sampling layers leave"
    indicates: ClassVar[str] = "ai-generated"
    #: Measured near chance at matched format (docs/benchmarks.md, "AI-image signal detectors"): no decision.
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        if self.window < _TILE or self.window % _TILE:
            raise ValueError(f"window must be a multiple of {_TILE}, not {self.window}")
        h, w = image.shape
        if (h // _TILE) * (w // _TILE) < 4:
            raise NotApplicable(
                f"the image ({w}x{h}) is too small: the spectrum needs at least four {_TILE}x{_TILE} tiles"
            )
        luma, notes = central_crop(image.luminance(), self.max_side)
        if float(luma.std()) < 0.5:
            raise NotApplicable("the image is uniform: it has no spectrum to read")
        power = welch_spectrum(luma)
        peaks = grid_peaks(power)
        peak = float(peaks.max())
        excess = high_frequency_excess(power)
        is_jpeg = image.format == "JPEG"
        peak_score = float(logistic(peak, PEAK_THRESHOLD, PEAK_SCALE))
        excess_score = float(logistic(excess, EXCESS_THRESHOLD, EXCESS_SCALE))
        score = excess_score if is_jpeg else max(peak_score, excess_score)
        i, j = np.unravel_index(int(np.argmax(peaks)), peaks.shape)
        facts = {
            "peak": round(peak, 3),
            "peak_frequency": [_signed(int(i)) / 8, _signed(int(j)) / 8],
            "peak_used": not is_jpeg,
            "high_frequency_excess": round(excess, 3),
            "ai_score": round(score, 4),
            "tiles": int((luma.shape[0] // _TILE) * (luma.shape[1] // _TILE)),
        }
        notes.append(
            f"Strongest up-sampling peak {peak:.2f} (log power over its neighbourhood) at "
            f"({facts['peak_frequency'][0]}, {facts['peak_frequency'][1]}) cycles/pixel; high-frequency "
            f"excess {excess:+.2f} (log power over the mid-band trend)."
        )
        if is_jpeg:
            notes.append(
                "JPEG's 8x8 block grid puts peaks at the same frequencies as up-sampling, so only the "
                "high-frequency excess counts here."
            )
        heatmap = self._window_map(luma, (h, w)) if not is_jpeg else None
        return Finding(
            score=None, heatmap=heatmap, stride=self.window if heatmap is not None else 1, notes=notes, facts=facts
        )

    def _window_map(self, luma: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
        ny, nx = luma.shape[0] // self.window, luma.shape[1] // self.window
        if ny * nx < 2:
            return None
        heat = np.zeros((-(-shape[0] // self.window), -(-shape[1] // self.window)), dtype=np.float32)
        top, left = (o // self.window for o in crop_origin(shape, luma.shape))
        s = self.window
        for r in range(ny):
            for c in range(nx):
                peaks = grid_peaks(welch_spectrum(luma[r * s : (r + 1) * s, c * s : (c + 1) * s]))
                heat[top + r, left + c] = logistic(peaks.max(), PEAK_THRESHOLD, PEAK_SCALE)
        return heat


def _signed(k: int) -> int:
    return k - 8 if k > 4 else k
