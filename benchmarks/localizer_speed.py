"""Time the learned localizer and the whole default ``analyze`` on 1, 12 and (optionally) 100 MP JPEGs, one core.

Each size runs in a fresh process pinned to one core with one onnxruntime / OpenCV / BLAS thread, so
``ru_maxrss`` is the peak of the analyses (decode included). The image is scikit-image's astronaut
upscaled with sigma-2 noise (as benchmarks/speed.py), saved as JPEG 90. The localizer runs after the maps it
consumes (as in ``analyze``); its own time is reported, then ``analyze`` of the default profile, then ``analyze``
of the default profile with the localizer and the map it reads that the default lacks (adq2) added: the
candidate default profile.
Wall time and CPU time (``time.process_time``) are both given: on a shared machine the CPU time is the cost,
the wall time an upper bound.

Usage::

    python benchmarks/localizer_speed.py              # 1 and 12 MP
    python benchmarks/localizer_speed.py --with-100mp  # adds 100 MP (about two minutes more)
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

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 MP": (864, 1152), "12 MP": (3000, 4000), "100 MP": (8640, 11520)}


def child(path: str) -> dict:
    import cv2

    cv2.setNumThreads(1)
    from tamperscope import load
    from tamperscope.detectors import create

    import time

    from tamperscope import analyze
    from tamperscope.detectors import resolve, run_detectors

    image = load(path)
    prior = {e.detector: e for e in run_detectors(image, resolve(list(create("localizer").consumes)))}
    cpu = time.process_time()
    evidence = create("localizer").run(image, prior=prior)
    localizer_cpu = time.process_time() - cpu
    del image
    wall, cpu = time.perf_counter(), time.process_time()
    report = analyze(path)
    analyze_wall, analyze_cpu = time.perf_counter() - wall, time.process_time() - cpu
    from tamperscope.detectors import PROFILES

    candidate = [*PROFILES["default"], *[n for n in (*create("localizer").consumes, "localizer")
                                          if n not in PROFILES["default"]]]
    wall, cpu = time.perf_counter(), time.process_time()
    analyze(path, candidate)
    with_wall, with_cpu = time.perf_counter() - wall, time.process_time() - cpu
    shape = report.image.shape
    return {"seconds": round(evidence.runtime_s, 3), "cpu_seconds": round(localizer_cpu, 3),
            "status": evidence.status, "reason": evidence.reason,
            "megapixels": round(shape[0] * shape[1] / 1e6, 2),
            "analyze_seconds": round(analyze_wall, 3), "analyze_cpu_seconds": round(analyze_cpu, 3),
            "with_localizer_seconds": round(with_wall, 3), "with_localizer_cpu_seconds": round(with_cpu, 3),
            "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_average": round(os.getloadavg()[0], 1)}


def make(size: tuple[int, int], path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import jpeg_bytes, photo

    path.write_bytes(jpeg_bytes(photo(*size), 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-100mp", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--doc", type=Path, help="docs/performance.md: rewrite its localizer section")
    args = parser.parse_args()
    if args.child:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(child(args.child)))
        return
    sizes = [s for s in SIZES if s != "100 MP" or args.with_100mp]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT / "src")}
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in sizes:
            path = Path(folder) / f"{name.replace(' ', '')}.jpg"
            make(SIZES[name], path)
            out = subprocess.run([sys.executable, __file__, "--child", str(path)], env=env, capture_output=True,
                                 text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            result["s_per_mp"] = round(result["seconds"] / result["megapixels"], 3)
            rows[name] = result
            print(name, json.dumps(result), flush=True)
    if args.doc:
        write_section(args.doc, rows)


def write_section(doc: Path, rows: dict) -> None:
    import platform
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import cpu_model, replace_section

    lines = ["## Learned localizer (issue 16)", "",
             f"`python benchmarks/localizer_speed.py --doc docs/performance.md` on {time.strftime('%Y-%m-%d')} "
             f"({cpu_model()}, Python {platform.python_version()}): each size in a fresh process pinned to one core, "
             "one onnxruntime/OpenCV/BLAS thread; astronaut JPEG 90. The localizer's own time comes after the maps "
             "it reads (computed once by their detectors); `analyze` is the whole default profile; `+ localizer` is "
             "`analyze` of the default profile with adq2 and the localizer added (the candidate default). "
             "CPU seconds are the process's own time; the wall-clock seconds are upper bounds on this shared "
             "machine (its one-minute load average at each run is given).", "",
             "| size | localizer wall s | localizer CPU s | analyze (default) wall s | analyze CPU s "
             "| + localizer wall s | + localizer CPU s | peak MiB | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['analyze_seconds']:.2f} | "
                     f"{r['analyze_cpu_seconds']:.2f} | {r['with_localizer_seconds']:.2f} | "
                     f"{r['with_localizer_cpu_seconds']:.2f} | {r['peak_mib']} | {r['load_average']} |")
    lines += ["", "The network runs on a working copy whose long side is at most 1024 px (an integer downscale, "
              "4x at 12 MP), so its cost is bounded whatever the image size; the classical maps it reads are "
              "computed at full resolution by their own detectors and averaged onto its grid. Memory is bounded "
              "by the working copy (tiles of 1024 px with 128 px of context inside it). The default profile's bar is "
              "a 12 MP `analyze` within 4 s and 2 GB on one core (docs/benchmarks.md, \"Learned localizer v2\", "
              "says whether the localizer joins it)."]
    replace_section(doc, "## Learned localizer (issue 16)", "\n".join(lines))


if __name__ == "__main__":
    main()
