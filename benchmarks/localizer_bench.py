"""The development benchmark of the localizer and the calibrated fusion, built from per-detector-set caches.

``tamperscope bench`` caches all detectors of a run in one entry per image, keyed by all their versions;
this script runs the classical detectors and the localizer as two bench runs (each resumable), merges
their cached evidence into the cache of the combined run, and then runs the combined bench, which finds
everything cached and only scores. The numbers are exactly those of the plain command::

    tamperscope bench --dataset SPEC --detectors ela,dq,blk,noise,localizer --perturb clean,social \\
        --protocols PROTOCOLS --seed 0 [--limit N] --out OUT/all

Usage::

    python benchmarks/localizer_bench.py --dataset csv:/tmp/loc/synth/test.csv --out /tmp/loc/test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tamperscope.bench import cache
from tamperscope.bench.datasets import open_dataset
from tamperscope.bench.runner import BenchConfig, _entry, _prepare, _subset, markdown_tables, run
from tamperscope.detectors import resolve

CLASSICAL = ["ela", "dq", "blk", "noise"]
PROTOCOLS = ["pixel-F1@0.5", "pixel-F1-best", "pixel-F1-best-TruFor", "pixel-AUC", "image-AUC", "image-AP",
             "image-bACC@0.5", "image-TPR@5%FPR"]


def specs(names):
    return [{"name": d.name, "version": d.version, "params": d.params()} for d in resolve(names)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--classical-out", type=Path, help="an existing classical-detector run to reuse")
    parser.add_argument("--conditions", default="clean,social")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    conditions = args.conditions.split(",")
    parts = {"classical": (CLASSICAL, args.classical_out or args.out / "classical"),
             "localizer": (["localizer"], args.out / "localizer")}
    for name, (detectors, folder) in parts.items():
        print(f"running {name} -> {folder}", file=sys.stderr, flush=True)
        run(BenchConfig(args.dataset, folder, detectors, conditions, PROTOCOLS, args.seed, args.limit, args.workers))
    combined = BenchConfig(args.dataset, args.out / "all", CLASSICAL + ["localizer"], conditions, PROTOCOLS,
                           args.seed, args.limit)
    all_specs = specs(combined.detectors)
    samples = _subset(list(open_dataset(args.dataset).samples()), args.limit, args.seed)
    for condition in conditions:
        for sample in samples:
            try:
                data, _ = _prepare(combined, condition, sample)
            except Exception:  # refused images are reported by the combined run itself
                continue
            evidence, shape = [], None
            for detectors, folder in parts.values():
                config = BenchConfig(args.dataset, folder, detectors, conditions, PROTOCOLS, args.seed, args.limit)
                cached = cache.load(_entry(config, condition, sample), cache.cache_key(data, specs(detectors)))
                if cached is None:
                    break
                shape = cached[0]
                evidence += cached[1]
            else:
                cache.save(_entry(combined, condition, sample), cache.cache_key(data, all_specs), shape, evidence)
    results = run(combined)
    print(markdown_tables(results, PROTOCOLS))


if __name__ == "__main__":
    main()
