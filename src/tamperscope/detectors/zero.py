"""ZERO: JPEG grid detection by counting zero DCT coefficients, with a-contrario validation.

T. Nikoukhah, J. Anger, M. Colom, J.-M. Morel, R. Grompone von Gioi, "ZERO: a
Local JPEG Grid Origin Detector Based on the Number of DCT Zeros and its
Applications in Image Forensics", Image Processing On Line 11 (2021), 396-433
(precursor: "JPEG grid detection based on the number of DCT zeros and its
application to automatic and localized forgery detection", CVPR Workshops 2019).

JPEG quantizes the DCT of each 8x8 block of its grid, so many coefficients of
those blocks are exactly zero; an 8x8 window off the grid mixes four blocks and
has far fewer near-zero coefficients. The method works on the decoded pixels
only:

1. Luminance ``round(0.299 R + 0.587 G + 0.114 B)``.
2. For every 8x8 window (every top-left ``(x, y)``), the orthonormal 2-D DCT;
   ``z`` = number of its 63 AC coefficients with ``|c| < 0.5`` (the midpoint
   between 0 and the finest quantization step, 1).
3. Every pixel looks at the 64 windows that cover it and votes for the grid
   origin ``(x mod 8) + 8 (y mod 8)`` of the one with most zeros; it does not
   vote on a tie, when the best window has no zero, when that window is
   constant along x or along y (such windows have zeros on every grid), or
   within 7 pixels of the border.
4. Global grid: with ``N_T = 64^2 X^2 Y^2`` tests, ``n = XY / 64`` and
   ``k = votes(g) / 64`` (a block's 64 pixels vote together, so dividing by 64
   counts roughly independent votes), ``NFA(g) = N_T P[Bin(n, 1/64) >= k]``.
   The most voted grid is the image's main grid if ``NFA < 1``; otherwise no
   JPEG grid is found (never compressed, resized, or too high a quality).
5. Local grids: pixels voting for the same grid other than the main one are
   grown into regions (two votes join when at most ``W = 9`` pixels apart); a
   region of at least ``ceil(64 log10(N_T) / log10(64))`` votes is meaningful
   when ``NFA = N_T P[Bin(bbox area / 64, 1/64) >= votes / 64] < 1``.
6. The mask of meaningful regions is regularised by a morphological closing
   with a ``(2W + 1)`` square.

Optional (``missing_grids``, off by default as in PhotoHolmes): the image
recompressed at quality 99 has a grid at origin (0, 0) wherever it had none, so
regions voting (0, 0) after that recompression, among pixels that did not vote
for the main grid before, are regions whose JPEG grid is missing. Quality 99
quantizes with step 1, so only coefficients already below 0.5 become zeros:
it works in smooth areas only. Measured: scikit-image's astronaut saved at
quality 80 with a 192x224 box pasted from the uncompressed photo, as PNG,
gave only 8% of the box's pixels voting (0, 0) after the recompression, and
no region was found.

Implementation notes (same outputs, different order of work):

* The paper's double loop over window positions is replaced by separable
  filtering: 8 horizontal 8-tap DCT filters, then 8 vertical ones per
  horizontal output, give every coefficient of every window; the image is
  processed in strips of rows so memory stays bounded on large images.
* The per-pixel vote (max over the 64 covering windows, ties abstain) is a
  pass over the 64 shifts of the window-count map. The sequential update of the
  reference code gives the same result: a pixel keeps the strictly largest
  count and abstains if that count is reached twice.
* Region growing with a ``(2W + 1)`` neighbourhood equals 8-connected labelling
  of the votes dilated by a ``W``-wide square (two such squares touch or
  overlap exactly when their centres are at most ``W`` apart); the dilation never
  reaches the image edge because the 7-pixel border does not vote. Grids whose
  votes cannot form a region of the minimal size (an exact bound computed on
  8x8 cells, see :func:`may_hold_a_region`) are not labelled at full resolution.

Score: ``1 / (1 + NFA)`` of the most meaningful local region, so 0.5 is the
paper's own detection threshold ``NFA = 1`` (at most one false detection is
expected per image under the a-contrario model); 0 when no region is large
enough to be tested. The heatmap is the closed mask per 8x8 cell (stride 8,
share of the cell's pixels in the mask); the confidence is the share of the
cell's pixels that voted, 3x3 averaged (flat, saturated or tied areas cannot
show a grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy import ndimage, stats

from ._jpeg import recompress
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

NO_VOTE = -1
#: Neighbourhood distance of the region growing, as in the reference code.
W = 9
#: Rows of windows computed per strip: bounds memory at about 40 bytes per pixel of the strip.
STRIP_ROWS = 256
#: Pixel rows per pass of the per-pixel vote.
VOTE_STRIP_ROWS = 64


def _dct_basis() -> np.ndarray:
    """Orthonormal 8-point DCT-II basis, ``basis[k, n]`` (frequency k, sample n)."""
    n = np.arange(8)
    basis = np.cos((2 * n[None, :] + 1) * n[:, None] * np.pi / 16) * math.sqrt(2 / 8)
    basis[0] /= math.sqrt(2)
    return basis.astype(np.float32)


_BASIS = _dct_basis()


def window_zero_counts(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zeros (``|c| < 0.5``, DC excluded) of the DCT of every 8x8 window, and whether the
    window is constant along x or along y.

    Both are ``(H - 7, W - 7)``, indexed by the window's top-left pixel.
    """
    height, width = luma.shape
    rows, cols = height - 7, width - 7
    counts = np.zeros((rows, cols), dtype=np.uint16)
    for top in range(0, rows, STRIP_ROWS):
        strip = luma[top : min(top + STRIP_ROWS, rows) + 7]
        counts[top : top + strip.shape[0] - 7] = _strip_zero_counts(strip)
    return counts, _constant_windows(luma)


def _strip_zero_counts(strip: np.ndarray) -> np.ndarray:
    rows, cols = strip.shape[0] - 7, strip.shape[1] - 7
    counts = np.zeros((rows, cols), dtype=np.uint16)
    for j in range(8):
        # cv2.filter2D correlates; anchor (0, 0) puts window (y, x) at output (y, x).
        horizontal = cv2.filter2D(strip, cv2.CV_32F, _BASIS[j][None, :], anchor=(0, 0),
                                  borderType=cv2.BORDER_CONSTANT)
        for i in range(8):
            if i == 0 and j == 0:
                continue  # the DC term depends on brightness, not on quantization
            coefficient = cv2.filter2D(horizontal, cv2.CV_32F, _BASIS[i][:, None], anchor=(0, 0),
                                       borderType=cv2.BORDER_CONSTANT)[:rows, :cols]
            counts += cv2.inRange(coefficient, -0.4999, 0.4999)[:rows, :cols] // 255
    return counts


def _constant_windows(luma: np.ndarray) -> np.ndarray:
    rows, cols = luma.shape[0] - 7, luma.shape[1] - 7
    changes_x = (np.diff(luma, axis=1) != 0).astype(np.float32)  # (H, W-1)
    changes_y = (np.diff(luma, axis=0) != 0).astype(np.float32)  # (H-1, W)
    along_x = _window_sum(changes_x, 8, 7)[:rows, :cols] == 0
    along_y = _window_sum(changes_y, 7, 8)[:rows, :cols] == 0
    return along_x | along_y


def _window_sum(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Sum over the ``height`` x ``width`` window whose top-left is each element (valid part)."""
    total = cv2.boxFilter(a, cv2.CV_32F, (width, height), anchor=(0, 0), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    return np.rint(total)


def vote_map(luma: np.ndarray) -> np.ndarray:
    """Per-pixel grid vote (0..63, or ``NO_VOTE``), int8 of the luminance's shape."""
    height, width = luma.shape
    counts, constant = window_zero_counts(luma)
    # Pad so that "window (py - a, px - b)" is one slice for every pixel; padding never wins.
    padded = np.full((height + 7, width + 7), -1, dtype=np.int16)
    padded[7 : 7 + counts.shape[0], 7 : 7 + counts.shape[1]] = counts
    padded_constant = np.zeros(padded.shape, dtype=bool)
    padded_constant[7 : 7 + counts.shape[0], 7 : 7 + counts.shape[1]] = constant
    best = cv2.dilate(padded, np.ones((8, 8), np.uint8), anchor=(7, 7), borderType=cv2.BORDER_CONSTANT,
                      borderValue=-1)[7:, 7:]
    votes = np.empty((height, width), dtype=np.int8)
    # Strips of rows keep the 64 passes below in cache on large images.
    for top in range(0, height, VOTE_STRIP_ROWS):
        rows = slice(top, min(top + VOTE_STRIP_ROWS, height))
        votes[rows] = _strip_votes(padded, padded_constant, best[rows], top, width)
    votes[best <= 0] = NO_VOTE
    votes[:7] = votes[-7:] = NO_VOTE
    votes[:, :7] = votes[:, -7:] = NO_VOTE
    return votes


def _strip_votes(padded: np.ndarray, padded_constant: np.ndarray, best: np.ndarray, top: int,
                 width: int) -> np.ndarray:
    """Votes of the pixel rows ``top .. top + len(best)``: the unique window reaching ``best``."""
    height = best.shape[0]
    ties = np.zeros((height, width), dtype=np.uint8)
    winner = np.zeros((height, width), dtype=np.int8)  # a * 8 + b of the winning shift
    winner_constant = np.zeros((height, width), dtype=bool)
    hit = np.empty((height, width), dtype=bool)
    for a in range(8):
        for b in range(8):
            window = (slice(top + 7 - a, top + 7 - a + height), slice(7 - b, 7 - b + width))
            np.equal(padded[window], best, out=hit)
            ties += hit
            # copyto with a mask, not boolean indexing: no index arrays.
            np.copyto(winner, np.int8(a * 8 + b), where=hit)
            np.copyto(winner_constant, padded_constant[window], where=hit)
    shift_y, shift_x = winner // 8, winner % 8
    y, x = np.ogrid[top : top + height, :width]
    votes = (((x - shift_x) % 8) + 8 * ((y - shift_y) % 8)).astype(np.int8)
    votes[(ties != 1) | winner_constant] = NO_VOTE
    return votes


def log_nfa(n: int, k: int, p: float, log_tests: float) -> float:
    """log10 of ``N_T P[Bin(n, p) >= k]``."""
    if n <= 0 or k <= 0:
        return log_tests
    k = min(k, n)
    tail = stats.binom.logsf(k - 1, n, p)
    if not np.isfinite(tail):  # underflow: the first term of the tail is a tight lower bound
        tail = stats.binom.logpmf(k, n, p)
    return float(tail / math.log(10) + log_tests)


@dataclass
class GridRegion:
    """A connected set of votes for one grid; bounding box inclusive, in pixels."""

    grid: int
    votes: int
    x0: int
    y0: int
    x1: int
    y1: int
    lnfa: float

    @property
    def origin(self) -> tuple[int, int]:
        return self.grid % 8, self.grid // 8


def grid_regions(
    votes: np.ndarray, exclude: int, grid_max: int, log_tests: float
) -> tuple[list[GridRegion], np.ndarray]:
    """Regions of votes for one grid (not ``exclude``, at most ``grid_max``) large enough to be
    tested, with their log-NFA, and the mask of the votes of the meaningful ones (NFA < 1)."""
    min_size = math.ceil(64 * log_tests / math.log10(64))
    counts = np.bincount(votes[votes >= 0].astype(np.int64), minlength=64)
    found: list[GridRegion] = []
    meaningful = np.zeros(votes.shape, dtype=bool)
    # Votes at most W apart join: their W x W squares (half-width W // 2) touch or overlap.
    square = np.ones((W, W), np.uint8)
    half = W // 2
    cells = cell_vote_counts(votes)
    for grid in range(grid_max + 1):
        if grid == exclude or counts[grid] < min_size:
            continue
        if not may_hold_a_region(cells[grid], min_size):
            continue
        mask = votes == grid
        grown = cv2.dilate(mask.astype(np.uint8), square)
        count, labels, box, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        sizes = np.bincount(labels[mask], minlength=count)
        sizes[0] = 0
        keep = np.zeros(count, dtype=bool)
        for label in np.flatnonzero(sizes >= min_size):
            x0, y0 = box[label, 0] + half, box[label, 1] + half
            x1, y1 = box[label, 0] + box[label, 2] - 1 - half, box[label, 1] + box[label, 3] - 1 - half
            n = (x1 - x0 + 1) * (y1 - y0 + 1) // 64
            region = GridRegion(grid, int(sizes[label]), int(x0), int(y0), int(x1), int(y1),
                                log_nfa(n, int(sizes[label]) // 64, 1 / 64, log_tests))
            found.append(region)
            keep[label] = region.lnfa < 0
        if keep.any():
            meaningful |= keep[labels] & mask
    return found, meaningful


def cell_vote_counts(votes: np.ndarray) -> np.ndarray:
    """Votes per grid in every 8x8-pixel cell, shape (64, rows, cols), from one pass over the image."""
    rows, cols = -(-votes.shape[0] // 8), -(-votes.shape[1] // 8)
    cell = (np.arange(votes.shape[0], dtype=np.int32) // 8)[:, None] * cols + np.arange(votes.shape[1],
                                                                                      dtype=np.int32) // 8
    # Non-votes (-1) fall in an extra leading plane that is dropped.
    index = (votes.astype(np.int32) + 1) * (rows * cols) + cell
    counts = np.bincount(index.ravel(), minlength=65 * rows * cols)
    return counts[rows * cols :].astype(np.int32).reshape(64, rows, cols)


def may_hold_a_region(cell_counts: np.ndarray, min_size: int) -> bool:
    """False when no region grown from one grid's votes can reach ``min_size`` (an exact bound).

    A vote's W x W square (W = 9, reaching 4 pixels either side) lies within its 8x8 cell and the 8
    around it, so a grown region's cells lie in one 8-connected component of the occupied cells
    dilated by 3x3; the votes of that component bound every region inside it. Textured areas
    scatter votes for every grid, and this skips the full-resolution labelling for those grids.
    """
    coarse = cv2.dilate((cell_counts > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(coarse, connectivity=8)
    totals = np.bincount(labels.ravel(), weights=cell_counts.ravel(), minlength=count)
    totals[0] = 0
    return bool(totals.max() >= min_size)


def closed(mask: np.ndarray) -> np.ndarray:
    """The mask closed by a (2W + 1) square, as the reference code regularises it."""
    if not mask.any():
        return mask
    square = np.ones((2 * W + 1, 2 * W + 1), np.uint8)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, square, borderType=cv2.BORDER_CONSTANT,
                            borderValue=0).astype(bool)


@register
@dataclass
class Zero(Detector):
    """JPEG grid origin by DCT zeros, local grids by a-contrario NFA (Nikoukhah et al. 2021).

    Parameters
    ----------
    missing_grids : bool
        Also look for regions without any JPEG grid inside a JPEG image, by
        recompressing at quality 99 (doubles the running time).
    """

    missing_grids: bool = False

    name: ClassVar[str] = "zero"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "T. Nikoukhah, J. Anger, M. Colom, J.-M. Morel, R. Grompone von Gioi, 'ZERO: a Local JPEG Grid Origin "
        "Detector Based on the Number of DCT Zeros and its Applications in Image Forensics', Image Processing "
        "On Line 11 (2021) 396-433"
    )
    summary: ClassVar[str] = "8x8 JPEG grid origin from the count of zero DCT coefficients; local grids by NFA"
    title: ClassVar[str] = "JPEG grid alignment (ZERO)"
    trace: ClassVar[str] = "carries a JPEG block grid at a different position from the rest of the image"

    def analyze(self, image: Image) -> Finding:
        height, width = image.height, image.width
        if height < 32 or width < 32:
            raise NotApplicable(f"{width}x{height} is too small for the JPEG grid analysis (needs 32x32)")
        luma = np.rint(image.luminance()).astype(np.float32)
        votes = vote_map(luma)
        voting = votes >= 0
        if voting.mean() < 0.01:
            raise NotApplicable("almost no 8x8 window has texture to vote for a grid (uniform image)")

        log_tests = 2 * math.log10(64) + 2 * math.log10(width) + 2 * math.log10(height)
        grid_votes = np.bincount(votes[voting].astype(np.int64), minlength=64)
        n = width * height // 64
        grid_lnfa = [log_nfa(n, int(v) // 64, 1 / 64, log_tests) for v in grid_votes]
        most_voted = int(np.argmax(grid_votes))
        main = most_voted if grid_lnfa[most_voted] < 0 else NO_VOTE

        regions, mask = grid_regions(votes, main, 63, log_tests)
        foreign = [r for r in regions if r.lnfa < 0]
        missing: list[GridRegion] = []
        if self.missing_grids and main != NO_VOTE:
            missing, missing_mask = self._missing_grid_regions(image, votes, main, log_tests)
            mask |= missing_mask
        mask = closed(mask)

        tested = regions + missing
        best_lnfa = min((r.lnfa for r in tested), default=None)
        score = 0.0 if best_lnfa is None else 1.0 / (1.0 + 10.0 ** min(best_lnfa, 300.0))
        heatmap = _cell_mean(mask.astype(np.float32))
        confidence = ndimage.uniform_filter(_cell_mean(voting.astype(np.float32)), size=3, mode="nearest")
        facts = {
            "jpeg_grid_found": main != NO_VOTE,
            "main_grid_origin": None if main == NO_VOTE else [main % 8, main // 8],
            "main_grid_log10_nfa": round(grid_lnfa[most_voted], 2),
            "main_grid_vote_share": round(float(grid_votes[most_voted] / max(voting.sum(), 1)), 4),
            "voting_pixel_share": round(float(voting.mean()), 4),
            "foreign_regions": [_describe(r) for r in sorted(foreign, key=lambda r: r.lnfa)[:10]],
            "missing_grid_regions": [_describe(r) for r in missing if r.lnfa < 0],
            "best_region_log10_nfa": None if best_lnfa is None else round(best_lnfa, 2),
            "flagged_pixel_share": round(float(mask.mean()), 4),
        }
        return Finding(score=score, heatmap=heatmap, stride=8, confidence=confidence,
                       notes=_notes(image, main, foreign, missing), facts=facts)

    def _missing_grid_regions(self, image: Image, votes: np.ndarray, main: int,
                              log_tests: float) -> tuple[list[GridRegion], np.ndarray]:
        recompressed = recompress(image.pixels if image.pixels.ndim == 3 else
                                  np.repeat(image.pixels[..., None], 3, axis=2), quality=99)
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        votes_99 = vote_map(np.rint(recompressed.astype(np.float32) @ weights).astype(np.float32))
        votes_99[votes == main] = NO_VOTE
        # Only the grid the recompression imposed, origin (0, 0), tells of a missing grid.
        return grid_regions(votes_99, NO_VOTE, 0, log_tests)


def _cell_mean(a: np.ndarray) -> np.ndarray:
    rows, cols = -(-a.shape[0] // 8), -(-a.shape[1] // 8)
    padded = np.zeros((rows * 8, cols * 8), dtype=np.float32)
    padded[: a.shape[0], : a.shape[1]] = a
    return padded.reshape(rows, 8, cols, 8).mean(axis=(1, 3))


def _describe(region: GridRegion) -> dict:
    return {
        "grid_origin": list(region.origin),
        "box_xyxy": [region.x0, region.y0, region.x1, region.y1],
        "votes": region.votes,
        "log10_nfa": round(region.lnfa, 2),
    }


def _notes(image: Image, main: int, foreign: list[GridRegion], missing: list[GridRegion]) -> list[str]:
    notes = []
    if main == NO_VOTE:
        what = "a JPEG file" if image.format == "JPEG" else f"a {image.format} file"
        notes.append(
            f"No meaningful 8x8 JPEG grid in {what}: never JPEG-compressed, resized or filtered after "
            "compression, or compressed at a very high quality."
        )
    else:
        x, y = main % 8, main // 8
        notes.append(f"Main JPEG grid at origin ({x}, {y}) (NFA < 1)" + (
            "." if (x, y) == (0, 0) else ": the image was cropped after its last JPEG compression."))
    for region in foreign[:3]:
        notes.append(
            f"A region around x {region.x0}-{region.x1}, y {region.y0}-{region.y1} shows a grid at origin "
            f"{region.origin} (log10 NFA {region.lnfa:.1f})."
        )
    if any(r.lnfa < 0 for r in missing):
        notes.append("Some regions show no JPEG grid inside the JPEG image.")
    return notes
