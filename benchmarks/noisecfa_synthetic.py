"""Synthetic localization of the noisesniffer, splicebuster and cfa maps, and CFA versus JPEG quality.

The host is the test photo (scikit-image ``astronaut`` at 768x1024 with sigma-2 noise). Each case pastes a
256x256 box (rows 200-455, columns 300-555) processed differently; the table gives the IoU of the map
thresholded at 0.5 with the exact box, the mean map value inside and outside the box, and what the authentic
counterpart (same processing, nothing pasted) flags. For CFA the host is demosaiced from a BG Bayer mosaic by
OpenCV's bilinear demosaicing, and the whole forgery is then saved as JPEG at decreasing quality, the experiment
of Ferrara et al. (2012, Sec. VI) that shows the trace fading with compression.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/noisecfa_synthetic.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from forgeries import box_mask, decode, iou, jpeg_bytes, photo  # noqa: E402

from tamperscope import load  # noqa: E402
from tamperscope.detectors import create  # noqa: E402

BOX = (200, 300, 256, 256)


def demosaic(rgb: np.ndarray, code: int = cv2.COLOR_BayerBG2BGR) -> np.ndarray:
    mosaic = np.empty(rgb.shape[:2], np.uint8)
    mosaic[0::2, 0::2], mosaic[1::2, 1::2] = rgb[0::2, 0::2, 2], rgb[1::2, 1::2, 0]
    mosaic[0::2, 1::2], mosaic[1::2, 0::2] = rgb[0::2, 1::2, 1], rgb[1::2, 0::2, 1]
    return np.ascontiguousarray(cv2.cvtColor(mosaic, code)[..., ::-1])


def row(detector: str, case: str, pixels: np.ndarray, mask: np.ndarray) -> str:
    ev = create(detector).run(load(pixels))
    if not ev.ok:
        return f"| {detector} | {case} | not applicable: {ev.reason} | | | |"
    heat = ev.heatmap_full(mask.shape)
    return (f"| {detector} | {case} | {iou(heat >= 0.5, mask):.2f} | {heat[mask].mean():.2f} | "
            f"{heat[~mask].mean():.3f} | {np.mean(heat >= 0.5):.3f} |")


def main() -> None:
    original = photo()
    mask = box_mask(original.shape[:2], *BOX)
    rng = np.random.default_rng(3)
    print("| detector | case | IoU | mean in box | mean outside | share >= 0.5 |")
    print("|---|---|---|---|---|---|")

    def pasted(source: np.ndarray, host: np.ndarray = original) -> np.ndarray:
        out = host.copy()
        out[mask] = source[mask]
        return out

    noisier = np.clip(original + rng.normal(0, 2.0, original.shape), 0, 255).round().astype(np.uint8)
    blurred = cv2.GaussianBlur(original, (0, 0), 1.0)
    print(row("noisesniffer", "authentic", original, mask))
    print(row("noisesniffer", "box blurred (sigma 1)", pasted(blurred), mask))
    print(row("noisesniffer", "host +2 noise, box clean", pasted(original, noisier), mask))
    print(row("noisesniffer", "authentic, JPEG q90", decode(jpeg_bytes(original, 90)), mask))

    print(row("splicebuster", "authentic", original, mask))
    print(row("splicebuster", "authentic, JPEG q90", decode(jpeg_bytes(original, 90)), mask))
    print(row("splicebuster", "box from JPEG q75", pasted(decode(jpeg_bytes(original, 75))), mask))
    print(row("splicebuster", "box blurred (sigma 0.8)", pasted(cv2.GaussianBlur(original, (0, 0), 0.8)), mask))
    print(row("splicebuster", "box +4 noise", pasted(np.clip(original + rng.normal(0, 4.0, original.shape), 0, 255)
                                                     .round().astype(np.uint8)), mask))

    host = demosaic(original)
    other_phase = pasted(demosaic(original, cv2.COLOR_BayerGB2BGR), host)
    print(row("cfa", "authentic (demosaiced)", host, mask))
    print(row("cfa", "box of other Bayer phase", other_phase, mask))
    print(row("cfa", "box not demosaiced", pasted(original, host), mask))
    for quality in (100, 98, 95, 90):
        print(row("cfa", f"other phase, JPEG q{quality}", decode(jpeg_bytes(other_phase, quality)), mask))


if __name__ == "__main__":
    main()
