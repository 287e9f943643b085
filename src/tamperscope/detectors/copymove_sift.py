"""Keypoint copy-move detection (Amerini et al. 2011) with a stated false-alarm control.

I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, "A SIFT-based
forensic method for copy-move attack detection and transformation recovery",
IEEE Transactions on Information Forensics and Security 6(3):1099-1110, 2011.

Candidates (the paper's pipeline)
---------------------------------
1. SIFT keypoints and descriptors of the luma (OpenCV's SIFT, which doubles
   the image before the first octave as the paper's implementation does for
   small images); descriptors L2-normalised.
2. *Generalised 2NN (g2NN).* For each keypoint the other keypoints are sorted
   by angular distance ``acos(d_i . d_j)``; the ``k``-th neighbour is accepted
   while ``theta_k / theta_{k+1} < 0.5``, so one keypoint may match several
   copies. Pairs closer than 10 pixels (the same spot seen at two
   orientations) are dropped, duplicates removed.
3. *Clustering.* Agglomerative hierarchical clustering (Ward linkage) of the
   coordinates of the matched keypoints, cut with the inconsistency
   criterion at ``th_c = 2.2`` (depth 4); clusters of fewer than 3 points are
   discarded.
4. *Transformation.* For every pair of clusters linked by matches, an affine
   transform from one to the other is estimated with RANSAC; cluster pairs
   one affine map explains are merged (one clone split by the clustering).
   A transformation with ``support`` inlier matches, at least 4 (three fix an
   affine map, a fourth must agree), is a *candidate*.

The paper calls an image tampered as soon as one candidate exists. Genuine
photos hold repeated structures that match like clones (windows, tiles,
fabrics, crowds, printed text and logos): this rule flags 5.5 % of
MICC-F220's authentic photos here (8 % in the paper) and 3.5 % of the camera
photos of exif-camera (docs/benchmarks.md).

Decision: three tests, each with the false alarms it controls
-------------------------------------------------------------
a. *Chance (a contrario, geometric).* Under the null hypothesis of matches
   falling at random, the number of false alarms of a candidate found on a
   linked cluster pair with ``n`` matches whose ``k``-th smallest residual is
   ``e_k`` is (L. Moisan and B. Stival, "A probabilistic criterion to detect
   rigid point matches between two images and estimate the fundamental
   matrix", IJCV 57(3), 2004; L. Moisan, P. Moulon, P. Monasse, "Automatic
   homographic registration of a pair of images, with a contrario elimination
   of outliers", IPOL 2, 2012)::

       NFA_geo = N_pairs (n - 3) C(n, k) C(k, 3) (pi e_k^2 / A)^(k - 3)

   minimised over ``k``, with ``A`` the area of the target cluster's convex
   hull (the clustering already put the points there) and ``N_pairs`` the
   cluster pairs tested. A candidate needs ``NFA_geo < 1``.
b. *Periodic patterns (veto).* A copy appears once. If the target region
   also reappears one step further along the same transformation (or the
   source one step back), the candidate is a period of a repeated pattern
   (tiles, a grille, a row of letters), not a clone: it is vetoed when at
   least ``min_cells`` textured 8x8 cells are there and at least half of them
   correlate (zero-mean normalised cross-correlation, ZNCC) above
   ``exact_zncc``. A translation by two or three periods (tile 1 onto tile 3)
   need not repeat one full step further, so for a translation the target is
   also compared with the image at a half and a third of the shift.
c. *Genuine similarity (calibrated).* What is left are candidates made of
   real, consistent matches; genuinely similar objects give them too. The
   evidence of a candidate is its number ``s`` of *exact* inliers: matches
   whose neighbourhoods (a square of side ``2 max(4, r) + 1`` around the
   target keypoint of SIFT radius ``r``) correlate with the source under the
   transformation at ZNCC >= ``exact_zncc``. A clone copies its pixels; two
   similar objects only resemble each other. The null model is measured on
   ``N`` authentic calibration photos that no benchmark here uses
   (``benchmarks/copymove_calibrate.py``: camera photos of
   drewnoakes/metadata-extractor-images and the Dresden images of
   polimi-ispl/prnu-python, as they are and through the synthetic save chain;
   many show buildings, signs and captions). With ``n(s)`` of them holding a
   candidate (that passed a and b) of at least ``s`` exact inliers::

       NFA(s) = (1 + n(s)) / (1 + N)

   the share of authentic photos that would be flagged at this evidence, an
   empirical a contrario number of false alarms per image whose background
   is measured on real photos rather than assumed uniform (the question T.
   Ehret asks in "Robust copy-move forgery detection by false alarms
   control", arXiv:1906.00649, 2019: how to discard natural self-similarity).
   The ``+1`` keeps it an upper estimate beyond the calibration's strongest
   candidate. A candidate is a clone when ``NFA <= epsilon`` = 0.03, the
   project's bound of 3 % false alarms on authentic photos, read on the
   calibration photos.

Score, heatmap, facts
---------------------
The score is ``1 / (1 + NFA / epsilon)`` of the best candidate that passed a
and b (0.5 exactly at the bound, towards 1 as the evidence grows; 0 when no
candidate passed). The heatmap marks both ends of every such candidate with
its score: the target is each connected area (8-connected, opened 3x3) where
the local 7x7 ZNCC between the image and its copy moved by the transformation
is at least ``zncc_threshold`` and that holds an inlier, plus the inliers'
hull, closed 9x9; the source is the target mapped back. ``facts["pairs"]``
lists the clones (NFA <= epsilon): ``source_bbox``, ``target_bbox`` (x, y, w,
h, stored pixels), ``transform`` (2x3, source to target), ``rotation_deg``,
``scale``, ``inliers``, ``exact_inliers``, ``log10_nfa``;
``facts["candidates"]`` every candidate with why it was kept or not. Which end
is the original cannot be told. The map of a downscaled working copy is given
per cell of the largest power of two pixels not above the downscale (2 at
12 MP, 4 at 48 MP), each cell valued as the map upscaled to pixels is at its
centre: no coarser than the working copy, and a divisor of the other
detectors' cells, so that fusion and the written maps work on cells, not on
every pixel.

Our choices, beyond the paper
-----------------------------
*Size.* Images above ``max_pixels`` (2 MP) are analysed on a working copy
downscaled by area averaging, and at most ``max_keypoints`` (the strongest by
SIFT response) are kept, so time and memory stay bounded (docs/performance.md:
0.6 s at 12 MP on an idle core, 1.3 to 1.9 CPU s on the busy development
machine, 5 to 8 times the JPEG decode); boxes and transforms are given in stored pixels. The correlation
steps work on crops around each candidate, never on the whole image.

Limits
------
Flat or low-texture clones yield too few keypoints; small clones too, and a
clone needs 13 exact inliers: the price of the bound, measured in
docs/benchmarks.md (63 % of MICC-F220's forgeries called clones against 98 %
for the paper's rule, none of its authentic photos against 5.5 %). Content
that is genuinely duplicated pixel for pixel (the repeat of a printed fabric
seen less than three times, a logo printed twice, the characters of a caption
burnt into the image) is a copy, and is called one when it holds enough exact
matches: these are the false alarms left on the development photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.special import gammaln

from ..image import Image
from .registry import register
from ._copymove import ClonePair, bbox_of, pair_sentence, scaled_pair
from .base import Detector, Finding, NotApplicable

#: Null model of test c, measured by ``python benchmarks/copymove_calibrate.py`` (docs/benchmarks.md): the number of
#: authentic calibration images, and for each step ``(s, n)``: ``n`` of them hold a candidate (not chance, not
#: periodic) with at least ``s`` exact inliers (until the next step's ``s``).
NULL_IMAGES = 488
NULL_STEPS: tuple[tuple[int, int], ...] = (
    (4, 51), (5, 35), (6, 28), (7, 22), (8, 18), (9, 16), (10, 15), (11, 14), (13, 13), (15, 12), (16, 10), (17, 9),
    (19, 8), (20, 7), (21, 6), (22, 5), (23, 3), (25, 2), (30, 1), (41, 0),
)


def keypoints(luma: np.ndarray, max_keypoints: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SIFT keypoint positions (N, 2) as (x, y), radii (N,), unit descriptors (N, 128)."""
    sift = cv2.SIFT_create(nfeatures=max_keypoints)
    found, descriptors = sift.detectAndCompute(luma, None)
    if descriptors is None or len(found) == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros((0, 128), np.float32)
    points = np.array([k.pt for k in found], dtype=np.float32)
    radii = np.array([k.size / 2 for k in found], dtype=np.float32)
    descriptors = descriptors.astype(np.float32)
    descriptors /= np.maximum(np.linalg.norm(descriptors, axis=1, keepdims=True), 1e-12)
    return points, radii, descriptors


def g2nn_matches(points: np.ndarray, descriptors: np.ndarray, ratio: float = 0.5, neighbours: int = 10,
                 min_distance: float = 10.0) -> np.ndarray:
    """(M, 2) index pairs ``i < j`` accepted by the generalised 2NN test, spatially at least ``min_distance`` apart."""
    n = len(descriptors)
    k = min(neighbours + 1, n)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    matcher = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 64})
    knn = matcher.knnMatch(descriptors, descriptors, k=k)
    pairs = []
    for i, row in enumerate(knn):
        others = [m.trainIdx for m in row if m.trainIdx != i]
        if len(others) < 2:
            continue
        cos = np.clip(descriptors[others] @ descriptors[i], -1.0, 1.0)
        angle = np.arccos(cos)
        order = np.argsort(angle, kind="stable")
        angle = angle[order]
        for a in range(len(angle) - 1):
            if angle[a] >= ratio * angle[a + 1]:
                break
            pairs.append((i, others[order[a]]))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.array(pairs, dtype=np.int64), axis=1)
    pairs = np.unique(pairs, axis=0)
    far = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1) >= min_distance
    return pairs[far]


def cluster_points(points: np.ndarray, cutoff: float, depth: int, min_points: int) -> np.ndarray:
    """Cluster label per point (Ward linkage, inconsistency cut); -1 for clusters under ``min_points``."""
    if len(points) < 2:
        return np.full(len(points), -1)
    tree = linkage(points.astype(np.float64), method="ward")
    labels = fcluster(tree, t=cutoff, criterion="inconsistent", depth=depth)
    counts = np.bincount(labels)
    return np.where(counts[labels] >= min_points, labels, -1)


def log10_nfa_geometric(residuals: np.ndarray, area: float, tests: int, sample: int = 3) -> float:
    """log10 of the a contrario NFA of matches agreeing with a model fitted on ``sample`` of them (Moisan-Stival).

    ``residuals``: distances (pixels) of the ``n`` matches to the model; a random target point falls within
    ``e`` of its prediction with probability ``pi e^2 / area``. Minimised over the number ``k`` of matches kept.
    """
    e = np.sort(np.maximum(np.asarray(residuals, dtype=np.float64), 0.5))
    n = len(e)
    if n <= sample:
        return math.inf
    k = np.arange(sample + 1, n + 1)
    log_alpha = np.minimum(np.log10(np.pi * e[k - 1] ** 2 / max(area, 1.0)), 0.0)
    log_choose_n = (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)) / np.log(10)
    log_choose_k = (gammaln(k + 1) - gammaln(sample + 1) - gammaln(k - sample + 1)) / np.log(10)
    values = np.log10(max(tests, 1)) + np.log10(n - sample) + log_choose_n + log_choose_k + (k - sample) * log_alpha
    return float(values.min())


def window_zncc(luma: np.ndarray, transform: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """ZNCC between the square around each centre (half side ``max(4, r)``) and the same area of the source.

    The source is the image moved by ``transform`` (source -> target), so a copy correlates near 1 whatever its
    rotation or scale; NaN where the square leaves the image or is flat.
    """
    h, w = luma.shape
    out = np.full(len(centres), np.nan)
    for i, ((x, y), r) in enumerate(zip(centres, radii)):
        half = int(max(4, round(float(r))))
        x0, y0 = max(0, int(x) - half), max(0, int(y) - half)
        x1, y1 = min(w, int(x) + half + 1), min(h, int(y) + half + 1)
        if x1 - x0 < 5 or y1 - y0 < 5:
            continue
        moved = _moved_crop(luma, transform, (x0, y0, x1, y1))
        here = luma[y0:y1, x0:x1]
        ok = np.isfinite(moved)
        if ok.sum() < 16:
            continue
        a, b = here[ok] - here[ok].mean(), moved[ok] - moved[ok].mean()
        norm = math.sqrt(float((a * a).sum() * (b * b).sum()))
        if norm > 1e-6:
            out[i] = float((a * b).sum()) / norm
    return out


def _moved_crop(luma: np.ndarray, transform: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The image moved by ``transform`` (source -> target) over ``box`` = (x0, y0, x1, y1); NaN outside the image."""
    x0, y0, x1, y1 = box
    shifted = transform.astype(np.float64).copy()
    shifted[:, 2] -= (x0, y0)
    return cv2.warpAffine(luma, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)


def _local_zncc(a: np.ndarray, b: np.ndarray, window: int = 7) -> np.ndarray:
    size = (window, window)
    mean_a, mean_b = cv2.blur(a, size), cv2.blur(b, size)
    cov = cv2.blur(a * b, size) - mean_a * mean_b
    var_a = cv2.blur(a * a, size) - mean_a**2
    var_b = cv2.blur(b * b, size) - mean_b**2
    return cov / np.sqrt(np.maximum(var_a * var_b, 1e-6))


def _hull(points: np.ndarray, radii: np.ndarray, shape: tuple[int, int], offset=(0, 0)) -> np.ndarray:
    """Convex hull of the points, grown by each point's radius, as a mask of ``shape`` whose origin is ``offset``."""
    mask = np.zeros(shape, dtype=np.uint8)
    local = points - np.asarray(offset, dtype=np.float32)
    if len(local) >= 3:
        cv2.fillConvexPoly(mask, cv2.convexHull(local.astype(np.float32)).astype(np.int32), 1)
    for (x, y), r in zip(local, radii):
        cv2.circle(mask, (int(round(x)), int(round(y))), max(1, int(round(r))), 1, thickness=-1)
    return mask.astype(bool)


def _box_around(points: np.ndarray, shape: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    h, w = shape
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + margin + 1
    return max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))


def exact_cell_share(luma: np.ndarray, transform: np.ndarray, region_points: np.ndarray, exact_zncc: float,
                     cell: int = 8, min_std: float = 3.0) -> tuple[int, float]:
    """(textured cells, share correlating >= ``exact_zncc``) of the 8x8 cells around ``region_points`` vs their source.

    The area is the points' hull grown by ``cell`` pixels; a cell counts when it lies in the image, its source does
    too, and both have a luma standard deviation of at least ``min_std`` grey levels.
    """
    h, w = luma.shape
    inside = region_points[(region_points[:, 0] >= 0) & (region_points[:, 1] >= 0)
                           & (region_points[:, 0] < w) & (region_points[:, 1] < h)]
    if len(inside) < 3:
        return 0, 0.0
    x0, y0, x1, y1 = _box_around(inside, (h, w), cell)
    here, moved = luma[y0:y1, x0:x1], _moved_crop(luma, transform, (x0, y0, x1, y1))
    area = _hull(inside, np.full(len(inside), float(cell)), here.shape, (x0, y0))
    rows, cols = here.shape[0] // cell, here.shape[1] // cell
    if rows == 0 or cols == 0:
        return 0, 0.0

    def blocks(a):
        return a[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1)

    a, b, inner = blocks(here), blocks(moved), blocks(area.astype(np.float32))
    usable = np.isfinite(b).all(axis=-1) & (inner.mean(axis=-1) >= 0.5)
    b = np.where(np.isfinite(b), b, 0.0)
    a, b = a - a.mean(axis=-1, keepdims=True), b - b.mean(axis=-1, keepdims=True)
    std_a, std_b = np.sqrt((a * a).mean(axis=-1)), np.sqrt((b * b).mean(axis=-1))
    zncc = (a * b).mean(axis=-1) / np.maximum(std_a * std_b, 1e-6)
    textured = usable & (std_a >= min_std) & (std_b >= min_std)
    count = int(textured.sum())
    return count, float((zncc[textured] >= exact_zncc).mean()) if count else 0.0


@dataclass
class Candidate:
    """A transformation found by the keypoint pipeline and the statistics the decision reads."""

    pair: ClonePair
    log10_nfa_geometric: float
    exact_inliers: int = 0
    periodic: bool = False
    log10_nfa: float = math.inf
    score: float = 0.0
    verdict: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Search:
    """What the keypoint search found in the working luma: the candidates (strongest first) and its keypoints."""

    candidates: list[Candidate]
    points: np.ndarray
    radii: np.ndarray
    matches: int


@register
@dataclass
class CopyMoveSift(Detector):
    """Keypoint copy-move detection (Amerini et al. 2011) with a stated false-alarm control.

    Parameters
    ----------
    ratio : float
        g2NN ratio threshold between consecutive angular distances.
    min_match_distance : float
        Matches closer than this (pixels) are dropped.
    cutoff, depth : float, int
        Inconsistency threshold and depth of the hierarchical clustering cut.
    min_cluster_points : int
        Smallest cluster kept.
    ransac_threshold : float
        RANSAC reprojection error (working pixels) for an inlier.
    min_inliers : int
        Inlier matches for a transformation to be a candidate.
    exact_zncc : float
        ZNCC above which an inlier's neighbourhood (or an 8x8 cell) counts as copied exactly.
    min_cells : int
        Textured cells needed one step further along a transformation to call it periodic.
    epsilon : float
        Bound on the NFA (share of authentic photos flagged at that evidence) for a clone; score 0.5 there.
    zncc_threshold : float
        Correlation above which a pixel belongs to a clone (localisation).
    max_keypoints, max_pixels : int
        Bounds on the keypoints kept and the image size analysed.
    """

    ratio: float = 0.5
    min_match_distance: float = 10.0
    cutoff: float = 2.2
    depth: int = 4
    min_cluster_points: int = 3
    ransac_threshold: float = 3.0
    min_inliers: int = 4
    exact_zncc: float = 0.8
    min_cells: int = 8
    epsilon: float = 0.03
    zncc_threshold: float = 0.55
    max_keypoints: int = 8000
    max_pixels: int = 2_000_000

    name: ClassVar[str] = "copymove_sift"
    version: ClassVar[str] = "2.0"
    citation: ClassVar[str] = (
        "I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, 'A SIFT-based forensic method for "
        "copy-move attack detection and transformation recovery', IEEE Transactions on Information Forensics "
        "and Security 6(3):1099-1110, 2011"
    )
    summary: ClassVar[str] = (
        "groups of SIFT keypoints repeated elsewhere in the image under one affine transform, copied too exactly "
        "to be a genuinely similar object"
    )
    title: ClassVar[str] = "Copy-move (SIFT keypoints)"
    trace: ClassVar[str] = "has keypoints that reappear elsewhere in the same image under one geometric transform"
    requires: ClassVar[frozenset[str]] = frozenset()

    def working_luma(self, image: Image) -> tuple[np.ndarray, float]:
        """The luma analysed (downscaled to at most ``max_pixels``) and its scale factor."""
        h, w = image.shape
        if min(h, w) < 64:
            raise NotApplicable(f"the image ({w}x{h}) is too small: keypoint matching needs at least 64x64 pixels")
        luma = np.asarray(image.luminance(), dtype=np.float32)
        factor = min(1.0, float(np.sqrt(self.max_pixels / (h * w))))
        if factor < 1.0:
            luma = cv2.resize(luma, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        return luma, factor

    def search(self, luma: np.ndarray) -> Search:
        """Every candidate transformation of the working luma, with the outcome of the three tests."""
        gray = np.clip(luma + 0.5, 0, 255).astype(np.uint8)
        points, radii, descriptors = keypoints(gray, self.max_keypoints)
        if len(points) < 2 * self.min_cluster_points:
            raise NotApplicable(f"the image has too little texture: only {len(points)} SIFT keypoints")
        matches = g2nn_matches(points, descriptors, self.ratio, min_distance=self.min_match_distance)
        found = self._transforms(points, matches)
        out = []
        for pair, log_nfa_geo in found:
            if pair.support < self.min_inliers:
                continue
            candidate = Candidate(pair, log_nfa_geo)
            self._decide(candidate, luma, points, radii)
            out.append(candidate)
        out.sort(key=lambda c: (-c.score, -c.pair.support))
        return Search(out, points, radii, int(len(matches)))

    def _decide(self, c: Candidate, luma: np.ndarray, points: np.ndarray, radii: np.ndarray) -> None:
        """Tests a, b, c of the module docstring; sets the candidate's NFA, score and verdict."""
        pair = c.pair
        if not c.log10_nfa_geometric < 0.0:
            c.verdict = "chance alignment (geometric NFA >= 1)"
            return
        transform = pair.transform
        source, target = points[pair.source_idx], points[pair.target_idx]
        # Forward: the area one step beyond the target (its points moved by the transform) against the target.
        # Backward: the source against the area one step before it. Both compare I(x) with I(T^-1 x).
        beyond = target @ transform[:, :2].T + transform[:, 2]
        checks = [("forward", beyond, transform), ("backward", source, transform)]
        if np.abs(transform[:, :2] - np.eye(2)).max() < 0.05:
            # A translation by several periods of a pattern (tile 1 onto tile 3) does not repeat one full step
            # further: the pattern shows at a half or a third of the shift.
            for n in (2, 3):
                checks.append((f"1/{n} step", target, np.hstack([np.eye(2), transform[:, 2:] / n])))
        for name, area_points, moved_by in checks:
            cells, share = exact_cell_share(luma, moved_by, area_points, self.exact_zncc)
            c.extra[f"{name}_cells"], c.extra[f"{name}_exact_share"] = cells, round(share, 3)
            if cells >= self.min_cells and share >= 0.5:
                c.periodic = True
        if c.periodic:
            c.verdict = "a period of a repeated pattern (the copy repeats again along the same transform)"
            return
        zncc = window_zncc(luma, transform, target, radii[pair.target_idx])
        c.exact_inliers = int(np.sum(zncc >= self.exact_zncc))
        c.log10_nfa = self.log10_nfa(c.exact_inliers)
        c.score = 1.0 / (1.0 + 10.0 ** (c.log10_nfa - math.log10(self.epsilon)))
        c.verdict = "clone" if c.log10_nfa <= math.log10(self.epsilon) else "similar, not exact enough to call a clone"

    def log10_nfa(self, exact_inliers: int) -> float:
        """log10 of the calibrated NFA of a candidate with ``exact_inliers`` exact inliers (test c)."""
        flagged = NULL_IMAGES
        for steps_from, count in NULL_STEPS:
            if exact_inliers >= steps_from:
                flagged = count
        return math.log10((1 + flagged) / (1 + NULL_IMAGES))

    def clone_threshold(self) -> int:
        """The fewest exact inliers a candidate needs to be called a clone."""
        for steps_from, _ in NULL_STEPS:
            if self.log10_nfa(steps_from) <= math.log10(self.epsilon):
                return steps_from
        return NULL_STEPS[-1][0]

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        luma, factor = self.working_luma(image)
        search = self.search(luma)
        found, points, radii = search.candidates, search.points, search.radii
        best = found[0].score if found else 0.0

        heat = np.zeros(luma.shape, dtype=np.float32)
        clones = []
        for c in found:
            if c.score <= 0.0:
                continue
            source, target = localize(luma, c.pair, points, radii, self.zncc_threshold, self.min_match_distance)
            c.pair.source_bbox, c.pair.target_bbox = bbox_of(source), bbox_of(target)
            np.maximum(heat, np.where(source | target, np.float32(c.score), np.float32(0.0)), out=heat)
            if c.verdict == "clone":
                clones.append(c)
        stride = map_stride(factor)
        if factor < 1.0:
            heat = cells_of(heat, (h, w), stride)
        pairs = []
        for c in clones:
            fact = scaled_pair(c.pair, factor).to_fact("inliers")
            fact["exact_inliers"] = c.exact_inliers
            fact["log10_nfa"] = round(c.log10_nfa, 2)
            pairs.append(fact)
        facts = {
            "pairs": pairs,
            "candidates": [_candidate_fact(c, factor) for c in found[:20]],
            "keypoints": int(len(points)),
            "matches": search.matches,
            "best_inliers": int(max((c.pair.support for c in found), default=0)),
            "flagged_share": round(float((heat >= 0.5).mean()), 4),
            "working_scale": round(factor, 4),
            "epsilon": self.epsilon,
        }
        scaled = "" if factor == 1.0 else f" (analysed downscaled by {factor:.2f})"
        notes = [f"{len(points)} SIFT keypoints, {search.matches} g2NN matches{scaled}; "
                 f"{len(found)} candidate transformation{'s' if len(found) != 1 else ''}, "
                 f"{len(pairs)} called a clone (NFA <= {self.epsilon:g}: at most {self.epsilon:.0%} of authentic "
                 f"calibration photos hold a candidate as strong)."]
        rejected = [c for c in found if c.verdict != "clone"]
        if rejected:
            reasons = sorted({c.verdict for c in rejected})
            notes.append(f"{len(rejected)} candidate{'s' if len(rejected) != 1 else ''} not called a clone: "
                         + "; ".join(reasons) + ".")
        notes += [pair_sentence(i + 1, p, "inliers", "inlier keypoint matches") for i, p in enumerate(pairs[:5])]
        return Finding(score=best, heatmap=heat, stride=stride, notes=notes, facts=facts)

    def _transforms(self, points, matches) -> list[tuple[ClonePair, float]]:
        """RANSAC affine per linked cluster pair, then pairs that share one transform merged.

        Returns each merged transformation with the smallest log10 geometric NFA of the cluster pairs it holds.
        """
        if len(matches) == 0:
            return []
        used = np.unique(matches)
        labels = np.full(len(points), -1)
        labels[used] = cluster_points(points[used], self.cutoff, self.depth, self.min_cluster_points)
        a, b = labels[matches[:, 0]], labels[matches[:, 1]]
        linked = (a >= 0) & (b >= 0) & (a != b)
        # Orient every match from the lower to the higher cluster label.
        flip = a > b
        src = np.where(flip, matches[:, 1], matches[:, 0])[linked]
        dst = np.where(flip, matches[:, 0], matches[:, 1])[linked]
        key = np.minimum(a, b)[linked] * (labels.max() + 1) + np.maximum(a, b)[linked]
        keys = np.unique(key)
        found: list[tuple[np.ndarray, np.ndarray, float]] = []  # (source inliers, target inliers, log10 NFA)
        for k in keys:
            sel = key == k
            if sel.sum() < 3:
                continue
            transform, inliers = cv2.estimateAffine2D(points[src[sel]], points[dst[sel]], method=cv2.RANSAC,
                                                      ransacReprojThreshold=self.ransac_threshold)
            if transform is None or not np.isfinite(transform).all():
                continue
            inl = inliers.ravel().astype(bool)
            residuals = _residual(transform, points[src[sel]], points[dst[sel]])
            target_cluster = points[labels == labels[dst[sel][0]]]
            area = cv2.contourArea(cv2.convexHull(target_cluster.astype(np.float32))) if len(target_cluster) >= 3 else 0
            found.append((src[sel][inl], dst[sel][inl], log10_nfa_geometric(residuals, max(area, 100.0), len(keys))))
        pairs = []
        for s_idx, d_idx, log_nfa in _merge(found, points, self.ransac_threshold):
            transform, _ = cv2.estimateAffine2D(points[s_idx], points[d_idx], method=cv2.LMEDS)
            if transform is None or not np.isfinite(transform).all() or abs(np.linalg.det(transform[:, :2])) < 1e-3:
                continue
            pairs.append((ClonePair((0, 0, 0, 0), (0, 0, 0, 0), transform, len(s_idx), s_idx, d_idx), log_nfa))
        return pairs


def _candidate_fact(c: Candidate, factor: float) -> dict:
    fact = {
        "inliers": int(c.pair.support),
        "exact_inliers": int(c.exact_inliers),
        "log10_nfa_geometric": round(c.log10_nfa_geometric, 2),
        "log10_nfa": None if math.isinf(c.log10_nfa) else round(c.log10_nfa, 2),
        "score": round(c.score, 4),
        "verdict": c.verdict,
        "transform": [[round(float(v), 4) for v in row] for row in scaled_pair(c.pair, factor).transform],
    }
    return fact | {k: v for k, v in c.extra.items()}


def _residual(transform: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return np.linalg.norm(src @ transform[:, :2].T + transform[:, 2] - dst, axis=1)


def _merge(found, points, threshold) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Merge cluster pairs that are one clone split by the clustering: the same affine map explains both.

    Matches are oriented from the lower cluster label, so a pair may come
    backwards; it then joins with its ends swapped. A merged group keeps the
    smallest geometric NFA of its members.
    """
    groups: list[list] = []
    for s_idx, d_idx, log_nfa in sorted(found, key=lambda f: -len(f[0])):
        for group in groups:
            fit, _ = cv2.estimateAffine2D(points[group[0]], points[group[1]], method=cv2.LMEDS)
            if fit is None or not np.isfinite(fit).all():
                continue
            if np.all(_residual(fit, points[s_idx], points[d_idx]) <= 2 * threshold):
                group[0], group[1] = np.concatenate([group[0], s_idx]), np.concatenate([group[1], d_idx])
                group[2] = min(group[2], log_nfa)
                break
            if np.all(_residual(fit, points[d_idx], points[s_idx]) <= 2 * threshold):
                group[0], group[1] = np.concatenate([group[0], d_idx]), np.concatenate([group[1], s_idx])
                group[2] = min(group[2], log_nfa)
                break
        else:
            groups.append([s_idx, d_idx, log_nfa])
    return [(g[0], g[1], g[2]) for g in groups]


def localize(luma: np.ndarray, pair: ClonePair, points: np.ndarray, radii: np.ndarray, threshold: float,
             min_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Source and target masks of one transformation: correlated areas holding its inlier keypoints.

    The target is each connected area where the local 7x7 ZNCC between the
    image and its copy moved by the transformation exceeds ``threshold`` and
    that contains an inlier target keypoint (Amerini et al. 2013's
    correlation step); pixels the transform moves by less than ``min_shift``
    are excluded (a pixel trivially correlates with itself). The source is the
    target mapped back by the inverse transform. The keypoint hulls are added
    so that a clone always has an area. Only a box around the target (its
    keypoints' extent, grown by that extent) is examined, so the cost does not
    grow with the image.
    """
    h, w = luma.shape
    target_points = points[pair.target_idx]
    extent = int(np.ptp(target_points, axis=0).max()) if len(target_points) > 1 else 0
    x0, y0, x1, y1 = _box_around(target_points, (h, w), max(32, extent))
    here = luma[y0:y1, x0:x1]
    moved = _moved_crop(luma, pair.transform, (x0, y0, x1, y1))
    valid = np.isfinite(moved)
    zncc = _local_zncc(here, np.where(valid, moved, here))
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    inverse = cv2.invertAffineTransform(pair.transform)
    back_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    back_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    moved_far = np.hypot(back_x - xs, back_y - ys) >= min_shift
    good = ((zncc >= threshold) & moved_far & valid).astype(np.uint8)
    good = cv2.morphologyEx(good, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(good, connectivity=8)
    local = np.round(target_points - (x0, y0)).astype(int)
    hit = labels[np.clip(local[:, 1], 0, y1 - y0 - 1), np.clip(local[:, 0], 0, x1 - x0 - 1)]
    keep = np.zeros(n, dtype=bool)
    keep[hit[hit > 0]] = True
    near = keep[labels] | _hull(target_points, radii[pair.target_idx], here.shape, (x0, y0))
    near = cv2.morphologyEx(near.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    target = np.zeros((h, w), dtype=np.uint8)
    target[y0:y1, x0:x1] = near
    source = cv2.warpAffine(target, inverse, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
    source |= _hull(points[pair.source_idx], radii[pair.source_idx], (h, w))
    return source, target.astype(bool)


def map_stride(factor: float) -> int:
    """The cell side, in image pixels, of the map of a working copy downscaled by ``factor``: the largest power of
    two not above ``1 / factor``, so that a cell is never coarser than a working pixel and divides the other
    detectors' 8 and 16 pixel cells (the fusion then keeps working on cells, not pixels)."""
    if factor >= 1.0:
        return 1
    return 1 << max(0, int(math.floor(math.log2(1.0 / factor) + 1e-9)))


def cells_of(heat: np.ndarray, shape: tuple[int, int], stride: int) -> np.ndarray:
    """The working copy's map per ``stride x stride`` cell of an image of ``shape``: each cell takes the value that
    upscaling the map to the image's pixels (nearest, as ``cv2.resize``) gives at its centre pixel (the upper left
    of the four central ones), so stride 1 is exactly that upscaled map."""
    rows, cols = -(-shape[0] // stride), -(-shape[1] // stride)
    centre = (stride - 1) // 2
    ys = np.minimum((np.arange(rows) * stride + centre) * heat.shape[0] // shape[0], heat.shape[0] - 1)
    xs = np.minimum((np.arange(cols) * stride + centre) * heat.shape[1] // shape[1], heat.shape[1] - 1)
    return np.ascontiguousarray(heat[ys[:, None], xs[None, :]])
