"""The comparison report: a sibling of ``analyze``'s report, for two versions of one picture.

Same conventions as :class:`tamperscope.report.Report`: maps are float32 in
[0, 1] (higher = more likely changed), masks white = changed, regions carry
boxes ``(x, y, width, height)``; here every map is in the *suspect's* upright
frame and every box is given in each image's own upright frame. The JSON
layout is documented in docs/report-schema.md (section "Comparison report").
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._version import __version__
from ..report.explain import Explanation
from ..image import Image, Limits
from .align import Alignment
from .describe import ChangedRegion
from .hints import Hint, leaning
from .tone import ToneModel

COMPARISON_SCHEMA_VERSION = "1.0"
COMPARISON_SCHEMA_ID = f"tamperscope.comparison/{COMPARISON_SCHEMA_VERSION}"

LABELS = ("changed", "unchanged", "not-comparable")

_LABEL_WORDS = {
    "changed": "CHANGED: the suspect differs from the original beyond resizing, cropping, re-compression and "
               "global colour changes",
    "unchanged": "UNCHANGED: no difference beyond resizing, cropping, re-compression and global colour changes",
    "not-comparable": "NOT COMPARABLE: the two images could not be aligned as versions of one picture",
}


def image_block(image: Image) -> dict[str, Any]:
    """What the report says about one of the two files (the fields of ``analyze``'s ``image`` block)."""
    jpeg = image.jpeg
    upright_w, upright_h = (image.height, image.width) if image.orientation in (5, 6, 7, 8) else (
        image.width, image.height)
    return {
        "source": image.source,
        "sha256": image.sha256,
        "format": image.format,
        "mode": image.mode,
        "width": image.width,
        "height": image.height,
        "upright_width": upright_w,
        "upright_height": upright_h,
        "orientation": image.orientation,
        "file_size": image.file_size,
        "jpeg": None if jpeg is None else {
            "quality": jpeg.quality,
            "quality_exact": jpeg.quality_exact,
            "subsampling": jpeg.subsampling,
            "progressive": jpeg.progressive,
        },
        "decode_warnings": list(image.decode_warnings),
    }


@dataclass
class Comparison:
    """Everything one comparison found; ``to_dict`` is the JSON report.

    Attributes
    ----------
    original, suspect : Image
        The two loaded files.
    label : str
        "changed", "unchanged" or "not-comparable".
    reason : str or None
        For "not-comparable": why, in one sentence.
    alignment : Alignment or None
    heatmap : ndarray or None
        float32 [0, 1], the suspect's upright frame: share of the neighbourhood
        differing beyond the benign level, rescaled so that the benign
        expectation is 0.
    mask : ndarray or None
        bool, the suspect's upright frame: the reported regions.
    overlap : ndarray or None
        bool, the suspect's upright frame: where the original covers the suspect.
    regions : list of ChangedRegion
    """

    original: Image
    suspect: Image
    label: str
    reason: str | None = None
    alignment: Alignment | None = None
    heatmap: np.ndarray | None = None
    mask: np.ndarray | None = None
    overlap: np.ndarray | None = None
    regions: list[ChangedRegion] = field(default_factory=list)
    overlap_facts: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)
    tone: ToneModel | None = None
    noise: dict[str, Any] | None = None
    decision: dict[str, Any] = field(default_factory=dict)
    discounted: list[dict[str, str]] = field(default_factory=list)
    hints: list[Hint] = field(default_factory=list)
    explanation: Explanation | None = None
    limits: Limits | None = None
    timings: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    analyzed_at: str = ""

    @property
    def label_words(self) -> str:
        return _LABEL_WORDS[self.label]

    def to_dict(self) -> dict[str, Any]:
        changed_share = float(self.mask.mean()) if self.mask is not None else None
        return {
            "schema": COMPARISON_SCHEMA_ID,
            "tamperscope_version": __version__,
            "original": image_block(self.original),
            "suspect": image_block(self.suspect),
            "coordinates": "upright pixels of each image (EXIF orientation applied): x to the right, y down; "
                           "maps and masks are in the suspect's frame",
            "verdict": {
                "label": self.label,
                "reason": self.reason,
                "regions": len(self.regions),
                "changed_share": None if changed_share is None else round(changed_share, 5),
            },
            "alignment": None if self.alignment is None else self.alignment.to_dict(),
            "overlap": self.overlap_facts,
            "analysis": self.analysis,
            "tone": None if self.tone is None else self.tone.to_dict(),
            "noise": self.noise,
            "discounted": list(self.discounted),
            "decision": self.decision,
            "regions": [r.to_dict() for r in self.regions],
            "hints": {
                "note": "Which version looks earlier: hints only, never the verdict.",
                "leaning": leaning(self.hints),
                "items": [h.to_dict() for h in self.hints],
            },
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "artifacts": dict(self.artifacts),
            "reproducibility": {
                "tamperscope_version": __version__,
                "analyzed_at": self.analyzed_at,
                "original_sha256": self.original.sha256,
                "suspect_sha256": self.suspect.sha256,
                "limits": None if self.limits is None else {
                    "max_pixels": self.limits.max_pixels,
                    "max_file_bytes": self.limits.max_file_bytes,
                    "max_pixels_per_byte": self.limits.max_pixels_per_byte,
                },
                "python": platform.python_version(),
                "numpy": np.__version__,
            },
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary_text(self) -> str:
        """The short human summary the CLI prints."""
        a, b = self.original, self.suspect
        lines = [
            f"Original: {a.source}  ({a.format}, {a.width}x{a.height})",
            f"Suspect:  {b.source}  ({b.format}, {b.width}x{b.height})",
            f"Verdict: {self.label_words}",
        ]
        if self.reason:
            lines.append(f"  {self.reason}")
        if self.alignment is not None:
            al = self.alignment
            lines.append(
                f"Alignment: {al.model}, scale {al.scale:.3f}, rotation {round(al.rotation_deg, 1) + 0.0:+.1f} deg"
                f"{', mirrored' if al.mirrored else ''}; {al.inliers} of {al.matches} matches, "
                f"error {al.rms_px:.2f} px (log10 NFA {al.log10_nfa:.0f})"
            )
            facts = self.overlap_facts
            lines.append(
                f"Overlap: {facts.get('share_of_suspect', 0):.0%} of the suspect, "
                f"{facts.get('share_of_original', 0):.0%} of the original"
            )
        for region in self.regions:
            x, y, w, h = region.bbox_suspect
            where_original = ""
            if region.bbox_original is not None:
                ox, oy, ow, oh = region.bbox_original
                where_original = f"; in the original {ow}x{oh} at ({ox}, {oy})"
            lines.append(f"  Region {region.id}: {region.kind}, {w}x{h} at ({x}, {y}) in the suspect, "
                         f"{region.share:.1%} of it{where_original}")
        for hint in self.hints:
            lines.append(f"Hint: {hint.fact}")
        if self.artifacts:
            lines.append(f"Report written to {self.artifacts.get('directory', '')}")
        return "\n".join(lines)
