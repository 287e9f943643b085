"""CAGI: content-aware detection of JPEG grid inconsistencies.

    C. Iakovidou, M. Zampoglou, S. Papadopoulos, Y. Kompatsiaris, "Content-aware
    detection of JPEG grid inconsistencies for intuitive image forensics",
    Journal of Visual Communication and Image Representation 54 (2018) 155-170.

A decoded JPEG carries a faint 8x8 block grid. CAGI predicts where that grid
lies from the luminance's second derivatives, scores every 8x8 block by how
well it follows the predicted grid compared with the other possible grids, and
judges that evidence against the block's content: flat areas (where any grid
is hard to measure), strong edges (where content, not quantization, makes the
discontinuities) and over- or under-exposed areas (where clipping erased the
quantization steps) are kept out of the reference and of the map.

Steps (paper, structured as the MKLab image-forensics toolbox's ``CAGI.m``;
own code):

1. **Luminance** Y (BT.601) and, for exposure, V of HSV (``max(R, G, B)``).
2. **In-block patterns.** For each of the 64 candidate positions ``(p, q)``
   and each 8x8 block, the absolute cross second derivative
   ``Z = |A - B - C + D|`` of the 2x2 pixels at ``(8i + p, 8j + q)`` (``Z'``)
   and at the point 4 pixels further on both axes (``Z''``), as in the
   blockiness measure of Fan and de Queiroz: one of the two points straddles a
   block corner when ``(p, q)`` is on the grid. ``K(p, q)`` is the L1 distance
   of the 40-bin histograms of ``Z'`` and ``Z''`` (0..2; exactly 2 means
   degenerate, e.g. flat, and counts as 0); ``correct(p, q)`` says ``Z'`` is the
   smaller (its first two bins hold more mass), i.e. ``(p, q)`` lies inside
   the blocks.
3. **Grid prediction** (``predict0``/``predict1``). ``Kpre(p, q)`` is the mean
   of the row and column sums of the ``correct`` flags. The 64 positions form
   16 pairs ``(r, c)``/``(r + 4, c + 4)`` or ``(r, c + 4)``/``(r + 4, c)``
   (``r, c`` in 0..3): the diagonal pair when
   ``K(r, c) + K(r+4, c+4) - K(r+4, c) - K(r, c+4) > 0``, else the
   anti-diagonal; the member flagged ``correct`` is the interior point ``a``,
   the other the corner point ``e``. The 16 candidates are ranked by
   ``Kpre(a) - Kpre(e)``; the last is the predicted grid. A candidate with
   interior point ``a = (ar, ac)`` has its block corners at ``a + 4``, i.e.
   grid origin ``((ac + 5) mod 8, (ar + 5) mod 8)`` (x, y).
4. **Block scores.** Per candidate and block, ``max(Z'' - Z', 0) / 255`` with
   ``Z'`` at the candidate's interior point: large where the block shows that
   grid.
5. **Super-cells.** Block scores are averaged over ``s x s`` blocks, ``s = 2``
   for images under 640x480 pixels, else 3 (``MeanInSpace``). The grid
   inconsistency is ``mean over the 16 candidates - predicted candidate``,
   min-max scaled to [0, 1]: low where the predicted grid stands out, high
   where it is missing or another grid is stronger. The inverse variant does
   the same against the candidate at grid origin (0, 0) (the uncropped
   position) when it is among the 16, else the predicted one.
6. **Content characterisation** (``MainTrain``). The image is resized to
   600x600 (nearest) and cut into 10x10 tiles; each tile is matched against a
   bank of binary step-edge masks and keeps its best contrast
   ``|mean(white) - mean(black)| * 100 / 255``. A tile holds a strong edge when
   that contrast reaches an adaptive threshold (the mean contrast of its area
   of 10x10 tiles, raised to the band's and image's level in low-contrast
   images, as the reference ``filtering`` does). Per block: the mean contrast
   (content) and whether most of its pixels lie in edge tiles.
7. **Combination** (``characterizeblocks``). Super-cells are "not used" when
   exposed (mean V >= 245 or < 15), on strong edges, or without content (mean
   contrast <= 4). Super-cells where many candidates score near zero
   (``uniform``: count of candidates under 0.2 of their image mean, 5x5
   averaged, above its mean plus one (or half a) standard deviation) are
   cleared when the grid is weak overall. The inconsistency is multiplied by
   ``1 - G``, ``G`` the min-max scaled 5x5 average of the reference grid's
   scores (by ``G`` itself on the image border, where the zero-padded average
   is low), values below the mean of the usable super-cells are raised to that
   mean (the inverse map: values above lowered to it), and the result is 5x5
   averaged: ``Result_CAGI`` and ``Result_Inv_CAGI``.

Outputs (tamperscope's choices, not the paper's)
------------------------------------------------
The paper gives the two maps for an analyst and no decision rule, so the
detector does not decide (``score = None``). The heatmap is one value per
super-cell (``stride = 8 s``):

* ``variant="normal"`` (default): ``Result_CAGI`` as is (it lies in [0, 1]).
  It marks a region whose grid is shifted, and one whose grid is missing.
* ``variant="inverse"``: ``Result_Inv_CAGI`` reaches at most the mean level
  and its informative values are the low ones, where the grid is much
  stronger than elsewhere; the heatmap is ``(m - E_inv) / m`` (``m`` the mean
  level), clipped to [0, 1], so 1 is a super-cell carrying a grid the rest
  lacks (a JPEG region pasted into a never-compressed or resized image).

The confidence is 1 on super-cells the content characterisation keeps, 0 on
those it excludes (exposed, strong edges, no content).

Deviations from the reference code, on purpose: the two histograms of step 2
share their bin edges (the reference bins each over its own range, which makes
bin-by-bin differences compare different values); the edge-mask bank is our
own (8 orientations x 7 positions of a straight step edge across the 10x10
tile, white shares between about 10% and 90%), the reference's 58 masks
being a data file not given in the paper.

Applicability: the method needs a JPEG grid in the pixels. Its own prediction
always returns some grid, so the BLK detector's grid-presence test (Rayleigh
test of the 8-periodic phases of 64x64 tiles, tail probability 1e-6, see
:mod:`tamperscope.detectors.blk`) decides whether there is one: a
never-compressed, resized or nearly lossless image is not applicable.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import cv2
import numpy as np

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable
from ._grid import grid_phasor, rayleigh_z, shared_grid_profile

_BINS = 40
_TILE = 10
_RESIZED = 600
_AREAS = 6


@dataclasses.dataclass
class GridCandidate:
    """One of the 16 candidate grids of the prediction (0-based positions)."""

    interior: tuple[int, int]
    corner: tuple[int, int]
    half_k: float
    kpre_gap: float

    @property
    def origin_xy(self) -> tuple[int, int]:
        return (self.interior[1] + 5) % 8, (self.interior[0] + 5) % 8


@dataclasses.dataclass
class CagiMaps:
    """Both maps of the paper per super-cell, and what was derived on the way."""

    normal: np.ndarray
    inverse: np.ndarray
    inverse_level: float
    usable: np.ndarray
    cell: int
    predicted: GridCandidate
    inverse_reference: GridCandidate
    grid_weak: bool


def cross_differences(y: np.ndarray) -> np.ndarray:
    """``|y[r, c] - y[r, c+1] - y[r+1, c] + y[r+1, c+1]|``, shape ``(H - 1, W - 1)``."""
    y = np.asarray(y, dtype=np.float32)
    return np.abs(y[:-1, :-1] - y[:-1, 1:] - y[1:, :-1] + y[1:, 1:])


def block_grid_shape(shape: tuple[int, int]) -> tuple[int, int]:
    # One block fewer than fits, so that the point 4 pixels past the last one stays inside.
    return shape[0] // 8 - 1, shape[1] // 8 - 1


def pattern_pairs(z: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``Z`` sampled at every block for every position: ``(8, 8, rows, cols)``.

    Positions past the image's edge read 0; callers use only the samples that
    :func:`block_grid_shape` keeps inside.
    """
    z = np.pad(z, ((0, max(0, 8 * rows - z.shape[0])), (0, max(0, 8 * cols - z.shape[1]))))
    return np.stack([np.stack([z[p : p + 8 * rows : 8, q : q + 8 * cols : 8] for q in range(8)])
                     for p in range(8)])


def histogram_distance(first: np.ndarray, second: np.ndarray) -> tuple[float, bool]:
    """L1 distance of the normalised 40-bin histograms, and whether ``first`` is the smaller."""
    low = float(min(first.min(), second.min()))
    high = float(max(first.max(), second.max()))
    if high <= low:
        return 2.0, False
    edges = np.linspace(low, high, _BINS + 1)
    h1 = np.histogram(first, edges)[0] / first.size
    h2 = np.histogram(second, edges)[0] / second.size
    return float(np.abs(h1 - h2).sum()), bool(h1[:2].sum() > h2[:2].sum())


def in_block_patterns(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K scores ``(8, 8)``, correct flags ``(8, 8)`` and raw ``Z`` samples ``(8, 8, rows, cols)``."""
    rows, cols = block_grid_shape(y.shape)
    samples = pattern_pairs(cross_differences(y), rows + 1, cols + 1)
    # Z' of block (i, j) at position (p, q) and the Z'' 4 pixels further on.
    k = np.zeros((8, 8))
    correct = np.zeros((8, 8), dtype=bool)
    for p in range(8):
        for q in range(8):
            inner = samples[p, q, :rows, :cols]
            outer = _shifted_by_four(samples, p, q, rows, cols)
            distance, correct[p, q] = histogram_distance(inner, outer)
            # A distance of 2 means disjoint histograms: degenerate content, not a grid.
            k[p, q] = 0.0 if distance > 1.999999 else distance
    return k, correct, samples


def _shifted_by_four(samples: np.ndarray, p: int, q: int, rows: int, cols: int) -> np.ndarray:
    dp, dq = (p + 4) // 8, (q + 4) // 8
    return samples[(p + 4) % 8, (q + 4) % 8, dp : dp + rows, dq : dq + cols]


def predict_grids(k: np.ndarray, correct: np.ndarray) -> list[GridCandidate]:
    """The 16 candidate grids, ranked: the last is the predicted grid."""
    flags = correct.astype(np.float64)
    kpre = (flags.sum(axis=1)[:, None] + flags.sum(axis=0)[None, :]) / 16.0
    candidates = []
    for c in range(4):
        for r in range(4):
            diagonal = k[r, c] + k[r + 4, c + 4] - k[r + 4, c] - k[r, c + 4] > 0
            first, second = ((r, c), (r + 4, c + 4)) if diagonal else ((r, c + 4), (r + 4, c))
            interior, corner = (first, second) if correct[first] else (second, first)
            candidates.append(GridCandidate(interior, corner, float(k[r, c]) / 2.0,
                                            float(kpre[interior] - kpre[corner])))
    # A stable sort keeps the reference's scan order among equal gaps.
    return sorted(candidates, key=lambda g: g.kpre_gap)


def candidate_block_scores(samples: np.ndarray, candidate: GridCandidate, rows: int, cols: int) -> np.ndarray:
    p, q = candidate.interior
    inner = samples[p, q, :rows, :cols]
    outer = _shifted_by_four(samples, p, q, rows, cols)
    return np.maximum(outer - inner, 0.0) / 255.0


def cell_means(a: np.ndarray, size: int) -> np.ndarray:
    """Means over non-overlapping ``size x size`` groups (the remainder is dropped)."""
    rows, cols = a.shape[0] // size, a.shape[1] // size
    return a[: rows * size, : cols * size].reshape(rows, size, cols, size).mean(axis=(1, 3))


def min_max(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    top = a.max()
    return a / top if top > 0 else a


def box5(a: np.ndarray, border: int) -> np.ndarray:
    # The reference's 5x5 average with weights 0.04 (zero padding first, reflection at the end).
    return cv2.blur(np.ascontiguousarray(a, dtype=np.float64), (5, 5), borderType=border)


_ZERO_PAD = cv2.BORDER_CONSTANT
_REFLECT = cv2.BORDER_REFLECT


def edge_mask_bank() -> np.ndarray:
    """Binary step-edge masks on a 10x10 tile, ``(masks, 100)``: straight edges at 8
    orientations and 7 positions, white shares kept between 5% and 95%."""
    coords = np.arange(_TILE) - (_TILE - 1) / 2.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    masks = []
    for angle in np.arange(8) * np.pi / 8:
        projection = xx * np.cos(angle) + yy * np.sin(angle)
        for quantile in np.linspace(0.1, 0.9, 7):
            cut = np.quantile(projection, quantile)
            mask = (projection > cut).ravel()
            share = mask.mean()
            if 0.05 <= share <= 0.95 and not any(np.array_equal(mask, m) for m in masks):
                masks.append(mask)
    return np.array(masks, dtype=np.float32)


_MASKS = edge_mask_bank()


def tile_contrast(gray: np.ndarray) -> np.ndarray:
    """Best step-edge contrast of each 10x10 tile of the 600x600 image, ``(60, 60)``."""
    n = _RESIZED // _TILE
    tiles = gray.reshape(n, _TILE, n, _TILE).transpose(0, 2, 1, 3).reshape(n * n, _TILE * _TILE)
    white = _MASKS.T / _MASKS.sum(axis=1)
    black = (1.0 - _MASKS).T / (1.0 - _MASKS).sum(axis=1)
    contrast = np.abs(tiles @ white - tiles @ black) * 100.0 / 255.0
    return contrast.max(axis=1).reshape(n, n)


def edge_thresholds(contrast: np.ndarray) -> np.ndarray:
    """Adaptive contrast threshold of each 10x10-tile area (reference ``filtering``)."""
    n = contrast.shape[0] // _AREAS
    areas = cell_means(contrast, n)
    bands = areas.mean(axis=1)
    image_level = float(areas.mean())
    # In dull images the image level lifts the bands; in very dull ones a floor of 5 does.
    bands = np.where((bands < image_level) & (image_level < 10), image_level, bands)
    bands = np.where((bands > image_level) & (image_level < 5), 5.0, bands)
    raised = np.where(bands < 5, bands + 1, bands)[:, None]
    return np.where(areas < bands[:, None], raised, areas)


def content_maps(rgb: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Per 8x8 block: mean edge contrast (content) and strong-edge flag."""
    small = cv2.resize(rgb, (_RESIZED, _RESIZED), interpolation=cv2.INTER_NEAREST)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) if small.ndim == 3 \
        else small.astype(np.float32)
    contrast = tile_contrast(gray)
    thresholds = np.kron(edge_thresholds(contrast), np.ones((_RESIZED // _TILE // _AREAS,) * 2))
    edges = (contrast >= thresholds).astype(np.float32)
    h, w = rgb.shape[:2]
    content = _tile_map_per_block(contrast, h, w, rows, cols)
    strong = _tile_map_per_block(edges, h, w, rows, cols) > 0.5
    return content, strong


def _tile_map_per_block(tile_map: np.ndarray, h: int, w: int, rows: int, cols: int) -> np.ndarray:
    # Nearest upsampling to the image, then the mean over each 8x8 block, computed on the
    # index grid: a tile value's weight in a block is how many of the block's rows and columns map to it.
    row_tile = (np.arange(rows * 8) * tile_map.shape[0] // h).reshape(rows, 8)
    col_tile = (np.arange(cols * 8) * tile_map.shape[1] // w).reshape(cols, 8)
    row_weights = np.zeros((rows, tile_map.shape[0]))
    col_weights = np.zeros((cols, tile_map.shape[1]))
    np.add.at(row_weights, (np.repeat(np.arange(rows), 8), row_tile.ravel()), 1.0 / 8)
    np.add.at(col_weights, (np.repeat(np.arange(cols), 8), col_tile.ravel()), 1.0 / 8)
    return row_weights @ tile_map @ col_weights.T


def cagi_maps(y: np.ndarray, rgb: np.ndarray) -> CagiMaps:
    """Both CAGI maps of a luminance ``y`` (0-255) and its RGB (uint8) image."""
    h, w = y.shape
    cell = 2 if h * w < 640 * 480 else 3
    rows, cols = block_grid_shape(y.shape)
    k, correct, samples = in_block_patterns(y)
    candidates = predict_grids(k, correct)
    predicted = candidates[-1]
    aligned = [i for i, g in enumerate(candidates) if g.interior == (3, 3)]
    inverse_index = aligned[0] if aligned else len(candidates) - 1

    in_space = np.stack([cell_means(candidate_block_scores(samples, g, rows, cols), cell) for g in candidates],
                        axis=2)
    mean_all = in_space.mean(axis=2)
    inconsistency = min_max(mean_all - in_space[..., -1])
    inconsistency_inv = min_max(mean_all - in_space[..., inverse_index])

    content, strong = content_maps(rgb, rows, cols)
    kx, ky = in_space.shape[:2]
    content = cell_means(content, cell)
    strong = cell_means(strong.astype(np.float64), cell) >= 0.5
    value = rgb.max(axis=2) if rgb.ndim == 3 else rgb
    exposure = cell_means(value[: kx * cell * 8, : ky * cell * 8].astype(np.float64), cell * 8)
    exposed = (exposure >= 245) | (exposure < 15)
    return _characterize(in_space, inconsistency, inconsistency_inv, content, strong, exposed, candidates,
                         inverse_index, cell)


def _characterize(in_space, inconsistency, inconsistency_inv, content, strong, exposed, candidates,
                  inverse_index, cell) -> CagiMaps:
    """Step 7: content-aware combination into ``Result_CAGI`` and ``Result_Inv_CAGI``."""
    near_zero = (in_space < 0.2 * in_space.mean(axis=(0, 1))).sum(axis=2).astype(np.float64)
    spread = float(near_zero.std())
    uniform_level = box5(near_zero, _ZERO_PAD)
    level = float(uniform_level.mean())
    reference = box5(in_space[..., inverse_index], _ZERO_PAD)
    reference = min_max(reference)
    aligned_is_best = inverse_index == len(candidates) - 1
    # A weak grid overall, predicted at the uncropped position: uniform areas tell nothing.
    grid_weak = bool(np.mean([g.half_k for g in candidates]) <= 0.4 and aligned_is_best)
    cut = level + (spread if level > 0 and spread / level > 1.5 else spread / 2)
    uniform = (uniform_level >= cut) & grid_weak

    # Exposure outranks strong edges, which outrank missing content (the reference's order).
    no_content, edge = content <= 4, strong
    unusable = exposed | edge | no_content
    uniform |= exposed

    normal = np.where(uniform, 0.0, inconsistency)
    inverse = np.where(uniform, 1.0, inconsistency_inv)
    if grid_weak:
        normal = np.where(normal < inconsistency.mean(), 0.0, normal)
        inverse = np.where(inverse < inconsistency_inv.mean(), 1.0, inverse)
    border = np.zeros(normal.shape, dtype=bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    normal = normal * np.where(border, reference, 1.0 - reference)
    inverse = inverse * (1.0 - reference)

    usable = ~unusable
    if not usable.any():
        usable = ~exposed if (~exposed).any() else np.ones_like(usable)
    level_normal = float(box5(normal, _ZERO_PAD)[usable].mean())
    level_inverse = float(box5(inverse, _ZERO_PAD)[usable].mean())
    # Uniform super-cells without content (and neither exposed nor on an edge) say nothing either way.
    neutral = exposed | (uniform & no_content & ~edge)
    normal = np.where(neutral | (normal < level_normal), level_normal, normal)
    inverse = np.where(neutral | (inverse > level_inverse), level_inverse, inverse)
    return CagiMaps(
        normal=box5(normal, _REFLECT),
        inverse=box5(inverse, _REFLECT),
        inverse_level=level_inverse,
        usable=usable,
        cell=cell,
        predicted=candidates[-1],
        inverse_reference=candidates[inverse_index],
        grid_weak=grid_weak,
    )


def _pad_to_image(a: np.ndarray, shape: tuple[int, int], stride: int) -> np.ndarray:
    # The reference repeats the last super-cell over the strip the super-cells do not cover.
    rows, cols = -(-shape[0] // stride), -(-shape[1] // stride)
    return np.pad(a, ((0, max(0, rows - a.shape[0])), (0, max(0, cols - a.shape[1]))), mode="edge")[:rows, :cols]


@register
@dataclasses.dataclass
class Cagi(Detector):
    """Content-aware JPEG grid inconsistencies (Iakovidou et al. 2018); a map, no decision.

    Parameters
    ----------
    variant : str
        "normal" (``Result_CAGI``: shifted or missing grid) or "inverse"
        (``Result_Inv_CAGI``: a region carrying a grid the rest lacks).
    min_rayleigh_z : float
        Grid-presence statistic of BLK below which no JPEG grid is taken to
        be present (tail probability 1e-6 under random phases).
    """

    variant: str = "normal"
    min_rayleigh_z: float = 16.7

    name: ClassVar[str] = "cagi"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "C. Iakovidou, M. Zampoglou, S. Papadopoulos, Y. Kompatsiaris, 'Content-aware detection of JPEG grid "
        "inconsistencies for intuitive image forensics', Journal of Visual Communication and Image "
        "Representation 54 (2018) 155-170"
    )
    summary: ClassVar[str] = "JPEG block grid judged against content: shifted or missing grid (a map to read)"
    title: ClassVar[str] = "Content-aware JPEG grid (CAGI)"
    trace: ClassVar[str] = "does not follow the image's JPEG block grid where its content should show one"
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        if self.variant not in ("normal", "inverse"):
            raise ValueError(f"variant must be 'normal' or 'inverse', not {self.variant!r}")
        h, w = image.shape
        if min(h, w) < 64:
            raise NotApplicable(f"{w}x{h} is too small for CAGI's super-cells of 8x8 blocks (needs 64x64)")
        y = image.luminance()
        if float(y.max() - y.min()) < 1.0:
            raise NotApplicable("uniform image: no content to carry a JPEG block grid")
        presence = self._grid_presence(image)
        if presence < self.min_rayleigh_z:
            raise NotApplicable(
                f"no 8x8 JPEG block grid in the pixels (BLK grid-presence statistic {presence:.1f} < "
                f"{self.min_rayleigh_z}): never JPEG-compressed, resized after compression, or nearly lossless"
            )
        pixels = image.pixels if image.pixels.ndim == 3 else np.repeat(image.pixels[..., None], 3, axis=2)
        maps = cagi_maps(y, pixels[..., :3])
        stride = 8 * maps.cell
        if self.variant == "normal":
            heat = maps.normal
        else:
            level = max(maps.inverse_level, 1e-12)
            heat = (level - maps.inverse) / level
        heat = _pad_to_image(np.clip(heat, 0.0, 1.0), (h, w), stride).astype(np.float32)
        confidence = _pad_to_image(maps.usable.astype(np.float32), (h, w), stride)
        flagged = float((heat >= 0.5).mean())
        facts = {
            "variant": self.variant,
            "grid_presence_z": round(presence, 1),
            "predicted_grid_origin": list(maps.predicted.origin_xy),
            "inverse_reference_origin": list(maps.inverse_reference.origin_xy),
            "grid_weak": maps.grid_weak,
            "supercell_px": stride,
            "usable_share": round(float(maps.usable.mean()), 4),
            "flagged_share": round(flagged, 4),
        }
        ox, oy = maps.predicted.origin_xy
        notes = [
            f"Predicted JPEG grid origin ({ox}, {oy}); map per {stride}x{stride}-pixel super-cell "
            f"({self.variant} variant), {100 * flagged:.1f}% at 0.5 or more. A map to read: no decision.",
            f"{100 * (1 - facts['usable_share']):.0f}% of super-cells are exposed, on strong edges or "
            "without content and are not used as reference.",
        ]
        return Finding(score=None, heatmap=heat, stride=stride, confidence=confidence, notes=notes, facts=facts)

    @staticmethod
    def _grid_presence(image: Image) -> float:
        profile = shared_grid_profile(image)  # BLK's, when it ran on this image
        floor = profile.samples * 8 * 0.5
        z_h = rayleigh_z(grid_phasor(profile.bag_h), profile.texture_h, floor)[0]
        z_v = rayleigh_z(grid_phasor(profile.bag_v), profile.texture_v, floor)[0]
        return z_h + z_v
