"""Coverage-guided fuzzing of the loader and every detector, in a bounded run.

Uses atheris (libFuzzer for Python; ``pip install atheris``). Each input is
handed to :func:`tamperscope.image.load` as bytes; when it decodes, every
registered detector runs on it through :meth:`Detector.run`, and the evidence
is turned into a JSON report. A *crash* is anything a user would see as a bug:

* ``load`` raising anything but :class:`tamperscope.errors.InputError`;
* a detector whose evidence has status "failed" (``run`` turns a detector's
  exception into that status, so the fuzzer checks it explicitly);
* a report that is not valid JSON (NaN, infinity).

Seeds are the hostile corpus (``tests/hostile_corpus.py``) shrunk to small
canvases, so mutations start from every container the engine reads. Pixel
limits are lowered to 0.25 MP so each input takes milliseconds. A crashing
input is written to ``--crashes`` and becomes a regression test.

Usage::

    python benchmarks/fuzz.py --seconds 600 [--crashes fuzz-crashes/]

It prints the total inputs, inputs per second and the crashes found.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUZZ_LIMIT_PIXELS = 250_000


def _seeds(folder: Path) -> int:
    """Small, valid-ish files of every container the loader reads, plus the hostile corpus's small files."""
    import io

    from PIL import Image as PILImage

    sys.path.insert(0, str(ROOT / "tests"))
    import hostile_corpus  # noqa: E402  (a test helper, not part of the package)

    photo = PILImage.fromarray(hostile_corpus._photo(48, 64, seed=3))
    count = 0
    for fmt, options in [("JPEG", {"quality": 90}), ("JPEG", {"quality": 60, "progressive": True}),
                         ("PNG", {}), ("WEBP", {"quality": 80}), ("WEBP", {"lossless": True}), ("TIFF", {}),
                         ("GIF", {}), ("BMP", {})]:
        buffer = io.BytesIO()
        image = photo.convert("P") if fmt == "GIF" else photo
        image.save(buffer, fmt, **options)
        (folder / f"seed-{count}.{fmt.lower()}").write_bytes(buffer.getvalue())
        count += 1
    for case in hostile_corpus.build():
        if len(case.data) <= 20_000:
            (folder / f"hostile-{case.name}").write_bytes(case.data)
            count += 1
    return count


def child(argv: list[str]) -> None:
    """The fuzzing process (atheris calls ``one_input`` until the time is up or a crash)."""
    import atheris

    # Numeric libraries are imported uninstrumented (their Python layers are not where file bytes are parsed);
    # tamperscope and Pillow's Python parsers (EXIF, TIFF, PNG chunks) are instrumented for coverage.
    import cv2  # noqa: F401
    import jpeglib  # noqa: F401
    import numpy  # noqa: F401
    import pywt  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.signal  # noqa: F401

    with atheris.instrument_imports():
        from tamperscope.detectors import available, create
        from tamperscope.errors import InputError
        from tamperscope.image import Limits, load

    limits = Limits(max_pixels=FUZZ_LIMIT_PIXELS, detector_seconds=None)
    detectors = [create(name) for name in sorted(available()) if name != "watermark"]

    def one_input(data: bytes) -> None:
        try:
            image = load(data, limits)
        except InputError:
            return
        for detector in detectors:
            evidence = detector.run(image)
            if evidence.status == "failed":
                raise RuntimeError(f"detector {detector.name} failed: {evidence.reason}")
            json.dumps(evidence.summary(), allow_nan=False)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300, help="Length of the run (default 300).")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"), help="Where crashing inputs go.")
    parser.add_argument("--per-input-timeout", type=int, default=30, help="Seconds before an input counts as a hang.")
    parser.add_argument("--rss-mb", type=int, default=2048, help="Memory above which an input counts as a crash.")
    args = parser.parse_args()
    args.crashes.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tamperscope-fuzz-") as work:
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        seeds = _seeds(corpus)
        command = [sys.executable, __file__, "--child", str(corpus),
                   f"-max_total_time={args.seconds}", f"-timeout={args.per_input_timeout}",
                   f"-rss_limit_mb={args.rss_mb}", f"-artifact_prefix={args.crashes.resolve()}/",
                   "-print_final_stats=1"]
        began = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        wall = time.monotonic() - began
    log = result.stdout + result.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    total = int(runs[-1]) if runs else 0
    crashes = sorted(p.name for p in args.crashes.iterdir())
    summary = {"seconds": round(wall, 1), "inputs": total, "inputs_per_s": round(total / max(wall, 1e-9), 1),
               "seeds": seeds, "crashes": crashes, "exit_code": result.returncode}
    print(json.dumps(summary, indent=2))
    if result.returncode != 0:
        print(log[-4000:], file=sys.stderr)
    return 0 if not crashes and result.returncode == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT / "src"))
        child([sys.argv[0], *sys.argv[3:], sys.argv[2]])
    else:
        sys.exit(main())
