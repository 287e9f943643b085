"""BLK: local inconsistencies of the JPEG block artifact grid.

Implements the block artifact grid (BAG) extraction of

    W. Li, Y. Yuan, N. Yu, "Passive detection of doctored JPEG image via block
    artifact grid extraction", Signal Processing 89(9), 2009.

JPEG quantizes every 8x8 block on its own, so a decoded JPEG carries faint
discontinuities on an 8-pixel lattice. The paper extracts that lattice from the
pixels alone: second-order differences of the luminance, with strong ones
(edges) dropped, are summed along the lattice lines, their non-periodic trend
is removed with a median filter, and a median over copies shifted by whole
periods keeps only what repeats every 8 pixels. A pasted region that carries
its own grid (shifted, or from a coarser quantization) or none at all breaks
that lattice.

Steps (paper; parameters as in the MKLab reference code, ``DiffThresh=50``,
``AC=33``):

1. Luminance Y (ITU-R BT.601, as JPEG uses).
2. Absolute second-order differences along rows (for vertical grid lines) and
   along columns (for horizontal ones); values above 50 are set to 0.
3. Sums over 33 samples along the orthogonal direction (along the lines).
4. Minus a 33-tap median along the difference direction: the periodic part.
5. Median of 5 copies shifted by -16, -8, 0, 8, 16 samples along the
   difference direction: the block artifact grid (BAG) of each direction.
6. The paper's block value, per 8x8 block of the dominant grid: (largest
   interior column sum - smallest border column sum) plus the same for rows;
   see :func:`block_values`.

Implementation note: the line sums of step 3 vary slowly along the lines (a
33-sample window), so steps 3-5 are evaluated at the centre line of every
8-pixel cell instead of at every line. That is 8 times less work (12 MP take
about 0.4 s on one core) and changes the BAG profile of a cell by much less
than the window itself smooths it.

Heatmap, score and confidence (tamperscope's design, not the paper's)
------------------------------------------------------------------------
The raw block value has no scale and follows texture, so the map compares each
cell's *grid profile* with the image's dominant grid instead:

* **Grid phasor.** For every 8x8 cell and direction, the BAG values across the
  cell (one per position ``x mod 8``, resp. ``y mod 8``) are reduced to their
  first Fourier coefficient ``F = sum_k BAG[k] exp(-2 pi i k / 8)`` and divided
  by the cell's texture energy ``T`` (the step-4 median level: the
  non-periodic difference energy) plus a floor of 0.5 grey levels per sample
  against flat cells. ``|F| / T`` is the share of the local difference energy
  that repeats every 8 pixels; the angle of ``F`` is where the grid lines are.
  The first harmonic ignores the period-2 and period-4 patterns that
  interpolation leaves. These shares are averaged over 7x7 cells (56 pixels):
  single cells are too noisy.
* **Dominant grid.** Every confident cell votes for the integer line position
  nearest the angle of its phasor; the most voted position per direction is
  the dominant grid offset ``(dx, dy)`` (column and row where blocks start).
  Voting by area rather than by BAG energy keeps a small region with much
  stronger blocking (a pasted low-quality JPEG) from becoming the reference.
* **Aligned strength.** ``a = Re(F conj(u))``, with ``u`` the unit phasor of
  the dominant grid, per direction. A local grid at the dominant offset adds
  to ``a``; one shifted by 2 to 6 pixels contributes ``|F| cos(2 pi s / 8) <=
  0``, so a shifted grid and a missing grid both show up as an aligned
  strength well below normal. (The component orthogonal to ``u`` was tried as
  a separate misalignment cue; on the test images it carried no signal above
  its noise, so it is not used.)
* **Texture-conditioned robust z.** Even as a share, ``a`` falls off with
  texture (flat areas show JPEG blocking more than busy ones). Per direction,
  ``a`` is modelled as a line in ``log(t + 0.1)`` (``t``: mean absolute
  second difference per sample, grey levels), fitted over the confident cells
  (confidence >= 0.5) by median regression refined with Tukey's biweight
  (c = 4.685); the scale is the median regression of the absolute residuals
  times 1.4826 (a local MAD). ``z_d = (a - line) / scale``. A global line with
  high-breakdown fits, rather than per-texture bins, keeps a pasted region
  from setting its own reference when it holds much of one texture range.
  Negative ``z_d`` are multiplied by the confidence: a grid can only be missed
  where the content would carry one.
* **Heatmap.** Two tests of the pair ``(z_h, z_v)``, the larger taken:
  ``|z_h + z_v| / sqrt(2)`` (both directions changed the same way, e.g. a
  region from another quality: stronger, or shifted/missing in both) and the
  normal quantile with the same tail as ``z_h^2 + z_v^2`` under chi-square(2)
  (opposite changes, e.g. a region shifted along one axis only, which would
  cancel in the sum). With ``s`` that statistic, the heatmap is
  ``1 / (1 + exp(-(s - 3.5) / 0.5))``: 0.5 at 3.5 robust standard deviations
  (normal tail 2.3e-4 per cell and test). One value per 8x8 cell from the
  image origin (``stride = 8``).
* **Score.** Cells with heatmap >= 0.5 are grouped into 8-connected regions.
  A region of ``n`` cells scores its mean heatmap times
  ``1 - exp(-max(0, n - A) / A)``, ``A = (7 + 33 / 8)^2`` = 124 cells being
  the area one heatmap value depends on (7x7 cells of smoothing widened by
  the 33-sample BAG window): a region no bigger than one noise correlation
  area counts for nothing, one of 2A = 250 cells (e.g. 126x126 pixels) scores
  0.63 of its mean heatmap. The image score is the best region's.
* **Confidence** per cell ``= (1 - exp(-t / 1.0)) * (1 - c)``, with ``t`` as
  above (both directions, 7x7 cells) and ``c`` the share of pixels within 4
  grey levels of 0 or 255, where the decoder's clipping erases quantization
  steps: low in flat or saturated areas, where no grid can be measured.

Applicability: an image whose pixels show no 8-periodic blocking (never
compressed, resized after compression, or nearly lossless) has nothing to
compare, and the method raises ``NotApplicable`` rather than return a score of
0 that would read as "checked and consistent". The test is the Rayleigh test
of uniformity of the grid phasors of non-overlapping 64x64-pixel tiles (32x32
in images with fewer than 16 such tiles), each normalised by its texture
energy: with ``Z = |sum F|^2 / sum |F|^2`` per direction, ``Z_h + Z_v`` is
about Gamma(2, 1) when tile phases are random, and the method does not apply
when the tail probability ``(1 + z) exp(-z)`` is above 1e-6 (``z < 16.7``).
Tiles are about as big as the analysis window, so they are close to
independent. Resampling can leave a weak 8-periodic component that passes the
test (seen after scaling by 0.7 or 1.5); the map then stays nearly empty.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import cv2
import numpy as np
from scipy import special

from ._grid import _PERIOD, GridProfile, grid_phasor, grid_profile, rayleigh_z, shared_grid_profile  # noqa: F401
from .._regions import connected_regions
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

def block_values(profile: GridProfile, offset: tuple[int, int]) -> np.ndarray:
    """The paper's raw block value per 8x8 cell, for a grid at ``offset``.

    ``(max of interior column sums - min of border column sums) + (same for
    rows)``, the border positions being ``dx - 1`` and ``dx`` (``dy - 1`` and
    ``dy``): negative where the grid sits on the block borders, positive where
    it is shifted into the block, near 0 where it is missing. Cells are the
    origin-aligned ones of :func:`grid_profile`; border and interior are told
    apart by position modulo 8, as on blocks aligned with the grid. Column sums
    over the 8 rows of a cell are 8 times the value at the cell's centre row
    (see the module notes).
    """
    out = np.zeros(profile.bag_h.shape[:2], dtype=np.float32)
    for bag, start in ((profile.bag_h, offset[0]), (profile.bag_v, offset[1])):
        border = np.array([(start - 1) % _PERIOD, start % _PERIOD])
        interior = np.setdiff1d(np.arange(_PERIOD), border)
        out += _PERIOD * (bag[..., interior].max(axis=2) - bag[..., border].min(axis=2))
    return out


def _phase_of_boundary(f: np.ndarray) -> np.ndarray:
    # Lines between positions k-1 and k put equal peaks on both, so the first
    # harmonic points at k - 0.5.
    return np.mod(0.5 - np.angle(f) * _PERIOD / (2 * np.pi), _PERIOD)


def _boundary_phasor(k: int) -> complex:
    return complex(np.exp(-2j * np.pi * (k - 0.5) / _PERIOD))


def _conditional_z(
    values: np.ndarray, covariate: np.ndarray, where: np.ndarray, max_samples: int = 20000
) -> np.ndarray:
    """Robust z-score of ``values`` given a linear trend in ``covariate``.

    Location and scale are both lines in ``covariate``, fitted on the cells in
    ``where``: the location by median (least absolute deviation) regression,
    refined with Tukey's biweight (c = 4.685), the scale by median regression
    of the absolute residuals times 1.4826 (a local MAD). Median regressions
    keep a tampered region from setting its own reference even where it holds
    a good part of the cells of some texture range.
    """
    use = where if where.sum() >= 16 else np.ones_like(where, dtype=bool)
    x = covariate[use]
    y = values[use]
    # A regular subsample is plenty for two-parameter lines and keeps 12 MP fast.
    step = max(1, x.size // max_samples)
    x = x[::step].astype(np.float64)
    y = y[::step].astype(np.float64)
    design = np.stack([np.ones_like(x), x], axis=1)
    loc = _median_line(design, y)
    scale = _median_line(design, np.abs(y - design @ loc)) * 1.4826
    # A line can run to zero or below at the ends of the texture range; a floor
    # at a quarter of the typical spread keeps every z finite.
    floor = max(0.25 * float(np.median(design @ scale)), 1e-9)
    for _ in range(10):
        u = (y - design @ loc) / (4.685 * np.maximum(design @ scale, floor))
        new = _weighted_line(design, y, np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0))
        if np.allclose(new, loc, rtol=1e-6, atol=1e-9):
            break
        loc = new
    scale = _median_line(design, np.abs(y - design @ loc)) * 1.4826
    floor = max(0.25 * float(np.median(design @ scale)), 1e-9)
    sigma = np.maximum(covariate * scale[1] + scale[0], floor)
    return (values - (covariate * loc[1] + loc[0])) / sigma


def _median_line(design: np.ndarray, y: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Least-absolute-deviation line by iteratively reweighted least squares."""
    weights = np.ones_like(y)
    coef = _weighted_line(design, y, weights)
    for _ in range(iterations):
        weights = 1.0 / np.maximum(np.abs(y - design @ coef), 1e-6 * (np.abs(y).mean() + 1e-12))
        coef = _weighted_line(design, y, weights)
    return coef


def _weighted_line(design: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    wd = design * weights[:, None]
    gram = design.T @ wd
    if np.linalg.cond(gram) > 1e10:  # one texture level only: a constant
        total = max(float(weights.sum()), 1e-12)
        return np.array([float(weights @ y) / total, 0.0])
    return np.linalg.solve(gram, wd.T @ y)


def _smooth(a: np.ndarray, size: int) -> np.ndarray:
    return cv2.blur(np.ascontiguousarray(a, dtype=np.float32), (size, size), borderType=cv2.BORDER_REPLICATE)


def _clipped_share(y: np.ndarray, margin: float) -> np.ndarray:
    """Share of pixels per 8x8 cell within ``margin`` grey levels of 0 or 255."""
    inside = cv2.inRange(y, margin + 0.5, 255.0 - margin - 0.5)
    h, w = y.shape
    pad_h, pad_w = -h % _PERIOD, -w % _PERIOD
    if pad_h or pad_w:
        inside = cv2.copyMakeBorder(inside, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    cells = (inside.shape[1] // _PERIOD, inside.shape[0] // _PERIOD)
    # INTER_AREA with an integer factor is the block mean (rounded to 1/255 on uint8).
    return 1.0 - cv2.resize(inside, cells, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


@register
@dataclasses.dataclass
class BlockArtifactGrid(Detector):
    """Inconsistencies of the JPEG block artifact grid (Li, Yuan, Yu 2009).

    See the module docstring for the method and for how the heatmap, score and
    confidence are built.

    Parameters
    ----------
    diff_threshold : float
        Second differences above this (grey levels) are edges and dropped.
    window : int
        Line-sum length and median taps of the BAG extraction (odd).
    smoothing : int
        Side, in 8x8 cells, of the box over which grid shares are averaged.
    z_half : float
        Robust z-score at which the heatmap reaches 0.5.
    z_width : float
        Logistic width of the heatmap squashing, in z units.
    texture_floor : float
        Grey levels per sample added to the texture energy before dividing.
    confidence_scale : float
        Mean absolute second difference (grey levels) at which the texture
        term of the confidence reaches 1 - 1/e.
    clip_margin : float
        Pixels within this many grey levels of 0 or 255 count as clipped.
    min_rayleigh_z : float
        Grid-presence statistic ``Z_h + Z_v`` below which the method does not
        apply (16.7 is a tail probability of 1e-6 under random phases).
    """

    name: ClassVar[str] = "blk"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "W. Li, Y. Yuan, N. Yu, Passive detection of doctored JPEG image via block artifact grid "
        "extraction, Signal Processing 89(9), 2009"
    )
    summary: ClassVar[str] = "8x8 JPEG block grid that is much stronger, shifted or missing in a region"
    title: ClassVar[str] = "JPEG block grid (BLK)"
    trace: ClassVar[str] = (
        "shows a JPEG 8x8 block grid that is stronger, shifted or missing compared with the rest"
    )
    requires: ClassVar[frozenset[str]] = frozenset()

    diff_threshold: float = 50.0
    window: int = 33
    smoothing: int = 7
    z_half: float = 3.5
    z_width: float = 0.5
    texture_floor: float = 0.5
    confidence_scale: float = 1.0
    clip_margin: float = 4.0
    min_rayleigh_z: float = 16.7

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        if min(h, w) < 4 * _PERIOD:
            raise NotApplicable(f"{w}x{h} is too small to measure an 8-pixel block grid")
        y = image.luminance()
        profile = shared_grid_profile(image, self.diff_threshold, self.window)
        samples = profile.samples * _PERIOD
        floor = samples * self.texture_floor
        k = self.smoothing

        phasors = {"h": grid_phasor(profile.bag_h), "v": grid_phasor(profile.bag_v)}
        textures = {"h": profile.texture_h, "v": profile.texture_v}

        rayleigh = {d: rayleigh_z(phasors[d], textures[d], floor) for d in phasors}
        presence = rayleigh["h"][0] + rayleigh["v"][0]
        facts: dict = {"rayleigh_z": [round(rayleigh["h"][0], 1), round(rayleigh["v"][0], 1)]}
        # Z of one direction cannot exceed its number of tiles.
        if rayleigh["h"][1] + rayleigh["v"][1] < self.min_rayleigh_z:
            raise NotApplicable(
                f"{w}x{h} is too small to establish an 8x8 block grid: {rayleigh['h'][1]} tiles "
                f"for the grid-presence test, which cannot reach {self.min_rayleigh_z} with fewer than "
                f"{int(np.ceil(self.min_rayleigh_z / 2))}"
            )
        if presence < self.min_rayleigh_z:
            raise NotApplicable(
                "no 8x8 JPEG block grid in the pixels (grid-presence statistic "
                f"{presence:.1f} < {self.min_rayleigh_z}, tail probability "
                f"{_gamma2_tail(presence):.1e} under random phases): never JPEG-compressed, "
                "resized after compression, or nearly lossless"
            )

        texture_mean = {d: _smooth(textures[d], k) / samples for d in textures}
        clipped = _smooth(_clipped_share(y, self.clip_margin), k)
        t = 0.5 * (texture_mean["h"] + texture_mean["v"])
        confidence = (1.0 - np.exp(-t / self.confidence_scale)) * (1.0 - clipped)
        confident = confidence >= 0.5
        if not confident.any():
            confident = np.ones_like(confidence, dtype=bool)

        offset, strength, zs = [], [], []
        for d in ("h", "v"):
            share = phasors[d] / (textures[d] + floor)
            local = _smooth(share.real, k) + 1j * _smooth(share.imag, k)
            votes = np.rint(_phase_of_boundary(local[confident])).astype(np.int64) % _PERIOD
            start = int(np.argmax(np.bincount(votes, minlength=_PERIOD)))
            aligned = (local * np.conj(_boundary_phasor(start))).real
            z = _conditional_z(aligned, np.log(texture_mean[d] + 0.1), confident)
            # A weak grid only counts where the content could carry one.
            zs.append(np.where(z < 0, z * confidence, z))
            offset.append(start)
            strength.append(float(np.median(aligned[confident])))
        # Same-sign evidence of both directions adds up (a region of another quality);
        # opposite signs (a region shifted along one axis only) would cancel in a sum,
        # so an omnibus chi-square of both takes over there.
        joint = (zs[0] + zs[1]) / np.sqrt(2.0)
        s = np.maximum(np.abs(joint), _normal_equivalent(zs[0] ** 2 + zs[1] ** 2))
        # Label each cell by the direction with the larger deviation.
        weaker = np.where(np.abs(zs[0]) >= np.abs(zs[1]), zs[0], zs[1]) < 0
        heat = (1.0 / (1.0 + np.exp(-(s - self.z_half) / self.z_width))).astype(np.float32)

        noise_area = (k + self.window / _PERIOD) ** 2
        score, largest = _region_score(heat, noise_area)
        high = heat >= 0.5
        share_flagged = float(high.mean())
        facts.update(
            {
                "grid_offset": offset,
                "grid_strength": round(float(np.mean(strength)), 4),
                "flagged_block_share": round(share_flagged, 4),
                "stronger_block_share": round(float((high & ~weaker).mean()), 4),
                "weaker_block_share": round(float((high & weaker).mean()), 4),
                "largest_region_blocks": int(largest),
                "confident_block_share": round(float(confident.mean()), 4),
            }
        )
        notes = [
            f"Dominant JPEG block grid at offset ({offset[0]}, {offset[1]}); "
            f"{100 * share_flagged:.1f}% of blocks show a different grid "
            f"({100 * facts['stronger_block_share']:.1f}% much stronger, "
            f"{100 * facts['weaker_block_share']:.1f}% shifted or missing).",
            f"Median 8-periodic share of the local difference energy on the dominant grid: "
            f"{facts['grid_strength']:.3f}; largest connected region of differing blocks: "
            f"{largest} blocks (regions up to {noise_area:.0f} blocks do not count toward the score).",
        ]
        return Finding(
            score=score,
            heatmap=heat,
            stride=_PERIOD,
            confidence=confidence.astype(np.float32),
            notes=notes,
            facts=facts,
        )


def _normal_equivalent(chi2: np.ndarray) -> np.ndarray:
    """Normal quantile with the same upper tail as a chi-square with 2 degrees of freedom."""
    # The chi-square(2) tail is exp(-x / 2); clipping it at 1e-300 caps the quantile at 37.
    return -special.ndtri(np.exp(-np.minimum(chi2, 1400.0) / 2.0).clip(1e-300, 0.5))


def _gamma2_tail(z: float) -> float:
    return float((1.0 + z) * np.exp(-z))


def _region_score(heat: np.ndarray, noise_area: float) -> tuple[float, int]:
    """Best size-discounted region score and the size of the largest region."""
    regions = connected_regions(heat >= 0.5)
    if regions.count == 0:
        return 0.0, 0
    sizes = regions.sizes
    region_scores = regions.mean(heat) * (1.0 - np.exp(-np.maximum(0.0, sizes - noise_area) / noise_area))
    return float(region_scores.max()), int(sizes.max())
