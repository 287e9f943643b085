"""The benchmark runner: a dataset x perturbations x detectors -> named-protocol tables.

Every number it writes comes with the protocol id that defines it
(:data:`tamperscope.bench.metrics.PROTOCOLS`). Conventions of the runner itself:

* Each detector is scored on its own (its evidence's score and heatmap) and so
  is ``fusion`` (the fused score and heatmap of :func:`tamperscope.fusion.fuse`,
  exactly what ``analyze`` reports: rule "calibrated-v3", whose score is the calibrated probability of
  manipulation where a fitted model covers the detectors), and ``fusion-v1`` (the same evidence under the
  written max rule "classes-v1", for comparison).
* A detector that does not apply to an image (a JPEG check on a PNG), or failed
  on it, counts as "no evidence": score 0 and an all-zero map; the tables give
  how many images each detector could judge (``applicable``). Map-only methods
  (ELA) have pixel metrics and no image metrics.
* Maps are compared with masks at the mask's resolution (nearest-neighbour
  resize when they differ, the Zampoglou convention); the perturbations move the
  masks with the pixels.
* Images the loader refuses are listed with their error and left out.
* Seeds: the perturbation of a sample is seeded by the run seed and the
  sample id, and ``limit`` draws a random subset seeded by the run seed, so a
  rerun is identical.

Detector outputs are cached per (condition, sample) in ``OUT/cache``
(:mod:`tamperscope.bench.cache`): rerunning with other protocols, or after an
interruption, only computes what is missing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..detectors import resolve, run_detectors
from ..errors import InputError, OutputError
from ..fusion import FusionParams, fuse
from ..image import load
from . import cache
from .datasets import Sample, load_mask, open_dataset
from .metrics import PROTOCOLS, MetricSuite, align
from .perturb import apply as perturb

Progress = Callable[[int, int, str], None]
#: The fused methods every run scores beside the detectors: the default rule and the written max rule.
FUSION_METHODS = ("fusion", "fusion-v1")
#: (sample, error or None, cache key, mask of the analysed bytes) from the caching pass.
Outcome = tuple[Sample, "str | None", "str | None", "np.ndarray | None"]


@dataclass
class BenchConfig:
    """What to run. ``conditions`` are perturbation chains; "clean" is the file as it is."""

    dataset: str
    out: Path
    detectors: list[str] | None = None
    conditions: list[str] = field(default_factory=lambda: ["clean"])
    protocols: list[str] | None = None
    seed: int = 0
    limit: int | None = None
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


@dataclass
class ConditionResult:
    condition: str
    methods: dict[str, dict[str, float]]
    counts: dict[str, dict[str, int]]
    applicable: dict[str, int]
    images: int
    errors: list[dict[str, str]]
    #: kind -> method -> protocol -> value, for datasets that name the manipulation kind;
    #: image protocols compare that kind's images with all authentic images.
    by_kind: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)


#: The compact set of protocols reported per manipulation kind.
KIND_PROTOCOLS = ("pixel-F1-best", "pixel-AUC", "image-AUC")


def run(config: BenchConfig, progress: Progress | None = None) -> list[ConditionResult]:
    """Run the benchmark and write its files under ``config.out``; returns the tables."""
    dataset = open_dataset(config.dataset)
    samples = _subset(list(dataset.samples()), config.limit, config.seed)
    detectors = resolve(config.detectors)
    specs = [{"name": d.name, "version": d.version, "params": d.params()} for d in detectors]
    methods = [d.name for d in detectors] + list(FUSION_METHODS)
    try:
        config.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write results to {config.out}: {exc.strerror or exc}") from None
    started = time.time()

    results: list[ConditionResult] = []
    per_image: list[dict[str, Any]] = []
    for condition in config.conditions:
        jobs = [(config, condition, sample, specs) for sample in samples]
        outcomes: list[Outcome] = []
        done = 0
        if config.workers > 1:
            with ProcessPoolExecutor(max_workers=config.workers) as pool:
                for outcome in pool.map(_ensure_cached, jobs, chunksize=4):
                    outcomes.append(outcome)
                    done += 1
                    if progress:
                        progress(done, len(jobs), condition)
        else:
            for job in jobs:
                outcomes.append(_ensure_cached(job))
                done += 1
                if progress:
                    progress(done, len(jobs), condition)
        results.append(_score(config, condition, outcomes, methods, per_image))

    _write(config, results, per_image, specs, time.time() - started)
    return results


def _subset(samples: list[Sample], limit: int | None, seed: int) -> list[Sample]:
    """At most ``limit`` samples: a seeded random subset, kept in dataset order."""
    if limit is None or len(samples) <= limit:
        return samples
    chosen = np.random.default_rng(seed).choice(len(samples), size=limit, replace=False)
    return [samples[i] for i in sorted(chosen)]


def _entry(config: BenchConfig, condition: str, sample: Sample) -> Path:
    folder = "".join(c if c.isalnum() or c in ".-" else "_" for c in condition)
    name = hashlib.sha1(sample.id.encode()).hexdigest()[:20]
    return config.out / "cache" / folder / f"{name}.npz"


def _sample_seed(config: BenchConfig, sample: Sample) -> int:
    return int.from_bytes(hashlib.sha256(f"{config.seed}:{sample.id}".encode()).digest()[:4], "little")


def _prepare(config: BenchConfig, condition: str, sample: Sample) -> tuple[bytes, np.ndarray | None]:
    """The analysed bytes and the matching mask (None without a mask)."""
    mask = load_mask(sample) if sample.mask is not None else None
    if condition == "clean":
        return sample.image.read_bytes(), mask
    data, mask, _ = perturb(condition, sample.image, mask, _sample_seed(config, sample))
    return data, mask


def _ensure_cached(job) -> Outcome:
    """Compute and cache one sample's evidence unless cached.

    Returns the sample, its error (None when fine), the cache key and the mask that goes with the analysed
    bytes, so scoring needs neither to read nor to perturb the file again.
    """
    config, condition, sample, specs = job
    try:
        data, mask = _prepare(config, condition, sample)
        key = cache.cache_key(data, specs)
        entry = _entry(config, condition, sample)
        if cache.load(entry, key) is None:
            image = load(data)
            evidence = run_detectors(image, resolve([s["name"] for s in specs]))
            cache.save(entry, key, image.shape, evidence)
        return sample, None, key, mask
    except InputError as exc:
        return sample, str(exc), None, None


def _score(config, condition, outcomes, methods, per_image) -> ConditionResult:
    suites = {method: MetricSuite(config.protocols) for method in methods}
    kind_suites: dict[tuple[str, str], MetricSuite] = {}
    authentic_scores: dict[str, list[float]] = {method: [] for method in methods}
    applicable = {method: 0 for method in methods}
    errors: list[dict[str, str]] = []
    images = 0
    for sample, error, key, mask in outcomes:
        if error is not None:
            errors.append({"sample": sample.id, "error": error})
            continue
        cached = cache.load(_entry(config, condition, sample), key)
        if cached is None:  # written by a worker moments ago: unreadable means a broken disk, not a result
            errors.append({"sample": sample.id, "error": "cache entry unreadable"})
            continue
        shape, evidence = cached
        images += 1
        fused = {"fusion": fuse(evidence, shape, FusionParams()),
                 "fusion-v1": fuse(evidence, shape, FusionParams(rule="classes-v1"))}
        truth = mask if mask is not None and sample.label == 1 else None
        for method in methods:
            if method in FUSION_METHODS:
                chosen = fused[method]
                score, heat, ok = chosen.score, chosen.heatmap, chosen.score is not None
            else:
                item = next(e for e in evidence if e.detector == method)
                ok = item.ok
                score = item.score if ok else 0.0
                heat = item.heatmap_full(shape) if ok and item.heatmap is not None else np.zeros(shape, np.float32)
            applicable[method] += int(ok)
            has_score = score is not None and _decides(method)
            kind_suite = None
            if sample.label == 1 and sample.kind:
                kind_suite = kind_suites.setdefault((sample.kind, method), MetricSuite(KIND_PROTOCOLS))
            if truth is not None:
                aligned = heat if heat.shape == truth.shape else align(heat, truth.shape)
                for suite in filter(None, (suites[method], kind_suite)):
                    suite.add(heat=aligned, truth=truth, score=score if has_score else None, label=1)
            elif has_score:
                for suite in filter(None, (suites[method], kind_suite)):
                    suite.add(score=score, label=sample.label)
            if sample.label == 0 and has_score:
                authentic_scores[method].append(float(score))
            per_image.append({"condition": condition, "sample": sample.id, "label": sample.label,
                              "method": method, "score": None if score is None else round(float(score), 4),
                              "applicable": ok})
    by_kind: dict[str, dict[str, dict[str, float | None]]] = {}
    for (kind, method), suite in sorted(kind_suites.items()):
        for score in authentic_scores[method]:
            suite.add(score=score, label=0)
        by_kind.setdefault(kind, {})[method] = _clean(suite.results())
    return ConditionResult(
        condition=condition,
        methods={m: _clean(s.results()) for m, s in suites.items()},
        counts={m: s.counts() for m, s in suites.items()},
        applicable=applicable,
        images=images,
        errors=errors,
        by_kind=by_kind,
    )


def _decides(method: str) -> bool:
    """Map-only methods (no score when they run) have no image-level metrics at all."""
    from ..detectors import available

    return method in FUSION_METHODS or available()[method].decides


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4))
            for k, v in values.items()}


def _write(config, results, per_image, specs, elapsed) -> None:
    out = config.out
    meta = {
        "config": config.to_dict(),
        "tamperscope_version": __version__,
        "detectors": specs,
        "python": platform.python_version(),
        "seconds": round(elapsed, 1),
        "protocols": {pid: PROTOCOLS[pid].description for pid in (config.protocols or PROTOCOLS)},
    }
    payload = {**meta, "conditions": [asdict(r) for r in results]}
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    with (out / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["condition", "method", "protocol", "value", "images"])
        for result in results:
            for method, values in result.methods.items():
                for pid, value in values.items():
                    writer.writerow([result.condition, method, pid, value, result.counts[method].get(pid)])
    with (out / "per_image.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["condition", "sample", "label", "method", "score", "applicable"])
        writer.writeheader()
        writer.writerows(per_image)
    (out / "results.md").write_text(markdown_tables(results, config.protocols) + "\n")
    plot(results, per_image, out)


def markdown_tables(results: list[ConditionResult], protocols: list[str] | None = None) -> str:
    """One table per condition: a row per method, a column per protocol (named by its id)."""
    ids = list(protocols or PROTOCOLS)
    parts = []
    for result in results:
        shown = [pid for pid in ids if any(result.methods[m].get(pid) is not None for m in result.methods)]
        lines = [f"#### Condition `{result.condition}` ({result.images} images"
                 f"{f', {len(result.errors)} refused' if result.errors else ''})", ""]
        lines.append("| method | applicable | " + " | ".join(f"`{pid}`" for pid in shown) + " |")
        lines.append("|---|---:|" + "---:|" * len(shown))
        for method, values in result.methods.items():
            cells = ["–" if values.get(pid) is None else f"{values[pid]:.3f}" for pid in shown]
            lines.append(f"| {method} | {result.applicable[method]} | " + " | ".join(cells) + " |")
        if result.by_kind:
            methods = list(result.methods)
            for pid in KIND_PROTOCOLS:
                lines += ["", f"By manipulation kind, `{pid}`"
                          + (" (each kind against all authentic images)" if pid.startswith("image") else "") + ":", ""]
                lines.append("| kind | " + " | ".join(methods) + " |")
                lines.append("|---|" + "---:|" * len(methods))
                for kind, values in result.by_kind.items():
                    cells = ["–" if values.get(m, {}).get(pid) is None else f"{values[m][pid]:.3f}" for m in methods]
                    lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def plot(results: list[ConditionResult], per_image: list[dict[str, Any]], out: Path) -> list[Path]:
    """Image-level ROC of the first condition, and pixel F1 versus JPEG quality when JPEG
    conditions ran. Needs matplotlib (the ``bench`` extra); without it, no plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    first = results[0].condition if results else None
    rows = [r for r in per_image if r["condition"] == first and r["score"] is not None]
    methods = sorted({r["method"] for r in rows})
    if rows and len({r["label"] for r in rows}) == 2:
        figure, axis = plt.subplots(figsize=(5, 5))
        for method in methods:
            scores = np.array([r["score"] for r in rows if r["method"] == method])
            labels = np.array([r["label"] for r in rows if r["method"] == method])
            fpr, tpr = roc_points(scores, labels)
            axis.plot(fpr, tpr, label=method)
        axis.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
        axis.set_xlabel("false positive rate")
        axis.set_ylabel("true positive rate")
        axis.set_title(f"image-level ROC, condition {first}")
        axis.legend(loc="lower right")
        figure.tight_layout()
        path = out / "roc.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    jpeg = sorted(
        ((int(r.condition.split(":")[1]), r) for r in results if r.condition.startswith("jpeg:")
         and r.condition.split(":")[1].isdigit()),
        key=lambda pair: -pair[0],
    )
    if jpeg:
        figure, axis = plt.subplots(figsize=(6, 4))
        for method in jpeg[0][1].methods:
            values = [r.methods[method].get("pixel-F1@0.5") for _, r in jpeg]
            axis.plot([q for q, _ in jpeg], [np.nan if v is None else v for v in values], marker="o", label=method)
        axis.set_xlabel("JPEG quality of the re-save")
        axis.set_ylabel("pixel-F1@0.5 (fakes, per-image mean)")
        axis.invert_xaxis()
        axis.legend()
        figure.tight_layout()
        path = out / "f1_vs_jpeg.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def roc_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct score threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.cumsum(labels)[distinct]
    fp = (distinct + 1) - tp
    positives, negatives = max(int(labels.sum()), 1), max(int((1 - labels).sum()), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]
