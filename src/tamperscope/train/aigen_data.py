"""The images the ``aigen`` probe is trained and judged on, their save chains, and their cached CLIP features.

Sources (nothing here is committed but the recipe):

* **Public repositories** (:data:`RECIPE`, written with :mod:`tamperscope.train.recipe`): AI images of many
  generators and camera photos, each by repository, commit, path and SHA-256; ``tamperscope train aigen
  --corpus DIR`` reads them from ``DIR/owner+name/path`` (:func:`tamperscope.train.recipe.materialize` writes
  that layout from local clones and refuses altered files).
* **Development sets** of ``shared/data/dev`` (read in place): authentic photos of ``exif-camera``,
  ``casia1``, ``micc-f220``, ``faces-real-lfw``, ``faces-real-utkface`` and the real half of
  ``faces-gan-vs-real``; its StyleGAN2 half is AI. ``comfyui-ai`` and ``sentry-ai`` (generators absent from
  the training sources: Flux.2, Chroma, HiDream, Z-Image, Qwen-Image, AuraFlow, DeepFloyd IF runs, CogView2,
  StyleGAN3, ...) are **never trained on**: split ``unseen``.
* **Extra photo folders** (``--photos``, e.g. Debian's photo wallpapers): real.

Splits: every image goes to ``train`` (half), ``calibrate`` or ``test`` by a hash of its key
(:func:`tamperscope.train.photos.split_of`, the project's rule), whatever else is present.

Versions. Each image is seen as *versions*: ``clean`` (the file as stored), the robustness conditions
``jpeg:75`` and ``resize:0.5`` (exactly :func:`tamperscope.bench.perturb.apply`'s), and two training chains
``chain0``/``chain1`` drawn by :func:`save_chain` with the same distribution for real and AI images, so that
format, size and compression are never the cue (JPEG 60-100, resize 0.5-1.5, crop, a screenshot-like
re-encode).

Views per version: the global view, and 224x224 native crops: for evaluation versions the analysis-time boxes
(centre, then two more: :func:`eval_views`); for training chains two crops at random places.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..models import clip
from .photos import split_of

RECIPE = Path(__file__).resolve().parent / "aigen_recipe.csv"
#: Versions that evaluation reads (the robustness table's conditions) and the training chains.
EVAL_VERSIONS = ("clean", "jpeg:75", "resize:0.5")
TRAIN_VERSIONS = ("chain0", "chain1")
#: Earlier encoder blocks whose class and mean tokens are cached besides :data:`clip.LAST_BLOCK`'s, to compare
#: probe inputs (docs/benchmarks.md, "Probe input").
TAPS = (3, 5)
#: Patch tokens kept per training view, for the patch probe behind the map.
TOKENS_PER_VIEW = 16
#: Bump when views, chains or cached arrays change: it is part of every cache key.
FEATURE_VERSION = "aigen-features-5"

#: Dev sets: (folder, label column value, our label, group, cap on images, split override).
DEV_SETS = (
    ("exif-camera", "authentic", "real", "dev-exif-camera", None, None),
    ("casia1", "authentic", "real", "dev-casia1", 150, None),
    ("micc-f220", "authentic", "real", "dev-micc-f220", None, None),
    ("faces-gan-vs-real", "authentic", "real", "dev-faces-unsplash", 120, None),
    ("faces-gan-vs-real", "synthetic", "ai", "stylegan2-faces", 120, None),
    ("faces-real-lfw", "authentic", "real", "dev-faces-lfw", 80, None),
    ("faces-real-utkface", "authentic", "real", "dev-faces-utk", 80, None),
    ("comfyui-ai", "synthetic", "ai", "unseen-comfyui", None, "unseen"),
    ("sentry-ai", "synthetic", "ai", "unseen-sentry", None, "unseen"),
)
DECODABLE = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Sample:
    """One image: where it is, what it is, and which split it belongs to."""

    key: str
    path: Path
    label: str  # "ai" or "real"
    group: str  # generator or photo source
    split: str  # "train", "calibrate", "test" or "unseen"

    @property
    def y(self) -> int:
        return int(self.label == "ai")


def recipe_samples(corpus: Path, recipe: Path = RECIPE) -> tuple[list[Sample], list[str]]:
    """Samples of the recipe found under ``corpus`` (``owner+name/path``), and the entries missing there."""
    from .recipe import read_recipe

    found, missing = [], []
    for entry in read_recipe(recipe):
        path = corpus / entry.local_name
        if not path.is_file():
            missing.append(entry.local_name)
            continue
        key = f"{entry.repository}/{entry.path}"
        found.append(Sample(key, path, entry.label, entry.group, split_of(key)))
    return found, missing


def _capped(rows: list[dict], cap: int | None, folder: str) -> list[dict]:
    """At most ``cap`` rows, chosen by a hash of the path (the same rows whatever the order)."""
    if cap is None or len(rows) <= cap:
        return rows
    return sorted(rows, key=lambda r: hashlib.sha1(f"{folder}/{r['image_path']}".encode()).hexdigest())[:cap]


def dev_samples(data_root: Path) -> list[Sample]:
    """Samples of the development sets (:data:`DEV_SETS`) present under ``data_root``."""
    found = []
    for folder, wanted, label, group, cap, split in DEV_SETS:
        manifest = data_root / folder / "manifest.csv"
        if not manifest.is_file():
            continue
        with manifest.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("label") == wanted
                    and r["image_path"].lower().endswith(DECODABLE) and "thumb" not in (r.get("manipulation_type") or "").lower()
                    and "GIMP" not in (r.get("manipulation_type") or "")]
        for row in _capped(rows, cap, folder):
            key = f"{folder}/{row['image_path']}"
            path = data_root / folder / row["image_path"]
            if path.is_file():
                found.append(Sample(key, path, label, group, split or split_of(key)))
    return found


def folder_samples(folders: Iterable[Path], label: str = "real", min_side: int = 256) -> list[Sample]:
    """Images under ``folders`` (recursively) as ``label``; group = the folder's name."""
    from PIL import Image as PILImage

    found = []
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in DECODABLE and p.is_file()):
            try:
                with PILImage.open(path) as picture:
                    if min(picture.size) < min_side:
                        continue
            except Exception:  # noqa: BLE001 - an undecodable wallpaper is skipped, not fatal
                continue
            key = f"photos:{Path(folder).name}/{path.relative_to(folder)}"
            found.append(Sample(key, path, label, f"photos-{Path(folder).name}", split_of(key)))
    return found


# ----------------------------------------------------------------------------------------------------------
# Versions


def _encode(pixels: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    picture = PILImage.fromarray(pixels)
    if fmt == "JPEG":
        picture.save(buffer, format="JPEG", quality=int(quality), subsampling=2 if quality < 90 else 0)
    else:
        picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def save_chain(pixels: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random re-save, drawn the same way for real and AI images: the file bytes and a description.

    Steps: a crop keeping 60-100% of each side (p = 0.5); a resize by 0.5-1.5 (p = 0.5; area filter down,
    cubic up); then the last encode: JPEG at quality 60-100 (p = 0.6), a screenshot-like PNG (bilinear
    rescale by 0.5-1.0, as a display does, then lossless; p = 0.2) or a lossless PNG (p = 0.2).
    """
    steps = []
    height, width = pixels.shape[:2]
    if rng.random() < 0.5 and min(height, width) > 300:
        keep_h, keep_w = rng.uniform(0.6, 1.0, size=2)
        ch, cw = max(224, int(height * keep_h)), max(224, int(width * keep_w))
        top, left = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
        pixels = pixels[top : top + ch, left : left + cw]
        steps.append(f"crop:{cw}x{ch}")
    if rng.random() < 0.5:
        factor = float(rng.uniform(0.5, 1.5))
        h, w = pixels.shape[:2]
        size = (max(32, round(w * factor)), max(32, round(h * factor)))
        pixels = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
        steps.append(f"resize:{factor:.2f}")
    draw = rng.random()
    if draw < 0.6:
        quality = int(rng.integers(60, 101))
        steps.append(f"jpeg:{quality}")
        return _encode(np.ascontiguousarray(pixels), "JPEG", quality), "+".join(steps)
    if draw < 0.8:
        factor = float(rng.uniform(0.5, 1.0))
        h, w = pixels.shape[:2]
        pixels = cv2.resize(np.ascontiguousarray(pixels), (max(32, round(w * factor)), max(32, round(h * factor))),
                            interpolation=cv2.INTER_LINEAR)
        steps.append(f"screenshot:{factor:.2f}")
    else:
        steps.append("png")
    return _encode(np.ascontiguousarray(pixels), "PNG"), "+".join(steps)


def version_pixels(sample: Sample, version: str, seed: int = 0) -> tuple[np.ndarray, str, bytes | None]:
    """RGB pixels of one version of ``sample``, the chain that made it, and its file bytes (None for clean)."""
    from ..bench.perturb import apply
    from ..image import load

    if version == "clean":
        return load(sample.path).pixels, "clean", None
    if version in TRAIN_VERSIONS:
        rng = np.random.default_rng([seed, TRAIN_VERSIONS.index(version), int(hashlib.sha1(sample.key.encode()).hexdigest()[:12], 16)])
        data, description = save_chain(load(sample.path).pixels, rng)
    else:
        data, _, _ = apply(version, sample.path)
        description = version
    return load(data).pixels, description, data


def eval_views(pixels: np.ndarray, crops: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The analysis-time views: the global view, then ``crops`` native crops (:func:`tamperscope.models.clip.analysis_boxes`)."""
    boxes = clip.analysis_boxes(pixels.shape[:2], crops)
    return np.concatenate([clip.global_view(pixels)[None], clip.native_crops(pixels, boxes)]), boxes


#: Evaluation versions cache the global view and this many analysis crops (the thorough profile's).
EVAL_CROPS = 3
TRAIN_CROPS = 2


# ----------------------------------------------------------------------------------------------------------
# Cached features


def versions_for(sample: Sample) -> tuple[str, ...]:
    """Which versions of ``sample`` the trainer and the benchmark read (:func:`fit_versions` and more: every
    image of the test and unseen splits under each evaluation condition, and the AI images of the train split
    as stored for the leave-one-generator-out table; the CPU budget decides how many)."""
    if sample.split in ("unseen", "test"):
        return EVAL_VERSIONS
    if sample.label == "ai":  # clean: the leave-one-generator-out table scores every image of a held-out generator
        return {"train": ("clean",) + TRAIN_VERSIONS, "calibrate": ("clean",) + TRAIN_VERSIONS[:1]}[sample.split]
    return {"train": TRAIN_VERSIONS[:1], "calibrate": ("clean",) + TRAIN_VERSIONS[:1]}[sample.split]


def fit_versions(sample: Sample) -> tuple[str, ...]:
    """The versions that fitting reads (:func:`tamperscope.train.aigen.fit`): the train split's chains, the
    calibrate split as stored and re-saved once; the test and unseen splits are never read by training."""
    if sample.split == "train":
        return TRAIN_VERSIONS if sample.label == "ai" else TRAIN_VERSIONS[:1]
    if sample.split == "calibrate":
        return ("clean",) + TRAIN_VERSIONS[:1]
    return ()


def eval_crops(version: str) -> int:
    """Native crops cached for an evaluation version: the thorough profile's on ``clean``, the default's otherwise."""
    return EVAL_CROPS if version == "clean" else 1


def priority(sample: Sample, version: str) -> int:
    """Order of computation: what training needs first, then clean evaluation, then the held-apart and unseen
    images' perturbed conditions, then the rest."""
    if version in TRAIN_VERSIONS and sample.split == "train" or sample.split == "calibrate" and version in ("clean", "chain0"):
        return 0
    if version == "clean":
        return 1
    if version in EVAL_VERSIONS and sample.split in ("test", "unseen"):
        return 2
    return 3


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_path(cache: Path, digest: str, version: str, seed: int) -> Path:
    """Features of one version of one file: keyed by the file's SHA-256, the version and the view recipe."""
    tag = hashlib.sha1(f"{FEATURE_VERSION}|{version}|{seed}|{EVAL_CROPS}|{TRAIN_CROPS}|{TAPS}|{clip.LAST_BLOCK}".encode()).hexdigest()[:10]
    return cache / digest[:2] / f"{digest}-{version.replace(':', '')}-{tag}.npz"


def summarize(outputs: dict[str, np.ndarray], tokens: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per view: the class token and the mean patch token of the last block and of each tap (float16), and for
    training views the sampled patch tokens of the last block."""
    last = clip.LAST_BLOCK
    blocks = {last: outputs["hidden"], **{k: outputs[f"block{k}"] for k in TAPS if f"block{k}" in outputs}}
    found = {}
    for block, hidden in blocks.items():
        found[f"cls{block}"] = hidden[:, 0].astype(np.float16)
        found[f"mean{block}"] = hidden[:, 1:].mean(axis=1).astype(np.float16)
    if tokens is not None:
        found["token_index"] = tokens.astype(np.int16)
        found["tokens"] = np.take_along_axis(outputs["hidden"][:, 1:], tokens[..., None], axis=1).astype(np.float16)
    return found


def extract(sample: Sample, version: str, encoder, seed: int = 0) -> dict[str, np.ndarray]:
    """The views of one version of ``sample`` through ``encoder``, summarized (:func:`summarize`)."""
    pixels, description, data = version_pixels(sample, version, seed)
    rng = np.random.default_rng([seed, 7, int(hashlib.sha1(f"{sample.key}|{version}".encode()).hexdigest()[:12], 16)])
    if version in TRAIN_VERSIONS:
        boxes = clip.random_boxes(pixels.shape[:2], TRAIN_CROPS, rng)
        views = np.concatenate([clip.global_view(pixels)[None], clip.native_crops(pixels, boxes)])
        tokens = np.stack([rng.choice(clip.GRID * clip.GRID, TOKENS_PER_VIEW, replace=False) for _ in range(len(views))])
    else:
        views, boxes = eval_views(pixels, eval_crops(version))
        tokens = None
    outputs = encoder.encode(views)
    found = summarize(outputs, tokens)
    if tokens is None:  # evaluation versions keep every patch token: the map and its regional statistic
        found["tokens_all"] = outputs["hidden"][:, 1:].astype(np.float16)
    found["boxes"] = np.asarray(boxes, dtype=np.int32).reshape(-1, 4)
    found["shape"] = np.asarray(pixels.shape[:2], dtype=np.int32)
    found["chain"] = np.asarray(description)
    found["format"] = np.asarray("clean" if data is None else ("JPEG" if data[:2] == b"\xff\xd8" else "PNG"))
    found["bytes"] = np.asarray(len(data) if data is not None else sample.path.stat().st_size, dtype=np.int64)
    return found
