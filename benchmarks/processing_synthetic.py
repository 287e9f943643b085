"""Synthetic checks of the processing-trace detectors, the cheap versions of their papers' experiments.

* resampling: a 192 px square up-sampled by a factor (bilinear) pasted into the 512x512 test photo, saved as PNG
  or JPEG at a quality; detection = score >= 0.5 (the paper's curves are detection rate vs factor and quality).
  The same paste without resampling gives the false-alarm column.
* median filter: global Gamma = h0/h1 of the test photo before and after a 3x3 / 5x5 median filter (PNG, JPEG 90).
* contrast: whole-image gamma 0.7 / 1.4, PNG and JPEG 90: the peak heat and the global energy ratio.
* ghost: a region saved at q0 pasted into the photo saved at q1 (aligned): the reported ghost quality and the IoU
  of the map (>= 0.5) with the region.

Usage (from the repository root)::

    python benchmarks/processing_synthetic.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from forgeries import box_mask, decode, iou, jpeg_bytes, photo  # noqa: E402

from tamperscope.detectors import create  # noqa: E402
from tamperscope.image import load  # noqa: E402


def _encode(pixels: np.ndarray, quality: int | None):
    return load(pixels) if quality is None else load(jpeg_bytes(pixels, quality))


def resampling_table() -> None:
    print("| factor | PNG | JPEG 98 | JPEG 95 | JPEG 90 |")
    print("|---|---|---|---|---|")
    host = photo(512, 512)
    for factor in (None, 1.1, 1.2, 1.5, 2.0, 0.8):
        cells = []
        for quality in (None, 98, 95, 90):
            side = 192
            if factor is None:
                patch = host[40 : 40 + side, 300 : 300 + side]
            else:
                n = round(side / factor)
                patch = cv2.resize(host[40 : 40 + n, 300 : 300 + n], (side, side), interpolation=cv2.INTER_LINEAR)
            pixels = host.copy()
            pixels[160 : 160 + side, 192 : 192 + side] = patch
            ev = create("resampling").run(_encode(pixels, quality))
            inside = ev.ok and 160 <= ev.facts["peak_window"][0] + 32 < 352 and 192 <= ev.facts["peak_window"][1] + 32 < 384
            cells.append(f"{ev.score:.2f}{' (in region)' if inside and ev.score >= 0.5 else ''}")
        print(f"| {factor or 'none (copy)'} | {' | '.join(cells)} |")


def median_table() -> None:
    print("| image | Gamma PNG | Gamma JPEG 90 |")
    print("|---|---:|---:|")
    original = photo()
    for name, pixels in (("authentic", original), ("median 3x3", cv2.medianBlur(original, 3)),
                         ("median 5x5", cv2.medianBlur(original, 5))):
        g = [create("median_filter").run(_encode(pixels, q)).facts["gamma"] for q in (None, 90)]
        print(f"| {name} | {g[0]:.2f} | {g[1]:.2f} |")


def contrast_table() -> None:
    print("| image | peak heat PNG | energy ratio PNG | peak heat JPEG 90 | energy ratio JPEG 90 |")
    print("|---|---:|---:|---:|---:|")
    original = photo()
    for name, g in (("authentic", None), ("gamma 0.7", 0.7), ("gamma 1.4", 1.4)):
        pixels = original if g is None else np.clip(np.round(255 * (original / 255.0) ** g), 0, 255).astype(np.uint8)
        row = []
        for q in (None, 90):
            ev = create("contrast").run(_encode(pixels, q))
            row += [f"{ev.facts['peak_heat']:.2f}", f"{max(ev.facts['global_energy_ratio']):.1f}"]
        print(f"| {name} | {' | '.join(row)} |")


def ghost_table() -> None:
    print("| region q0 | final q1 | ghost quality | IoU (map >= 0.5) | ghost share |")
    print("|---:|---:|---:|---:|---:|")
    original = photo()
    mask = box_mask(original.shape[:2], 256, 384, 256, 320)
    for q0, q1 in ((60, 85), (70, 90), (75, 85), (80, 95), (85, 85)):
        pixels = original.copy()
        pixels[mask] = decode(jpeg_bytes(original, q0))[mask]
        image = load(jpeg_bytes(pixels, q1))
        ev = create("ghost").run(image)
        score = iou(ev.heatmap_full(image.shape) >= 0.5, mask)
        print(f"| {q0} | {q1} | {ev.facts['ghost_quality']} | {score:.2f} | {ev.facts['ghost_share']:.3f} |")


if __name__ == "__main__":
    for table in (resampling_table, median_table, contrast_table, ghost_table):
        print(f"\n{table.__name__}")
        table()
