"""Time the noisesniffer, splicebuster and cfa detectors per megapixel, one core, one thread.

Inputs are the test photo (scikit-image ``astronaut`` upscaled, sigma-2 noise) at 1, 4 and 12 MP: a JPEG at
quality 90 for noisesniffer and splicebuster, and for cfa a PNG-like array demosaiced from a BG Bayer mosaic with
OpenCV's bilinear demosaicing (on a JPEG the method stops early: no trace). Each size runs in a fresh process pinned
to one core with OpenCV/BLAS/OpenMP limited to one thread; the best of ``--repeats`` runs is kept. The figure is
the process's CPU time (``time.process_time``), which other jobs on a shared machine inflate much less than the
wall-clock time; wall-clock seconds are printed beside it.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/noisecfa_speed.py [--repeats 1] [--sizes 1,4,12]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: (864, 1152), 4: (1728, 2304), 12: (3000, 4000)}
DETECTORS = ("noisesniffer", "splicebuster", "cfa")
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure(mp: int, repeats: int) -> dict:
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import decode, jpeg_bytes, photo
    from tamperscope import load
    from tamperscope.detectors import create

    pixels = photo(*SIZES[mp])
    jpeg = load(decode(jpeg_bytes(pixels, 90)))
    mosaic = np.empty(pixels.shape[:2], np.uint8)
    mosaic[0::2, 0::2], mosaic[1::2, 1::2] = pixels[0::2, 0::2, 2], pixels[1::2, 1::2, 0]
    mosaic[0::2, 1::2], mosaic[1::2, 0::2] = pixels[0::2, 1::2, 1], pixels[1::2, 0::2, 1]
    demosaiced = load(np.ascontiguousarray(cv2.cvtColor(mosaic, cv2.COLOR_BayerBG2BGR)[..., ::-1]))
    out = {}
    for name in DETECTORS:
        image = demosaiced if name == "cfa" else jpeg
        best, wall = float("inf"), float("inf")
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            ev = create(name).run(image)
            best = min(best, time.process_time() - cpu)
            wall = min(wall, time.perf_counter() - start)
        mp = image.height * image.width / 1e6
        out[name] = {"s": best, "s_per_mp": best / mp, "wall": wall, "status": ev.status}
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sizes", default="1,4,12")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(measure(args.one, args.repeats)))
        return
    print("| size | " + " | ".join(f"{d} CPU s (s/MP) [wall s]" for d in DETECTORS) + " | peak MiB |")
    print("|---|" + "---|" * (len(DETECTORS) + 1))
    for mp in (int(s) for s in args.sizes.split(",")):
        env = {**os.environ, **SINGLE_THREAD}
        child = subprocess.run([sys.executable, __file__, "--one", str(mp), "--repeats", str(args.repeats)],
                               capture_output=True, text=True, env=env, check=True)
        r = json.loads(child.stdout.strip().splitlines()[-1])
        cells = " | ".join(f"{r[d]['s']:.2f} ({r[d]['s_per_mp']:.2f}) [{r[d]['wall']:.1f}]" for d in DETECTORS)
        print(f"| {mp} MP | {cells} | {r['peak_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
