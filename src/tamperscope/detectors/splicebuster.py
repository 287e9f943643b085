"""Splicebuster: unsupervised splice localization from local noise-residual statistics.

D. Cozzolino, G. Poggi and L. Verdoliva, "Splicebuster: a new blind image
splicing detector", IEEE International Workshop on Information Forensics and
Security (WIFS), 2015.

Method
------
Each camera (and each processing history) leaves its own high-frequency
micro-patterns. Splicebuster describes them locally with co-occurrences of a
quantized noise residual and looks, without any training data, for the blocks
whose description does not fit the rest of the image. As in the paper:

1. Grey-level image; third-order derivative residuals along rows and along
   columns, ``r = -x[k-1] + 3 x[k] - 3 x[k+1] + x[k+2]`` (a high-pass filter
   that removes most of the content).
2. Quantization with step ``q`` = 2 and truncation to ``T`` = 1: every
   residual becomes -1, 0 or 1.
3. Co-occurrences of four consecutive residuals, both along the residual's
   direction and across it (3^4 = 81 patterns each). Patterns equal up to sign
   change or order reversal are merged (25 classes), and by rotation symmetry
   the row and column residuals add into one "along" and one "across"
   histogram: a 50-bin feature.
4. Histograms over sliding windows (128x128 pixels, stride 8; 64x64, stride 4
   on images with a side under 512 pixels), normalized, square-rooted, and
   reduced by PCA to 25 dimensions.
5. A two-class model fitted by EM: the host's features are Gaussian
   ``N(mu, Sigma)``, the spliced ones (few, unlike each other) uniform over the
   features' bounding box, with prior ``pi`` of the uniform class.
6. The map is each window's posterior probability of the uniform (splice)
   class, placed at the window's centre: 0.5 where the two classes are equally
   likely given the fitted prior.

Our choices, beyond the paper
-----------------------------
Pixels of the grey image below 6 or above 252 (saturated; dilated by 3x3)
are left out of the histograms, as in the authors' code. Windows where fewer
than half the residual runs are usable get no heat and low confidence. EM is
fitted on at most ``max_fit`` windows (a fixed-seed random subset) and
applied to all; images over ``max_pixels`` are analysed on a centred crop
(resampling would destroy the trace), said in ``notes``.

*Decision.* The paper gives a map and no image-level test: the EM always
finds some outliers (texture, defocus, saturation), and no threshold on the
fitted ``pi`` or on the map has a false-alarm rate we could derive. The
detector therefore gives a map (``decides = False``, score ``None``), like
ELA. ``flagged_share`` reports the area with posterior >= 0.5.

Limits
------
The splice must be small relative to the host (the Gaussian class must be
the host); heavy JPEG compression or resizing flattens the residual
statistics; very textured, defocused or saturated areas are outliers too; the
128-pixel windows blur the outline of small splices.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy.linalg import solve_triangular

from ..image import Image
from .registry import register
from ._crop import central_crop_pixels
from .base import Detector, Finding, NotApplicable

_THIRD_ORDER = np.array([-1.0, 3.0, -3.0, 1.0], dtype=np.float32)
_CLASSES = 25


def _symmetry_classes() -> np.ndarray:
    """Lookup from the 81 codes of four residuals in {-1, 0, 1} to 25 classes.

    Codes equal up to sign change and/or reversal share a class.
    """
    table = np.full(81, -1, dtype=np.int64)
    canonical: dict[tuple[int, ...], int] = {}
    for pattern in itertools.product((-1, 0, 1), repeat=4):
        variants = (pattern, tuple(-v for v in pattern), pattern[::-1], tuple(-v for v in pattern[::-1]))
        key = min(variants)
        index = canonical.setdefault(key, len(canonical))
        code = sum((v + 1) * 3 ** (3 - k) for k, v in enumerate(pattern))
        table[code] = index
    assert len(canonical) == _CLASSES
    return table


_CLASS_OF = _symmetry_classes()


def quantized_residuals(grey: np.ndarray, q: float = 2.0, t: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Row and column third-order residuals, quantized with step ``q`` and truncated to ``t``.

    Returned as uint8 in ``0 .. 2t`` (the residual plus ``t``).
    """
    x = grey.astype(np.float32)
    one = np.ones(1, dtype=np.float32)
    rows = cv2.sepFilter2D(x, cv2.CV_32F, _THIRD_ORDER, one, anchor=(1, 0), borderType=cv2.BORDER_REFLECT_101)
    cols = cv2.sepFilter2D(x, cv2.CV_32F, one, _THIRD_ORDER, anchor=(0, 1), borderType=cv2.BORDER_REFLECT_101)
    return tuple(np.clip(np.rint(r / q), -t, t).astype(np.int8).view(np.uint8) + np.uint8(t) for r in (rows, cols))


def _runs(residual: np.ndarray, axis: int) -> np.ndarray:
    """Class of the run of four residuals starting at each pixel along ``axis`` (last 3 rows/cols cropped)."""
    h, w = residual.shape
    r = residual.astype(np.int16)
    if axis == 1:
        parts = [r[: h - 3, k : w - 3 + k] for k in range(4)]
    else:
        parts = [r[k : h - 3 + k, : w - 3] for k in range(4)]
    code = ((parts[0] * 3 + parts[1]) * 3 + parts[2]) * 3 + parts[3]
    return _CLASS_OF[code]


def tile_histograms(grey: np.ndarray, usable: np.ndarray, tile: int, q: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Per ``tile x tile`` tile: the 50-bin along/across histogram counts and the number of usable runs."""
    horizontal, vertical = quantized_residuals(grey, q)
    h, w = grey.shape[0] - 3, grey.shape[1] - 3
    ny, nx = h // tile, w // tile
    h, w = ny * tile, nx * tile
    keep = usable[:h, :w]
    tile_index = (np.arange(h)[:, None] // tile * nx + np.arange(w)[None, :] // tile)[keep]
    counts = np.zeros(ny * nx * 2 * _CLASSES)
    for residual, along_axis in ((horizontal, 1), (vertical, 0)):
        for axis in (0, 1):
            offset = 0 if axis == along_axis else _CLASSES
            classes = _runs(residual, axis)[:h, :w][keep]
            counts += np.bincount(tile_index * (2 * _CLASSES) + offset + classes, minlength=counts.size)
    runs = np.bincount(tile_index, minlength=ny * nx).reshape(ny, nx) * 4.0
    return counts.reshape(ny, nx, 2 * _CLASSES), runs


def _window_sums(tiles: np.ndarray, size: int) -> np.ndarray:
    """Sums over every ``size x size`` group of tiles (valid positions only)."""
    c = np.cumsum(np.cumsum(tiles, axis=0), axis=1)
    c = np.pad(c, [(1, 0), (1, 0)] + [(0, 0)] * (tiles.ndim - 2))
    return c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]


def fit_gaussian_uniform(x: np.ndarray, iterations: int = 100, tol: float = 1e-6, pi0: float = 0.1):
    """EM for ``(1 - pi) N(mu, Sigma) + pi U(box)`` on rows of ``x``.

    Returns ``mu``, ``Sigma``, ``pi`` and the log-density of the uniform class.
    """
    lo, hi = x.min(axis=0), x.max(axis=0)
    log_u = -float(np.sum(np.log(np.maximum(hi - lo, 1e-12))))
    d = x.shape[1]
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    pi = pi0
    previous = -np.inf
    for _ in range(iterations):
        log_g = _gauss_logpdf(x, mu, sigma)
        a, b = np.log1p(-pi) + log_g, math.log(pi) + log_u
        total = np.logaddexp(a, b)
        inlier = np.exp(a - total)
        likelihood = float(total.mean())
        weight = inlier.sum()
        pi = float(np.clip(1.0 - weight / x.shape[0], 1e-4, 0.5))
        mu = inlier @ x / weight
        centred = x - mu
        sigma = (centred.T * inlier) @ centred / weight
        sigma += np.eye(d) * (1e-6 * np.trace(sigma) / d + 1e-12)
        if abs(likelihood - previous) < tol:
            break
        previous = likelihood
    return mu, sigma, pi, log_u


def _gauss_logpdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    chol = np.linalg.cholesky(sigma)
    z = solve_triangular(chol, (x - mu).T, lower=True, check_finite=False)
    return -0.5 * np.sum(z * z, axis=0) - np.sum(np.log(np.diag(chol))) - 0.5 * x.shape[1] * math.log(2 * math.pi)


@register
@dataclass
class Splicebuster(Detector):
    """Local residual co-occurrence outliers, unsupervised (Cozzolino, Poggi, Verdoliva 2015).

    Parameters
    ----------
    window, stride : int
        Sliding window and its step, pixels (``stride`` divides ``window``).
    small_window, small_stride : int
        The same for images with a side under ``small_side`` pixels.
    q : float
        Quantization step of the residuals.
    pca_dim : int
        Dimensions kept by PCA.
    max_fit : int
        At most this many windows fit the EM.
    max_pixels : int
        Larger images are analysed on a centred crop of this many pixels.
    """

    window: int = 128
    stride: int = 8
    small_window: int = 64
    small_stride: int = 4
    small_side: int = 512
    q: float = 2.0
    pca_dim: int = 25
    max_fit: int = 20_000
    max_pixels: int = 16_000_000

    name: ClassVar[str] = "splicebuster"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "D. Cozzolino, G. Poggi and L. Verdoliva, 'Splicebuster: a new blind image splicing detector', "
        "IEEE WIFS 2015"
    )
    summary: ClassVar[str] = "windows whose noise-residual co-occurrence statistics are outliers to the image's model"
    title: ClassVar[str] = "Noise residual statistics (Splicebuster)"
    trace: ClassVar[str] = "has high-frequency noise statistics unlike those of the rest of the image"
    decides: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset()

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        small = min(h, w) < self.small_side
        window, stride = (self.small_window, self.small_stride) if small else (self.window, self.stride)
        if window % stride:
            raise ValueError(f"stride ({stride}) must divide window ({window})")
        if min(h, w) < 2 * window:
            raise NotApplicable(
                f"the image ({w}x{h}) is too small: Splicebuster compares {window}x{window} windows "
                f"and needs at least {2 * window}x{2 * window} pixels"
            )
        grey, offset, crop_notes = self._crop(image.luminance())
        usable = cv2.inRange(grey, 6.0, 252.0)
        usable = cv2.erode(usable, np.ones((3, 3), np.uint8)).astype(bool)
        counts, runs = tile_histograms(grey, usable, stride, self.q)
        per_window = window // stride
        hist = _window_sums(counts, per_window)
        used = _window_sums(runs, per_window)
        possible = 4.0 * window * window
        reliable = used >= 0.5 * possible
        if reliable.sum() < 16:
            raise NotApplicable("almost every window is saturated: no noise residual to describe")

        features = np.sqrt(hist / np.maximum(hist.sum(axis=2, keepdims=True), 1.0))
        flat = features.reshape(-1, features.shape[2])
        fit_rows = np.flatnonzero(reliable.ravel())
        centre = flat[fit_rows].mean(axis=0)
        cov = np.cov(flat[fit_rows] - centre, rowvar=False)
        values, vectors = np.linalg.eigh(cov)
        if values[-1] <= 1e-10:
            raise NotApplicable("the image has no texture or noise: every window has the same residual statistics")
        order = np.argsort(values)[::-1]
        keep = order[: min(self.pca_dim, int(np.sum(values > 1e-9 * values[-1])))]
        projected = (flat - centre) @ vectors[:, keep]

        rng = np.random.default_rng(0)
        sample = fit_rows if fit_rows.size <= self.max_fit else rng.choice(fit_rows, self.max_fit, replace=False)
        mu, sigma, pi, log_u = fit_gaussian_uniform(projected[sample])
        a = np.log1p(-pi) + _gauss_logpdf(projected, mu, sigma)
        b = math.log(pi) + log_u
        posterior = np.exp(b - np.logaddexp(a, b)).reshape(hist.shape[:2])
        posterior[~reliable] = 0.0

        heatmap, confidence = self._to_cells(posterior, used / possible, grey.shape, image.shape, window, stride,
                                             offset)
        flagged = float(np.mean(heatmap >= 0.5))
        facts = {
            "outlier_prior": round(pi, 4),
            "flagged_share": round(flagged, 4),
            "window": window,
            "stride": stride,
            "pca_dim": int(keep.size),
            "windows": int(posterior.size),
        }
        notes = [
            f"{flagged:.1%} of the image is more likely outlier than host (posterior >= 0.5); textured, "
            "defocused and saturated areas are outliers too, so read the map, there is no score.",
            f"Residual co-occurrences in {window}x{window} windows (stride {stride}); the EM puts "
            f"{pi:.1%} of the windows in the outlier (splice) class.",
            *crop_notes,
        ]
        return Finding(score=None, heatmap=heatmap, stride=stride, confidence=confidence, notes=notes, facts=facts)

    def _crop(self, grey: np.ndarray) -> tuple[np.ndarray, tuple[int, int], list[str]]:
        return central_crop_pixels(grey, self.max_pixels, self.stride)

    @staticmethod
    def _to_cells(posterior, coverage, analysed, shape, window, stride, offset):
        """Window values to a ``stride``-cell map of the whole image, each at its window's centre."""
        cells = (-(-shape[0] // stride), -(-shape[1] // stride))
        heat = np.zeros(cells, dtype=np.float32)
        conf = np.zeros(cells, dtype=np.float32)
        half = window // stride // 2
        top, left = offset[0] // stride + half, offset[1] // stride + half
        ny, nx = posterior.shape
        # Nearest window for the border cells that no window is centred on.
        rows = np.clip(np.arange(cells[0]) - top, 0, ny - 1)
        cols = np.clip(np.arange(cells[1]) - left, 0, nx - 1)
        heat[:] = posterior[np.ix_(rows, cols)]
        conf[:] = np.clip(coverage[np.ix_(rows, cols)], 0.0, 1.0)
        if offset != (0, 0) or analysed != shape:
            inside = np.zeros(cells, dtype=bool)
            inside[offset[0] // stride : (offset[0] + analysed[0]) // stride,
                   offset[1] // stride : (offset[1] + analysed[1]) // stride] = True
            heat[~inside], conf[~inside] = 0.0, 0.0
        return heat, conf
