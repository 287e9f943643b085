"""Train the ``localizer`` detector's network on synthetic forgeries, on CPU, and export it to ONNX.

The recipe (also in ``src/tamperscope/models/README.md``):

1. **Data.** ``tamperscope synth`` makes ``count`` images (seed ``seed``, long
   side capped at 1024, kinds: the seven forgery kinds and two authentic
   controls per cycle) from the authentic photos of ``--photos``. Splits are by
   *source photo* (:func:`tamperscope.synth.split_of`, shares 0.7/0.15/0.15), so
   no photo of ``val`` or ``test`` is ever seen in training.
2. **Augmentation.** Each training image is used twice: as saved, and after
   one perturbation chain drawn from :data:`AUGMENTATIONS` (the social-media
   chain, JPEG recompression, resizing, light blur or noise followed by JPEG,
   WebP) with :func:`tamperscope.bench.perturb.apply`. From each version,
   ``crops`` crops of ``crop`` pixels aligned with the 8x8 grid (centred on the
   manipulated region with probability 0.7 when there is one).
3. **Network** (:class:`LocalizerNet`): see :mod:`tamperscope.detectors.localizer`.
   Loss: binary cross-entropy of the anomaly logits against the share of each
   8x8 block inside the mask, plus TruFor's confidence loss: the mean squared
   error between the confidence and the probability the anomaly head gave to
   the true class (detached).
4. **Optimiser.** AdamW (lr 2e-3, weight decay 1e-4), cosine decay over
   ``steps`` steps of ``batch`` crops, 2 torch threads; the constrained
   convolution is projected back after every step.
5. **Calibration.** On the ``val`` split's authentic images (as saved and
   after their chain), the pooled statistic's 99th percentile becomes the 0.5
   point of the score and their scaled MAD the logistic scale.
6. **Export.** ONNX opset 17 with dynamic height and width; the parity of
   torch and onnxruntime is checked on a fixed input and the largest
   difference written to the recipe.

Usage::

    tamperscope train localizer --photos ../shared/data/dev --seed 0 --out src/tamperscope/models

torch is needed here only (``pip install tamperscope[train]``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from ..detectors.localizer import BLOCK, N_INPUTS, feature_planes, pooled_score, predict_maps

#: Perturbation chains of the augmented copy of each training image; ``{q}`` is drawn in 60-95.
AUGMENTATIONS = ("social", "jpeg:{q}", "resize:0.75+jpeg:{q}", "resize:0.5+jpeg:{q}", "blur:0.6+jpeg:{q}",
                 "noise:2+jpeg:{q}", "webp:80", "social")
PHOTO_SETS = ("micc-f220", "casia1", "exif-camera")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
CALIBRATION_PERCENTILE = 99.0
#: Validation crops scored every ``VAL_EVERY`` steps for the training curve.
VAL_CROPS = 256
VAL_EVERY = 75


def authentic_photos(root: Path) -> list[Path]:
    """Authentic photos under ``root``: the rows labelled authentic of each set's manifest.csv, else every image."""
    found = []
    for folder in PHOTO_SETS:
        manifest = root / folder / "manifest.csv"
        if manifest.is_file():
            with manifest.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    path = root / folder / row["image_path"]
                    if row["label"] == "authentic" and path.suffix.lower() in PHOTO_SUFFIXES:
                        found.append(path)
    if not found:
        found = sorted(p for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    return found


def make_synthetic(photos: Path, work: Path, count: int, seed: int):
    from ..synth import ALL_KINDS, make_dataset

    kinds = [k for k in ALL_KINDS if k != "authentic"] + ["authentic"] * 2
    return make_dataset(authentic_photos(photos), work, count=count, seed=seed, size=1024, kinds=kinds,
                        overwrite=True)


# --------------------------------------------------------------------------
# Data


def versions(root: Path, sample, rng: np.random.Generator) -> list[tuple[str, bytes, np.ndarray | None]]:
    """(chain, file bytes, mask) of the image as saved and after one drawn augmentation chain."""
    from PIL import Image as PILImage

    from ..bench.perturb import apply

    data = (root / sample.image).read_bytes()
    mask = None
    if sample.mask:
        mask = np.asarray(PILImage.open(root / sample.mask).convert("L")) > 127
    chain = AUGMENTATIONS[int(rng.integers(len(AUGMENTATIONS)))].format(q=int(rng.integers(60, 96)))
    perturbed, moved, _ = apply(chain, data, mask, seed=int(rng.integers(2**31)))
    return [("clean", data, mask), (chain, perturbed, None if moved is None else moved > 0)]


def planes_of(data: bytes, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Feature planes (uint8-quantised for storage) and the per-block mask share (uint8 0..64)."""
    from ..image import load

    image = load(data)
    planes = feature_planes(image.pixels, image.jpeg)
    stored = np.empty(planes.shape, dtype=np.uint8)
    stored[:3] = np.round(planes[:3] * 255)
    stored[3] = np.round(planes[3] * 20)
    stored[4] = np.round(planes[4] * 64)
    h8, w8 = planes.shape[1:]
    blocks = np.zeros((h8 // BLOCK, w8 // BLOCK), dtype=np.uint8)
    if mask is not None:
        padded = np.zeros((h8, w8), dtype=np.uint8)
        padded[: mask.shape[0], : mask.shape[1]] = mask
        blocks = padded.reshape(h8 // BLOCK, BLOCK, w8 // BLOCK, BLOCK).sum(axis=(1, 3)).astype(np.uint8)
    return stored, blocks


def to_float(stored: np.ndarray) -> np.ndarray:
    out = stored.astype(np.float32)
    out[..., :3, :, :] /= 255
    out[..., 3, :, :] /= 20
    out[..., 4, :, :] /= 64
    return out


def random_crops(stored, blocks, size: int, count: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """Crops of ``size`` px starting on the 8x8 grid; centred on the mask with probability 0.7."""
    h, w = stored.shape[1:]
    if h < size or w < size:
        return []
    cells = size // BLOCK
    found = []
    positive = np.argwhere(blocks > 32)
    for _ in range(count):
        if len(positive) and rng.random() < 0.7:
            by, bx = positive[int(rng.integers(len(positive)))]
            by = int(np.clip(by - cells // 2 + rng.integers(-cells // 4, cells // 4 + 1), 0, h // BLOCK - cells))
            bx = int(np.clip(bx - cells // 2 + rng.integers(-cells // 4, cells // 4 + 1), 0, w // BLOCK - cells))
        else:
            by, bx = int(rng.integers(h // BLOCK - cells + 1)), int(rng.integers(w // BLOCK - cells + 1))
        found.append((stored[:, by * BLOCK : (by + cells) * BLOCK, bx * BLOCK : (bx + cells) * BLOCK].copy(),
                       blocks[by : by + cells, bx : bx + cells].copy()))
    return found


def build_crops(manifest, split: str, size: int, per_version: int, seed: int, log=print):
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(hash_split(split),)))
    inputs, targets = [], []
    samples = manifest.split(split)
    for index, sample in enumerate(samples):
        for _, data, mask in versions(manifest.root, sample, rng):
            stored, blocks = planes_of(data, mask)
            for crop, target in random_crops(stored, blocks, size, per_version, rng):
                inputs.append(crop)
                targets.append(target)
        if log and (index + 1) % 200 == 0:
            log(f"  {split}: {index + 1}/{len(samples)} images, {len(inputs)} crops")
    return np.stack(inputs), np.stack(targets)


def hash_split(split: str) -> int:
    return int(hashlib.sha256(split.encode()).hexdigest()[:8], 16)


# --------------------------------------------------------------------------
# The network (torch)


def build_net(width: int = 64, dilations: tuple[int, ...] = (1, 2, 4, 8, 2, 1)):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Residuals(nn.Module):
        """Fixed SRM filters and the learned constrained (Bayar) filters on the luminance, full resolution."""

        def __init__(self):
            super().__init__()
            srm = np.zeros((3, 1, 5, 5), dtype=np.float32)
            srm[0, 0] = np.array([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2],
                                  [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]) / 12
            srm[1, 0, 1:4, 1:4] = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4
            srm[2, 0, 2, 1:4] = np.array([1, -2, 1]) / 2
            self.register_buffer("srm", torch.from_numpy(srm))
            self.bayar = nn.Parameter(torch.rand(3, 1, 5, 5))
            self.project()

        @torch.no_grad()
        def project(self):
            """Bayar & Stamm's constraint: centre -1, the other 24 weights summing to 1."""
            w = self.bayar.data
            w[:, :, 2, 2] = 0
            total = w.sum(dim=(2, 3), keepdim=True)
            w /= torch.where(total.abs() < 1e-6, torch.full_like(total, 1e-6), total)
            w[:, :, 2, 2] = -1

        def forward(self, rgb):
            luma = (0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]) * 255
            srm = torch.clamp(F.conv2d(luma, self.srm, padding=2), -3, 3) / 3
            bayar = torch.clamp(F.conv2d(luma, self.bayar, padding=2), -8, 8) / 8
            return torch.cat([srm, bayar], dim=1)

    class Block(nn.Module):
        def __init__(self, dilation):
            super().__init__()
            self.conv = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False)
            self.norm = nn.BatchNorm2d(width)

        def forward(self, x):
            return F.relu(x + self.norm(self.conv(x)))

    class LocalizerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.residuals = Residuals()
            channels = (N_INPUTS + 6) * BLOCK * BLOCK
            self.stem = nn.Sequential(nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
            self.body = nn.Sequential(*[Block(d) for d in dilations])
            self.anomaly = nn.Conv2d(width, 1, 1)
            self.confidence = nn.Sequential(nn.Conv2d(width, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1))

        def forward(self, planes):
            rgb = planes[:, :3]
            x = torch.cat([rgb - 0.5, self.residuals(rgb), planes[:, 3:]], dim=1)
            x = self.body(self.stem(F.pixel_unshuffle(x, BLOCK)))
            return self.anomaly(x), self.confidence(x.detach())

    return LocalizerNet()


def losses(net, inputs, targets):
    import torch
    from torch.nn import functional as F

    anomaly, confidence = net(inputs)
    truth = targets.unsqueeze(1)
    bce = F.binary_cross_entropy_with_logits(anomaly, truth)
    probability = torch.sigmoid(anomaly).detach()
    true_class = truth * probability + (1 - truth) * (1 - probability)
    conf = F.mse_loss(torch.sigmoid(confidence), true_class)
    return bce, conf, anomaly


# --------------------------------------------------------------------------
# Training


def train(photos: Path, out: Path, work: Path, seed: int = 0, count: int = 1800, steps: int = 450,
          batch: int = 16, crop: int = 160, crops_per_version: int = 2, threads: int = 2, log=print) -> dict:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    from ..synth import Manifest

    if (work / "manifest.csv").is_file() and (work / "recipe.json").is_file() and \
            json.loads((work / "recipe.json").read_text())["seed"] == seed and \
            json.loads((work / "recipe.json").read_text())["images"] == count:
        manifest = Manifest.read(work)
        log(f"reusing the synthetic set in {work}")
    else:
        log(f"making {count} synthetic images in {work}")
        manifest = make_synthetic(photos, work, count, seed)
    write_split_manifests(manifest)
    data_s = time.perf_counter()
    train_x, train_y = build_crops(manifest, "train", crop, crops_per_version, seed, log)
    val_x, val_y = build_crops(manifest, "val", crop, 1, seed + 1, log)
    val_x, val_y = val_x[:VAL_CROPS], val_y[:VAL_CROPS]
    data_s = time.perf_counter() - data_s
    log(f"{len(train_x)} training crops, {len(val_x)} validation crops ({data_s:.0f} s)")

    net = build_net()
    parameters = sum(p.numel() for p in net.parameters())
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    rng = np.random.default_rng(seed)
    curve = []
    train_start = time.perf_counter()
    running = []
    for step in range(1, steps + 1):
        net.train()
        pick = rng.integers(len(train_x), size=batch)
        inputs = torch.from_numpy(to_float(train_x[pick]))
        targets = torch.from_numpy(train_y[pick].astype(np.float32) / (BLOCK * BLOCK))
        bce, conf, _ = losses(net, inputs, targets)
        optimiser.zero_grad()
        (bce + conf).backward()
        optimiser.step()
        schedule.step()
        net.residuals.project()
        running.append(float(bce))
        if step % VAL_EVERY == 0 or step == steps:
            point = {"step": step, "seconds": round(time.perf_counter() - train_start, 1),
                     "train_bce": round(float(np.mean(running)), 4), **validate(net, val_x, val_y)}
            running = []
            curve.append(point)
            log(json.dumps(point))
    train_s = time.perf_counter() - train_start

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "localizer.onnx"
    parity = export(net, model_path)
    save_state(net, out / "localizer-weights.npz")
    calibration = calibrate(manifest, model_path, seed, log)
    recipe = {
        "command": f"tamperscope train localizer --photos PHOTOS --seed {seed} --out {out}",
        "seed": seed,
        "synthetic": {"count": count, "size": 1024, "split": [0.7, 0.15, 0.15],
                      "kinds": "7 forgery kinds + 2 authentic per cycle",
                      "images_per_split": {s: len(manifest.split(s)) for s in ("train", "val", "test")},
                      "photos": len(authentic_photos(photos))},
        "augmentations": list(AUGMENTATIONS),
        "crop": crop, "crops_per_version": crops_per_version, "train_crops": int(len(train_x)),
        "steps": steps, "batch": batch, "threads": threads, "parameters": int(parameters),
        "data_seconds": round(data_s, 1), "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "onnx_max_abs_diff": parity,
        "torch": torch.__version__,
    }
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    (out / "localizer.json").write_text(json.dumps(
        {**calibration, "model_sha256": digest, "recipe": recipe, "curve": curve}, indent=1) + "\n")
    return {**recipe, **calibration, "model_sha256": digest}


def write_split_manifests(manifest) -> None:
    """``val.csv`` and ``test.csv`` beside the set, for ``tamperscope bench --dataset csv:...`` (held-apart splits)."""
    for split in ("val", "test"):
        with (manifest.root / f"{split}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["image", "mask", "label", "kind", "split"])
            for s in manifest.split(split):
                writer.writerow([s.image, s.mask, s.label, s.kind, s.split])


def validate(net, val_x, val_y) -> dict:
    import torch

    net.eval()
    bce_sum, f1s = 0.0, []
    with torch.no_grad():
        for start in range(0, len(val_x), 32):
            inputs = torch.from_numpy(to_float(val_x[start : start + 32]))
            targets = torch.from_numpy(val_y[start : start + 32].astype(np.float32) / (BLOCK * BLOCK))
            bce, _, anomaly = losses(net, inputs, targets)
            bce_sum += float(bce) * len(inputs)
            heat = torch.sigmoid(anomaly)[:, 0].numpy()
            for h, t in zip(heat, targets.numpy() > 0.5):
                if t.any():
                    f1s.append(_f1_best(h, t))
    return {"val_bce": round(bce_sum / len(val_x), 4), "val_block_f1_best": round(float(np.mean(f1s)), 4)}


def _f1_best(heat: np.ndarray, truth: np.ndarray) -> float:
    best = 0.0
    for threshold in np.quantile(heat, np.linspace(0.02, 0.98, 25)):
        pred = heat > threshold
        tp = np.sum(pred & truth)
        best = max(best, 2 * tp / max(pred.sum() + truth.sum(), 1))
    return float(best)


def export(net, path: Path) -> float:
    """Write ONNX and return the largest |torch - onnxruntime| over both outputs on a fixed input."""
    import torch

    from .export import export_onnx, onnx_parity

    probe = fixed_input()
    export_onnx(net, (torch.from_numpy(probe),), path, input_names=["planes"], output_names=["anomaly", "confidence"],
                dynamic_axes={"planes": {2: "height", 3: "width"}})
    return onnx_parity(net, path, {"planes": probe})


def save_state(net, path: Path) -> None:
    """The torch weights as float32 arrays (about 1.2 MB), for the torch-versus-ONNX parity test."""
    np.savez_compressed(path, **{name: tensor.detach().numpy() for name, tensor in net.state_dict().items()})


def load_state(net, path: Path):
    import torch

    with np.load(path) as stored:
        net.load_state_dict({name: torch.from_numpy(stored[name]) for name in stored.files})
    return net.eval()


def fixed_input(height: int = 96, width: int = 128) -> np.ndarray:
    """A deterministic input for the parity check: smooth RGB, sparse DCT plane, an IJG-like table."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = np.zeros((1, N_INPUTS, height, width), dtype=np.float32)
    planes[0, 0] = 0.5 + 0.4 * np.sin(xx / 7)
    planes[0, 1] = 0.5 + 0.4 * np.cos(yy / 5)
    planes[0, 2] = ((xx + yy) % 17) / 17
    planes[0, 3] = ((xx * 3 + yy * 5) % 11 == 0) * ((xx % 8 + yy % 8) / 14)
    planes[0, 4] = np.minimum(8 + (xx % 8) * 3 + (yy % 8) * 3, 64) / 64
    return planes


def calibrate(manifest, model_path: Path, seed: int, log=print) -> dict:
    """0.5 of the score = the 99th percentile of the pooled statistic on val authentic images (both versions)."""
    from ..image import load

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(hash_split("calibrate"),)))
    stats = []
    for sample in manifest.split("val"):
        if sample.label != "authentic":
            continue
        for _, data, _ in versions(manifest.root, sample, rng):
            image = load(data)
            stats.append(pooled_score(*predict_maps(image.pixels, image.jpeg, model=model_path)))
    stats = np.asarray(stats)
    threshold = float(np.percentile(stats, CALIBRATION_PERCENTILE))
    scale = float(max(1.4826 * np.median(np.abs(stats - np.median(stats))), 1e-3))
    log(f"calibration on {stats.size} authentic val images: threshold {threshold:.4f}, scale {scale:.4f}")
    return {"threshold": threshold, "scale": scale, "calibration_images": int(stats.size),
            "calibration_percentile": CALIBRATION_PERCENTILE}


def plot_curve(calibration_json: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = json.loads(calibration_json.read_text())["curve"]
    steps = [p["step"] for p in curve]
    fig, left = plt.subplots(figsize=(6, 3.5))
    left.plot(steps, [p["train_bce"] for p in curve], label="train BCE")
    left.plot(steps, [p["val_bce"] for p in curve], label="val BCE")
    left.set_xlabel("step")
    left.set_ylabel("BCE")
    right = left.twinx()
    right.plot(steps, [p["val_block_f1_best"] for p in curve], color="tab:green", label="val block F1-best")
    right.set_ylabel("F1")
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


if __name__ == "__main__":  # pragma: no cover
    import sys

    train(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), steps=int(sys.argv[4]) if len(sys.argv) > 4 else 1200)
