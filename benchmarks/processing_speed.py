"""Seconds per megapixel of the processing-trace detectors (resampling, median_filter, contrast, ghost), one core.

Images are the tests' synthetic photo (scikit-image ``astronaut`` upscaled, sigma-2 noise) saved as JPEG quality 90
at 1 MP and 12 MP; each detector runs ``--repeats`` times on the loaded image and the best time is kept. Run in a
process with one thread for OpenCV, OpenMP and BLAS (set below before numpy is imported) and pinned to one core.

Usage (from the repository root)::

    python benchmarks/processing_speed.py [--repeats 2] [--sizes 1,12]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: (864, 1152), 12: (3000, 4000)}


def main() -> None:
    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo

    from tamperscope.detectors import create
    from tamperscope.image import load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="1,12")
    parser.add_argument("--detectors", default="resampling,median_filter,contrast,ghost")
    args = parser.parse_args()
    print("| detector | size | seconds | s/MP |")
    print("|---|---|---:|---:|")
    for mp in (int(s) for s in args.sizes.split(",")):
        h, w = SIZES[mp]
        image = load(jpeg_bytes(photo(h, w), 90))
        for name in args.detectors.split(","):
            best = min(_timed(create(name), image) for _ in range(args.repeats))
            print(f"| {name} | {w}x{h} | {best:.2f} | {best / (h * w / 1e6):.3f} |", flush=True)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def _timed(detector, image) -> float:
    start = time.perf_counter()
    evidence = detector.run(image)
    elapsed = time.perf_counter() - start
    if evidence.status == "failed":
        raise SystemExit(f"{detector.name} failed: {evidence.reason}")
    return elapsed


if __name__ == "__main__":
    main()
