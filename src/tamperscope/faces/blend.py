"""Self-blended images: pseudo face swaps made from one real face and its landmarks.

K. Shiohara and T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022 (SBI); L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020 (the blending boundary as a second target, and the
landmark-hull mask variants).

A face swap pastes a face into a target picture through a soft mask. What is
left is not the identity (the network never needs it) but the seam: two
slightly different images (colour, sharpness, scale, position) joined along a
blended boundary. SBI makes such pairs from one photo:

1. *Source-target generator*: one of two copies of the face (source or target,
   at random) gets colour changes (RGB shift, hue/saturation/value, brightness
   and contrast) and a frequency change (down- and up-sampling by 2 or 4, or
   sharpening); the source is then scaled (0.95-1.05) and shifted (3% across,
   1.5% down), the mask with it.
2. *Mask generator*: the convex hull of the landmarks (:func:`face_mask`, in
   one of Face X-ray's variants: the whole mesh, the inner face from the brows
   down, the face with its forehead extended, or the eyes, nose and mouth as
   separate parts), deformed elastically, eroded and blurred by random
   amounts (:func:`soften`).
3. *Blending*: ``M r source + (1 - M r) target`` with a ratio ``r`` from
   SBI's list (full pastes dominate). The pair for training is
   ``(target, blend)``: both show the same, globally consistent face except
   along the seam.

Face X-ray's target is the boundary ``B = 4 M (1 - M)`` of the soft mask
(times ``r``): 1 on the middle of the seam, 0 inside and outside.
:func:`degrade` is the chain both images of a pair go through together
(colour, resampling, sharpening, JPEG), so that nothing but the seam tells
them apart.
"""

from __future__ import annotations

import cv2
import numpy as np

from .find import mesh_regions

#: Blend ratios of SBI (the share of the source kept inside the mask); full pastes dominate.
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
#: Mask variants (Face X-ray's hull types on the 478-point mesh) and how often each is drawn.
MASK_VARIANTS = {"full": 0.35, "inner": 0.3, "extended": 0.2, "components": 0.15}


def face_mask(shape: tuple[int, int], landmarks: np.ndarray, variant: str,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """A hard (0/1, float32) face mask from the landmarks in one of :data:`MASK_VARIANTS`.

    ``full``: hull of all landmarks (brow-top to chin, cheek to cheek); ``inner``: hull of the
    landmarks from the brows down (DeepFaceLab's "full face"); ``extended``: the full hull with the
    landmarks above the eyes pushed up by 10-30% (more forehead); ``components``: the union of the
    hulls of each eye with its brow, the nose and the lips (a swap of parts).
    """
    regions = mesh_regions()
    points = np.asarray(landmarks, np.float32)
    eye_y, up = _face_frame(points, regions)
    height = float(np.ptp(points @ up)) or 1.0
    mask = np.zeros(shape[:2], np.float32)
    if variant == "components":
        parts = [np.concatenate([regions["left_eye"], regions["left_brow"]]),
                 np.concatenate([regions["right_eye"], regions["right_brow"]]),
                 regions["nose"], regions["lips"]]
        for part in parts:
            _fill_hull(mask, points[part])
        return mask
    if variant == "inner":
        brows = np.concatenate([regions["left_brow"], regions["right_brow"]])
        brow_top = float((points[brows] @ up).max())
        keep = (points @ up) <= brow_top + 0.02 * height
        _fill_hull(mask, points[keep])
        return mask
    if variant == "extended":
        stretch = 1.1 + 0.2 * (rng.random() if rng is not None else 0.5)
        height_above = points @ up - eye_y
        lifted = points + np.outer(np.where(height_above > 0, height_above * (stretch - 1), 0.0), up)
        _fill_hull(mask, lifted)
        return mask
    if variant != "full":
        raise ValueError(f"unknown mask variant {variant!r}; known: {', '.join(MASK_VARIANTS)}")
    _fill_hull(mask, points)
    return mask


def _face_frame(points: np.ndarray, regions) -> tuple[float, np.ndarray]:
    """The eye line's height along the face's "up" direction (image pixels), and that unit direction."""
    left = points[regions["left_eye"]].mean(0)
    right = points[regions["right_eye"]].mean(0)
    across = right - left
    across /= max(float(np.linalg.norm(across)), 1e-6)
    up = np.array([across[1], -across[0]], np.float32)  # image y grows downwards; up is -y on an upright face
    if float(up @ (points[regions["lips"]].mean(0) - (left + right) / 2)) > 0:
        up = -up
    return float(((left + right) / 2) @ up), up


def _fill_hull(mask: np.ndarray, points: np.ndarray) -> None:
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA, shift=4)


def face_side(landmarks: np.ndarray) -> float:
    """The side of the landmarks' bounding box: the unit of every random size below."""
    return float(max(np.ptp(np.asarray(landmarks), axis=0))) or 1.0


def elastic(mask: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    """Displace the mask by a smooth random field (coarse bends and a fine wobble of the edge); ``side``: face size."""
    h, w = mask.shape
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    coarse = rng.uniform(0.0, 0.06) * side
    fine = rng.uniform(0.0, 0.012) * side
    fields = []
    for _ in range(2):
        field = np.zeros((h, w), np.float32)
        for amplitude, smooth in ((coarse, side / 4), (fine, side / 20)):
            noise = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), smooth)
            field += noise / max(float(np.abs(noise).max()), 1e-6) * amplitude
        fields.append(field)
    return cv2.remap(mask, grid_x + fields[1], grid_y + fields[0], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def soften(mask: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    """SBI's blend mask: erode by a random width, then blur by a random width (``side``: face size); peak 1."""
    erode = int(round(rng.uniform(0.0, 0.08) * side))
    hard = (mask > 0.5).astype(np.uint8)
    if erode > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1))
        eroded = cv2.erode(hard, kernel)
        hard = eroded if eroded.any() else hard
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), rng.uniform(0.012, 0.08) * side)
    return soft / max(float(soft.max()), 1e-6)


def transform_colour_and_frequency(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI's source-target augmentation: colour, then a frequency change (float32 RGB)."""
    out = face.astype(np.float32)
    if rng.random() < 0.3:
        out += rng.uniform(-20, 20, 3).astype(np.float32)  # RGB shift
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-5, 5)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.85, 1.15), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.9, 1.1), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast, brightness = rng.uniform(0.9, 1.1), rng.uniform(-0.1, 0.1) * 255
    mean = float(out.mean())
    out = (out - mean) * contrast + mean + brightness
    if rng.random() < 0.5:  # down- and up-sampling: the softer look of a generated or resized face
        h, w = out.shape[:2]
        factor = int(rng.choice([2, 4]))
        small = cv2.resize(out, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_NEAREST)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    else:  # sharpening
        out = out + rng.uniform(0.2, 0.5) * 2.0 * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    return np.clip(out, 0, 255)


def shift_and_scale(source: np.ndarray, mask: np.ndarray, centre: tuple[float, float], side: float,
                    rng: np.random.Generator):
    """The same random scale (0.95-1.05 about ``centre``) and shift of the source and its mask.

    The shift is SBI's 3% across and 1.5% down of a face crop about 1.5 faces wide: 4.5% and 2.25% of ``side``.
    """
    h, w = source.shape[:2]
    scale = rng.uniform(0.95, 1 / 0.95)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, scale)
    matrix[:, 2] += (rng.uniform(-0.045, 0.045) * side, rng.uniform(-0.0225, 0.0225) * side)
    moved = cv2.warpAffine(source, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved_mask = cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return moved, moved_mask


def blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * source + (1 - mask) * target`` as uint8."""
    weight = mask[..., None].astype(np.float32)
    return np.clip(weight * source + (1 - weight) * target.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Face X-ray's blending boundary ``4 M (1 - M)``."""
    return np.clip(4.0 * mask * (1.0 - mask), 0.0, 1.0).astype(np.float32)


def self_blend(face: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, variant: str | None = None):
    """A self-blended image of a face: ``(target uint8, blend uint8, boundary float32, soft mask float32)``.

    ``target`` is the untouched side of the blend (it may be the colour-changed copy): the real image
    of the pair. ``variant`` picks the mask (default: drawn from :data:`MASK_VARIANTS`).
    """
    if variant is None:
        names = list(MASK_VARIANTS)
        variant = names[int(rng.choice(len(names), p=list(MASK_VARIANTS.values())))]
    mask = face_mask(face.shape[:2], landmarks, variant, rng)
    source, target = face.astype(np.float32), face.astype(np.float32)
    if rng.random() < 0.5:
        source = transform_colour_and_frequency(face, rng)
    else:
        target = transform_colour_and_frequency(face, rng)
    side = face_side(landmarks)
    centre = (np.asarray(landmarks).min(0) + np.asarray(landmarks).max(0)) / 2
    source, mask = shift_and_scale(source, mask, centre, side, rng)
    mask = soften(elastic(mask, side, rng), side, rng)
    ratio = float(rng.choice(BLEND_RATIOS))
    real = np.clip(target + 0.5, 0, 255).astype(np.uint8)
    return real, blend(real, source, mask * ratio), boundary(mask) * ratio, mask * ratio


def degrade(images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One random chain (colour, resampling, sharpening, JPEG) applied alike to every image of a pair."""
    out = [image.astype(np.float32) for image in images]
    if rng.random() < 0.3:
        shift = rng.uniform(-20, 20, 3).astype(np.float32)
        out = [image + shift for image in out]
    if rng.random() < 0.3:
        contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-0.3, 0.3) * 100
        out = [(image - image.mean()) * contrast + image.mean() + brightness for image in out]
    if rng.random() < 0.3:
        h, w = out[0].shape[:2]
        factor = rng.uniform(0.35, 0.9)
        small = (max(8, int(w * factor)), max(8, int(h * factor)))
        up = int(rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
        out = [cv2.resize(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=up)
               for image in out]
    elif rng.random() < 0.15:
        amount = rng.uniform(0.3, 1.0)
        out = [image + amount * (image - cv2.GaussianBlur(image, (0, 0), 1.2)) for image in out]
    out = [np.clip(image + 0.5, 0, 255).astype(np.uint8) for image in out]
    if rng.random() < 0.6:
        quality = int(rng.integers(40, 101))
        out = [jpeg(image, quality) for image in out]
    return out


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (RGB uint8) after one JPEG round trip at ``quality`` (OpenCV's libjpeg, 4:2:0)."""
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
