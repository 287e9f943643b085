"""The service's job history: one SQLite file, one row per upload, committed at every state change.

A job goes ``queued`` -> ``running`` -> ``done`` or ``failed``. Only a job whose
report files were all written (the worker returns after
:func:`~tamperscope.report.write_report` moved them in) is ever marked ``done``,
so a crash can never publish a partial result. Opening the store after a crash
or a restart settles what was in flight: a ``running`` job is marked failed (its
worker died with the old server and may be what killed it), a ``queued`` job is
handed back to be queued again (its upload is on disk, nothing was started).

The summary columns (label, score, class_scores, regions, provenance,
detectors) are the scan store's :class:`~tamperscope.scan.store.Row`, so a job
row and a scan row describe an image the same way; a version-1 job store is
migrated as a scan store is (:func:`~tamperscope.scan.store.relabel_v1`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..scan.store import Row, relabel_v1

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,       -- 32 hex digits, random
    filename    TEXT NOT NULL,          -- as uploaded, made safe
    sha256      TEXT NOT NULL,          -- of the uploaded bytes
    file_size   INTEGER NOT NULL,
    format      TEXT,                   -- sniffed from the content
    width       INTEGER,
    height      INTEGER,
    profile     TEXT NOT NULL,
    status      TEXT NOT NULL,          -- queued, running, done, failed
    label       TEXT,
    score       REAL,
    class_scores TEXT,                  -- JSON: calibrated probability per class
    regions     TEXT,                   -- JSON
    provenance  TEXT,                   -- JSON
    detectors   TEXT,                   -- JSON
    error       TEXT,                   -- one line, for 'failed'
    error_kind  TEXT,                   -- bad-input, timeout, crashed, memory, internal, interrupted
    seconds     REAL,                   -- analysis wall time
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""

_JSON = ("class_scores", "regions", "provenance", "detectors")
STATUSES = ("queued", "running", "done", "failed")
INTERRUPTED = "the server stopped while this analysis was running; upload the image again"


@dataclass
class Job:
    id: str
    filename: str
    sha256: str
    file_size: int
    profile: str
    status: str
    created_at: float
    format: str | None = None
    width: int | None = None
    height: int | None = None
    label: str | None = None
    score: float | None = None
    class_scores: dict[str, float | None] | None = None
    regions: list[dict[str, Any]] | None = None
    provenance: dict[str, Any] | None = None
    detectors: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None
    seconds: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(Job.__dataclass_fields__)


class JobStore:
    """Open (or create) the job database at ``path``; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        fresh = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone() is None
        self._db.executescript(_SCHEMA)
        with self._db:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if not fresh and (row is None or int(row[0]) < 2):
                relabel_v1(self._db, "jobs", "id")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, job: Job) -> None:
        values = _encode(job.to_dict())
        with self._lock, self._db:
            self._db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                             [values[name] for name in _COLUMNS])

    def mark_running(self, job_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'",
                             (time.time(), job_id))

    def finish(self, row: Row) -> None:
        """Record a worker's result (``row.sha256`` carries the job id: the pool's task key)."""
        done = row.status == "done"
        values = _encode({
            "status": "done" if done else "failed", "label": row.label, "score": row.score,
            "class_scores": row.class_scores, "regions": row.regions,
            "provenance": row.provenance, "detectors": row.detectors, "error": row.error,
            "error_kind": row.error_kind, "seconds": row.seconds, "finished_at": row.finished_at or time.time(),
        })
        if done:
            values.update(width=row.width, height=row.height, format=row.format)
        names = list(values)
        with self._lock, self._db:
            self._db.execute(f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
                             [values[n] for n in names] + [row.sha256])

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            record = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if record is None else _decode(record)

    def list(self, limit: int = 50, offset: int = 0, status: str | None = None) -> list[Job]:
        """Jobs, newest first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        params += [int(limit), int(offset)]
        with self._lock:
            records = self._db.execute(sql, params).fetchall()
        return [_decode(record) for record in records]

    def counts(self) -> dict[str, int]:
        with self._lock:
            found = dict(self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def recover(self) -> list[Job]:
        """Settle jobs left by a previous server: fail the running ones, return the queued ones to requeue."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE jobs SET status = 'failed', error = ?, error_kind = 'interrupted', finished_at = ? "
                "WHERE status = 'running'", (INTERRUPTED, time.time()))
        return list(reversed(self.list(limit=1_000_000, status="queued")))


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v) if k in _JSON and v is not None else v) for k, v in values.items()}


def _decode(record: tuple) -> Job:
    values = dict(zip(_COLUMNS, record))
    for name in _JSON:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return Job(**values)
