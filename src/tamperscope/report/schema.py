"""The report: one schema for the CLI, the API and every later shell.

The JSON layout is documented in docs/report-schema.md. ``SCHEMA_VERSION``
follows semantic versioning: fields are only ever added within a major
version, so readers of 1.x keep working.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .._version import __version__
from ..evidence import Evidence
from .explain import Explanation
from .narrate import Narrative
from .present import score_line
from ..fusion import Fusion
from ..image import Image, Limits

SCHEMA_VERSION = "2.0"
SCHEMA_ID = f"tamperscope.report/{SCHEMA_VERSION}"

#: Each verdict label in words, as the CLI summary, the readable reports, the web page and the gallery say it.
LABEL_WORDS = {
    "edited": "EDITED: evidence of manipulation found",
    "ai-generated": "AI-GENERATED: evidence that a generative model made this image",
    "ai-edited": "AI-EDITED: evidence of AI-generated content inside a real image",
    "authentic": "AUTHENTIC: the evidence supports that this image is unedited",
    "no-evidence": "NO EVIDENCE of manipulation found (not proof of authenticity)",
    "inconclusive": "INCONCLUSIVE: the evidence conflicts, or no detector could judge this image",
}
#: The short form (badges, tables, the web page).
LABEL_SHORT = {
    "edited": "Edited",
    "ai-generated": "AI-generated",
    "ai-edited": "AI-edited",
    "authentic": "Authentic",
    "no-evidence": "No evidence found",
    "inconclusive": "Inconclusive",
}


def utc_now() -> str:
    """The current time as UTC ISO 8601 to the second (``2025-01-31T12:00:00Z``)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Report:
    """Everything one analysis found; ``to_dict`` is the JSON report."""

    image: Image
    evidence: list[Evidence]
    fusion: Fusion
    detectors: list[dict[str, Any]]
    limits: Limits
    timings: dict[str, float]
    explanation: Explanation
    narrative: Narrative | None = None
    #: Files written by ``write_report`` (artifact key -> name), ``map_scale`` and ``directory``.
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: When the analysis started, UTC ISO 8601.
    analyzed_at: str = field(default_factory=utc_now)
    #: For a video clip: sampling, face tracks with per-frame scores, the clip's face-swap score (else None).
    video: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.fusion.label

    @property
    def label_words(self) -> str:
        """The verdict label in words, as the summary and the reports print it."""
        return LABEL_WORDS[self.fusion.label]

    @property
    def score(self) -> float | None:
        return self.fusion.score

    @property
    def regions(self):
        return self.fusion.regions

    def evidence_for(self, name: str) -> Evidence:
        for item in self.evidence:
            if item.detector == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        image, fusion = self.image, self.fusion
        jpeg = image.jpeg
        return {
            "schema": SCHEMA_ID,
            "tamperscope_version": __version__,
            "image": {
                "source": image.source,
                "sha256": image.sha256,
                "format": image.format,
                "mode": image.mode,
                "width": image.width,
                "height": image.height,
                "orientation": image.orientation,
                "file_size": image.file_size,
                "frames": image.frames,
                "jpeg": None
                if jpeg is None
                else {
                    "quality": jpeg.quality,
                    "quality_exact": jpeg.quality_exact,
                    "subsampling": jpeg.subsampling,
                    "progressive": jpeg.progressive,
                    "quant_tables": {k: np.asarray(v).tolist() for k, v in jpeg.quant_tables.items()},
                },
                "jpeg_error": image.jpeg_error,
                "decode_warnings": list(image.decode_warnings),
                "metadata": {
                    "exif_bytes": len(image.metadata.exif or b""),
                    "xmp_bytes": len(image.metadata.xmp or b""),
                    "icc_profile_bytes": len(image.metadata.icc_profile or b""),
                    "text_keys": sorted(image.metadata.text),
                    "c2pa_present": image.metadata.c2pa_present,
                },
            },
            "verdict": {
                "label": fusion.label,
                "class_scores": None if fusion.class_scores is None else {
                    k: None if v is None else round(v, 4) for k, v in fusion.class_scores.items()},
                "calibrated": fusion.calibrated,
                "manipulation_score": None if fusion.score is None else round(fusion.score, 4),
                "unchecked_classes": list(fusion.unchecked),
                "deciding_detectors": fusion.deciding,
                "decided_by": fusion.decided_by,
                "class_evidence": [f"ev:{name}" for name in fusion.drivers],
                "outranked_evidence": [f"ev:{name}" for name in fusion.outranked],
            },
            "regions": [
                {
                    "id": r.id,
                    "bbox": list(r.bbox),
                    "share": round(r.share, 5),
                    "mean_score": round(r.mean_score, 4),
                    "detectors": r.detectors,
                    "evidence_ids": [f"ev:{name}" for name in r.detectors],
                }
                for r in fusion.regions
            ],
            "explanation": self.explanation.to_dict(),
            "narrative": None if self.narrative is None else self.narrative.to_dict(),
            "evidence": [{"id": f"ev:{e.detector}", **e.summary()} for e in self.evidence],
            "fusion": {
                "rule": fusion.rule,
                "model": fusion.model,
                "decision": fusion.params.decision,
                "authentic_below": fusion.params.authentic_below,
                "threshold": fusion.params.threshold,
                "min_region_share": fusion.params.min_region_share,
                "support_share": fusion.params.support_share,
                "mask_share": round(fusion.mask_share, 5),
            },
            "artifacts": dict(self.artifacts),
            "reproducibility": {
                "tamperscope_version": __version__,
                "analyzed_at": self.analyzed_at,
                "file_sha256": image.sha256,
                "detectors": self.detectors,
                "limits": {
                    "max_pixels": self.limits.max_pixels,
                    "max_file_bytes": self.limits.max_file_bytes,
                    "max_pixels_per_byte": self.limits.max_pixels_per_byte,
                    "detector_seconds": self.limits.detector_seconds,
                },
                "python": platform.python_version(),
                "numpy": np.__version__,
            },
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            **({} if self.video is None else {"video": self.video}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary_text(self) -> str:
        """The short human summary the CLI prints."""
        image, fusion = self.image, self.fusion
        lines = [f"{image.source}  ({image.format}, {image.width}x{image.height})"]
        lines.append(f"Verdict: {self.label_words}")
        lines.append(f"  {score_line(self)}")
        for region in fusion.regions:
            x, y, w, h = region.bbox
            by = ", ".join(region.detectors) or "fused map"
            lines.append(
                f"  Region {region.id}: {w}x{h} at ({x}, {y}), {region.share:.1%} of the image; supported by {by}"
            )
        lines.append("Evidence:")
        name_width = max((len(item.detector) for item in self.evidence), default=8)
        for item in self.evidence:
            if item.status == "ok":
                head = "map only" if item.score is None else f"score {item.score:.2f}"
                detail = item.notes[0] if item.notes else ""
            else:
                head, detail = item.status, item.reason or ""
            lines.append(f"  {item.detector:<{name_width}} {head:<15} {detail}")
        if self.narrative is not None:
            if self.narrative.text:
                lines.append(f"Narrative ({self.narrative.model}; a rewrite of the evidence above, which stands): "
                             f"{self.narrative.text}")
            else:
                lines.append(f"Narrative not available: {self.narrative.error}")
        if self.video is not None:
            lines.extend(_video_lines(self.video))
        if self.artifacts:
            lines.append(f"Report written to {self.artifacts.get('directory', '')}")
        return "\n".join(lines)


def _video_lines(video: dict[str, Any]) -> list[str]:
    lines = [f"Video: {video['container']}, {video['frames_decoded']} frames at {video['fps']} fps; "
             f"{len(video['sampled_frames'])} sampled; key frame {video['key_frame']}"]
    for face in video["faces"]:
        series = " ".join("-" if o["score"] is None else f"{o['score']:.2f}" for o in face["series"])
        head = "too small" if face["score"] is None else f"median swap score {face['score']:.2f}"
        lines.append(f"  {face['id']}: {head} over {face['frames_seen']} frame(s): {series}")
    lines.extend(f"  warning: {w}" for w in video.get("warnings", []))
    return lines

