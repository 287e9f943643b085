"""Image-level copy-move detection on MICC-F220 (Amerini et al. 2011): TPR and FPR at score 0.5.

Every image of ``/work/shared/data/dev/micc-f220`` (manifest.csv: 110 authentic, 110 tampered in MICC-F220,
plus 8 MICC-F8multi tampered images reported apart) goes through each named detector on one core; an image is
flagged when the detector's score is >= 0.5 (the fusion threshold). Prints a Markdown table and writes the
per-image scores as JSON.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/copymove_micc.py --detectors copymove_sift,copymove_dense --out micc.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

DATA = Path("/work/shared/data/dev/micc-f220")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="copymove_sift,copymove_dense")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None, help="per-image scores (JSON)")
    parser.add_argument("--limit", type=int, default=0, help="first N rows only (smoke test)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    from tamperscope.detectors import create
    from tamperscope.image import load

    rows = list(csv.DictReader(open(args.data / "manifest.csv", newline="")))
    if args.limit:
        rows = rows[: args.limit]
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    records = []
    for row in rows:
        image = load(args.data / row["image_path"])
        record = {"image": row["image_path"], "label": row["label"], "megapixels": image.width * image.height / 1e6}
        for name in names:
            start = time.perf_counter()
            evidence = create(name).run(image)
            record[name] = {"status": evidence.status, "score": evidence.score,
                            "seconds": time.perf_counter() - start, "pairs": len(evidence.facts.get("pairs", []))}
        records.append(record)
        print(row["image_path"], {n: (record[n]["status"], record[n]["score"]) for n in names}, flush=True)
    if args.out:
        args.out.write_text(json.dumps(records, indent=1))
    print()
    print("| detector | set | TPR (tampered flagged) | FPR (authentic flagged) | failed/NA | s/MP (median) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        for label, subset in (("MICC-F220", "MICC-F220/"), ("MICC-F8multi", "MICC-F8multi/")):
            part = [r for r in records if r["image"].startswith(subset)]
            if not part:
                continue
            flagged = lambda r: r[name]["status"] == "ok" and r[name]["score"] >= 0.5  # noqa: E731
            tampered = [r for r in part if r["label"] == "tampered"]
            authentic = [r for r in part if r["label"] == "authentic"]
            tpr = sum(map(flagged, tampered)) / max(1, len(tampered))
            fpr = sum(map(flagged, authentic)) / max(1, len(authentic))
            bad = sum(r[name]["status"] != "ok" for r in part)
            rates = sorted(r[name]["seconds"] / r["megapixels"] for r in part)
            fpr_text = f"{fpr:.1%} ({sum(map(flagged, authentic))}/{len(authentic)})" if authentic else "-"
            print(f"| {name} | {label} | {tpr:.1%} ({sum(map(flagged, tampered))}/{len(tampered)}) | {fpr_text} "
                  f"| {bad} | {rates[len(rates) // 2]:.2f} |")


if __name__ == "__main__":
    main()
