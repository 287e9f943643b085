"""``compare(original, suspect)``: load both, align, discount the benign, decide, describe, explain."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..image import DEFAULT_LIMITS, Image, ImageSource, Limits, load
from ..report.schema import utc_now
from .align import Alignment, align
from .calibration import Calibration, load_calibration
from .changes import Changes, find_changes
from .describe import describe
from .difference import SCALE_QUANTILE
from .explain import explain_comparison
from .frame import MAX_ANALYSIS_PIXELS, Frame, build_frame
from .hints import hints as find_hints
from .report import Comparison

#: Smallest overlap (analysis pixels) worth comparing: a 64 x 64 patch.
MIN_OVERLAP_PIXELS = 64 * 64
#: Largest standard deviation (analysis pixels) of where the map puts the overlap's corners: the difference
#: tolerates a pixel of misalignment, so two standard deviations must stay within it.
MAX_UNCERTAINTY = 0.5


def _upright_rgb(image) -> np.ndarray:
    return np.ascontiguousarray(image.upright(image.pixels))


def _quad(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Corners of a ``width`` x ``height`` image (pixel edges) mapped by ``matrix``, as a float32 polygon."""
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]])
    return cv2.perspectiveTransform(corners.reshape(-1, 1, 2), matrix).reshape(-1, 2).astype(np.float32)


def _rectangle(width: int, height: int) -> np.ndarray:
    return np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]],
                    np.float32)


def overlap_facts(matrix: np.ndarray, original_size: tuple[int, int], suspect_size: tuple[int, int]) -> dict:
    """How much of each image the other covers, and the overlap's box in each (exact polygon intersections)."""
    (wa, ha), (wb, hb) = original_size, suspect_size
    in_suspect, inter_b = cv2.intersectConvexConvex(_quad(matrix, wa, ha), _rectangle(wb, hb))
    in_original, inter_a = cv2.intersectConvexConvex(_quad(np.linalg.inv(matrix), wb, hb), _rectangle(wa, ha))

    def box(points, width, height):
        if points is None or len(points) == 0:
            return None
        p = points.reshape(-1, 2)
        x0, y0 = max(0, int(np.floor(p[:, 0].min() + 0.5))), max(0, int(np.floor(p[:, 1].min() + 0.5)))
        x1, y1 = min(width, int(np.ceil(p[:, 0].max() + 0.5))), min(height, int(np.ceil(p[:, 1].max() + 0.5)))
        return [x0, y0, max(0, x1 - x0), max(0, y1 - y0)]

    return {
        "share_of_suspect": round(float(in_suspect) / (wb * hb), 5),
        "share_of_original": round(float(in_original) / (wa * ha), 5),
        "bbox_suspect": box(inter_b, wb, hb),
        "bbox_original": box(inter_a, wa, ha),
    }


def compare(
    original: ImageSource,
    suspect: ImageSource,
    *,
    limits: Limits = DEFAULT_LIMITS,
    max_pixels: int = MAX_ANALYSIS_PIXELS,
    calibration: Calibration | None = None,
) -> Comparison:
    """Compare two versions of a picture: what differs beyond resizing, cropping, re-compression and grading?

    Parameters
    ----------
    original : path, bytes or ndarray
        The earlier or reference version (the one found by a reverse image search, say).
    suspect : path, bytes or ndarray
        The version in question; maps and masks are given in its frame.
    limits : Limits
        File-size and pixel limits, checked on each file before decoding.
    max_pixels : int
        Largest analysis frame; larger suspects are compared at a reduced size.
    calibration : Calibration, optional
        The region threshold; default: the shipped calibration.

    Returns
    -------
    Comparison
        ``label`` ("changed", "unchanged", "not-comparable"), ``regions``,
        ``heatmap`` and ``mask`` in the suspect's frame, the fitted transform
        and tone model, and ``to_dict()`` for the JSON form.

    Raises
    ------
    tamperscope.errors.InputError
        Either file cannot be read (the message names it; one line).

    Examples
    --------
    >>> from tamperscope import compare
    >>> result = compare("original.jpg", "viral.jpg")  # doctest: +SKIP
    >>> result.label, [(r.kind, r.bbox_suspect) for r in result.regions]  # doctest: +SKIP
    """
    return decide(prepare(original, suspect, limits=limits, max_pixels=max_pixels), calibration)


@dataclass
class Prepared:
    """What :func:`prepare` measured: everything but the decision (the benchmark re-thresholds from it).

    ``early`` is a finished "not-comparable" comparison when the pair could not be compared at all.
    """

    first: Image
    second: Image
    base: dict
    start: float
    early: Comparison | None = None
    pixels_a: np.ndarray | None = None
    pixels_b: np.ndarray | None = None
    alignment: Alignment | None = None
    frame: Frame | None = None
    facts: dict | None = None
    changes: Changes | None = None


def prepare(original: ImageSource, suspect: ImageSource, *, limits: Limits = DEFAULT_LIMITS,
            max_pixels: int = MAX_ANALYSIS_PIXELS) -> Prepared:
    """The measuring half of :func:`compare`: load, align, bring into one frame, find the candidate regions."""
    analyzed_at = utc_now()
    start = time.perf_counter()
    first = load(original, limits)
    second = load(suspect, limits)
    loaded = time.perf_counter()
    pixels_a, pixels_b = _upright_rgb(first), _upright_rgb(second)
    timings = {"load": loaded - start}
    base = dict(original=first, suspect=second, limits=limits, analyzed_at=analyzed_at, timings=timings)
    prepared = Prepared(first, second, base, start, pixels_a=pixels_a, pixels_b=pixels_b)

    alignment = align(cv2.cvtColor(pixels_a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(pixels_b, cv2.COLOR_RGB2GRAY))
    aligned_at = time.perf_counter()
    timings["align"] = aligned_at - loaded
    if alignment is None:
        prepared.early = _finish(Comparison(
            label="not-comparable", **base,
            reason="no alignment found: the keypoints of the two images do not agree on any similarity, affine or "
                   "projective map (none is meaningful: NFA >= 0.001), so they do not show the same picture.",
        ), start)
        return prepared
    frame = build_frame(pixels_a, pixels_b, alignment, max_pixels)
    facts = overlap_facts(alignment.matrix, (pixels_a.shape[1], pixels_a.shape[0]),
                          (pixels_b.shape[1], pixels_b.shape[0]))
    if alignment.uncertainty_px * frame.factor > MAX_UNCERTAINTY:
        prepared.early = _finish(Comparison(
            label="not-comparable", alignment=alignment, overlap_facts=facts, **base,
            reason=f"the two images share too few matching details ({alignment.inliers} keypoint matches) to be "
                   f"aligned to within a pixel: the fitted map is uncertain by about {alignment.uncertainty_px:.1f} "
                   "px at the edge of the overlap, so a difference map would show misalignment, not changes.",
        ), start)
        return prepared
    if int(frame.valid.sum()) < MIN_OVERLAP_PIXELS:
        prepared.early = _finish(Comparison(
            label="not-comparable", alignment=alignment, overlap_facts=facts, **base,
            reason=f"the images overlap on less than {MIN_OVERLAP_PIXELS} pixels once aligned: too little to "
                   "compare.",
        ), start)
        return prepared
    framed_at = time.perf_counter()
    timings["frame"] = framed_at - aligned_at
    changes = find_changes(frame)
    timings["difference"] = time.perf_counter() - framed_at
    prepared.alignment, prepared.frame, prepared.facts, prepared.changes = alignment, frame, facts, changes
    return prepared


def decide(prepared: Prepared, calibration: Calibration | None = None) -> Comparison:
    """The deciding half of :func:`compare`: keep the candidates at or above the calibrated threshold, describe,
    explain."""
    if prepared.early is not None:
        return prepared.early
    calibration = calibration or load_calibration()
    changes, frame, alignment, facts = prepared.changes, prepared.frame, prepared.alignment, prepared.facts
    pixels_a, pixels_b, base, start = prepared.pixels_a, prepared.pixels_b, prepared.base, prepared.start
    first, second = prepared.first, prepared.second
    kept = sorted((c for c in changes.candidates if c.mass >= calibration.threshold), key=lambda c: -c.mass)
    below = [c for c in changes.candidates if c.mass < calibration.threshold]
    keep_flags = np.zeros(len(changes.candidates) + 1, bool)
    for c in kept:
        keep_flags[c.label] = True
    member = keep_flags[changes.labels]
    regions = []
    for number, c in enumerate(kept, start=1):
        regions.append(describe(
            changes.labels == c.label, number, c.mass, float(np.median(changes.z[changes.labels == c.label])),
            changes.difference.original_ycc, changes.difference.suspect_ycc, frame.valid, frame.factor,
            frame.to_frame, (pixels_b.shape[1], pixels_b.shape[0]), (pixels_a.shape[1], pixels_a.shape[0]),
        ))
    # The map reads 0 at the density unchanged pixels have in this pair (about 1 - SCALE_QUANTILE per channel
    # group) and 1 where the whole neighbourhood differs.
    quiet = frame.valid & (changes.labels == 0)
    benign_density = float(changes.density[quiet].mean()) if quiet.any() else 1.0 - SCALE_QUANTILE
    benign_density = min(benign_density, 0.5)
    heat = np.clip((changes.density - benign_density) / (1.0 - benign_density), 0.0, 1.0).astype(np.float32)
    size = (pixels_b.shape[1], pixels_b.shape[0])
    if heat.shape[::-1] != size:
        heat = np.clip(cv2.resize(heat, size, interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
        member = cv2.resize(member.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    # What the original covers, shown in the suspect's frame (the analysis trims a thin margin inside it).
    ones = np.full(pixels_a.shape[:2], 255, np.uint8)
    covered = cv2.warpPerspective(ones, alignment.matrix, size, flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT) > 0
    height, width = frame.shape
    comparison = Comparison(
        label="changed" if regions else "unchanged",
        alignment=alignment,
        heatmap=heat.astype(np.float32),
        mask=member,
        overlap=covered,
        regions=regions,
        overlap_facts=facts,
        analysis={"width": width, "height": height, "factor": round(frame.factor, 5),
                  "overlap_pixels": int(frame.valid.sum())},
        tone=changes.tone,
        noise={"filters": changes.difference.filters,
               "models": {name: model.to_dict() for name, model in changes.noise.items()},
               "passes": changes.passes, "share_used_for_fits": round(changes.benign_share, 4)},
        decision={
            **calibration.to_dict(),
            "candidates": len(changes.candidates),
            "candidates_below_threshold": len(below),
            "largest_candidate": round(max((c.mass for c in changes.candidates), default=0.0), 1),
            "largest_below_threshold": round(max((c.mass for c in below), default=0.0), 1),
        },
        discounted=_discounted(alignment, facts, changes, frame.factor),
        hints=find_hints(first, second, alignment, facts["share_of_original"], facts["share_of_suspect"]),
        **base,
    )
    return _finish(comparison, start)


def _finish(comparison: Comparison, start: float) -> Comparison:
    comparison.explanation = explain_comparison(comparison)
    comparison.timings["total"] = time.perf_counter() - start
    return comparison


def _discounted(alignment, facts, changes, factor) -> list[dict[str, str]]:
    al = alignment
    geometry = [f"scale {al.scale:.3f}"]
    if abs(al.rotation_deg) >= 0.05:
        geometry.append(f"rotation {al.rotation_deg:+.1f} degrees")
    if al.mirrored:
        geometry.append("a mirror")
    if facts["share_of_original"] < 0.99:
        geometry.append(f"a crop keeping {facts['share_of_original']:.0%} of the original")
    tone = changes.tone
    if tone.stages:
        tone_words = (f"Global colour and tone: an additive colour model (one curve of each input channel summed "
                      f"per output channel{', then per-channel tone curves' if 'curves-out' in tone.stages else ''}); "
                      f"the median colour error (R + G + B) fell from {tone.residual_before:.1f} to "
                      f"{tone.residual_after:.1f} levels.")
    else:
        tone_words = (f"Global colour and tone: no global change was needed (median colour error, R + G + B, "
                      f"{tone.residual_before:.1f} levels).")
    luma = changes.noise["luma"]
    flat, busy = luma.scale(np.array([0.0]))[0], luma.scale(np.array([32.0]))[0]
    y_weights = changes.difference.filters["Y"]["weights"]
    return [
        {"id": "cmp:alignment", "what": "geometry",
         "detail": f"Geometry: a {al.model} map ({', '.join(geometry)}), fitted to {al.inliers} keypoint matches "
                   f"with an error of {al.rms_px:.2f} px."},
        {"id": "cmp:tone", "what": "tone",
         "detail": tone_words},
        {"id": "cmp:noise", "what": "resampling",
         "detail": "Resampling, sharpening and chroma subsampling: a 5x5 matching filter per channel fitted on the "
                   f"pair (luma centre weight {y_weights[0]:.2f})."},
        {"id": "cmp:noise", "what": "compression",
         "detail": f"Re-compression and resampling noise, modelled from the pair: {luma.quantile:.0%} of unchanged "
                   f"pixels differ in luma by less than {flat:.1f} grey levels in flat areas and {busy:.1f} in "
                   "detailed ones (chroma has its own model, by chroma detail); differences are judged against "
                   "that."},
        {"id": "cmp:noise", "what": "misalignment",
         "detail": f"Misalignment up to one analysis pixel ({1 / factor:.1f} suspect pixels): a value within its "
                   "neighbour's range counts as equal."},
    ]
