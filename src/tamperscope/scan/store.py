"""The scan result store: one SQLite file, one row per distinct image content.

Rows are written and committed as each image finishes (WAL journal), so a scan
killed at any moment loses at most the images in flight, and a rerun skips
every content hash already done. Paths are kept in their own table: the same
content under two names is analysed once and listed under both.

Store version 2 (report schema 2.0) keeps each image's calibrated class
probabilities and the labels of the calibrated fusion. A version-1 store is
migrated when opened (:func:`migrate`): the column is added, and its
"authentic" rows, which then meant "no evidence of manipulation found", become
"no-evidence" unless provenance attested authenticity (trusted Content
Credentials of a capture, ``c2pa``, or an intact publisher watermark,
``watermark``, scoring >= 0.5: the only ways v1 reached "authentic" with evidence).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
"""

COLUMNS = ("sha256", "path", "file_size", "status", "label", "score", "class_scores", "width", "height", "format",
           "regions", "provenance", "detectors", "error", "error_kind", "seconds", "artifact", "profile", "finished_at")
JSON_COLUMNS = ("class_scores", "regions", "provenance", "detectors")


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

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


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

    def record(self, row: Row) -> None:
        """Write one finished image and commit at once (a crash after this loses nothing)."""
        values = row.to_dict()
        values["finished_at"] = values["finished_at"] or time.time()
        for name in JSON_COLUMNS:
            values[name] = None if values[name] is None else json.dumps(values[name])
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._db:
            self._db.execute(f"INSERT OR REPLACE INTO images ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                             [values[name] for name in COLUMNS])
            self._db.execute("INSERT OR REPLACE INTO paths VALUES (?, ?)", (row.path, row.sha256))

    def rows(self, order: str = "score", limit: int | None = None, status: str | None = None) -> Iterator[Row]:
        """Rows, most suspicious first by default (``order`` = "score" or "path")."""
        sql = "SELECT " + ", ".join(COLUMNS) + " FROM images"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY score IS NULL, score DESC, path" if order == "score" else " ORDER BY path"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        for record in self._db.execute(sql, params):
            values = dict(zip(COLUMNS, record))
            for name in JSON_COLUMNS:
                values[name] = None if values[name] is None else json.loads(values[name])
            yield Row(**values)

    def paths_of(self, sha256: str) -> list[str]:
        return [p for (p,) in self._db.execute("SELECT path FROM paths WHERE sha256 = ? ORDER BY path", (sha256,))]

    def counts(self) -> dict[str, int]:
        """Images by status and verdict label, and paths seen."""
        out = {"images": 0, "paths": 0}
        for status, label, count in self._db.execute(
            "SELECT status, COALESCE(label, ''), COUNT(*) FROM images GROUP BY status, label"
        ):
            out["images"] += count
            key = label if status == "done" else "error"
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
        if not _attested(detectors):
            db.execute(f"UPDATE {table} SET label = 'no-evidence' WHERE {key} = ?", (ident,))
            changed += 1
    return changed


def _attested(detectors: str | None) -> bool:
    try:
        scores = json.loads(detectors) if detectors else {}
    except ValueError:
        return False
    return isinstance(scores, dict) and any(isinstance(scores.get(n), (int, float)) and not isinstance(
        scores.get(n), bool) and scores[n] >= 0.5 for n in ATTESTING)
