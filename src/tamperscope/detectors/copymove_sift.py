"""Keypoint copy-move detection with SIFT, g2NN and clustering (Amerini et al. 2011).

I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, "A SIFT-based
forensic method for copy-move attack detection and transformation recovery",
IEEE Transactions on Information Forensics and Security 6(3):1099-1110, 2011.

Method
------
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
   transform from one to the other is estimated with RANSAC.
5. *Decision.* The image is tampered when at least one transformation is
   found: here, a cluster pair whose RANSAC affine keeps at least
   ``min_inliers = 4`` inlier matches (three correspondences fix an affine
   map; a fourth must agree with it for it to count as found).

Our choices, beyond the paper
-----------------------------
*Neighbours.* g2NN is run on the 10 nearest neighbours of each descriptor
(FLANN kd-trees, exact angles recomputed), not the full sorted list: a
ratio below 0.5 ten times in a row does not occur in practice.
*Size.* Images above ``max_pixels`` (2 MP) are downscaled (area average), and
at most ``max_keypoints`` (the strongest by SIFT response) are kept, so time
and memory stay bounded; boxes and transforms are given in stored pixels.
*Localisation.* The paper gives points, not regions. Each end of a found
transformation is drawn as the convex hull of its inlier keypoints, grown by
each keypoint's SIFT radius; the heatmap is 1 inside these areas.

Score, heatmap, facts
---------------------
With ``n`` the largest inlier count of any cluster pair, the score is
``1 - 2^(-n / min_inliers)``: 0.5 exactly at the paper-style decision
(``n = min_inliers``), 0.75 at twice as many. ``facts["pairs"]`` lists every
found transformation: ``source_bbox``, ``target_bbox`` (x, y, w, h, stored
pixels), ``transform`` (2x3 affine, source to target), ``rotation_deg``,
``scale``, ``inliers``. Which end is the original cannot be told.

Limits
------
Flat or low-texture clones yield too few keypoints; small clones too.
Naturally repeated objects (windows, tiles, crowds) match like clones and are
the main source of false alarms (8 % on MICC-F220 in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from ..image import Image
from .registry import register
from ._copymove import ClonePair, bbox_of, pair_sentence, scaled_pair
from .base import Detector, Finding, NotApplicable


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


def _region(points: np.ndarray, radii: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    hull = cv2.convexHull(points.astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 1)
    for (x, y), r in zip(points, radii):
        cv2.circle(mask, (int(round(x)), int(round(y))), max(1, int(round(r))), 1, thickness=-1)
    return mask.astype(bool)


@register
@dataclass
class CopyMoveSift(Detector):
    """Keypoint copy-move detection (Amerini et al. 2011).

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
        Inlier matches for a transformation to count as found; score 0.5 there.
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
    zncc_threshold: float = 0.55
    max_keypoints: int = 8000
    max_pixels: int = 2_000_000

    name: ClassVar[str] = "copymove_sift"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, 'A SIFT-based forensic method for "
        "copy-move attack detection and transformation recovery', IEEE Transactions on Information Forensics "
        "and Security 6(3):1099-1110, 2011"
    )
    summary: ClassVar[str] = "groups of SIFT keypoints repeated elsewhere in the image under one affine transform"
    title: ClassVar[str] = "Copy-move (SIFT keypoints)"
    trace: ClassVar[str] = "has keypoints that reappear elsewhere in the same image under one geometric transform"
    requires: ClassVar[frozenset[str]] = frozenset()

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        if min(h, w) < 64:
            raise NotApplicable(f"the image ({w}x{h}) is too small: keypoint matching needs at least 64x64 pixels")
        luma = np.asarray(image.luminance(), dtype=np.float32)
        factor = min(1.0, float(np.sqrt(self.max_pixels / (h * w))))
        if factor < 1.0:
            luma = cv2.resize(luma, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        gray = np.clip(luma + 0.5, 0, 255).astype(np.uint8)
        points, radii, descriptors = keypoints(gray, self.max_keypoints)
        if len(points) < 2 * self.min_cluster_points:
            raise NotApplicable(f"the image has too little texture: only {len(points)} SIFT keypoints")

        matches = g2nn_matches(points, descriptors, self.ratio, min_distance=self.min_match_distance)
        pairs = self._transforms(points, radii, matches, gray.shape)
        best = max((p.support for p in pairs), default=0)
        score = 1.0 - 2.0 ** (-best / self.min_inliers)

        heat = np.zeros(gray.shape, dtype=bool)
        for pair in pairs:
            if pair.support >= self.min_inliers:
                source, target = localize(luma, pair, points, radii, self.zncc_threshold, self.min_match_distance)
                pair.source_bbox, pair.target_bbox = bbox_of(source), bbox_of(target)
                heat |= source | target
        if factor < 1.0:
            heat = cv2.resize(heat.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        found = [scaled_pair(p, factor) for p in pairs if p.support >= self.min_inliers]
        facts = {
            "pairs": [p.to_fact("inliers") for p in found],
            "keypoints": int(len(points)),
            "matches": int(len(matches)),
            "best_inliers": int(best),
            "flagged_share": round(float(heat.mean()), 4),
            "working_scale": round(factor, 4),
        }
        scaled = "" if factor == 1.0 else f" (analysed downscaled by {factor:.2f})"
        notes = [f"{len(points)} SIFT keypoints, {len(matches)} g2NN matches{scaled}; "
                 f"{len(found)} geometric transformation{'s' if len(found) != 1 else ''} found."]
        notes += [pair_sentence(i + 1, p, "inliers", "inlier keypoint matches") for i, p in enumerate(facts["pairs"][:5])]
        return Finding(score=score, heatmap=heat.astype(np.float32), notes=notes, facts=facts)

    def _transforms(self, points, radii, matches, shape) -> list[ClonePair]:
        """RANSAC affine per linked cluster pair, then pairs that share one transform merged."""
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
        found: list[tuple[np.ndarray, np.ndarray]] = []  # (source indices, target indices) of inliers
        for k in np.unique(key):
            sel = key == k
            if sel.sum() < 3:
                continue
            transform, inliers = cv2.estimateAffine2D(points[src[sel]], points[dst[sel]], method=cv2.RANSAC,
                                                      ransacReprojThreshold=self.ransac_threshold)
            if transform is not None:
                inl = inliers.ravel().astype(bool)
                found.append((src[sel][inl], dst[sel][inl]))
        pairs = []
        for s_idx, d_idx in _merge(found, points, self.ransac_threshold):
            transform, _ = cv2.estimateAffine2D(points[s_idx], points[d_idx], method=cv2.LMEDS)
            if transform is None:
                continue
            pairs.append(ClonePair((0, 0, 0, 0), (0, 0, 0, 0), transform, len(s_idx), s_idx, d_idx))
        pairs.sort(key=lambda pair: -pair.support)
        return pairs


def _residual(transform: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return np.linalg.norm(src @ transform[:, :2].T + transform[:, 2] - dst, axis=1)


def _merge(found, points, threshold) -> list[tuple[np.ndarray, np.ndarray]]:
    """Merge cluster pairs that are one clone split by the clustering: the same affine map explains both.

    Matches are oriented from the lower cluster label, so a pair may come
    backwards; it then joins with its ends swapped.
    """
    groups: list[list[np.ndarray]] = []
    for s_idx, d_idx in sorted(found, key=lambda f: -len(f[0])):
        for group in groups:
            fit, _ = cv2.estimateAffine2D(points[group[0]], points[group[1]], method=cv2.LMEDS)
            if fit is None:
                continue
            if np.all(_residual(fit, points[s_idx], points[d_idx]) <= 2 * threshold):
                group[0], group[1] = np.concatenate([group[0], s_idx]), np.concatenate([group[1], d_idx])
                break
            if np.all(_residual(fit, points[d_idx], points[s_idx]) <= 2 * threshold):
                group[0], group[1] = np.concatenate([group[0], d_idx]), np.concatenate([group[1], s_idx])
                break
        else:
            groups.append([s_idx, d_idx])
    return [(g[0], g[1]) for g in groups]


def zncc_map(luma: np.ndarray, transform: np.ndarray, window: int = 7) -> np.ndarray:
    """Local zero-mean normalised cross-correlation between the image and its copy moved by ``transform``.

    High where the pixels around ``x`` equal those around ``transform^-1(x)``:
    the target end of the clone (Amerini et al. 2013 localisation step).
    """
    h, w = luma.shape
    moved = cv2.warpAffine(luma, transform, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=np.nan)
    valid = np.isfinite(moved)
    moved = np.where(valid, moved, luma)
    size = (window, window)
    mean_a = cv2.blur(luma, size)
    mean_b = cv2.blur(moved, size)
    cov = cv2.blur(luma * moved, size) - mean_a * mean_b
    var_a = cv2.blur(luma * luma, size) - mean_a**2
    var_b = cv2.blur(moved * moved, size) - mean_b**2
    zncc = cov / np.sqrt(np.maximum(var_a * var_b, 1e-6))
    zncc[~valid] = 0.0
    return zncc


def localize(luma: np.ndarray, pair: ClonePair, points: np.ndarray, radii: np.ndarray, threshold: float,
             min_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Source and target masks of one transformation: correlated areas holding its inlier keypoints.

    The target is each connected area where the ZNCC exceeds ``threshold``
    and that contains an inlier target keypoint; pixels the transform moves by
    less than ``min_shift`` are excluded (a pixel trivially correlates with
    itself). The source is the target mapped back by the inverse transform.
    The keypoint hulls are added so that a clone always has an area.
    """
    h, w = luma.shape
    zncc = zncc_map(luma, pair.transform)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    inverse = cv2.invertAffineTransform(pair.transform)
    back_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    back_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    moved_far = np.hypot(back_x - xs, back_y - ys) >= min_shift
    good = ((zncc >= threshold) & moved_far).astype(np.uint8)
    good = cv2.morphologyEx(good, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(good, connectivity=8)
    tgt = points[pair.target_idx]
    hit = labels[np.clip(tgt[:, 1].round().astype(int), 0, h - 1), np.clip(tgt[:, 0].round().astype(int), 0, w - 1)]
    keep = np.zeros(n, dtype=bool)
    keep[hit[hit > 0]] = True
    target = keep[labels] | _region(tgt, radii[pair.target_idx], (h, w))
    target = cv2.morphologyEx(target.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    source = cv2.warpAffine(target, inverse, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
    source |= _region(points[pair.source_idx], radii[pair.source_idx], (h, w))
    return source, target.astype(bool)
