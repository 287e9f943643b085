"""The scan result store: one SQLite file, one row per distinct image content.

Rows are written and committed as each image finishes (WAL journal), so a scan
killed at any moment loses at most the images in flight, and a rerun skips
every content hash already done. Paths are kept in their own table: the same
content under two names is analysed once and listed under both.

Previews (:mod:`~tamperscope.scan.previews`) are files in a folder beside the
store; the ``previews`` table says which exist for each content, committed in
the same transaction as its row, and ``meta`` keeps the folder (``artifacts``,
relative to the store's own folder so that the two can move together). Both were
added without changing a column of ``images``: a store written before them reads
as a store without previews.

Store version 2 (report schema 2.0) keeps each image's calibrated class
probabilities and the labels of the calibrated fusion. A version-1 store is
migrated when opened for writing (:func:`migrate`): the column is added, and its
"authentic" rows, which then meant "no evidence of manipulation found", become
"no-evidence" unless provenance attested authenticity (trusted Content
Credentials of a capture, ``c2pa``, or an intact publisher watermark,
``watermark``, scoring >= 0.5: the only ways v1 reached "authentic" with evidence).
A version-1 store opened read-only (``tamperscope results``) is read the same
way without being changed (:meth:`ResultStore.select_list`, :func:`upgrade_label`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .previews import PreviewRecord

SCHEMA_VERSION = 2
#: Provenance detectors whose score >= 0.5 on a version-1 "authentic" row meant authenticity was attested.
ATTESTING = ("c2pa", "watermark")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    sha256      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,          -- the first path it was seen under
    file_size   INTEGER,
    status      TEXT NOT NULL,          -- 'done' or 'error'
    label       TEXT,                   -- verdict label for 'done'
    score       REAL,                   -- manipulation score (NULL when no detector decided)
    class_scores TEXT,                  -- JSON: calibrated probability per class (NULL when not calibrated)
    width       INTEGER,
    height      INTEGER,
    format      TEXT,
    regions     TEXT,                   -- JSON: the largest regions (id, bbox, share, detectors)
    provenance  TEXT,                   -- JSON: flags read from the file (c2pa, exif, xmp, text chunks)
    detectors   TEXT,                   -- JSON: detector -> score or status
    error       TEXT,                   -- one line, for 'error'
    error_kind  TEXT,                   -- bad-input, timeout, crashed, internal
    seconds     REAL,                   -- wall time of the analysis
    artifact    TEXT,                   -- overlay thumbnail, relative to the artifacts folder
    profile     TEXT,
    finished_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_score ON images(score DESC);
CREATE TABLE IF NOT EXISTS paths (path TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paths_sha ON paths(sha256);
CREATE TABLE IF NOT EXISTS previews (
    sha256      TEXT PRIMARY KEY,       -- files <sha[:2]>/<sha>.jpg (and .mask.png) in the artifacts folder
    kind        TEXT NOT NULL,          -- 'overlay' (heatmap over the photo: it has a region) or 'plain'
    mask        INTEGER NOT NULL,       -- 1 when <sha>.mask.png exists
    width       INTEGER NOT NULL,       -- of the upright preview
    height      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,       -- both files together
    boxes       TEXT NOT NULL           -- JSON: region boxes [x, y, w, h] as fractions of the preview
);
"""
#: ``meta`` key of the previews folder (relative to the store's folder).
ARTIFACTS_KEY = "artifacts"

COLUMNS = ("sha256", "path", "file_size", "status", "label", "score", "class_scores", "width", "height", "format",
           "regions", "provenance", "detectors", "error", "error_kind", "seconds", "artifact", "profile", "finished_at")
JSON_COLUMNS = ("class_scores", "regions", "provenance", "detectors")
#: SQLite host parameters per ``IN (...)`` query (well under every SQLite's limit).
_CHUNK = 500


@dataclass
class Row:
    """One analysed (or failed) image as the store keeps it."""

    sha256: str
    path: str
    status: str
    file_size: int | None = None
    label: str | None = None
    score: float | None = None
    class_scores: dict[str, float | None] | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    regions: list[dict[str, Any]] | None = None
    provenance: dict[str, Any] | None = None
    detectors: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None
    seconds: float | None = None
    artifact: str | None = None
    profile: str | None = None
    finished_at: float = 0.0
    #: In flight only (worker -> store): the encoded previews (:func:`~tamperscope.scan.previews.render_previews`).
    previews: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field, so that ``Row(**row.to_dict())`` carries a row between processes whole."""
        return {**{name: getattr(self, name) for name in COLUMNS}, "previews": self.previews}


class ResultStore:
    """Open (or create) the result database at ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        fresh = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'images'").fetchone() is None
        self._db.executescript(_SCHEMA)  # creates what is missing: a new store gets every column
        with self._db:
            if fresh:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            else:
                migrate(self._db)
        self._legacy = False  # a version-1 store read without migrating it (ReadOnlyResultStore)
        self._present = set(COLUMNS)

    def select_list(self, prefix: str = "") -> str:
        """The SELECT list of :data:`COLUMNS`; a column a version-1 store lacks reads as NULL."""
        present = getattr(self, "_present", set(COLUMNS))
        return ", ".join(f"{prefix}{name}" if name in present else f"NULL AS {name}" for name in COLUMNS)

    def read_legacy(self, version: int | None) -> None:
        """Read a store of ``version`` < 2 as version 2 without writing to it (labels by :func:`upgrade_label`)."""
        self._present = {r[1] for r in self._db.execute("PRAGMA table_info(images)")}
        self._legacy = version is not None and version < 2

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def is_done(self, sha256: str) -> bool:
        return self._db.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha256,)).fetchone() is not None

    def add_path(self, path: str, sha256: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO paths VALUES (?, ?)", (path, sha256))
        self._db.commit()

    def record(self, row: Row, preview: PreviewRecord | None = None) -> None:
        """Write one finished image (and what its previews are) and commit at once (a crash after this loses nothing).

        The preview files must already be in place: a row never references a file that is not whole.
        """
        values = {name: getattr(row, name) for name in COLUMNS}
        values["finished_at"] = values["finished_at"] or time.time()
        for name in JSON_COLUMNS:
            values[name] = None if values[name] is None else json.dumps(values[name])
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._db:
            self._db.execute(f"INSERT OR REPLACE INTO images ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                             [values[name] for name in COLUMNS])
            self._db.execute("INSERT OR REPLACE INTO paths VALUES (?, ?)", (row.path, row.sha256))
            if preview is not None:
                self._db.execute("INSERT OR REPLACE INTO previews VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (row.sha256, preview.kind, int(preview.mask), preview.width, preview.height,
                                  preview.bytes, json.dumps(preview.boxes)))

    def artifacts_folder(self) -> Path | None:
        """The previews folder this store's scans wrote to (None when none did)."""
        if not self._has_table("meta"):
            return None
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (ARTIFACTS_KEY,)).fetchone()
        if not found:
            return None
        folder = Path(found[0])
        return folder if folder.is_absolute() else self.path.parent / folder

    def set_artifacts_folder(self, folder: str | Path) -> None:
        """Remember where previews go: relative to the store's folder when possible, so both can move together."""
        folder = Path(folder).absolute()
        try:
            value = os.path.relpath(folder, self.path.absolute().parent)
        except ValueError:  # another drive (Windows): only an absolute path can say where
            value = str(folder)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (ARTIFACTS_KEY, value))

    def previews(self, shas: list[str]) -> dict[str, PreviewRecord]:
        """The preview records of the given contents (those that have one), a few hundred per query."""
        found: dict[str, PreviewRecord] = {}
        if not shas or not self._has_table("previews"):
            return found
        wanted = list(dict.fromkeys(shas))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for sha, kind, mask, width, height, size, boxes in self._db.execute(
                f"SELECT sha256, kind, mask, width, height, bytes, boxes FROM previews WHERE sha256 IN ({marks})",
                chunk,
            ):
                found[sha] = PreviewRecord(sha256=sha, kind=kind, mask=bool(mask), width=int(width),
                                           height=int(height), bytes=int(size), boxes=_boxes(boxes))
        return found

    def _has_table(self, name: str) -> bool:
        # A read-only store written before a table existed does not have it (and cannot create it).
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (name,)).fetchone() is not None

    def rows(self, order: str = "score", limit: int | None = None, status: str | None = None) -> Iterator[Row]:
        """Rows, most suspicious first by default (``order`` = "score" or "path")."""
        sql = "SELECT " + self.select_list() + " FROM images"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY score IS NULL, score DESC, path" if order == "score" else " ORDER BY path"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        for record in self._db.execute(sql, params):
            yield _row(record, self._legacy)

    def row(self, sha256: str) -> Row | None:
        """The row of one content hash, or None."""
        record = self._db.execute("SELECT " + self.select_list() + " FROM images WHERE sha256 = ?",
                                  (sha256,)).fetchone()
        return None if record is None else _row(record, self._legacy)

    def shas_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` content hashes starting with ``prefix`` (lower-case hex); a range scan of the key."""
        upper = prefix + "g"  # 'g' sorts after every hex digit
        return [sha for (sha,) in self._db.execute(
            "SELECT sha256 FROM images WHERE sha256 >= ? AND sha256 < ? ORDER BY sha256 LIMIT ?",
            (prefix, upper, int(limit)))]

    def sha_of_path(self, path: str) -> str | None:
        """The content hash a scan recorded for ``path`` (exactly as it was scanned), or None."""
        found = self._db.execute("SELECT sha256 FROM paths WHERE path = ?", (path,)).fetchone()
        return found[0] if found else None

    def paths_of(self, sha256: str) -> list[str]:
        return [p for (p,) in self._db.execute("SELECT path FROM paths WHERE sha256 = ? ORDER BY path", (sha256,))]

    def counts(self) -> dict[str, int]:
        """Images by status and verdict label, and paths seen."""
        out = {"images": 0, "paths": 0}
        if self._legacy:  # labels read as version 2 need each "authentic" row's detectors
            query = ("SELECT status, COALESCE(label, ''), detectors, 1 FROM images WHERE label = 'authentic' "
                     "UNION ALL SELECT status, COALESCE(label, ''), NULL, COUNT(*) FROM images "
                     "WHERE label IS NOT 'authentic' GROUP BY status, label")
        else:
            query = "SELECT status, COALESCE(label, ''), NULL, COUNT(*) FROM images GROUP BY status, label"
        for status, label, detectors, count in self._db.execute(query):
            out["images"] += count
            key = (upgrade_label(label, detectors) if self._legacy else label) if status == "done" else "error"
            out[key] = out.get(key, 0) + count
        out["paths"] = self._db.execute("SELECT COUNT(*) FROM paths").fetchone()[0]
        return out


def migrate(db: sqlite3.Connection) -> int:
    """Bring a store of an earlier version to :data:`SCHEMA_VERSION` (see the module doc); the rows changed."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row is not None else 1
    changed = relabel_v1(db, "images", "sha256") if version < 2 else 0
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    return changed


def relabel_v1(db: sqlite3.Connection, table: str, key: str) -> int:
    """Add ``class_scores`` to ``table`` and turn its unattested "authentic" rows into "no-evidence".

    Shared by the scan store and the service's job store, whose rows describe an image the same way.
    """
    names = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    if "class_scores" not in names:
        db.execute(f"ALTER TABLE {table} ADD COLUMN class_scores TEXT")
    changed = 0
    for ident, detectors in db.execute(f"SELECT {key}, detectors FROM {table} WHERE label = 'authentic'").fetchall():
        if upgrade_label("authentic", detectors) != "authentic":
            db.execute(f"UPDATE {table} SET label = 'no-evidence' WHERE {key} = ?", (ident,))
            changed += 1
    return changed


def upgrade_label(label: str | None, detectors: str | None) -> str | None:
    """A version-1 label as version 2 says it: "authentic" without attesting provenance is "no-evidence"."""
    return "no-evidence" if label == "authentic" and not _attested(detectors) else label


def _attested(detectors: str | None) -> bool:
    try:
        scores = json.loads(detectors) if detectors else {}
    except ValueError:
        return False
    return isinstance(scores, dict) and any(isinstance(scores.get(n), (int, float)) and not isinstance(
        scores.get(n), bool) and scores[n] >= 0.5 for n in ATTESTING)


def _row(record: tuple, legacy: bool = False) -> Row:
    values = dict(zip(COLUMNS, record))
    if legacy:
        values["label"] = upgrade_label(values["label"], values["detectors"])
    for name in JSON_COLUMNS:
        values[name] = None if values[name] is None else json.loads(values[name])
    return Row(**values)


def _boxes(text: str) -> list[list[float]]:
    """Stored region boxes, keeping only well-formed ones (the store may come from anywhere)."""
    try:
        boxes = json.loads(text)
    except (TypeError, ValueError):
        return []
    if not isinstance(boxes, list):
        return []
    return [[float(v) for v in box] for box in boxes
            if isinstance(box, list) and len(box) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in box)]
