"""The face-swap network at analysis time: ONNX Runtime on face crops, no torch.

The network (trained by :mod:`tamperscope.train.faces`) reads a 128x128 RGB
crop made by :func:`.find.face_crop` and gives two outputs: a swap logit and
a 32x32 map of blending-boundary logits (Face X-ray's target). The model file
carries its calibration in its ONNX metadata: ``threshold`` and ``scale`` map
the logit to a score with ``sigmoid((logit - threshold) / scale)``, so that
0.5 is the 99th percentile of real faces held apart from training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "faceswap.onnx"
CROP_SIZE = 128
#: Input normalisation shared with training.
MEAN, STD = 0.5, 0.25


def normalise(crops: np.ndarray) -> np.ndarray:
    """uint8 ``(n, size, size, 3)`` RGB -> float32 NCHW as the network expects."""
    x = crops.astype(np.float32) / 255.0
    return np.ascontiguousarray(((x - MEAN) / STD).transpose(0, 3, 1, 2))


@dataclass
class FaceSwapModel:
    session: object
    threshold: float
    scale: float
    recipe: dict

    def logits(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Swap logits ``(n,)`` and boundary probability maps ``(n, 32, 32)``."""
        logit, boundary = self.session.run(None, {"face": normalise(crops)})
        return logit.astype(np.float64), 1.0 / (1.0 + np.exp(-boundary.astype(np.float32)))

    def score(self, logit: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(np.asarray(logit) - self.threshold) / self.scale))


@lru_cache(maxsize=2)
def load_model(path: str = str(MODEL_PATH)) -> FaceSwapModel:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise InputError("the face-swap detector needs onnxruntime") from exc
    if not Path(path).is_file():
        raise InputError(f"no face-swap model at {path}: run 'tamperscope train faces'")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    return FaceSwapModel(
        session=session,
        threshold=float(meta.get("threshold", 0.0)),
        scale=float(meta.get("scale", 1.0)),
        recipe=json.loads(meta.get("recipe", "{}")),
    )
