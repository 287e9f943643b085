"""Extraction: is the keyed mark there (global), and where is it broken (local)?

Global: every judged (cell, coefficient) pair decodes one bit. Without the
mark (a never-protected image, or the wrong key) each bit matches its
expected value with probability 1/2 independently, because the dither is
uniform and unrelated to the content, so the number of matches follows the
binomial law B(n, 1/2). The mark is reported present only when that null is
rejected at ``log10 p <= presence_log10_p`` (default -9) on the best of the
grids and steps tried (a resized copy is looked for on each working size and
its neighbouring aspect roundings, each with every step protect may choose;
with 21 grids and 8 steps the chance that an unmarked image passes is below
168 x 1e-9 < 2e-7). Only then is a tamper map produced: an absent mark gives
"no watermark found", never a map.

Local (the MaskMark idea of local extraction): each cell's soft agreement is
averaged over its coefficients and over its 3x3 neighbourhood; intact cells
stay near +1 after JPEG 75 or a 0.75 resize, cells whose content changed
average 0. Cells below ``threshold`` form the tamper mask; connected groups
smaller than ``min_cells`` are dropped as noise. Black cells carry no mark
(protect leaves them untouched, see :mod:`.scheme`); verify does not judge
them, and a connected black area joins the edit when most judged cells on
its rim are broken (see :func:`_broken`). The pixel mask
then refines the boundary of each kept group below the cell size by
interpolating the cell scores (:meth:`Verification.mask`): on a 384x256
image a cell is 12 pixels and a 2-3% edit only four or five cells wide, so
whole-cell boundaries alone cost it much of its IoU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage, stats

from .scheme import (
    SCHEME,
    Grid,
    VERIFY_DARK,
    Scheme,
    coefficients,
    dark_cells,
    grid_for,
    keyed_stream,
    luminance,
    qim_agreement,
    to_work,
)


@dataclass(frozen=True)
class VerifyParams:
    """Decision thresholds of verify.

    Attributes
    ----------
    presence_log10_p : float
        The mark is present when the binomial tail probability of the bit
        matches is at most 10**this.
    threshold : float
        A cell is broken when its smoothed soft agreement is below this
        (intact cells measure about 0.9 after JPEG 75, broken ones about 0).
    min_cells : int
        Smallest group of broken cells reported.
    """

    presence_log10_p: float = -9.0
    threshold: float = 0.35
    min_cells: int = 4


@dataclass
class Verification:
    """The answer of :func:`verify` for one image and one key."""

    present: bool
    log10_p: float
    bit_accuracy: float
    bits: int
    grid: Grid | None
    shape: tuple[int, int]
    cell_score: np.ndarray | None = field(default=None, repr=False)
    cell_mask: np.ndarray | None = field(default=None, repr=False)
    judged: np.ndarray | None = field(default=None, repr=False)
    threshold: float = 0.35
    step: float | None = None

    @property
    def tampered_share(self) -> float:
        """Share of the image whose mark is broken (0 when no mark was found)."""
        if not self.present or self.cell_mask is None:
            return 0.0
        return float(self.cell_mask.mean())

    @property
    def judged_share(self) -> float:
        return 0.0 if self.judged is None else float(self.judged.mean())

    def mask(self) -> np.ndarray:
        """Boolean tamper mask at the image's size (all False when no mark was found), refined below a cell."""
        if not self.present or self.cell_mask is None or not self.cell_mask.any():
            return np.zeros(self.shape, dtype=bool)
        return self._fine()[1]

    def heatmap_cells(self) -> np.ndarray:
        """Per cell, float32 in [0, 1]: 0.5 at the threshold, 1 at agreement 0 or below; >= 0.5 exactly on the mask."""
        if not self.present or self.cell_score is None:
            rows, cols = (1, 1) if self.grid is None else (self.grid.rows, self.grid.cols)
            return np.zeros((rows, cols), dtype=np.float32)
        heat = np.clip(0.5 + 0.5 * (self.threshold - self.cell_score) / self.threshold, 0.0, 1.0)
        return np.where(self.cell_mask, np.maximum(heat, 0.5), np.minimum(heat, 0.49)).astype(np.float32)

    def heatmap(self) -> np.ndarray:
        """float32 in [0, 1] at the image's size: >= 0.5 exactly on :meth:`mask`, 1 at agreement 0 or below."""
        if not self.present or self.cell_mask is None:
            return np.zeros(self.shape, dtype=np.float32)
        heat, inside = self._fine()
        return np.where(inside, np.maximum(heat, 0.5), np.minimum(heat, 0.49)).astype(np.float32)

    def _fine(self) -> tuple[np.ndarray, np.ndarray]:
        """Sub-cell refinement of the broken groups: (heat at each pixel, mask at each pixel).

        Across a straight edit boundary the 3x3-smoothed score falls from the
        intact level ``I`` through ``2I/3`` (the outer neighbour) and ``I/3``
        (the inner one) to 0, so its linear interpolation between cell
        centres crosses ``I/2`` on the boundary itself, also when the boundary
        cuts through a cell. ``I`` is the median score of the judged cells
        away from the broken groups (JPEG or resizing lowers it); the
        threshold is never below the cell decision's. The refinement only
        moves the boundaries of the groups the cell decision kept: it is
        confined to their judged cells and judged neighbours; unjudged
        (black) cells keep the cell decision.
        """
        height, width = self.shape
        near = ndimage.binary_dilation(self.cell_mask, structure=np.ones((3, 3), dtype=bool))
        away = ~near & self.judged
        intact_level = float(np.median(self.cell_score[away])) if away.any() else 1.0
        threshold = max(intact_level / 2, self.threshold)
        fine = cv2.resize(self.cell_score.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        refinable = self._to_image((near & self.judged).astype(np.uint8)).astype(bool)
        kept = self._to_image((self.cell_mask & ~self.judged).astype(np.uint8)).astype(bool)
        inside = ((fine < threshold) & refinable) | kept
        heat = np.clip(0.5 + 0.5 * (threshold - fine) / threshold, 0.0, 1.0)
        return heat, inside

    def _to_image(self, cells: np.ndarray) -> np.ndarray:
        height, width = self.shape
        return cv2.resize(cells, (width, height), interpolation=cv2.INTER_NEAREST)


def verify(pixels: np.ndarray, key: bytes, scheme: Scheme = SCHEME,
           params: VerifyParams = VerifyParams()) -> Verification:
    """Look for the mark of ``key`` in uint8 RGB (or grey) ``pixels`` and map where it is broken."""
    shape = pixels.shape[:2]
    if not key:
        return Verification(False, 0.0, 0.0, 0, None, shape, threshold=params.threshold)
    luma = luminance(pixels)
    best = None
    for grid in _candidate_grids(shape, scheme):
        candidate = _decode(luma, key, grid, scheme)
        if candidate is not None and (best is None or candidate[0] < best[0]):
            best = candidate
        if best is not None and best[0] <= params.presence_log10_p:
            break
    if best is None:
        return Verification(False, 0.0, 0.0, 0, None, shape, threshold=params.threshold)
    log10_p, grid, step, agreement, judged = best
    matches = agreement[judged] > 0
    accuracy = float(matches.mean()) if matches.size else 0.0
    if log10_p > params.presence_log10_p:
        return Verification(False, log10_p, accuracy, int(matches.size), grid, shape, threshold=params.threshold)
    cell_score = _smoothed_cells(agreement, judged)
    cell_mask = _broken(cell_score, judged, params)
    return Verification(True, log10_p, accuracy, int(matches.size), grid, shape, cell_score, cell_mask,
                        judged.all(axis=2), params.threshold, step)


def _candidate_grids(shape: tuple[int, int], scheme: Scheme) -> list[Grid]:
    """Grids to try, most likely first: the working side protect would pick for this size,
    then those of a copy resized by other factors, then aspect roundings one block off."""
    expected = scheme.work_ratio * max(shape)
    sides = sorted(scheme.work_sides, key=lambda side: abs(np.log(side / expected)))
    exact = [grid_for(shape, side, scheme.block) for side in sides]
    neighbours = [grid_for(shape, side, scheme.block, shift) for side in sides for shift in (-1, 1)]
    return exact + neighbours


def _decode(luma: np.ndarray, key: bytes, grid: Grid, scheme: Scheme):
    """The best step on one grid: (log10 p, grid, step, agreement, judged), or None when the grid is too small.

    The working image and its coefficients are computed once; each step
    only re-reads them against its own lattice.
    """
    if grid.rows < 2 or grid.cols < 2:
        return None
    work = to_work(luma, grid)
    values = coefficients(work, grid, scheme)
    # Black cells carry no mark (protect leaves them untouched): not judged.
    judged = np.broadcast_to(~dark_cells(work, grid, *VERIFY_DARK)[..., None], values.shape).copy()
    if not judged.any():
        return None
    bits, dither = keyed_stream(key, grid, scheme.bits_per_cell)
    # Counting the matches of each step only needs the lattice error in units of the step
    # (float32, a few operations); the full agreement is computed for the best step alone.
    # The tail probability only grows with the matches (the judged bits are the same for every step).
    lattice = (dither + 0.5 * bits).astype(np.float32)
    scaled = values.astype(np.float32)
    best_matches, best_step = -1, None
    for step in scheme.steps:
        error = scaled * np.float32(1.0 / step) - lattice
        error -= np.floor(error + np.float32(0.5))
        matches = int(np.count_nonzero((np.abs(error) < 0.25) & judged))
        if matches > best_matches:
            best_matches, best_step = matches, float(step)
    log10_p = _log10_tail(best_matches, int(judged.sum()))
    best_agreement = qim_agreement(values, bits, dither, best_step)
    return log10_p, grid, best_step, best_agreement, judged


def _log10_tail(matches: int, total: int) -> float:
    """log10 P(X >= matches) for X ~ B(total, 1/2); the Chernoff bound where the exact value underflows."""
    exact = float(stats.binom.logsf(matches - 1, total, 0.5))
    if np.isfinite(exact):
        return exact / np.log(10)
    share = matches / total
    divergence = share * np.log(2 * share) + (1 - share) * np.log(max(2 * (1 - share), 1e-300))
    return float(-total * divergence / np.log(10))


def _smoothed_cells(agreement: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Mean soft agreement of each cell and its 3x3 neighbours (judged coefficients only)."""
    weight = judged.astype(np.float64)
    total = ndimage.uniform_filter((agreement * weight).sum(axis=2), size=3, mode="nearest")
    count = ndimage.uniform_filter(weight.sum(axis=2), size=3, mode="nearest")
    return np.where(count > 0, total / np.maximum(count, 1e-9), 1.0)


def _broken(cell_score: np.ndarray, judged: np.ndarray, params: VerifyParams) -> np.ndarray:
    """Cells whose smoothed agreement is below the threshold, in groups of at least ``min_cells``.

    Black cells carry no mark (see :func:`.scheme.dark_cells`), so what
    happened to them cannot be read; each connected black area follows the
    majority of the judged cells around it: black content pasted inside an
    edit becomes part of it, and a black area that was there when the image
    was protected, next to an edit but also to intact cells, stays intact.
    """
    judged_cells = judged.all(axis=2)
    broken = (cell_score < params.threshold) & judged_cells
    if broken.any() and not judged_cells.all():
        broken |= _black_areas_inside(broken, judged_cells)
    labels, count = ndimage.label(broken, structure=np.ones((3, 3)))
    if count == 0:
        return broken
    sizes = ndimage.sum(broken, labels, index=np.arange(1, count + 1))
    keep = np.zeros(count + 1, dtype=bool)
    keep[1:] = sizes >= params.min_cells
    return keep[labels]


def _black_areas_inside(broken: np.ndarray, judged_cells: np.ndarray) -> np.ndarray:
    """Unjudged cells whose connected area borders more broken than intact judged cells."""
    eight = np.ones((3, 3), dtype=bool)
    areas, count = ndimage.label(~judged_cells, structure=eight)
    if count == 0:
        return np.zeros_like(broken)
    # Each judged cell on the rim of an area votes for it (for one of them where two areas meet).
    rim_of = np.where(judged_cells, ndimage.maximum_filter(areas, footprint=eight, mode="constant"), 0)
    votes = np.bincount(rim_of.ravel(), minlength=count + 1)
    broken_votes = np.bincount(rim_of.ravel(), weights=broken.ravel().astype(np.float64), minlength=count + 1)
    inside = np.zeros(count + 1, dtype=bool)
    inside[1:] = broken_votes[1:] > votes[1:] / 2
    return inside[areas]
