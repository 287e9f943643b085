"""Noisesniffer: a-contrario detection of regions with anomalous noise.

M. Gardella, P. Musé, J.-M. Morel and M. Colom, "Noisesniffer: a fully
automatic image forgery detector based on noise analysis", IWBF 2021; refined
in "Image forgery detection based on noise inspection: analysis and refinement
of the Noisesniffer method", Image Processing On Line 14:86-115, 2024.

Method
------
The camera's noise depends on intensity, so it is compared only between
blocks of similar intensity. As in the paper (parameters ``w``, ``b``, ``n``,
``m``, ``W`` with the paper's defaults 3, 20000, 0.1, 0.5, 100):

1. All overlapping ``w x w`` blocks are considered; a block is valid when none
   of its pixels reaches the minimum or maximum value of a channel (clipped
   pixels have no noise).
2. Per channel, the valid blocks are sorted by their mean in that channel and
   cut into bins of about ``b`` blocks (an intensity bin).
3. In each bin the fraction ``n`` of blocks with the lowest energy in the
   low and medium frequencies of their ``w x w`` DCT-II (coefficients
   ``0 < i + j < T``, ``T`` = 3 for ``w`` = 3) is kept: the most homogeneous
   blocks, set ``L``, where the block's variance is mostly noise.
4. Among them, the fraction ``m`` with the lowest standard deviation forms
   ``V``. The bin is discarded if at least ``|V|`` of its ``L`` blocks are
   constant. The median standard deviation of ``L`` per bin, against the
   bin's median intensity, is reported as the noise curve
   (``facts["noise_curve"]``).
5. Without tampering the noise of homogeneous blocks of equal intensity has
   one law, so ``V`` is a uniformly random subset of ``L``: in any region the
   count of ``V`` blocks among the ``L`` blocks is binomial with parameter
   ``m``. Overlapping blocks are not independent; as in the paper the counts
   are divided by ``w^2`` (``K`` successes rounded down, ``N`` trials rounded up).
6. The image is tessellated into ``W x W`` cells. Each cell where ``V`` is
   over-represented (``K / N > m``) seeds a region; a 4-neighbour cell joins
   the region while it divides the binomial tail by more than 4 per added cell
   (the growth rate of the number of polyominoes), until no neighbour does
   (the IPOL 2024 region growing).
7. ``NFA(R) = 0.5 w^2 (X Y / W^2)^2 P(|R|) P[Bin(N_R, m) >= K_R]`` with ``X Y``
   the image area and ``P(r) = 0.316915 / r * 4.062570^r`` the asymptotic count
   of polyominoes of ``r`` cells. A region is detected when ``NFA < 1``.

A region with an excess of the lowest-noise blocks is a region whose noise is
lower than the rest of the image at the same intensity: a paste from a cleaner
source, a denoised or blurred area, an inpainting.

Heatmap, decision
-----------------
Each grown region gets ``1 / (1 + NFA)``: 0.5 exactly at the paper's
threshold ``NFA = 1``, 0.91 at ``NFA = 0.1``. The heatmap (one value per
``W x W`` cell, ``stride = W``) gives each cell the largest value of the
regions that contain it. The confidence map is the share of each cell's
blocks that entered ``L`` relative to the image's average share, capped at 1:
cells without homogeneous blocks cannot show anything. ``facts`` give the
smallest ``log10_nfa`` and ``detected`` (``NFA < 1`` somewhere).

The NFA is the paper's decision, but its null hypothesis (noise depends on
intensity only) fails on JPEG files, where quantization removes noise
according to content: on authentic JPEG photos we measured ``NFA < 1`` on
15 of 18 exif-camera images, 28 of 30 MICC-F220 and 21 of 30 CASIA v1
(and 20 of 30 CASIA v1 tampered ones: no discrimination); see
docs/accuracy.md. A fusion vote that says "edited" for most authentic photos
would be wrong, so the detector gives a map (``decides = False``, score
``None``) like ELA, with the NFA in ``facts`` and ``notes``.

Limits
------
Needs homogeneous blocks at every intensity; strong JPEG compression or
denoising of the whole image weakens the statistic; forgeries smaller than a
cell are missed; only a *lower* noise level is detected (a region with more
noise is seen as the rest of the image having less, which the test also
finds when the noisier part is the larger one). Images over ``max_pixels``
are analysed on a centred crop of that size, said in ``notes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy.special import betainc, gammaln

from ..image import Image
from .registry import register
from ._crop import central_crop_pixels
from .base import Detector, Finding, NotApplicable

#: Thresholds T on i + j separating low-medium DCT frequencies, per block side (IPOL 2024, Alg. 6).
_LOW_FREQ_T = {3: 3, 5: 5, 7: 8, 8: 9}
_POLYOMINO_C, _POLYOMINO_RATE = 0.316915, 4.062570
_LOG10 = math.log(10.0)


def dct_basis(w: int) -> np.ndarray:
    """Rows: the orthonormal DCT-II basis vectors of length ``w``."""
    k = np.arange(w)[:, None]
    x = np.arange(w)[None, :]
    basis = np.cos(np.pi * (2 * x + 1) * k / (2 * w)) * np.sqrt(2.0 / w)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def block_statistics(channel: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and low-medium-frequency DCT energy of every ``w x w`` block.

    Arrays are indexed by the block's top-left pixel, shape ``(H - w + 1, W - w + 1)``.
    Sums of 8-bit values stay below 2^24, so the float32 variance is exact and
    constant blocks have variance exactly 0.
    """
    x = channel.astype(np.float32)
    h, wd = x.shape
    a = (w - 1) // 2
    crop = (slice(a, a + h - w + 1), slice(a, a + wd - w + 1))
    anchor = (a, a)
    s1 = cv2.boxFilter(x, cv2.CV_32F, (w, w), anchor=anchor, normalize=False)[crop]
    s2 = cv2.boxFilter(x * x, cv2.CV_32F, (w, w), anchor=anchor, normalize=False)[crop]
    n = float(w * w)
    variance = (n * s2 - s1 * s1) / (n * n)
    basis = dct_basis(w)
    t = _LOW_FREQ_T[w]
    energy = np.zeros_like(variance)
    for i in range(w):
        for j in range(w):
            if 0 < i + j < t:
                coef = cv2.sepFilter2D(x, cv2.CV_32F, basis[j], basis[i], anchor=anchor)[crop]
                energy += coef * coef
    return s1 / n, variance, energy


def valid_blocks(pixels: np.ndarray, w: int) -> np.ndarray:
    """Blocks with no pixel at a channel's minimum or maximum value."""
    inside = np.ones(pixels.shape[:2], dtype=np.uint8)
    for c in range(pixels.shape[2]):
        ch = pixels[..., c]
        inside &= ((ch > ch.min()) & (ch < ch.max())).astype(np.uint8)
    h, wd = inside.shape
    eroded = cv2.erode(inside, np.ones((w, w), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT,
                       borderValue=0)
    return eroded[: h - w + 1, : wd - w + 1].astype(bool)


@dataclass
class _Selection:
    trials: np.ndarray  # per cell: number of L blocks, all channels
    successes: np.ndarray  # per cell: number of V blocks
    bins: int
    valid_bins: int
    noise_curve: list[tuple[float, float]]


def select_blocks(pixels: np.ndarray, w: int, b: int, n: float, m: float, cell: int) -> _Selection:
    """Steps 1-4 of the method, counted per ``cell x cell`` cell."""
    h, wd = pixels.shape[:2]
    valid = valid_blocks(pixels, w)
    origins = np.flatnonzero(valid.ravel())
    ncols = wd - w + 1
    cells = (-(-h // cell), -(-wd // cell))
    cell_of = (origins // ncols) // cell * cells[1] + (origins % ncols) // cell
    trials = np.zeros(cells[0] * cells[1])
    successes = np.zeros_like(trials)
    total = origins.size
    bins = max(1, int(round(total / b)))
    per_bin = total // bins
    keep_l = int(per_bin * n)
    keep_v = int(per_bin * n * m)
    curve: list[tuple[float, float]] = []
    valid_bins = 0
    for c in range(pixels.shape[2]):
        stats = [a.ravel()[origins] for a in block_statistics(pixels[..., c], w)]
        # Block sums of 8-bit pixels are small integers: a stable sort of uint16 is a radix sort.
        order = np.argsort(np.rint(stats[0] * (w * w)).astype(np.uint16), kind="stable")
        # One gather into intensity order, so that every bin is a contiguous slice.
        mean, variance, energy = (a[order] for a in stats)
        cells_sorted = cell_of[order]
        del stats, order
        for k in range(bins):
            bin_slice = slice(k * per_bin, (k + 1) * per_bin if k < bins - 1 else total)
            low = np.argpartition(energy[bin_slice], keep_l - 1)[:keep_l] if keep_l else np.arange(0)
            low_var = variance[bin_slice][low]
            by_std = np.argsort(low_var, kind="stable")
            if np.count_nonzero(low_var == 0) >= keep_v:
                continue
            valid_bins += 1
            low_cells = cells_sorted[bin_slice][low]
            trials += np.bincount(low_cells, minlength=trials.size)
            successes += np.bincount(low_cells[by_std[:keep_v]], minlength=trials.size)
            middle = (bin_slice.start + min(bin_slice.stop, total)) // 2
            curve.append((float(mean[middle]), float(np.sqrt(np.median(low_var)))))
    return _Selection(
        trials=trials.reshape(cells), successes=successes.reshape(cells), bins=bins * pixels.shape[2],
        valid_bins=valid_bins, noise_curve=curve,
    )


def log10_binomial_tail(k: int, n: int, p: float) -> float:
    """``log10 P[Bin(n, p) >= k]``, accurate far into the tail."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    tail = float(betainc(k, n - k + 1, p))
    if tail > 1e-280:
        return math.log10(tail)
    # Underflow: the first term times the geometric bound on the rest of the tail.
    log_pmf = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)
    ratio = (n - k) / (k + 1) * p / (1 - p)
    return float(log_pmf - math.log1p(-min(ratio, 0.999999))) / _LOG10


def _overlap_tail(successes: float, trials: float, w: int, m: float) -> float:
    """The paper's tail with counts corrected for the ``w^2``-fold overlap of blocks."""
    return log10_binomial_tail(int(successes // (w * w)), int(math.ceil(trials / (w * w))), m)


def log10_nfa(size: int, successes: float, trials: float, w: int, m: float, area: float, cell: int) -> float:
    log_regions = math.log10(_POLYOMINO_C / size) + size * math.log10(_POLYOMINO_RATE)
    log_tests = math.log10(0.5 * w * w) + 2 * math.log10(area / cell**2) + log_regions
    return log_tests + _overlap_tail(successes, trials, w, m)


def grow_regions(trials: np.ndarray, successes: np.ndarray, w: int, m: float, area: float, cell: int):
    """Seeded region growing over cells (IPOL 2024). Yields ``(cells, log10 NFA)``.

    Seeds are visited in raster order; a seed already inside a detected region
    is skipped, as in the reference implementation.
    """
    ny, nx = trials.shape
    detected = np.zeros(trials.shape, dtype=bool)
    for i in range(ny):
        for j in range(nx):
            if detected[i, j] or trials[i, j] == 0 or successes[i, j] / trials[i, j] <= m:
                continue
            region = [(i, j)]
            members = {(i, j)}
            n_r, k_r = float(trials[i, j]), float(successes[i, j])
            tail = _overlap_tail(k_r, n_r, w, m)
            grown = True
            while grown:
                grown = False
                for y, x in list(region):
                    for v, u in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        if not (0 <= v < ny and 0 <= u < nx) or (v, u) in members:
                            continue
                        new_tail = _overlap_tail(k_r + successes[v, u], n_r + trials[v, u], w, m)
                        size = len(region)
                        # Joining must pay for the ~4x more regions of one more cell.
                        if tail - math.log10(size) > math.log10(4.0) + new_tail - math.log10(size + 1):
                            region.append((v, u))
                            members.add((v, u))
                            n_r += trials[v, u]
                            k_r += successes[v, u]
                            tail = new_tail
                            grown = True
            nfa = log10_nfa(len(region), k_r, n_r, w, m, area, cell)
            if nfa < 0:
                for y, x in region:
                    detected[y, x] = True
            yield region, nfa


@register
@dataclass
class Noisesniffer(Detector):
    """Regions whose homogeneous blocks are anomalously little noisy (Gardella et al. 2021/2024).

    Parameters
    ----------
    w : int
        Side of the overlapping blocks (3, 5, 7 or 8).
    b : int
        Blocks per intensity bin.
    n : float
        Fraction of each bin's blocks kept as homogeneous (``L``).
    m : float
        Fraction of ``L`` with the lowest standard deviation (``V``).
    cell : int
        Side ``W`` of the cells tested a contrario, in pixels.
    max_pixels : int
        Larger images are analysed on a centred crop of this many pixels.
    """

    w: int = 3
    b: int = 20000
    n: float = 0.1
    m: float = 0.5
    cell: int = 100
    max_pixels: int = 16_000_000

    name: ClassVar[str] = "noisesniffer"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "M. Gardella, P. Muse, J.-M. Morel and M. Colom, 'Noisesniffer: a fully automatic image forgery "
        "detector based on noise analysis', IWBF 2021; refined in IPOL 14:86-115, 2024"
    )
    summary: ClassVar[str] = "regions where the lowest-noise homogeneous blocks concentrate (a-contrario NFA)"
    title: ClassVar[str] = "Noise model (Noisesniffer)"
    trace: ClassVar[str] = "is less noisy than the rest of the image at the same brightness"
    decides: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset()

    def analyze(self, image: Image) -> Finding:
        if self.w not in _LOW_FREQ_T:
            raise ValueError(f"w must be one of {sorted(_LOW_FREQ_T)}, not {self.w}")
        pixels, offset, crop_notes = self._crop(image)
        h, w = pixels.shape[:2]
        if min(h, w) < 2 * self.cell:
            raise NotApplicable(
                f"the image ({w}x{h}) is too small: Noisesniffer tests {self.cell}x{self.cell} cells "
                f"and needs at least {2 * self.cell}x{2 * self.cell} pixels"
            )
        if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
            pixels = pixels[..., :1]
        sel = select_blocks(pixels, self.w, self.b, self.n, self.m, self.cell)
        if sel.valid_bins == 0 or sel.trials.sum() == 0:
            raise NotApplicable(
                "the image has no measurable noise: every intensity bin is flat or clipped "
                "(synthetic, posterised or heavily compressed)"
            )

        area = float(h * w)
        heat = np.zeros(sel.trials.shape)
        best_nfa, best_region = math.inf, None
        regions = 0
        for region, log_nfa in grow_regions(sel.trials, sel.successes, self.w, self.m, area, self.cell):
            regions += 1
            value = 1.0 / (1.0 + 10.0 ** min(log_nfa, 300.0))
            ys, xs = zip(*region)
            heat[ys, xs] = np.maximum(heat[ys, xs], value)
            if log_nfa < best_nfa:
                best_nfa, best_region = log_nfa, region
        detected = best_nfa < 0

        share = sel.trials / max(sel.trials.mean(), 1e-9)
        confidence = np.clip(share, 0.0, 1.0).astype(np.float32)
        flagged = heat >= 0.5
        cell_area = _cell_areas((h, w), self.cell, heat.shape)
        facts = {
            "detected": bool(detected),
            "log10_nfa": None if best_region is None else round(best_nfa, 2),
            "region_cells": 0 if best_region is None else len(best_region),
            "flagged_share": round(float(cell_area[flagged].sum() / area), 4),
            "detected_cells": int(flagged.sum()),
            "regions_tested": regions,
            "valid_bins": sel.valid_bins,
            "bins": sel.bins,
            "noise_curve": [[round(i, 1), round(s, 3)] for i, s in sel.noise_curve],
            "cell": self.cell,
        }
        notes = []
        if detected:
            notes.append(
                f"A region of {len(best_region)} cells ({self.cell}x{self.cell} px) holds significantly more of the "
                f"lowest-noise blocks than chance allows (NFA = 10^{best_nfa:.1f} < 1): it is less noisy than "
                "the rest of the image at the same brightness."
            )
        else:
            notes.append("No region has significantly less noise than the rest (every NFA >= 1).")
        notes.append(
            f"{sel.valid_bins} of {sel.bins} intensity bins have homogeneous blocks with measurable noise; "
            f"{regions} candidate regions tested a contrario."
        )
        heat, confidence = (_place(a, offset, image.shape, self.cell) for a in (heat, confidence))
        if detected and image.format == "JPEG":
            notes.append(
                "JPEG compression removes noise according to content, which breaks the test's assumption: "
                "on authentic JPEG photos it finds such regions most of the time, "
                "so this is a map to read, not a verdict."
            )
        notes.extend(crop_notes)
        return Finding(score=None, heatmap=heat.astype(np.float32), stride=self.cell,
                       confidence=confidence.astype(np.float32), notes=notes, facts=facts)

    def _crop(self, image: Image) -> tuple[np.ndarray, tuple[int, int], list[str]]:
        # Resampling would change the noise itself, so the image is cropped, never resized; the crop is aligned
        # on the cell grid so that its cells are cells of the whole image's map.
        crop, (top, left), notes = central_crop_pixels(image.pixels, self.max_pixels, self.cell)
        return crop, (top // self.cell, left // self.cell), notes


def _place(cells: np.ndarray, offset: tuple[int, int], shape: tuple[int, int], cell: int) -> np.ndarray:
    """A crop's cell map inside the whole image's cell grid, 0 outside the crop."""
    full = np.zeros((-(-shape[0] // cell), -(-shape[1] // cell)), dtype=np.float64)
    ny, nx = min(cells.shape[0], full.shape[0] - offset[0]), min(cells.shape[1], full.shape[1] - offset[1])
    full[offset[0] : offset[0] + ny, offset[1] : offset[1] + nx] = cells[:ny, :nx]
    return full


def _cell_areas(shape: tuple[int, int], cell: int, cells: tuple[int, int]) -> np.ndarray:
    ys = np.minimum(np.arange(cells[0] + 1) * cell, shape[0])
    xs = np.minimum(np.arange(cells[1] + 1) * cell, shape[1])
    return np.outer(np.diff(ys), np.diff(xs)).astype(np.float64)
