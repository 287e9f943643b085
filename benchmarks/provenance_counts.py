"""What each provenance detector says over the shared development folders, and its time per megapixel.

Usage: PYTHONPATH=src python benchmarks/provenance_counts.py [DATA_DIR]   (default /work/shared/data/dev)
Prints, per folder and detector, counts of status / decisive (score >= 0.5) by class, and the median ms per MP.
"""

from __future__ import annotations

import collections
import csv
import statistics
import sys
import time
from pathlib import Path

from tamperscope.detectors import create
from tamperscope.errors import InputError
from tamperscope.image import load

FOLDERS = ("c2pa-testfiles", "comfyui-ai", "exif-camera", "exiftool-fixtures", "casia1", "sentry-ai")
DETECTORS = ("c2pa", "metadata", "sdwm")


def rows(folder: Path):
    with open(folder / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if folder.name == "casia1" and row.get("label") != "authentic":
                continue  # the false-alarm question: authentic photos only
            yield folder / row["image_path"]


def main(root: Path) -> None:
    detectors = [create(name) for name in DETECTORS]
    for name in FOLDERS:
        folder = root / name
        if not (folder / "manifest.csv").is_file():
            print(f"{name}: absent")
            continue
        counts = {d.name: collections.Counter() for d in detectors}
        speed = {d.name: [] for d in detectors}
        files = unreadable = 0
        for path in rows(folder):
            try:
                image = load(path)
            except InputError:
                unreadable += 1
                continue
            files += 1
            for detector in detectors:
                began = time.perf_counter()
                ev = detector.run(image)
                speed[detector.name].append((time.perf_counter() - began) * 1e3 / (image.height * image.width / 1e6))
                if ev.status != "ok":
                    counts[detector.name][ev.status] += 1
                elif ev.score is not None and ev.score >= 0.5:
                    counts[detector.name][f"decides {ev.indicates}"] += 1
                else:
                    counts[detector.name]["ok, not decisive" + (" (weak fact)" if ev.score and ev.score > 0 else "")] += 1
        print(f"## {name}: {files} images read, {unreadable} unreadable")
        for detector in detectors:
            ms = statistics.median(speed[detector.name]) if speed[detector.name] else float("nan")
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts[detector.name].items()))
            print(f"  {detector.name:<9} {summary}  (median {ms:.1f} ms/MP)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data/dev"))
