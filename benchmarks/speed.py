"""End to end as a user waits for it, beside the decode time of the same file; every detector per megapixel.

What is measured (each in a fresh process; writes the head of docs/performance.md):

* **End to end**: ``tamperscope analyze IMAGE -o OUT --report html`` (default profile) from process start to its
  exit, i.e. to the last report file written: the wall time of the child process, its peak resident memory
  (``wait4``'s ``ru_maxrss``) and the steps report.json's ``timings_s`` holds (``startup``: Python, imports and
  arguments; ``load``; each detector; ``fuse``; ``explain``; ``write``). Run pinned to one core
  (``sched_setaffinity``, as ``taskset -c N`` does) and on every core this process may use (2 here). No thread
  variable is set: as a user runs it.
* **Decode**: in a fresh process pinned the same way, the best of 5 decodes of the same file with Pillow to an RGB
  array (what ``load`` does before reading the JPEG internals), measured right before each end-to-end run.
  ``end to end / decode`` is the figure that travels between machines (and survives a busy machine better than
  seconds): the budget in docs/performance.md is stated in it.
* **Scan**: ``tamperscope scan FOLDER --workers 2`` over ``--scan-images`` 12 MP JPEGs (a fresh store), process
  start to exit: images per second, and seconds per image over the decode time of one.
* **Detectors per megapixel** (``--detectors``): in a process pinned to one core with one OpenCV/BLAS thread,
  each detector's ``runtime_s`` on the decoded image, best of ``--detector-repeats``.

Images: scikit-image's public-domain ``astronaut`` photo upscaled to size with sigma-2 Gaussian noise (as the
tests' ``photo``, built strip by strip here so that 48 and 100 MP fit in memory), JPEG quality 90, 4:2:0.
``--photo FILE`` adds a file of your own (e.g. a camera JPEG) to the end-to-end table.

Usage (from the repository root, with the ``test`` extra installed)::

    python benchmarks/speed.py                        # 1, 12, 48, 100 MP; writes docs/performance.md
    python benchmarks/speed.py --sizes 12 --repeats 5 --no-write
    python benchmarks/speed.py --sizes 100 --cores 1 --no-detectors --no-scan --no-write   # 100 MP memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, write_head

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SIZES = {"1": (864, 1152), "12": (3000, 4000), "48": (6000, 8000), "100": (8640, 11520)}
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
#: What a user waits for, in order (``timings_s`` keys; ``detector:*`` are summed into the profile's row).
STEPS = ("startup", "load", "detectors", "fuse", "explain", "write:pictures", "write:html", "write")
#: Libraries the default analysis must never import (heavy, for other commands or profiles).
NEVER_IMPORTED = ("torch", "onnxruntime", "ray", "playwright", "sklearn", "matplotlib", "fastapi", "pyarrow")

DECODE = r"""
import sys, time
import numpy as np
from PIL import Image
wall = cpu = float("inf")
for _ in range(5):
    start, start_cpu = time.perf_counter(), time.process_time()
    with Image.open(sys.argv[1]) as im:
        im.load()
        pixels = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
print(wall, cpu)
"""


# -- images ---------------------------------------------------------------------------------------------------------

def make_photo(path: Path, height: int, width: int, seed: int = 0) -> None:
    """The tests' noisy upscaled astronaut (``tests/forgeries.photo``), built in strips, saved as JPEG 90."""
    import cv2
    import numpy as np
    from PIL import Image
    from skimage import data

    base = data.astronaut()
    scale = max(height / base.shape[0], width / base.shape[1])
    size = (int(np.ceil(base.shape[1] * scale)), int(np.ceil(base.shape[0] * scale)))
    big = cv2.resize(base, size, interpolation=cv2.INTER_CUBIC)[:height, :width]
    rng = np.random.default_rng(seed)
    for top in range(0, height, 1024):
        strip = big[top : top + 1024].astype(np.float32) + rng.normal(0.0, 2.0, big[top : top + 1024].shape)
        big[top : top + 1024] = np.clip(strip, 0, 255).round().astype(np.uint8)
    Image.fromarray(np.ascontiguousarray(big)).save(path, format="JPEG", quality=90, subsampling=2)


# -- measurements ---------------------------------------------------------------------------------------------------

def allowed_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def run_measured(args: list[str], cpus: set[int], env: dict | None = None) -> tuple[float, float, str, float]:
    """Run ``args`` pinned to ``cpus``: (wall seconds from spawn to exit, the child's peak RSS in MiB, stdout,
    its CPU seconds, user + system)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(args, stdout=out, stderr=err, env=env,
                                 preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args[:5]))} ... exited {child.returncode}: "
                               f"{err.read().decode()[-400:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode(), usage.ru_utime + usage.ru_stime


def decode_seconds(path: Path, cpus: set[int]) -> tuple[float, float]:
    """(wall, CPU) seconds of the best of 5 decodes."""
    out = run_measured([sys.executable, "-c", DECODE, str(path)], cpus)[2]
    wall, cpu = out.split()
    return float(wall), float(cpu)


def end_to_end(path: Path, cpus: set[int], repeats: int) -> dict:
    """Best of ``repeats`` end-to-end runs (by wall time), each right after a decode measurement."""
    best: dict | None = None
    decodes = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            decodes.append(decode_seconds(path, cpus))
            out = Path(tmp) / "out"
            shutil.rmtree(out, ignore_errors=True)
            wall, peak, _, cpu = run_measured([sys.executable, "-m", "tamperscope", "analyze", str(path), "-o",
                                               str(out), "--report", "html"], cpus)
            timings = json.loads((out / "report.json").read_text())["timings_s"]
            run = {"wall": wall, "cpu": cpu, "peak_mib": peak, **_steps(timings)}
            if best is None or wall < best["wall"]:
                best = run
    # The same file's decode, best of all runs: the ratios' denominators.
    best["decode"] = min(wall for wall, _ in decodes)
    best["decode_cpu"] = min(cpu for _, cpu in decodes)
    best["ratio"] = best["wall"] / best["decode"]
    best["cpu_ratio"] = best["cpu"] / best["decode_cpu"]
    return best


def _steps(timings: dict) -> dict:
    steps = {key: float(timings.get(key, 0.0)) for key in STEPS if key != "detectors"}
    steps["detectors"] = sum(v for k, v in timings.items() if k.startswith("detector:"))
    steps.update({k: float(v) for k, v in timings.items() if k.startswith("detector:")})
    return steps


def imported_modules(path: Path) -> dict:
    """``python -X importtime`` of the command: import time by top-level package (its modules' own time)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([sys.executable, "-X", "importtime", "-m", "tamperscope", "analyze", str(path), "-o",
                              str(Path(tmp) / "out"), "--report", "html"], capture_output=True, text=True, check=True)
    own: dict[str, int] = {}
    for line in run.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            package = fields[2].strip().split(".")[0]
            own[package] = own.get(package, 0) + int(fields[0])
    return {"total": sum(own.values()), "top": sorted(own.items(), key=lambda kv: -kv[1])[:10],
            "absent": [name for name in NEVER_IMPORTED if name not in own],
            "present": [name for name in NEVER_IMPORTED if name in own]}


def scan_speed(folder: Path, count: int, cpus: set[int]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak, _, cpu = run_measured([sys.executable, "-m", "tamperscope", "scan", str(folder), "--db",
                                           str(Path(tmp) / "scan.sqlite"), "--workers", "2"], cpus)
    return {"wall": wall, "cpu": cpu, "images": count, "per_s": count / wall}


MEASURE_DETECTORS = r"""
import json, sys, time
import cv2
cv2.setNumThreads(1)
from tamperscope import load
from tamperscope.detectors import PROFILES, create, with_prerequisites
path, repeats = sys.argv[1], int(sys.argv[2])
image = load(path)
image.luminance()  # shared by the detectors, computed once per analysis
best = {}
for _ in range(repeats):
    found = {}
    for detector in with_prerequisites([create(n) for n in PROFILES["thorough"]]):
        found[detector.name] = evidence = detector.run(image, None, found)
        value = evidence.runtime_s if evidence.status != "failed" else float("nan")
        best[detector.name] = min(best.get(detector.name, float("inf")), value)
print(json.dumps(best))
"""


def detector_costs(path: Path, cpu: int, repeats: int) -> dict:
    out = run_measured([sys.executable, "-c", MEASURE_DETECTORS, str(path), str(repeats)], {cpu},
                       env={**os.environ, **SINGLE_THREAD})[2]
    return json.loads(out)


# -- the doc --------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,12,48,100", help="megapixels, of: " + ", ".join(SIZES))
    parser.add_argument("--cores", default="1,all", help="1, all, or both (comma-separated)")
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs per size and core count (best)")
    parser.add_argument("--once-above", type=float, default=40.0, help="images above this many MP run once")
    parser.add_argument("--photo", type=Path, action="append", default=[], help="also measure this file")
    parser.add_argument("--scan-images", type=int, default=16, help="12 MP JPEGs in the scan measurement")
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument("--no-detectors", action="store_true", help="skip the per-detector table")
    parser.add_argument("--detector-sizes", default="1,12")
    parser.add_argument("--detector-repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write docs/performance.md")
    args = parser.parse_args()
    for option in ("sizes", "detector_sizes"):
        unknown = [s.strip() for s in getattr(args, option).split(",") if s.strip() not in SIZES]
        if unknown:
            parser.error(f"--{option.replace('_', '-')}: unknown size {', '.join(unknown)} (of: {', '.join(SIZES)})")
    if not {c.strip() for c in args.cores.split(",")} <= {"1", "all"}:
        parser.error("--cores: 1, all, or both (1,all)")
    if args.repeats < 1 or args.detector_repeats < 1 or args.scan_images < 1:
        parser.error("--repeats, --detector-repeats and --scan-images must be at least 1")
    for photo in args.photo:
        if not photo.is_file():
            parser.error(f"--photo: no such file: {photo}")

    cpus = allowed_cpus()
    settings = {"1": ({cpus[0]}, "1 core"), "all": (set(cpus), f"{len(cpus)} cores")}
    cores = [settings[c.strip()] for c in args.cores.split(",")]
    if len(cpus) == 1:
        cores = [settings["1"]]
    load_before = os.getloadavg()
    rows: list[tuple[str, str, dict]] = []
    detectors: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        images: dict[str, Path] = {}
        for size in args.sizes.split(","):
            height, width = SIZES[size.strip()]
            images[f"{size.strip()} MP"] = path = Path(tmp) / f"{size.strip()}mp.jpg"
            make_photo(path, height, width)
        for photo in args.photo:
            images[photo.name] = photo
        imports = imported_modules(next(iter(images.values())))
        print("imports:", json.dumps(imports), flush=True)
        for label, path in images.items():
            megapixels = float(label.split()[0]) if label.endswith(" MP") else 0.0
            repeats = 1 if megapixels > args.once_above else args.repeats
            for chosen, words in cores:
                result = end_to_end(path, chosen, repeats)
                result["repeats"] = repeats
                rows.append((label, words, result))
                print(label, words, json.dumps({k: round(v, 3) for k, v in result.items()}), flush=True)
        scan = None
        if not args.no_scan:
            folder = Path(tmp) / "scan"
            folder.mkdir()
            for index in range(args.scan_images):
                make_photo(folder / f"img{index:03d}.jpg", *SIZES["12"], seed=index)
            decode = min(decode_seconds(folder / "img000.jpg", set(cpus))[0] for _ in range(3))
            scan = {**scan_speed(folder, args.scan_images, set(cpus)), "decode": decode}
            print("scan", json.dumps(scan), flush=True)
        if not args.no_detectors:
            for size in args.detector_sizes.split(","):
                path = images.get(f"{size.strip()} MP")
                if path is None:
                    path = Path(tmp) / f"{size.strip()}mp.jpg"
                    make_photo(path, *SIZES[size.strip()])
                detectors[f"{size.strip()} MP"] = detector_costs(path, cpus[0], args.detector_repeats)
                print(size, "MP detectors", json.dumps(detectors[f"{size.strip()} MP"]), flush=True)
    load_after = os.getloadavg()
    text = document(rows, scan, detectors, imports, args, load_before, load_after)
    if not args.no_write:
        write_head(DOC, text)
    print(text)


def document(rows, scan, detectors, imports, args, load_before, load_after) -> str:
    from tamperscope.detectors import PROFILES

    default = [name for name in PROFILES["default"]]
    head = ["| image | cores | decode | end to end | ratio | CPU (ratio) | peak memory | startup | load | "
            + " | ".join(default) + " | fuse | write (pictures, html) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(default) + "---:|---:|"]
    for label, cores, r in rows:
        cells = [f"{r.get('detector:' + name, 0.0):.2f}" for name in default]
        once = "" if r.get("repeats", args.repeats) == args.repeats else " (once)"
        head.append(
            f"| {label}{once} | {cores} | {r['decode']:.3f} s | **{r['wall']:.2f} s** | **{r['ratio']:.0f}x** | "
            f"{r['cpu']:.2f} s ({r['cpu_ratio']:.0f}x) | {r['peak_mib']:.0f} MiB | {r['startup']:.2f} | "
            f"{r['load']:.2f} | " + " | ".join(cells)
            + f" | {r['fuse']:.2f} | {r['write']:.2f} ({r['write:pictures']:.2f}, {r['write:html']:.2f}) |")
    scan_text = ""
    if scan:
        per_image = scan["wall"] / scan["images"]
        scan_text = (
            f"\nScan: `tamperscope scan` of {scan['images']} JPEGs of 12 MP (the same photo, a different noise seed "
            f"each) with `--workers 2`, a fresh store, process start to exit: **{scan['wall']:.1f} s, "
            f"{scan['per_s']:.2f} images/s**, i.e. {per_image:.2f} s per image = **{per_image / scan['decode']:.0f}x** "
            f"the decode time of one ({scan['decode']:.3f} s, on the same cores).\n")
    imports_text = (
        f"Start-up: `python -X importtime -m tamperscope analyze IMAGE -o OUT --report html` spends "
        f"{imports['total'] / 1e6:.2f} s importing; by package (its modules' own time): "
        + ", ".join(f"{name} {us / 1e6:.2f} s" for name, us in imports["top"])
        + f". Never imported: {', '.join(imports['absent'])}"
        + (f"; **imported**: {', '.join(imports['present'])}" if imports["present"] else "") + ".")
    per_mp = ""
    if detectors:
        sizes = list(detectors)
        megapixels = {s: SIZES[s.split()[0]][0] * SIZES[s.split()[0]][1] / 1e6 for s in sizes}
        lines = ["| detector | profile | " + " | ".join(f"s/MP at {s}" for s in sizes) + " |",
                 "|---|---|" + "---:|" * len(sizes)]
        for name in detectors[sizes[0]]:
            profile = "default" if name in PROFILES["default"] else "thorough"
            cells = [f"{detectors[s].get(name, float('nan')) / megapixels[s]:.3f}" for s in sizes]
            lines.append(f"| {name} | {profile} | " + " | ".join(cells) + " |")
        per_mp = f"""
## Every detector per megapixel

`runtime_s` of each detector on the decoded image (luminance computed beforehand, as an analysis shares it), in a
process pinned to one core with one OpenCV/OpenMP/BLAS thread, best of {args.detector_repeats}; the thorough
profile's detectors in the order the runner runs them (a detector that consumes another's map runs after it). Several
detectors work on a bounded crop or a downscaled copy of large images (their notes say so), so their cost per
megapixel falls with size.

{chr(10).join(lines)}
"""
    machine = f"{cpu_model()}; {os.cpu_count()} cores visible; Python {platform.python_version()}"
    twelve = [r for label, cores, r in rows if label == "12 MP" and cores == "1 core"]
    budget_now = (f" (on this machine, in this run: 45 x {twelve[0]['decode']:.3f} s = "
                  f"{45 * twelve[0]['decode']:.2f} s; measured {twelve[0]['wall']:.2f} s)" if twelve else "")
    return f"""# Performance

## End to end: what a user waits for

`python benchmarks/speed.py {' '.join(sys.argv[1:])}`, {time.strftime('%Y-%m-%d')}, {machine}. Load average
before/after: {load_before[0]:.1f} / {load_after[0]:.1f} (other work on the machine inflates seconds, much less
the ratio). Each row: `tamperscope analyze IMAGE -o OUT --report html` with the default profile in a fresh
process, process start to exit (every report file written), best of {args.repeats}; "decode" is the same file
decoded with Pillow in a fresh process on the same cores (best of 5) right before; **ratio = end to end / decode**,
the figure that travels between machines. "CPU" is the process's user + system time, and its ratio to the decode's
CPU time: on a busy machine the steadier of the two. Peak memory is the process's maximum resident set. The step columns
(seconds) are report.json's `timings_s` of that run: `startup` (process start to the analysis: Python, imports,
arguments), `load` (decode and the JPEG internals), each detector, `fuse`, and `write` (every file but report.json,
which carries the figure), within it the PNG/JPEG files and the HTML page. Images: the noisy upscaled astronaut
photo, JPEG quality 90.

{chr(10).join(head)}
{scan_text}
{imports_text}

## Budget of the default profile (the rule)

* A 12 MP JPEG analysed with the default profile and every report file written
  (`tamperscope analyze photo.jpg -o out/ --report html`) within **45x its decode time on one core** and 2.5 s on
  the idle 2-core development machine{budget_now}, in at most **1 GB** of peak memory; a 100 MP image within the
  default pixel limit is bounded by strips and cells, not by copies of the whole image.
* Every detector proposed for the default profile states its cost per megapixel in the table below (measured by
  this script) and the end-to-end rows above are remeasured with it in the profile; a detector that would break the
  budget belongs in the thorough profile, or something else must get cheaper first.
{per_mp}"""


if __name__ == "__main__":
    main()
