"""Self-blended images: pseudo face swaps made from one real face.

K. Shiohara and T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022 (SBI); L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020 (the blending boundary as a training target).

A face swap pastes a face into a target picture through a soft mask. What is
left is not the identity (the network never needs it) but the seam: two
slightly different images (colour, sharpness, scale, position) joined along a
blended boundary. SBI makes such pairs from one photo: a *source* copy of the
face is transformed (source-target augmentation) and blended back onto the
untouched *target* through a randomly deformed, blurred face mask. Face X-ray's
target is the boundary ``B = 4 M (1 - M)`` of the soft mask ``M``: 1 on the
middle of the seam, 0 inside and outside.

Our choices, beyond the papers: the mask comes from the face ellipse of
:mod:`.find` (SBI uses the convex hull of 81 landmarks, which needs a landmark
model OpenCV does not ship); the ellipse is perturbed (size, centre, roll),
elastically deformed and blurred with a random width. Real and blended crops
both go through the same random JPEG and resampling so that compression cannot
tell the classes apart.
"""

from __future__ import annotations

import cv2
import numpy as np

from .find import CROP_MARGIN, ELLIPSE_DROP, ELLIPSE_HALF_HEIGHT, ELLIPSE_HALF_WIDTH

#: Blend ratios of SBI (a share of the source kept inside the mask); full pastes dominate.
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def crop_ellipse(size: int, roll_deg: float = 0.0, margin: float = CROP_MARGIN):
    """The face ellipse inside a square crop of ``size`` made by :func:`.find.face_crop`."""
    box = size / margin
    centre = size / 2.0
    return (centre, centre + ELLIPSE_DROP * box), (2 * ELLIPSE_HALF_WIDTH * box, 2 * ELLIPSE_HALF_HEIGHT * box), roll_deg


def soft_face_mask(size: int, ellipse, rng: np.random.Generator) -> np.ndarray:
    """A randomly deformed, blurred face mask in [0, 1] (float32, ``size`` x ``size``)."""
    (cx, cy), (ew, eh), angle = ellipse
    cx += rng.uniform(-0.03, 0.03) * size
    cy += rng.uniform(-0.03, 0.03) * size
    ew *= rng.uniform(0.8, 1.1)
    eh *= rng.uniform(0.8, 1.1)
    angle += rng.uniform(-8, 8)
    hard = np.zeros((size, size), np.float32)
    cv2.ellipse(hard, ((cx, cy), (ew, eh), angle), 1.0, thickness=-1, lineType=cv2.LINE_AA)
    hard = _elastic(hard, rng.uniform(0.0, 0.06) * size, rng)
    sigma = rng.uniform(0.01, 0.07) * size
    return np.clip(cv2.GaussianBlur(hard, (0, 0), sigma), 0.0, 1.0)


def _elastic(mask: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Displace the mask by a smooth random field (the paper's mask deformation)."""
    size = mask.shape[0]
    grid = np.mgrid[0:size, 0:size].astype(np.float32)
    fields = []
    for _ in range(2):
        noise = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), size / 8)
        noise /= max(float(np.abs(noise).max()), 1e-6)
        fields.append(noise * amplitude)
    map_y, map_x = grid[0] + fields[0], grid[1] + fields[1]
    return cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def transform_source(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI's source-target augmentation: colour, sharpness, then scale and shift."""
    out = face.astype(np.float32)
    out += rng.uniform(-20, 20, 3).astype(np.float32)  # RGB shift
    contrast, brightness = rng.uniform(0.85, 1.15), rng.uniform(-15, 15)
    out = (out - out.mean()) * contrast + out.mean() + brightness
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.8, 1.2), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = _sharpness(out, rng)
    size = face.shape[0]
    scale = rng.uniform(0.95, 1.08)
    shift = rng.uniform(-0.03, 0.03, 2) * size
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), 0.0, scale)
    matrix[:, 2] += shift
    out = cv2.warpAffine(out, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 255)


def _sharpness(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:  # downscale-upscale: the softer look of a generated face
        size = image.shape[0]
        small = max(8, int(size * rng.uniform(0.5, 0.85)))
        return cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    blur = cv2.GaussianBlur(image, (0, 0), 1.0)
    return image + rng.uniform(0.3, 1.2) * (image - blur)


def blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * source + (1 - mask) * target`` as uint8."""
    weight = mask[..., None].astype(np.float32)
    return np.clip(weight * source + (1 - weight) * target.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Face X-ray's blending boundary ``4 M (1 - M)``."""
    return np.clip(4.0 * mask * (1.0 - mask), 0.0, 1.0).astype(np.float32)


def self_blend(face: np.ndarray, rng: np.random.Generator, roll_deg: float = 0.0):
    """A self-blended image of a face crop: ``(pixels uint8, boundary float32)``."""
    size = face.shape[0]
    mask = soft_face_mask(size, crop_ellipse(size, roll_deg), rng)
    target, source = face, transform_source(face, rng)
    if rng.random() < 0.5:  # SBI transforms either side
        target, source = source.astype(np.uint8), face.astype(np.float32)
    ratio = float(rng.choice(BLEND_RATIOS))
    return blend(target, source, mask * ratio), boundary(mask) * ratio


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same random resampling and JPEG for real and blended crops."""
    out = image
    if rng.random() < 0.3:
        size = out.shape[0]
        small = int(size * rng.uniform(0.5, 0.9))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    if rng.random() < 0.6:
        quality = int(rng.integers(60, 96))
        ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)
