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
* **Verdict** = "edited" when the manipulation score >= ``threshold``,
  "authentic" (no evidence of manipulation found) when deciding evidence
  exists and stays below, "inconclusive" when no detector could decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ._regions import connected_regions
from .evidence import Evidence

FUSION_RULE = "max-v1"


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

    score = max((float(e.score) for e in deciding), default=None)
    if score is None:
        label = "inconclusive"
    else:
        label = "edited" if score >= params.threshold else "authentic"
    regions = _regions(mask, heatmap, own_masks, params) if label == "edited" else []
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
    )


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
