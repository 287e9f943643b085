"""What a scan worker does with one file: analyse it and reduce the report to a store row."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .store import Row

#: Regions kept per image in the store (the report has them all).
TOP_REGIONS = 5


def analyze_to_row(path: str, sha256: str, settings: dict[str, Any]) -> Row:
    """Analyse ``path``; any failure becomes an error row instead of an exception.

    ``settings`` keys: ``profile``, ``limits`` (:class:`~tamperscope.image.Limits` fields), ``previews`` (True:
    the row carries its encoded previews, :func:`~tamperscope.scan.previews.render_previews`), ``reports``
    (folder: the full report files of each image go to ``reports/<sha256>``, as
    :func:`~tamperscope.report.write_report` writes them, in ``report_formats``).
    """
    from ..api import analyze
    from ..errors import InputError, OutputError
    from ..image import Limits
    from ..report.write import write_report

    start = time.perf_counter()
    profile = settings.get("profile", "default")
    try:
        report = analyze(path, profile=profile, limits=Limits(**settings.get("limits", {})))
    except InputError as exc:
        return Row(sha256=sha256, path=path, status="error", error=str(exc), error_kind=exc.kind,
                   seconds=time.perf_counter() - start, profile=profile, finished_at=time.time())
    except MemoryError:
        return Row(sha256=sha256, path=path, status="error", error="ran out of memory", error_kind="memory",
                   seconds=time.perf_counter() - start, profile=profile, finished_at=time.time())
    except Exception as exc:  # a bug on one file must not stop the scan; the row says what happened
        return Row(sha256=sha256, path=path, status="error", error=f"{type(exc).__name__}: {exc}",
                   error_kind="internal", seconds=time.perf_counter() - start, profile=profile,
                   finished_at=time.time())
    failed = [e for e in report.evidence if e.status == "failed"]
    out_of_memory = [e for e in failed if e.reason == "ran out of memory"]
    if out_of_memory or (failed and not any(e.ok for e in report.evidence)):
        # The job hit its memory cap (or nothing could be analysed): the report would be partial, so the row is an
        # error to rerun with more memory, not a verdict built from the detectors that happened to fit.
        first = (out_of_memory or failed)[0]
        return Row(sha256=sha256, path=path, status="error", error_kind="memory" if out_of_memory else "internal",
                   error=f"{len(failed)} of {len(report.evidence)} detectors failed ({first.detector}: {first.reason})",
                   seconds=time.perf_counter() - start, profile=profile, finished_at=time.time())
    reports = settings.get("reports")
    if reports:
        # The report names the file, not where this machine keeps it (a service must not publish its paths).
        report.image.source = Path(path).name
        try:
            write_report(report, Path(reports) / sha256, formats=settings.get("report_formats", ("json",)))
        except OutputError as exc:
            return Row(sha256=sha256, path=path, status="error", error=str(exc), error_kind=exc.kind,
                       seconds=time.perf_counter() - start, profile=profile, finished_at=time.time())
    row = row_from_report(report, path, sha256, profile)
    if settings.get("previews"):
        from .previews import render_previews

        try:
            row.previews = render_previews(report)
        except Exception as exc:  # the verdict stands without its thumbnail; the scan reports why there is none
            row.previews = {"error": f"{type(exc).__name__}: {exc}"}
    row.seconds = time.perf_counter() - start
    return row


def row_from_report(report, path: str, sha256: str, profile: str) -> Row:
    data = report.to_dict()
    image = data["image"]
    meta = image["metadata"]
    provenance = {
        "c2pa_present": meta["c2pa_present"],
        "exif": meta["exif_bytes"] > 0,
        "xmp": meta["xmp_bytes"] > 0,
        "text_keys": meta["text_keys"],
        "jpeg_quality": (image["jpeg"] or {}).get("quality"),
    }
    detectors = {e["detector"]: (e["score"] if e["status"] == "ok" else e["status"]) for e in data["evidence"]}
    regions = [
        {k: region[k] for k in ("id", "bbox", "share", "detectors")} for region in data["regions"][:TOP_REGIONS]
    ]
    return Row(
        sha256=sha256, path=path, status="done", file_size=image["file_size"], label=data["verdict"]["label"],
        score=data["verdict"]["manipulation_score"], class_scores=data["verdict"]["class_scores"],
        width=image["width"], height=image["height"], format=image["format"], regions=regions, provenance=provenance, detectors=detectors, profile=profile,
        finished_at=time.time(),
    )
