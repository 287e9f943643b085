"""The ``aigen`` probe on real photos upscaled beyond the training chains' 1.5x (does upscaling look generated?).

The training chains resize both classes by 0.5-1.5 (``tamperscope.train.aigen_data.save_chain``); an upscale by 2
is outside what the probe saw. For up to ``--count`` real photos of the test split (chosen by hash; never fitted),
a centre region of 512x512 native pixels is judged as it is and upscaled x2 (bicubic, as the test suite's
forgeries are made: ``tests/forgeries.photo``), both saved as JPEG 90; plus scikit-image's astronaut (the photo the
test forgeries are made of) as it is and x2. Reported: the share flagged ``ai-generated`` (score >= 0.5) with one
crop, and the median P(ai-generated).

Usage::

    PYTHONPATH=src python benchmarks/aigen_upscale.py --data ../shared/data/dev --corpus CORPUS [--count 40] [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from tamperscope.detectors import create
from tamperscope.image import load
from tamperscope.train import aigen

SECTION = "## AI-image probe: upscaled real photos (`aigen`, issue #17)"


def jpeg90(pixels: np.ndarray):
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return load(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    detector = create("aigen")
    samples = aigen.gather(args.data, args.corpus, [], log=lambda line: print(line, file=sys.stderr))
    real = sorted((s for s in samples if s.label == "real" and s.split == "test"),
                  key=lambda s: hashlib.sha1(s.key.encode()).hexdigest())
    found = {"native": [], "x2": []}
    for sample in real:
        if len(found["native"]) >= args.count:
            break
        pixels = load(sample.path).pixels
        h, w = pixels.shape[:2]
        if min(h, w) < 512:
            continue
        region = np.ascontiguousarray(pixels[(h - 512) // 2 : (h - 512) // 2 + 512, (w - 512) // 2 : (w - 512) // 2 + 512])
        for kind, view in (("native", region), ("x2", cv2.resize(region, (1024, 1024), interpolation=cv2.INTER_CUBIC))):
            found[kind].append(detector.run(jpeg90(view)).facts["p_ai_generated"])
    from skimage import data

    astronaut = data.astronaut()
    astro = {kind: detector.run(jpeg90(view)).facts["p_ai_generated"] for kind, view in
             (("native", astronaut), ("x2", cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)))}
    lines = [SECTION, "",
             f"Measured by `PYTHONPATH=src python benchmarks/aigen_upscale.py --data ../shared/data/dev --corpus CORPUS "
             f"--count {args.count} --write` ({(time.perf_counter() - start) / 60:.0f} min). Protocol in the script's "
             "docstring; one crop (the detector named alone).", "",
             "| images | as they are: flagged | median P(ai) | upscaled x2: flagged | median P(ai) |", "|---|---:|---:|---:|---:|",
             f"| {len(found['native'])} real photos of the test split, 512x512 centre | "
             f"{np.mean(np.array(found['native']) >= 0.5):.1%} | {np.median(found['native']):.3f} | "
             f"{np.mean(np.array(found['x2']) >= 0.5):.1%} | {np.median(found['x2']):.3f} |",
             f"| scikit-image astronaut (512x512) | {'yes' if astro['native'] >= 0.5 else 'no'} | {astro['native']:.3f} | "
             f"{'yes' if astro['x2'] >= 0.5 else 'no'} | {astro['x2']:.3f} |", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _machine import replace_section

        replace_section(Path("docs/benchmarks.md"), SECTION, text)


if __name__ == "__main__":
    main()
