"""Which CLIP block should the aigen probe read? A comparison on features of all 12 blocks.

The shipped encoder is cut after block 7 (``tamperscope.models.clip.LAST_BLOCK``), so its cache holds blocks 3, 5
and 7 only (``benchmarks/aigen_eval.py --features`` compares those). This script reads a cache made by the
uncut graph, whose files hold ``embeds`` (the projected embedding), and the class token (``clsK``) and mean patch
token (``meanK``) of blocks 3, 5, 7, 9 and 11: the feature stage of commit 016c1a9 (``FEATURE_VERSION``
``aigen-features-3``), stopped after its first few hundred versions when this comparison decided the cut. Every
file name is ``SHA256-VERSION-TAG.npz``; the sample behind each digest comes from the same corpus. For each input:
the probes and blend of :func:`tamperscope.train.aigen.fit` on the train split, AUC on the calibrate split (all
its cached versions, one crop), for the image logit, the global view alone and the centre crop alone.

Usage::

    PYTHONPATH=src python benchmarks/aigen_layers.py --data ../shared/data/dev --corpus CORPUS \\
        --photos /usr/share/backgrounds --cache CACHE_OF_016c1a9
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tamperscope.train import aigen
from tamperscope.train import aigen_data as data

INPUTS = ("embeds", "cls11", "mean11", "cls11+mean11", "cls9", "mean9", "cls7", "mean7", "cls7+mean7",
          "cls5", "mean5", "cls3", "mean3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--photos", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    samples = aigen.gather(args.data, args.corpus, args.photos, log=lambda _: None)
    by_digest = {data.file_sha256(s.path): s for s in samples}
    versions = {v.replace(":", ""): v for v in (*data.EVAL_VERSIONS, *data.TRAIN_VERSIONS)}
    records = []
    for path in sorted(args.cache.rglob("*.npz")):
        digest, version, _ = path.stem.split("-")
        if digest in by_digest and version in versions:
            records.append(aigen.Record(by_digest[digest], versions[version], path, ("embeds",)))
    print(f"{len(records)} cached versions; calibrate split: "
          f"{sum(r.y for r in records if r.sample.split == 'calibrate')} AI, "
          f"{sum(1 - r.y for r in records if r.sample.split == 'calibrate')} real")
    print("| probe input | image AUC | global view AUC | centre crop AUC |\n|---|---:|---:|---:|")
    for name in INPUTS:
        for r in records:
            r.select(tuple(name.split("+")))
        probes = aigen.fit(records, c=0.03, patch=False, log=lambda _: None)
        calib = [r for r in records if r.sample.split == "calibrate"]
        y = np.array([r.y for r in calib])
        image = [probes.image_logit(r, 1) for r in calib]
        views = [probes.view_logits(r) for r in calib]
        print(f"| {name} | {aigen._auc(y, np.array(image)):.3f} | {aigen._auc(y, np.array([g for g, _ in views])):.3f} | "
              f"{aigen._auc(y, np.array([c[0] for _, c in views])):.3f} |", flush=True)


if __name__ == "__main__":
    main()
