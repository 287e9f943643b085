"""False-alarm rates of single detectors on authentic photos from ../shared/data/dev.

Runs the named detectors (default: the processing-trace ones, resampling, median_filter, contrast, ghost) directly
(``create(name).run(load(path))``) on the authentic images of exif-camera, MICC-F220 and CASIA v1 and prints, per
set and detector: how many images the method applied to, how many scored >= 0.5 (a false alarm for a deciding
detector), the median score and the mean time. Prints a Markdown table for docs/accuracy.md.

Usage (from the repository root)::

    python benchmarks/processing_false_alarms.py [--detectors resampling,contrast] [--limit N] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SETS = {"exif-camera": "authentic", "micc-f220": "authentic", "casia1": "authentic"}
SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def main() -> None:
    from tamperscope.detectors import create
    from tamperscope.errors import InputError
    from tamperscope.image import load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/dev") if Path("/work/shared/data/dev").is_dir() else ROOT.parent / "shared" / "data" / "dev")
    parser.add_argument("--detectors", default="resampling,median_filter,contrast,ghost")
    parser.add_argument("--limit", type=int, default=None, help="at most N images per set (evenly spaced)")
    parser.add_argument("--verbose", action="store_true", help="print each false alarm")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    print("| set | detector | images | applicable | score >= 0.5 | median score | s/image |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for folder, label in SETS.items():
        manifest = args.data / folder / "manifest.csv"
        if not manifest.is_file():
            continue
        with manifest.open(newline="") as handle:
            chosen = [r for r in csv.DictReader(handle) if r["label"] == label
                      and Path(r["image_path"]).suffix.lower() in SUFFIXES]
        if args.limit and len(chosen) > args.limit:
            chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, args.limit).round().astype(int)]
        scores, times, count = defaultdict(list), defaultdict(float), 0
        for row in chosen:
            try:
                image = load(args.data / folder / row["image_path"])
            except InputError:
                continue
            count += 1
            for name in names:
                start = time.perf_counter()
                evidence = create(name).run(image)
                times[name] += time.perf_counter() - start
                if evidence.ok and evidence.score is not None:
                    scores[name].append(evidence.score)
                    if args.verbose and evidence.score >= 0.5:
                        print(f"  {name} {evidence.score:.2f} {row['image_path']} {evidence.facts}")
                elif evidence.status == "failed":
                    print(f"  FAILED {name} {row['image_path']}: {evidence.reason}")
        for name in names:
            s = np.asarray(scores[name])
            fired = int((s >= 0.5).sum())
            rate = f"{fired} ({fired / s.size:.1%})" if s.size else "-"
            median = f"{np.median(s):.3f}" if s.size else "-"
            print(f"| {folder} | {name} | {count} | {s.size} | {rate} | {median} | {times[name] / max(count, 1):.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
