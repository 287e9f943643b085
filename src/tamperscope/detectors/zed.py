"""Zero-shot coding-cost detector of generated images (in the spirit of ZED).

D. Cozzolino, G. Poggi, M. Niessner, L. Verdoliva, "Zero-Shot Detection of
AI-Generated Images", ECCV 2024.

Method
------
ZED trains a lossless image coder on real photographs only. For a test image
it compares the coder's actual cost of each pixel (the negative log-likelihood
of its value, ``NLL``) with the cost the coder *expected* for that pixel (the
entropy ``H`` of its predicted distribution). On real photos the two agree on
average; generated images are more predictable than the model of real photos
expects, so the "surprise" ``D = mean(NLL - H)`` is negative. ZED uses a deep
multi-resolution coder (SReC); ours is a classic causal-context coder small
enough to train by counting on a CPU in a minute, with the same statistic:

*Coder.* Luma is rounded to 8 bits. Each pixel ``x`` is predicted from its
causal neighbours W, N, NW by the median edge detector of LOCO-I / JPEG-LS
(Weinberger, Seroussi, Sapiro 2000). Its context is the JPEG-LS context: the
three local gradients NE-N, N-NW, NW-W, each quantized to 9 levels
(thresholds 3, 7, 21) and merged by sign symmetry into 365 contexts. For each
context the model holds the histogram of the prediction residual
``x - prediction`` (511 values) counted on real photos, smoothed by adding
``alpha`` to every bin: ``p(e | context)``.

*Levels.* As ZED codes several resolutions, the model has a second table for
level 1: the image averaged over 2x2 blocks. ``D0`` and ``D1`` are the
surprises at the two levels, ``D0 - D1`` their slope (ZED's best single
features are ``D0`` and the slope).

*Decision.* The statistic is ``-D0`` in bits per pixel. Its 99th percentile
and robust spread on real photos held out from training (calibration split)
are stored with the model; ``facts["ai_score"]`` is a logistic with 0.5 at that
percentile, so about 1 % of authentic photos like those score >= 0.5. The
heatmap is ``-D0`` averaged over 32x32 blocks, through the same logistic (an
illustration: a block's average is noisier than the image's).

The model is ``tamperscope/models/zed.npz`` (counts, calibration, the training
recipe); ``python -m tamperscope.train.zed`` rebuilds it (see
``tamperscope/models/README.md``).

*Not deciding.* At matched size and format (central 256x256 crops of generated
and real images re-saved alike) this statistic separated generated images from
real photos no better than chance, and real portraits scored *higher* than
StyleGAN2 faces (docs/benchmarks.md, "AI-image signal detectors"). So the
detector gives its map and ``facts["ai_score"]`` for a reader and for the
verdict-class layer, and no score (``decides = False``).

Limits
------
The model knows the photos it was trained on: mostly JPEG photos from
cameras and the CASIA v1 / MICC-F220 sets. Heavy JPEG, denoising or
down-scaling make a real photo more predictable, and added noise makes a
generated one less. A 365-context coder is far weaker than ZED's network, so
expect a weaker detector than the paper's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import cv2
import numpy as np

from ..image import Image
from .registry import register
from ._crop import central_crop, crop_origin, logistic
from .base import Detector, Finding, NotApplicable

#: Residuals x - prediction take 511 values.
N_RESIDUALS = 511
#: JPEG-LS gradient quantization thresholds T1, T2, T3 for 8-bit samples.
_THRESHOLDS = (3, 7, 21)


def _quantize(g: np.ndarray) -> np.ndarray:
    t1, t2, t3 = _THRESHOLDS
    a = np.abs(g)
    q = np.where(a == 0, 0, np.where(a < t1, 1, np.where(a < t2, 2, np.where(a < t3, 3, 4))))
    return (np.sign(g) * q).astype(np.int16)


def _context_table() -> tuple[np.ndarray, np.ndarray]:
    """For each of 729 raw gradient codes, its merged context (0..364) and its sign (+1/-1)."""
    ids = np.full(729, -1, dtype=np.int16)
    signs = np.ones(729, dtype=np.int8)
    next_id = 0
    for code in range(729):
        q = (code // 81 - 4, code // 9 % 9 - 4, code % 9 - 4)
        negative = next((v < 0 for v in q if v != 0), False)
        if negative:
            signs[code] = -1
            continue
        ids[code] = next_id
        next_id += 1
    for code in range(729):
        if signs[code] < 0:
            q = (code // 81 - 4, code // 9 % 9 - 4, code % 9 - 4)
            ids[code] = ids[(-q[0] + 4) * 81 + (-q[1] + 4) * 9 + (-q[2] + 4)]
    return ids, signs


CONTEXT_IDS, CONTEXT_SIGNS = _context_table()
N_CONTEXTS = int(CONTEXT_IDS.max()) + 1


def contexts_and_residuals(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Context (0..364) and sign-folded residual index (0..510) of every pixel with a full causal neighbourhood.

    ``plane`` is a 2-D uint8 image; the first row and the first and last
    columns have no full neighbourhood and are skipped, so both outputs have
    shape ``(h - 1, w - 2)``.
    """
    x = plane.astype(np.int16)
    cur = x[1:, 1:-1]
    a, b, c, d = x[1:, :-2], x[:-1, 1:-1], x[:-1, :-2], x[:-1, 2:]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    prediction = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
    code = (_quantize(d - b) + 4) * 81 + (_quantize(b - c) + 4) * 9 + (_quantize(c - a) + 4)
    residual = (cur - prediction) * CONTEXT_SIGNS[code]
    return CONTEXT_IDS[code], (residual + 255).astype(np.int16)


def level_planes(luma: np.ndarray) -> list[np.ndarray]:
    """Level 0 (luma rounded to 8 bits) and level 1 (2x2 block means of luma, rounded)."""
    y = np.asarray(luma, dtype=np.float32)
    h, w = y.shape[0] // 2 * 2, y.shape[1] // 2 * 2
    half = cv2.resize(y[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, half)]


def count_histograms(plane: np.ndarray) -> np.ndarray:
    """Residual counts per context, ``(365, 511)`` int64: what training accumulates."""
    ctx, res = contexts_and_residuals(plane)
    flat = ctx.astype(np.int64).ravel() * N_RESIDUALS + res.ravel()
    return np.bincount(flat, minlength=N_CONTEXTS * N_RESIDUALS).reshape(N_CONTEXTS, N_RESIDUALS)


@dataclass(frozen=True)
class CodingModel:
    """Per level: log2 probabilities ``(365, 511)`` and entropies ``(365,)``; plus the calibration."""

    log2p: tuple[np.ndarray, ...]
    entropy: tuple[np.ndarray, ...]
    threshold: float
    scale: float
    recipe: str

    @classmethod
    def from_counts(cls, counts: np.ndarray, alpha: float, threshold: float, scale: float, recipe: str) -> CodingModel:
        log2p, entropy = [], []
        for level in counts:
            p = (level + alpha) / (level.sum(axis=1, keepdims=True) + alpha * N_RESIDUALS)
            lp = np.log2(p)
            log2p.append(lp.astype(np.float32))
            entropy.append((-(p * lp).sum(axis=1)).astype(np.float32))
        return cls(tuple(log2p), tuple(entropy), float(threshold), float(scale), recipe)

    def surprise_map(self, plane: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``NLL - H`` and ``NLL`` in bits, shape ``(h - 1, w - 2)``."""
        ctx, res = contexts_and_residuals(plane)
        nll = -self.log2p[level][ctx, res]
        return nll - self.entropy[level][ctx], nll


@functools.lru_cache(maxsize=1)
def load_model() -> CodingModel:
    """The committed model ``tamperscope/models/zed.npz``."""
    with resources.files("tamperscope.models").joinpath("zed.npz").open("rb") as handle:
        data = np.load(handle, allow_pickle=False)
        counts = data["counts"]
        return CodingModel.from_counts(
            counts, float(data["alpha"]), float(data["threshold"]), float(data["scale"]), str(data["recipe"])
        )


def surprises(luma: np.ndarray, model: CodingModel) -> dict[str, float | np.ndarray]:
    """``D0``, ``D1`` (bits/pixel), level-0 coding cost and the level-0 surprise map."""
    planes = level_planes(luma)
    d0_map, nll0 = model.surprise_map(planes[0], 0)
    d1_map, _ = model.surprise_map(planes[1], 1)
    return {"d0": float(d0_map.mean()), "d1": float(d1_map.mean()), "bpp": float(nll0.mean()), "map": d0_map}



@register
@dataclass
class CodingSurprise(Detector):
    """Generated images are more predictable than a coder of real photos expects (after ZED, ECCV 2024).

    Parameters
    ----------
    block : int
        Side of the heatmap's blocks in pixels.
    max_side : int
        Larger images are analysed on their central crop of this side.
    """

    block: int = 32
    max_side: int = 2048

    name: ClassVar[str] = "zed"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "D. Cozzolino, G. Poggi, M. Niessner, L. Verdoliva, 'Zero-Shot Detection of AI-Generated Images', ECCV 2024"
    )
    summary: ClassVar[str] = "pixels more predictable than a lossless coder trained on real photos expects"
    title: ClassVar[str] = "Coding surprise (AI generation)"
    trace: ClassVar[str] = "is more predictable than real photos are"
    indicates: ClassVar[str] = "ai-generated"
    #: Measured near chance at matched format (docs/benchmarks.md, "AI-image signal detectors"): no decision.
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        if min(h, w) < 64:
            raise NotApplicable(f"the image ({w}x{h}) is too small: the coding cost needs at least 64x64 pixels")
        luma, notes = central_crop(image.luminance(), self.max_side)
        if float(luma.std()) < 0.5:
            raise NotApplicable("the image is uniform: its coding cost says nothing about its origin")
        model = load_model()
        s = surprises(luma, model)
        statistic = -s["d0"]
        score = float(logistic(statistic, model.threshold, model.scale))
        facts = {
            "d0": round(s["d0"], 4),
            "d1": round(s["d1"], 4),
            "slope": round(s["d0"] - s["d1"], 4),
            "bits_per_pixel": round(s["bpp"], 3),
            "threshold": round(model.threshold, 4),
            "ai_score": round(score, 4),
        }
        notes.append(
            f"Coding the luma costs {s['bpp']:.2f} bits/pixel, {s['d0']:+.3f} bits/pixel against what a coder of "
            f"real photos expected (in 99% of held-out real photos the surprise is above {-model.threshold:+.3f})."
        )
        if image.format == "JPEG" and image.jpeg is not None and (image.jpeg.quality or 100) < 80:
            notes.append("Strong JPEG compression makes real photos more predictable too.")
        heatmap = self._block_map(-s["map"], model, (h, w), luma.shape)
        return Finding(score=None, heatmap=heatmap, stride=self.block, notes=notes, facts=facts)

    def _block_map(self, values: np.ndarray, model: CodingModel, shape, cropped) -> np.ndarray:
        b = self.block
        # The surprise map starts at row 1, column 1 of the (cropped) image.
        full = np.zeros(cropped, dtype=np.float32)
        full[1:, 1:-1] = values
        ny, nx = cropped[0] // b, cropped[1] // b
        means = full[: ny * b, : nx * b].reshape(ny, b, nx, b).mean(axis=(1, 3))
        heat = np.zeros((-(-shape[0] // b), -(-shape[1] // b)), dtype=np.float32)
        top, left = (o // b for o in crop_origin(shape, cropped))
        heat[top : top + ny, left : left + nx] = logistic(means, model.threshold, model.scale)
        return heat
