"""Ray backend: the same scan contract as the local pool, with the analyses run as Ray tasks.

The driver (the process running :func:`tamperscope.scan.scan`) keeps at most
``workers`` tasks in flight, pulling files from the scan's iterator one at a
time, and writes every result to the store itself: workers only analyse and
return a row, they never touch the store.

**Workers read the files by path.** Each task receives the file's absolute
path, so on a cluster of several machines every node must see the images under
the same path as the driver: a shared filesystem (NFS, a cluster filesystem) or
an object store mounted at the same place on every node. tamperscope (with the
same version) must also be installed on every node; one task run before the
scan checks that on a worker, so a misconfigured cluster stops the scan with
one message instead of recording every file as an error.

Failures are rows, never exceptions: a task running past ``timeout_s`` is
force-cancelled (its worker process is killed) and recorded as ``timeout``; a
worker that dies (segfault, Ray's out-of-memory killer, a lost node) is
recorded as ``crashed``; an exception escaping the task is ``internal``. Tasks
are not retried, as with the local pool: a file that kills its worker would
kill the next one too.

Differences from the local pool worth knowing:

* ``memory_mb`` is a Ray *reservation* (``.options(memory=...)``), used for
  scheduling, not an address-space cap; Ray's memory monitor kills a worker
  when its node runs short of memory, which is recorded as ``crashed``.
* The timeout counts from submission. With at most ``workers`` tasks in flight
  that is also the start of the run as long as the cluster has ``workers`` free
  CPUs; on a cluster we started, ``workers`` is capped to what fits its memory.

Connecting (``address``):

* ``"auto"``: the cluster named by ``RAY_ADDRESS`` if set, else a cluster
  started with ``ray start`` on this machine, else a private local cluster
  started for this scan (no dashboard, 200 MB object store, worker logs not
  forwarded) and shut down at the end. Clusters other programs started with
  their own ``ray.init()`` are left alone.
* anything else: a cluster address, ``host:port`` of its head node (the GCS) or
  a ``ray://host:port`` Ray Client address.
* If this process is already connected to Ray, that connection is used as is
  and left open.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import InputError
from .store import Row

Task = tuple[str, str]  # (path, sha256)

#: Object store of the local cluster started for a scan: rows are small, nothing big travels.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
#: Seconds allowed to open a TCP connection to a ``host:port`` address before giving up.
CONNECT_CHECK_S = 5.0
#: Task name, shown by Ray's tools and as the worker's process title (``ray::tamperscope.analyze``).
TASK_NAME = "tamperscope.analyze"


def _analyze_task(path: str, sha256: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What runs on a Ray worker: one analysis, returned as a plain dict."""
    from .worker import analyze_to_row

    return analyze_to_row(path, sha256, settings).to_dict()


def _worker_version() -> str:
    """Run once on a worker before the scan: proves tamperscope imports there, and which version."""
    from .. import __version__

    return __version__


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed: pip install 'tamperscope[ray]'") from None
    return ray


class RayBackend:
    """Run analyses as Ray tasks on the cluster at ``address``, ``workers`` at a time."""

    name = "ray"

    def __init__(self, address: str, workers: int, settings: dict[str, Any], timeout_s: float = 300.0) -> None:
        self.ray = _import_ray()
        self.address = str(address)
        self.workers = max(1, int(workers))
        self.settings = settings
        self.timeout_s = float(timeout_s)

    # -- connecting -------------------------------------------------------------------------------------------

    def _connect(self) -> tuple[bool, bool]:
        """Connect to (or start) the cluster; returns (we opened the connection, we started the cluster)."""
        ray = self.ray
        if ray.is_initialized():
            return False, False
        common = {"log_to_driver": False, "logging_level": logging.ERROR}
        if self.address != "auto":
            _check_reachable(self.address)
            try:
                ray.init(address=self.address, **common)
            except (ConnectionError, TimeoutError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {self.address}: {_first_line(exc)}") from None
            return True, False
        # address=None: RAY_ADDRESS, else a `ray start` cluster of this machine, else a new local cluster. Options
        # that only make sense for a new cluster are refused by Ray when it connects instead; then we connect plainly.
        try:
            ray.init(address=None, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                     num_cpus=max(os.cpu_count() or 1, self.workers), **common)
            return True, True
        except ValueError as exc:
            if "existing cluster" not in str(exc):
                raise
        try:
            ray.init(address=None, **common)
        except (ConnectionError, TimeoutError) as exc:
            raise InputError(f"cannot connect to the Ray cluster: {_first_line(exc)}") from None
        return True, False

    def _slots(self, started_cluster: bool, memory_bytes: int | None) -> int:
        """How many tasks to keep in flight: ``workers``, capped on our own cluster by the memory it offers."""
        if not memory_bytes:
            return self.workers
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        per_node = [int(n["Resources"].get("memory", 0) // memory_bytes) for n in nodes]
        fits = sum(min(count, int(n["Resources"].get("CPU", 0))) for count, n in zip(per_node, nodes))
        if fits >= self.workers:
            return self.workers
        largest = max((n["Resources"].get("memory", 0) for n in nodes), default=0) / 2**20
        if started_cluster:
            if fits == 0:
                raise InputError(f"memory_mb={memory_bytes // 2**20} per task is more than this machine offers "
                                 f"to Ray ({largest:.0f} MiB); ask for less")
            return fits
        warnings.warn(f"the Ray cluster can run {fits} task(s) of {memory_bytes // 2**20} MiB at once now, fewer "
                      f"than workers={self.workers}; queued tasks count toward the {self.timeout_s:g} s timeout",
                      stacklevel=3)
        return self.workers

    def _preflight(self) -> None:
        """Fail the scan, not every file, when the workers cannot run tamperscope (missing, another version)."""
        from .. import __version__

        ray = self.ray
        ref = ray.remote(_worker_version).options(num_cpus=1, max_retries=0, name="tamperscope.preflight").remote()
        wait_s = max(60.0, self.timeout_s)
        try:
            theirs = ray.get(ref, timeout=wait_s)
        except ray.exceptions.GetTimeoutError:
            _cancel(ray, ref)
            raise InputError(f"no Ray worker started a task within {wait_s:g} s: has the cluster a free CPU?") from None
        except Exception as exc:  # noqa: BLE001 - most often: tamperscope is not installed on the workers
            cause = getattr(exc, "cause", None) or exc
            raise InputError(f"tamperscope cannot run on the Ray workers ({type(cause).__name__}: "
                             f"{_first_line(cause)}); install it on every node") from None
        if theirs != __version__:
            raise InputError(f"the Ray workers have tamperscope {theirs}, this machine {__version__}: "
                             "install the same version on every node")

    # -- running ----------------------------------------------------------------------------------------------

    def run(self, tasks: Iterator[Task], on_result: Callable[[Row], None]) -> None:
        pending = iter(tasks)
        first = next(pending, None)
        if first is None:  # nothing to analyse (a finished rerun): do not start Ray at all
            return
        ray = self.ray
        opened, started_cluster = self._connect()
        in_flight: dict[Any, tuple[str, str, float]] = {}  # ref -> (path as scanned, sha256, submitted at)
        try:
            memory_mb = self.settings.get("memory_mb")
            memory_bytes = int(memory_mb) * 2**20 if memory_mb else None
            slots = self._slots(started_cluster, memory_bytes)
            self._preflight()
            options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0, "name": TASK_NAME}
            if memory_bytes:
                options["memory"] = memory_bytes
            remote = ray.remote(_analyze_task).options(**options)
            settings_ref = ray.put(self.settings)

            def submit(task: Task) -> None:
                path, sha256 = task
                ref = remote.remote(os.path.abspath(path), sha256, settings_ref)
                in_flight[ref] = (path, sha256, time.monotonic())

            submit(first)
            exhausted = False
            while True:
                while not exhausted and len(in_flight) < slots:
                    task = next(pending, None)
                    if task is None:
                        exhausted = True
                    else:
                        submit(task)
                if not in_flight:
                    return
                deadline = min(submitted for _, _, submitted in in_flight.values()) + self.timeout_s
                refs = list(in_flight)
                ready, rest = ray.wait(refs, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
                if ready and rest:  # take every other finished task too, without waiting
                    ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
                for ref in ready:
                    path, sha256, submitted = in_flight.pop(ref)
                    on_result(self._collect(ref, path, sha256, submitted))
                now = time.monotonic()
                for ref, (path, sha256, submitted) in list(in_flight.items()):
                    if now - submitted >= self.timeout_s:
                        del in_flight[ref]
                        _cancel(ray, ref)
                        on_result(_error_row(path, sha256, f"timed out after {self.timeout_s:g} s", "timeout",
                                             now - submitted, self.settings))
        finally:
            for ref in in_flight:  # interrupted (Ctrl-C, a failing store): do not leave work running on the cluster
                _cancel(ray, ref)
            if opened:
                ray.shutdown()

    def _collect(self, ref: Any, path: str, sha256: str, submitted: float) -> Row:
        """The row of a finished task, or an error row saying how it failed."""
        ray = self.ray
        seconds = time.monotonic() - submitted
        try:
            values = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # an exception escaped the task (analyze_to_row catches its own)
            cause = getattr(exc, "cause", None) or exc
            return _error_row(path, sha256, f"{type(cause).__name__}: {_first_line(cause)}", "internal", seconds,
                              self.settings)
        except ray.exceptions.OutOfMemoryError:
            return _error_row(path, sha256, "Ray's memory monitor killed the worker: its node ran out of memory",
                              "crashed", seconds, self.settings)
        except ray.exceptions.WorkerCrashedError:
            return _error_row(path, sha256, "the Ray worker crashed on this file", "crashed", seconds, self.settings)
        except ray.exceptions.RayError as exc:  # node died, object lost, cancelled from outside...
            return _error_row(path, sha256, f"the Ray task failed ({type(exc).__name__}: {_first_line(exc)})",
                              "crashed", seconds, self.settings)
        except Exception as exc:  # noqa: BLE001 - e.g. a row that cannot be deserialised; one file, not the scan
            return _error_row(path, sha256, f"{type(exc).__name__}: {_first_line(exc)}", "internal", seconds,
                              self.settings)
        row = Row(**values)
        absolute = os.path.abspath(path)
        row.path = path  # the store keeps paths as the scan saw them
        if row.error and absolute != path:
            row.error = row.error.replace(absolute, path)
        return row


def _cancel(ray: Any, ref: Any) -> None:
    try:
        ray.cancel(ref, force=True)
    except Exception:  # noqa: BLE001 - already finished, or the cluster is gone: nothing left to stop
        pass


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"not a Ray cluster address: {address!r} (use 'auto', host:port or ray://host:port)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_CHECK_S).close()
    except OSError as exc:
        raise InputError(f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _error_row(path: str, sha256: str, message: str, kind: str, seconds: float, settings: dict[str, Any]) -> Row:
    return Row(sha256=sha256, path=path, status="error", error=message, error_kind=kind, seconds=seconds,
               profile=settings.get("profile"), finished_at=time.time())


__all__ = ["RayBackend"]
