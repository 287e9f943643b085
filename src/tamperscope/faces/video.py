"""Video clips: sample frames, track faces, score each face over time.

``tamperscope analyze clip.mp4`` lands here: :func:`tamperscope.api.analyze`
recognises a video container by its first bytes (:func:`sniff_video`) and calls
:func:`analyze_video`. Frames are decoded with OpenCV's bundled FFmpeg, read in
order (seeking is unreliable on damaged files) and ``max_frames`` of them,
evenly spaced, are analysed. Faces (:mod:`.find`) are linked across sampled
frames into tracks by box overlap (greedy, IoU >= ``TRACK_IOU``, or a centre
within half a face side), and each judged face is read by the face-swap
network (:mod:`.model`). Faces are found by MediaPipe's detector and face mesh (:mod:`.find`), one
sampled frame at a time.

Clip verdict: a track's score is the median of its per-frame swap scores, so
that one odd frame (motion blur, a turned head) cannot flag a person and a
swap present through the clip does; the clip's face-swap evidence is the
largest track score. It enters the same fusion and report as an image's
evidence, with the key frame (the frame where the most suspicious track
scores highest, else the middle sampled frame) as the report's picture and
the per-face time series in ``report.video``. Like the image detector it
decides: the clip's score (the largest track median) is the evidence score
fusion reads, and the boundary map is the key frame's. Image detectors calibrated on
photos are not run on decoded video frames unless named with ``detectors``:
a codec's frames are not camera photos, and their false-alarm rates there are
not measured.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .find import Face, FaceFinderUnavailable, box_iou, face_crop, find_faces
from .model import load_model

TRACK_IOU = 0.3
#: Frames decoded at most (a bound on time for long or endless streams).
MAX_DECODED = 20000


def sniff_video(head: bytes) -> str | None:
    """The container of a video file from its first bytes, else None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "qt" if head[8:10] == b"qt" else "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "mpeg-ts"
    return None


@dataclass
class Observation:
    frame: int
    time_s: float
    box: tuple[int, int, int, int]
    too_small: bool
    score: float | None = None
    boundary: np.ndarray | None = field(default=None, repr=False)
    #: ``(x0, y0, side)`` of the square the network read (where its boundary map goes), for judged faces.
    crop: tuple[int, int, int] | None = None


@dataclass
class Track:
    id: str
    observations: list[Observation] = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [o.score for o in self.observations if o.score is not None]

    @property
    def score(self) -> float | None:
        return float(np.median(self.scores)) if self.scores else None

    def to_dict(self) -> dict:
        scores = self.scores
        return {
            "id": self.id,
            "score": None if self.score is None else round(self.score, 4),
            "max_score": round(max(scores), 4) if scores else None,
            "frames_judged": len(scores),
            "frames_seen": len(self.observations),
            "series": [
                {"frame": o.frame, "time_s": round(o.time_s, 3), "box": list(o.box),
                 "score": None if o.score is None else round(o.score, 4), "too_small": o.too_small}
                for o in self.observations
            ],
        }


@dataclass
class Clip:
    container: str
    fps: float
    frames_decoded: int
    width: int
    height: int
    sampled: list[int]
    tracks: list[Track]
    frames: dict[int, np.ndarray] = field(repr=False)
    warnings: list[str] = field(default_factory=list)
    #: Why no face could be looked for (the face finder is not installed), else None.
    finder_error: str | None = None

    def key_frame(self) -> int:
        judged = [t for t in self.tracks if t.score is not None]
        if judged:
            best = max(judged, key=lambda t: t.score)
            return max((o for o in best.observations if o.score is not None), key=lambda o: o.score).frame
        return self.sampled[len(self.sampled) // 2]

    def to_dict(self) -> dict:
        judged = [t for t in self.tracks if t.score is not None]
        return {
            "container": self.container,
            "fps": round(self.fps, 3),
            "frames_decoded": self.frames_decoded,
            "duration_s": round(self.frames_decoded / self.fps, 3) if self.fps else None,
            "width": self.width,
            "height": self.height,
            "sampled_frames": self.sampled,
            "key_frame": self.key_frame(),
            "faces": [t.to_dict() for t in self.tracks],
            "clip_face_swap_score": round(max(t.score for t in judged), 4) if judged else None,
            "rule": "track score = median of its per-frame swap scores; clip = the largest track score",
            "warnings": list(self.warnings),
        }


def read_clip(path: str | os.PathLike, container: str, max_frames: int = 16, min_face_side: int = 64,
              name: str | None = None) -> Clip:
    """Decode ``path``, sample up to ``max_frames`` frames and score the faces in them.

    ``name`` is how errors and warnings call the file (default: ``path``).
    """
    from ..image import _c_stderr_into

    name = name or str(path)
    decoder_lines: list[str] = []
    with _c_stderr_into(decoder_lines):  # FFmpeg's complaints become report warnings, not terminal noise
        frames, fps, announced, decoded = _decode(path, max_frames)
    warnings = [f"decoder: {line}" for line in dict.fromkeys(decoder_lines)]
    if not frames:
        detail = f" ({decoder_lines[0]})" if decoder_lines else ""
        raise InputError(f"{name}: no frame could be decoded from this {container} file (corrupt or unsupported "
                         f"codec){detail}")
    if announced and decoded < announced:
        warnings.append(f"the container announces {announced} frames but {decoded} could be decoded")
    if decoded >= MAX_DECODED:
        warnings.append(f"only the first {MAX_DECODED} frames were read")
    keep = sorted(frames)
    if len(keep) > max_frames:
        keep = [keep[i] for i in _sample_indices(len(keep), max_frames)]
    frames = {index: frames[index] for index in keep}
    height, width = next(iter(frames.values())).shape[:2]
    try:
        tracks, finder_error = _track_and_score(frames, fps or 25.0, min_face_side), None
    except FaceFinderUnavailable as exc:
        tracks, finder_error = [], str(exc)
    return Clip(container, fps, decoded, width, height, keep, tracks, frames, warnings, finder_error)


def _decode(path, max_frames: int):
    """Frames kept (index -> RGB), fps, announced frame count, frames decoded; sequential reading."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return {}, 0.0, 0, 0
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        wanted = set(_sample_indices(announced, max_frames)) if announced > 0 else None
        frames, decoded = {}, 0
        while decoded < MAX_DECODED:
            ok = capture.grab()
            if not ok:
                break
            if wanted is None or decoded in wanted:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    frames[decoded] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            decoded += 1
            if wanted is None and len(frames) > 4 * max_frames:  # unknown length: thin as we go
                frames = dict(list(frames.items())[::2])
    finally:
        capture.release()
    return frames, fps, announced, decoded


def _sample_indices(count: int, wanted: int) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, min(count, wanted))})


def _track_and_score(frames: dict[int, np.ndarray], fps: float, min_face_side: int) -> list[Track]:
    model = None
    tracks: list[Track] = []
    for index, pixels in frames.items():
        faces = find_faces(pixels, min_face_side)
        judged = [f for f in faces if not f.too_small]
        scores, boundaries = [], []
        if judged:
            model = model or load_model()
            crops = np.stack([face_crop(pixels, f, model.crop_size, model.crop_margin) for f in judged])
            logits, boundaries = model.logits(crops)
            scores = list(model.score(logits))
        results = {id(f): (s, b, f.crop_square(model.crop_margin)) for f, s, b in zip(judged, scores, boundaries)}
        taken: set[str] = set()
        for face in faces:
            score, edge, crop = results.get(id(face), (None, None, None))
            observation = Observation(index, index / fps, tuple(int(v) for v in face.box), face.too_small,
                                      None if score is None else float(score), edge, crop)
            track = _match(tracks, face, taken)
            if track is None:
                track = Track(id=f"face{len(tracks) + 1}")
                tracks.append(track)
            taken.add(track.id)
            track.observations.append(observation)
    return tracks


def _match(tracks: list[Track], face: Face, taken: set[str]) -> Track | None:
    best, best_overlap = None, 0.0
    for track in tracks:
        if track.id in taken:
            continue
        last = track.observations[-1].box
        overlap = box_iou(last, face.box)
        near = np.hypot(last[0] + last[2] / 2 - face.center[0], last[1] + last[3] / 2 - face.center[1]) < 0.5 * last[2]
        if (overlap >= TRACK_IOU or near) and max(overlap, 0.01) > best_overlap:
            best, best_overlap = track, max(overlap, 0.01)
    return best


def analyze_video(data: bytes, name: str, container: str, detectors, limits, fusion, analyzed_at, start,
                  max_frames: int = 16):
    """The report of a clip: key-frame report with clip-level face evidence and ``report.video``."""
    from ..detectors.faceswap import FaceSwap, place_boundary
    from ..evidence import Evidence
    from ..report.explain import explain
    from ..fusion import fuse
    from ..image import load
    from ..report import Report

    suffix = {"mp4": ".mp4", "qt": ".mov", "avi": ".avi", "matroska": ".mkv", "mpeg-ts": ".ts"}[container]
    with tempfile.TemporaryDirectory(prefix="tamperscope-video-") as folder:
        path = Path(folder) / f"clip{suffix}"
        path.write_bytes(data)
        clip = read_clip(path, container, max_frames, name=name)
    loaded = time.perf_counter()
    key = clip.key_frame()
    image = load(clip.frames[key], limits)
    image.source = f"{name}#frame={key}"
    image.format = f"VIDEO-FRAME ({container})"
    others = [d for d in (detectors or []) if not isinstance(d, FaceSwap)]
    from ..detectors import run_detectors

    evidence = run_detectors(image, others, limits.detector_seconds)
    evidence.append(_clip_evidence(clip, key, image.shape, FaceSwap, Evidence, place_boundary, time.perf_counter() - loaded))
    fused = fuse(evidence, image.shape, fusion)
    timings = {"load": loaded - start, **{f"detector:{e.detector}": e.runtime_s for e in evidence}}
    timings["total"] = time.perf_counter() - start
    described = [{"name": d.name, "version": d.version, "params": d.params()} for d in [*others, FaceSwap()]]
    report = Report(image=image, evidence=evidence, fusion=fused, detectors=described, limits=limits,
                    timings=timings, explanation=explain(image, evidence, fused), analyzed_at=analyzed_at)
    report.video = clip.to_dict()
    return report


def _clip_evidence(clip: Clip, key: int, shape, detector_cls, evidence_cls, place, runtime: float):
    evidence = evidence_cls(detector=detector_cls.name, version=detector_cls.version,
                            indicates=detector_cls.indicates, kind=detector_cls.kind)
    evidence.runtime_s = runtime
    judged = [t for t in clip.tracks if t.score is not None]
    if not judged:
        evidence.status = "not-applicable"
        seen = bool(clip.tracks)
        evidence.reason = clip.finder_error or (
            "faces found in the sampled frames are all too small to judge" if seen
            else f"no face found in {len(clip.sampled)} sampled frames")
        return evidence
    heatmap = np.zeros(shape, np.float32)
    for track in judged:
        for observation in track.observations:
            if observation.frame == key and observation.boundary is not None:
                place(heatmap, observation.crop, observation.boundary)
    best = max(judged, key=lambda t: t.score)
    evidence.score = float(best.score)
    evidence.heatmap = np.clip(heatmap, 0, 1)
    evidence.notes = [
        f"{len(judged)} face track(s) over {len(clip.sampled)} sampled frames; {best.id} has median swap score "
        f"{best.score:.2f} over {len(best.scores)} frame(s); the map is frame {key}'s"
    ]
    evidence.facts = {"swap_score": round(float(best.score), 4), "tracks": [t.to_dict() for t in clip.tracks],
                      "key_frame": key,
                      "spoke": ["face-swap network"] if best.score >= 0.5 else []}
    return evidence
