"""Dense-field copy-move detection with PatchMatch (Cozzolino, Poggi, Verdoliva 2015).

D. Cozzolino, G. Poggi and L. Verdoliva, "Efficient dense-field copy-move
forgery detection", IEEE Transactions on Information Forensics and Security
10(11):2284-2297, 2015.

Method
------
1. *Features.* Every pixel of the luma gets rotation-invariant Zernike moments
   in polar form (the paper's "ZM-polar"): the circular patch of diameter 16
   around it is sampled at 26 radii x 32 angles and projected on the Zernike
   polynomials ``V_nm`` of order ``n <= 5`` (``m >= 0``, ``n - m`` even: 12
   moments); the feature is the vector of magnitudes ``|Z_nm|``, which a
   rotation of the patch leaves unchanged. Polar sampling with bilinear
   interpolation is linear in the pixels, so each moment is computed as one
   correlation with a fixed 17x17 kernel (real and imaginary parts).
2. *Matching.* A nearest-neighbour field (NNF) over the image itself by
   PatchMatch, with the paper's changes: offsets shorter than ``T_D1 = 8``
   pixels are forbidden (a patch trivially matches its own neighbours), and
   propagation offers each pixel both its neighbour's offset (zero order) and
   the first-order prediction ``2 d(s-1) - d(s-2)``, which is exact for the
   linearly varying offsets of a rotated or scaled clone. ``num_iter = 8``
   iterations, each a propagation sweep along rows and along columns
   (alternating direction) and a random search around the current offset.
3. *Post-processing* (parameters of the official demo): median filter of the
   offset field (radius 4); dense linear fitting (DLF): in each radius-6 disk
   an affine model of the offsets is fitted by least squares and pixels with a
   summed squared error above ``T_eps^2 = 300`` are dropped; offsets shorter
   than ``T_D2 = 50`` are dropped; connected regions smaller than
   ``T_S = 1200`` pixels are removed; the detection is mirrored (each pixel
   marks the pixel its offset points to, so both source and clone are
   marked), small regions are removed again and the mask is dilated by
   radius 10 (= 6 + 4).

Our choices, beyond the paper
-----------------------------
*Vectorised PatchMatch.* The propagation sweeps run line by line (row ``y``
takes candidates from rows ``y-1`` and ``y-2`` already updated in this sweep,
then the same along columns), so an offset still travels across the whole
image in one sweep as in the raster-scan original, but a whole line is
processed at once in NumPy. Random search draws ``random_candidates`` offsets
per pixel and iteration at radii ``w * 2^-k`` with ``k`` drawn at random per
pixel, instead of visiting every radius in turn: the same coverage over the
iterations at a fraction of the cost.

*Median filter.* The radius-4 disk median is computed as two passes of a
5x5 median (support 9x9), which OpenCV runs two orders of magnitude faster
than a general disk median.

*Working size.* Images above ``max_pixels`` (1 MP) are downscaled (area
average) before analysis so that time and memory stay bounded; all
thresholds are in working pixels and the reported boxes and transforms are
converted back to stored pixels (``facts["working_scale"]``).

*Flat areas.* Smooth areas (sky, walls) match each other with coherent
offsets. A pixel whose patch has a luma standard deviation below ``min_std``
grey levels cannot be matched in a meaningful way and is excluded from the
detection, as in the paper's remark that smooth regions give spurious
matches.

Score, heatmap, facts
---------------------
The paper's decision is a non-empty mask: a clone region of at least
``T_S`` pixels survives. With ``a`` the area of the largest connected region
that passes DLF and the distance test, the score is ``a / (a + T_S)``: 0.5
exactly at the paper's size threshold. The heatmap is the final (mirrored,
dilated) mask at image resolution. ``facts["pairs"]`` lists each detected
pair: ``source_bbox``, ``target_bbox`` (x, y, w, h in stored pixels), the
affine ``transform`` from source to target fitted (RANSAC) on the offsets of
the region, ``rotation_deg``, ``scale`` and ``pixels`` (matched working
pixels). Which of the two regions is the original cannot be told.

Limits
------
Clones of flat or low-texture content are not found (and excluded on purpose);
scaling beyond about +-20 % breaks the features (the paper's multi-scale
variant is not implemented); regions smaller than about 35x35 working pixels
are below ``T_S``; strong JPEG compression or noise weakens the matches.
Naturally repeated structures (tiles, windows) can be genuinely identical and
are marked like a clone.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial
from typing import ClassVar

import cv2
import numpy as np

from ..image import Image
from .registry import register
from ._copymove import ClonePair, bbox_of, pair_sentence, scaled_pair
from .base import Detector, Finding, NotApplicable


def _radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    out = np.zeros_like(rho)
    for k in range((n - m) // 2 + 1):
        c = (-1) ** k * factorial(n - k) / (factorial(k) * factorial((n + m) // 2 - k) * factorial((n - m) // 2 - k))
        out += c * rho ** (n - 2 * k)
    return out


def zernike_orders(order: int) -> list[tuple[int, int]]:
    """The (n, m) pairs with m >= 0, n - m even, n <= order."""
    return [(n, m) for n in range(order + 1) for m in range(n % 2, n + 1, 2)]


def zernike_kernels(diameter: int = 16, order: int = 5, radii: int = 26, angles: int = 32) -> list[np.ndarray]:
    """Correlation kernels computing the polar Zernike moments of the disk around each pixel.

    Returns one real kernel per (n, m) with m = 0 and two (real, imaginary)
    per m > 0, in :func:`zernike_orders` order. The disk of radius
    ``diameter / 2`` is sampled at ``radii`` x ``angles`` polar points; each
    point's weight (the basis value times the polar area element) is spread
    bilinearly over its four neighbouring pixels.
    """
    R = diameter / 2.0
    half = int(np.ceil(R))
    size = 2 * half + 1
    rho = (np.arange(radii) + 0.5) / radii
    theta = 2 * np.pi * np.arange(angles) / angles
    rr, tt = np.meshgrid(rho, theta, indexing="ij")
    x, y = (rr * R * np.cos(tt)).ravel(), (rr * R * np.sin(tt)).ravel()
    area = (rr * (1.0 / radii) * (2 * np.pi / angles)).ravel()
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0

    def splat(weights: np.ndarray) -> np.ndarray:
        k = np.zeros((size, size))
        for ox, oy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            np.add.at(k, (half + y0 + oy, half + x0 + ox), w * weights)
        return k

    kernels = []
    for n, m in zernike_orders(order):
        basis = (n + 1) / np.pi * _radial(n, m, rr.ravel()) * area
        kernels.append(splat(basis * np.cos(m * tt.ravel())).astype(np.float32))
        if m > 0:
            kernels.append(splat(-basis * np.sin(m * tt.ravel())).astype(np.float32))
    return kernels


def zernike_features(luma: np.ndarray, diameter: int = 16, order: int = 5) -> np.ndarray:
    """(H, W, K) float32 magnitudes |Z_nm| of the disk around every pixel (borders reflected)."""
    kernels = iter(zernike_kernels(diameter, order))
    planes = []
    for _, m in zernike_orders(order):
        real = cv2.filter2D(luma, cv2.CV_32F, next(kernels), borderType=cv2.BORDER_REFLECT_101)
        if m == 0:
            planes.append(np.abs(real))
        else:
            imag = cv2.filter2D(luma, cv2.CV_32F, next(kernels), borderType=cv2.BORDER_REFLECT_101)
            planes.append(cv2.magnitude(real, imag))
    return np.ascontiguousarray(np.stack(planes, axis=-1))


class _Field:
    """A nearest-neighbour field over one feature image, forbidding offsets shorter than ``min_offset``.

    The propagation sweeps work row after row; the column sweep runs the same
    code on the transposed field (offsets swapped), with a transposed copy of
    the features so that every line is contiguous in memory.
    """

    def __init__(self, features: np.ndarray, min_offset: int, rng: np.random.Generator, bands: int = 8):
        self.h, self.w, k = features.shape
        self.flat = features.reshape(-1, k)
        self.flat_t = np.ascontiguousarray(features.transpose(1, 0, 2)).reshape(-1, k)
        self.min2 = min_offset * min_offset
        self.rng = rng
        self.bands = bands
        h, w = self.h, self.w
        ys, xs = np.mgrid[0:h, 0:w]
        self.ys, self.xs = ys.astype(np.int32), xs.astype(np.int32)
        self.dy = rng.integers(0, h, (h, w), dtype=np.int32) - self.ys
        self.dx = rng.integers(0, w, (h, w), dtype=np.int32) - self.xs
        self.cost = np.full((h, w), np.inf, dtype=np.float32)
        self.offer(self.dy.copy(), self.dx.copy())

    def _cost(self, flat, shape, ys, xs, dy, dx, own) -> np.ndarray:
        """Squared feature distance from each pixel (features ``own``) to the pixel its offset points to."""
        h, w = shape
        ty, tx = ys + dy, xs + dx
        # Negative coordinates wrap to huge unsigned values: one comparison checks both bounds.
        ok = (ty.view(np.uint32) < h) & (tx.view(np.uint32) < w) & (dy * dy + dx * dx >= self.min2)
        diff = np.take(flat, np.where(ok, ty * w + tx, 0).ravel(), axis=0)
        diff -= own.reshape(diff.shape)
        cost = np.einsum("ij,ij->i", diff, diff).reshape(ok.shape)
        cost[~ok] = np.inf
        return cost

    def offer(self, dy: np.ndarray, dx: np.ndarray) -> None:
        """Keep the candidate offsets of the whole field where they beat the current ones."""
        cost = self._cost(self.flat, (self.h, self.w), self.ys, self.xs, dy, dx, self.flat)
        better = cost < self.cost
        self.cost[better] = cost[better]
        self.dy[better] = dy[better]
        self.dx[better] = dx[better]

    def sweep(self, axis: int, reverse: bool) -> None:
        """Propagate along ``axis`` (0: row after row, 1: column after column), zero and first order."""
        if axis == 0:
            self._sweep_rows(self.flat, self.dy, self.dx, self.cost, reverse)
            return
        dy, dx, cost = (np.ascontiguousarray(a.T) for a in (self.dx, self.dy, self.cost))
        self._sweep_rows(self.flat_t, dy, dx, cost, reverse)
        self.dy, self.dx, self.cost = (np.ascontiguousarray(a.T) for a in (dx, dy, cost))

    def _sweep_rows(self, flat, dy, dx, cost, reverse: bool) -> None:
        """One propagation sweep down (or up) the rows, in place.

        The rows are cut into ``bands`` horizontal bands swept at the same
        time (one NumPy call handles row ``i`` of every band), so that the
        per-call cost is paid ``h / bands`` times; within a band an offset
        travels the whole band in one sweep, across a band edge at the next.
        """
        h, w = dy.shape
        height = -(-h // self.bands)
        starts = np.arange(0, h, height)
        step = 1 if reverse else -1
        xs_line = np.arange(w, dtype=np.int32)
        for i in range(height):
            rows = starts + (height - 1 - i if reverse else i)
            rows = rows[(rows < h) & (rows + step >= 0) & (rows + step < h)]
            if rows.size == 0:
                continue
            prev = rows + step
            dy1, dx1 = dy[prev], dx[prev]
            prev2 = np.clip(rows + 2 * step, 0, h - 1)
            # First-order prediction, exact for the linearly varying offsets of a rotated or scaled clone.
            cand_dy = np.concatenate([dy1, 2 * dy1 - dy[prev2]])
            cand_dx = np.concatenate([dx1, 2 * dx1 - dx[prev2]])
            ys = np.broadcast_to(np.concatenate([rows, rows])[:, None], cand_dy.shape).astype(np.int32)
            xs = np.broadcast_to(xs_line, cand_dy.shape)
            own = flat.reshape(h, w, -1)[rows]
            c = self._cost(flat, (h, w), ys, xs, cand_dy, cand_dx, np.concatenate([own, own]))
            n = rows.size
            first_better = c[n:] < c[:n]
            best_c = np.where(first_better, c[n:], c[:n])
            best_dy = np.where(first_better, cand_dy[n:], cand_dy[:n])
            best_dx = np.where(first_better, cand_dx[n:], cand_dx[:n])
            better = best_c < cost[rows]
            cost[rows] = np.where(better, best_c, cost[rows])
            dy[rows] = np.where(better, best_dy, dy[rows])
            dx[rows] = np.where(better, best_dx, dx[rows])

    def random_search(self, candidates: int) -> None:
        top = max(1, int(np.log2(max(self.h, self.w))))
        for _ in range(candidates):
            radius = np.ldexp(float(max(self.h, self.w)), -self.rng.integers(0, top + 1, self.dy.shape))
            jy = np.rint(self.rng.uniform(-1, 1, self.dy.shape) * radius).astype(np.int32)
            jx = np.rint(self.rng.uniform(-1, 1, self.dy.shape) * radius).astype(np.int32)
            self.offer(self.dy + jy, self.dx + jx)


def patchmatch(features: np.ndarray, iterations: int, min_offset: int, random_candidates: int, seed: int = 0):
    """Offsets (dy, dx) of each pixel's nearest neighbour in feature space, at least ``min_offset`` away."""
    field = _Field(features, min_offset, np.random.default_rng(seed))
    for it in range(iterations):
        reverse = bool(it % 2)
        field.sweep(0, reverse)
        field.sweep(1, reverse)
        field.random_search(random_candidates)
    return field.dy, field.dx


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (yy * yy + xx * xx <= radius * radius).astype(np.float64)


def dlf_error(dy: np.ndarray, dx: np.ndarray, radius: int) -> np.ndarray:
    """Summed squared residual of the least-squares affine fit of the offsets in each radius-``radius`` disk.

    The disk is symmetric, so 1, u and v are orthogonal over it and the fitted
    part's energy is ``(sum x)^2 / N + (sum u x)^2 / sum u^2 + (sum v x)^2 / sum v^2``.
    """
    disk = _disk(radius)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    basis = [disk / np.sqrt(disk.sum()), xx * disk / np.sqrt((xx**2 * disk).sum()),
             yy * disk / np.sqrt((yy**2 * disk).sum())]
    error = np.zeros(dy.shape, dtype=np.float64)
    for field in (dy, dx):
        # float64: offsets of hundreds of pixels square to sums of ~1e8 that must cancel to within 1.
        f = field.astype(np.float64)
        error += cv2.filter2D(f * f, cv2.CV_64F, disk, borderType=cv2.BORDER_REFLECT_101)
        for b in basis:
            error -= cv2.filter2D(f, cv2.CV_64F, b, borderType=cv2.BORDER_REFLECT_101) ** 2
    return np.maximum(error, 0.0)


def _median_offsets(field: np.ndarray) -> np.ndarray:
    f = field.astype(np.float32)
    return cv2.medianBlur(cv2.medianBlur(f, 5), 5).astype(np.int32)


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, labels, stats[:, cv2.CC_STAT_AREA]


def _remove_small(mask: np.ndarray, min_size: int) -> np.ndarray:
    n, labels, areas = _components(mask)
    keep = areas >= min_size
    keep[0] = False
    return keep[labels]


def _mirror(mask: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    out = mask.copy()
    ty = np.clip(ys + dy[ys, xs], 0, mask.shape[0] - 1)
    tx = np.clip(xs + dx[ys, xs], 0, mask.shape[1] - 1)
    out[ty, tx] = True
    return out


@register
@dataclass
class CopyMoveDense(Detector):
    """Dense-field copy-move detection (Cozzolino, Poggi, Verdoliva 2015).

    Parameters
    ----------
    diameter, order : int
        Patch diameter and maximum order of the Zernike moments.
    iterations, min_offset, random_candidates : int
        PatchMatch iterations, shortest offset allowed (T_D1), random-search
        candidates per pixel and iteration.
    median_radius, dlf_radius : int
        Median filter radius (approximated, see module doc) and DLF disk radius.
    dlf_threshold : float
        Largest summed squared DLF error (T_eps^2).
    min_distance : float
        Shortest offset of a clone (T_D2).
    min_size : int
        Smallest clone region in working pixels (T_S); the score is 0.5 there.
    min_std : float
        Patches with a luma standard deviation below this are flat and excluded.
    max_pixels : int
        Larger images are downscaled to this many pixels first.
    """

    diameter: int = 16
    order: int = 5
    iterations: int = 8
    min_offset: int = 8
    random_candidates: int = 1
    median_radius: int = 4
    dlf_radius: int = 6
    dlf_threshold: float = 300.0
    min_distance: float = 50.0
    min_size: int = 1200
    min_std: float = 2.0
    max_pixels: int = 1_000_000

    name: ClassVar[str] = "copymove_dense"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "D. Cozzolino, G. Poggi and L. Verdoliva, 'Efficient dense-field copy-move forgery detection', "
        "IEEE Transactions on Information Forensics and Security 10(11):2284-2297, 2015"
    )
    summary: ClassVar[str] = (
        "areas that reappear elsewhere in the same image (rotation-invariant Zernike features, PatchMatch)"
    )
    title: ClassVar[str] = "Copy-move (dense PatchMatch)"
    trace: ClassVar[str] = "matches another area of the same image pixel for pixel (a cloned area)"
    requires: ClassVar[frozenset[str]] = frozenset()

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        margin = int(np.ceil(self.diameter / 2))
        if min(h, w) < 2 * margin + 64:
            raise NotApplicable(f"the image ({w}x{h}) is too small: copy-move search needs at least "
                                f"{2 * margin + 64}x{2 * margin + 64} pixels")
        luma = np.asarray(image.luminance(), dtype=np.float32)
        factor = min(1.0, float(np.sqrt(self.max_pixels / (h * w))))
        if factor < 1.0:
            luma = cv2.resize(luma, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        hh, ww = luma.shape
        patch_std = _local_std(luma, margin)
        textured = patch_std >= self.min_std
        if textured[margin:-margin, margin:-margin].sum() < 2 * self.min_size:
            raise NotApplicable("the image is almost uniform: too few textured patches to match")

        features = zernike_features(luma, self.diameter, self.order)[margin:-margin, margin:-margin]
        dy, dx = patchmatch(np.ascontiguousarray(features), self.iterations, self.min_offset,
                            self.random_candidates)
        dy, dx = _median_offsets(dy), _median_offsets(dx)
        inner = (hh - 2 * margin, ww - 2 * margin)
        ok = dlf_error(dy, dx, self.dlf_radius) <= self.dlf_threshold
        ok &= dy.astype(np.int64) ** 2 + dx.astype(np.int64) ** 2 >= self.min_distance**2
        ok &= textured[margin:-margin, margin:-margin]
        n, labels, areas = _components(ok)
        largest = int(areas[1:].max()) if n > 1 else 0
        score = largest / (largest + self.min_size)

        detected = _remove_small(ok, self.min_size)
        mirrored = _remove_small(_mirror(detected, dy, dx), self.min_size)
        dilated = cv2.dilate(mirrored.astype(np.uint8),
                             _disk(self.dlf_radius + self.median_radius).astype(np.uint8)).astype(bool)
        working = np.zeros((hh, ww), dtype=bool)
        working[margin:-margin, margin:-margin] = dilated
        heatmap = working if factor == 1.0 else cv2.resize(working.astype(np.uint8), (w, h),
                                                           interpolation=cv2.INTER_NEAREST).astype(bool)
        pairs = [scaled_pair(p, factor) for p in _pairs(detected, dy, dx, margin, inner)]
        facts = {
            "pairs": [p.to_fact("pixels") for p in pairs],
            "largest_clone_px": largest,
            "flagged_share": round(float(heatmap.mean()), 4),
            "working_scale": round(factor, 4),
        }
        notes = [_summary_note(pairs, factor, (w, h), (ww, hh))]
        notes += [pair_sentence(i + 1, p, "pixels", "matched pixels") for i, p in enumerate(facts["pairs"][:5])]
        if not pairs and largest:
            notes.append(f"The largest coherent match covers {largest} pixels, below the {self.min_size}-pixel "
                         "size of a clone.")
        return Finding(score=score, heatmap=heatmap.astype(np.float32), confidence=None, notes=notes, facts=facts)


def _local_std(luma: np.ndarray, radius: int) -> np.ndarray:
    size = (2 * radius + 1, 2 * radius + 1)
    mean = cv2.boxFilter(luma, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT_101)
    sq = cv2.boxFilter(luma * luma, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT_101)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def _pairs(detected: np.ndarray, dy: np.ndarray, dx: np.ndarray, margin: int, shape) -> list[ClonePair]:
    """One pair per clone: the largest detected region first, its repeats and mirror views dropped.

    The field is symmetric: a clone B of A is found from A (pointing to B)
    and from B (pointing to A), often as several pieces. A region whose affine
    map equals a reported pair's map (a piece of the same clone) or its
    inverse (the same clone seen backwards) adds nothing.
    """
    n, labels, areas = _components(detected)
    pairs: list[ClonePair] = []
    for label in np.argsort(-areas[1:]) + 1:
        ys, xs = np.nonzero(labels == label)
        ty = np.clip(ys + dy[ys, xs], 0, shape[0] - 1)
        tx = np.clip(xs + dx[ys, xs], 0, shape[1] - 1)
        src = np.stack([xs, ys], axis=1).astype(np.float32) + margin
        dst = np.stack([tx, ty], axis=1).astype(np.float32) + margin
        pick = np.random.default_rng(0).permutation(len(src))[:4000]
        transform, _ = cv2.estimateAffine2D(src[pick], dst[pick], method=cv2.RANSAC, ransacReprojThreshold=2.0)
        if transform is None or any(_same_clone(transform, p.transform, src.mean(axis=0)) for p in pairs):
            continue
        region = np.zeros(shape, dtype=np.uint8)
        region[ys, xs] = 1
        target = np.zeros(shape, dtype=np.uint8)
        target[ty, tx] = 1
        target = cv2.morphologyEx(target, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        sx, sy, sw, sh = bbox_of(region)
        tx0, ty0, tw, th = bbox_of(target)
        pairs.append(ClonePair((sx + margin, sy + margin, sw, sh), (tx0 + margin, ty0 + margin, tw, th),
                               transform, int(areas[label])))
    return pairs


def _same_clone(a: np.ndarray, b: np.ndarray, point: np.ndarray, tol_px: float = 8.0) -> bool:
    """Whether maps ``a`` and ``b`` agree at ``point`` (same clone), or ``a`` undoes ``b`` (mirror view)."""
    p = np.append(point, 1.0)
    if np.linalg.norm(a @ p - b @ p) <= tol_px and np.abs(a[:, :2] - b[:, :2]).max() <= 0.1:
        return True
    b_full = np.vstack([b, [0.0, 0.0, 1.0]])
    round_trip = b_full @ np.append(a @ p, 1.0)
    return bool(np.linalg.norm(round_trip[:2] - point) <= tol_px and
                np.abs(b[:, :2] @ a[:, :2] - np.eye(2)).max() <= 0.1)


def _summary_note(pairs: list[ClonePair], factor: float, size, working) -> str:
    scale = "" if factor == 1.0 else (f" (analysed downscaled to {working[0]}x{working[1]} from {size[0]}x{size[1]})")
    if not pairs:
        return f"No area of the image was found cloned elsewhere in it{scale}."
    return (f"{len(pairs)} cloned pair{'s' if len(pairs) != 1 else ''} found: areas that reappear elsewhere in the "
            f"same image, possibly rotated or scaled{scale}.")
