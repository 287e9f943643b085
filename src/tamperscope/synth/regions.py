"""Random region shapes for the forgery recipes.

Every shape is rasterized with OpenCV into a boolean mask of the image size,
scaled so that it covers a drawn fraction of the image, and placed so that it
lies wholly inside the image. The description returned next to the mask is
JSON-serialisable and goes into the recipe's ``params``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHAPES = ("polygon", "ellipse")


def bbox(mask: np.ndarray) -> list[int]:
    """``[top, left, height, width]`` of the True pixels (zeros if none)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)]


def _star_polygon(rng: np.random.Generator) -> np.ndarray:
    """Vertices of a random star-shaped polygon around the origin, unit scale."""
    n = int(rng.integers(5, 13))
    step = 2 * math.pi / n
    # Evenly spaced directions, each jittered by under half a step: the vertices stay in
    # angular order (a simple polygon) and apart (no needle-thin spikes).
    angles = rng.uniform(0.0, step) + step * np.arange(n) + rng.uniform(-0.4, 0.4, n) * step
    radii = rng.uniform(0.55, 1.0, n)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def random_region(
    rng: np.random.Generator,
    shape: tuple[int, int],
    area: tuple[float, float] = (0.02, 0.20),
    shapes: tuple[str, ...] = SHAPES,
    margin: int = 0,
) -> tuple[np.ndarray, dict]:
    """A random polygon or ellipse covering a fraction of the image in ``area``.

    Parameters
    ----------
    rng : numpy Generator
    shape : (height, width)
    area : (low, high)
        Fraction of the image the region should cover, drawn uniformly.
    shapes : tuple of {"polygon", "ellipse"}
    margin : int
        Keep the region this many pixels away from the image border.

    Returns
    -------
    mask : bool ndarray of ``shape``
    description : dict
        ``shape``, ``bbox`` ([top, left, height, width]), ``area`` (the
        fraction actually covered after rasterizing).
    """
    height, width = shape
    kind = shapes[int(rng.integers(len(shapes)))]
    target = float(rng.uniform(*area)) * height * width
    if kind == "ellipse":
        ratio = float(rng.uniform(0.45, 1.0))
        angle = float(rng.uniform(0.0, 180.0))
        theta = math.radians(angle)
        semi_major = math.sqrt(target / (math.pi * ratio))
        semi_minor = ratio * semi_major
        half_h = math.hypot(semi_major * math.sin(theta), semi_minor * math.cos(theta))
        half_w = math.hypot(semi_major * math.cos(theta), semi_minor * math.sin(theta))
        # Shrink when the rotated ellipse would not fit.
        fit = min(1.0, (height / 2 - margin - 1) / half_h, (width / 2 - margin - 1) / half_w)
        semi_major, semi_minor, half_h, half_w = (v * fit for v in (semi_major, semi_minor, half_h, half_w))
        cy = float(rng.uniform(margin + half_h, height - margin - half_h))
        cx = float(rng.uniform(margin + half_w, width - margin - half_w))
        canvas = np.zeros(shape, np.uint8)
        shift = 4  # sub-pixel precision of cv2.ellipse
        cv2.ellipse(
            canvas,
            (round(cx * 2**shift), round(cy * 2**shift)),
            (round(semi_major * 2**shift), round(semi_minor * 2**shift)),
            angle,
            0,
            360,
            1,
            thickness=-1,
            lineType=cv2.LINE_8,
            shift=shift,
        )
        extra = {"center": [round(cy, 2), round(cx, 2)], "axes": [round(semi_major, 2), round(semi_minor, 2)],
                 "angle": round(angle, 2)}
    else:
        unit = _star_polygon(rng)
        scale = math.sqrt(target / _polygon_area(unit))
        points = unit * scale
        half_w = max(-points[:, 0].min(), points[:, 0].max())
        half_h = max(-points[:, 1].min(), points[:, 1].max())
        fit = min(1.0, (height / 2 - margin - 1) / half_h, (width / 2 - margin - 1) / half_w)
        points = points * fit
        lo, hi = points.min(axis=0), points.max(axis=0)
        cx = float(rng.uniform(margin - lo[0], width - 1 - margin - hi[0]))
        cy = float(rng.uniform(margin - lo[1], height - 1 - margin - hi[1]))
        vertices = np.round(points + [cx, cy]).astype(np.int32)
        canvas = np.zeros(shape, np.uint8)
        cv2.fillPoly(canvas, [vertices], 1, lineType=cv2.LINE_8)
        extra = {"vertices": len(vertices)}
    mask = canvas.astype(bool)
    return mask, {"shape": kind, "bbox": bbox(mask), "area": round(float(mask.mean()), 5), **extra}


def blob(
    rng: np.random.Generator, shape: tuple[int, int], area: tuple[float, float] = (0.02, 0.10)
) -> tuple[np.ndarray, dict]:
    """A random smooth blob (a polygon or ellipse with its outline softened).

    The outline is smoothed by thresholding a Gaussian blur of the shape at
    one half, so corners round off the way an object's outline does.
    """
    mask, description = random_region(rng, shape, area, margin=4)
    sigma = max(2.0, 0.04 * math.sqrt(mask.sum()))
    smooth = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma) >= 0.5
    if smooth.sum() < 0.5 * mask.sum():  # a thin shape blurs away: keep the raw one
        smooth = mask
    description = {**description, "shape": "blob-" + description["shape"], "bbox": bbox(smooth),
                   "area": round(float(smooth.mean()), 5), "smoothing": round(sigma, 2)}
    return smooth, description


def object_region(
    rng: np.random.Generator,
    photo: np.ndarray,
    area: tuple[float, float] = (0.02, 0.15),
    margin: int = 4,
    work_side: int = 256,
) -> tuple[np.ndarray, dict]:
    """A region shaped like something in ``photo``: superpixels grown from a seed by colour similarity.

    Real forgeries move *objects*, whose outlines follow image edges, not
    polygons or ellipses. The photo (downscaled so its long side is
    ``work_side``) is cut into SLIC superpixels (Achanta et al., "SLIC
    superpixels compared to state-of-the-art superpixel methods", IEEE TPAMI
    34(11), 2012); a random seed superpixel then absorbs, one at a time, the
    adjacent superpixel whose mean CIELAB colour is closest to the region's
    own, until the region covers a drawn fraction of the image in ``area``
    (the greedy colour merge of region-growing segmentation). The region is
    upscaled, its outline lightly smoothed, and kept ``margin`` px off the
    border. When the photo is too flat to segment, a :func:`blob` is used
    (``description["shape"]`` says which).
    """
    from skimage.segmentation import slic

    height, width = photo.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    small = cv2.resize(photo, (max(8, round(width * scale)), max(8, round(height * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1.0 else photo
    n_segments = int(rng.integers(60, 200))
    labels = slic(small, n_segments=n_segments, compactness=float(rng.uniform(5, 20)), start_label=0,
                  enforce_connectivity=True)
    count = int(labels.max()) + 1
    if count < 4:
        return blob(rng, (height, width), area)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=count).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=lab[:, c], minlength=count) for c in range(3)], axis=1)
    # Adjacency of superpixels from horizontally and vertically neighbouring pixels.
    pairs = np.concatenate([np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
                            np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    neighbours: list[set[int]] = [set() for _ in range(count)]
    for a, b in np.unique(np.sort(pairs, axis=1), axis=0):
        neighbours[a].add(int(b))
        neighbours[b].add(int(a))
    # Seeds away from the border, so the region has room to grow as an object.
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    inner = [i for i in range(count) if i not in border] or list(range(count))
    target = float(rng.uniform(*area)) * labels.size
    member = {inner[int(rng.integers(len(inner)))]}
    covered = sizes[list(member)].sum()
    region_sum = sums[list(member)].sum(axis=0)
    while covered < target:
        frontier = set().union(*(neighbours[m] for m in member)) - member
        if not frontier:
            break
        mean = region_sum / covered
        options = sorted(frontier)
        distance = [np.linalg.norm(sums[o] / sizes[o] - mean) for o in options]
        best = options[int(np.argmin(distance))]
        member.add(best)
        covered += sizes[best]
        region_sum = region_sum + sums[best]
    small_mask = np.isin(labels, list(member)).astype(np.uint8)
    mask = cv2.resize(small_mask, (width, height), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    sigma = max(1.0, 1.5 / max(scale, 1e-3) * 0.5)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma) >= 0.5
    if margin:
        mask[:margin] = mask[-margin:] = False
        mask[:, :margin] = mask[:, -margin:] = False
    if mask.sum() < 0.005 * mask.size:  # too small after smoothing (a thin superpixel chain)
        return blob(rng, (height, width), area)
    return mask, {"shape": "segments", "superpixels": len(member), "of": count, "bbox": bbox(mask),
                  "area": round(float(mask.mean()), 5)}
