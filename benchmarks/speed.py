"""Time decoding and each detector on 1, 4 and 12 MP JPEGs; write docs/performance.md.

Each measurement runs in a fresh process pinned to one core (``sched_setaffinity`` plus one thread for OpenCV,
OpenMP and BLAS), so peak memory (``ru_maxrss``) is that of one analysis. Images are scikit-image's public-domain
``astronaut`` photo upscaled to size with sigma-2 Gaussian noise, saved as JPEG quality 90.

Usage (from the repository root, with the ``test`` extra installed)::

    python benchmarks/speed.py                 # all sizes, 3 repeats, writes docs/performance.md
    python benchmarks/speed.py --repeats 1 --no-write
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
import time
from pathlib import Path

from _machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 MP": (864, 1152), "4 MP": (1728, 2304), "12 MP": (3000, 4000)}
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure_one(path: str, repeats: int) -> dict:
    """Runs inside the pinned child process."""
    import cv2

    cv2.setNumThreads(1)
    from tamperscope import analyze, load
    from tamperscope.detectors import PROFILES, create

    best: dict[str, float] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        image = load(path)
        timings = {"decode (load)": time.perf_counter() - start}
        for name in PROFILES["default"]:
            evidence = create(name).run(image)
            timings[name] = evidence.runtime_s
        del image
        start = time.perf_counter()
        analyze(path)
        timings["analyze (default profile)"] = time.perf_counter() - start
        for key, value in timings.items():
            best[key] = min(best.get(key, float("inf")), value)
    best["peak memory (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write docs/performance.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(measure_one(args.one, args.repeats)))
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (height, width) in SIZES.items():
            path = Path(tmp) / f"{label.replace(' ', '')}.jpg"
            path.write_bytes(jpeg_bytes(photo(height, width), 90))
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(path), "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True, env={**os.environ, **SINGLE_THREAD},
            )
            results[label] = json.loads(child.stdout)
            print(label, json.dumps({k: round(v, 3) for k, v in results[label].items()}), flush=True)

    rows = list(next(iter(results.values())))
    table = ["| step | " + " | ".join(SIZES) + " |", "|---|" + "---:|" * len(SIZES)]
    for row in rows:
        unit = "" if "MiB" in row else " s"
        fmt = "{:.0f}" if "MiB" in row else "{:.2f}"
        table.append(f"| {row} | " + " | ".join(fmt.format(results[s][row]) + unit for s in SIZES) + " |")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, Python {platform.python_version()}"
    cpu = cpu_model()
    text = f"""# Performance

Measured by `python benchmarks/speed.py` (best of {args.repeats} runs, one core: the process is pinned to one CPU and
OpenCV/OpenMP/BLAS use one thread). Images: JPEG quality 90 of a noisy upscaled photo. "analyze" is the whole
`tamperscope.analyze` call with the default profile (load + every detector + fusion), without writing files.
Peak memory is the child process's maximum resident set, which includes loading Python and the libraries.

Machine: {cpu}; {machine}. Date: {time.strftime('%Y-%m-%d')}.

{chr(10).join(table)}

Bar for this release: a 12 MP JPEG analysed within 4 s on one core (project goal 2 s) and within 2 GB of peak
memory.
"""
    if not args.no_write:
        target = ROOT / "docs" / "performance.md"
        target.write_text(text + _kept_sections(target))
    print(text)


def _kept_sections(path: Path) -> str:
    """Sections other scripts own in ``path`` (``## Scanning``, from benchmarks/scan_speed.py), kept as they are."""
    old = path.read_text() if path.exists() else ""
    start = old.find("\n## Scanning")
    return "" if start < 0 else old[start:]


if __name__ == "__main__":
    main()
