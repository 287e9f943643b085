"""Rebuild docs/benchmarks.md: every detector and the fusion, clean and under the social-media chain,
on a synthetic development benchmark and on the real development sets.

1. The synthetic set is made by ``tamperscope synth`` from the *authentic* photos listed in the manifests of
   ../shared/data/dev (MICC-F220, CASIA v1 and the camera JPEGs; read in place, never copied), with a fixed seed.
2. ``tamperscope bench`` runs on it and on the real sets (CASIA v1 with masks; MICC-F220, detection only), for the
   conditions ``clean`` and ``social`` (long side to 2048, JPEG 80, twice).

Usage (from the repository root, with the ``test`` or ``bench`` extra)::

    python benchmarks/build_benchmarks.py [--data ../shared/data/dev] [--work /tmp/tamperscope-bench]
                                          [--count 280] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import time
from pathlib import Path

from _machine import write_head

ROOT = Path(__file__).resolve().parent.parent
CONDITIONS = ["clean", "social"]
COLUMNS = [
    "pixel-F1@0.5",
    "pixel-F1-best",
    "pixel-F1-permuted@0.5",
    "pixel-F1-fixed-TruFor",
    "pixel-AUC",
    "image-AUC",
    "image-AP",
    "image-bACC@0.5",
    "image-TPR@5%FPR",
]
PHOTO_SETS = ["micc-f220", "casia1", "exif-camera"]


def authentic_photos(data: Path) -> list[Path]:
    photos = []
    for folder in PHOTO_SETS:
        manifest = data / folder / "manifest.csv"
        if not manifest.is_file():
            continue
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle):
                path = data / folder / row["image_path"]
                if row["label"] == "authentic" and path.suffix.lower() in {".jpg", ".jpeg", ".png", ".tif"}:
                    photos.append(path)
    return photos


def main() -> None:
    from tamperscope import __version__
    from tamperscope.bench.metrics import PROTOCOLS
    from tamperscope.bench.runner import BenchConfig, markdown_tables, run
    from tamperscope.synth import ALL_KINDS, make_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dev")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tamperscope-bench"))
    parser.add_argument("--count", type=int, default=280)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data} (expected ../shared/data/dev beside the repository)")

    started = time.time()
    photos = authentic_photos(args.data)
    synth_dir = args.work / "synth"
    # Authentic controls listed three times: about 30% of the set, so image-level numbers rest on ~85 of them.
    kinds = [kind for kind in ALL_KINDS if kind != "authentic"] + ["authentic"] * 3
    manifest = make_dataset(photos, synth_dir, count=args.count, seed=args.seed, size=1024, kinds=kinds,
                            overwrite=True)
    shutil.copyfile(synth_dir / "recipe.json", ROOT / "docs" / "benchmark-synth-recipe.json")
    made: dict[str, int] = {}
    for sample in manifest.samples:
        made[sample.kind] = made.get(sample.kind, 0) + 1

    runs = [
        ("Synthetic development benchmark", f"csv:{synth_dir / 'manifest.csv'}", "synth"),
        ("CASIA v1 (development half)", f"devset:{args.data / 'casia1'}", "casia1"),
        ("MICC-F220 (detection only)", f"devset:{args.data / 'micc-f220'}", "micc-f220"),
    ]
    sections = []
    for title, spec, name in runs:
        config = BenchConfig(dataset=spec, out=args.work / "results" / name, conditions=CONDITIONS,
                             protocols=COLUMNS, seed=args.seed, workers=args.workers)
        results = run(config)
        sections.append(f"### {title}\n\n`tamperscope bench --dataset {spec.split(':')[0]}:PATH "
                        f"--perturb clean,social --protocols {','.join(COLUMNS)} --seed {args.seed}`\n\n"
                        + markdown_tables(results, COLUMNS))
        print(f"{title}: done after {time.time() - started:.0f} s", flush=True)

    protocol_lines = "\n".join(f"- `{pid}`: {PROTOCOLS[pid].description}" for pid in COLUMNS)
    kind_line = ", ".join(f"{kind} {n}" for kind, n in made.items())
    text = f"""# Benchmarks

Rebuilt by `python benchmarks/build_benchmarks.py --count {args.count} --seed {args.seed}` on
{time.strftime('%Y-%m-%d')} (tamperscope {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU
cores, {time.time() - started:.0f} s in all). Every column names its protocol; the definitions follow. Each table has
one row per detector and one for the fusion (`fusion`, what `tamperscope analyze` reports); `applicable` counts the
images a detector could judge (a detector that does not apply counts as "no evidence": score 0, empty map). ELA gives
a map without a decision, so it has no image-level numbers.

## Protocols

{protocol_lines}

Pixel metrics are computed on the tampered images that have a mask ("fakes only"), with maps resized to the mask by
nearest neighbour; image metrics on all images. Conditions: `clean` is the file as it is; `social` resizes the long
side to 2048 when larger and saves as JPEG 80, twice (masks follow the resize).

## Data

- **Synthetic development benchmark**: {len(manifest.samples)} images made by `tamperscope synth` (seed
  {args.seed}, long side capped at 1024) from {len(photos)} authentic photos of ../shared/data/dev (MICC-F220,
  CASIA v1 and camera JPEGs; photos under 256 px on the short side are skipped). Kinds: {kind_line}. Authentic
  controls get the same final save distribution as the forgeries, so global traces do not separate them. All
  splits are scored (no detector here is trained). The recipe (arguments, seed, versions and every source photo
  by name and SHA-256, no pixels) is docs/benchmark-synth-recipe.json.
- **CASIA v1**: the development half in ../shared/data/dev/casia1 (J. Dong, W. Wang, T. Tan, "CASIA image tampering
  detection evaluation database", ChinaSIP 2013). Its authentic and tampered files were saved with different
  quantization tables, which inflates image-level numbers of any JPEG-aware method (see that folder's README).
- **MICC-F220**: the development half in ../shared/data/dev/micc-f220 (I. Amerini et al., "A SIFT-based forensic
  method for copy-move attack detection and transformation recovery", IEEE TIFS 6(3), 2011); image labels only. It
  is a copy-move set: none of these detectors looks for copy-move, so it measures false alarms and chance hits.

## Results

{chr(10).join(sections)}
"""
    write_head(ROOT / "docs" / "benchmarks.md", text)
    print(f"wrote docs/benchmarks.md in {time.time() - started:.0f} s")



if __name__ == "__main__":
    main()
