"""Local backend: a pool of worker processes that survives crashing and hanging files.

Each worker is a process of its own, fed one file at a time over a pipe, with
an address-space cap (``RLIMIT_AS``: the memory it may add to what it starts
with). The parent watches every worker: a file
that runs past the timeout gets its worker killed, a worker that dies
(segfault, out-of-memory kill) is noticed through its process sentinel; either
way the file is recorded with its error and a fresh worker takes the slot.
When the parent itself is killed, workers notice within a second (their
parent process changes) and exit: they cannot rely on their pipe closing,
because every worker forked later inherits the parent's ends of the earlier
workers' pipes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from .store import Row

Task = tuple[str, str]  # (path, sha256)


def _worker_main(conn: Connection, settings: dict[str, Any]) -> None:
    import faulthandler
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    faulthandler.disable()  # a crash is recorded in the store; a dump would only garble the progress display
    memory_mb = settings.get("memory_mb")
    if memory_mb:
        # A forked worker starts with its parent's address space (libraries, thread stacks, reserved arenas):
        # the cap is what it may add to that, so the same setting means the same headroom on every machine.
        limit = _address_space() + int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from .worker import analyze_to_row

    parent = os.getppid()
    while True:
        try:
            if not conn.poll(1.0):
                if os.getppid() != parent:  # orphaned: the scan (or service) that owned this worker is gone
                    return
                continue
            path, sha256 = conn.recv()
        except (EOFError, OSError):
            return
        row = analyze_to_row(path, sha256, settings)
        try:
            conn.send(row.to_dict())
        except (BrokenPipeError, OSError):
            return


def _address_space() -> int:
    """This process's current virtual memory size in bytes (0 where /proc is not there)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class _Slot:
    process: Any
    conn: Connection
    task: Task | None = None
    started: float = 0.0


class LocalBackend:
    """Run analyses in ``workers`` processes with a per-file ``timeout_s`` and ``memory_mb`` cap."""

    name = "local"

    def __init__(self, workers: int, settings: dict[str, Any], timeout_s: float = 300.0,
                 start_method: str = "fork") -> None:
        # "fork" suits a single-threaded scanning process; a threaded host (the web service) passes "forkserver"
        # because forking a process whose other threads may hold locks can deadlock the child.
        self.workers = max(1, int(workers))
        self.settings = settings
        self.timeout_s = float(timeout_s)
        self._context = multiprocessing.get_context(start_method)

    def _start(self) -> _Slot:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child, self.settings), daemon=True)
        process.start()
        child.close()
        return _Slot(process=process, conn=parent)

    def _stop(self, slot: _Slot) -> None:
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(timeout=5)
        slot.conn.close()

    def run(self, tasks: Iterator[Task], on_result: Callable[[Row], None]) -> None:
        slots = [self._start() for _ in range(self.workers)]
        pending = iter(tasks)
        exhausted = False
        try:
            while True:
                for slot in slots:
                    if slot.task is None and not exhausted:
                        task = next(pending, None)
                        if task is None:
                            exhausted = True
                        else:
                            slot.task, slot.started = task, time.monotonic()
                            slot.conn.send(task)
                busy = [slot for slot in slots if slot.task is not None]
                if not busy:
                    return
                deadline = min(slot.started for slot in busy) + self.timeout_s
                ready = wait([s.conn for s in busy] + [s.process.sentinel for s in busy],
                             timeout=max(0.0, deadline - time.monotonic()))
                for index, slot in enumerate(slots):
                    if slot.task is None:
                        continue
                    path, sha256 = slot.task
                    if slot.conn in ready:
                        try:
                            values = slot.conn.recv()
                        except (EOFError, OSError):
                            values = None
                        if values is not None:
                            slot.task = None
                            on_result(Row(**values))
                            continue
                    if slot.process.sentinel in ready or slot.conn in ready:
                        slot.process.join(timeout=5)  # its pipe can close a moment before its exit status is set
                        code = slot.process.exitcode
                        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                        on_result(_error_row(path, sha256, f"the worker crashed on this file ({how})", "crashed",
                                             time.monotonic() - slot.started, self.settings))
                    elif time.monotonic() - slot.started >= self.timeout_s:
                        on_result(_error_row(path, sha256, f"timed out after {self.timeout_s:g} s", "timeout",
                                             time.monotonic() - slot.started, self.settings))
                    else:
                        continue
                    self._stop(slot)
                    slots[index] = self._start()
        finally:
            for slot in slots:
                try:
                    slot.conn.close()
                finally:
                    if slot.process.is_alive():
                        slot.process.kill()
                    slot.process.join(timeout=5)


def _error_row(path: str, sha256: str, message: str, kind: str, seconds: float, settings: dict[str, Any]) -> Row:
    return Row(sha256=sha256, path=path, status="error", error=message, error_kind=kind, seconds=seconds,
               profile=settings.get("profile"), finished_at=time.time())
