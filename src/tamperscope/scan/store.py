"""The scan result store: one SQLite file, one row per distinct image content.

Rows are written and committed as each image finishes (WAL journal), so a scan
killed at any moment loses at most the images in flight, and a rerun skips
every content hash already done. Paths are kept in their own table: the same
content under two names is analysed once and listed under both.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    sha256      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,          -- the first path it was seen under
    file_size   INTEGER,
    status      TEXT NOT NULL,          -- 'done' or 'error'
    label       TEXT,                   -- verdict label for 'done'
    score       REAL,                   -- manipulation score (NULL when no detector decided)
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

COLUMNS = ("sha256", "path", "file_size", "status", "label", "score", "width", "height", "format", "regions",
           "provenance", "detectors", "error", "error_kind", "seconds", "artifact", "profile", "finished_at")
JSON_COLUMNS = ("regions", "provenance", "detectors")


@dataclass
class Row:
    """One analysed (or failed) image as the store keeps it."""

    sha256: str
    path: str
    status: str
    file_size: int | None = None
    label: str | None = None
    score: float | None = None
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
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._db.commit()

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
