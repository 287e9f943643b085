"""Cost of the copy-move detectors on one core, and what copymove_sift adds to the default profile at 12 MP.

Images: the test photo (scikit-image astronaut upscaled, sigma-2 noise) at 1, 4 and 12 MP, JPEG quality 90, and a
real camera photo when ``--photo`` is given. Times are CPU seconds of the process (``time.process_time``), pinned to
one core with OpenCV/OpenMP/BLAS single-threaded; decode time is measured in the same run, so on a loaded machine
the ratio to it still reads true. copymove_sift analyses a working copy of at most 2 MP and copymove_dense of 1 MP,
so their time per image is bounded and s/MP falls with size. The last table times ``tamperscope.analyze`` with the
default profile on the 12 MP image with and without copymove_sift (best of ``--repeats``).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/copymove_speed.py [--sizes 1,4,12] [--dense] [--photo PATH] [--write]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from _machine import cpu_model, replace_section

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: (864, 1152), 4: (1728, 2304), 12: (3000, 4000)}
SECTION = "## Copy-move detectors"


def cpu(fn):
    start = time.process_time()
    result = fn()
    return result, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,12")
    parser.add_argument("--dense", action="store_true", help="time copymove_dense too (seconds per image)")
    parser.add_argument("--photo", type=Path, default=None, help="a real photo to time as well")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="replace the section of docs/performance.md")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import cv2

    cv2.setNumThreads(1)
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo
    from tamperscope import analyze
    from tamperscope.detectors import PROFILES, create
    from tamperscope.image import load

    names = ["copymove_sift"] + (["copymove_dense"] if args.dense else [])
    rows = []
    inputs = [(f"{SIZES[mp][1]}x{SIZES[mp][0]} astronaut ({mp} MP)", jpeg_bytes(photo(*SIZES[mp]), 90))
              for mp in (int(s) for s in args.sizes.split(","))]
    if args.photo:
        inputs.append((args.photo.name, args.photo.read_bytes()))
    for title, data in inputs:
        image, decode = cpu(lambda: load(data))
        image.luminance()
        megapixels = image.width * image.height / 1e6
        for name in names:
            evidence, seconds = cpu(lambda: create(name).run(image))
            assert evidence.ok, evidence.reason
            rows.append(f"| {name} | {title} | {decode:.2f} | {seconds:.2f} | {seconds / megapixels:.3f} | "
                        f"{seconds / decode:.1f} |")
            print(rows[-1], flush=True)
    twelve = jpeg_bytes(photo(*SIZES[12]), 90)
    default = list(PROFILES["default"])
    without = [n for n in default if n != "copymove_sift"]
    timing = {}
    for label, chosen in (("default profile", default), ("default profile without copymove_sift", without)):
        best = min(cpu(lambda: analyze(twelve, detectors=chosen))[1] for _ in range(args.repeats))
        timing[label] = best
        print(label, f"{best:.2f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_average = os.getloadavg()[0]
    text = f"""{SECTION}

Command: `PYTHONPATH=src python benchmarks/copymove_speed.py {' '.join(sys.argv[1:])}` ({time.strftime('%Y-%m-%d')},
{cpu_model()}, one core, CPU time; load average {load_average:.1f} from other jobs on the shared 2-core machine, so the
seconds are upper bounds: the ratio to the JPEG decode of the same image, measured in the same run, is the steadier
figure).

| detector | image | decode CPU s | detector CPU s | s/MP | detector / decode |
|---|---|---|---|---|---|
{chr(10).join(rows)}

copymove_sift analyses a working copy of at most 2 MP (area-downscaled) and keeps at most 8000 keypoints;
copymove_dense works at 1 MP. Their time per image is therefore bounded whatever the size.

`tamperscope.analyze` of the 12 MP JPEG, best of {args.repeats} (CPU s, decode included):

| profile | CPU s |
|---|---|
{chr(10).join(f"| {k} ({', '.join(default if k == 'default profile' else without)}) | {v:.2f} |" for k, v in timing.items())}

Peak resident memory of the whole run: {peak:.0f} MiB.
"""
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "performance.md", SECTION, text)


if __name__ == "__main__":
    main()
