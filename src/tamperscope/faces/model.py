"""The face-swap network at analysis time: ONNX Runtime on face crops, no torch.

The network (trained by :mod:`tamperscope.train.faces`: an ImageNet-pretrained
EfficientNet-Lite0 fine-tuned on self-blended real faces) reads square RGB
crops made by :func:`.find.face_crop` and gives two outputs: a swap logit and
a map of blending-boundary logits (Face X-ray's target) over the crop. The
model file carries what analysis must match in its ONNX metadata:
``crop_size`` and ``crop_margin`` (how faces are cropped), ``threshold`` and
``scale`` (the calibration: the score is ``sigmoid((logit - threshold) /
scale)``, 0.5 at the threshold chosen on real faces held apart from training),
and ``recipe`` (how it was made). Input normalisation is inside the graph: it
reads RGB in [0, 1].
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "faceswap.onnx"


def to_input(crops: np.ndarray) -> np.ndarray:
    """uint8 ``(n, size, size, 3)`` RGB -> float32 NCHW in [0, 1], as the network reads it."""
    return np.ascontiguousarray(crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)


@dataclass
class FaceSwapModel:
    session: object
    threshold: float
    scale: float
    crop_size: int
    crop_margin: float
    recipe: dict

    def logits(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Swap logits ``(n,)`` and boundary probability maps ``(n, m, m)`` of uint8 crops ``(n, s, s, 3)``."""
        logit, boundary = self.session.run(None, {"face": to_input(crops)})
        return logit.astype(np.float64), 1.0 / (1.0 + np.exp(-boundary.astype(np.float32)))

    def score(self, logit: np.ndarray) -> np.ndarray:
        """The calibrated swap score in [0, 1]; 0.5 is the decision threshold."""
        return 1.0 / (1.0 + np.exp(-(np.asarray(logit, np.float64) - self.threshold) / self.scale))


@lru_cache(maxsize=2)
def load_model(path: str = str(MODEL_PATH)) -> FaceSwapModel:
    import onnxruntime as ort

    if not Path(path).is_file():
        raise InputError(f"no face-swap model at {path}: run 'tamperscope train faces'")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    missing = [key for key in ("threshold", "scale", "crop_size", "crop_margin") if key not in meta]
    if missing:
        raise InputError(f"{path} is not a face-swap model of this version (metadata lacks {', '.join(missing)})")
    return FaceSwapModel(
        session=session,
        threshold=float(meta["threshold"]),
        scale=float(meta["scale"]),
        crop_size=int(meta["crop_size"]),
        crop_margin=float(meta["crop_margin"]),
        recipe=json.loads(meta.get("recipe", "{}")),
    )
