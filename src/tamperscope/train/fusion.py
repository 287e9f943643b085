"""Fit the calibrated fusion (rule "calibrated-v3"): ``tamperscope train fusion``.

What it does, in order (every step resumes from what ``WORK`` already holds):

1. **Images**: the development sets of ``shared/data/dev`` with their part
   (``fit``, ``eval``, ``excluded``; :mod:`tamperscope.train.fusion_data`) and
   synthetic forgeries made from each part's authentic photos.
2. **Evidence**: every deciding detector of the fitted profiles runs once per
   image and is cached per (image bytes, detector name, version, parameters)
   in ``WORK/evidence``, so a detector that changes is the only one rerun.
3. **Fit**, per profile (its deciding *signal* detectors; provenance is a
   rule, not a feature), on the ``fit`` part only:

   * one logistic regression per class of manipulation (one-vs-rest) and one
     for "manipulated at all", on :func:`tamperscope.fusion.image_features`,
     with the weights bounded to >= 0 (L-BFGS-B, Byrd et al. 1995) so that
     the probabilities are monotone in every detector's score. The images of
     the class weigh :data:`PRIOR` together and the rest ``1 - PRIOR``, so a
     probability is calibrated for a population where one image in five is
     of that class (and where half of all images would give a coin flip, 0.5
     would decide on a likelihood ratio of 1; at this prior it takes 4, which
     keeps false alarms rare: docs/accuracy.md); L2 penalty :data:`L2` on all
     weights but the intercept. A class with fewer than
     :data:`MIN_POSITIVES` fitting images, or that no detector of the set
     looks for, has no model (its probability is None: not checked);
   * the per-pixel model: a logistic regression on the detectors' maps
     weighed by their scores (:func:`tamperscope.fusion.pixel_features`,
     weights >= 0), on :data:`PIXELS_PER_IMAGE` pixels drawn uniformly from
     each manipulated fitting image with a mask, the manipulated pixels
     weighing :data:`PRIOR` together: the same prior as the image decision,
     so that 0.5 asks of a pixel's maps the same likelihood ratio (4) that
     0.5 asks of an image's scores (the masks themselves cover about 9%).

4. **Judge** on the ``eval`` part (never fitted): expected calibration error
   per class, written into the model file beside the weights
   (``benchmarks/fusion_calibration.py`` writes the docs).

Usage::

    tamperscope train fusion --data ../shared/data/dev --out src/tamperscope/models/fusion.json
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..evidence import Evidence
from ..fusion import ANY, COVERS, MANIPULATIONS, NO_MANIPULATION, TERMS, class_probabilities, columns, image_features
from ..fusion import pixel_features
from .fusion_data import FitSample, ai_edited_samples, development_samples, fitting_subset, synthetic_samples

VERSION = "3"
#: The profiles fitted by default (each gets its own model: the detector set it runs). The thorough profile's
#: evidence takes about 8 s per image on two loaded cores (hours for the ~2,000 images): fitted only when named.
PROFILES = ("fast", "default")
#: L2 penalty on the weights (the intercept is free), in units of the mean weighted log loss.
L2 = 1e-3
#: The share of images of a class in the population every class probability is calibrated for.
PRIOR = 0.2
#: A class needs at least this many fitting images to get a model.
MIN_POSITIVES = 8
PIXELS_PER_IMAGE = 2000
#: Synthetic images made per part (fit, eval): forgeries and controls, and AI edits.
SYNTHETIC_COUNT = 280
AI_EDITED_COUNT = 60
BINS = 10

Log = Callable[[str], None]


@dataclass
class Record:
    """One image's cached evidence (maps dropped), and pixels drawn for the per-pixel fit."""

    sample: FitSample
    shape: tuple[int, int] | None
    evidence: dict[str, Evidence]
    error: str | None = None
    #: Detector names of the columns of ``pixels``: maps then states (see :func:`tamperscope.fusion.pixel_features`).
    pixel_names: tuple[str, ...] = ()
    pixels: np.ndarray | None = None
    pixel_truth: np.ndarray | None = None


# --------------------------------------------------------------------------
# Detector sets


def modelled(profile_or_names: str | list[str]) -> list[str]:
    """The deciding signal detectors of a profile (or of a list of names), in profile order."""
    from ..detectors import PROFILES as NAMED
    from ..detectors import available, resolve

    names = list(NAMED[profile_or_names]) if isinstance(profile_or_names, str) else list(profile_or_names)
    catalogue = available()
    chosen = [d.name for d in resolve(names)]
    return [n for n in chosen if catalogue[n].kind != "provenance" and catalogue[n].decides]


def deciding(profile_or_names: str | list[str]) -> list[str]:
    """Every deciding detector of a profile, provenance included (what the label needs)."""
    from ..detectors import PROFILES as NAMED
    from ..detectors import available

    names = list(NAMED[profile_or_names]) if isinstance(profile_or_names, str) else list(profile_or_names)
    catalogue = available()
    return [n for n in names if catalogue[n].decides]


# --------------------------------------------------------------------------
# Evidence, cached per detector


def _spec(name: str) -> dict:
    from ..detectors import create

    detector = create(name)
    return {"name": detector.name, "version": detector.version, "params": detector.params()}


def _entry(root: Path, digest: str, name: str) -> Path:
    return root / "evidence" / digest[:2] / digest / f"{name}.npz"


def _compute(job) -> str | None:
    """Run the detectors of ``names`` not yet cached for one image; an error message or None."""
    from ..bench import cache
    from ..detectors import resolve, run_detectors
    from ..errors import InputError
    from ..image import load

    root, path, names = job
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    digest = hashlib.sha256(data).hexdigest()
    missing = [n for n in names if cache.load(_entry(root, digest, n), cache.cache_key(data, [_spec(n)])) is None]
    if not missing:
        return None
    try:
        image = load(data)
    except InputError as exc:
        return str(exc)
    for item in run_detectors(image, resolve(missing)):
        cache.save(_entry(root, digest, item.detector), cache.cache_key(data, [_spec(item.detector)]), image.shape,
                   [item])
    return None


def gather(samples: list[FitSample], names: list[str], work: Path, workers: int = 1,
           log: Log = lambda line: None, seed: int = 0) -> list[Record]:
    """Every sample's evidence from ``names`` (computed where not cached); unreadable images keep their error.

    Maps are dropped after reading; for manipulated ``fit`` images with a mask, :data:`PIXELS_PER_IMAGE`
    pixels of every map are kept for the per-pixel fit (drawn with ``seed``).
    """
    from ..bench import cache

    rng = np.random.default_rng(seed)
    jobs = [(work, str(s.path), tuple(names)) for s in samples]
    errors: dict[str, str | None] = {}
    started, step = time.time(), max(1, len(jobs) // 20)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for index, error in enumerate(pool.map(_compute, jobs, chunksize=2)):
                errors[jobs[index][1]] = error
                if index % step == 0:
                    log(f"evidence {index + 1}/{len(jobs)} ({time.time() - started:.0f} s)")
    else:
        for index, job in enumerate(jobs):
            errors[job[1]] = _compute(job)
            if index % step == 0:
                log(f"evidence {index + 1}/{len(jobs)} ({time.time() - started:.0f} s)")
    specs = {n: _spec(n) for n in names}
    records = []
    for sample in samples:
        error = errors.get(str(sample.path))
        if error is not None:
            records.append(Record(sample, None, {}, error))
            continue
        data = sample.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        found, shape = {}, None
        for name in names:
            cached = cache.load(_entry(work, digest, name), cache.cache_key(data, [specs[name]]))
            if cached is None:
                error = f"evidence of {name} missing from the cache"
                break
            shape, items = cached
            found[name] = items[0]
        record = Record(sample, shape, found, error)
        if error is None and sample.part == "fit" and sample.manipulated:
            _draw_pixels(record, names, rng)
        for item in found.values():  # the image model needs scores and states; maps stay on disk
            item.heatmap = item.confidence = None
        records.append(record)
    return records


def _draw_pixels(record: Record, names: list[str], rng: np.random.Generator) -> None:
    """Keep :data:`PIXELS_PER_IMAGE` pixels, drawn uniformly, of the maps of a manipulated image with a mask."""
    mask = _mask_for(record)
    if mask is None:
        return
    planes = pixel_features(record.evidence, tuple(record.shape), names).reshape(2 * len(names), -1)
    chosen = rng.choice(mask.size, size=min(PIXELS_PER_IMAGE, mask.size), replace=False)
    record.pixel_names = tuple(names)
    record.pixels = planes[:, chosen].T.astype(np.float32)
    record.pixel_truth = mask.ravel()[chosen]


# --------------------------------------------------------------------------
# Fitting


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, free: np.ndarray, l2: float = L2,
                 curve: list | None = None) -> tuple[np.ndarray, float]:
    """Weighted logistic regression with the coefficients of ``~free`` columns bounded to >= 0.

    Minimises ``sum(w * logloss) / sum(w) + l2 / 2 * |coef|^2`` with L-BFGS-B; returns (coef, intercept).
    ``curve`` (a list), when given, receives the objective after each iteration: the learning curve.
    """
    from scipy.optimize import minimize

    w = weights / weights.sum()
    n_features = x.shape[1]

    def objective(theta):
        coef, intercept = theta[:-1], theta[-1]
        z = x @ coef + intercept
        # log(1 + exp(-z)) for y = 1 and log(1 + exp(z)) for y = 0, stably.
        loss = np.logaddexp(0.0, np.where(y == 1, -z, z))
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        gradient_z = w * (p - y)
        value = float(np.sum(w * loss) + 0.5 * l2 * coef @ coef)
        gradient = np.concatenate([x.T @ gradient_z + l2 * coef, [gradient_z.sum()]])
        return value, gradient

    bounds = [(None, None) if free[i] else (0.0, None) for i in range(n_features)] + [(None, None)]
    prior = np.clip(np.sum(w * y), 1e-6, 1 - 1e-6)
    start = np.zeros(n_features + 1)
    start[-1] = np.log(prior / (1 - prior))
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      callback=None if curve is None else (lambda theta: curve.append(objective(theta)[0])),
                      options={"maxiter": 2000})
    return result.x[:-1], float(result.x[-1])


def prior_weights(y: np.ndarray, prior: float = PRIOR) -> np.ndarray:
    """Weights that make the images with ``y = 1`` weigh ``prior`` together and the others ``1 - prior``.

    A logistic regression fitted with them is calibrated for a population with that share of positives
    (the prior correction of King and Zeng, "Logistic regression in rare events data", 2001, by weighting).
    """
    positives = max(int(y.sum()), 1)
    negatives = max(int((1 - y).sum()), 1)
    return np.where(y == 1, prior / positives, (1 - prior) / negatives)


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Each side (y = 1, y = 0) weighs half."""
    return prior_weights(y, 0.5)


def _target(record: Record, klass: str) -> int:
    return int(record.sample.manipulated) if klass == ANY else int(record.sample.klass in COVERS[klass])


def fit_image_models(records: list[Record], detectors: list[str], curves: dict) -> dict:
    """One model per class of manipulation with enough fitting images, and the "manipulated" model."""
    cols = columns(detectors)
    x = np.stack([image_features(r.evidence, detectors) for r in records])
    models: dict[str, dict | None] = {}
    for klass in (*MANIPULATIONS, ANY):
        y = np.asarray([_target(r, klass) for r in records], dtype=np.float64)
        if y.sum() < MIN_POSITIVES:
            models[klass] = None
            continue
        # A class model reads the scores toward its own class; "manipulated" reads every score.
        use = np.asarray([klass == ANY or c == klass for _, _, c in cols])
        use &= x.any(axis=0)  # a column that is zero on every fitting image carries nothing to fit
        if not use.any():  # no detector of this set looks for the class: not checked, rather than a base rate
            models[klass] = None
            continue
        curve: list[float] = []
        coef, intercept = fit_logistic(x[:, use], y, prior_weights(y), np.zeros(int(use.sum()), bool),
                                       curve=curve)
        full = np.zeros(len(cols))
        full[use] = coef
        models[klass] = {"coef": full.round(6).tolist(), "intercept": round(intercept, 6),
                         "fit": {"positives": int(y.sum()), "negatives": int(len(y) - y.sum())}}
        curves[klass] = curve
    return models


def _mask_for(record: Record) -> np.ndarray | None:
    from PIL import Image as PILImage

    if record.sample.mask is None or record.shape is None:
        return None
    try:
        with PILImage.open(record.sample.mask) as handle:
            mask = np.asarray(handle.convert("L")) > 127
    except OSError:
        return None
    if mask.shape != tuple(record.shape):
        resized = PILImage.fromarray(mask.astype(np.uint8) * 255).resize(record.shape[::-1], PILImage.NEAREST)
        mask = np.asarray(resized) > 127
    return mask if mask.any() and not mask.all() else None


def fit_pixel_model(records: list[Record], detectors: list[str], curves: dict) -> dict:
    """Per-pixel probability of manipulation given a manipulated image, from the detectors' maps."""
    rows, labels, images = [], [], 0
    for record in records:
        if record.pixels is None:
            continue
        index = [record.pixel_names.index(n) for n in detectors]
        strong = [len(record.pixel_names) + i for i in index]
        rows.append(record.pixels[:, index + strong])
        labels.append(record.pixel_truth)
        images += 1
    if not rows:
        raise ValueError("no manipulated fitting image with a mask: the per-pixel model cannot be fitted")
    x = np.concatenate(rows).astype(np.float64)
    y = np.concatenate(labels).astype(np.float64)
    use = x.any(axis=0)
    curve: list[float] = []
    coef, intercept = fit_logistic(x[:, use], y, prior_weights(y), np.zeros(int(use.sum()), bool), curve=curve)
    full = np.zeros(x.shape[1])
    full[use] = coef
    curves["pixel"] = curve
    return {"coef": full.round(6).tolist(), "terms": ["map x score", "map x strong"], "intercept": round(intercept, 6),
            "fit": {"images": images, "pixels": int(len(y)), "manipulated_share": round(float(y.mean()), 4)}}


def fit_model(records: list[Record], name: str, detectors: list[str]) -> tuple[dict, dict]:
    """The fitted model of one detector set (the JSON of one entry of ``models/fusion.json``) and its curves."""
    curves: dict[str, list[float]] = {}
    usable = [r for r in records if r.error is None]
    model = {"name": name, "detectors": list(detectors), "terms": list(TERMS),
             "versions": {d: _spec(d)["version"] for d in detectors},
             "image": fit_image_models(usable, detectors, curves),
             "pixel": fit_pixel_model(usable, detectors, curves)}
    return model, curves


# --------------------------------------------------------------------------
# Judging


def ece(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, bins: int = BINS) -> float:
    """Expected calibration error over ``bins`` equal-width bins (Guo et al. 2017), optionally weighted."""
    weights = np.ones_like(probabilities) if weights is None else weights
    index = np.minimum((probabilities * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            w = weights[chosen]
            total += w.sum() * abs(np.average(labels[chosen], weights=w) - np.average(probabilities[chosen], weights=w))
    return float(total / weights.sum())


def reliability(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray, bins: int = BINS):
    """(mean probability, weighted share positive, count) per non-empty bin."""
    index = np.minimum((probabilities * bins).astype(int), bins - 1)
    found = []
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            w = weights[chosen]
            found.append((float(np.average(probabilities[chosen], weights=w)),
                          float(np.average(labels[chosen], weights=w)), int(chosen.sum())))
    return found


def class_outcomes(records: list[Record], model: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class (and "manipulated"): the model's probabilities on ``records`` and the truth."""
    found: dict[str, tuple[list, list]] = {}
    for record in records:
        if record.error is not None or record.sample.klass not in (*MANIPULATIONS, NO_MANIPULATION):
            continue
        scores, _, _ = class_probabilities(record.evidence, model)
        for klass in MANIPULATIONS:
            if scores[klass] is not None:
                found.setdefault(klass, ([], []))[0].append(scores[klass])
                found[klass][1].append(_target(record, klass))
        if scores[NO_MANIPULATION] is not None:
            found.setdefault(ANY, ([], []))[0].append(1.0 - scores[NO_MANIPULATION])
            found[ANY][1].append(int(record.sample.manipulated))
    return {k: (np.asarray(p), np.asarray(y, dtype=np.float64)) for k, (p, y) in found.items()}


def judge(records: list[Record], model: dict) -> dict:
    """ECE per class on ``records``: weighted to the fitted prior (:data:`PRIOR`), and as the set is."""
    found = {}
    for klass, (p, y) in class_outcomes(records, model).items():
        if y.sum() == 0 or y.sum() == len(y):
            continue
        found[klass] = {"images": int(len(y)), "positives": int(y.sum()),
                        "ece_prior": round(ece(p, y, prior_weights(y)), 4), "ece": round(ece(p, y), 4)}
    return found


# --------------------------------------------------------------------------
# The command


def train(data: Path, out: Path, work: Path, *, profiles: tuple[str, ...] = PROFILES, seed: int = 0,
          synthetic: int = SYNTHETIC_COUNT, workers: int = 1, resume: bool = True, log: Log = print) -> dict:
    """Fit one model per profile and write ``out`` (models/fusion.json); returns a summary."""
    from ..detectors import PROFILES as NAMED
    from ..errors import InputError, OutputError

    started = time.time()
    data, work, out = Path(data), Path(work), Path(out)
    unknown = [p for p in profiles if p not in NAMED]
    if unknown:
        raise InputError(f"unknown profile {unknown[0]!r}; known: {', '.join(NAMED)}")
    samples = development_samples(data)
    if not any(s.part == "fit" for s in samples):
        raise InputError(f"{data}: no development set found (expected casia1/, micc-f220/, ... with manifest.csv)")
    try:  # both folders are written: say so before hours of evidence, not after
        work.mkdir(parents=True, exist_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        for folder in (work, out.parent):
            with tempfile.NamedTemporaryFile(dir=folder):
                pass
    except OSError as exc:
        raise OutputError(f"cannot write to {exc.filename or out.parent}: {exc.strerror or exc}") from None
    if not resume and (work / "evidence").exists():
        shutil.rmtree(work / "evidence")
    if synthetic:
        samples += synthetic_samples(samples, work, synthetic, seed, log) + ai_edited_samples(
            samples, work, AI_EDITED_COUNT, seed, log)
    fit_samples = fitting_subset(samples, "fit")
    eval_samples = fitting_subset(samples, "eval")
    eval_samples = [s for s in eval_samples if s.klass in (*MANIPULATIONS, NO_MANIPULATION)
                    and not s.dataset.startswith("faces-real")]
    # Provenance detectors are cheap and the label needs them: cache them too (benchmarks read them).
    names = list(dict.fromkeys(n for p in profiles for n in deciding(p)))
    log(f"{len(fit_samples)} fitting and {len(eval_samples)} held-apart images; detectors {', '.join(names)}")
    records = gather(fit_samples + eval_samples, names, work, workers, log, seed)
    fitted = records[: len(fit_samples)]
    held = records[len(fit_samples):]
    failed = [r for r in records if r.error is not None]
    models, curves = [], {}
    for profile in profiles:
        detectors = modelled(profile)
        if any(m["detectors"] == detectors for m in models):
            continue
        model, curve = fit_model(fitted, profile, detectors)
        model["heldout"] = judge(held, model)
        model["fit"] = {"images": sum(r.error is None for r in fitted)}
        models.append(model)
        curves[profile] = curve
        log(f"{profile}: held-apart ECE {json.dumps(model['heldout'])}")
    result = {
        "rule": "calibrated-v3",
        "version": VERSION,
        "classes": list(MANIPULATIONS),
        "prior": PRIOR,
        "models": models,
        "recipe": {
            "command": "tamperscope train fusion --data DATA --out src/tamperscope/models/fusion.json "
                       f"--profiles {','.join(profiles)} --seed {seed}",
            "profiles": list(profiles),
            "seed": seed,
            "synthetic_per_part": synthetic,
            "ai_edited_per_part": AI_EDITED_COUNT if synthetic else 0,
            "images": {"fit": len(fit_samples), "eval": len(eval_samples), "unreadable": len(failed)},
            "sets": _counts(fit_samples),
            "seconds": round(time.time() - started, 1),
        },
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    (work / "curves.json").write_text(json.dumps(curves) + "\n", encoding="utf-8")
    return {"out": str(out), "models": [m["name"] for m in models], "heldout": {m["name"]: m["heldout"]
                                                                             for m in models},
            "seconds": result["recipe"]["seconds"]}


def _counts(samples: list[FitSample]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for sample in samples:
        found.setdefault(sample.dataset, {}).setdefault(sample.klass, 0)
        found[sample.dataset][sample.klass] += 1
    return found


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - the CLI is `tamperscope train fusion`
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("src/tamperscope/models/fusion.json"))
    parser.add_argument("--work", type=Path, default=Path(".tamperscope-train/fusion"))
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(train(args.data, args.out, args.work, workers=args.workers), indent=1))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
