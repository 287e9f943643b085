"""Reading a scan's results: the most suspicious images, the errors, and exports.

Everything here reads a :class:`~tamperscope.scan.store.ResultStore` and never
changes it. :func:`open_results` opens an existing database read-only (a typo in
``--db`` must not leave an empty database behind). Exports stream: the CSV is
written row by row and the Parquet file in batches of :data:`BATCH_ROWS`, so a
store of millions of images never sits in memory; both are written to a
``.part`` file renamed into place at the end, so a failed export leaves no
half-written file under the requested name.

Paths and error messages come from the scanned files and are attacker-chosen:
:func:`visible` makes control and bidirectional-override characters visible
before anything is printed to a terminal or a page.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError
from .store import _CHUNK, COLUMNS, SCHEMA_VERSION, ResultStore, Row, upgrade_label

#: Rows per Parquet row group (and per batch read from the store).
BATCH_ROWS = 10_000
#: The columns of an export: the store's columns, then every path of that content.
EXPORT_COLUMNS = (*COLUMNS, "paths")
#: Separator of the paths in the CSV ``paths`` column.
PATH_SEPARATOR = "|"


class ResultsUnavailable(InputError):
    """The results database is missing, unreadable, or not a tamperscope scan database."""

    kind = "no-results"


class MissingDependency(InputError):
    """An optional package a feature needs is not installed."""

    kind = "missing-dependency"


PARQUET_NEEDS = "Parquet export needs pyarrow: pip install 'tamperscope[parquet]'"


class ReadOnlyResultStore(ResultStore):
    """A :class:`ResultStore` opened read-only on a database that must already exist."""

    def __init__(self, path: str | Path) -> None:  # noqa: D107 - the class says it
        self.path = Path(path)
        if not self.path.exists():
            raise ResultsUnavailable(f"no results database at {self.path}")
        if not self.path.is_file():
            raise ResultsUnavailable(f"{self.path} is not a file (expected a results database)")
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
            tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = None
            if "meta" in tables:
                found = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = found[0] if found else None
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise ResultsUnavailable(f"{self.path} is not a readable results database ({exc})") from None
        if not {"images", "paths"} <= tables:
            self._close_quietly()
            raise ResultsUnavailable(f"{self.path} is not a tamperscope results database (no images table)")
        if version is not None and version.isdigit() and int(version) > SCHEMA_VERSION:
            self._close_quietly()
            raise ResultsUnavailable(
                f"{self.path} was written by a newer tamperscope (schema {version}; this one reads "
                f"{SCHEMA_VERSION}): upgrade tamperscope"
            )
        # Opened read-only, an older store cannot be migrated: it is read as the current version instead.
        self.read_legacy(int(version) if version is not None and version.isdigit() else 1)

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()


def open_results(path: str | Path) -> ResultStore:
    """Open the scan database at ``path`` read-only; :class:`ResultsUnavailable` when it is not there."""
    return ReadOnlyResultStore(path)


def top(store: ResultStore, n: int = 50) -> list[Row]:
    """The ``n`` most suspicious analysed images: highest manipulation score first, unscored last.

    Failed images are not ranked; :func:`errors` lists them.
    """
    if n <= 0:
        return []
    return list(store.rows(order="score", limit=n, status="done"))


def errors(store: ResultStore, limit: int | None = None) -> Iterator[Row]:
    """The images that could not be analysed, by path (streamed)."""
    return store.rows(order="path", limit=limit, status="error")


def paths_for(store: ResultStore, shas: Iterable[str]) -> dict[str, list[str]]:
    """Every path of each content hash in ``shas``, sorted (one query per few hundred hashes)."""
    wanted = list(dict.fromkeys(shas))
    found: dict[str, list[str]] = {sha: [] for sha in wanted}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        # The store's private connection: the paths table has no index on sha256, so per-hash
        # lookups (ResultStore.paths_of) would each scan it; one IN query per chunk scans it once.
        for sha, path in store._db.execute(
            f"SELECT sha256, path FROM paths WHERE sha256 IN ({marks}) ORDER BY sha256, path", chunk
        ):
            found[sha].append(path)
    return found


def files_of(store: ResultStore, rows: Iterable[Row]) -> dict[str, dict[str, Path | None]]:
    """The files of each row that exist: ``preview`` (JPEG), ``preview_mask`` (PNG) and ``report`` (HTML page).

    Paths are the previews folder the store records joined with the names
    :mod:`~tamperscope.scan.previews` gives (relative when the store was given
    by a relative path, so they open from the same working folder).
    """
    from .previews import default_folder, image_name, mask_name
    from .reports import report_page

    rows = list(rows)
    root = store.artifacts_folder() or default_folder(store.path)
    records = store.previews([row.sha256 for row in rows])
    found: dict[str, dict[str, Path | None]] = {}
    for row in rows:
        record = records.get(row.sha256)
        image = root / image_name(row.sha256)
        mask = root / mask_name(row.sha256)
        page = report_page(store, row.sha256)
        found[row.sha256] = {
            "preview": image if record is not None and image.is_file() else None,
            "preview_mask": mask if record is not None and record.mask and mask.is_file() else None,
            "report": page if page.is_file() else None,
        }
    return found


def export_rows(store: ResultStore) -> Iterator[tuple[list[Any], list[str]]]:
    """(column values as stored, paths) per image, most suspicious first, streamed.

    JSON columns stay the JSON text the store holds. One query joins the paths
    (SQLite builds a temporary index for the join and sorts on disk when it must).
    A version-1 store opened read-only exports as version 2 (``class_scores`` empty, labels upgraded).
    """
    sql = (
        f"SELECT {store.select_list('i.')}, p.path FROM images AS i LEFT JOIN paths AS p ON p.sha256 = i.sha256 "
        "ORDER BY i.score IS NULL, i.score DESC, i.path, i.sha256, p.path"
    )
    sha_at, label_at, detectors_at = (COLUMNS.index(name) for name in ("sha256", "label", "detectors"))
    current: list[Any] | None = None
    paths: list[str] = []
    for record in store._db.execute(sql):
        values, path = list(record[:-1]), record[-1]
        if store._legacy:
            values[label_at] = upgrade_label(values[label_at], values[detectors_at])
        if current is None or values[sha_at] != current[sha_at]:
            if current is not None:
                yield current, paths
            current, paths = values, []
        if path is not None:
            paths.append(path)
    if current is not None:
        yield current, paths


def export_csv(store: ResultStore, path: str | Path) -> int:
    """Write one CSV row per image (columns :data:`EXPORT_COLUMNS`); returns the number of rows.

    JSON columns are JSON text; ``paths`` joins every path of the content with
    ``|`` (a path that itself contains ``|`` makes that column ambiguous: the
    Parquet export keeps paths as a list). File names come from whoever made
    the files, so a text cell that a spreadsheet would run as a formula (it
    starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
    written with a leading ``'`` (OWASP's CSV-injection advice); the Parquet
    export keeps every value exactly.
    """
    target = Path(path)
    count = 0

    def write(handle) -> None:
        nonlocal count
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for values, paths in export_rows(store):
            cells = [*("" if v is None else v for v in values), PATH_SEPARATOR.join(paths)]
            writer.writerow([_inert(cell) for cell in cells])
            count += 1

    _atomic_write(target, lambda part: _with_text(part, write))
    return count


def _inert(cell: Any) -> Any:
    """A text cell a spreadsheet would evaluate, made literal with a leading quote."""
    if isinstance(cell, str) and cell[:1] in FORMULA_STARTS:
        return "'" + cell
    return cell


#: First characters that make spreadsheets treat a cell as a formula.
FORMULA_STARTS = frozenset("=+-@\t\r")


def export_parquet(store: ResultStore, path: str | Path, batch_rows: int = BATCH_ROWS) -> int:
    """Write the images as Parquet (row groups of ``batch_rows``); returns the number of rows.

    Same columns as the CSV, typed; JSON columns are JSON strings; ``paths`` is
    a list of strings. Needs pyarrow (:class:`MissingDependency` otherwise).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency(PARQUET_NEEDS) from None

    types = {"file_size": pa.int64(), "score": pa.float64(), "width": pa.int64(), "height": pa.int64(),
             "seconds": pa.float64(), "finished_at": pa.float64()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS]
                       + [("paths", pa.list_(pa.string()))])
    target = Path(path)
    count = 0

    def write(part: Path) -> None:
        nonlocal count
        with pq.ParquetWriter(part, schema) as writer:
            batch: list[tuple[list[Any], list[str]]] = []
            for item in export_rows(store):
                batch.append(item)
                if len(batch) >= batch_rows:
                    writer.write_table(_arrow_table(pa, schema, batch))
                    count += len(batch)
                    batch = []
            if batch or count == 0:
                writer.write_table(_arrow_table(pa, schema, batch))
                count += len(batch)

    _atomic_write(target, write)
    return count


def top_detectors(row: Row, k: int = 3, min_score: float = 0.005) -> list[tuple[str, float]]:
    """The ``k`` detectors with the highest scores on ``row`` (name, score), strongest first.

    Detectors that did not decide (no score, not applicable, failed) and scores
    under ``min_score`` (0.00 when printed) are left out.
    """
    scored = [(name, float(value)) for name, value in (row.detectors or {}).items()
              if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= min_score]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:k]


def detector_titles() -> dict[str, str]:
    """Plain-language detector names ("Double JPEG compression (DQ)") by registry name."""
    from ..detectors import available

    return {name: getattr(cls, "title", name) for name, cls in available().items()}


def visible(text: object) -> str:
    """``text`` with every non-printable character (controls, bidi overrides, ...) written as an escape."""
    text = str(text)
    if text.isprintable():  # nearly every name: one C-speed check instead of a loop per character
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def _arrow_table(pa, schema, batch: list[tuple[list[Any], list[str]]]):
    columns = {name: [values[i] for values, _ in batch] for i, name in enumerate(COLUMNS)}
    columns["paths"] = [paths for _, paths in batch]
    return pa.Table.from_pydict(columns, schema=schema)


def _with_text(part: Path, write) -> None:
    with part.open("w", newline="", encoding="utf-8") as handle:
        write(handle)


def _atomic_write(target: Path, write) -> None:
    """Run ``write(part)`` on a ``.part`` file beside ``target``, then rename it into place."""
    part = target.with_name(target.name + ".part")
    try:
        if target.is_dir():
            raise OutputError(f"cannot write {target}: it is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        write(part)
        os.replace(part, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if part.exists():
            part.unlink(missing_ok=True)


__all__ = [
    "BATCH_ROWS", "EXPORT_COLUMNS", "MissingDependency", "PARQUET_NEEDS", "ReadOnlyResultStore", "ResultsUnavailable",
    "detector_titles", "errors", "export_csv", "export_parquet", "export_rows", "files_of", "open_results",
    "paths_for", "top",
    "top_detectors", "visible",
]
