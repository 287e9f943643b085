"""False alarms on authentic photos and detection on CASIA v1, from ../shared/data; writes docs/accuracy.md.

For every image of the chosen sets it runs ``tamperscope.analyze`` (default profile) and records each detector's
score. Authentic images give the false-alarm rate (score >= 0.5) of each detector and of the verdict; CASIA v1's
tampered images give the detection rate and the pixel F1 of the fused mask at the fused threshold (per-image mean
over tampered images, the mask binarised at > 127, no border exclusion, no inversion: "F1-fixed, fakes only").
DQ's largest comb significance ``max_comb_z`` on authentic files is listed too: it is the null distribution behind
DQ's ``min_comb_z``.

Usage (from the repository root)::

    python benchmarks/false_alarms.py [--data ../shared/data/dev] [--limit N] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from _machine import write_head

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    # name: (folder, which rows)
    "exif-camera (camera JPEGs)": ("exif-camera", "authentic"),
    "MICC-F220 authentic": ("micc-f220", "authentic"),
    "CASIA v1 authentic": ("casia1", "authentic"),
    "CASIA v1 tampered": ("casia1", "tampered"),
}


def rows(data: Path, folder: str, label: str, limit: int | None):
    manifest = data / folder / "manifest.csv"
    with manifest.open(newline="") as handle:
        chosen = [r for r in csv.DictReader(handle) if r["label"] == label]
    return chosen[:limit] if limit else chosen


def f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = np.logical_and(predicted, truth).sum()
    denominator = predicted.sum() + truth.sum()
    return float(2 * tp / denominator) if denominator else 1.0


def main() -> None:
    from tamperscope import InputError, analyze

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dev")
    parser.add_argument("--limit", type=int, default=None, help="at most N images per set")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data} (expected ../shared/data/dev beside the repository)")

    sections = []
    for title, (folder, label) in SETS.items():
        if not (args.data / folder / "manifest.csv").is_file():
            print(f"skipping {title}: {args.data / folder} is absent")
            continue
        fired = defaultdict(int)
        applicable = defaultdict(int)
        verdicts = defaultdict(int)
        z_values, f1_values, errors, count, start = [], [], 0, 0, time.perf_counter()
        for row in rows(args.data, folder, label, args.limit):
            path = args.data / folder / row["image_path"]
            if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}:
                continue
            try:
                report = analyze(path)
            except InputError:
                errors += 1
                continue
            count += 1
            verdicts[report.label] += 1
            for item in report.evidence:
                if item.ok and item.score is not None:
                    applicable[item.detector] += 1
                    fired[item.detector] += item.score >= 0.5
                if item.detector == "dq" and item.ok:
                    z_values.append(item.facts.get("max_comb_z", 0.0))
            if row.get("mask_path"):
                truth = np.asarray(Image.open(args.data / folder / row["mask_path"]).convert("L")) > 127
                if truth.shape == report.fusion.mask.shape:
                    f1_values.append(f1(report.fusion.mask, truth))
        elapsed = time.perf_counter() - start
        lines = [f"### {title}: {count} images ({errors} refused as bad input), {elapsed:.0f} s", ""]
        lines.append("| detector | applicable | score >= 0.5 |")
        lines.append("|---|---:|---:|")
        for name in sorted(applicable):
            lines.append(f"| {name} | {applicable[name]} | {fired[name]} ({fired[name] / applicable[name]:.1%}) |")
        edited = verdicts.get("edited", 0)
        lines.append(f"| **verdict edited** | {count} | {edited} ({edited / max(count, 1):.1%}) |")
        if z_values and label == "authentic":
            z = np.asarray(z_values)
            lines.append("")
            lines.append(f"DQ max_comb_z on these authentic files: median {np.median(z):.1f}, 99th percentile "
                         f"{np.percentile(z, 99):.1f}, max {z.max():.1f} (threshold 8).")
        if f1_values:
            lines.append("")
            lines.append(f"Pixel F1 of the fused mask (F1-fixed, fakes only, per-image mean): "
                         f"{np.mean(f1_values):.3f} over {len(f1_values)} images with masks.")
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)

    text = f"""# Accuracy checks on the development data

Produced by `python benchmarks/false_alarms.py` on {time.strftime('%Y-%m-%d')}, default profile, from the copies of
the data sets in `../shared/data/dev` (see that folder's README for sources and licences; CASIA v1: J. Dong, W.
Wang, T. Tan, "CASIA image tampering detection evaluation database", ChinaSIP 2013; MICC-F220: I. Amerini et al.,
IEEE TIFS 6(3), 2011). Only about half of CASIA v1 and MICC-F220 are there. "score >= 0.5" on authentic images is a
false alarm; on tampered ones, a detection. These are checks of the foundation's detectors, not a benchmark: the
benchmark harness with named protocols is a separate tool.

{chr(10).join(sections)}
"""
    if not args.no_write:
        write_head(ROOT / "docs" / "accuracy.md", text)



if __name__ == "__main__":
    main()
