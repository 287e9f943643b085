"""Local noise-level inconsistency (NOI1).

B. Mahdian and S. Saic, "Using noise inconsistencies for blind image
forensics", Image and Vision Computing 27(10):1497-1503, 2009.

Method
------
Regions pasted from another picture, or retouched with added noise, blur or
denoising, usually carry a noise level different from the rest of the image.
As in the paper, the noise is read in the diagonal detail subband HH1 of a
one-level db8 wavelet transform of the luma Y (ITU-R BT.601 weights, computed
in float32): HH1 is tiled into 8x8-coefficient blocks (16x16 image pixels, the
map's cells) and each block's noise standard deviation is the robust median
estimator ``sigma = median(|HH1|) / 0.6745``. Neighbouring blocks are then
merged into homogeneous noise regions, and each region's level is compared
with the image's dominant level.

Our choices, beyond the paper
-----------------------------
*Texture.* Image content leaks into HH1 and inflates ``sigma``. Each cell also
gets the level ``sigma2`` of the level-2 detail subbands (the same median
estimator over the 48 level-2 coefficients under the cell). White noise has the
same level at both scales; image content has more energy at the coarser one.
With ``e = log(sigma2 / sigma)`` minus its median over the cells that have
measurable noise, a cell's texture confidence is
``1 / (1 + (max(e, 0) / log 2)^2)``: 0.5 where the level-2 to HH1 ratio is
twice the image's typical one.

*Saturation and flatness.* A pixel with any channel within ``delta`` of 0 or
255 has its noise clipped (``delta`` = 3 x the median cell sigma, between 1
and 64); with ``f`` the fraction of such pixels in a cell, its saturation
confidence is ``clip(1 - 2 f, 0, 1)``. A cell with ``sigma < 0.05`` grey
levels has no noise at all (flat, synthetic); its floor confidence rises
linearly to 1 at ``sigma = 0.2``. The confidence map is the product of the
three confidences. When they add up to less than 1% of the cells (or 4 cells),
the image has no measurable noise and the method is not applicable.

*Dominant level.* ``mu`` is the confidence-weighted median of ``log sigma``
over the cells and ``S`` the weighted MAD x 1.4826, floored at 0.1458: the
sampling standard deviation of the log median estimator on 64 Gaussian
coefficients, which is what a pure-noise image gives (the floor scales as
8 / block for other block sizes).

*Region merging* (the paper's homogeneous-region step, vectorised). Every
cell starts as a region; a region's level ``m`` is the confidence-weighted
mean of its cells' ``log sigma`` and its weight ``W`` the sum of their
confidences (at least 0.001 per cell). Two adjacent regions are statistically
equal when ``|m_a - m_b| - S <= 3 tau sqrt(1/W_a + 1/W_b)``, with ``tau`` the
robust standard deviation of one cell's estimate around its neighbours
(neighbour-difference MAD / sqrt 2, floored at 0.1458). The margin ``S`` keeps
together levels closer than the image's own cell-to-cell spread however many
cells are involved. In each round every region links to its most similar
neighbour if the two are statistically equal, and each connected group of
links becomes one region (Boruvka style: a 12 MP image needs about ten
rounds); the statistics are recomputed and the rounds repeat until nothing
merges. Low-confidence cells weigh little, so they join a neighbour instead of
forming texture-driven regions of their own.

Heatmap, score, confidence
--------------------------
For each region ``R``:

* ``z = (m_R - mu) / S``: the departure from the dominant level in units of
  the image's own spread. Two-sided: more noise (added noise, a noisier
  source) and less noise (denoising, blur, a cleaner source) both count.
* ``q = 1 - p`` with ``p = min(1, 2 N Phi(-|z| sqrt(W)))`` the Bonferroni
  p-value (``N`` cells) of the test that the region's level equals the
  dominant one. It is the test of equal variances on the ``64 W`` HH1
  coefficients of the region, with the variance of the log estimator inflated
  from its Gaussian value 0.1458^2 to the observed ``S^2``. Isolated cells do
  not pass it.
* ``g = Phi(-sign(z) e_R sqrt(W) / s_e)``, with ``e_R`` the region's weighted
  mean of ``e`` and ``s_e`` the robust spread of ``e`` over the cells: the
  probability that the departure is steeper at the finest scale than at the
  next one, as a change of white noise is (added noise raises HH1 relatively
  more than the level-2 details; blur or denoising lowers it more). Content
  such as text, edges or texture, which JPEG keeps while it flattens the noise
  elsewhere, raises the level-2 details at least as much and gets ``g`` near 0.
* ``heat_R = z^4 / (z^4 + 4^4) * q * g`` if ``W >= 4`` (four cells' worth of
  confident estimates), else 0. The Hill curve maps ``|z|`` = 2, 4, 6, 8 to
  0.06, 0.5, 0.84, 0.94.

The heatmap gives every cell its region's ``heat`` (one value per 16x16 cell,
``stride=16``), except constant cells (``sigma < 0.05``), which get 0. The
score is the largest ``heat`` of any region. The confidence map is the
per-cell confidence above. Facts describe the region with the largest heat
(or, when all heats are 0, the largest departure): ``noise_sigma`` (``exp
mu``, grey levels of luma), ``region_sigma``, ``region_share`` (of the image
area), ``region_z``, ``region_p_value`` (``p``), ``region_white`` (``g``),
and ``flagged_share`` (area with heat >= 0.5).

Limits
------
Texture that looks like white noise at both scales (fine lattices, small
text, grain) and signal-dependent camera noise (bright and dark areas of a
lightly processed image) change the level without manipulation. JPEG removes
noise where content is flat and keeps it where content is busy, so on
compressed images the level partly follows content; weak added noise (sigma 5
per channel or less) does not survive quality 90. Regions smaller than about
48x48 pixels rarely score: a region needs four confident cells. Only
differences of noise *level* are visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import pywt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import ndtr

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

#: median(|N(0, 1)|): the median absolute deviation of a Gaussian in sigmas.
_MAD_TO_SIGMA = 0.6745
#: Standard deviation of log(median(|x|) / 0.6745) over 64 Gaussian samples:
#: 1 / (2 f(m) sqrt(64) m) with m = 0.6745, f(m) = 2 phi(m) (Monte Carlo: 0.145).
_LOG_SIGMA_SD_64 = 0.1458
_ONE = np.ones(1, dtype=np.float32)


def _db8() -> tuple[np.ndarray, np.ndarray]:
    w = pywt.Wavelet("db8")
    # cv2 correlates; the DWT convolves, hence the reversal.
    return np.asarray(w.dec_lo[::-1], dtype=np.float32), np.asarray(w.dec_hi[::-1], dtype=np.float32)


def _filter_rows(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = cv2.sepFilter2D(x, cv2.CV_32F, kernel, _ONE, borderType=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out[:, 1::2])


def _filter_cols(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate along columns (centred, reflected borders) and keep the odd rows, computing only those."""
    half = len(kernel) // 2
    return _odd_rows(cv2.copyMakeBorder(x, half, half, 0, 0, cv2.BORDER_REFLECT_101), kernel, x.shape[0] // 2)


def _odd_rows(padded: np.ndarray, kernel: np.ndarray, rows: int) -> np.ndarray:
    """Rows ``1, 3, ...`` (``rows`` of them) of the centred column correlation of ``padded[half:-half]``.

    Polyphase: output row ``k`` is ``sum_t kernel[t] padded[2k + 1 + t]``; the even taps read the odd rows and
    the odd taps the even rows, so two filters with half the taps on row-strided views (no copies) give it.
    """
    even_taps, odd_taps = np.ascontiguousarray(kernel[0::2]), np.ascontiguousarray(kernel[1::2])
    out = cv2.sepFilter2D(padded[1::2], cv2.CV_32F, _ONE, even_taps, anchor=(0, 0))[:rows]
    out += cv2.sepFilter2D(padded[2::2], cv2.CV_32F, _ONE, odd_taps, anchor=(0, 0))[:rows]
    return out


def wavelet_level(x: np.ndarray, bands: str = "LL,HL,LH,HH") -> dict[str, np.ndarray]:
    """One level of the db8 DWT of ``x``: the requested subbands, float32.

    In the interior this equals ``pywt.dwt2(x, "db8", mode="periodization")``
    exactly (HL is pywt's vertical detail cV, LH its horizontal one cH, HH its
    diagonal one cD); borders are reflected instead of wrapped around.
    Coefficient ``k`` is centred on sample ``2k + 0.5``, so an 8x8 block of
    coefficients covers the 16x16 pixels of the same cell. Separable filters
    in OpenCV, because pywt is several times slower on a 12 MP image.
    """
    lo, hi = _db8()
    if x.shape[0] % 2 or x.shape[1] % 2:
        # ceil(n/2) coefficients, as pywt gives, so that block grids nest across levels.
        x = cv2.copyMakeBorder(x, 0, x.shape[0] % 2, 0, x.shape[1] % 2, cv2.BORDER_REFLECT_101)
    wanted = {b.strip() for b in bands.split(",")}
    rows: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for name in sorted(wanted):
        horizontal, vertical = name[0], name[1]
        if horizontal not in rows:
            rows[horizontal] = _filter_rows(x, lo if horizontal == "L" else hi)
        out[name] = _filter_cols(rows[horizontal], lo if vertical == "L" else hi)
    return out


def _tiles(band: np.ndarray, b: int) -> np.ndarray:
    """``(ceil(n/b), ceil(m/b), b*b)`` absolute values of ``b x b`` blocks.

    A last partial row or column of blocks is taken from the last ``b`` rows or
    columns instead, so every block has ``b*b`` coefficients.
    """
    n, m = band.shape
    if n % b:
        band = np.concatenate([band[: n - n % b], band[n - b :]], axis=0)
    if m % b:
        band = np.concatenate([band[:, : m - m % b], band[:, m - b :]], axis=1)
    ny, nx = band.shape[0] // b, band.shape[1] // b
    tiles = band.reshape(ny, b, nx, b).transpose(0, 2, 1, 3).reshape(ny, nx, b * b)
    if np.may_share_memory(tiles, band):
        return np.abs(tiles)
    return np.abs(tiles, out=tiles)


def _median_last(tiles: np.ndarray) -> np.ndarray:
    k = tiles.shape[-1] // 2
    tiles.partition((k - 1, k), axis=-1)
    return 0.5 * (tiles[..., k - 1] + tiles[..., k])


def _cell_fraction(mask: np.ndarray, cell: int, cells: tuple[int, int]) -> np.ndarray:
    """Fraction of true pixels of ``mask`` in each ``cell x cell`` cell."""
    integral = cv2.integral(mask.view(np.uint8))
    h, w = mask.shape
    ys = np.minimum(np.arange(cells[0] + 1) * cell, h)
    xs = np.minimum(np.arange(cells[1] + 1) * cell, w)
    s = integral[np.ix_(ys, xs)].astype(np.float64)
    sums = s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1]
    area = np.outer(np.diff(ys), np.diff(xs))
    return sums / np.maximum(area, 1)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    values, weights = values.ravel(), weights.ravel()
    order = np.argsort(values, kind="stable")
    cw = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _weighted_mad(values: np.ndarray, weights: np.ndarray, center: float) -> float:
    return 1.4826 * _weighted_median(np.abs(values - center), weights)


def merge_regions(
    level: np.ndarray, weight: np.ndarray, tau: float, margin: float, z_merge: float = 3.0, max_rounds: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge 4-connected cells into regions of statistically equal level.

    Parameters
    ----------
    level, weight : ndarray
        Per-cell estimate (log sigma) and its weight (> 0), same 2-D shape.
    tau : float
        Standard deviation of one cell's estimate with weight 1.
    margin : float
        Differences of level up to ``margin`` always count as equal.
    z_merge : float
        Two regions are equal when ``|m_a - m_b| - margin <= z_merge * tau *
        sqrt(1/W_a + 1/W_b)``.

    Returns
    -------
    labels : ndarray of int
        Region index per cell (``level.shape``), regions numbered from 0.
    mean, total_weight, count : ndarray
        Per region: weighted mean level, sum of weights, number of cells.
    """
    ny, nx = level.shape
    n = ny * nx
    idx = np.arange(n).reshape(ny, nx)
    ea = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    eb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = weight.ravel().astype(np.float64)
    wsum = w * level.ravel()
    count = np.ones(n)
    labels = np.arange(n)
    for _ in range(max_rounds):
        if ea.size == 0:
            break
        r = w.size
        mean = wsum / w
        diff = np.abs(mean[ea] - mean[eb])
        se = tau * np.sqrt(1.0 / w[ea] + 1.0 / w[eb])
        d = np.maximum(diff - margin, 0.0) / se
        # Inside the margin every d is 0: the raw difference breaks the ties.
        ends = np.concatenate([ea, eb])
        other = np.concatenate([eb, ea])
        dd = np.concatenate([d, d])
        tie = np.concatenate([diff / se, diff / se])
        order = np.lexsort((other, tie, dd, ends))
        ends, other, dd = ends[order], other[order], dd[order]
        first = np.empty(ends.size, dtype=bool)
        first[0] = True
        np.not_equal(ends[1:], ends[:-1], out=first[1:])
        best = np.arange(r)
        best_d = np.full(r, np.inf)
        best[ends[first]] = other[first]
        best_d[ends[first]] = dd[first]
        hook = np.flatnonzero(best_d <= z_merge)
        if hook.size == 0:
            break
        links = coo_matrix((np.ones(hook.size), (hook, best[hook])), shape=(r, r))
        m, remap = connected_components(links, directed=False)
        w = np.bincount(remap, w, m)
        wsum = np.bincount(remap, wsum, m)
        count = np.bincount(remap, count, m)
        labels = remap[labels]
        ea, eb = remap[ea], remap[eb]
        keep = ea != eb
        lo, hi = np.minimum(ea[keep], eb[keep]), np.maximum(ea[keep], eb[keep])
        key = np.unique(lo * m + hi)
        ea, eb = key // m, key % m
    return labels.reshape(ny, nx), wsum / w, w, count


@dataclass
class _Cells:
    sigma: np.ndarray  # HH1 median estimate per cell
    log_sigma: np.ndarray
    spectral: np.ndarray  # e: log(sigma2 / sigma) minus its image median
    usable: np.ndarray  # saturation x floor confidence: is there noise to measure at all
    confidence: np.ndarray


def _first_level(y: np.ndarray, block: int, strip_cells: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``sigma`` per cell (from the median ``|HH1|`` of its ``block x block`` coefficients) and ``LL1``.

    The same numbers as :func:`wavelet_level` on the whole image followed by the tiles' medians, computed on strips
    of ``strip_cells`` cells of rows (each with the filter's reach of reflected or real rows around it), so that
    the first level's bands never exist for the whole image at once.
    """
    lo, hi = _db8()
    reach = len(lo) // 2
    height = y.shape[0]
    even = height + height % 2  # rows after the odd-size fix of wavelet_level
    rows = even // 2  # rows of the first level's bands
    strip = strip_cells * 2 * block
    starts = list(range(0, even, strip))
    if len(starts) > 1 and even - starts[-1] < 4 * block:
        starts.pop()  # a last sliver joins the strip before it: every strip holds whole tiles
    low = np.empty((rows, (y.shape[1] + 1) // 2), dtype=np.float32)
    sigma = []
    for index, top in enumerate(starts):
        bottom = starts[index + 1] if index + 1 < len(starts) else even
        # Rows top - reach .. bottom + reach of the image made even, then reflected (wavelet_level's borders).
        wanted = np.arange(top - reach, bottom + reach)
        wanted = np.where(wanted < 0, -wanted, wanted)
        wanted = np.where(wanted >= even, 2 * (even - 1) - wanted, wanted)
        wanted = np.where(wanted >= height, 2 * (height - 1) - wanted, wanted)  # the odd-size fix row
        part = np.ascontiguousarray(y[wanted])
        if part.shape[1] % 2:
            part = cv2.copyMakeBorder(part, 0, 0, 0, 1, cv2.BORDER_REFLECT_101)
        count = (bottom - top) // 2
        detail = _odd_rows(_filter_rows(part, hi), hi, count)
        sigma.append(_median_last(_tiles(detail, block)) / _MAD_TO_SIGMA)
        low[top // 2 : top // 2 + count] = _odd_rows(_filter_rows(part, lo), lo, count)
    return np.concatenate(sigma, axis=0), low


def _clipped_fraction(pixels: np.ndarray, delta: int, cell: int, cells: tuple[int, int],
                      strip_cells: int = 32) -> np.ndarray:
    """Share of each cell's pixels with a channel within ``delta`` of 0 or 255, strip by strip."""
    out = np.empty(cells, dtype=np.float64)
    for first in range(0, cells[0], strip_cells):
        last = min(cells[0], first + strip_cells)
        part = pixels[first * cell : last * cell]
        inside = cv2.inRange(part, (delta,) * 3, (255 - delta,) * 3)
        out[first:last] = _cell_fraction(inside == 0, cell, (last - first, cells[1]))
    return out


def _measure(pixels: np.ndarray, y: np.ndarray, block: int) -> _Cells:
    cell = 2 * block
    sigma, low = _first_level(y, block)
    cells = sigma.shape
    level2 = wavelet_level(low, "HL,LH,HH")
    half = block // 2
    tiles2 = np.concatenate([_tiles(band, half) for band in level2.values()], axis=2)
    sigma2 = _median_last(tiles2) / _MAD_TO_SIGMA
    del y, low, level2, tiles2

    delta = min(64, int(max(1, round(3.0 * float(np.median(sigma))))))
    clipped = _clipped_fraction(pixels, delta, cell, cells)
    c_sat = np.clip(1.0 - 2.0 * clipped, 0.0, 1.0)
    c_floor = np.clip((sigma - 0.05) / 0.15, 0.0, 1.0)
    usable = c_sat * c_floor

    log_sigma = np.log(np.maximum(sigma, 0.02)).astype(np.float64)
    ratio = np.log(np.maximum(sigma2, 0.02)).astype(np.float64) - log_sigma
    # The typical ratio is read where the noise is measurable at all.
    spectral = ratio - (_weighted_median(ratio, usable) if usable.sum() > 0 else np.median(ratio))
    c_tex = 1.0 / (1.0 + (np.maximum(spectral, 0.0) / np.log(2.0)) ** 2)
    confidence = c_tex * usable
    return _Cells(sigma=sigma, log_sigma=log_sigma, spectral=spectral, usable=usable, confidence=confidence)


@register
@dataclass
class NoiseInconsistency(Detector):
    """Local noise-level inconsistency, region level (Mahdian & Saic 2009).

    Parameters
    ----------
    block : int
        Side of the HH1 blocks (cells are ``2 * block`` image pixels). Even.
    merge_z : float
        Critical value of the merge test between neighbouring regions.
    z_half : float
        Departure (in units of the image's spread) whose heat is 0.5.
    min_cells : float
        Smallest confidence-weighted size of a region that can score.
    """

    block: int = 8
    merge_z: float = 3.0
    z_half: float = 4.0
    min_cells: float = 4.0

    name: ClassVar[str] = "noise"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "B. Mahdian and S. Saic, 'Using noise inconsistencies for blind image forensics', "
        "Image and Vision Computing 27(10):1497-1503, 2009"
    )
    summary: ClassVar[str] = "regions whose wavelet (HH1) noise level departs from the image's dominant level"
    title: ClassVar[str] = "Noise level"
    trace: ClassVar[str] = (
        "has a noise level that differs from the rest of the image"
    )
    requires: ClassVar[frozenset[str]] = frozenset()

    def analyze(self, image: Image) -> Finding:
        if self.block < 4 or self.block % 2:
            raise ValueError(f"block must be an even number >= 4, not {self.block}")
        cell = 2 * self.block
        h, w = image.shape
        if min(h, w) < 4 * cell:
            raise NotApplicable(
                f"the image ({w}x{h}) is too small: noise levels need at least {4 * cell}x{4 * cell} pixels"
            )

        cells = _measure(image.pixels, image.luminance(), self.block)
        conf, s, e = cells.confidence, cells.log_sigma, cells.spectral
        n = s.size
        if conf.sum() < max(self.min_cells, 0.01 * n):
            raise NotApplicable(
                f"the image has no measurable noise: almost every {cell}x{cell} cell is flat, saturated or texture"
            )

        # The sampling spread of one cell's log estimate scales as 1/sqrt(coefficients).
        floor = _LOG_SIGMA_SD_64 * 8.0 / self.block
        mu = _weighted_median(s, conf)
        spread = max(_weighted_mad(s, conf, mu), floor)
        diffs = np.concatenate([np.abs(np.diff(s, axis=1)).ravel(), np.abs(np.diff(s, axis=0)).ravel()])
        pair_w = np.concatenate(
            [np.minimum(conf[:, 1:], conf[:, :-1]).ravel(), np.minimum(conf[1:], conf[:-1]).ravel()]
        )
        tau = floor
        if pair_w.sum() > 0:
            tau = max(1.4826 * _weighted_median(diffs, pair_w) / np.sqrt(2.0), floor)

        # A cell without confidence keeps a tiny weight: it joins a neighbour instead of standing alone.
        weight = np.maximum(conf, 1e-3)
        labels, mean, total, _ = merge_regions(s, weight, tau, spread, self.merge_z)

        z = (mean - mu) / spread
        lab = labels.ravel()
        e_region = np.bincount(lab, (weight * e).ravel(), total.size) / total
        e_sd = max(_weighted_mad(e, conf, _weighted_median(e, conf)), 1e-3)
        root_w = np.sqrt(total)
        p_value = np.minimum(1.0, 2.0 * n * ndtr(-np.abs(z) * root_w))
        white = ndtr(-np.sign(z) * e_region * root_w / e_sd)
        z4 = z**4
        heat = z4 / (z4 + self.z_half**4) * (1.0 - p_value) * white
        heat[total < self.min_cells] = 0.0
        # Constant cells (e.g. clipped flat areas) that joined a region say nothing about its noise.
        heatmap = np.where(cells.sigma < 0.05, 0.0, heat[labels]).astype(np.float32)
        score = float(heat.max())

        if score > 0:
            top = int(np.argmax(heat))
        else:
            eligible = total >= self.min_cells
            top = int(np.argmax(np.abs(z) * (eligible if eligible.any() else 1.0)))
        ys = np.minimum(np.arange(labels.shape[0] + 1) * cell, h)
        xs = np.minimum(np.arange(labels.shape[1] + 1) * cell, w)
        cell_area = np.outer(np.diff(ys), np.diff(xs)).ravel() / (h * w)
        share = float(cell_area[lab == top].sum())
        noise_sigma, region_sigma = float(np.exp(mu)), float(np.exp(mean[top]))
        facts = {
            "noise_sigma": round(noise_sigma, 3),
            "region_sigma": round(region_sigma, 3),
            "region_share": round(share, 4),
            "region_z": round(float(z[top]), 2),
            "region_p_value": float(f"{p_value[top]:.3g}"),
            "region_white": round(float(white[top]), 3),
            "flagged_share": round(float(cell_area[heatmap.ravel() >= 0.5].sum()), 4),
            "log_sigma_spread": round(float(spread), 3),
            "regions": int(total.size),
            "confident_share": round(float(np.mean(conf >= 0.5)), 3),
            "cell": cell,
        }
        notes = [
            f"Dominant noise level sigma={noise_sigma:.2f} grey levels in luma "
            f"(wavelet HH1, {cell}x{cell}-pixel cells); "
            f"{facts['confident_share']:.0%} of cells give a confident estimate."
        ]
        if facts["confident_share"] < 0.2:
            notes.append("Most cells are flat, saturated or textured, so the dominant level rests on few cells.")
        region = (
            f"a region covering {share:.1%} of the image has sigma={region_sigma:.2f} "
            f"({region_sigma / noise_sigma:.2g}x the dominant level, z={z[top]:+.1f})"
        )
        if total.size == 1:
            notes.append("The whole image forms one region of homogeneous noise.")
        elif score >= 0.5:
            more = "more" if z[top] > 0 else "less"
            notes.append(f"{region[0].upper()}{region[1:]}: {more} noise than the rest.")
        else:
            notes.append(f"No region departs clearly from the dominant level; the largest departure: {region}.")
            if white[top] < 0.5 and abs(z[top]) >= self.z_half:
                notes.append(
                    "Its level changes as much at the next coarser wavelet scale as in HH1, as image content does "
                    "and a change of noise does not, so it is not counted."
                )
        if image.format == "JPEG" and noise_sigma < 1.0:
            notes.append(
                "JPEG compression removes noise where content is flat and keeps it where content is busy, "
                "so at this low level the level partly follows content."
            )
        return Finding(
            score=score,
            heatmap=heatmap,
            stride=cell,
            confidence=conf.astype(np.float32),
            notes=notes,
            facts=facts,
        )
