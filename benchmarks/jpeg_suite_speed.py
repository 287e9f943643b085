"""Time chosen detectors (default: ADQ2, NADQ, ZERO) on 1, 4 and 12 MP JPEGs, one core; prints s and s/MP.

Same images and pinning as benchmarks/speed.py: scikit-image's astronaut upscaled with sigma-2 noise, JPEG quality
90; every measurement runs in a fresh process pinned to one core with one thread for OpenCV, OpenMP and BLAS, and the
best of ``--repeats`` runs is kept. Peak memory is the child's maximum resident set (Python and libraries included).

Usage (from the repository root)::

    python benchmarks/jpeg_suite_speed.py [--detectors adq2,nadq,zero] [--repeats 2] [--sizes 1,4,12]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: (864, 1152), 4: (1728, 2304), 12: (3000, 4000)}
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure_one(path: str, names: list[str], repeats: int) -> dict:
    import cv2

    cv2.setNumThreads(1)
    from tamperscope import load
    from tamperscope.detectors import create

    image = load(path)
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name in names:
            evidence = create(name).run(image)
            if evidence.status == "failed":
                raise SystemExit(f"{name} failed: {evidence.reason}")
            best[name] = min(best.get(name, float("inf")), evidence.runtime_s)
    best["peak memory (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="adq2,nadq,zero")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="1,4,12")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    if args.one:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(measure_one(args.one, names, args.repeats)))
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo

    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Machine: {cpu_model()}; one core, best of {args.repeats}.")
    print("| detector | " + " | ".join(f"{s} MP (s)" for s in sizes) + " | s/MP at the largest |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            height, width = SIZES[size]
            path = Path(tmp) / f"{size}MP.jpg"
            path.write_bytes(jpeg_bytes(photo(height, width), 90))
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(path), "--repeats", str(args.repeats),
                 "--detectors", ",".join(names)],
                capture_output=True, text=True, check=True, env={**os.environ, **SINGLE_THREAD},
            )
            results[size] = json.loads(child.stdout)
    megapixels = SIZES[sizes[-1]][0] * SIZES[sizes[-1]][1] / 1e6
    for name in names + ["peak memory (MiB)"]:
        cells = " | ".join(f"{results[s][name]:.2f}" if "MiB" not in name else f"{results[s][name]:.0f}"
                           for s in sizes)
        per_mp = "" if "MiB" in name else f"{results[sizes[-1]][name] / megapixels:.2f}"
        print(f"| {name} | {cells} | {per_mp} |")


if __name__ == "__main__":
    main()
