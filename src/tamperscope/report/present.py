"""What the HTML and Markdown reports show, as plain strings: one view of a Report.

No forensic logic here: every value is read from the :class:`~tamperscope.report.Report`
(or formatted from it). The strings are *not* escaped; each renderer escapes
them for its own format, because much of it (the file name, metadata quoted in
the explanation) comes from the file, which an attacker controls.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .explain import location_words, strength_words, upright_bbox

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Report

STATUS_WORDS = {"ok": "ran", "not-applicable": "not applicable", "failed": "failed"}


@dataclass
class RegionRow:
    id: str
    location: str
    share: str
    bbox: str  # upright view, as the photo is shown
    stored_bbox: str | None  # stored-pixel box when it differs (EXIF orientation)
    detectors: list[tuple[str, str]]  # (evidence id, title)


@dataclass
class EvidenceRow:
    id: str
    detector: str
    title: str
    version: str
    status: str
    score: str
    notes: list[str]
    reason: str


def titles(report: Report) -> dict[str, str]:
    """Plain-language detector names ("Double JPEG compression (DQ)") by registry name."""
    from ..detectors import catalogue as classes_of

    catalogue = classes_of(e.detector for e in report.evidence)
    return {e.detector: getattr(catalogue.get(e.detector), "title", e.detector) for e in report.evidence}


def display_name(report: Report) -> str:
    """The analysed file's name without its folder (the full path is in the file table)."""
    source = report.image.source
    return os.path.basename(source) or source


def upright_size(report: Report) -> tuple[int, int]:
    image = report.image
    return (image.height, image.width) if image.orientation >= 5 else (image.width, image.height)


def score_text(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.2f}"


def verdict_sentences(report: Report) -> list:
    for section in report.explanation.sections:
        if section.title == "Verdict":
            return section.sentences
    return []


def score_line(report: Report) -> str:
    """One line on the class probabilities (or the uncalibrated score): the same in every output."""
    fusion = report.fusion
    if fusion.class_scores is not None:
        parts = [f"{klass} {_class_value(report, klass, value)}" for klass, value in class_scores(report)]
        head = ("Calibrated probabilities" if fusion.calibrated
                else "Probabilities (calibrated only for the modelled detectors)")
        return f"{head}: " + ", ".join(parts) + "."
    if fusion.score is None:
        return "No manipulation score: no detector could decide."
    return (f"Manipulation score {fusion.score:.2f} ({strength_words(fusion.score)} evidence) on a scale from 0 "
            "(no evidence) to 1: the strongest single detector's score, not a calibrated probability.")


def _class_value(report: Report, klass: str, value: float | None) -> str:
    """A class's probability in words; a class outside the fitted model shows the deciding detector's own score."""
    if value is not None:
        return f"{value:.2f}"
    own = [(item.score, item.detector) for item in report.evidence
           if item.detector in report.fusion.unmodelled and item.indicates == klass and item.score is not None]
    if own:
        score, detector = max(own)
        return f"{score:.2f} from {detector} alone (its own calibration, outside the fitted model)"
    return "not checked"


def class_scores(report: Report) -> list[tuple[str, float | None]]:
    """(class, probability or None = not checked) in report order; empty under the uncalibrated rule."""
    from ..fusion import MANIPULATIONS, NO_MANIPULATION

    scores = report.fusion.class_scores
    if scores is None:
        return []
    return [(klass, scores.get(klass)) for klass in (*MANIPULATIONS, NO_MANIPULATION)]


#: What the fused map shows, in both readable reports.
FUSED_MAP_WORDS = ("fused map: the probability that each pixel was manipulated (the image's probability of a "
                   "localizable manipulation times the per-pixel probability given one); the basis of the regions")


def regions(report: Report) -> list[RegionRow]:
    names = titles(report)
    width, height = upright_size(report)
    rows = []
    for region in report.regions:
        box = upright_bbox(region.bbox, report.image)
        x, y, w, h = box
        stored = None if tuple(box) == tuple(region.bbox) else _box(region.bbox)
        rows.append(
            RegionRow(
                id=region.id,
                location=location_words(box, (height, width)),
                share=f"{region.share:.1%}",
                bbox=_box(box),
                stored_bbox=stored,
                detectors=[(f"ev:{name}", names.get(name, name)) for name in region.detectors],
            )
        )
    return rows


@dataclass
class PairRow:
    evidence_id: str
    detector: str
    source: str
    target: str
    transform: str
    support: str


def clone_pairs(report: Report, limit: int = 10) -> list[PairRow]:
    """The cloned pairs copy-move detectors report (facts ``pairs``), stored-pixel boxes, at most ``limit``."""
    names = titles(report)
    rows = []
    for item in report.evidence:
        if item.status != "ok":
            continue
        for pair in item.facts.get("pairs", [])[:limit]:
            support = ", ".join(f"{pair[k]} {k}" for k in ("inliers", "pixels") if k in pair)
            rows.append(PairRow(f"ev:{item.detector}", names.get(item.detector, item.detector),
                                _box(pair["source_bbox"]), _box(pair["target_bbox"]),
                                f"rotated {pair['rotation_deg']:+.1f} degrees, scaled {pair['scale']:.3f}x", support))
    return rows[:limit]


def region_boxes(report: Report) -> list[tuple[str, float, float, float, float]]:
    """(id, left, top, width, height) of each region in percent of the upright photo."""
    width, height = upright_size(report)
    out = []
    for region in report.regions:
        x, y, w, h = upright_bbox(region.bbox, report.image)
        out.append((region.id, 100 * x / width, 100 * y / height, 100 * w / width, 100 * h / height))
    return out


def evidence(report: Report) -> list[EvidenceRow]:
    names = titles(report)
    rows = []
    for item in report.evidence:
        if item.status != "ok":
            score = "-"
        elif item.score is None:
            score = "map only (no decision)"
        else:
            score = f"{item.score:.2f} ({strength_words(item.score)})"
        rows.append(
            EvidenceRow(
                id=f"ev:{item.detector}",
                detector=item.detector,
                title=names.get(item.detector, item.detector),
                version=item.version,
                status=STATUS_WORDS.get(item.status, item.status),
                score=score,
                notes=list(item.notes),
                reason=item.reason or "",
            )
        )
    return rows


def file_facts(report: Report) -> list[tuple[str, str, list[str]]]:
    """(field, value, ids) rows of the metadata and provenance table.

    ``ids`` are the ``image:PATH`` evidence ids (paths into the JSON report's
    ``image`` block) the row shows; the first names the row.
    """
    image = report.image
    meta = image.metadata
    rows = [
        ("File", image.source, ["image:source"]),
        ("Format", f"{image.format} (colour mode {image.mode})", ["image:format", "image:mode"]),
        ("Size", f"{image.width} x {image.height} pixels as stored", ["image:width", "image:height"]),
        ("EXIF orientation", _orientation(image.orientation), ["image:orientation"]),
        ("File size", f"{image.file_size:,} bytes", ["image:file_size"]),
        ("Frames", "1" if image.frames == 1 else f"{image.frames} (only the first was analysed)", ["image:frames"]),
    ]
    jpeg = image.jpeg
    if jpeg is not None:
        if jpeg.quality is None:
            quality = "not an IJG quality scaling (custom tables)"
        else:
            quality = f"{jpeg.quality:.0f} ({'exact' if jpeg.quality_exact else 'approximate'} IJG table match)"
        rows += [
            ("JPEG quality", quality, ["image:jpeg.quality", "image:jpeg.quality_exact", "image:jpeg.quant_tables"]),
            ("JPEG chroma subsampling", jpeg.subsampling, ["image:jpeg.subsampling"]),
            ("JPEG progressive", "yes" if jpeg.progressive else "no", ["image:jpeg.progressive"]),
        ]
    if image.jpeg_error:
        rows.append(("JPEG internals", f"not readable: {image.jpeg_error}", ["image:jpeg_error"]))
    if image.decode_warnings:
        rows.append(("Decoder warnings", "; ".join(image.decode_warnings), ["image:decode_warnings"]))
    rows += [
        ("EXIF", _bytes(meta.exif), ["image:metadata.exif_bytes"]),
        ("XMP", _bytes(meta.xmp), ["image:metadata.xmp_bytes"]),
        ("ICC profile", _bytes(meta.icc_profile), ["image:metadata.icc_profile_bytes"]),
        ("Text chunks", ", ".join(sorted(meta.text)) or "none", ["image:metadata.text_keys"]),
        (
            "Content Credentials (C2PA)",
            "manifest present (signature not validated by this version)" if meta.c2pa_present else "none found",
            ["image:metadata.c2pa_present"],
        ),
        ("SHA-256", image.sha256, ["image:sha256"]),
    ]
    return rows


def narrative(report: Report) -> tuple[str, str] | None:
    """(heading, text or error) of the optional language-model narrative, when one was asked for."""
    story = getattr(report, "narrative", None)
    if story is None:
        return None
    who = f"model {story.model}"
    if story.text:
        return (
            f"Narrative ({who}): a language model's rewrite of the statements above; "
            "those statements, not this paragraph, are what the report stands on",
            story.text,
        )
    return (f"Narrative ({who})", f"not available: {story.error or 'no answer'}")


def reproducibility(report: Report) -> list[tuple[str, str]]:
    data = report.to_dict()
    repro, fusion = data["reproducibility"], data["fusion"]
    names = ",".join(d["name"] for d in report.detectors)
    return [
        ("tamperscope", f"{repro['tamperscope_version']} (report schema {data['schema']})"),
        ("Analysed at", f"{report.analyzed_at} (UTC)"),
        ("File SHA-256", report.image.sha256),
        (
            "Fusion",
            f"{fusion['rule']}: threshold {fusion['threshold']}, minimum region share {fusion['min_region_share']}, "
            f"support share {fusion['support_share']}",
        ),
        ("Limits", ", ".join(f"{k} {v}" for k, v in repro["limits"].items())),
        ("Runtime", f"Python {repro['python']}, NumPy {repro['numpy']}; analysis took {report.timings.get('total', 0):.2f} s"),
        ("Rerun", f"tamperscope analyze {shlex.quote(display_name(report))} --detectors {names} -o OUT"),
    ]


def detector_params(report: Report) -> list[tuple[str, str, str]]:
    """(name, version, params as compact JSON) of every detector that ran."""
    return [
        (d["name"], d["version"], json.dumps(d.get("params", {}), sort_keys=True, separators=(", ", ": ")))
        for d in report.detectors
    ]


def _box(bbox) -> str:
    x, y, w, h = bbox
    return f"{w} x {h} px at x={x}, y={y}"


def _bytes(block: bytes | None) -> str:
    return f"{len(block):,} bytes" if block else "none"


def _orientation(value: int) -> str:
    words = {
        1: "1 (upright as stored)",
        2: "2 (mirrored)",
        3: "3 (rotated 180 degrees)",
        4: "4 (flipped vertically)",
        5: "5 (transposed)",
        6: "6 (rotated 90 degrees clockwise to display)",
        7: "7 (transversed)",
        8: "8 (rotated 90 degrees counter-clockwise to display)",
    }
    return words.get(value, str(value))
