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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ._regions import connected_regions
from .evidence import Evidence

FUSION_RULE = "classes-v1"

#: Verdict classes, most specific first: the tie-break order of the rule above.
CLASSES = ("ai-edited", "ai-generated", "edited", "authentic")


@dataclass(frozen=True)
class FusionParams:
    threshold: float = 0.5
    min_region_share: float = 0.001
    support_share: float = 0.3
    max_regions: int = 50


@dataclass
class Region:
    """A connected manipulated area, in stored-pixel coordinates."""

    id: str
    bbox: tuple[int, int, int, int]  # x, y, width, height
    share: float
    mean_score: float
    detectors: list[str]
    local_mask: np.ndarray = field(repr=False)  # boolean mask of the region inside its bbox

    @property
    def slices(self) -> tuple[slice, slice]:
        x, y, w, h = self.bbox
        return slice(y, y + h), slice(x, x + w)


@dataclass
class Fusion:
    label: str
    score: float | None
    heatmap: np.ndarray
    confidence: np.ndarray | None
    mask: np.ndarray
    regions: list[Region]
    deciding: list[str]
    params: FusionParams
    #: "provenance" or "signal": which kind of evidence set the class (None when nothing did).
    decided_by: str | None = None
    #: The evidence (detector names) that set the class.
    drivers: list[str] = field(default_factory=list)
    #: Signals that scored >= threshold for a different class but were outranked by provenance.
    outranked: list[str] = field(default_factory=list)


def fuse(evidence: list[Evidence], shape: tuple[int, int], params: FusionParams = FusionParams()) -> Fusion:
    """Combine detectors' evidence for an image of ``shape`` (stored orientation)."""
    deciding = [e for e in evidence if e.ok and e.score is not None]
    heatmap = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=bool)
    own_masks: dict[str, np.ndarray] = {}
    confidences = []
    for item in deciding:
        full = item.heatmap_full(shape)
        if full is None:
            continue
        np.maximum(heatmap, full * np.float32(item.score), out=heatmap)
        own = full >= params.threshold
        own_masks[item.detector] = own
        if item.score >= params.threshold:
            mask |= own
        if item.confidence is not None:
            confidences.append(item.confidence_full(shape))

    score = max((float(e.score) for e in deciding if e.indicates != "authentic" and _measures(e, params.threshold)),
                default=None)
    label, decided_by, drivers, outranked = classify(deciding, params.threshold)
    if score is None and label == "authentic":
        score = 0.0
    regions = _regions(mask, heatmap, own_masks, params) if label in {"edited", "ai-edited"} else []
    final_mask = np.zeros(shape, dtype=bool)
    for region in regions:
        final_mask[region.slices] |= region.local_mask
    confidence = np.mean(confidences, axis=0).astype(np.float32) if confidences else None
    return Fusion(
        label=label,
        score=score,
        heatmap=heatmap,
        confidence=confidence,
        mask=final_mask,
        regions=regions,
        deciding=[e.detector for e in deciding],
        params=params,
        decided_by=decided_by,
        drivers=drivers,
        outranked=outranked,
    )


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
    mask: np.ndarray, heatmap: np.ndarray, own_masks: dict[str, np.ndarray], params: FusionParams
) -> list[Region]:
    regions = connected_regions(mask)
    if regions.count == 0:
        return []
    labels, sizes = regions.labels, regions.sizes
    min_pixels = max(64, int(np.ceil(params.min_region_share * mask.size)))
    slices = ndimage.find_objects(labels)
    found = []
    for index in np.argsort(-sizes)[: params.max_regions]:
        if sizes[index] < min_pixels:
            break
        box = slices[index]
        local = labels[box] == index + 1
        supporters = [name for name, own in own_masks.items() if own[box][local].mean() >= params.support_share]
        found.append(
            Region(
                id=f"r{len(found) + 1}",
                bbox=(box[1].start, box[0].start, box[1].stop - box[1].start, box[0].stop - box[0].start),
                share=float(sizes[index] / mask.size),
                mean_score=float(heatmap[box][local].mean()),
                detectors=supporters,
                local_mask=local,
            )
        )
    return found
