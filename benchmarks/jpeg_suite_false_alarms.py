"""False-alarm and detection rates of chosen detectors on the development data (ADQ2, NADQ, ZERO).

Runs each named detector directly (not through fusion) on every image of the sets and prints, per detector, how many
images it applied to and how many scored >= 0.5: on authentic images that is the false-alarm rate, on CASIA v1
tampered images the detection rate (CASIA v1's authentic and tampered files barely share quantization tables, so
that detection rate is inflated by a format confound; see ../shared/data/README.md). For map-only detectors
(score None) the mean share of the map at >= 0.5 is given instead. s/MP is wall time per megapixel on a shared
machine, not a pinned timing (see benchmarks/jpeg_suite_speed.py for that).

Usage (from the repository root)::

    python benchmarks/jpeg_suite_false_alarms.py --detectors zero,adq2,nadq [--data ../shared/data/dev] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "exif-camera (camera JPEGs)": ("exif-camera", "authentic"),
    "MICC-F220 authentic": ("micc-f220", "authentic"),
    "CASIA v1 authentic": ("casia1", "authentic"),
    "CASIA v1 tampered": ("casia1", "tampered"),
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def rows(data: Path, folder: str, label: str, limit: int | None) -> list[dict]:
    with (data / folder / "manifest.csv").open(newline="") as handle:
        chosen = [r for r in csv.DictReader(handle) if r["label"] == label]
    return chosen[:limit] if limit else chosen


def main() -> None:
    from tamperscope import InputError, load
    from tamperscope.detectors import create

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="zero,adq2,nadq")
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/dev"))
    parser.add_argument("--limit", type=int, default=None, help="at most N images per set")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    detectors = [create(name.strip()) for name in args.detectors.split(",") if name.strip()]

    for title, (folder, label) in SETS.items():
        if not (args.data / folder / "manifest.csv").is_file():
            print(f"skipping {title}: {args.data / folder} is absent")
            continue
        applicable, fired, seconds, megapixels = defaultdict(int), defaultdict(int), defaultdict(float), 0.0
        flagged, mapped = defaultdict(float), defaultdict(int)
        count, start = 0, time.perf_counter()
        for row in rows(args.data, folder, label, args.limit):
            path = args.data / folder / row["image_path"]
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                image = load(path)
            except InputError:
                continue
            count += 1
            megapixels += image.height * image.width / 1e6
            for detector in detectors:
                evidence = detector.run(image)
                seconds[detector.name] += evidence.runtime_s
                if evidence.status == "failed":
                    print(f"  {detector.name} failed on {path.name}: {evidence.reason}")
                if evidence.ok and evidence.heatmap is not None:
                    mapped[detector.name] += 1
                    flagged[detector.name] += float((evidence.heatmap >= 0.5).mean())
                if evidence.ok and evidence.score is not None:
                    applicable[detector.name] += 1
                    fired[detector.name] += evidence.score >= 0.5
        print(f"### {title}: {count} images, {megapixels:.1f} MP, {time.perf_counter() - start:.0f} s")
        print("| detector | applicable | score >= 0.5 | mean share of map >= 0.5 | s/MP |")
        print("|---|---:|---:|---:|---:|")
        for detector in detectors:
            name = detector.name
            share = fired[name] / applicable[name] if applicable[name] else 0.0
            decided = f"{fired[name]} ({share:.1%})" if applicable[name] else "n/a (map only)"
            print(f"| {name} | {max(applicable[name], mapped[name])} | {decided} | "
                  f"{flagged[name] / max(mapped[name], 1):.2%} | {seconds[name] / max(megapixels, 1e-9):.2f} |")
        print(flush=True)


if __name__ == "__main__":
    main()
