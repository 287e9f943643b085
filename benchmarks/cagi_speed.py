"""Time CAGI on 1, 4 and 12 MP JPEGs on one pinned core: wall time and CPU time (time.process_time).

The images are those of benchmarks/speed.py (scikit-image's astronaut upscaled with sigma-2 noise, JPEG quality
90). Each size runs in a fresh process pinned to one core with one thread for OpenCV, OpenMP and BLAS; the best of
``--repeats`` runs is kept. CPU time is reported beside wall time because the shared machine is loaded: CPU time is
what the detector itself costs. Both variants cost the same (they share every step), so only "normal" is timed.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/cagi_speed.py [--repeats 2] [--sizes 1,4,12]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: (864, 1152), 4: (1728, 2304), 12: (3000, 4000)}
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure_one(path: str, repeats: int) -> dict:
    import cv2

    cv2.setNumThreads(1)
    from tamperscope import load
    from tamperscope.detectors import create

    image = load(path)
    image.luminance()  # shared by every detector in a real run, so not charged to this one
    detector = create("cagi")
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        evidence = detector.run(image)
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
        if not evidence.ok:
            raise SystemExit(f"cagi did not run: {evidence.reason}")
    return {"wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="1,4,12")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(measure_one(args.one, args.repeats)))
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo

    print(f"Machine: {cpu_model()}; one pinned core, best of {args.repeats}.")
    print("| size | wall (s) | CPU (s) | wall s/MP | CPU s/MP |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            height, width = SIZES[size]
            path = Path(tmp) / f"{size}MP.jpg"
            path.write_bytes(jpeg_bytes(photo(height, width), 90))
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(path), "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True, env={**os.environ, **SINGLE_THREAD},
            )
            r = json.loads(child.stdout)
            mp = height * width / 1e6
            print(f"| {size} MP | {r['wall']:.2f} | {r['cpu']:.2f} | {r['wall'] / mp:.3f} | {r['cpu'] / mp:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
