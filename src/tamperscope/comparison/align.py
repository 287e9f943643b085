"""Geometric alignment of two versions of a picture: keypoints, robust fits, an a-contrario decision.

Method
------
1. *Keypoints.* SIFT (Lowe, IJCV 2004) on the luma of each image, downscaled
   with area averaging so that its long side is at most ``feature_side``
   pixels; descriptors turned into RootSIFT (Arandjelovic & Zisserman, CVPR
   2012: L1-normalised, square-rooted), so that the Euclidean distance
   compares them as the Hellinger kernel does.
2. *Matches.* Each suspect descriptor's two nearest original descriptors;
   kept when the nearest is closer than ``ratio`` times the second (Lowe's
   ratio test). SIFT is invariant to rotation and scale but not to a mirror,
   so the original's keypoints are computed twice: as stored and flipped left
   to right (a vertical flip is a horizontal one turned by 180 degrees).
3. *Models.* For each orientation, three models are fitted to the matches
   with OpenCV's robust estimators: a similarity (rotation, uniform scale,
   translation: ``estimateAffinePartial2D``, RANSAC), an affine map
   (``estimateAffine2D``, USAC MAGSAC++) and a homography
   (``findHomography``, USAC MAGSAC++); each is refined by least squares on
   its inliers.
4. *Decision and choice.* Each fit is judged by its number of false alarms
   (NFA) as in ORSA (Moisan & Stival, IJCV 57(3), 2004; Moisan, Moulon,
   Monasse, IPOL 2012): with the ``n`` matches sorted by transfer error
   ``e``, ``NFA(k) = (n - s) C(n, k) C(k, s) (pi e_k^2 / A)^(k - s)`` where
   ``s`` is the model's minimal sample (2, 3, 4 points) and ``A`` the area of
   the suspect's feature image: the expected number of models that would
   explain ``k`` matches this well if the matches were unrelated points,
   multiplied by the number of fits tried (three models, two orientations).
   The fit with the smallest NFA wins; the extra parameters of a richer
   model are paid for by ``C(k, s)`` and the larger ``s``, so the simplest
   model that fits is kept unless a richer one explains the matches markedly
   better. When no fit reaches ``NFA < EPSILON`` the two images do not show
   the same scene: no alignment is returned. ``EPSILON = 1e-3`` rather than
   ORSA's 1: a false alignment costs a whole map of false changes, and real
   versions of one picture reach NFAs below 1e-20 (measured in
   docs/benchmarks.md).
5. *Sanity.* A fit is refused when it maps the original to a degenerate
   shape (folded, or a scale ratio beyond 1/32..32 or sheared more than
   4:1), which a homography fitted to a few matches can do.

The result maps *upright* original pixel coordinates ``(x, y, 1)`` to
upright suspect pixel coordinates, pixel centres at integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.special import gammaln

#: Long side of the images keypoints are computed on (area-downscaled when larger).
FEATURE_SIDE = 1024
#: Most keypoints kept per image (the strongest by SIFT response).
MAX_KEYPOINTS = 4000
#: Lowe's ratio test.
RATIO = 0.8
#: Reprojection threshold of the robust fits, in feature-image pixels.
RANSAC_PX = 3.0
#: Keypoint positions are not more precise than this (feature pixels): the floor of the errors in the NFA.
MIN_ERROR = 0.1
#: Minimal sample of each model, simplest first.
MODELS = {"similarity": 2, "affine": 3, "homography": 4}
#: Expected number of unrelated pairs, per pair compared, that would align by chance (the a-contrario epsilon).
EPSILON = 1e-3
#: Fits tried per pair: each model, as stored and mirrored (the NFA's multiplicity).
TESTS = 2 * len(MODELS)


@dataclass
class Features:
    """Keypoint positions (N, 2) in full-resolution pixel coordinates and RootSIFT descriptors (N, 128)."""

    points: np.ndarray
    descriptors: np.ndarray
    area: float


@dataclass
class Alignment:
    """How the original maps onto the suspect.

    Attributes
    ----------
    matrix : ndarray
        3x3, upright original pixel (x, y, 1) -> upright suspect pixel.
    model : str
        "similarity", "affine" or "homography".
    mirrored : bool
        True when the suspect is a mirror image of the original.
    inliers : int
        Matches that the chosen model explains (the ORSA ``k``).
    matches : int
        Matches that passed the ratio test in the chosen orientation.
    log10_nfa : float
        Of the chosen fit, with the multiplicity of the fits tried; below ``log10 EPSILON`` means meaningful.
    rms_px : float
        Root-mean-square transfer error of the inliers, in suspect pixels.
    uncertainty_px : float
        Standard deviation of where the map puts the overlap's corners, in suspect pixels
        (:func:`uncertainty`): how far the comparison can trust the alignment.
    candidates : list of dict
        Every fit tried (orientation, model, inliers, log10 NFA).
    """

    matrix: np.ndarray
    model: str
    mirrored: bool
    inliers: int
    matches: int
    log10_nfa: float
    rms_px: float
    uncertainty_px: float = 0.0
    candidates: list[dict] = field(default_factory=list)

    @property
    def scale(self) -> float:
        """Suspect pixels per original pixel at the centre of the original (``sqrt |det|`` of the Jacobian)."""
        return math.sqrt(abs(float(np.linalg.det(self.matrix[:2, :2]))) / max(abs(self.matrix[2, 2]), 1e-12))

    def scale_at(self, x: float, y: float) -> float:
        """Local area scale (suspect pixels per original pixel) at original point ``(x, y)``."""
        return math.sqrt(abs(jacobian_det(self.matrix, x, y)))

    @property
    def rotation_deg(self) -> float:
        """Rotation of the linear part (after undoing a mirror), in degrees counter-clockwise as seen on screen."""
        linear = self.matrix[:2, :2] / self.matrix[2, 2]
        if self.mirrored:
            linear = linear @ np.diag([-1.0, 1.0])
        # Image y points down: a counter-clockwise turn on screen is a negative angle in (x, y) maths.
        return float(-math.degrees(math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "matrix": [[round(float(v), 8) for v in row] for row in self.matrix],
            "mirrored": self.mirrored,
            "scale": round(self.scale, 5),
            "rotation_deg": round(self.rotation_deg, 3),
            "inliers": self.inliers,
            "matches": self.matches,
            "log10_nfa": round(self.log10_nfa, 2),
            "rms_px": round(self.rms_px, 3),
            "uncertainty_px": round(self.uncertainty_px, 3),
            "candidates": self.candidates,
        }


def jacobian_det(matrix: np.ndarray, x: float, y: float) -> float:
    """Determinant of the Jacobian of the projective map ``matrix`` at ``(x, y)``."""
    w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
    return float(np.linalg.det(matrix) / w**3)


def flip_matrix(width: int) -> np.ndarray:
    """3x3 left-right mirror of an image ``width`` pixels wide (pixel centres at integers)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def features(luma: np.ndarray, feature_side: int = FEATURE_SIDE, max_keypoints: int = MAX_KEYPOINTS) -> Features:
    """SIFT keypoints of ``luma`` (uint8, H x W) computed at a long side of at most ``feature_side``.

    Points come back in the coordinates of ``luma`` itself; ``area`` is the
    area of the image the keypoints were found on (the ORSA ``A``), in
    feature pixels.
    """
    height, width = luma.shape
    factor = min(1.0, feature_side / max(height, width))
    small = luma
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        small = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
    sift = cv2.SIFT_create(nfeatures=max_keypoints)
    found, descriptors = sift.detectAndCompute(small, None)
    area = float(small.shape[0] * small.shape[1])
    if descriptors is None or not found:
        return Features(np.zeros((0, 2), np.float64), np.zeros((0, 128), np.float32), area)
    # Pixel centres: the small image's pixel i covers full-resolution pixels around (i + 0.5) / factor - 0.5.
    points = (np.array([k.pt for k in found], dtype=np.float64) + 0.5) / np.array(
        [small.shape[1] / width, small.shape[0] / height]
    ) - 0.5
    root = descriptors / np.maximum(descriptors.sum(axis=1, keepdims=True), 1e-12)
    return Features(points, np.sqrt(root).astype(np.float32), area)


def match(original: Features, suspect: Features, ratio: float = RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test matches: (M, 2) original points and (M, 2) suspect points."""
    if len(original.descriptors) < 2 or len(suspect.descriptors) < 1:
        return np.zeros((0, 2)), np.zeros((0, 2))
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(suspect.descriptors, original.descriptors, k=2)
    chosen = [(m[0].trainIdx, m[0].queryIdx) for m in pairs if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if not chosen:
        return np.zeros((0, 2)), np.zeros((0, 2))
    index = np.array(chosen)
    src, dst = original.points[index[:, 0]], suspect.points[index[:, 1]]
    # SIFT puts several keypoints (one per dominant orientation) on one spot: the same pair of positions
    # counted twice would be "explained" twice by any model and fake an alignment's significance.
    _, unique = np.unique(np.round(np.hstack([src, dst]), 1), axis=0, return_index=True)
    unique = np.sort(unique)
    return src[unique], dst[unique]


def log10_nfa(errors: np.ndarray, sample: int, area: float, max_error: float = RANSAC_PX) -> tuple[float, int]:
    """ORSA's smallest log10 NFA over ``k`` and that ``k``, for transfer ``errors`` (in pixels) of a model.

    ``NFA(k) = (n - s) C(n, k) C(k, s) (pi e_(k)^2 / A)^(k - s)`` with the
    errors sorted ascending (Moisan & Stival 2004, eq. 7; one-sided transfer
    error; ``A`` the area of the image the errors are measured in). Only
    ``k`` whose error ``e_(k)`` is within ``max_error`` (the fits' inlier
    threshold) count: an alignment that places its matches tens of pixels
    apart cannot carry a pixel comparison, however unlikely it is by chance
    (unrelated photos produced such fits of 5 matches 30 px apart).
    """
    n = len(errors)
    if n <= sample:
        return math.inf, 0
    ordered = np.sort(errors)
    usable = int(np.searchsorted(ordered, max_error, side="right"))
    if usable <= sample:
        return math.inf, 0
    k = np.arange(sample + 1, usable + 1)
    e = np.maximum(ordered[sample:usable], MIN_ERROR)
    alpha = np.minimum(math.pi * e**2 / area, 1.0)
    log_c_nk = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    log_c_ks = gammaln(k + 1) - gammaln(sample + 1) - gammaln(k - sample + 1)
    value = (math.log(n - sample) + log_c_nk + log_c_ks + (k - sample) * np.log(alpha)) / math.log(10)
    best = int(np.argmin(value))
    return float(value[best]), int(k[best])


def _fit(model: str, src: np.ndarray, dst: np.ndarray, threshold: float) -> np.ndarray | None:
    """One robust fit of ``model`` (3x3 matrix) or None."""
    src32, dst32 = src.astype(np.float32), dst.astype(np.float32)
    if model == "similarity":
        found, _ = cv2.estimateAffinePartial2D(src32, dst32, method=cv2.RANSAC, ransacReprojThreshold=threshold,
                                               maxIters=4000, confidence=0.999, refineIters=20)
    elif model == "affine":
        found, _ = cv2.estimateAffine2D(src32, dst32, method=cv2.USAC_MAGSAC, ransacReprojThreshold=threshold,
                                        maxIters=4000, confidence=0.999, refineIters=20)
    else:
        found, _ = cv2.findHomography(src32, dst32, cv2.USAC_MAGSAC, threshold, maxIters=4000, confidence=0.999)
    if found is None or not np.all(np.isfinite(found)):
        return None
    return found if found.shape == (3, 3) else np.vstack([found, [0.0, 0.0, 1.0]])


def transfer_errors(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Distance between ``matrix`` applied to ``src`` and ``dst`` (pixels)."""
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2).astype(np.float64), matrix).reshape(-1, 2)
    return np.linalg.norm(mapped - dst, axis=1)


def _refine(model: str, src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares refit of ``model`` on inliers (no robust step)."""
    if model == "homography":
        found, _ = cv2.findHomography(src.astype(np.float32), dst.astype(np.float32), 0)
        return None if found is None else found
    a = np.asarray(src, np.float64)
    b = np.asarray(dst, np.float64)
    if model == "affine":
        design = np.hstack([a, np.ones((len(a), 1))])
        solution, *_ = np.linalg.lstsq(design, b, rcond=None)
        return np.vstack([solution.T, [0.0, 0.0, 1.0]])
    # similarity: x' = p x - q y + tx, y' = q x + p y + ty
    rows = np.zeros((2 * len(a), 4))
    rows[0::2] = np.column_stack([a[:, 0], -a[:, 1], np.ones(len(a)), np.zeros(len(a))])
    rows[1::2] = np.column_stack([a[:, 1], a[:, 0], np.zeros(len(a)), np.ones(len(a))])
    (p, q, tx, ty), *_ = np.linalg.lstsq(rows, b.reshape(-1), rcond=None)
    return np.array([[p, -q, tx], [q, p, ty], [0.0, 0.0, 1.0]])


def degenerate(matrix: np.ndarray, width: int, height: int) -> bool:
    """True when ``matrix`` folds the ``width`` x ``height`` rectangle or distorts it beyond a plausible re-publication."""
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64)
    w = corners @ matrix[2, :2] + matrix[2, 2]
    if np.any(w <= 1e-9):
        return True  # part of the original would map through the horizon
    dets = [jacobian_det(matrix, x, y) for x, y in corners]
    if min(dets) * max(dets) <= 0:
        return True
    scales = np.sqrt(np.abs(dets))
    if scales.max() > 32 or scales.min() < 1 / 32 or scales.max() / scales.min() > 4:
        return True
    singular = np.linalg.svd(matrix[:2, :2] - np.outer(matrix[:2, 2], matrix[2, :2]), compute_uv=False)
    return bool(singular[0] / max(singular[1], 1e-12) > 4)


def align(
    original_luma: np.ndarray,
    suspect_luma: np.ndarray,
    *,
    feature_side: int = FEATURE_SIDE,
    max_keypoints: int = MAX_KEYPOINTS,
    ratio: float = RATIO,
) -> Alignment | None:
    """Find how the original maps onto the suspect, or None when they do not show the same scene.

    Parameters
    ----------
    original_luma, suspect_luma : ndarray
        uint8 luma (H x W) of each image, upright.

    Returns
    -------
    Alignment or None
        None when no fit is meaningful (``NFA >= EPSILON``) or every
        meaningful fit is degenerate.
    """
    height, width = original_luma.shape
    suspect_features = features(suspect_luma, feature_side, max_keypoints)
    # The errors are measured in the suspect's feature image: pixels there are `unit` full-resolution pixels.
    unit = max(suspect_luma.shape) / max(min(feature_side, max(suspect_luma.shape)), 1)
    flip = flip_matrix(width)
    candidates: list[dict] = []
    best: tuple[float, dict, np.ndarray] | None = None
    for mirrored in (False, True):
        luma = original_luma[:, ::-1] if mirrored else original_luma
        found = features(np.ascontiguousarray(luma), feature_side, max_keypoints)
        src, dst = match(found, suspect_features, ratio)
        for model, sample in MODELS.items():
            fitted = _fit(model, src / unit, dst / unit, RANSAC_PX) if len(src) > sample else None
            if fitted is None:
                continue
            errors = transfer_errors(fitted, src / unit, dst / unit)
            nfa, k = log10_nfa(errors, sample, suspect_features.area)
            nfa += math.log10(TESTS)
            inliers = errors <= np.sort(errors)[k - 1] if k else np.zeros(len(errors), bool)
            if inliers.sum() > sample:
                refined = _refine(model, src[inliers] / unit, dst[inliers] / unit)
                if refined is not None and np.all(np.isfinite(refined)):
                    errors_refined = transfer_errors(refined, src / unit, dst / unit)
                    nfa_refined, k_refined = log10_nfa(errors_refined, sample, suspect_features.area)
                    nfa_refined += math.log10(TESTS)
                    if nfa_refined <= nfa:
                        fitted, errors, nfa, k = refined, errors_refined, nfa_refined, k_refined
            # Back to full-resolution coordinates: scale in, scale out.
            scale = np.diag([unit, unit, 1.0])
            matrix = scale @ fitted @ np.linalg.inv(scale)
            if mirrored:
                matrix = matrix @ flip
            matrix = matrix / matrix[2, 2]
            bad = degenerate(matrix, width, height)
            entry = {
                "mirrored": mirrored,
                "model": model,
                "matches": int(len(src)),
                "inliers": int(k),
                "log10_nfa": round(nfa, 2) if math.isfinite(nfa) else None,
                "degenerate": bad,
            }
            candidates.append(entry)
            if bad or not math.isfinite(nfa) or nfa >= math.log10(EPSILON):
                continue
            ordered = np.sort(errors)
            rms = float(np.sqrt(np.mean(ordered[:k] ** 2)) * unit) if k else math.inf
            entry["rms_px"] = round(rms, 3)
            if best is None or nfa < best[0]:
                chosen = errors <= ordered[k - 1]
                spread = uncertainty(model, fitted, src[chosen] / unit, dst[chosen] / unit,
                                     (width / unit, height / unit), suspect_luma.shape, unit) * unit
                entry["uncertainty_px"] = round(spread, 3)
                best = (nfa, entry, matrix)
    if best is None:
        return None
    nfa, entry, matrix = best
    return Alignment(
        matrix=matrix,
        model=entry["model"],
        # From the map itself: a homography may also fit a mirror of a symmetric scene as stored.
        mirrored=bool(np.linalg.det(matrix[:2, :2] - np.outer(matrix[:2, 2], matrix[2, :2])) < 0),
        inliers=entry["inliers"],
        matches=entry["matches"],
        log10_nfa=nfa,
        rms_px=entry["rms_px"],
        uncertainty_px=entry["uncertainty_px"],
        candidates=candidates,
    )


def _parameters(model: str, matrix: np.ndarray) -> np.ndarray:
    if model == "similarity":
        return np.array([matrix[0, 0], matrix[1, 0], matrix[0, 2], matrix[1, 2]])
    if model == "affine":
        return matrix[:2].ravel().copy()
    return (matrix / matrix[2, 2]).ravel()[:8].copy()


def _from_parameters(model: str, theta: np.ndarray) -> np.ndarray:
    if model == "similarity":
        a, b, tx, ty = theta
        return np.array([[a, -b, tx], [b, a, ty], [0.0, 0.0, 1.0]])
    if model == "affine":
        return np.vstack([theta.reshape(2, 3), [0.0, 0.0, 1.0]])
    return np.append(theta, 1.0).reshape(3, 3)


def _mapped_jacobian(model: str, matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """d(mapped points)/d(parameters), (2 N, p), by central differences."""
    theta = _parameters(model, matrix)
    columns = []
    for i in range(len(theta)):
        step = 1e-6 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        plus = cv2.perspectiveTransform(points.reshape(-1, 1, 2), _from_parameters(model, up)).reshape(-1)
        minus = cv2.perspectiveTransform(points.reshape(-1, 1, 2), _from_parameters(model, down)).reshape(-1)
        columns.append((plus - minus) / (2 * step))
    return np.stack(columns, axis=1)


def uncertainty(model: str, matrix: np.ndarray, src: np.ndarray, dst: np.ndarray, source_size: tuple[float, float],
                suspect_shape: tuple[int, int], unit: float) -> float:
    """Standard deviation (fit-image pixels) of where the fitted map puts the overlap's corners.

    The matches' errors (their RMS with the fit's degrees of freedom taken out, at least ``MIN_ERROR``) go
    through the least-squares covariance of the model's parameters, ``sigma^2 (J^T J)^-1``, to the mapped
    position of each corner of the overlap: a map fitted to a few matches in one corner is precise there and
    uncertain at the far side, however well those few agree.
    """
    points = np.asarray(src, np.float64)
    count, params = len(points), len(_parameters(model, matrix))
    if 2 * count <= params:
        return math.inf
    residual = transfer_errors(matrix, points, np.asarray(dst, np.float64))
    sigma = max(float(np.sqrt((residual**2).sum() / (2 * count - params))), MIN_ERROR)
    jacobian = _mapped_jacobian(model, matrix, points.astype(np.float64))
    try:
        covariance = sigma**2 * np.linalg.inv(jacobian.T @ jacobian)
    except np.linalg.LinAlgError:
        return math.inf
    width, height = source_size
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    suspect_h, suspect_w = suspect_shape
    box = np.array([[0, 0], [suspect_w, 0], [suspect_w, suspect_h], [0, suspect_h]], np.float64) / unit
    back = cv2.perspectiveTransform(box.reshape(-1, 1, 2), np.linalg.inv(matrix)).reshape(-1, 2).astype(np.float32)
    area, corners = cv2.intersectConvexConvex(source, back)
    if corners is None or area <= 0:
        return math.inf
    corners = corners.reshape(-1, 2).astype(np.float64)
    spread = _mapped_jacobian(model, matrix, corners)
    worst = 0.0
    for i in range(len(corners)):
        rows = spread[2 * i: 2 * i + 2]
        worst = max(worst, float(np.sqrt(max(np.trace(rows @ covariance @ rows.T), 0.0))))
    return worst
