"""AI-generated images from the pixels: a probe on frozen CLIP features, calibrated, with a coarse patch map.

U. Ojha, Y. Li, Y. J. Lee, "Towards universal fake image detectors that
generalize across generative models", CVPR 2023 (UnivFD: a linear probe on
frozen CLIP features generalizes across generators); D. Cozzolino, G. Poggi,
R. Corvi, M. Niessner, L. Verdoliva, "Raising the bar of AI-generated image
detection with CLIP", CVPRW 2024 (a linear probe trained on few images,
robust to compression, crops at native resolution).

Method
------
*Views.* The image is shown to the frozen image tower of OpenAI CLIP
ViT-B/16 (:mod:`tamperscope.models.clip`) as one global view (short side
resized to 224, centre crop) and ``crops`` 224x224 crops at native
resolution (centre first, then spread over the image); never resized, since
generation traces live in fine detail that resizing destroys.

*Probe.* Two logistic regressions on the standardised features, one for the
global view and one for native crops, trained by ``tamperscope train aigen``
on real photos and AI images of many generators, every image re-saved by the
same random chain (JPEG 60-100, resize 0.5-1.5, crop, screenshot-like
re-encode) so that format and size are not the cue. The image logit is an
affine blend of the global logit and the mean crop logit, fitted on held-out
images (Platt scaling): ``p_even`` is P(ai-generated) for a population with
as many AI images as real ones.

*Decision and score.* The threshold is the probability that at most 2% of
real photos held apart from the probes' fit (the calibrate split, each as
stored and after one random re-save of the training chains' kind) exceed;
the test split, used for nothing else, measures how that holds
(docs/benchmarks.md). The score is the same probability at the
prior ``prior`` at which that threshold is exactly 0.5:
``score = sigmoid(logit(p_even) - logit(threshold))``, a calibrated
P(ai-generated) for a population where a fraction ``prior`` of images are AI
images, and 0.5 = the decision, as for every deciding detector. ``facts``
carry both probabilities (``p_ai_generated``, ``p_ai_generated_even_prior``)
and the prior.

*Map and ai-edited.* A third logistic regression scores single patch tokens
of the encoder's 8th block, the same the view probes read (one per 16x16 pixels
of a crop); each token's logit is
averaged with its 3x3 neighbours and placed in the image: a coarse map (stride 16; ``confidence`` is 1 where a crop saw the
image, 0 elsewhere). The regional statistic is the mean of the 10% highest
patch probabilities minus the median patch probability: a concentration in
one region of an otherwise real-looking image. When the image probability
stays below the threshold and the statistic passes its own threshold (at
most 1% of held-apart real photos above it), the finding indicates
``ai-edited`` and its score is the statistic on the same 0.5-at-threshold
scale.

Limits
------
A probe learns what its training generators share with each other and not
with real photos; a generator unlike all of them can pass as real (the
leave-one-generator-out table in docs/benchmarks.md says how often). Heavy
re-compression and downscaling erase the fine detail the crops read; images
under :data:`MIN_SIDE` pixels a side are not judged; non-photographic real
images (drawings, renders, screenshots of text) are outside the real photos
it was calibrated on. The map is coarse (16 px cells), covers only the
crops, and its ai-edited rule was checked on pasted AI regions, not on real
inpainting.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

PROBE_PATH = Path(__file__).resolve().parent.parent / "models" / "aigen.npz"
#: Below this many pixels on the short side there is too little detail to judge.
MIN_SIDE = 96
#: Share of the highest patch probabilities whose mean, less the median, is the regional statistic.
TOP_SHARE = 0.10


@dataclasses.dataclass(frozen=True)
class Probe:
    """The trained probe (``models/aigen.npz``), weights with the standardisation folded in."""

    feature: str
    global_w: np.ndarray
    global_b: float
    crop_w: np.ndarray
    crop_b: float
    patch_w: np.ndarray
    patch_b: float
    #: Per crop count k (row k - 1): the blend (a, b, c) of z = a * global logit + b * mean crop logit + c.
    blend: np.ndarray
    #: Per crop count: the even-prior probability of the 2% false-alarm decision.
    threshold: np.ndarray
    #: Per crop count: the regional statistic's threshold (1% false alarms) and its logistic scale.
    edit_threshold: np.ndarray
    edit_scale: np.ndarray
    #: The map's cell calibration: 0.5 at the 99th percentile of real photos' cells, MAD scale.
    cell_threshold: float
    cell_scale: float
    meta: dict

    @property
    def max_crops(self) -> int:
        return int(self.blend.shape[0])


@lru_cache(maxsize=2)
def load_probe(path: str = str(PROBE_PATH)) -> Probe:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return Probe(
        feature=str(arrays["feature"]),
        global_w=arrays["global_w"].astype(np.float32), global_b=float(arrays["global_b"]),
        crop_w=arrays["crop_w"].astype(np.float32), crop_b=float(arrays["crop_b"]),
        patch_w=arrays["patch_w"].astype(np.float32), patch_b=float(arrays["patch_b"]),
        blend=arrays["blend"].astype(np.float64), threshold=arrays["threshold"].astype(np.float64),
        edit_threshold=arrays["edit_threshold"].astype(np.float64), edit_scale=arrays["edit_scale"].astype(np.float64),
        cell_threshold=float(arrays["cell_threshold"]), cell_scale=float(arrays["cell_scale"]),
        meta=json.loads(str(arrays["meta"])),
    )


def view_features(outputs: dict[str, np.ndarray], feature: str) -> np.ndarray:
    """The probe's input per view from the encoder's outputs: ``cls``, ``mean`` or ``cls+mean``."""
    parts = []
    for name in feature.split("+"):
        if name == "cls":
            parts.append(outputs["hidden"][:, 0])
        elif name == "mean":
            parts.append(outputs["hidden"][:, 1:].mean(axis=1))
        else:  # pragma: no cover - the trainer writes only these names
            raise ValueError(f"unknown probe feature {name!r}")
    return np.concatenate(parts, axis=1).astype(np.float32)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def image_logit(probe: Probe, global_logit: float, crop_logits: np.ndarray) -> float:
    """The calibrated even-prior logit of the image from its view logits."""
    a, b, c = probe.blend[len(crop_logits) - 1]
    return float(a * global_logit + b * float(np.mean(crop_logits)) + c)


def patch_map(tokens: np.ndarray, weights: np.ndarray, bias: float, grid: int = 14) -> np.ndarray:
    """Per crop, the patch probe's probabilities on a ``grid x grid`` map: each token's logit averaged with its
    3x3 neighbours first (single tokens are noisy; a region is what the map is for)."""
    from scipy import ndimage

    logits = (tokens @ weights + bias).reshape(-1, grid, grid)
    smooth = ndimage.uniform_filter(logits, size=(1, 3, 3), mode="nearest")
    return sigmoid(smooth).astype(np.float32)


def regional_statistic(patch_probabilities: np.ndarray) -> float:
    """Mean of the top :data:`TOP_SHARE` patch probabilities minus their median: a local concentration."""
    values = np.sort(np.asarray(patch_probabilities, dtype=np.float64).ravel())
    top = max(1, int(np.ceil(TOP_SHARE * values.size)))
    return float(values[-top:].mean() - np.median(values))


def place_patches(shape: tuple[int, int], boxes, patch_probabilities: np.ndarray, stride: int = 16):
    """The crops' patch probabilities laid on the image at ``stride`` pixels: (map, coverage), max where crops overlap."""
    rows, cols = -(-shape[0] // stride), -(-shape[1] // stride)
    heat = np.zeros((rows, cols), dtype=np.float32)
    seen = np.zeros((rows, cols), dtype=np.float32)
    grid = patch_probabilities.shape[-1]
    for (top, left, bottom, right), cells in zip(boxes, patch_probabilities):
        for i in range(grid):
            y = top + i * stride
            if y >= bottom:
                break
            for j in range(grid):
                x = left + j * stride
                if x >= right:
                    break
                r, c = y // stride, x // stride
                heat[r, c] = max(heat[r, c], cells[i, j])
                seen[r, c] = 1.0
    return heat, seen


@register
@dataclasses.dataclass
class AIGenerated(Detector):
    """P(ai-generated) from a probe on frozen CLIP ViT-B/16 features, and a coarse map for AI-edited regions.

    Parameters
    ----------
    crops : int
        Native-resolution 224x224 crops besides the global view (1 to the
        probe's calibrated maximum, 3). Each costs one pass of the cut
        encoder (docs/performance.md): 1 when named alone, 3 in the
        thorough profile.
    """

    crops: int = 1

    name: ClassVar[str] = "aigen"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "Ojha, Li, Lee, 'Towards universal fake image detectors that generalize across generative models', "
        "CVPR 2023; Cozzolino et al., 'Raising the bar of AI-generated image detection with CLIP', CVPRW 2024"
    )
    summary: ClassVar[str] = ("a probe on frozen CLIP features of native-resolution crops says how much the image "
                              "looks like the output of an image generator")
    title: ClassVar[str] = "AI-image probe (CLIP features)"
    trace: ClassVar[str] = "looks generated to the CLIP probe while the rest of the image looks like a photo"
    indicates: ClassVar[str] = "ai-generated"

    def analyze(self, image: Image) -> Finding:
        from ..models import clip
        from ..models.wheels import WeightsUnavailable

        if not PROBE_PATH.is_file():
            raise NotApplicable("the probe's weights (models/aigen.npz) are not installed")
        probe = load_probe(str(PROBE_PATH))
        if not 1 <= self.crops <= probe.max_crops:
            raise ValueError(f"crops must be between 1 and {probe.max_crops}, not {self.crops}")
        height, width = image.shape
        if min(height, width) < MIN_SIDE:
            raise NotApplicable(f"the image ({width}x{height}) is under {MIN_SIDE} px on a side: too little detail to judge")
        pixels = image.pixels
        if np.ptp(pixels[::4, ::4]) == 0:
            raise NotApplicable("the image is uniform: there is nothing for the probe to read")
        try:
            encoder = clip.encoder()
        except WeightsUnavailable as exc:
            raise NotApplicable(f"the CLIP encoder is not installed: {exc}") from None
        boxes = clip.analysis_boxes((height, width), self.crops)
        views = np.concatenate([clip.global_view(pixels)[None], clip.native_crops(pixels, boxes)])
        outputs = encoder.encode(views)
        features = view_features(outputs, probe.feature)
        global_logit = float(features[0] @ probe.global_w + probe.global_b)
        crop_logits = features[1:] @ probe.crop_w + probe.crop_b
        z = image_logit(probe, global_logit, crop_logits)
        threshold = float(probe.threshold[self.crops - 1])
        p_even = float(sigmoid(z))
        shift = logit(threshold)
        p_ai = float(sigmoid(z - shift))
        prior = float(sigmoid(-shift))

        tokens = outputs["hidden"][1:, 1:]  # crops only: the global view is resized, its patches are not local
        patches = patch_map(tokens, probe.patch_w, probe.patch_b, clip.GRID)
        statistic = regional_statistic(patches)
        edit_threshold = float(probe.edit_threshold[self.crops - 1])
        edit_scale = float(probe.edit_scale[self.crops - 1])
        edit_score = float(sigmoid((statistic - edit_threshold) / edit_scale))
        cells = sigmoid((patches - probe.cell_threshold) / probe.cell_scale)
        heatmap, coverage = place_patches((height, width), boxes, cells, clip.PATCH)

        facts = {
            "p_ai_generated": round(p_ai, 4),
            "prior": round(prior, 4),
            "p_ai_generated_even_prior": round(p_even, 4),
            "threshold_even_prior": round(threshold, 4),
            "global_logit": round(global_logit, 3),
            "crop_logits": [round(float(v), 3) for v in crop_logits],
            "regional_statistic": round(statistic, 4),
            "regional_threshold": round(edit_threshold, 4),
            "views": 1 + len(boxes),
            "crop_boxes": [[int(left), int(top), int(right - left), int(bottom - top)] for top, left, bottom, right in boxes],
            "probe_sha256": probe.meta.get("sha256_of_weights"),
        }
        notes = [
            f"A probe on frozen CLIP features of {len(boxes)} native-resolution crop{'s' if len(boxes) != 1 else ''} "
            f"and the whole image gives P(ai-generated) = {p_ai:.2f} (at a prior of {prior:.0%} AI images; "
            f"{p_even:.2f} at even odds); at most 2% of held-apart real photos reach 0.5.",
        ]
        score = p_ai
        if p_ai < 0.5 and edit_score >= 0.5:
            facts["indicates"] = "ai-edited"
            score = edit_score
            # The finding's first note is the one the verdict quotes: here, the regional one.
            notes.insert(0,
                f"Patch probabilities of the CLIP probe concentrate in one part of the image (top-10% mean less median "
                f"{statistic:.2f}; at most 1% of held-apart real photos reach {edit_threshold:.2f}) while the image as "
                "a whole looks real: a locally generated or inpainted region is possible."
            )
        else:
            facts["indicates"] = "ai-generated"
        notes.append("It reads what generators leave in fine detail and style; an unfamiliar generator, heavy "
                     "re-compression or a small image weakens it (docs/benchmarks.md).")
        return Finding(score=score, heatmap=heatmap, stride=clip.PATCH, confidence=coverage, notes=notes, facts=facts)
