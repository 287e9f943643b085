"""False alarms of the noisesniffer, splicebuster and cfa detectors on authentic photos (../shared/data/dev).

For each authentic image of the chosen sets it runs each detector alone and counts: applicable runs, runs with
score >= 0.5 (deciding detectors), and the mean share of the image marked >= 0.5 in the heatmap. CASIA v1
tampered images give the detection rate at the same threshold. Prints a Markdown table.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/noisecfa_false_alarms.py [--limit 40] [--detectors noisesniffer,cfa]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "exif-camera authentic": ("exif-camera", "authentic"),
    "MICC-F220 authentic": ("micc-f220", "authentic"),
    "CASIA v1 authentic": ("casia1", "authentic"),
    "CASIA v1 tampered": ("casia1", "tampered"),
}


def chosen_rows(data: Path, folder: str, label: str, limit: int | None) -> list[dict]:
    with (data / folder / "manifest.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] == label]
    # Every k-th row rather than the first ones: the manifests are sorted by scene category.
    if limit and len(rows) > limit:
        rows = rows[:: len(rows) // limit][:limit]
    return rows


def main() -> None:
    from tamperscope import load
    from tamperscope.detectors import create

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/dev"))
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--detectors", default="noisesniffer,splicebuster,cfa")
    args = parser.parse_args()
    names = args.detectors.split(",")
    print("| set | detector | images | applicable | score >= 0.5 | mean share >= 0.5 | s/image |")
    print("|---|---|---|---|---|---|---|")
    for label, (folder, which) in SETS.items():
        rows = chosen_rows(args.data, folder, which, args.limit)
        stats = {name: {"ok": 0, "hit": 0, "share": [], "time": 0.0, "n": 0} for name in names}
        for row in rows:
            try:
                image = load(args.data / folder / row["image_path"])
            except Exception:
                continue
            for name in names:
                start = time.perf_counter()
                ev = create(name).run(image)
                s = stats[name]
                s["time"] += time.perf_counter() - start
                s["n"] += 1
                if ev.ok:
                    s["ok"] += 1
                    s["hit"] += int(ev.score is not None and ev.score >= 0.5)
                    if ev.heatmap is not None:
                        s["share"].append(float(np.mean(ev.heatmap_full(image.shape) >= 0.5)))
        for name in names:
            s = stats[name]
            n = max(s["n"], 1)
            share = f"{np.mean(s['share']):.3f}" if s["share"] else "-"
            hit = f"{s['hit']}/{s['ok']}" if create(name).decides else "map only"
            print(f"| {label} | {name} | {s['n']} | {s['ok']} | {hit} | {share} | {s['time'] / n:.2f} |", flush=True)


if __name__ == "__main__":
    main()
