"""The 8x8 block artifact grid of a luminance image, per cell: shared by BLK and CAGI (no detector imports another).

Li, Yuan, Yu, "Passive detection of doctored JPEG image via block artifact grid extraction", Signal Processing
89(9), 2009 (steps 2-5; :mod:`.blk` has the method). :func:`shared_grid_profile` computes it once per image for
every detector that reads it.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy import ndimage

from ..image import Image

#: The 8x8 JPEG block.
_PERIOD = 8
_COS = np.cos(2 * np.pi * np.arange(_PERIOD) / _PERIOD).astype(np.float32)
_SIN = -np.sin(2 * np.pi * np.arange(_PERIOD) / _PERIOD).astype(np.float32)


@dataclasses.dataclass
class GridProfile:
    """Per-cell BAG profiles of both directions.

    Attributes
    ----------
    bag_h, bag_v : ndarray
        float32 ``(rows, cols, 8)``: the block artifact grid across each 8x8
        cell, for vertical grid lines (index = ``x mod 8``) and horizontal ones
        (index = ``y mod 8``).
    texture_h, texture_v : ndarray
        float32 ``(rows, cols)``: the non-periodic difference energy (step-4
        median level) summed over the cell's 8 positions.
    samples : int
        Difference samples summed into one BAG value (the line window).
    """

    bag_h: np.ndarray
    bag_v: np.ndarray
    texture_h: np.ndarray
    texture_v: np.ndarray
    samples: int


def _abs_second_difference(y: np.ndarray, axis: int, threshold: float, edges: tuple[bool, bool] = (True, True)
                           ) -> np.ndarray:
    """``|2 y[i] - y[i-1] - y[i+1]|`` along ``axis``, differences above ``threshold`` dropped.

    ``edges`` says whether the first and last line along ``axis`` are the image's own (a strip of rows has
    neighbours beyond its ends instead, whose lines the caller discards).
    """
    kernel = np.array([[-1.0, 2.0, -1.0]], dtype=np.float32)
    d = cv2.filter2D(y, cv2.CV_32F, kernel if axis == 1 else kernel.T, borderType=cv2.BORDER_REPLICATE)
    np.abs(d, out=d)
    # The paper drops large differences: they are object edges, not quantization steps.
    cv2.threshold(d, threshold, 0, cv2.THRESH_TOZERO_INV, dst=d)
    # The outermost line has only one neighbour, so its second difference is undefined.
    if axis == 1:
        d[:, 0] = d[:, -1] = 0
    else:
        if edges[0]:
            d[0, :] = 0
        if edges[1]:
            d[-1, :] = 0
    return d


def _cell_centres(n: int) -> np.ndarray:
    return np.minimum(np.arange((n + _PERIOD - 1) // _PERIOD) * _PERIOD + _PERIOD // 2, n - 1)


def _median_along_rows(a: np.ndarray, taps: int) -> np.ndarray:
    # scipy's 1-D median is many times faster than its (1, taps) 2-D one; padding
    # every row by half a window keeps rows from mixing when they are laid end to end.
    half = taps // 2
    padded = np.pad(a, ((0, 0), (half, half)), mode="symmetric")
    out = ndimage.median_filter(padded.ravel(), size=taps, mode="reflect")
    return out.reshape(padded.shape)[:, half:-half]


def _median_of_shifts(g: np.ndarray) -> np.ndarray:
    # Padding with same-phase samples keeps the first and last 16 samples periodic.
    two = 2 * _PERIOD
    padded = np.concatenate([g[:, :two], g, g[:, -two:]], axis=1)
    n = g.shape[1]
    a, b, c, d, e = (padded[:, two + s : two + s + n] for s in (-two, -_PERIOD, 0, _PERIOD, two))
    # Median of five by min/max: of a, b, c, d drop the extremes, then take the median of three.
    lo = np.maximum(np.minimum(a, b), np.minimum(c, d))
    hi = np.minimum(np.maximum(a, b), np.maximum(c, d))
    return np.maximum(np.minimum(lo, hi), np.minimum(np.maximum(lo, hi), e))


def _directional_bag(line_sums: np.ndarray, taps: int) -> tuple[np.ndarray, np.ndarray]:
    """BAG and texture per cell from line sums ``(cells_along_lines, samples_across)``."""
    base = _median_along_rows(line_sums, taps)
    bag = _median_of_shifts(line_sums - base)
    n = bag.shape[1]
    cells = (n + _PERIOD - 1) // _PERIOD
    pad = cells * _PERIOD - n
    if pad:
        bag = np.pad(bag, ((0, 0), (0, pad)))
        base = np.pad(base, ((0, 0), (0, pad)))
    bag = bag.reshape(bag.shape[0], cells, _PERIOD)
    texture = base.reshape(base.shape[0], cells, _PERIOD).sum(axis=2)
    return bag, texture


def _bag_in_chunks(line_sums: np.ndarray, taps: int, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_directional_bag` of ``chunk`` rows at a time (rows are independent): bounded temporaries."""
    parts = [_directional_bag(line_sums[top : top + chunk], taps) for top in range(0, line_sums.shape[0], chunk)]
    return np.concatenate([bag for bag, _ in parts]), np.concatenate([texture for _, texture in parts])


def grid_profile(y: np.ndarray, diff_threshold: float = 50.0, window: int = 33, strip_rows: int = 512
                 ) -> GridProfile:
    """Block artifact grid of a luminance image, per 8x8 cell (steps 2-5).

    Parameters
    ----------
    y : ndarray
        Luminance ``(H, W)``, grey levels 0-255; H and W at least 16.
    diff_threshold : float
        Second differences above this are treated as edges and dropped.
    window : int
        Line-sum length and median-filter taps (odd).
    strip_rows : int
        Rows of differences computed at a time (the result does not depend on it).

    Returns
    -------
    GridProfile
    """
    y = np.asarray(y, dtype=np.float32)
    h, w = y.shape
    half = window // 2
    rows_at, cols_at = _cell_centres(h), _cell_centres(w)
    # Line sums at the cells' centre lines only, strip by strip (a strip and the context its sums reach), so the
    # difference images never exist for the whole image: the same sums, a bounded working memory.
    sums_h = np.empty((len(rows_at), w), dtype=np.float32)  # vertical grid lines: |d/dx| summed along y
    sums_v = np.empty((h, len(cols_at)), dtype=np.float32)  # horizontal grid lines: |d/dy| summed along x
    for top in range(0, h, strip_rows):
        bottom = min(h, top + strip_rows)
        first, last = max(0, top - 1), min(h, bottom + 1)
        d = _abs_second_difference(np.ascontiguousarray(y[first:last]), 0, diff_threshold, (first == 0, last == h))
        sums = cv2.boxFilter(d, -1, (window, 1), normalize=False, borderType=cv2.BORDER_CONSTANT)
        sums_v[top:bottom] = sums[top - first : bottom - first, cols_at]
        at = np.flatnonzero((rows_at >= top) & (rows_at < bottom))
        if at.size:
            first, last = max(0, int(rows_at[at[0]]) - half), min(h, int(rows_at[at[-1]]) + half + 1)
            d = _abs_second_difference(np.ascontiguousarray(y[first:last]), 1, diff_threshold)
            sums = cv2.boxFilter(d, -1, (1, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
            sums_h[at] = sums[rows_at[at] - first]
    del d, sums
    bag_h, tex_h = _bag_in_chunks(sums_h, window)
    # Horizontal grid lines: transposed so that the same row-wise routine applies.
    bag_v, tex_v = _bag_in_chunks(np.ascontiguousarray(sums_v.T), window)
    return GridProfile(
        bag_h=bag_h,
        bag_v=np.ascontiguousarray(bag_v.transpose(1, 0, 2)),
        texture_h=tex_h,
        texture_v=np.ascontiguousarray(tex_v.T),
        samples=window,
    )


def grid_phasor(bag: np.ndarray) -> np.ndarray:
    return (bag @ _COS) + 1j * (bag @ _SIN)



def rayleigh_z(f: np.ndarray, texture: np.ndarray, floor: float) -> tuple[float, int]:
    """Rayleigh statistic of the texture-normalised grid phasors of tiles of cells.

    Tiles are 8x8 cells (64 pixels); images with fewer than 16 such tiles use
    4x4 cells (32 pixels, about one analysis window) so that small images keep
    enough tiles for the test to have power.
    """
    tile = _PERIOD
    if (f.shape[0] // tile) * (f.shape[1] // tile) < 16:
        tile = _PERIOD // 2
    rows, cols = f.shape[0] // tile, f.shape[1] // tile
    if rows == 0 or cols == 0:
        return 0.0, 0
    f = f[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile).sum(axis=(1, 3))
    t = texture[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile).sum(axis=(1, 3))
    share = f / (t + floor * tile * tile)
    power = float(np.sum(np.abs(share) ** 2))
    return (float(abs(share.sum()) ** 2 / power) if power > 0 else 0.0), rows * cols


def shared_grid_profile(image: Image, diff_threshold: float = 50.0, window: int = 33) -> GridProfile:
    """:func:`grid_profile` of the image's luminance, computed once per image and parameters (``Image.shared``)."""
    return image.shared(("grid_profile", float(diff_threshold), int(window)),
                        lambda: grid_profile(image.luminance(), diff_threshold, window))
