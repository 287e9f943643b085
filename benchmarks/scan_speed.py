"""Time `tamperscope.scan` on a 500-image folder: local pool at 1 and 2 workers, Ray on one machine at 2.

The images (generated first, not timed) are scikit-image's public-domain ``astronaut`` photo upscaled to 1.0-1.9 MP
with sigma-2 Gaussian noise of a different seed each, saved as JPEG quality 75-95; every tenth one carries a
double-JPEG splice. Each configuration runs in a fresh Python process with a fresh result store and the default
profile, timeout and memory settings.

Peak memory per worker:

* local pool: ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of the scanning process after the scan, i.e. the largest peak
  resident set of any of its (joined) worker processes. Workers are forked from that process, so this counts the
  pages they share with it.
* Ray: ``VmHWM`` from ``/proc/<pid>/status`` of the Ray worker processes that ran the analysis task, polled every
  0.25 s during the scan (the largest value is reported). Ray's own processes (GCS, raylet, ...) are reported
  apart, as the peak of the sum of their ``VmRSS``.

Usage (from the repository root, with the ``test`` extra and Ray installed)::

    python benchmarks/scan_speed.py       # 500 images; writes the "## Scanning" section of docs/performance.md
    python benchmarks/scan_speed.py --images 40 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _machine import cpu_model, replace_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SIZES = [(864, 1152), (960, 1280), (1024, 1360), (1080, 1440), (1200, 1600)]  # 1.0 to 1.9 MP
RUNS = [("local", 1), ("local", 2), ("ray", 2)]
SECTION = "## Scanning"


def generate(folder: Path, count: int) -> float:
    """Write ``count`` JPEGs into ``folder``; returns their total megapixels."""
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import box_mask, decode, jpeg_bytes, photo

    megapixels = 0.0
    for index in range(count):
        height, width = SIZES[index % len(SIZES)]
        original = photo(height, width, seed=index)
        if index % 10 == 9:  # double-JPEG splice: a box of the photo saved at quality 60 pasted into its q90 save
            region, host = decode(jpeg_bytes(original, 60)), decode(jpeg_bytes(original, 90))
            mask = box_mask((height, width), height // 3, width // 3, 256, 320)
            host[mask] = region[mask]
            data = jpeg_bytes(host, 90)
        else:
            data = jpeg_bytes(original, 75 + index % 21)
        (folder / f"img{index:04d}.jpg").write_bytes(data)
        megapixels += height * width / 1e6
    return megapixels


# -- one configuration, in its own process -------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


class TreeWatch:
    """Poll the processes under this one every ``every_s``: CPU time, peak and current resident memory, title."""

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s = every_s
        self.seen: dict[int, dict] = {}  # pid -> {"title", "cpu_s", "hwm_kb"}, last values seen
        self.rss_peak_kb: dict[str, int] = {}  # group -> peak of the summed VmRSS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every_s)

    def poll(self) -> None:
        rss: dict[str, int] = {}
        for pid in _descendants(os.getpid()):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = _status(pid)
            except (OSError, IndexError):
                continue
            entry = self.seen.setdefault(pid, {"title": title, "cpu_s": 0.0, "hwm_kb": 0})
            if title.startswith("ray::"):
                entry["title"] = title if TASK_TITLE in title else entry["title"]
            entry["cpu_s"] = (int(fields[11]) + int(fields[12])) / TICK
            entry["hwm_kb"] = max(entry["hwm_kb"], status.get("VmHWM", 0))
            group = "worker" if entry["title"].startswith("ray::") else "other"
            rss[group] = rss.get(group, 0) + status.get("VmRSS", 0)
        for group, total in rss.items():
            self.rss_peak_kb[group] = max(self.rss_peak_kb.get(group, 0), total)

    def analysis_workers(self) -> list[dict]:
        return [e for e in self.seen.values() if TASK_TITLE in e["title"]]


TASK_TITLE = "ray::tamperscope.analyze"


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_one(backend: str, workers: int, folder: str, store_path: str) -> dict:
    from tamperscope.scan import ResultStore, scan

    arrivals: list[float] = []
    last = [0]

    def progress(summary) -> None:
        if summary.analysed > last[0]:
            last[0] = summary.analysed
            arrivals.append(time.perf_counter())

    result: dict = {"backend": backend, "workers": workers}
    kwargs: dict = {}
    if backend == "ray":
        from tamperscope.scan import ray_backend

        assert TASK_TITLE == f"ray::{ray_backend.TASK_NAME}"
        connect = ray_backend.RayBackend._connect

        def timed_connect(self):
            begin = time.perf_counter()
            try:
                return connect(self)
            finally:
                result["ray_init_s"] = time.perf_counter() - begin

        ray_backend.RayBackend._connect = timed_connect
        kwargs["ray"] = "auto"
    with ResultStore(store_path) as store:
        busy0, self0 = machine_busy_s(), _cpu(resource.getrusage(resource.RUSAGE_SELF))
        with TreeWatch() as watch:
            start = time.perf_counter()
            summary = scan([folder], store, workers=workers, on_progress=progress, **kwargs)
            wall = time.perf_counter() - start
        busy = machine_busy_s() - busy0
        own = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - self0
        if backend == "ray":
            own += sum(e["cpu_s"] for e in watch.seen.values())
            analysis = watch.analysis_workers()
            result["worker_peak_mib"] = max((e["hwm_kb"] for e in analysis), default=0) / 1024
            result["ray_workers_used"] = len(analysis)
            result["ray_others_peak_mib"] = watch.rss_peak_kb.get("other", 0) / 1024
        else:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            own += _cpu(children)
            result["worker_peak_mib"] = children.ru_maxrss / 1024
        rows = list(store.rows())
    result.update(
        wall_s=wall, analysed=summary.analysed, errors=summary.errors,
        labels=summary.labels,
        megapixels=sum((r.width or 0) * (r.height or 0) for r in rows if r.status == "done") / 1e6,
        first_result_s=arrivals[0] - start if arrivals else None,
        steady_s=arrivals[-1] - arrivals[0] if len(arrivals) > 1 else None,
        own_cores=own / wall, other_cores=max(0.0, busy - own) / wall,
        driver_peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return result


# -- the whole benchmark -------------------------------------------------------------------------------------------


def wait_quiet(limit_s: float, busy_below: float = 0.15, window_s: float = 3.0) -> float:
    """Wait (up to ``limit_s``) until other processes use under ``busy_below`` cores; returns what they used."""
    deadline = time.monotonic() + limit_s
    while True:
        before = machine_busy_s()
        time.sleep(window_s)
        used = (machine_busy_s() - before) / window_s
        if used < busy_below or time.monotonic() > deadline:
            return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--quiet-wait", type=float, default=300.0,
                        help="seconds to wait, before each run, for other processes to leave the CPUs idle")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write docs/performance.md")
    parser.add_argument("--one", nargs=4, metavar=("BACKEND", "WORKERS", "FOLDER", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        backend, workers, folder, store = args.one
        print(json.dumps(run_one(backend, int(workers), folder, store)))
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        start = time.perf_counter()
        megapixels = generate(folder, args.images)
        print(f"generated {args.images} images, {megapixels:.0f} MP, in {time.perf_counter() - start:.0f} s",
              flush=True)
        for index, (backend, workers) in enumerate(RUNS):
            idle = wait_quiet(args.quiet_wait)
            child = subprocess.run(
                [sys.executable, __file__, "--one", backend, str(workers), str(folder), str(Path(tmp) / f"{index}.db")],
                capture_output=True, text=True, cwd=tmp,
            )
            if child.returncode != 0:
                sys.exit(f"{backend} x{workers} failed:\n{child.stderr[-3000:]}")
            results.append({**json.loads(child.stdout.strip().splitlines()[-1]), "other_cores_before": idle})
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results[-1].items()}),
                  flush=True)

    text = section(results, args.images, megapixels)
    if not args.no_write:
        replace_section(DOC, SECTION, text)
    print(text)


def section(results: list[dict], count: int, megapixels: float) -> str:
    one = next(r for r in results if r["backend"] == "local" and r["workers"] == 1)
    two = next(r for r in results if r["backend"] == "local" and r["workers"] == 2)
    rows = ["| backend | workers | wall time | images/s | MP/s | images/s after the first result | vs local x1 "
            "| peak RSS per worker | cores used by the scan | by other processes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        steady = (r["analysed"] - 1) / r["steady_s"] if r["steady_s"] else float("nan")
        rows.append(
            f"| {r['backend']} | {r['workers']} | {r['wall_s']:.1f} s | {r['analysed'] / r['wall_s']:.2f} "
            f"| {r['megapixels'] / r['wall_s']:.2f} | {steady:.2f} | {one['wall_s'] / r['wall_s']:.2f}x "
            f"| {r['worker_peak_mib']:.0f} MiB | {r['own_cores']:.2f} | {r['other_cores']:.2f} |"
        )
    notes = [f"Scaling of the local pool, 2 workers against 1: **{one['wall_s'] / two['wall_s']:.2f}x** in wall time "
             f"(ideal on 2 cores: 2x)."]
    ray = next((r for r in results if r["backend"] == "ray"), None)
    if ray:
        notes.append(
            f"Ray on one machine at 2 workers takes {ray['wall_s'] / two['wall_s']:.2f}x the local pool's wall time "
            f"at 2 workers; {ray.get('ray_init_s', float('nan')):.1f} s of it is starting the local cluster (the "
            f"first result came after {ray['first_result_s']:.1f} s), and Ray's own processes (GCS, raylet, idle "
            f"workers...) peaked at {ray['ray_others_peak_mib']:.0f} MiB resident in all, on top of the "
            f"{ray['ray_workers_used']} analysis workers. Its CPU use counts those processes too."
        )
    errors = sum(r["errors"] for r in results)
    if errors:
        notes.append(f"**{errors} error rows** across the runs (expected none).")
    return f"""{SECTION}

Measured by `python benchmarks/scan_speed.py`: `tamperscope.scan` over {count} JPEGs ({megapixels:.0f} MP in all,
1.0 to 1.9 MP each, quality 75-95, one in ten with a double-JPEG splice), default profile, default timeout and memory
settings, a fresh result store and a fresh process for each run. Wall time is the whole `scan()` call: walking,
hashing, analysing, committing each row, and for Ray starting and stopping its local cluster (`ray="auto"`, no
cluster running). Image generation is not timed. Threads are left at their defaults (one analysis is
single-threaded; Ray sets `OMP_NUM_THREADS=1` in its workers). Before each run the script waits for the machine to be
idle; "cores used" is CPU time over wall time, for the scan's processes and for everything else on the machine
(from `/proc/stat`), so a run disturbed by other work shows it.

Peak RSS per worker: local pool, `getrusage(RUSAGE_CHILDREN).ru_maxrss` after the scan (the largest worker; workers
are forked, so pages shared with the scanning process count); Ray, the largest `VmHWM` in `/proc/<pid>/status` of
the Ray worker processes that ran the analysis, polled every 0.25 s.

Machine: {cpu_model()}; {os.cpu_count()} cores visible, {_memory_gib():.0f} GiB RAM;
Python {platform.python_version()}, Ray {_ray_version()}. Date: {time.strftime('%Y-%m-%d')}.

{chr(10).join(rows)}

{(chr(10) * 2).join(notes)}
"""



def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def _ray_version() -> str:
    try:
        from importlib.metadata import version

        return version("ray")
    except Exception:  # noqa: BLE001
        return "not installed"


if __name__ == "__main__":
    main()
