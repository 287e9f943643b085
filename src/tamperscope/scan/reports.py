"""Full reports of scanned images, written on demand: what a gallery card opens.

A scan keeps a row and small previews per image, not its full report (the PNG
maps and the HTML page of one image weigh more than a thousand previews). When a
moderator wants one, :func:`write_reports` analyses the image again, from a path
whose content still has the scanned SHA-256 and with the profile the scan used,
and writes the report folder exactly as ``tamperscope analyze -o DIR --report
html`` does, to ``<artifacts>/reports/<sha256>/`` beside the previews, where the
gallery links it. A report already there is not written again.

The analyses run in the scan's worker pool (:class:`~tamperscope.scan.local.LocalBackend`):
the same timeout, memory cap and crash isolation as a scan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .previews import default_folder
from .store import ResultStore, Row

#: The page a gallery card opens, inside a report folder.
REPORT_PAGE = "report.html"

_HEX = re.compile(r"^[0-9a-f]{8,64}$")


def reports_folder(store: ResultStore) -> Path:
    """Where the reports of ``store``'s images go: ``reports/`` in the folder of its previews."""
    return (store.artifacts_folder() or default_folder(store.path)) / "reports"


def report_page(store: ResultStore, sha256: str, root: Path | None = None) -> Path:
    """The HTML report of ``sha256`` (which may not exist yet)."""
    return (root or reports_folder(store)) / sha256 / REPORT_PAGE


def written_reports(store: ResultStore) -> set[str]:
    """The contents that have a report page, from one listing of the reports folder."""
    root = reports_folder(store)
    try:
        names = [entry.name for entry in root.iterdir() if re.fullmatch(r"[0-9a-f]{64}", entry.name)]
    except OSError:
        return set()
    return {name for name in names if (root / name / REPORT_PAGE).is_file()}


def find_image(store: ResultStore, key: str) -> Row:
    """The analysed image ``key`` names: a SHA-256 (or a prefix of 8+ hex digits), or a path.

    A path that exists is identified by its content (any copy of a scanned file
    finds it); otherwise it must be a path the scan recorded. Raises
    :class:`~tamperscope.errors.InputError` with one line when nothing (or more
    than one image) matches, or when the image could not be analysed.
    """
    from . import file_sha256

    text = str(key)
    sha = None
    lowered = text.lower()
    if _HEX.match(lowered) and not Path(text).exists():
        matches = store.shas_with_prefix(lowered)
        if len(matches) > 1:
            raise InputError(f"{text} is the start of {len(matches)} images' SHA-256; give more of it")
        sha = matches[0] if matches else None
    if sha is None:
        path = Path(text)
        if path.is_file():
            try:
                sha = file_sha256(path)
            except OSError as exc:
                raise InputError(f"cannot read {text}: {exc.strerror or exc}") from None
        else:
            sha = store.sha_of_path(text)
    row = store.row(sha) if sha else None
    if row is None:
        raise InputError(f"{text}: no such image in {store.path} (give a SHA-256 or a path the scan saw)")
    if row.status != "done":
        raise InputError(f"{text}: the scan could not analyse this image ({row.error_kind}: {row.error})")
    return row


@dataclass
class Written:
    """One report :func:`write_reports` was asked for: its page, or why there is none."""

    row: Row
    page: Path | None = None
    error: str | None = None
    error_kind: str | None = None
    #: The report's verdict when it differs from the scan's (a newer tamperscope, another profile's models...).
    label_changed: str | None = None
    #: True when this call wrote it (False: it was already there, or it failed).
    fresh: bool = False


def write_reports(
    store: ResultStore,
    rows: Iterable[Row],
    *,
    workers: int = 1,
    timeout_s: float = 300.0,
    memory_mb: int | None = 4096,
    on_done: Callable[[Written], None] | None = None,
) -> list[Written]:
    """Write the full report of each of ``rows`` (see the module doc); returns one :class:`Written` each.

    A report already written is returned as it is. An image whose files are all
    gone or changed since the scan gets an error, not a report of other pixels.
    """
    from . import file_sha256
    from .local import LocalBackend

    root = reports_folder(store)
    out: list[Written] = []
    by_profile: dict[str, list[tuple[str, str]]] = {}
    pending: dict[str, Written] = {}
    for row in rows:
        if row.sha256 in pending:
            continue
        item = Written(row=row)
        out.append(item)
        page = report_page(store, row.sha256, root)
        if page.is_file():
            item.page = page
            continue
        source = None
        for candidate in dict.fromkeys([row.path, *store.paths_of(row.sha256)]):
            try:
                if Path(candidate).is_file() and file_sha256(Path(candidate)) == row.sha256:
                    source = candidate
                    break
            except OSError:
                continue
        if source is None:
            item.error, item.error_kind = "the scanned file is gone or has changed since the scan", "missing"
            continue
        pending[row.sha256] = item
        by_profile.setdefault(row.profile or "default", []).append((source, row.sha256))
    for item in out:
        if item.row.sha256 not in pending and on_done:
            on_done(item)

    for profile, tasks in by_profile.items():
        settings = {"profile": profile, "memory_mb": memory_mb, "reports": str(root),
                    "report_formats": ["json", "html"]}

        def finished(result: Row) -> None:
            item = pending[result.sha256]
            _settle(item, result, root)
            if on_done:
                on_done(item)

        LocalBackend(min(max(1, workers), len(tasks)), settings, timeout_s=timeout_s).run(iter(tasks), finished)
    return out


def _settle(item: Written, result: Row, root: Path) -> None:
    folder = root / item.row.sha256
    if result.status != "done":
        item.error, item.error_kind = result.error or "the analysis failed", result.error_kind or "internal"
        return
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        analysed = report["image"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        item.error, item.error_kind = "the report was not written", "internal"
        return
    if analysed != item.row.sha256:  # the file changed between hashing it and analysing it
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        item.error, item.error_kind = "the file changed while it was analysed; try again", "missing"
        return
    item.page, item.fresh = folder / REPORT_PAGE, True
    if result.label != item.row.label:
        item.label_changed = result.label


__all__ = ["REPORT_PAGE", "Written", "find_image", "report_page", "reports_folder", "write_reports",
           "written_reports"]
