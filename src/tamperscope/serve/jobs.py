"""Running uploads through the analysis in worker processes, with a per-job timeout and memory cap.

The pool reuses the scanner's :class:`~tamperscope.scan.local.LocalBackend`
(one worker process per slot; a job past its timeout or a crashing worker is
recorded as failed and a fresh worker takes the slot) and its worker function
:func:`~tamperscope.scan.worker.analyze_to_row`, which here also writes the full
report folder (``report.json``, ``report.html``, the maps) exactly as
``tamperscope analyze -o`` does, and the small previews a scan keeps
(:mod:`~tamperscope.scan.previews`), which the page's history shows:
``preview.jpg`` and, with a region, ``preview.mask.png`` in the same folder.
Each slot is one backend of one worker, fed by a thread that blocks on the
shared queue, so a slot takes a job only when it is free.

Worker processes start from a fork server, not by forking the service: the
service has threads (the event loop, these feeders), and a forked child could
inherit a lock one of them held.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scan.local import LocalBackend
from ..scan.previews import save_previews
from ..scan.store import Row
from .store import Job, JobStore

log = logging.getLogger("tamperscope.serve")

#: The previews of an analysis, in its report folder (image, mask).
PREVIEW_NAMES = ("preview.jpg", "preview.mask.png")

#: Modules the fork server imports once, so that every new worker starts warm.
_PRELOAD = ["tamperscope.api", "tamperscope.report.write", "tamperscope.report.html", "tamperscope.scan.worker"]
_STOP = None


@dataclass
class PoolSettings:
    workers: int
    timeout_s: float
    memory_mb: int | None
    analyses: Path  # report folders go to analyses/<job id>
    max_pixels: int
    max_file_bytes: int
    profile: str = "default"


class JobPool:
    """``settings.workers`` slots analysing queued jobs; results go to ``store``."""

    def __init__(self, store: JobStore, settings: PoolSettings,
                 on_finished: Callable[[Job, Row], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.on_finished = on_finished
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._lock = threading.Lock()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def running(self) -> int:
        return self._running

    def start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        worker_settings: dict[str, Any] = {
            "profile": self.settings.profile,
            "memory_mb": self.settings.memory_mb,
            "limits": {"max_pixels": self.settings.max_pixels, "max_file_bytes": self.settings.max_file_bytes},
            "reports": str(self.settings.analyses),
            "report_formats": ["json", "html"],
            "previews": True,
        }
        for index in range(self.settings.workers):
            thread = threading.Thread(target=self._feed, args=(worker_settings,), name=f"tamperscope-slot-{index}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def close(self, timeout: float | None = None) -> None:
        """Let each slot finish its current job, then stop it (daemon threads: exiting never waits on them)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)

    def _feed(self, worker_settings: dict[str, Any]) -> None:
        # One backend per slot: LocalBackend asks its task iterator for work only when its worker is free, so the
        # iterator may block on the shared queue without holding up a result.
        stopped = threading.Event()
        current: list[Job] = []  # the job this slot has handed to its worker and not yet seen finish
        while not stopped.is_set():
            try:
                backend = LocalBackend(1, worker_settings, timeout_s=self.settings.timeout_s,
                                       start_method="forkserver")
                backend.run(self._tasks(stopped, current), lambda row: self._finish(row, current))
            except Exception:  # a slot must outlive any one failure: fail its job, pause, go on
                log.exception("a worker slot failed; it restarts")
                for job in current:
                    self._finish(Row(sha256=job.id, path=job.filename, status="error", error_kind="internal",
                                     error="the worker pool failed on this job; see the server log"), current)
                time.sleep(1.0)

    def _tasks(self, stopped: threading.Event, current: list[Job]) -> Iterator[tuple[str, str]]:
        while True:
            job = self._queue.get()
            if job is _STOP:
                stopped.set()
                return
            with self._lock:
                self._running += 1
            current.append(job)
            self.store.mark_running(job.id)
            yield str(self._upload_path(job)), job.id

    def _finish(self, row: Row, current: list[Job]) -> None:
        with self._lock:
            self._running -= 1
        current.clear()
        if row.status == "done" and row.previews and "error" in row.previews:
            log.warning("no preview for job %s: %s", row.sha256, row.previews["error"])
        elif row.status == "done" and row.previews:
            try:  # written before the job is marked done, so a done job's previews are whole
                save_previews(self.settings.analyses / row.sha256, row.sha256, row.previews, names=PREVIEW_NAMES)
            except OSError:
                log.exception("the previews of job %s could not be written", row.sha256)
        row.previews = None
        try:
            self.store.finish(row)
            job = self.store.get(row.sha256)
        except sqlite3.ProgrammingError:
            # The service closed its store while this job ran: it stays 'running', and the next start marks it
            # failed (interrupted), never done.
            return
        if job is None:
            return
        shutil.rmtree(self._upload_path(job).parent, ignore_errors=True)
        if self.on_finished is not None:
            self.on_finished(job, row)

    def _upload_path(self, job: Job) -> Path:
        return upload_path(self.settings.analyses.parent, job)


def upload_path(data: Path, job: Job) -> Path:
    """Where an upload waits for its worker: ``data/uploads/<id>/<file name>`` (the name shows in the report)."""
    return data / "uploads" / job.id / job.filename
