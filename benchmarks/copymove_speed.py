"""Seconds per megapixel of the copy-move detectors on one core (CPU time of the detector alone).

Images: the test photo (scikit-image astronaut upscaled, sigma-2 noise) at 1, 4 and 12 MP, JPEG quality 90.
Both detectors downscale large inputs (dense: 1 MP working size, SIFT: 2 MP), so s/MP falls with size.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/copymove_speed.py [--sizes 1,4,12]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: (864, 1152), 4: (1728, 2304), 12: (3000, 4000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,12")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import cv2

    cv2.setNumThreads(1)
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import decode, jpeg_bytes, photo
    from tamperscope.detectors import create
    from tamperscope.image import load

    print("| detector | image | CPU s | s/MP |")
    print("|---|---|---|---|")
    for mp in (int(s) for s in args.sizes.split(",")):
        height, width = SIZES[mp]
        image = load(decode(jpeg_bytes(photo(height, width), 90)))
        image.luminance()
        for name in ("copymove_sift", "copymove_dense"):
            start = time.process_time()
            evidence = create(name).run(image)
            seconds = time.process_time() - start
            assert evidence.ok, evidence.reason
            print(f"| {name} | {width}x{height} ({mp} MP) | {seconds:.2f} | {seconds / (height * width / 1e6):.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
