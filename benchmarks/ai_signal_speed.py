"""Seconds per megapixel of the AI-image signal detectors (spectral, npr, zed) on one core.

Images: tests/forgeries.photo() at 1 and 4 MP (astronaut up-scaled, sigma-2 noise), as PNG pixels; larger images
are cropped to 2048x2048 by the detectors, so 4 MP is their worst case. Best of ``--repeats``.

Usage::

    python benchmarks/ai_signal_speed.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import photo

    from _machine import cpu_model
    from tamperscope.detectors import create
    from tamperscope.image import load

    print(f"CPU: {cpu_model()}, one core")
    print("| detector | 1 MP s | 4 MP s | s/MP (4 MP) |")
    print("|---|---|---|---|")
    images = {mp: load(photo(*shape)) for mp, shape in ((1, (864, 1152)), (4, (1728, 2304)))}
    for name in ("spectral", "npr", "zed"):
        detector = create(name)
        best = {}
        for mp, image in images.items():
            image.luminance()  # shared by all detectors in an analysis: not charged to one
            best[mp] = min(detector.run(image).runtime_s for _ in range(args.repeats))
        print(f"| {name} | {best[1]:.3f} | {best[4]:.3f} | {best[4] / 3.98:.3f} |")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
