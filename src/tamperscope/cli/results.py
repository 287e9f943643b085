"""``tamperscope results``: read a scan database (top images, exports, the gallery, full reports).

Every command opens the database read-only and never creates one: a missing or
foreign file is a one-line error with exit code 2, like any bad input. ``report``
(and ``gallery``, for the most suspicious images) write full reports into the previews
folder beside the database, never into the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .exits import EXIT_BAD_INPUT, EXIT_INTERNAL, fail, guarded

results_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Read a scan's results: the most suspicious images, CSV/Parquet exports, a gallery, full reports.",
)

_DB_HELP = "The scan's results database (made by tamperscope scan)."
#: Errors listed under the table of `results top` (all of them are in the exports).
_ERRORS_SHOWN = 20


@results_app.command("top")
def top_command(
    db: Path = typer.Option(Path("results.sqlite"), "--db", help=_DB_HELP),
    n: int = typer.Option(50, "--n", min=1, help="How many images to list."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> None:
    """The most suspicious images first (highest manipulation score); errors listed apart."""
    from ..scan.results import errors, files_of, open_results, paths_for, top

    def action():
        with open_results(db) as store:
            rows = top(store, n)
            paths = paths_for(store, [row.sha256 for row in rows])
            files = files_of(store, rows)
            failed = [] if as_json else list(errors(store, limit=_ERRORS_SHOWN))
            return rows, paths, files, failed, store.counts()

    rows, paths, files, failed, counts = guarded(action)
    if as_json:
        for rank, row in enumerate(rows, 1):
            record = {"rank": rank, **row.to_dict(), "paths": paths.get(row.sha256) or [row.path]}
            del record["previews"]  # the in-flight field; the files are below
            record.update({key: (str(value) if value else None) for key, value in files[row.sha256].items()})
            typer.echo(json.dumps(record))
        return
    _print_table(rows, paths, files, failed, counts)


def _print_table(rows, paths, files, failed, counts) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..report.present import score_text
    from ..scan.results import detector_titles, top_detectors, visible

    console = Console()
    shown = f"{len(rows)} most suspicious of {counts['images'] - counts.get('error', 0):,} analysed images"
    table = Table(title=shown, title_justify="left")
    for name, justify in (("#", "right"), ("score", "right"), ("verdict", "left"), ("regions", "right"),
                          ("top detectors", "left"), ("path", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    names = detector_titles()
    for rank, row in enumerate(rows, 1):
        where = paths.get(row.sha256) or [row.path]
        path = visible(where[0]) + (f"  (+{len(where) - 1} more)" if len(where) > 1 else "")
        best = ", ".join(f"{names.get(d, d)} {s:.2f}" for d, s in top_detectors(row))
        # Text, not markup strings: a file named "[red]x.jpg" must print as it is.
        table.add_row(str(rank), score_text(row.score), Text(row.label or ""), _regions(row),
                      Text(visible(best) or "-"), Text(path))
    console.print(table)
    _print_files(console, rows, files)
    total_errors = counts.get("error", 0)
    if not total_errors:
        return
    errors_table = Table(title=f"{total_errors:,} files could not be analysed", title_justify="left")
    for name in ("path", "kind", "message"):
        errors_table.add_column(name, overflow="fold")
    for row in failed:
        errors_table.add_row(Text(visible(row.path)), Text(visible(row.error_kind or "")),
                             Text(visible(row.error or "")))
    console.print(errors_table)
    if total_errors > len(failed):
        console.print(Text(f"... and {total_errors - len(failed):,} more: tamperscope results export --csv FILE "
                           "lists them all."))


def _print_files(console, rows, files) -> None:
    """Each image's preview, mask and report paths, one per line and never wrapped, so they can be copied."""
    from rich.text import Text

    lines = []
    for rank, row in enumerate(rows, 1):
        found = files[row.sha256]
        if not found["preview"]:
            continue
        line = f"#{rank} {found['preview']}"
        if found["preview_mask"]:
            line += f"  mask {found['preview_mask']}"
        if found["report"]:
            line += f"  report {found['report']}"
        lines.append(line)
    if not lines:
        if rows:
            console.print(Text("No previews in this store (scanned with --no-artifacts, or before scans kept them)."))
        return
    console.print(Text("Previews (open them with any image viewer):"))
    for line in lines:
        console.print(Text(line), soft_wrap=True, overflow="ignore", crop=False)


def _regions(row) -> str:
    from ..scan.worker import TOP_REGIONS

    count = len(row.regions or [])
    return f"{count}+" if count >= TOP_REGIONS else str(count)  # the store keeps the largest TOP_REGIONS


@results_app.command("export")
def export_command(
    db: Path = typer.Option(Path("results.sqlite"), "--db", help=_DB_HELP),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write every image as CSV to this file."),
    parquet_path: Optional[Path] = typer.Option(
        None, "--parquet", help="Write every image as Parquet to this file (needs pyarrow)."
    ),
) -> None:
    """Every image, one row each, with all its paths: CSV or Parquet."""
    from ..scan.results import export_csv, export_parquet, open_results

    if (csv_path is None) == (parquet_path is None):
        fail("give exactly one of --csv PATH or --parquet PATH", EXIT_BAD_INPUT)

    def action():
        with open_results(db) as store:
            if csv_path is not None:
                return csv_path, export_csv(store, csv_path)
            return parquet_path, export_parquet(store, parquet_path)

    target, count = guarded(action)
    typer.echo(f"Exported {count:,} images to {target}")


@results_app.command("gallery")
def gallery_command(
    out: Path = typer.Option(..., "-o", "--out", help="The page to write (its data go to a folder beside it)."),
    db: Path = typer.Option(Path("results.sqlite"), "--db", help=_DB_HELP),
    artifacts: Optional[Path] = typer.Option(
        None, "--artifacts", help="The previews folder, when it is not the one the scan recorded."
    ),
    n: Optional[int] = typer.Option(None, "--n", min=1, help="Show only the N most suspicious images (default: all)."),
    reports: Optional[int] = typer.Option(
        None, "--reports", min=0,
        help="Write the full reports of the N most suspicious images first, where missing (default: 100; 0: none).",
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes for those reports."),
) -> None:
    """A page to browse the scan: previews with their regions, filters, pages; each card opens its report."""
    from ..scan.gallery import DEFAULT_REPORTS, gallery_folder, write_gallery
    from ..scan.results import open_results, top

    count = DEFAULT_REPORTS if reports is None else reports
    if n is not None:
        count = min(count, n)

    def prepare():
        with open_results(db) as store:
            return top(store, count) if count else []

    first = guarded(prepare)
    if first:
        _write_reports(db, first, workers=workers, timeout=300.0, memory_mb=4096,
                       announce=f"Writing the full reports of the most suspicious images that have none "
                       f"({{count}} of the first {count}; --reports 0 skips this)...")

    def action():
        with open_results(db) as store:
            return write_gallery(store, out, artifacts_dir=artifacts, n=n)

    target = guarded(action)
    typer.echo(f"Gallery written to {target} (data in {gallery_folder(target)}/); open it in a browser.")


@results_app.command("report")
def report_command(
    images: List[str] = typer.Argument(None, help="SHA-256 (or its first 8+ digits) or path of each image.",
                                       show_default=False),
    db: Path = typer.Option(Path("results.sqlite"), "--db", help=_DB_HELP),
    top_n: Optional[int] = typer.Option(None, "--top", min=1, help="Also the N most suspicious images."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (one analysis each)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds one image may take before it is given up."),
    memory_mb: int = typer.Option(
        4096, "--memory-mb", help="Memory each worker may add to its start, MiB (0: no cap)."
    ),
) -> None:
    """Write the full report (HTML, JSON, maps) of scanned images, beside the previews, where the gallery links it.

    The image is analysed again from its file, which must still have the content the scan saw, with the scan's
    profile.
    """
    from ..scan.reports import find_image
    from ..scan.results import open_results, top

    if not images and top_n is None:
        fail("name at least one image (SHA-256 or path) or give --top N", EXIT_BAD_INPUT)

    def resolve():
        with open_results(db) as store:
            rows = [find_image(store, key) for key in images or []]
            return rows + (top(store, top_n) if top_n else [])

    rows = guarded(resolve)
    failures = _write_reports(db, rows, workers=workers, timeout=timeout, memory_mb=memory_mb or None)
    if failures:
        # A file gone, changed, unreadable, too slow or too large is the input's problem; a crash or a bug is ours.
        internal = any(kind in ("internal", "crashed") for kind in failures)
        fail(f"{len(failures)} of {len(rows)} reports could not be written",
             EXIT_INTERNAL if internal else EXIT_BAD_INPUT)


def _write_reports(db: Path, rows, *, workers: int, timeout: float, memory_mb: int | None,
                   announce: str | None = None) -> list[str]:
    """Write the reports of ``rows``, one line each; returns the error kinds of those that failed.

    With ``announce`` (the gallery's own reports) only reports written now are listed, after that line.
    """
    from ..scan.reports import report_page, write_reports
    from ..scan.results import open_results, visible

    failures: list[str] = []

    def show(item) -> None:
        name = visible(item.row.path)
        if item.page is None:
            failures.append(item.error_kind or "internal")
            typer.echo(f"tamperscope: error: {name}: {visible(item.error or 'no report')}", err=True)
            return
        if announce is not None and not item.fresh:
            return
        line = f"Report of {name}: {item.page}"
        if item.label_changed:
            line += (f" (its verdict is now {visible(item.label_changed)}, the scan said {visible(item.row.label)}:"
                     " tamperscope or its models changed since the scan)")
        typer.echo(line)

    def action():
        with open_results(db) as store:
            missing = sum(1 for row in rows if not report_page(store, row.sha256).is_file())
            if announce is not None and missing:
                typer.echo(announce.format(count=missing))
            write_reports(store, rows, workers=workers, timeout_s=timeout, memory_mb=memory_mb, on_done=show)

    guarded(action)
    return failures


__all__ = ["results_app"]
