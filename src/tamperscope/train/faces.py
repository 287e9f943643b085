"""Train the face-swap network on real faces only, with self-blended images.

K. Shiohara and T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022; L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020.

Data recipe: every authentic image of the given folders (rows labelled
``authentic`` of a ``manifest.csv`` when there is one, else every JPEG/PNG
under the folder) is decoded by tamperscope's loader; the largest frontal face
:func:`tamperscope.faces.find.find_faces` finds is cropped as at analysis time
(:func:`~tamperscope.faces.find.face_crop`, 128x128); images without a
judgeable face are skipped. Each face goes to one split by
``sha1(folder/identity) mod 4`` (0-1 train, 2 calibrate, 3 test), where the
identity is the file stem without an LFW-style ``_0001`` suffix, so one
person's photos never straddle splits.

Training: every batch is half real crops and half self-blends of other real
crops (:func:`tamperscope.faces.blend.self_blend`), both through the same
random resampling and JPEG and a random mirror. Loss: binary cross-entropy of
the swap logit plus ``BOUNDARY_WEIGHT`` x the per-pixel binary cross-entropy
of the 32x32 boundary map against ``4 M (1 - M)``. AdamW, cosine learning rate,
a fixed number of steps and a seed: the same faces and seed give the same
weights on the same torch build.

Calibration: ``threshold`` is the 99th percentile of the swap logit over the
calibrate split's real faces, ``scale`` their MAD x 1.4826 (the score is
``sigmoid((logit - threshold) / scale)``). The test split gives the AUC of
real faces against their own self-blends, clean, after JPEG 75 and after a
0.5 resize.

Usage (torch and onnx come with the ``train`` extra; analysis needs neither)::

    tamperscope train faces --faces ../shared/data/dev/faces-real-utkface \
        --faces ../shared/data/dev/faces-real-lfw --out src/tamperscope/models/faceswap.onnx
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..faces.blend import degrade, self_blend
from ..faces.find import find_faces, face_crop
from ..faces.model import CROP_SIZE, normalise

SPLITS = ("train", "train", "calibrate", "test")
BOUNDARY_SIZE = 32
BOUNDARY_WEIGHT = 5.0
CALIBRATION_PERCENTILE = 99.0
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class FaceSet:
    crops: np.ndarray  # (n, 128, 128, 3) uint8
    rolls: np.ndarray  # (n,) degrees
    splits: np.ndarray  # (n,) str
    per_folder: dict

    def of(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = self.splits == split
        return self.crops[chosen], self.rolls[chosen]


def identity_key(folder: Path, path: Path) -> str:
    identity = re.sub(r"_\d{4}$", "", path.stem)
    return f"{folder.name}/{identity}"


def split_of(key: str) -> str:
    return SPLITS[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(SPLITS)]


def real_images(folder: Path) -> list[Path]:
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            return [folder / row["image_path"] for row in csv.DictReader(handle) if row.get("label") == "authentic"]
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def collect(folders: list[Path], limit_per_folder: int | None = None, only: tuple[str, ...] = SPLITS,
            cache: Path | None = None, log=print) -> FaceSet:
    """Face crops of the real images in ``folders`` whose split is in ``only``.

    ``cache``: an .npz file keeping the crops between runs (finding faces is the slow part); it is
    reused only when it was made from the same folders, limit and splits.
    """
    signature = json.dumps([[str(f.resolve()) for f in folders], limit_per_folder, list(only)])
    if cache is not None and cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if str(stored["signature"]) == signature:
            return FaceSet(stored["crops"], stored["rolls"], stored["splits"], json.loads(str(stored["per_folder"])))
    faces = _find_crops(folders, limit_per_folder, only, log)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, crops=faces.crops, rolls=faces.rolls, splits=faces.splits,
                 per_folder=json.dumps(faces.per_folder), signature=signature)
    return faces


def _find_crops(folders: list[Path], limit_per_folder: int | None, only: tuple[str, ...], log) -> FaceSet:
    from ..image import load

    crops, rolls, splits, per_folder = [], [], [], {}
    for folder in folders:
        found = 0
        for path in real_images(folder)[:limit_per_folder]:
            if split_of(identity_key(folder, path)) not in only:
                continue
            try:
                pixels = load(path).pixels
            except Exception:  # an unreadable file is skipped, not fatal to training
                continue
            faces = [f for f in find_faces(pixels) if not f.too_small]
            if not faces:
                continue
            crops.append(face_crop(pixels, faces[0], CROP_SIZE))
            rolls.append(faces[0].roll_deg)
            splits.append(split_of(identity_key(folder, path)))
            found += 1
            if found % 500 == 0:
                log(f"{folder.name}: {found} faces so far")
        per_folder[folder.name] = found
    if not crops:
        raise InputError(f"no judgeable face in {', '.join(map(str, folders))}")
    return FaceSet(np.stack(crops), np.asarray(rolls, np.float32), np.asarray(splits), per_folder)


def build_network():
    """A compact two-headed CNN (about 0.6 M parameters)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class FaceSwapNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(block(3, 16, 2), block(16, 24, 1))  # 64x64
            self.mid = nn.Sequential(block(24, 48, 2), block(48, 48, 1))  # 32x32
            self.deep = nn.Sequential(block(48, 96, 2), block(96, 96, 1))  # 16x16
            self.top = nn.Sequential(block(96, 160, 2), block(160, 160, 1))  # 8x8
            self.boundary = nn.Sequential(block(48 + 96, 48, 1), nn.Conv2d(48, 1, 3, 1, 1))
            self.classify = nn.Linear(320, 1)

        def forward(self, x):
            mid = self.mid(self.stem(x))
            deep = self.deep(mid)
            top = self.top(deep)
            up = F.interpolate(deep, scale_factor=2.0, mode="bilinear", align_corners=False)
            boundary = self.boundary(torch.cat([mid, up], 1))[:, 0]
            pooled = torch.cat([top.mean((2, 3)), top.amax((2, 3))], 1)
            return self.classify(pooled)[:, 0], boundary

    return FaceSwapNet()


def make_batch(crops, rolls, batch: int, rng: np.random.Generator):
    """Half real, half self-blended crops with their labels and boundary targets."""
    images, labels, targets = [], [], []
    picks = rng.integers(0, len(crops), batch)
    for i, pick in enumerate(picks):
        face = crops[pick]
        if i % 2:
            image, edge = self_blend(face, rng, float(rolls[pick]))
        else:
            image, edge = face, np.zeros(face.shape[:2], np.float32)
        image = degrade(image, rng)
        if rng.random() < 0.5:
            image, edge = image[:, ::-1], edge[:, ::-1]
        images.append(np.ascontiguousarray(image))
        labels.append(float(i % 2))
        targets.append(cv2.resize(np.ascontiguousarray(edge), (BOUNDARY_SIZE, BOUNDARY_SIZE), interpolation=cv2.INTER_AREA))
    return normalise(np.stack(images)), np.asarray(labels, np.float32), np.stack(targets).astype(np.float32)


def fit(net, crops, rolls, steps: int, batch: int, seed: int, lr: float, log=print):
    import torch
    from torch.nn import functional as F

    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    net.train()
    start = time.perf_counter()
    for step in range(steps):
        x, y, edge = make_batch(crops, rolls, batch, rng)
        logit, boundary = net(torch.from_numpy(x))
        loss_class = F.binary_cross_entropy_with_logits(logit, torch.from_numpy(y))
        loss_edge = F.binary_cross_entropy_with_logits(boundary, torch.from_numpy(edge))
        loss = loss_class + BOUNDARY_WEIGHT * loss_edge
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 25 == 0 or step == steps - 1:
            log(f"step {step}/{steps} loss {loss_class.item():.3f} + {BOUNDARY_WEIGHT} x {loss_edge.item():.4f} "
                f"({time.perf_counter() - start:.0f} s)")
    net.eval()
    return net


def predict(net, crops: np.ndarray, chunk: int = 128) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for begin in range(0, len(crops), chunk):
            out.append(net(torch.from_numpy(normalise(crops[begin: begin + chunk])))[0].numpy())
    return np.concatenate(out).astype(np.float64)


def auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([negatives, positives]))
    n, p = len(negatives), len(positives)
    return float((ranks[n:].sum() - p * (p + 1) / 2) / (n * p))


def perturb_crop(crop: np.ndarray, how: str) -> np.ndarray:
    if how == "jpeg75":
        ok, data = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()
    if how == "resize0.5":
        half = cv2.resize(crop, (CROP_SIZE // 2, CROP_SIZE // 2), interpolation=cv2.INTER_AREA)
        return cv2.resize(half, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    return crop


def held_apart_aucs(logits_of, crops, rolls, seed: int) -> dict:
    """AUC of real test faces against self-blends of the same faces, clean and perturbed."""
    rng = np.random.default_rng(seed + 1)
    blends = np.stack([self_blend(c, rng, float(r))[0] for c, r in zip(crops, rolls)])
    result = {}
    for how in ("clean", "jpeg75", "resize0.5"):
        real = np.stack([perturb_crop(c, how) for c in crops])
        fake = np.stack([perturb_crop(c, how) for c in blends])
        result[how] = round(auc(logits_of(real), logits_of(fake)), 4)
    return result


def export(net, out: Path, metadata: dict) -> str:
    import torch

    from .export import export_onnx

    dummy = torch.zeros(1, 3, CROP_SIZE, CROP_SIZE)
    return export_onnx(net, (dummy,), out, input_names=["face"], output_names=["logit", "boundary"],
                       dynamic_axes={"face": {0: "n"}, "logit": {0: "n"}, "boundary": {0: "n"}}, metadata=metadata)


def train(folders: list[Path], out: Path, steps: int = 400, batch: int = 32, seed: int = 0, lr: float = 3e-3,
          threads: int = 2, limit_per_folder: int | None = None, cache: Path | None = None, log=print) -> dict:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    began = time.perf_counter()
    faces = collect(folders, limit_per_folder, cache=cache, log=log)
    log(f"faces per folder: {faces.per_folder}; splits: "
        f"{ {s: int((faces.splits == s).sum()) for s in ('train', 'calibrate', 'test')} }")
    train_crops, train_rolls = faces.of("train")
    net = fit(build_network(), train_crops, train_rolls, steps, batch, seed, lr, log)
    calibration = predict(net, faces.of("calibrate")[0])
    threshold = float(np.percentile(calibration, CALIBRATION_PERCENTILE))
    scale = float(max(1.4826 * np.median(np.abs(calibration - np.median(calibration))), 0.05))
    test_crops, test_rolls = faces.of("test")
    aucs = held_apart_aucs(lambda c: predict(net, c), test_crops, test_rolls, seed)
    recipe = {
        "command": "tamperscope train faces " + " ".join(f"--faces {f}" for f in folders)
        + f" --out {out} --steps {steps} --batch {batch} --seed {seed} --lr {lr}",
        "faces_per_folder": faces.per_folder,
        "split": "sha1(folder/identity) mod 4: 0,1 train; 2 calibrate; 3 test (tamperscope.train.faces)",
        "split_counts": {s: int((faces.splits == s).sum()) for s in ("train", "calibrate", "test")},
        "steps": steps, "batch": batch, "seed": seed, "lr": lr, "threads": threads,
        "boundary_weight": BOUNDARY_WEIGHT,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "calibration_percentile": CALIBRATION_PERCENTILE,
        "held_apart_self_blend_auc": aucs,
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - began, 1),
    }
    export(net, out, {"threshold": repr(threshold), "scale": repr(scale), "recipe": json.dumps(recipe, sort_keys=True)})
    return {**recipe, "threshold": threshold, "scale": scale}
