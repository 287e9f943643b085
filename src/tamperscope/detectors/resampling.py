"""Local resampling traces from the fixed linear predictor residue.

M. Kirchner, "Fast and reliable resampling detection by spectral analysis of
fixed linear predictor residue", ACM Multimedia and Security Workshop
(MM&Sec), 2008; the p-map idea is from A. C. Popescu and H. Farid, "Exposing
digital forgeries by detecting traces of resampling", IEEE Transactions on
Signal Processing 53(2), 2005.

Method
------
Interpolation makes some pixels exact linear combinations of their
neighbours, and which ones repeats with the resampling period. Popescu and
Farid estimate the predictor by EM and read the posterior "p-map"; Kirchner
shows that a fixed predictor is as good and orders of magnitude faster. As in
Kirchner's paper, the luma ``s`` is filtered with

    alpha = [[-1/4, 1/2, -1/4], [1/2, 0, 1/2], [-1/4, 1/2, -1/4]]

the residue is ``e = s - alpha * s`` and the p-map is
``p = lambda exp(-|e|^tau / sigma)`` with ``lambda = 1, sigma = 1, tau = 2``.
A resampled region gives a periodic p-map, hence isolated peaks in the
magnitude of its DFT.

Our choices, beyond the paper
-----------------------------
*Local analysis.* The p-map is cut into ``window x window`` windows (64 px,
step ``window / 2``); each window's mean is removed, a Hann taper applied and
the periodogram ``|DFT|^2`` taken (half plane, as the p-map is real).

*Peak statistic.* Kirchner detects peaks with the maximum gradient of the
cumulative periodogram against a threshold learnt on his data. We use the same
idea (a single ordinate that carries much more power than its
surroundings) with a null distribution, so that the decision needs no learnt
threshold: each ordinate is divided by the mean of the 40 ordinates of the 7x7
frequency neighbourhood outside its own 3x3 core (the local spectral level,
which follows the content-driven colour of the p-map spectrum). For a
periodogram of a non-periodic map, an ordinate is about Exp(1) times its local
level; were the 40 neighbours independent their mean would be Gamma(40)/40
and the ratio ``r`` would have the tail ``(1 + t / 40)^-40``. The taper
correlates neighbouring ordinates; on white-noise p-maps the measured tail is
that of ``K = 14`` effective neighbours, ``P(r > t) = (1 + t / 14)^-14``
(benchmarks/resampling_null.py). The window's statistic is its
largest ``r`` over the tested frequencies.

*Tested frequencies and the JPEG confound.* JPEG's 8x8 blocks make the p-map
8-periodic, with peaks at every frequency ``(k/8, l/8)`` in every window; so do
other image-wide periodicities (the whole picture resized once, a sensor's
own pattern). Frequencies at which the median window is peaky (median ratio
above ``global_ratio``, i.e. at least 3x the null median of ln 2 ~ 0.7) are
image-wide: they are reported as facts and not tested. For a JPEG file, or
any image where one of the JPEG frequencies is image-wide, all 63 JPEG
frequencies (+-1 bin, for leakage) are excluded in every window, because the
grid's strength follows the local content and would fire on its own. So are
the 5x5 lowest frequencies, where the content's own low-pass spectrum sits.
The price: in JPEG images, resampling whose peaks fall only on multiples of
1/8 (factor 2 up-sampling, period 2; factor 4/3, period 4) is invisible.

*Decision.* A-contrario: the number of false alarms of a window is
``NFA = N_tests * P(r > r_max)`` with ``N_tests`` the number of windows times
the number of tested ordinates (Bonferroni, conservative as windows overlap
by half). ``NFA < epsilon`` detects a resampled window, so that fewer than
``epsilon`` windows per image fire by chance under the null. The a-contrario
default would be ``epsilon = 1``; on authentic camera JPEGs (exif-camera,
MICC-F220, CASIA v1: 107 images) 20 of them reached an NFA below 1, the
smallest 0.0014, because real p-maps are not the white noise the tail is
measured on (JPEG sidelobes, textures). The default is ``epsilon = 1e-3``;
see docs/accuracy.md for the false-alarm rates.

Heatmap, score, confidence
--------------------------
A window's heat is ``1 / (1 + NFA / epsilon)`` (0.5 at the detection
threshold); a map cell (``window / 2`` pixels, ``stride``) is the mean heat of
the windows covering it. The score is the largest window heat. The
confidence of a cell is the share of its pixels whose residue is not a
constant: flat or saturated areas (``|e| < 0.01`` with ``p = 1`` everywhere)
give a featureless p-map where no trace can be seen. Facts: the strongest
window's period (pixels, vertical and horizontal), its ``NFA``, the share of
windows detected, and the image-wide periods that were set aside.

Limits
------
Down-sampling leaves weak traces (aliasing removes the correlations); JPEG
compression after resampling at quality below about 90 smooths them away;
regions smaller than about two windows (128x128 px) are rarely detected.
Strong periodic textures (fabrics, grilles, halftone prints) make genuine
peaks: the a-contrario test sees a period, not its cause.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import scipy.fft

from ._blocks import cells_from_windows, windows_view
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

_PREDICTOR = np.array([[-0.25, 0.5, -0.25], [0.5, 0.0, 0.5], [-0.25, 0.5, -0.25]], dtype=np.float32)
_NEIGHBOURS = 40  # 7x7 neighbourhood minus its 3x3 core
#: The taper correlates neighbouring ordinates, so the ring mean is steadier than 40 independent
#: ones would make it only in name: on white-noise p-maps the ratio's tail is that of 14 (see
#: benchmarks/resampling_null.py).
_EFFECTIVE_NEIGHBOURS = 14
_BATCH_PIXELS = 2_000_000
_SAMPLE_WINDOWS = 256  # windows per FFT batch x window area: bounds memory on large images


def p_map(luma: np.ndarray, sigma: float = 1.0, tau: float = 2.0, lam: float = 1.0) -> np.ndarray:
    """Kirchner's p-map ``lam * exp(-|e|^tau / sigma)`` of the fixed-predictor residue, float32."""
    residue = luma - cv2.filter2D(luma, cv2.CV_32F, _PREDICTOR, borderType=cv2.BORDER_REFLECT_101)
    if tau == 2.0:
        magnitude = residue * residue
    else:
        magnitude = np.abs(residue) ** tau
    return (lam * np.exp(-magnitude / sigma)).astype(np.float32), residue


def periodogram_ratio(windows: np.ndarray) -> np.ndarray:
    """Each periodogram ordinate over the mean of its 40 ring neighbours.

    ``windows`` is ``(n, size, size)``; returns ``(n, size, size)`` with both
    frequency axes shifted so that DC is at ``(size // 2, size // 2)``. The
    periodogram is periodic in both axes, so the ring wraps around exactly.
    """
    size = windows.shape[1]
    taper = np.hanning(size).astype(np.float32)
    centred = windows - windows.mean(axis=(1, 2), keepdims=True)
    spectrum = scipy.fft.fft2(centred * np.outer(taper, taper)[None], workers=1)
    power = np.fft.fftshift((spectrum.real**2 + spectrum.imag**2).astype(np.float32), axes=(1, 2))
    ring = _ring_sums(power) / _NEIGHBOURS
    return power / np.maximum(ring, 1e-20)


@functools.lru_cache(maxsize=4)
def _ring_kernel_spectrum(size: int) -> np.ndarray:
    """rfft2 of the 7x7-minus-3x3 ring around the origin (wrapped), for circular convolution."""
    kernel = np.zeros((size, size), dtype=np.float32)
    offsets = np.arange(-3, 4)
    kernel[np.ix_(offsets % size, offsets % size)] = 1.0
    kernel[np.ix_(offsets[2:5] % size, offsets[2:5] % size)] = 0.0
    return scipy.fft.rfft2(kernel)


def _ring_sums(power: np.ndarray) -> np.ndarray:
    """Sum of each ordinate's 40 ring neighbours (periodic in both axes): one circular convolution."""
    size = power.shape[-1]
    spectrum = scipy.fft.rfft2(power, workers=1) * _ring_kernel_spectrum(size)
    return scipy.fft.irfft2(spectrum, s=(size, size), workers=1)


def _half_plane(size: int) -> np.ndarray:
    """One ordinate of each conjugate pair of the shifted spectrum (real input)."""
    c = size // 2
    half = np.zeros((size, size), dtype=bool)
    half[:, c + 1 :] = True  # fx > 0
    half[c + 1 :, c] = True  # fx = 0, fy > 0
    half[c:, 0] = True  # fx = -1/2 (Nyquist) is its own conjugate column
    half[0, 0] = True
    return half


def ratio_tail(r: np.ndarray) -> np.ndarray:
    """``P(r > t)`` for an Exp(1) ordinate over the mean of ``K`` independent ones (``K`` effective)."""
    k = _EFFECTIVE_NEIGHBOURS
    return (1.0 + np.asarray(r, dtype=np.float64) / k) ** (-k)


def _jpeg_frequencies(size: int, spread: int = 2) -> np.ndarray:
    """Ordinates within ``spread`` bins (the Hann main lobe) of a multiple of 1/8 in both axes."""
    f = np.fft.fftshift(np.fft.fftfreq(size))

    def near_eighth(f: np.ndarray) -> np.ndarray:
        distance = np.abs(f * 8 - np.round(f * 8)) / 8
        return distance <= spread / size + 1e-9

    return near_eighth(f)[:, None] & near_eighth(f)[None, :]


def _low_frequencies(size: int, radius: int = 5) -> np.ndarray:
    near = np.abs(np.arange(size) - size // 2) <= radius
    return near[:, None] & near[None, :]


def _period(size: int, row: int, col: int) -> list[float | None]:
    f = np.abs(np.fft.fftshift(np.fft.fftfreq(size)))
    fy, fx = f[row], f[col]
    return [round(float(1.0 / f), 2) if f > 0 else None for f in (fy, fx)]


@register
@dataclass
class Resampling(Detector):
    """Local resampling (interpolation) traces, Kirchner 2008 p-map spectra in windows.

    See the module docstring for the method, the JPEG confound and how the
    heatmap, score and confidence are built.

    Parameters
    ----------
    window : int
        Side of the analysis windows in pixels (even); the map's stride is half of it.
    epsilon : float
        Expected number of false detections per image under the null.
    global_ratio : float
        Median window ratio above which a frequency is image-wide and not tested.
    sigma, tau, lam : float
        Kirchner's p-map constants.
    """

    window: int = 64
    epsilon: float = 1e-3
    global_ratio: float = 2.0
    sigma: float = 1.0
    tau: float = 2.0
    lam: float = 1.0

    name: ClassVar[str] = "resampling"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "M. Kirchner, Fast and reliable resampling detection by spectral analysis of fixed linear "
        "predictor residue, ACM MM&Sec 2008 (after A. C. Popescu, H. Farid, IEEE TSP 53(2), 2005)"
    )
    summary: ClassVar[str] = "periodic interpolation correlations (resizing, rotation) confined to a region"
    title: ClassVar[str] = "Resampling traces"
    trace: ClassVar[str] = "shows the periodic correlations of resizing or rotation, unlike the rest of the image"
    requires: ClassVar[frozenset[str]] = frozenset()

    def analyze(self, image: Image) -> Finding:
        size, step = self.window, self.window // 2
        h, w = image.shape
        if min(h, w) < 2 * size:
            raise NotApplicable(f"{w}x{h} is too small for resampling analysis in {size}x{size} windows (needs {2 * size} px)")
        luma = image.luminance()
        pmap, residue = p_map(luma, self.sigma, self.tau, self.lam)
        varying = (np.abs(residue) >= 0.01).astype(np.float32)
        windows = windows_view(pmap, size, step)
        rows, cols = windows.shape[:2]
        active = windows_view(varying, size, step).mean(axis=(2, 3))
        if float(active.max()) < 0.1:
            raise NotApplicable("the image is flat: no window has enough varying pixels to show a resampling period")

        # The image-wide spectrum is read on a regular subsample of the windows: bounded memory and time.
        sample = np.unique(np.linspace(0, rows * cols - 1, min(rows * cols, _SAMPLE_WINDOWS)).round().astype(int))
        sampled = self._ratios(windows[sample // cols, sample % cols])
        typical = np.median(sampled, axis=0)
        image_wide = typical > self.global_ratio
        jpeg_grid = _jpeg_frequencies(size)
        has_grid = image.jpeg is not None or bool((image_wide & jpeg_grid & ~_low_frequencies(size)).any())
        tested = ~(image_wide | _low_frequencies(size) | (jpeg_grid if has_grid else False))
        tested &= _half_plane(size)
        n_tested = int(tested.sum())
        if n_tested == 0:
            raise NotApplicable("every frequency is image-wide: the whole picture is periodic")

        if sample.size == rows * cols:  # every window was sampled: no need to transform them again
            values = sampled.reshape(sample.size, -1)[:, np.flatnonzero(tested)]
            at = values.argmax(axis=1)
            r_max, best = values[np.arange(at.size), at], np.flatnonzero(tested)[at]
        else:
            r_max, best = self._peaks(windows, tested)
        n_tests = rows * cols * n_tested
        nfa = (n_tests * ratio_tail(r_max)).reshape(rows, cols)
        # Flat windows have no p-map to speak of; their ratios are noise on rounding.
        nfa = np.where(active >= 0.1, nfa, np.inf)
        window_heat = 1.0 / (1.0 + nfa / self.epsilon)

        heatmap = cells_from_windows(window_heat, (h, w), step)
        confidence = cells_from_windows(active.astype(np.float64), (h, w), step)
        strongest = int(np.argmin(nfa))
        peak_row, peak_col = np.unravel_index(best[strongest], tested.shape)
        wide = np.argwhere(image_wide & ~_low_frequencies(size) & _half_plane(size))
        wide_periods = sorted({tuple(_period(size, int(a), int(b))) for a, b in wide}, key=str)
        facts = {
            "peak_period": _period(size, int(peak_row), int(peak_col)),
            "peak_nfa": float(f"{nfa.flat[strongest]:.3g}"),
            "peak_window": [int(strongest // cols * step), int(strongest % cols * step)],
            "detected_window_share": round(float(np.mean(nfa < self.epsilon)), 4),
            "jpeg_frequencies_excluded": has_grid,
            "image_wide_periods": [list(p) for p in wide_periods[:8]],
            "tested_frequencies": n_tested,
        }
        notes = [
            f"Strongest periodic window at (y, x) = ({facts['peak_window'][0]}, {facts['peak_window'][1]}): "
            f"period {facts['peak_period']} px, NFA {facts['peak_nfa']:.2g}; "
            f"{100 * facts['detected_window_share']:.1f}% of {rows * cols} windows of {size} px detected.",
        ]
        if has_grid:
            notes.append("JPEG block-grid frequencies (multiples of 1/8) were not tested: resampling periods "
                         "of 2, 4 or 8 px cannot be told from the grid.")
        if wide_periods:
            notes.append(f"Image-wide periodicity set aside (whole image resized, or a sensor pattern): periods "
                         f"{facts['image_wide_periods']} px.")
        return Finding(
            score=float(window_heat.max()),
            heatmap=heatmap.astype(np.float32),
            stride=step,
            confidence=confidence.astype(np.float32),
            notes=notes,
            facts=facts,
        )

    def _ratios(self, windows: np.ndarray) -> np.ndarray:
        size = self.window
        batch = max(1, _BATCH_PIXELS // (size * size))
        out = np.empty((windows.shape[0], size, size), dtype=np.float32)
        for start in range(0, windows.shape[0], batch):
            out[start : start + batch] = periodogram_ratio(np.asarray(windows[start : start + batch], dtype=np.float32))
        return out

    def _peaks(self, windows: np.ndarray, tested: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Largest ratio over the tested ordinates of each window, and where it is (flat index).

        ``windows`` is the ``(rows, cols, size, size)`` view; rows of windows are
        copied a few at a time so that memory stays bounded on large images.
        """
        rows, cols, size = windows.shape[:3]
        strip = max(1, _BATCH_PIXELS // (cols * size * size))
        index = np.flatnonzero(tested)
        r_max = np.empty(rows * cols)
        best = np.empty(rows * cols, dtype=np.int64)
        for top in range(0, rows, strip):
            chunk = np.asarray(windows[top : top + strip], dtype=np.float32).reshape(-1, size, size)
            values = periodogram_ratio(chunk).reshape(chunk.shape[0], -1)[:, index]
            at = values.argmax(axis=1)
            span = slice(top * cols, top * cols + at.size)
            r_max[span] = values[np.arange(at.size), at]
            best[span] = index[at]
        return r_max, best
