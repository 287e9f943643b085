"""The project's own learned localizer: forensic residuals + JPEG DCT features, two heads, ONNX on CPU.

A small fully convolutional network (about 0.3 M parameters) trained by
:mod:`tamperscope.train.localizer` on synthetic forgeries (``tamperscope
synth``) made from authentic photos, with the social-media chain among its
augmentations. Its design borrows, at a size a 2-core CPU trains in half an
hour, from three published localizers:

* **Residual inputs.** Fixed SRM high-pass filters (Fridrich & Kodovsky,
  "Rich models for steganalysis of digital images", IEEE TIFS 7(3), 2012; the
  three kernels of Zhou et al., "Learning rich features for image manipulation
  detection", CVPR 2018) and a *constrained* convolution whose kernels are
  prediction-error filters (Bayar & Stamm, "Constrained convolutional neural
  networks: a new approach towards general purpose image manipulation
  detection", IEEE TIFS 13(11), 2018): centre weight -1, the others summing
  to 1, re-imposed after every training step.
* **JPEG stream.** As in CAT-Net (Kwon et al., "Learning JPEG compression
  artifacts for image manipulation detection and localization", IJCV 130,
  2022), the quantized luminance DCT coefficients read from the file (clipped
  magnitudes, ``T = 20``) and the quantization table, laid out on the 8x8
  grid, are inputs; the network works on 8x8 blocks aligned with the JPEG
  grid (space-to-depth by 8), so each block's 64 coefficients and its pixels
  are one input vector. Images that are not JPEG get zero planes (a zero
  quantization table says "no JPEG").
* **Two heads.** As in TruFor (Guillaro et al., "TruFor: leveraging all-round
  clues for trustworthy image forgery detection and localization", CVPR
  2023), an anomaly map and a confidence map; the image score pools the
  anomaly map weighted by confidence, and is calibrated on held-out
  authentic photos so that 0.5 is their 99th percentile.

Inference needs onnxruntime only (no torch). Images are processed in tiles of
``tile`` pixels with ``overlap`` pixels of context on each side, both
multiples of 8 so that every tile keeps the JPEG grid; each tile contributes
only its centre, so memory is bounded by the tile size whatever the image size,
and with ``overlap`` at least the network's reach (160 px) the tiled maps equal
the whole image's.
The maps come at stride 8 (one value per 8x8 block).
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "localizer.onnx"
CALIBRATION_PATH = Path(__file__).resolve().parent.parent / "models" / "localizer.json"
#: Clip of the DCT coefficient magnitudes (CAT-Net's T).
DCT_CLIP = 20
#: Quantization steps above this saturate the table plane.
Q_CLIP = 64
BLOCK = 8
#: Input channels: R, G, B, clipped |DCT| of Y, quantization step of Y.
N_INPUTS = 5
MIN_SIDE = 64


def feature_planes(pixels: np.ndarray, jpeg) -> np.ndarray:
    """The network's input, float32 ``(5, H8, W8)`` with ``H8, W8`` the size rounded up to 8.

    RGB in [0, 1]; the luminance DCT plane holds, at pixel ``(8i+u, 8j+v)``,
    ``min(|c[i, j, u, v]|, 20) / 20`` for the quantized coefficient of block
    ``(i, j)`` at frequency ``(u, v)``; the table plane holds ``min(q[u, v], 64) / 64``.
    Padding beyond the image repeats the border pixels (edge mode) and zero DCT.
    """
    height, width = pixels.shape[:2]
    h8, w8 = -(-height // BLOCK) * BLOCK, -(-width // BLOCK) * BLOCK
    planes = np.zeros((N_INPUTS, h8, w8), dtype=np.float32)
    rgb = np.pad(pixels[..., :3], ((0, h8 - height), (0, w8 - width), (0, 0)), mode="edge")
    planes[:3] = np.moveaxis(rgb, 2, 0) * np.float32(1 / 255)
    if jpeg is not None and "Y" in jpeg.coefficients:
        coefficients = jpeg.coefficients["Y"]
        rows, cols = min(coefficients.shape[0], h8 // BLOCK), min(coefficients.shape[1], w8 // BLOCK)
        magnitude = np.minimum(np.abs(coefficients[:rows, :cols].astype(np.float32)), DCT_CLIP) / DCT_CLIP
        planes[3, : rows * BLOCK, : cols * BLOCK] = magnitude.transpose(0, 2, 1, 3).reshape(rows * BLOCK, cols * BLOCK)
        table = np.minimum(jpeg.quant_tables["Y"].astype(np.float32), Q_CLIP) / Q_CLIP
        planes[4] = np.tile(table, (h8 // BLOCK, w8 // BLOCK))
    return planes


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
    # One thread: analyze runs detectors side by side and the bench runs images in parallel.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=2)
def _calibration(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


#: Tile side and context in pixels. The network sees 20 blocks (160 px) on each side of a block
#: (dilations 1+2+4+8+2+1 = 18, the confidence head's 3x3 and the 5x5 residual filters), so with
#: 160 px of context a tiled map equals the map of the whole image.
TILE = 1536
OVERLAP = 160


def predict_maps(
    pixels: np.ndarray, jpeg, tile: int = TILE, overlap: int = OVERLAP, model: Path = MODEL_PATH
) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly and confidence maps in [0, 1] at stride 8, shape ``(ceil(H/8), ceil(W/8))``."""
    session = _session(str(model))
    height, width = pixels.shape[:2]
    h8, w8 = -(-height // BLOCK) * BLOCK, -(-width // BLOCK) * BLOCK
    anomaly = np.zeros((h8 // BLOCK, w8 // BLOCK), dtype=np.float32)
    confidence = np.zeros_like(anomaly)
    for y0, y1, ky0, ky1 in tiles(h8, tile, overlap):
        for x0, x1, kx0, kx1 in tiles(w8, tile, overlap):
            planes = _tile_planes(pixels, jpeg, y0, y1, x0, x1)
            logits = session.run(None, {"planes": planes[None]})
            rows = slice((ky0 - y0) // BLOCK, (ky1 - y0) // BLOCK)
            cols = slice((kx0 - x0) // BLOCK, (kx1 - x0) // BLOCK)
            keep = (slice(ky0 // BLOCK, ky1 // BLOCK), slice(kx0 // BLOCK, kx1 // BLOCK))
            anomaly[keep] = _sigmoid(logits[0][0, 0][rows, cols])
            confidence[keep] = _sigmoid(logits[1][0, 0][rows, cols])
    return anomaly, confidence


def _tile_planes(pixels: np.ndarray, jpeg, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Feature planes of one tile (tile bounds are multiples of 8, so the DCT grid is kept)."""
    view = pixels[y0:y1, x0:x1]
    sub = None
    if jpeg is not None and "Y" in jpeg.coefficients:
        sub = _JpegView(
            {"Y": jpeg.coefficients["Y"][y0 // BLOCK : -(-y1 // BLOCK), x0 // BLOCK : -(-x1 // BLOCK)]},
            jpeg.quant_tables,
        )
    planes = feature_planes(view, sub)
    # A tile at the bottom/right edge may end short of a multiple of 8 only there; feature_planes padded it.
    return np.ascontiguousarray(planes)


@dataclasses.dataclass
class _JpegView:
    coefficients: dict
    quant_tables: dict


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))).astype(np.float32)


def pooled_score(anomaly: np.ndarray, confidence: np.ndarray) -> float:
    """Confidence-weighted soft maximum of the anomaly map (TruFor's integrity pooling, without its learned head).

    The mean of the anomaly over the 2% of blocks with the highest ``anomaly x confidence``:
    a region a few percent of the image is enough, and a lone confident block is not.
    """
    weighted = (anomaly * confidence).ravel()
    count = max(1, int(np.ceil(0.02 * weighted.size)))
    top = np.argpartition(weighted, -count)[-count:]
    return float(np.mean(anomaly.ravel()[top] * confidence.ravel()[top]) / max(np.mean(confidence.ravel()[top]), 1e-6))


def calibrated(statistic: float, calibration: dict) -> float:
    """Logistic map of the pooled statistic: 0.5 at the authentic 99th percentile."""
    z = (statistic - calibration["threshold"]) / calibration["scale"]
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


@register
@dataclasses.dataclass
class Localizer(Detector):
    """Learned anomaly and confidence maps of the project's small CNN (ONNX, CPU)."""

    name = "localizer"
    version = "1"
    citation = (
        "Guillaro et al., TruFor, CVPR 2023 (anomaly + confidence heads); Kwon et al., CAT-Net, IJCV 2022 "
        "(DCT stream); Bayar & Stamm, IEEE TIFS 2018 (constrained convolution); trained by tamperscope"
    )
    summary = "Small CNN on RGB, SRM/constrained residuals and JPEG DCT coefficients, trained on synthetic forgeries"
    title = "Learned localizer"
    trace = "looks unlike the rest of the image to the project's trained network (noise, JPEG and colour traces together)"
    decides = True

    tile: int = TILE
    overlap: int = OVERLAP

    def analyze(self, image: Image) -> Finding:
        pixels = image.pixels
        if min(pixels.shape[:2]) < MIN_SIDE:
            raise NotApplicable(f"image is smaller than {MIN_SIDE} px on a side")
        if not MODEL_PATH.is_file() or not CALIBRATION_PATH.is_file():
            raise NotApplicable("the localizer's weights (models/localizer.onnx) are not installed")
        if pixels.ndim == 3 and np.ptp(pixels[::4, ::4]) == 0:
            raise NotApplicable("uniform image: nothing to localize")
        anomaly, confidence = predict_maps(pixels, image.jpeg, self.tile, self.overlap)
        calibration = _calibration(str(CALIBRATION_PATH))
        statistic = pooled_score(anomaly, confidence)
        score = calibrated(statistic, calibration)
        height, width = pixels.shape[:2]
        share = float(np.mean(anomaly >= 0.5))
        notes = [
            f"Mean anomaly {statistic:.2f} over the 2% most confident 8x8 blocks (0.5 of the score at "
            f"{calibration['threshold']:.2f}, the 99th percentile of held-out authentic images); "
            f"{share:.1%} of blocks have anomaly >= 0.5."
        ]
        if max(height, width) > self.tile:
            notes.append(f"analysed in {self.tile}-px tiles with {self.overlap} px of context on each side")
        return Finding(
            score=score,
            heatmap=anomaly,
            stride=BLOCK,
            confidence=confidence,
            notes=notes,
            facts={
                "pooled_statistic": round(statistic, 4),
                "calibration_threshold": calibration["threshold"],
                "jpeg_features": image.jpeg is not None,
                "model_sha256": calibration.get("model_sha256"),
            },
        )
