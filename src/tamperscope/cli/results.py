"""``tamperscope results``: read a scan database (top images, exports, the HTML gallery).

Every command opens the database read-only and never creates one: a missing or
foreign file is a one-line error with exit code 2, like any bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .exits import EXIT_BAD_INPUT, fail, guarded

results_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Read a scan's results: the most suspicious images, CSV/Parquet exports, an HTML gallery.",
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
    from ..scan.results import errors, open_results, paths_for, top

    def action():
        with open_results(db) as store:
            rows = top(store, n)
            paths = paths_for(store, [row.sha256 for row in rows])
            failed = [] if as_json else list(errors(store, limit=_ERRORS_SHOWN))
            return rows, paths, failed, store.counts()

    rows, paths, failed, counts = guarded(action)
    if as_json:
        for rank, row in enumerate(rows, 1):
            record = {"rank": rank, **row.to_dict(), "paths": paths.get(row.sha256) or [row.path]}
            typer.echo(json.dumps(record))
        return
    _print_table(rows, paths, failed, counts)


def _print_table(rows, paths, failed, counts) -> None:
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
    out: Path = typer.Option(..., "-o", "--out", help="The HTML file to write (one self-contained page)."),
    db: Path = typer.Option(Path("results.sqlite"), "--db", help=_DB_HELP),
    artifacts: Optional[Path] = typer.Option(
        None, "--artifacts", help="The folder the scan wrote its thumbnails to (scan --artifacts)."
    ),
    n: int = typer.Option(100, "--n", min=1, help="How many of the most suspicious images to show."),
) -> None:
    """One HTML page: counts, the most suspicious images with their heatmap thumbnails, the errors."""
    from ..scan.gallery import write_gallery
    from ..scan.results import open_results

    def action():
        with open_results(db) as store:
            return write_gallery(store, out, artifacts_dir=artifacts, n=n)

    target = guarded(action)
    typer.echo(f"Gallery written to {target}")


__all__ = ["results_app"]
