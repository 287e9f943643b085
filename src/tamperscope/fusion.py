"""Fusion v1: evidence -> integrity score, fused heatmap, mask and regions.

The rule (also in docs/fusion.md), applied to the evidence of status "ok" that
carries a score ("deciding" evidence; ELA's map is a layer, not a decision):

* **Manipulation score** = the largest detector score. One strong, specific
  trace is enough to doubt an image; averaging would let silent detectors
  (a JPEG check on a never-compressed region) dilute it. Not calibrated: a
  learned, calibrated fusion replaces this rule later.
* **Fused heatmap** = per pixel, the largest ``heatmap x score`` over deciding
  detectors, so a map counts only as much as its own detector believes in it.
* **Mask** = pixels that at least one detector with score >= ``threshold``
  marks >= ``threshold`` in its own heatmap.
* **Regions** = 8-connected components of the mask covering at least
  ``min_region_share`` of the image (the ``max_regions`` largest); each lists the detectors whose own map
  marks at least ``support_share`` of it.
* **Verdict class** (rule "classes-v1"): one of "authentic", "edited",
  "ai-generated", "ai-edited" or "inconclusive". Each piece of evidence says
  which class its score supports (``Evidence.indicates``) and whether it is
  *provenance* (what the file declares: signed Content Credentials, generator
  records, invisible watermarks) or a *signal* (a trace measured in pixels).

  1. Provenance first: if any provenance evidence scores >= ``threshold``,
     the class is that of the strongest such evidence (ties broken toward the
     more specific class: ai-edited, ai-generated, edited, authentic), and
     signals cannot change it. A declaration or a cryptographic check is about
     the file's history; a statistical trace in the pixels is a weaker kind of
     fact, so it is reported beside the class but outranked.
  2. Otherwise signals decide: the class of the strongest signal scoring >=
     ``threshold``.
  3. Otherwise "authentic" (no evidence of manipulation found) when at least
     one signal could judge the image, else "inconclusive". Provenance checks
     that found nothing (no manifest, no generator record) do not make an image
     "authentic": the absence of a declaration is not a finding.

  The manipulation score stays the largest score of deciding evidence that
  supports a class other than "authentic"; provenance evidence counts only
  once it decides (a low provenance score means "nothing declared", not a
  weak trace).

Rule "calibrated-v2" (opt-in: ``FusionParams(rule="calibrated-v2")``; docs/fusion.md says
why it is not the default yet) keeps step 1 and the
classes, and replaces the *signal* part for the detectors its model knows
(:data:`MODELLED`, weights in ``models/fusion.json``: one model with the
localizer, one without it for the default profile, see :func:`choose_model`): their maps are pooled
into statistics (soft maximum, mean, quantiles, and for maps with a confidence
the confidence-weighted anomaly, as in TruFor's integrity head) and a logistic
regression fitted on held-apart synthetic forgeries turns them into one
calibrated probability of manipulation, the *integrity score* (reported as is);
it counts as one signal indicating "edited", put on the verdict scale by
:func:`decision_scale` (0.5 = the 99th percentile of authentic fitting images); detectors outside the model keep their own scores.
The fused map is a per-pixel logistic regression on the modelled detectors'
maps, fitted on the same data. When no modelled detector could judge the
image, or the weights are absent, v1 applies unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, reduce
from pathlib import Path

import numpy as np
from scipy import ndimage

from ._regions import connected_regions
from .evidence import Evidence, expand_cells

FUSION_RULE = "classes-v1"
#: The rules fuse() knows; the first is the default (see docs/fusion.md for why calibrated-v2 is not, yet).
RULES = ("classes-v1", "calibrated-v2")
MODEL_PATH = Path(__file__).resolve().parent / "models" / "fusion.json"
#: The detectors whose maps the calibrated model reads, in feature order.
MODELLED = ("ela", "dq", "blk", "noise", "localizer")
#: Pooled statistics per detector, in feature order (see :func:`pooled_statistics`).
STATISTICS = ("applicable", "score", "softmax", "mean", "q50", "q90", "q99", "confident")

#: Verdict classes, most specific first: the tie-break order of the rule above.
CLASSES = ("ai-edited", "ai-generated", "edited", "authentic")


@dataclass(frozen=True)
class FusionParams:
    threshold: float = 0.5
    min_region_share: float = 0.001
    support_share: float = 0.3
    max_regions: int = 50
    #: "classes-v1" (max rule, the default) or "calibrated-v2" (learned, calibrated integrity score).
    rule: str = FUSION_RULE


@dataclass
class Region:
    """A connected manipulated area, in stored-pixel coordinates."""

    id: str
    bbox: tuple[int, int, int, int]  # x, y, width, height
    share: float
    mean_score: float
    detectors: list[str]
    local_mask: np.ndarray = field(repr=False)  # boolean mask of the region inside its bbox
    #: The region's box and mask on the fusion's cells (``Fusion.stride``).
    cell_slices: tuple[slice, slice] | None = field(default=None, repr=False)
    local_cells: np.ndarray | None = field(default=None, repr=False)

    @property
    def slices(self) -> tuple[slice, slice]:
        x, y, w, h = self.bbox
        return slice(y, y + h), slice(x, x + w)


@dataclass
class Fusion:
    """The fused result. Its maps are kept per ``stride x stride`` cell of the stored image (``*_cells``).

    ``stride`` is the largest cell every fused map divides into exactly (the greatest common divisor of their
    strides, 1 when any map is per pixel), so a cell's value is that of each of its pixels and everything
    computed on the cells (the mask, the regions, their shares and mean scores) equals the per-pixel result;
    ``heatmap``, ``mask`` and ``confidence`` give the maps at full resolution on demand.
    """

    label: str
    score: float | None
    heatmap_cells: np.ndarray
    confidence_cells: np.ndarray | None
    mask_cells: np.ndarray
    regions: list[Region]
    deciding: list[str]
    params: FusionParams
    #: "provenance" or "signal": which kind of evidence set the class (None when nothing did).
    decided_by: str | None = None
    #: The evidence (detector names) that set the class.
    drivers: list[str] = field(default_factory=list)
    #: Signals that scored >= threshold for a different class but were outranked by provenance.
    outranked: list[str] = field(default_factory=list)
    #: The rule that made this fusion ("calibrated-v2" falls back to "classes-v1" when its model cannot apply).
    rule: str = "classes-v1"
    #: The calibrated integrity score of the modelled signals (None under classes-v1).
    integrity: float | None = None
    #: Side in pixels of the cells of ``heatmap_cells``, ``confidence_cells`` and ``mask_cells``.
    stride: int = 1
    #: (height, width) of the stored image.
    shape: tuple[int, int] = (0, 0)

    @cached_property
    def heatmap(self) -> np.ndarray:
        """The fused map, float32 per pixel of the stored image."""
        return expand_cells(self.heatmap_cells, self.stride, self.shape)

    @cached_property
    def mask(self) -> np.ndarray:
        """The regions' pixels, bool per pixel of the stored image."""
        return expand_cells(self.mask_cells, self.stride, self.shape)

    @cached_property
    def confidence(self) -> np.ndarray | None:
        """The mean confidence of the fused maps per pixel, or None when none gave one."""
        if self.confidence_cells is None:
            return None
        return expand_cells(self.confidence_cells, self.stride, self.shape)

    @property
    def mask_share(self) -> float:
        """Share of the image's pixels inside the mask."""
        pixels = self.shape[0] * self.shape[1]
        return float((cell_areas(self.stride, self.shape) * self.mask_cells).sum() / max(pixels, 1))


def fuse(evidence: list[Evidence], shape: tuple[int, int], params: FusionParams = FusionParams()) -> Fusion:
    """Combine detectors' evidence for an image of ``shape`` (stored orientation)."""
    deciding = [e for e in evidence if e.ok and e.score is not None]
    model = choose_model(load_model(), {e.detector for e in evidence}) if params.rule == "calibrated-v2" else None
    modelled = {} if model is None else {e.detector: e for e in evidence if e.ok and e.detector in model["detectors"]}
    if model is None or not modelled:
        return _fuse_v1(deciding, shape, params)
    return _fuse_calibrated(evidence, deciding, modelled, shape, params, model)


def _fuse_v1(deciding: list[Evidence], shape: tuple[int, int], params: FusionParams) -> Fusion:
    maps = [item for item in deciding if item.heatmap is not None]
    stride = grid_stride(maps)
    cells = grid_shape(shape, stride)
    heatmap = np.zeros(cells, dtype=np.float32)
    mask = np.zeros(cells, dtype=bool)
    own_masks: dict[str, np.ndarray] = {}
    confidences = []
    for item in maps:
        full = on_grid(item.heatmap, item.stride, stride, cells)
        np.maximum(heatmap, full * np.float32(item.score), out=heatmap)
        own = full >= params.threshold
        own_masks[item.detector] = own
        if item.score >= params.threshold:
            mask |= own
        if item.confidence is not None:
            confidences.append(on_grid(item.confidence, item.stride, stride, cells))

    score = max((float(e.score) for e in deciding if e.indicates != "authentic" and _measures(e, params.threshold)),
                default=None)
    label, decided_by, drivers, outranked = classify(deciding, params.threshold)
    if score is None and label == "authentic":
        score = 0.0
    confidence = np.mean(confidences, axis=0).astype(np.float32) if confidences else None
    return _finish(label, score, heatmap, confidence, mask, own_masks, deciding, params, decided_by, drivers,
                   outranked, "classes-v1", None, stride, shape)


def _fuse_calibrated(evidence, deciding, modelled, shape, params, model) -> Fusion:
    integrity, contributions = integrity_score(modelled, model)
    stride = grid_stride([e for e in modelled.values() if e.heatmap is not None])
    cells = grid_shape(shape, stride)
    heatmap = fused_map(modelled, cells, model, stride)
    own_masks = {}
    for name, item in modelled.items():
        if item.heatmap is not None:
            own_masks[name] = on_grid(item.heatmap, item.stride, stride, cells) >= params.threshold
    # The modelled detectors speak through one calibrated signal; the others keep their own scores.
    others = [e for e in deciding if e.detector not in modelled]
    combined = Evidence(detector="integrity", version=model["version"], indicates="edited", kind="signal")
    combined.score = decision_scale(integrity, model.get("decision_threshold", 0.5))
    label, decided_by, drivers, outranked = classify([*others, combined], params.threshold)
    if "integrity" in drivers:
        named = [n for n, c in sorted(contributions.items(), key=lambda kv: -kv[1]) if c > 0] or list(modelled)
        at = drivers.index("integrity")
        drivers = drivers[:at] + named + drivers[at + 1 :]
    outranked = [name for o in outranked for name in (list(modelled) if o == "integrity" else [o])]
    scores = [float(e.score) for e in others if e.indicates != "authentic"] + [combined.score]
    score = max(scores)
    mask = heatmap >= params.threshold
    confidences = [on_grid(e.confidence, e.stride, stride, cells) for e in modelled.values()
                   if e.confidence is not None and e.heatmap is not None]
    confidence = np.mean(confidences, axis=0).astype(np.float32) if confidences else None
    fused_deciding = [e for e in deciding if e.detector not in modelled] + list(modelled.values())
    return _finish(label, score, heatmap, confidence, mask, own_masks, fused_deciding, params, decided_by, drivers,
                   outranked, "calibrated-v2", integrity, stride, shape)


def _finish(label, score, heatmap, confidence, mask, own_masks, deciding, params, decided_by, drivers, outranked,
            rule, integrity, stride, shape) -> Fusion:
    regions = _regions(mask, heatmap, own_masks, params, stride, shape) if label in {"edited", "ai-edited"} else []
    final_mask = np.zeros(heatmap.shape, dtype=bool)
    for region in regions:
        final_mask[region.cell_slices] |= region.local_cells
    return Fusion(
        label=label,
        score=score,
        heatmap_cells=heatmap,
        confidence_cells=confidence,
        mask_cells=final_mask,
        regions=regions,
        deciding=[e.detector for e in deciding],
        params=params,
        decided_by=decided_by,
        drivers=drivers,
        outranked=outranked,
        rule=rule,
        integrity=integrity,
        stride=stride,
        shape=tuple(shape),
    )


# --------------------------------------------------------------------------
# The grid the maps are fused on

#: Cell side of a fusion with no map at all (every cell is zero, so any size is exact).
EMPTY_GRID_STRIDE = 16


def grid_stride(items: list[Evidence]) -> int:
    """The largest cell side that every map of ``items`` divides into exactly (the gcd of their strides)."""
    strides = [max(1, int(item.stride)) for item in items]
    return reduce(math.gcd, strides) if strides else EMPTY_GRID_STRIDE


def grid_shape(shape: tuple[int, int], stride: int) -> tuple[int, int]:
    """Cells of ``stride`` pixels covering an image of ``shape``: the last row and column may be cut."""
    return -(-shape[0] // stride), -(-shape[1] // stride)


def on_grid(array: np.ndarray, stride: int, grid: int, cells: tuple[int, int]) -> np.ndarray:
    """A map given per ``stride`` cell, on the grid of ``grid``-pixel cells (``stride`` a multiple of ``grid``).

    The same expansion as :meth:`Evidence.full_resolution` (``grid`` = 1 is exactly it): each grid cell lies
    inside one of the map's cells, so it takes that cell's value; a new float32 array.
    """
    return expand_cells(np.asarray(array, dtype=np.float32), stride // grid, cells, copy=True)


def cell_areas(stride: int, shape: tuple[int, int]) -> np.ndarray:
    """Pixels in each cell of :func:`grid_shape` (``stride ** 2`` but along the cut last row and column)."""
    rows, cols = grid_shape(shape, stride)
    heights = np.minimum(stride, shape[0] - stride * np.arange(rows))
    widths = np.minimum(stride, shape[1] - stride * np.arange(cols))
    return np.outer(heights, widths).astype(np.int64)


# --------------------------------------------------------------------------
# The calibrated model


@lru_cache(maxsize=4)
def _read_model(path: str) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_model(path: Path = MODEL_PATH) -> dict | None:
    """The fitted weights of calibrated-v2 (None when the file is absent: v1 applies)."""
    return _read_model(str(path))


def choose_model(models: dict | None, ran: set[str]) -> dict | None:
    """The fitted model for the detectors that ran: the first (largest) whose detectors all ran.

    A detector that ran but did not apply (a JPEG check on a PNG) is a state the fit has seen; one
    that did not run at all (the localizer outside the thorough profile) is not, so each model is
    fitted for one set of detectors: with the localizer and without it.
    """
    if models is None:
        return None
    for model in models["models"]:
        if set(model["detectors"]) <= ran:
            return model
    return None


def pooled_statistics(item: Evidence | None) -> np.ndarray:
    """:data:`STATISTICS` of one detector's evidence; all zero when it could not judge the image.

    ``softmax`` is the mean of the top 2% of the map (a soft maximum: one
    region a few percent of the image is enough, one hot pixel is not);
    ``confident`` is that same top, weighted by the detector's confidence map
    where it has one (TruFor's confidence-weighted pooling), else equal to ``softmax``.
    """
    values = np.zeros(len(STATISTICS), dtype=np.float64)
    if item is None or not item.ok:
        return values
    values[0] = 1.0
    values[1] = 0.0 if item.score is None else float(item.score)
    if item.heatmap is None:
        return values
    heat = _pooling_grid(np.asarray(item.heatmap, dtype=np.float64), item.stride).ravel()
    count = max(1, int(np.ceil(0.02 * heat.size)))
    top = np.argpartition(heat, -count)[-count:]
    values[2] = heat[top].mean()
    values[3] = heat.mean()
    values[4:7] = np.quantile(heat, (0.5, 0.9, 0.99))
    values[7] = values[2]
    if item.confidence is not None and item.confidence.shape == item.heatmap.shape:
        confidence = _pooling_grid(np.asarray(item.confidence, dtype=np.float64), item.stride).ravel()
        weighted_top = np.argpartition(heat * confidence, -count)[-count:]
        values[7] = float(np.sum(heat[weighted_top] * confidence[weighted_top]) /
                          max(np.sum(confidence[weighted_top]), 1e-9))
    return values


def _pooling_grid(values: np.ndarray, stride: int, cell: int = 4) -> np.ndarray:
    """Maps finer than ``cell`` pixels block-averaged to it, as the bench cache stores them, so the
    statistics the model was fitted on (from the cache) are those computed at analysis time."""
    if stride >= cell:
        return values
    factor = cell // max(stride, 1)
    rows, cols = -(-values.shape[0] // factor), -(-values.shape[1] // factor)
    padded = np.pad(values, ((0, rows * factor - values.shape[0]), (0, cols * factor - values.shape[1])), mode="edge")
    return padded.reshape(rows, factor, cols, factor).mean(axis=(1, 3))


def integrity_features(modelled: dict[str, Evidence], detectors=MODELLED) -> np.ndarray:
    """The model's input: :func:`pooled_statistics` of each of ``detectors``, concatenated."""
    return np.concatenate([pooled_statistics(modelled.get(name)) for name in detectors])


def integrity_score(modelled: dict[str, Evidence], model: dict) -> tuple[float, dict[str, float]]:
    """Calibrated probability of manipulation, and each detector's share of the logit."""
    detectors = model["detectors"]
    x = (integrity_features(modelled, detectors) - np.asarray(model["mean"])) / np.asarray(model["scale"])
    terms = np.asarray(model["coef"]) * x
    logit = float(terms.sum() + model["intercept"])
    per = len(STATISTICS)
    contributions = {name: float(terms[i * per : (i + 1) * per].sum()) for i, name in enumerate(detectors)
                     if name in modelled}
    return float(1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))), contributions


def decision_scale(integrity: float, threshold: float) -> float:
    """The integrity probability on the verdict's scale: piecewise linear, ``threshold`` -> 0.5.

    The calibrated probability (even prior) stays in the report as ``integrity_score``; the manipulation
    score, like every deciding detector's, reaches 0.5 where authentic photos rarely go (the 99th
    percentile of the fitting set's authentic images), and keeps the order of the probability.
    """
    threshold = min(max(threshold, 1e-6), 1 - 1e-6)
    if integrity < threshold:
        return 0.5 * integrity / threshold
    return 0.5 + 0.5 * (integrity - threshold) / (1 - threshold)


def pixel_features(modelled: dict[str, Evidence], shape: tuple[int, int], detectors=MODELLED) -> np.ndarray:
    """Per pixel, each detector's map (0 where it gave none): ``(len(detectors), H, W)`` float32."""
    planes = np.zeros((len(detectors), *shape), dtype=np.float32)
    for index, name in enumerate(detectors):
        item = modelled.get(name)
        if item is not None and item.ok and item.heatmap is not None:
            planes[index] = item.heatmap_full(shape)
    return planes


def fused_map(modelled: dict[str, Evidence], shape: tuple[int, int], model: dict, stride: int = 1) -> np.ndarray:
    """Per-pixel logistic regression on the modelled maps: the probability that a pixel was manipulated.

    ``shape`` is the image's (``stride`` 1), or that of a grid of ``stride``-pixel cells every map divides into.
    """
    weights = model["pixel"]
    logit = np.full(shape, weights["intercept"], dtype=np.float32)
    for index, name in enumerate(model["detectors"]):
        item = modelled.get(name)
        if item is not None and item.ok and item.heatmap is not None:
            logit += np.float32(weights["coef"][index]) * on_grid(item.heatmap, item.stride, stride, shape)
    return (1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))).astype(np.float32)


def classify(deciding: list[Evidence], threshold: float) -> tuple[str, str | None, list[str], list[str]]:
    """The verdict class of deciding evidence: (label, decided_by, drivers, outranked).

    See the module docstring for the rule; ``drivers`` are the detectors whose
    evidence scores >= ``threshold`` for the chosen class, strongest first.
    """
    positive = [e for e in deciding if e.score >= threshold]
    provenance = [e for e in positive if e.kind == "provenance"]
    signals = [e for e in positive if e.kind != "provenance"]
    for kind, group in (("provenance", provenance), ("signal", signals)):
        if not group:
            continue
        top = max(group, key=lambda e: (e.score, -_rank(e.indicates)))
        label = top.indicates if top.indicates in CLASSES else "edited"
        drivers = [e.detector for e in sorted(group, key=lambda e: -e.score) if e.indicates == top.indicates]
        outranked = [e.detector for e in signals if e.indicates != label] if kind == "provenance" else []
        return label, kind, drivers, outranked
    if any(e.kind != "provenance" for e in deciding):
        return "authentic", "signal", [], []
    return "inconclusive", None, [], []


def _measures(item: Evidence, threshold: float) -> bool:
    """Whether ``item`` counts toward the manipulation score.

    A signal's score measures a trace even when it is low; a provenance check's
    low score only says that nothing was declared (no manifest, no watermark
    bits), so it counts once it decides.
    """
    return item.kind != "provenance" or item.score >= threshold


def _rank(indicates: str) -> int:
    return CLASSES.index(indicates) if indicates in CLASSES else len(CLASSES)


def _regions(
    mask: np.ndarray, heatmap: np.ndarray, own_masks: dict[str, np.ndarray], params: FusionParams, stride: int,
    shape: tuple[int, int],
) -> list[Region]:
    """Regions of the mask, computed on its cells with each cell weighted by its pixels (as per pixel)."""
    regions = connected_regions(mask)
    if regions.count == 0:
        return []
    labels = regions.labels
    areas = cell_areas(stride, shape)
    sizes = np.bincount(labels.ravel(), weights=areas.ravel(), minlength=regions.count + 1)[1:].astype(np.int64)
    pixels = shape[0] * shape[1]
    min_pixels = max(64, int(np.ceil(params.min_region_share * pixels)))
    slices = ndimage.find_objects(labels)
    found = []
    for index in np.argsort(-sizes)[: params.max_regions]:
        if sizes[index] < min_pixels:
            break
        box = slices[index]
        local = labels[box] == index + 1
        weight = areas[box][local].astype(np.float64)
        total = float(weight.sum())
        supporters = [name for name, own in own_masks.items()
                      if float(weight @ own[box][local]) / total >= params.support_share]
        top, left = box[0].start * stride, box[1].start * stride
        bottom, right = min(box[0].stop * stride, shape[0]), min(box[1].stop * stride, shape[1])
        found.append(
            Region(
                id=f"r{len(found) + 1}",
                bbox=(left, top, right - left, bottom - top),
                share=float(sizes[index] / pixels),
                mean_score=float(weight @ heatmap[box][local].astype(np.float64)) / total,
                detectors=supporters,
                local_mask=expand_cells(local, stride, (bottom - top, right - left)),
                cell_slices=box,
                local_cells=local,
            )
        )
    return found
