"""Fusion: evidence -> verdict label, calibrated class probabilities, fused map, mask and regions.

The rule (also in docs/fusion.md) is "calibrated-v3", the default. It reads the
evidence of every detector that ran; evidence of status "ok" that carries a
score is *deciding* evidence (ELA's map and the other map-only methods are
layers to read, not decisions).

**Class probabilities** (``class_scores``). For the deciding *signal*
detectors of the run, a model fitted on held-apart development images
(``models/fusion.json``; :mod:`tamperscope.train.fusion`, ``tamperscope train
fusion``) gives, one-vs-rest, the probability that the image is ``edited``,
``ai-generated`` and ``ai-edited``, and the probability that it is manipulated
at all (``edited`` counts AI edits too: an AI edit is an edit, and ``ai-edited``
refines it); ``no-manipulation`` is one minus the largest of these. Each is a
logistic regression (Cox 1958; the calibration sense of Guo et al., "On
calibration of modern neural networks", ICML 2017) on two terms per detector,
its score toward that class and the score's excess over 0.5, with weights
>= 0. The non-negative weights make every probability of manipulation
monotone: more evidence from any detector, with everything else kept, never
lowers one. A detector that could not judge the image adds nothing (its
state is not a feature: in the development data "not applicable" mostly
means "a PNG", which would teach the model the file format). A class no
fitted detector looks for has no probability (None), and the report says it
was not checked. One model is fitted per detector set (each profile's;
:func:`choose_model` takes the largest fitted set that ran, and the verdict is
``calibrated`` only when that set is every deciding signal that ran).

**Verdict label**, in this order:

1. *Provenance first*: if provenance evidence (signed credentials, generator
   records, watermarks) scores >= ``threshold``, the label is the class of the
   strongest (ties toward the more specific class: ai-edited, ai-generated,
   edited, authentic), and signals cannot change it. An intact publisher
   watermark or trusted Content Credentials of a camera capture give
   ``authentic`` this way.
2. *Signals*: the class whose probability is >= ``decision`` (0.5: more likely
   than not): ``ai-edited`` when it is, else the largest if several. A deciding signal outside the model (a
   detector named by hand) decides at its own score >= ``threshold``, and the
   verdict is then not calibrated.
3. ``inconclusive`` when the evidence conflicts (manipulation is more likely
   than not, but no single class is) or when no signal could judge the image.
4. ``authentic`` when the probability of manipulation is below
   ``authentic_below`` *and* every manipulation class was checked by an
   applicable detector the model weighs (:attr:`Fusion.unchecked` empty).
5. Otherwise ``no-evidence``: no manipulation was found, which is not proof of
   authenticity; the explanation lists what was checked and what was not.

**Map, mask, regions.** A per-pixel logistic regression on the modelled
detectors' maps, each weighed by its detector's score and by the score's
excess over 0.5 (a map counts as much as its detector believes in it; weights
>= 0), fitted on forged images at the same prior as the class probabilities
(so 0.5 asks the same likelihood ratio of a pixel as of an image), gives the
probability that a pixel was manipulated *given* that the image was; the
fused heatmap is
that times the image's probability of a localizable manipulation (edited or
ai-edited), a graded probability. Only when the label is ``edited`` or
``ai-edited``, the mask is the pixels more likely manipulated than not (>= 0.5)
of the conditional map, so a region appears only with a manipulation label; a
provenance decision that carries a map (a broken watermark) takes its mask from
that map. Regions are 8-connected components of the mask (``_regions.py``),
each listing the detectors whose own map marks at least ``support_share`` of it.

Rule "classes-v1" (``FusionParams(rule="classes-v1")``, and the fallback when
no model applies) is the earlier written rule: the largest score decides at
``threshold``; no class probabilities (``calibrated`` false); ``no-evidence``
where a signal could judge, never ``authentic`` from signals.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, reduce
from pathlib import Path

import numpy as np
from scipy import ndimage

from ._regions import connected_regions
from .evidence import Evidence, expand_cells

FUSION_RULE = "calibrated-v3"
#: The rules fuse() knows; the first is the default.
RULES = ("calibrated-v3", "classes-v1")
MODEL_PATH = Path(__file__).resolve().parent / "models" / "fusion.json"
#: Names another fitted model file to use instead of MODEL_PATH (a refit to judge before it replaces the shipped one).
MODEL_ENV = "TAMPERSCOPE_FUSION_MODEL"

#: Classes of manipulation, in report order, and the name of the class without any.
MANIPULATIONS = ("edited", "ai-generated", "ai-edited")
NO_MANIPULATION = "no-manipulation"
#: Provenance classes, most specific first: the tie-break order.
CLASSES = ("ai-edited", "ai-generated", "edited", "authentic")
#: What each class probability answers: is the image's class one of these? An AI edit inside a real photo is an
#: edit too (the splice detectors see it as one); "ai-edited" asks whether the edit brought AI content.
COVERS = {"edited": ("edited", "ai-edited"), "ai-generated": ("ai-generated",), "ai-edited": ("ai-edited",)}
#: Every verdict label.
LABELS = ("edited", "ai-generated", "ai-edited", "authentic", "no-evidence", "inconclusive")
#: Labels that say where (regions may exist).
LOCALIZED = ("edited", "ai-edited")
#: Terms per detector and class in the image model, in column order (weights >= 0).
TERMS = ("score", "strong")
#: The pseudo-class of the "manipulated at all" model.
ANY = "manipulated"


@dataclass(frozen=True)
class FusionParams:
    #: Provenance evidence decides at a score >= this; so do deciding signals outside the model.
    threshold: float = 0.5
    #: A class probability >= this decides (more likely than not).
    decision: float = 0.5
    #: "authentic" needs the probability of manipulation below this (and every class checked).
    authentic_below: float = 0.05
    min_region_share: float = 0.001
    support_share: float = 0.3
    max_regions: int = 50
    #: "calibrated-v3" (the default) or "classes-v1" (the written max rule, never calibrated).
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
    #: "provenance" or "signal": which kind of evidence set the label (None when nothing did).
    decided_by: str | None = None
    #: The evidence (detector names) that set the label, strongest first.
    drivers: list[str] = field(default_factory=list)
    #: Signals that pointed to another class but were outranked by provenance.
    outranked: list[str] = field(default_factory=list)
    #: The rule that made this fusion ("calibrated-v3" falls back to "classes-v1" when no model applies).
    rule: str = "classes-v1"
    #: Calibrated probability per class (:data:`MANIPULATIONS` and :data:`NO_MANIPULATION`); None under v1.
    class_scores: dict[str, float | None] | None = None
    #: Whether ``class_scores`` are the fitted model's for every deciding signal that ran.
    calibrated: bool = False
    #: Manipulation classes that no applicable, fitted detector looked for in this image.
    unchecked: list[str] = field(default_factory=list)
    #: The fitted detector set used (its name and detectors), None under v1.
    model: dict | None = None
    #: Deciding signals outside the model (they decide at their own threshold, uncalibrated).
    unmodelled: list[str] = field(default_factory=list)
    #: The largest per-pixel probability of the conditional map, and where (row, col), for the explanation.
    peak: tuple[float, tuple[int, int]] | None = None
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

    @property
    def manipulated(self) -> float | None:
        """The calibrated probability that the image was manipulated at all (None under v1)."""
        if self.class_scores is None or self.class_scores.get(NO_MANIPULATION) is None:
            return None
        return 1.0 - float(self.class_scores[NO_MANIPULATION])


def fuse(evidence: list[Evidence], shape: tuple[int, int], params: FusionParams = FusionParams(),
         models: dict | None = None) -> Fusion:
    """Combine detectors' evidence for an image of ``shape`` (stored orientation).

    ``models`` are the fitted models (the content of ``models/fusion.json``); by default the shipped ones.
    """
    if params.rule not in RULES:
        raise ValueError(f"unknown fusion rule {params.rule!r}; known: {', '.join(RULES)}")
    signals = deciding_signals(evidence)
    fitted = load_model() if models is None else models
    versions = {e.detector: e.version for e in evidence}
    model = choose_model(fitted, set(signals), versions) if params.rule == "calibrated-v3" else None
    if model is None:
        return _fuse_v1(evidence, shape, params)
    return _fuse_calibrated(evidence, signals, model, shape, params)


# --------------------------------------------------------------------------
# Which evidence counts


def deciding_signals(evidence: list[Evidence]) -> list[str]:
    """Names of the signal detectors that ran and decide (give a score), applicable or not.

    A registered detector decides when its class says so (``decides``); an unregistered one (tests, a plug-in)
    when it carries a score, or could not judge the image (it might have).
    """
    from .detectors.registry import catalogue as classes_of

    catalogue = classes_of([item.detector for item in evidence])  # only the modules of the detectors that ran
    names = []
    for item in evidence:
        cls = catalogue.get(item.detector)
        if cls is not None:
            if cls.kind != "provenance" and cls.decides:
                names.append(item.detector)
        elif item.kind != "provenance" and (item.score is not None or not item.ok):
            names.append(item.detector)
    return names


def _deciding(evidence: list[Evidence]) -> list[Evidence]:
    return [e for e in evidence if e.ok and e.score is not None]


class _GridMaps(dict):
    """Each detector's map on the fusion's grid (:func:`on_grid`), expanded once however many steps read it.

    None for a detector without a map. ``stride`` is the grid's cell side, ``cells`` its shape.
    """

    def __init__(self, evidence: list[Evidence], stride: int, cells: tuple[int, int]):
        super().__init__()
        self._evidence = {e.detector: e for e in evidence}
        self.stride = stride
        self.cells = cells

    def __missing__(self, name: str) -> np.ndarray | None:
        item = self._evidence.get(name)
        ok = item is not None and item.ok and item.heatmap is not None
        value = on_grid(item.heatmap, item.stride, self.stride, self.cells) if ok else None
        self[name] = value
        return value

    def confidence(self, item: Evidence) -> np.ndarray:
        return on_grid(item.confidence, item.stride, self.stride, self.cells)


def _grid(evidence: list[Evidence], names: set[str], shape: tuple[int, int]) -> _GridMaps:
    """The grid of the maps of ``names`` (the fused ones): the largest cell they all divide into."""
    mapped = [e for e in evidence if e.detector in names and e.ok and e.heatmap is not None]
    stride = grid_stride(mapped)
    return _GridMaps(evidence, stride, grid_shape(shape, stride))


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
# The calibrated rule


def _fuse_calibrated(evidence, signals, model, shape, params) -> Fusion:
    by_name = {e.detector: e for e in evidence}
    modelled = model["detectors"]
    scores, contributions, unchecked = class_probabilities(by_name, model)
    deciding = _deciding(evidence)
    unmodelled = [e for e in deciding if e.kind != "provenance" and e.detector not in modelled]
    maps = _grid(evidence, set(modelled) | {e.detector for e in deciding}, shape)
    conditional = pixel_probability(by_name, maps.cells, model, maps)

    label, decided_by, drivers, outranked = _provenance_decision(deciding, params.threshold)
    if label is None:
        label, drivers = _signal_decision(scores, contributions, unmodelled, by_name, model, unchecked, params)
        decided_by = "signal" if label in (*MANIPULATIONS, "authentic") else None
        if label == "authentic":
            drivers = []
    elif decided_by == "provenance":
        outranked = _outranked(label, scores, contributions, unmodelled, params)

    localizable = max((scores.get(c) or 0.0) for c in LOCALIZED)
    heatmap = (conditional * np.float32(localizable)).astype(np.float32)
    own_masks = _own_masks([by_name[n] for n in modelled if n in by_name] + unmodelled, maps, params.threshold)
    mask = conditional >= params.decision
    for item in unmodelled:  # an uncalibrated signal's own map counts as it does under v1
        full = maps[item.detector]
        if full is not None:
            np.maximum(heatmap, full * np.float32(item.score), out=heatmap)
            if item.score >= params.threshold:
                mask |= full >= params.threshold
    if decided_by == "provenance":
        mask = _provenance_mask(deciding, drivers, maps, params.threshold, mask)
        heatmap = _with_provenance_map(deciding, drivers, maps, heatmap)
    manipulated = scores[NO_MANIPULATION]
    score = None if manipulated is None else 1.0 - manipulated
    if decided_by == "provenance" and label in MANIPULATIONS:
        score = max(score or 0.0, max(by_name[n].score for n in drivers))
    peak_cell = _peak(conditional)
    confidences = [maps.confidence(e) for e in deciding if e.detector in modelled and e.confidence is not None
                   and e.heatmap is not None]
    confidence = np.mean(confidences, axis=0).astype(np.float32) if confidences else None
    fused = _finish(label, score, heatmap, confidence, mask, own_masks, deciding, params, decided_by, drivers,
                    outranked, "calibrated-v3", maps.stride, shape)
    fused.class_scores = scores
    fused.calibrated = not unmodelled and set(signals) == set(modelled)
    fused.unchecked = unchecked
    fused.model = {"name": model.get("name"), "detectors": list(modelled)}
    fused.unmodelled = [e.detector for e in unmodelled]
    # The cell's centre pixel (inside the image where the last row or column of cells is cut).
    peak_pixel = tuple(min(c * maps.stride + maps.stride // 2, side - 1) for c, side in zip(peak_cell, shape))
    fused.peak = (float(conditional[peak_cell]), peak_pixel)
    return fused


def _peak(values: np.ndarray) -> tuple[int, int]:
    """Where a map peaks: of the pixels within 5% of its maximum (a coarse map is flat there), the one nearest
    their centroid, so the point lies inside the peak area rather than on its first corner."""
    rows, cols = np.nonzero(values >= values.max() * 0.95)
    nearest = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    return int(rows[nearest]), int(cols[nearest])


def _signal_decision(scores, contributions, unmodelled, by_name, model, unchecked, params):
    """(label, drivers) from the class probabilities and any unmodelled signals (steps 2-5 of the rule)."""
    candidates = [(p, c, contributions[c]) for c in MANIPULATIONS
                  if (p := scores.get(c)) is not None and p >= params.decision]
    for item in unmodelled:
        if item.score >= params.threshold and item.indicates in MANIPULATIONS:
            candidates.append((float(item.score), item.indicates, {item.detector: 1.0}))
    if candidates:
        # "ai-edited" refines "edited" (an AI edit is an edit): when it decides it names the edit; otherwise the
        # most probable class, ties to the more specific.
        refined = [c for c in candidates if c[1] == "ai-edited"]
        _, label, parts = max(refined or candidates, key=lambda c: (c[0], -CLASSES.index(c[1])))
        drivers = _drivers(parts)
        drivers += [e.detector for e in unmodelled if e.indicates == label and e.score >= params.threshold
                    and e.detector not in drivers]
        return label, drivers
    manipulated = scores[NO_MANIPULATION]
    judged = any(by_name[n].ok for n in model["detectors"] if n in by_name) or any(e.ok for e in unmodelled)
    if not judged:
        return "inconclusive", []
    if manipulated is not None and 1.0 - manipulated >= params.decision:
        return "inconclusive", []
    if (manipulated is not None and 1.0 - manipulated < params.authentic_below and not unchecked
            and not unmodelled):
        return "authentic", []
    return "no-evidence", []


def _drivers(parts: dict[str, float]) -> list[str]:
    """Detectors that raised a class's logit by a tenth of the total rise or more (and by 0.05), strongest first."""
    total = sum(v for v in parts.values() if v > 0)
    return [name for name, value in sorted(parts.items(), key=lambda kv: -kv[1])
            if value > 0.05 and value >= 0.1 * total]


def _outranked(label, scores, contributions, unmodelled, params) -> list[str]:
    """Signals that pointed to a class other than the provenance label (their class probability >= decision)."""
    names = []
    for klass in MANIPULATIONS:
        p = scores.get(klass)
        if klass != label and p is not None and p >= params.decision:
            names += _drivers(contributions[klass])
    names += [e.detector for e in unmodelled if e.score >= params.threshold and e.indicates != label]
    return list(dict.fromkeys(names))


@lru_cache(maxsize=4)
def _read_model(path: str) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("rule") == "calibrated-v3" else None


def load_model(path: Path | None = None) -> dict | None:
    """The fitted models of calibrated-v3 (None when the file is absent or of another rule: v1 applies).

    ``path`` defaults to the file named by ``$TAMPERSCOPE_FUSION_MODEL`` (:data:`MODEL_ENV`), else the shipped
    :data:`MODEL_PATH`. A file named by the variable must be a calibrated-v3 model: a wrong name is an error, not
    a silent fallback to the uncalibrated rule.
    """
    if path is None and os.environ.get(MODEL_ENV):
        from .errors import InputError

        named = os.environ[MODEL_ENV]
        found = _read_model(named)
        if found is None:
            raise InputError(f"${MODEL_ENV}={named}: not a readable calibrated-v3 fusion model (models/fusion.json)")
        return found
    return _read_model(str(MODEL_PATH if path is None else path))


def choose_model(models: dict | None, ran: set[str], versions: dict[str, str] | None = None) -> dict | None:
    """The fitted model for the deciding signals that ran: the largest fitted set they all belong to.

    A detector that ran but did not apply (a JPEG check on a PNG) is a state the fit has seen; one that did
    not run at all is not, so each model is fitted for one set of detectors (each profile's). A model fitted
    on another version of one of its detectors (``versions``: name -> version of the evidence) is stale and
    not used: its probabilities would not be calibrated for what the detector now says.
    """
    if models is None:
        return None
    versions = versions or {}
    fitting = [m for m in models["models"] if m["detectors"] and set(m["detectors"]) <= ran
               and all(versions.get(name, fitted) == fitted for name, fitted in m.get("versions", {}).items())]
    return max(fitting, key=lambda m: len(m["detectors"]), default=None)


def columns(detectors: list[str]) -> list[tuple[str, str, str]]:
    """The image model's columns: (detector, term, class) for every class of manipulation."""
    return [(name, term, klass) for name in detectors for klass in MANIPULATIONS for term in TERMS]


def image_features(by_name: dict[str, Evidence], detectors: list[str]) -> np.ndarray:
    """The image model's input for one image (see :func:`columns`).

    A score counts toward the class its evidence indicates; ``strong`` is the score's excess over 0.5, so the
    fitted logit can rise faster once a detector passes its own decision level (still monotone). A detector
    that could not judge the image gives zeros.
    """
    values = []
    for name, term, klass in columns(detectors):
        item = by_name.get(name)
        ok = item is not None and item.ok and item.score is not None and item.indicates == klass
        score = float(item.score) if ok else 0.0
        values.append(score if term == "score" else max(0.0, score - 0.5))
    return np.asarray(values, dtype=np.float64)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def class_probabilities(by_name: dict[str, Evidence], model: dict) -> tuple[dict[str, float | None], dict, list]:
    """Calibrated probabilities per class, each detector's share of each class's logit, and the unchecked classes.

    ``no-manipulation`` is one minus the largest of the "manipulated" probability and the class
    probabilities, so it never exceeds what any class leaves (and it falls as any evidence rises). A class no
    applicable detector looked for in this image (:func:`unchecked_classes`) has no probability: its model would
    only give its base rate. When no modelled detector could judge the image at all, nothing has one.
    """
    unchecked = unchecked_classes(by_name, model)
    if not any(by_name[n].ok for n in model["detectors"] if n in by_name):
        return {**{k: None for k in MANIPULATIONS}, NO_MANIPULATION: None}, {k: {} for k in (*MANIPULATIONS, ANY)}, \
            list(MANIPULATIONS)
    x = image_features(by_name, model["detectors"])
    cols = columns(model["detectors"])
    scores: dict[str, float | None] = {}
    contributions: dict[str, dict[str, float]] = {}
    for klass in (*MANIPULATIONS, ANY):
        fitted = model["image"].get(klass)
        if fitted is None:
            scores[klass] = None
            contributions[klass] = {}
            continue
        terms = np.asarray(fitted["coef"], dtype=np.float64) * x
        scores[klass] = float(_sigmoid(terms.sum() + fitted["intercept"]))
        parts: dict[str, float] = {}
        for (name, _, _), value in zip(cols, terms):
            parts[name] = parts.get(name, 0.0) + float(value)
        contributions[klass] = parts
    for klass in unchecked:
        scores[klass] = None
    known = [p for p in (scores[ANY], *(scores[c] for c in MANIPULATIONS)) if p is not None]
    any_manipulation = max(known) if known else None
    del scores[ANY]
    scores[NO_MANIPULATION] = None if any_manipulation is None else 1.0 - any_manipulation
    return scores, contributions, unchecked


def unchecked_classes(by_name: dict[str, Evidence], model: dict) -> list[str]:
    """Manipulation classes that no applicable modelled detector with a positive weight looked for."""
    cols = columns(model["detectors"])
    missing = []
    for klass in MANIPULATIONS:
        fitted = model["image"].get(klass)
        seen = fitted is not None and any(
            coef > 0 and c == klass and by_name.get(name) is not None and by_name[name].ok
            for (name, _, c), coef in zip(cols, fitted["coef"]))
        if not seen:
            missing.append(klass)
    return missing


def pixel_probability(by_name: dict[str, Evidence], shape: tuple[int, int], model: dict,
                      maps: dict | None = None) -> np.ndarray:
    """Per pixel, the probability that it was manipulated given that the image was (see :func:`pixel_features`).

    ``shape`` is the image's, or that of the grid of ``maps`` (a :class:`_GridMaps`: the same per-pixel values
    kept per cell); without ``maps``, per pixel.
    """
    maps = _GridMaps(list(by_name.values()), 1, shape) if maps is None else maps
    fitted = model["pixel"]
    detectors = model["detectors"]
    logit = np.full(shape, fitted["intercept"], dtype=np.float32)
    for index, name in enumerate(detectors):
        item = by_name.get(name)
        if item is None or not item.ok or item.heatmap is None or item.score is None:
            continue
        weight = fitted["coef"][index] * float(item.score) + fitted["coef"][len(detectors) + index] * _strong(item)
        if weight:
            logit += np.float32(weight) * maps[name]
    return _sigmoid(logit).astype(np.float32)


def pixel_features(by_name: dict[str, Evidence], shape: tuple[int, int], detectors: list[str]) -> np.ndarray:
    """Per pixel, each detector's map times its score, then times the score's excess over 0.5.

    ``(2 * len(detectors), H, W)`` float32; zeros for a detector that gave no map. Weights >= 0 on these keep the
    map monotone in every map value and every score.
    """
    planes = np.zeros((2 * len(detectors), *shape), dtype=np.float32)
    for index, name in enumerate(detectors):
        item = by_name.get(name)
        if item is not None and item.ok and item.heatmap is not None and item.score is not None:
            full = on_grid(item.heatmap, item.stride, 1, shape)
            planes[index] = full * np.float32(item.score)
            planes[len(detectors) + index] = full * np.float32(_strong(item))
    return planes


def _strong(item: Evidence) -> float:
    return max(0.0, float(item.score) - 0.5)


# --------------------------------------------------------------------------
# Provenance


def _provenance_decision(deciding: list[Evidence], threshold: float):
    """(label, "provenance", drivers, outranked) when provenance decides, else (None, None, [], [])."""
    group = [e for e in deciding if e.kind == "provenance" and e.score >= threshold]
    if not group:
        return None, None, [], []
    top = max(group, key=lambda e: (e.score, -_rank(e.indicates)))
    label = top.indicates if top.indicates in CLASSES else "edited"
    drivers = [e.detector for e in sorted(group, key=lambda e: -e.score) if e.indicates == top.indicates]
    return label, "provenance", drivers, []


def _provenance_mask(deciding, drivers, maps, threshold, mask):
    """The mask of a provenance decision: its own map where it has one (a broken watermark), else the signals'."""
    found = np.zeros(mask.shape, dtype=bool)
    mapped = False
    for item in deciding:
        if item.detector in drivers and item.heatmap is not None:
            found |= maps[item.detector] >= threshold
            mapped = True
    return found if mapped else mask


def _with_provenance_map(deciding, drivers, maps, heatmap):
    for item in deciding:
        if item.detector in drivers and item.heatmap is not None:
            np.maximum(heatmap, maps[item.detector] * np.float32(item.score), out=heatmap)
    return heatmap


def classify(deciding: list[Evidence], threshold: float) -> tuple[str, str | None, list[str], list[str]]:
    """The label of rule classes-v1: (label, decided_by, drivers, outranked).

    Provenance >= ``threshold`` first, then the strongest signal >= ``threshold``; otherwise
    ``no-evidence`` when a signal could judge the image, else ``inconclusive``.
    """
    label, decided_by, drivers, _ = _provenance_decision(deciding, threshold)
    signals = [e for e in deciding if e.kind != "provenance"]
    if label is not None:
        return label, decided_by, drivers, [e.detector for e in signals if e.score >= threshold
                                            and e.indicates != label]
    positive = [e for e in signals if e.score >= threshold]
    if positive:
        top = max(positive, key=lambda e: (e.score, -_rank(e.indicates)))
        label = top.indicates if top.indicates in MANIPULATIONS else "edited"
        return label, "signal", [e.detector for e in sorted(positive, key=lambda e: -e.score)
                                 if e.indicates == top.indicates], []
    if signals:
        return "no-evidence", None, [], []
    return "inconclusive", None, [], []


def _rank(indicates: str) -> int:
    return CLASSES.index(indicates) if indicates in CLASSES else len(CLASSES)


# --------------------------------------------------------------------------
# Rule classes-v1 (the fallback)


def _fuse_v1(evidence: list[Evidence], shape: tuple[int, int], params: FusionParams) -> Fusion:
    deciding = _deciding(evidence)
    maps = _grid(evidence, {e.detector for e in deciding}, shape)
    heatmap = np.zeros(maps.cells, dtype=np.float32)
    mask = np.zeros(maps.cells, dtype=bool)
    confidences = []
    for item in deciding:
        full = maps[item.detector]
        if full is None:
            continue
        np.maximum(heatmap, full * np.float32(item.score), out=heatmap)
        if item.score >= params.threshold:
            mask |= full >= params.threshold
        if item.confidence is not None:
            confidences.append(maps.confidence(item))
    own_masks = _own_masks(deciding, maps, params.threshold)
    label, decided_by, drivers, outranked = classify(deciding, params.threshold)
    score = max((float(e.score) for e in deciding if e.indicates != "authentic" and _measures(e, params.threshold)),
                default=None)
    if score is None and label == "no-evidence":
        score = 0.0
    if decided_by == "provenance":
        mask = _provenance_mask(deciding, drivers, maps, params.threshold, mask)
    confidence = np.mean(confidences, axis=0).astype(np.float32) if confidences else None
    return _finish(label, score, heatmap, confidence, mask, own_masks, deciding, params, decided_by, drivers,
                   outranked, "classes-v1", maps.stride, shape)


def _measures(item: Evidence, threshold: float) -> bool:
    """A signal's low score still measures a trace; a provenance check's low score says nothing was declared."""
    return item.kind != "provenance" or item.score >= threshold


# --------------------------------------------------------------------------
# Regions


def _own_masks(items: list[Evidence], maps: dict, threshold: float) -> dict[str, np.ndarray]:
    return {item.detector: maps[item.detector] >= threshold for item in items
            if item.ok and item.heatmap is not None}


def _finish(label, score, heatmap, confidence, mask, own_masks, deciding, params, decided_by, drivers, outranked,
            rule, stride, shape) -> Fusion:
    regions = _regions(mask, heatmap, own_masks, params, stride, shape) if label in LOCALIZED else []
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
        stride=stride,
        shape=tuple(shape),
    )


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
