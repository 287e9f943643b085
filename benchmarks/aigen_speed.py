"""Cost of the ``aigen`` detector on one core: loading the CLIP encoder once, then each image.

Runs in a fresh process pinned to one CPU (``sched_setaffinity``; onnxruntime, OpenCV, OpenMP and BLAS on one
thread). Load: the SHA-256 check of the 89.6 MB encoder file (once per process), the onnxruntime session, the
probe file. Per image: the detector's ``run`` (wall and CPU seconds) on JPEG quality-90 images of 1, 4 and 12 MP (scikit-image's
astronaut upscaled with sigma-2 noise, as ``benchmarks/speed.py``), with one crop (the detector named alone) and the
thorough profile's three, best of ``--repeats``; decoding the same file is timed in the same run so that the
ratio survives a busy machine. The load average is printed beside the numbers.

Usage::

    PYTHONPATH=src python benchmarks/aigen_speed.py [--repeats 5] [--write]
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

from _machine import cpu_model, replace_section

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 MP": (864, 1152), "4 MP": (1728, 2304), "12 MP": (3000, 4000)}
SECTION = "## AI-image probe (`aigen`, issue #17)"


def child(paths: dict[str, str], repeats: int) -> dict:
    import cv2

    cv2.setNumThreads(1)
    from tamperscope.detectors import create
    from tamperscope.detectors.aigen import PROBE_PATH, load_probe
    from tamperscope.image import load
    from tamperscope.models import clip, wheels

    found: dict = {}
    start = time.perf_counter()
    path = wheels.locate(wheels.CLIP_VIT_B16_INT8)
    found["sha256 check of the encoder file (once per process)"] = time.perf_counter() - start
    start = time.perf_counter()
    clip.Encoder(str(path))
    found["onnxruntime session"] = time.perf_counter() - start
    start = time.perf_counter()
    load_probe(str(PROBE_PATH))
    found["probe file"] = time.perf_counter() - start
    start = time.perf_counter()
    clip.encoder()  # the process's own (what analyze uses): verified digest is cached, the session is not
    found["first detector use (session + cached digest)"] = time.perf_counter() - start
    for label, file in paths.items():
        best = {}
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            image = load(file)
            decode, decode_cpu = time.perf_counter() - start, time.process_time() - cpu
            timed = [("decode", decode, decode_cpu)]
            for key, crops in (("aigen, 1 crop (named alone)", 1), ("aigen, 3 crops (thorough)", 3)):
                start, cpu = time.perf_counter(), time.process_time()
                evidence = create("aigen", crops=crops).run(image)
                assert evidence.ok, evidence.reason
                timed.append((key, time.perf_counter() - start, time.process_time() - cpu))
            # Wall seconds suffer from other processes on a shared machine; the CPU seconds of this one-thread
            # process (pinned to one core) are what one core spends on the image, whatever the load.
            for key, wall, spent in timed:
                best[key] = min(best.get(key, float("inf")), wall)
                best[key + " (cpu)"] = min(best.get(key + " (cpu)", float("inf")), spent)
        found[label] = best
    import resource

    found["peak memory (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(child(json.loads(args.child), args.repeats)))
        return
    import numpy as np
    from PIL import Image as PILImage
    from skimage import data

    rng = np.random.default_rng(0)
    base = data.astronaut()
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for label, (h, w) in SIZES.items():
            import cv2

            big = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
            big = np.clip(big + rng.normal(0, 2, big.shape), 0, 255).astype(np.uint8)
            paths[label] = str(Path(folder) / f"{label.replace(' ', '')}.jpg")
            PILImage.fromarray(big).save(paths[label], quality=90)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        load_before = os.getloadavg()
        result = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--child", json.dumps(paths)],
                                env=env, capture_output=True, text=True, check=True)
        load_after = os.getloadavg()
    found = json.loads(result.stdout)
    lines = [SECTION, "",
             f"Measured by `PYTHONPATH=src python benchmarks/aigen_speed.py --repeats {args.repeats} --write` on {cpu_model()}, "
             f"one core (process pinned, one thread), best of {args.repeats}; load average {load_before[0]:.1f} before and "
             f"{load_after[0]:.1f} after on this shared 2-core machine, so read the seconds as upper bounds and the ratio "
             "to decoding as the steadier figure.", "",
             "| once per process | seconds |", "|---|---:|"]
    for key in ("sha256 check of the encoder file (once per process)", "onnxruntime session", "probe file",
                "first detector use (session + cached digest)"):
        lines.append(f"| {key} | {found[key]:.2f} |")
    lines += ["", "Per image, wall seconds and, in brackets, the CPU seconds of the one-thread process (what one core "
              "spends, whatever else runs on the machine):", "",
              "| image | decode | aigen, 1 crop (named alone) | aigen, 3 crops (thorough) | 1 crop / decode (CPU) |",
              "|---|---:|---:|---:|---:|"]
    for label in SIZES:
        row = found[label]
        cell = lambda key: f"{row[key]:.3f} s ({row[key + ' (cpu)']:.3f} s)"  # noqa: E731
        lines.append(f"| {label} JPEG | {cell('decode')} | {cell('aigen, 1 crop (named alone)')} | "
                     f"{cell('aigen, 3 crops (thorough)')} | "
                     f"{row['aigen, 1 crop (named alone) (cpu)'] / max(row['decode (cpu)'], 1e-6):.1f} |")
    lines += ["", f"Peak memory of the measuring process: {found['peak memory (MiB)']:.0f} MiB (the encoder's session "
              "included). The cost per image does not grow with the image: the detector reads two 224x224 views "
              "(one crop) or four (thorough) whatever the size; only the global view's resize grows with it."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "performance.md", SECTION, text)


if __name__ == "__main__":
    main()
