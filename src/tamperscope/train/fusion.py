"""Fit the calibrated fusion (rule "calibrated-v2") on held-apart synthetic forgeries.

Evidence comes from the bench harness (:func:`tamperscope.bench.runner.run`,
which caches every detector's output per condition and image) on a data set
the localizer never trained on: the ``val`` split of the localizer's synthetic
set, as saved and after the social-media chain. Two logistic regressions
(scikit-learn, at fitting time only; numpy applies them):

* **Integrity**: pooled statistics of each modelled detector's map
  (:func:`tamperscope.fusion.integrity_features`) -> manipulated or not, one
  row per image. Classes are weighted to an even prior, so 0.5 means "as
  likely manipulated as not" whatever the share of forgeries in the fitting
  set; with L2 regularisation (C = 1) on standardised features.
* **Decision**: the calibrated probability is what the report gives as the
  integrity score; the verdict needs it above ``decision_threshold``, the
  99th percentile of the fitting set's authentic images, so that, like every
  deciding detector, about 1% of authentic photos are called edited.
* **Pixel map**: the modelled detectors' maps at one pixel -> inside the
  mask or not, on up to 2,000 pixels drawn per tampered image, classes
  weighted to an even prior.

Usage::

    python -m tamperscope.train.fusion --dataset csv:VAL.csv --bench-out /tmp/fusion-val --out src/tamperscope/models/fusion.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..fusion import MODELLED, STATISTICS, integrity_features, pixel_features

CONDITIONS = ("clean", "social")
PIXELS_PER_IMAGE = 2000
VERSION = "2"
#: The integrity score decides "edited" above this percentile of the fitting set's authentic images.
DECISION_PERCENTILE = 99.0


def collect(dataset: str, bench_out: Path, conditions=CONDITIONS, seed: int = 0, workers: int = 1,
            limit: int | None = None):
    """(condition, sample id, label, image features, pixel features, pixel labels) per image."""
    from ..bench import cache
    from ..bench.datasets import open_dataset
    from ..bench.runner import BenchConfig, _entry, _prepare, _subset, run

    config = BenchConfig(dataset=dataset, out=bench_out, detectors=list(MODELLED), conditions=list(conditions),
                         protocols=["pixel-F1-best", "image-AUC"], seed=seed, limit=limit, workers=workers)
    if not (bench_out / "results.json").is_file():  # a finished run's cache holds every entry already
        run(config)
    rng = np.random.default_rng(seed)
    specs = None
    rows = []
    for condition in conditions:
        for sample in _subset(list(open_dataset(dataset).samples()), limit, seed):
            data, mask = _prepare(config, condition, sample)
            if specs is None:
                from ..detectors import resolve

                specs = [{"name": d.name, "version": d.version, "params": d.params()} for d in resolve(list(MODELLED))]
            cached = cache.load(_entry(config, condition, sample), cache.cache_key(data, specs))
            if cached is None:
                continue
            shape, evidence = cached
            modelled = {e.detector: e for e in evidence if e.ok and e.detector in MODELLED}
            pixels = labels = None
            if sample.label == 1 and mask is not None and mask.shape == tuple(shape) and mask.any():
                planes = pixel_features(modelled, tuple(shape)).reshape(len(MODELLED), -1)
                truth = mask.ravel()
                inside, outside = np.flatnonzero(truth), np.flatnonzero(~truth)
                half = PIXELS_PER_IMAGE // 2
                chosen = np.concatenate([rng.choice(inside, min(half, inside.size), replace=False),
                                         rng.choice(outside, min(half, outside.size), replace=False)])
                pixels, labels = planes[:, chosen].T, truth[chosen]
            rows.append((condition, sample.id, int(sample.label), integrity_features(modelled), pixels, labels))
    return rows


def fit_all(rows) -> list[dict]:
    """One model per detector set, largest first: with the localizer, and the default profile's without it."""
    per = len(STATISTICS)
    models = []
    for detectors in (MODELLED, tuple(d for d in MODELLED if d != "localizer")):
        columns = np.concatenate([np.arange(per) + per * MODELLED.index(d) for d in detectors])
        pixel_columns = [MODELLED.index(d) for d in detectors]
        subset = [(c, i, y, x[columns], None if p is None else p[:, pixel_columns], l) for c, i, y, x, p, l in rows]
        models.append({**fit(subset), "detectors": list(detectors)})
    return models


def fit(rows) -> dict:
    from sklearn.linear_model import LogisticRegression

    x = np.stack([r[3] for r in rows])
    y = np.asarray([r[2] for r in rows])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    image_model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit((x - mean) / scale, y)
    px = np.concatenate([r[4] for r in rows if r[4] is not None])
    py = np.concatenate([r[5] for r in rows if r[5] is not None])
    pixel_model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(px, py)
    authentic = image_model.predict_proba(((x - mean) / scale)[y == 0])[:, 1]
    return {
        "decision_threshold": round(float(np.percentile(authentic, DECISION_PERCENTILE)), 6),
        "rule": "calibrated-v2",
        "version": VERSION,
        "detectors": list(MODELLED),
        "statistics": list(STATISTICS),
        "mean": mean.round(8).tolist(),
        "scale": scale.round(8).tolist(),
        "coef": image_model.coef_[0].round(8).tolist(),
        "intercept": round(float(image_model.intercept_[0]), 8),
        "pixel": {"coef": pixel_model.coef_[0].round(8).tolist(),
                  "intercept": round(float(pixel_model.intercept_[0]), 8)},
        "fit": {"images": int(len(y)), "tampered": int(y.sum()), "pixels": int(len(py))},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="bench dataset spec of the fitting set, e.g. csv:val.csv")
    parser.add_argument("--bench-out", type=Path, required=True, help="folder for the bench cache")
    parser.add_argument("--out", type=Path, default=Path("src/tamperscope/models/fusion.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = {"rule": "calibrated-v2", "version": VERSION, "statistics": list(STATISTICS),
             "models": fit_all(collect(args.dataset, args.bench_out, seed=args.seed, workers=args.workers,
                                        limit=args.limit))}
    model["recipe"] = {
        "command": "python -m tamperscope.train.fusion --dataset csv:VAL.csv --bench-out DIR --out "
                   "src/tamperscope/models/fusion.json",
        "dataset": "val split of the localizer's synthetic set (tamperscope synth, seed 0, 1800 images), "
                   "conditions " + ", ".join(CONDITIONS),
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    for fitted in model["models"]:
        print(json.dumps({k: fitted[k] for k in ("detectors", "coef", "intercept", "pixel", "fit")}))


if __name__ == "__main__":
    main(sys.argv[1:])
