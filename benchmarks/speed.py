"""Time decoding and every detector on 1, 4 and 12 MP JPEGs; write docs/performance.md.

Each measurement runs in a fresh process pinned to one core (``sched_setaffinity`` plus one thread for OpenCV,
OpenMP and BLAS), so peak memory (``ru_maxrss``) is that of one analysis. Images are scikit-image's public-domain
``astronaut`` photo upscaled to size with sigma-2 Gaussian noise, saved as JPEG quality 90.

Usage (from the repository root, with the ``test`` extra installed)::

    python benchmarks/speed.py                 # all sizes, 3 repeats, writes docs/performance.md
    python benchmarks/speed.py --repeats 1 --no-write

The default profile's detectors and ``analyze`` take the best of ``--repeats`` runs; the thorough profile's other
detectors and ``analyze --profile thorough`` run ``--thorough-repeats`` times (default 1: they take seconds each).
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

from _machine import cpu_model, write_head

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 MP": (864, 1152), "4 MP": (1728, 2304), "12 MP": (3000, 4000)}
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure_one(path: str, repeats: int, thorough_repeats: int) -> dict:
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
            timings[name] = create(name).run(image).runtime_s
        del image
        start = time.perf_counter()
        analyze(path)
        timings["analyze (default profile)"] = time.perf_counter() - start
        _keep_best(best, timings)
    best["peak memory (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for _ in range(thorough_repeats):
        image = load(path)
        timings = {}
        for name in PROFILES["thorough"]:
            if name not in PROFILES["default"]:
                evidence = create(name).run(image, time_limit_s=None)
                timings[name] = evidence.runtime_s if evidence.status != "failed" else float("nan")
        del image
        start = time.perf_counter()
        analyze(path, profile="thorough")
        timings["analyze (thorough profile)"] = time.perf_counter() - start
        _keep_best(best, timings)
    return best


def _keep_best(best: dict[str, float], timings: dict[str, float]) -> None:
    for key, value in timings.items():
        best[key] = min(best.get(key, float("inf")), value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thorough-repeats", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write docs/performance.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(measure_one(args.one, args.repeats, args.thorough_repeats)))
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (height, width) in SIZES.items():
            path = Path(tmp) / f"{label.replace(' ', '')}.jpg"
            path.write_bytes(jpeg_bytes(photo(height, width), 90))
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(path), "--repeats", str(args.repeats),
                 "--thorough-repeats", str(args.thorough_repeats)],
                capture_output=True, text=True, check=True, env={**os.environ, **SINGLE_THREAD},
            )
            results[label] = json.loads(child.stdout)
            print(label, json.dumps({k: round(v, 3) for k, v in results[label].items()}), flush=True)

    from tamperscope.detectors import PROFILES

    default_rows = ["decode (load)", *PROFILES["default"], "analyze (default profile)", "peak memory (MiB)"]
    table = ["| step | " + " | ".join(SIZES) + " |", "|---|" + "---:|" * len(SIZES)]
    for row in default_rows:
        unit = "" if "MiB" in row else " s"
        fmt = "{:.0f}" if "MiB" in row else "{:.2f}"
        table.append(f"| {row} | " + " | ".join(fmt.format(results[s][row]) + unit for s in SIZES) + " |")
    megapixels = {label: h * w / 1e6 for label, (h, w) in SIZES.items()}
    per_mp = ["| detector | profile | " + " | ".join(f"s/MP at {s}" for s in SIZES) + " |",
              "|---|---|" + "---:|" * len(SIZES)]
    for name in [*PROFILES["thorough"], "analyze (thorough profile)"]:
        profile = "default" if name in PROFILES["default"] else "thorough"
        cells = [f"{results[s][name] / megapixels[s]:.2f}" for s in SIZES]
        per_mp.append(f"| {name} | {profile} | " + " | ".join(cells) + " |")
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

Every detector per megapixel (same images and machine; best of {args.repeats} runs for the default profile's
detectors, {args.thorough_repeats} for the others). Bars of the classical suite: <= 1 s/MP per method, <= 3 s/MP
for dense copy-move; slower methods run only in the thorough profile. Several detectors work on a bounded crop or a
downscaled copy of large images (their notes say so), so their cost per megapixel falls with size.

{chr(10).join(per_mp)}
"""
    if not args.no_write:
        write_head(ROOT / "docs" / "performance.md", text)
    print(text)



if __name__ == "__main__":
    main()
