"""The forgery recipes, each a pure function of a random generator and photos.

Every kind is a function ``(rng, photo, donor) -> (pixels, mask, params, save)``:

* ``rng`` - a :class:`numpy.random.Generator`, the only source of randomness;
* ``photo`` - the host, uint8 RGB ``(H, W, 3)``, never modified;
* ``donor`` - a second photo (uint8 RGB) for kinds that need one (``splice``),
  otherwise None;
* ``pixels`` - the result before the final save, uint8 RGB of the host's shape;
* ``mask`` - bool ``(H, W)``, True where the image was manipulated (all False
  for ``authentic``);
* ``params`` - a JSON-serialisable dict of what was drawn (qualities, offsets,
  angles, region shape and box, the share of mask pixels that changed);
* ``save`` - the final save the recipe needs (the double-JPEG kinds must end as
  a JPEG at Q2), or None to take the shared draw of :func:`draw_save`.

Mask convention (255 in the written PNG): the pixels the manipulation put
there. Outside the mask the returned pixels equal the host exactly, except for
``feather`` blending (``splice`` and soft-edged ``color``), whose Gaussian alpha
spills a few pixels past the mask, which is ``alpha > 0.5`` there. For
``copy-move`` only the pasted target is marked, not the source it was copied
from; the source box is in ``params["source_bbox"]``. This is the convention
of the CASIA v1 ground truth (Pham et al. 2019; 107 of 120 copy-move masks in
``dev/casia1`` hold a single region) and of CoMoFoD's binary masks (white =
forged region; its coloured masks show source and target).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .regions import bbox, blob, object_region, random_region

# --------------------------------------------------------------------------
# The final save, one distribution for every kind

#: Share of images whose final save is PNG (lossless) rather than JPEG.
PNG_SHARE = 0.15
#: Final JPEG quality, an integer drawn uniformly from this closed range.
JPEG_QUALITY = (70, 95)
#: Chroma subsampling of the final JPEG and its probability.
SUBSAMPLING = {"4:2:0": 0.8, "4:4:4": 0.2}
#: Minimum share of the mask's pixels that must differ from the host; a draw
#: below it (a copy of flat sky onto flat sky, a colour edit of a clipped
#: area) is redrawn, up to ``MAX_TRIES`` times.
MIN_CHANGED = 0.3
MAX_TRIES = 8

_PIL_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def draw_save(rng: np.random.Generator, png_share: float = PNG_SHARE) -> dict:
    """Draw a final save: PNG with probability ``png_share``, else a JPEG.

    The JPEG quality is uniform in :data:`JPEG_QUALITY` and the subsampling
    follows :data:`SUBSAMPLING`, whatever the kind.
    """
    is_png = rng.random() < png_share
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    names = list(SUBSAMPLING)
    subsampling = names[int(rng.choice(len(names), p=[SUBSAMPLING[n] for n in names]))]
    if is_png:
        return {"format": "PNG"}
    return {"format": "JPEG", "quality": quality, "subsampling": subsampling}


def encode(pixels: np.ndarray, save: dict) -> bytes:
    """The file bytes of ``pixels`` saved as ``save`` says (no metadata)."""
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if save["format"] == "PNG":
        # zlib level 1: lossless like any level, 3x faster than the default 6, ~15% larger.
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(
            buffer,
            format="JPEG",
            quality=int(save["quality"]),
            subsampling=_PIL_SUBSAMPLING[save.get("subsampling", "4:2:0")],
        )
    return buffer.getvalue()


def jpeg_roundtrip(pixels: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """Decode of ``pixels`` saved as a baseline JPEG at ``quality`` (Pillow/libjpeg)."""
    data = encode(pixels, {"format": "JPEG", "quality": quality, "subsampling": subsampling})
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


# --------------------------------------------------------------------------
# Helpers


def _changed_share(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return 0.0
    return float(changed_pixels(before, after)[mask].mean())


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)``: where any channel differs (10x faster than ``np.any(axis=2)``)."""
    differ = before != after
    return differ[..., 0] | differ[..., 1] | differ[..., 2]


def _interpolation(rng: np.random.Generator, names=("linear", "cubic", "lanczos")) -> tuple[str, int]:
    flags = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
    name = names[int(rng.integers(len(names)))]
    return name, flags[name]


def _feather_alpha(region: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(region.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def _blend(photo: np.ndarray, content: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    mixed = a * content.astype(np.float32) + (1.0 - a) * photo.astype(np.float32)
    out = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    out[alpha <= 0] = photo[alpha <= 0]
    return out


def _composite(
    rng: np.random.Generator, photo: np.ndarray, content: np.ndarray, region: np.ndarray, modes: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Put ``content`` into ``photo`` over ``region`` with a drawn edge treatment.

    * ``hard`` - the region's pixels replaced; mask = region.
    * ``feather`` - alpha = the region blurred by a Gaussian of sigma 1.5-5 px;
      mask = alpha > 0.5 (the alpha tail changes pixels just outside it).
    * ``inner-blur`` - hard paste, then the band of the region within about
      2 sigma (sigma 1-3 px) of its edge replaced by the Gaussian-blurred
      composite, so the seam is soft but nothing outside the region changes;
      mask = region.
    """
    mode = modes[int(rng.integers(len(modes)))]
    if mode == "feather":
        sigma = float(rng.uniform(1.5, 5.0))
        alpha = _feather_alpha(region, sigma)
        return _blend(photo, content, alpha), alpha > 0.5, {"blend": mode, "sigma": round(sigma, 3)}
    pasted = np.where(region[..., None], content, photo)
    if mode == "hard":
        return pasted, region.copy(), {"blend": mode}
    sigma = float(rng.uniform(1.0, 3.0))
    width = max(1, math.ceil(2 * sigma))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    inner = cv2.erode(region.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    band = region & ~inner
    blurred = cv2.GaussianBlur(pasted, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    out = np.where(band[..., None], blurred, pasted)
    return out, region.copy(), {"blend": mode, "sigma": round(sigma, 3), "band": width}


def _retry(once: Callable) -> Callable:
    """Redraw until the mask is non-empty and enough of it changed.

    Adds ``params["changed"]``, the share of mask pixels that differ from the
    host (after the last try when none passed: the sample is kept, never
    silently dropped, and the share says how weak it is).
    """

    def kind(rng: np.random.Generator, photo: np.ndarray, donor: np.ndarray | None = None):
        for attempt in range(1, MAX_TRIES + 1):
            pixels, mask, params, save = once(rng, photo, donor)
            share = _changed_share(photo, pixels, mask)
            if mask.any() and share >= MIN_CHANGED:
                break
        params = {**params, "changed": round(share, 4)}
        if attempt > 1:
            params["tries"] = attempt
        return pixels, mask, params, save

    kind.__name__ = once.__name__.strip("_").removesuffix("_once")
    kind.__doc__ = once.__doc__
    return kind


def _translate(image: np.ndarray, dy: int, dx: int, shape: tuple[int, int]) -> np.ndarray:
    """``image`` moved by whole pixels onto a canvas of ``shape`` (reflected borders): exact copies."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        image, matrix, (shape[1], shape[0]), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101
    )


# --------------------------------------------------------------------------
# The kinds


def _splice_once(rng, photo, donor):
    """A region cut from another photo that was saved as JPEG first.

    Region: polygon or ellipse covering 2-20% of the host. The donor is saved
    at a JPEG quality uniform in 50-95 (4:2:0) and decoded before the cut, so
    the region brings a compression history the host lacks; it is cut at a
    random position of the donor (its JPEG grid lands at a random phase,
    ``params["donor_grid_origin"]``). Edge: hard, feathered or inner-blur
    (one third each, see :func:`_composite`).
    """
    if donor is None:
        raise ValueError("splice needs a donor photo")
    height, width = photo.shape[:2]
    region, shape = random_region(rng, (height, width), (0.02, 0.20))
    top, left, rh, rw = shape["bbox"]
    factor = max(1.0, rh / donor.shape[0], rw / donor.shape[1])
    if factor > 1.0:  # a donor too small for the region is enlarged before it is compressed
        size = (math.ceil(donor.shape[1] * factor), math.ceil(donor.shape[0] * factor))
        donor = cv2.resize(donor, size, interpolation=cv2.INTER_CUBIC)
    quality = int(rng.integers(50, 96))
    compressed = jpeg_roundtrip(donor, quality)
    sy = int(rng.integers(0, donor.shape[0] - rh + 1))
    sx = int(rng.integers(0, donor.shape[1] - rw + 1))
    content = _translate(compressed, top - sy, left - sx, (height, width))
    pixels, mask, edge = _composite(rng, photo, content, region, ("hard", "feather", "inner-blur"))
    params = {
        "region": shape,
        "donor_quality": quality,
        "donor_bbox": [sy, sx, rh, rw],
        "donor_grid_origin": [(top - sy) % 8, (left - sx) % 8],
        "donor_scale": round(factor, 4),
        **edge,
    }
    return pixels, mask, params, None


def _copy_move_once(rng, photo, donor=None, region_of=None):
    """A region of the photo pasted elsewhere in it, maybe rotated and scaled.

    Source region: polygon or ellipse covering 2-12% (smaller than a splice,
    so that source and target fit apart). With probability 1/2 each, a
    rotation uniform in -30..30 degrees and a scale uniform in 0.8..1.2 about
    the source centre (``cv2.warpAffine``, linear, cubic or Lanczos), then a
    whole-pixel translation placing the target at least 8 px away from the
    source. Mask = the target only; ``source_bbox`` and ``target_bbox`` are
    ``[top, left, height, width]``.
    """
    height, width = photo.shape[:2]
    low, high = 0.02, 0.12
    away = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))
    for _ in range(200):
        if region_of is None:
            source, shape = random_region(rng, (height, width), (low, high))
        else:
            source, shape = region_of(rng, photo, (low, high))
        angle = float(rng.uniform(-30.0, 30.0)) if rng.random() < 0.5 else 0.0
        scale = float(rng.uniform(0.8, 1.2)) if rng.random() < 0.5 else 1.0
        top, left, rh, rw = shape["bbox"]
        cy, cx = top + rh // 2, left + rw // 2
        matrix = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, scale)
        corners = np.array([[left, top, 1], [left + rw, top, 1], [left, top + rh, 1], [left + rw, top + rh, 1]], float)
        moved = corners @ matrix.T - [cx, cy]
        x_lo, x_hi = math.ceil(-moved[:, 0].min()), math.floor(width - 1 - moved[:, 0].max())
        y_lo, y_hi = math.ceil(-moved[:, 1].min()), math.floor(height - 1 - moved[:, 1].max())
        if x_lo <= x_hi and y_lo <= y_hi:
            keep_away = cv2.dilate(source.astype(np.uint8), away).astype(bool)
            for _ in range(40):
                ty, tx = int(rng.integers(y_lo, y_hi + 1)), int(rng.integers(x_lo, x_hi + 1))
                placed = matrix.copy()
                placed[:, 2] += [tx - cx, ty - cy]
                target = cv2.warpAffine(
                    source.astype(np.uint8), placed, (width, height), flags=cv2.INTER_NEAREST
                ).astype(bool)
                if target.any() and not (target & keep_away).any():
                    break
            else:
                target = None
            if target is not None:
                break
        high = max(0.002, high * 0.8)  # no room: a smaller region next time
        low = min(low, high)
    else:
        raise ValueError(f"no room for a copy-move in a {width}x{height} image")
    rigid = angle == 0.0 and scale == 1.0
    name, flag = ("none", cv2.INTER_NEAREST) if rigid else _interpolation(rng)
    warped = cv2.warpAffine(photo, placed, (width, height), flags=flag, borderMode=cv2.BORDER_REFLECT_101)
    pixels = np.where(target[..., None], warped, photo)
    params = {
        "region": shape,
        "source_bbox": shape["bbox"],
        "target_bbox": bbox(target),
        "translation": [ty - cy, tx - cx],
        "angle": round(angle, 3),
        "scale": round(scale, 4),
        "interpolation": name,
        "matrix": [[round(float(v), 6) for v in row] for row in placed],
    }
    return pixels, target, params, None


def _removal_once(rng, photo, donor=None):
    """An object-sized blob (2-10% of the image) filled by OpenCV inpainting.

    ``cv2.inpaint`` with TELEA or Navier-Stokes (one half each) and an
    inpainting radius uniform in 3..9 px. Mask = the inpainted blob.
    """
    region, shape = blob(rng, photo.shape[:2], (0.02, 0.10))
    method = ("telea", "ns")[int(rng.integers(2))]
    radius = int(rng.integers(3, 10))
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    filled = cv2.inpaint(photo, region.astype(np.uint8) * 255, radius, flag)
    pixels = np.where(region[..., None], filled, photo)  # inpaint leaves the rest as is; made certain
    return pixels, region, {"region": shape, "method": method, "radius": radius}, None


def _resample_once(rng, photo, donor=None):
    """A region whose content is resized about its centre and pasted back.

    Region: polygon or ellipse covering 2-20%. Factor uniform in 0.7-0.95
    (down) or 1.05-1.4 (up), one half each; ``cv2.warpAffine`` with linear,
    cubic or Lanczos interpolation, borders reflected. Mask = the region.
    """
    height, width = photo.shape[:2]
    region, shape = random_region(rng, (height, width), (0.02, 0.20))
    factor = float(rng.uniform(1.05, 1.4)) if rng.random() < 0.5 else float(rng.uniform(0.7, 0.95))
    top, left, rh, rw = shape["bbox"]
    cy, cx = top + (rh - 1) / 2, left + (rw - 1) / 2
    matrix = np.float64([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)]])
    name, flag = _interpolation(rng)
    warped = cv2.warpAffine(photo, matrix, (width, height), flags=flag, borderMode=cv2.BORDER_REFLECT_101)
    pixels = np.where(region[..., None], warped, photo)
    return pixels, region, {"region": shape, "factor": round(factor, 4), "interpolation": name}, None


def _color_once(rng, photo, donor=None):
    """A local tonal or colour edit of a region, hard or soft-edged.

    One operation, drawn uniformly:

    * ``brightness`` - add +-(12-40) to every channel;
    * ``contrast`` - stretch about the region's mean by 0.65-0.85 or 1.15-1.4;
    * ``gamma`` - 255 (x/255)^g with g in 0.6-0.85 or 1.2-1.6;
    * ``hue`` - rotate the hue by +-(10-60) degrees (OpenCV HSV);
    * ``saturation`` - scale the saturation by 0.4-0.75 or 1.3-1.8.

    Region: polygon or ellipse covering 2-20%; edge hard or feathered (one half
    each, see :func:`_composite`).
    """
    region, shape = random_region(rng, photo.shape[:2], (0.02, 0.20))
    operation = ("brightness", "contrast", "gamma", "hue", "saturation")[int(rng.integers(5))]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    up = rng.random() < 0.5
    values = photo.astype(np.float32)
    if operation == "brightness":
        amount = sign * float(rng.uniform(12, 40))
        edited = values + amount
    elif operation == "contrast":
        amount = float(rng.uniform(1.15, 1.4)) if up else float(rng.uniform(0.65, 0.85))
        mean = values[region].mean(axis=0)
        edited = (values - mean) * amount + mean
    elif operation == "gamma":
        amount = float(rng.uniform(1.2, 1.6)) if up else float(rng.uniform(0.6, 0.85))
        edited = 255.0 * np.power(values / 255.0, amount)
    else:
        hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV).astype(np.float32)
        if operation == "hue":
            amount = sign * float(rng.uniform(10, 60))  # degrees; OpenCV stores hue / 2
            hsv[..., 0] = np.mod(np.rint(hsv[..., 0] + amount / 2), 180)
        else:
            amount = float(rng.uniform(1.3, 1.8)) if up else float(rng.uniform(0.4, 0.75))
            hsv[..., 1] = np.clip(np.rint(hsv[..., 1] * amount), 0, 255)
        values = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
        edited = values
    edited = np.clip(np.rint(edited), 0, 255).astype(np.uint8)
    pixels, mask, edge = _composite(rng, photo, edited, region, ("hard", "feather"))
    return pixels, mask, {"region": shape, "operation": operation, "amount": round(amount, 4), **edge}, None


def _double_jpeg(rng, photo, aligned: bool):
    height, width = photo.shape[:2]
    save = draw_save(rng, png_share=0.0)
    q2 = save["quality"]
    choices = [q for q in range(50, 96) if abs(q - q2) >= 5]
    q1 = int(choices[int(rng.integers(len(choices)))])
    if aligned:
        shift = (0, 0)
    else:
        index = int(rng.integers(1, 64))  # any of the 63 grid phases except (0, 0)
        shift = (index // 8, index % 8)
    region, shape = random_region(rng, (height, width), (0.02, 0.20))
    padded = np.pad(photo, ((shift[0], 0), (shift[1], 0), (0, 0)), mode="edge")
    first = jpeg_roundtrip(padded, q1, "4:2:0")[shift[0] :, shift[1] :]
    pixels = np.where(region[..., None], first, photo)
    params = {
        "region": shape,
        "q1": q1,
        "q2": q2,
        "q1_subsampling": "4:2:0",
        "q1_grid_origin": [(-shift[0]) % 8, (-shift[1]) % 8],
    }
    return pixels, region, params, save


def _double_jpeg_aligned_once(rng, photo, donor=None):
    """A region of the photo as it was after a JPEG save at Q1, final save at Q2.

    Q2 is drawn like every final JPEG save (:func:`draw_save`, quality 70-95),
    the format forced to JPEG; Q1 is uniform in 50-95 with |Q1 - Q2| >= 5.
    The region (polygon or ellipse, 2-20%) is taken from the Q1 decode at the
    same place, so the content is unchanged and only the compression history
    differs; the Q1 grid coincides with the final one (aligned double JPEG).
    The rest of the image is the photo itself, compressed once at Q2 by the
    final save, as the authentic controls are.
    """
    return _double_jpeg(rng, photo, aligned=True)


def _double_jpeg_nonaligned_once(rng, photo, donor=None):
    """As ``double-jpeg-aligned`` but with the Q1 grid shifted.

    The photo is padded by (dy, dx) rows/columns at the top/left (edge
    replication, (dy, dx) uniform over the 63 phases other than (0, 0)),
    saved at Q1, decoded and cropped back, so the region's Q1 8x8 blocks begin
    at rows/columns ``params["q1_grid_origin"]`` modulo 8 instead of 0.
    """
    return _double_jpeg(rng, photo, aligned=False)


def authentic(rng, photo, donor=None):
    """The photo itself; it gets the same resizing and final save as every forgery."""
    return photo.copy(), np.zeros(photo.shape[:2], bool), {}, None


def _match_colour(content: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
    """Move ``content``'s CIELAB mean and spread toward ``reference``'s (Reinhard et al., IEEE CG&A 2001).

    ``strength`` 0 keeps the content, 1 matches the statistics fully; a forger
    matching colours by eye lands in between.
    """
    lab = cv2.cvtColor(content, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    ref = cv2.cvtColor(reference.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    mean, std = lab.mean(axis=0), lab.std(axis=0) + 1e-3
    target_mean, target_std = ref.mean(axis=0), ref.std(axis=0) + 1e-3
    matched = (lab - mean) * (target_std / std) + target_mean
    mixed = (1 - strength) * lab + strength * matched
    out = np.clip(np.rint(mixed), 0, 255).astype(np.uint8).reshape(content.shape)
    return cv2.cvtColor(out, cv2.COLOR_LAB2RGB)


def _splice_object_once(rng, photo, donor):
    """An object cut from another photo along its own outline, colour-matched and pasted.

    The donor (after a JPEG save at a quality uniform in 50-95, so the object
    brings its own compression history) is scaled by 0.6-1.3 and cut along an
    :func:`~tamperscope.synth.regions.object_region` of its own (an object-shaped
    group of superpixels covering 2-15% of the host's area); the cut-out's colours
    are moved toward the host's around the paste site (Reinhard transfer,
    strength uniform in 0-0.8) and it is pasted at a random position with a hard,
    feathered or inner-blur edge. Mask = the pasted object.
    """
    if donor is None:
        raise ValueError("splice-object needs a donor photo")
    height, width = photo.shape[:2]
    factor = float(rng.uniform(0.6, 1.3))
    factor = max(factor, 0.5 * max(height / donor.shape[0], width / donor.shape[1]))
    size = (max(16, round(donor.shape[1] * factor)), max(16, round(donor.shape[0] * factor)))
    scaled = cv2.resize(donor, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    quality = int(rng.integers(50, 96))
    compressed = jpeg_roundtrip(scaled, quality)
    share = float(rng.uniform(0.02, 0.15)) * height * width / (scaled.shape[0] * scaled.shape[1])
    cut, shape = object_region(rng, compressed, (min(share, 0.5), min(share * 1.2, 0.6)))
    top, left, rh, rw = shape["bbox"]
    rh, rw = min(rh, height - 2), min(rw, width - 2)
    cut = cut[top : top + rh, left : left + rw]
    piece = compressed[top : top + rh, left : left + rw]
    ty, tx = int(rng.integers(0, height - rh + 1)), int(rng.integers(0, width - rw + 1))
    region = np.zeros((height, width), bool)
    region[ty : ty + rh, tx : tx + rw] = cut
    strength = float(rng.uniform(0.0, 0.8))
    if strength > 0 and region.any():
        around = photo[ty : ty + rh, tx : tx + rw]
        piece = _match_colour(piece, around, strength)
    content = photo.copy()
    content[ty : ty + rh, tx : tx + rw] = piece
    pixels, mask, edge = _composite(rng, photo, content, region, ("hard", "feather", "inner-blur"))
    params = {"region": {**shape, "bbox": bbox(region), "area": round(float(region.mean()), 5)},
              "donor_quality": quality, "donor_scale": round(factor, 4), "colour_match": round(strength, 3),
              "donor_grid_origin": [(ty - top) % 8, (tx - left) % 8], **edge}
    return pixels, mask, params, None


def _copy_move_object_once(rng, photo, donor=None):
    """As ``copy-move``, with an object-shaped source region (superpixels grown by colour, 2-12%)."""
    return _copy_move_once(rng, photo, None, region_of=object_region)


def _removal_object_once(rng, photo, donor=None):
    """An object-shaped region (superpixels, 2-10%), slightly dilated, filled by OpenCV inpainting.

    Removing an object means filling the area it covered from its surroundings:
    TELEA (Telea, J. Graphics Tools 2004) or Navier-Stokes (Bertalmio et al.,
    CVPR 2001), one half each, radius uniform in 3..9 px. The region is dilated
    by 2-6 px first, as a person's removal brush overlaps the object's outline.
    Mask = the filled area.
    """
    region, shape = object_region(rng, photo, (0.02, 0.10))
    grow = int(rng.integers(2, 7))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    region = cv2.dilate(region.astype(np.uint8), kernel).astype(bool)
    method = ("telea", "ns")[int(rng.integers(2))]
    radius = int(rng.integers(3, 10))
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    filled = cv2.inpaint(photo, region.astype(np.uint8) * 255, radius, flag)
    pixels = np.where(region[..., None], filled, photo)
    return pixels, region, {"region": {**shape, "bbox": bbox(region)}, "method": method, "radius": radius,
                            "dilation": grow}, None


def _retouch_once(rng, photo, donor=None):
    """Local retouching of an object-shaped region: blur, median, sharpening, denoising or added noise.

    One operation, drawn uniformly: Gaussian blur (sigma 0.8-2.5), median
    filter (3 or 5), unsharp masking (amount 0.6-1.5, sigma 1-2), bilateral
    denoising (OpenCV, d 5-9) or Gaussian noise (sigma 3-8 grey levels), over
    an object region (2-15%), hard or feathered edge. These change the local
    noise and sharpness while the content stays the same.
    """
    region, shape = object_region(rng, photo, (0.02, 0.15))
    operation = ("blur", "median", "sharpen", "denoise", "noise")[int(rng.integers(5))]
    if operation == "blur":
        amount = float(rng.uniform(0.8, 2.5))
        edited = cv2.GaussianBlur(photo, (0, 0), amount)
    elif operation == "median":
        amount = float((3, 5)[int(rng.integers(2))])
        edited = cv2.medianBlur(photo, int(amount))
    elif operation == "sharpen":
        amount = float(rng.uniform(0.6, 1.5))
        soft = cv2.GaussianBlur(photo, (0, 0), float(rng.uniform(1.0, 2.0))).astype(np.float32)
        edited = np.clip(np.rint(photo + amount * (photo.astype(np.float32) - soft)), 0, 255).astype(np.uint8)
    elif operation == "denoise":
        amount = float(rng.integers(5, 10))
        edited = cv2.bilateralFilter(photo, int(amount), 40, 5)
    else:
        amount = float(rng.uniform(3, 8))
        edited = np.clip(np.rint(photo + rng.normal(0, amount, photo.shape)), 0, 255).astype(np.uint8)
    pixels, mask, edge = _composite(rng, photo, edited, region, ("hard", "feather"))
    return pixels, mask, {"region": shape, "operation": operation, "amount": round(amount, 4), **edge}, None


splice = _retry(_splice_once)
copy_move = _retry(_copy_move_once)
removal = _retry(_removal_once)
resample = _retry(_resample_once)
color = _retry(_color_once)
double_jpeg_aligned = _retry(_double_jpeg_aligned_once)
double_jpeg_nonaligned = _retry(_double_jpeg_nonaligned_once)
splice_object = _retry(_splice_object_once)
copy_move_object = _retry(_copy_move_object_once)
removal_object = _retry(_removal_object_once)
retouch = _retry(_retouch_once)


@dataclass(frozen=True)
class Kind:
    """A forgery recipe and what the dataset builder needs to know about it."""

    name: str
    make: Callable
    label: str = "tampered"
    needs_donor: bool = False
    jpeg_only: bool = False


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("splice", splice, needs_donor=True),
        Kind("copy-move", copy_move),
        Kind("removal", removal),
        Kind("resample", resample),
        Kind("color", color),
        Kind("double-jpeg-aligned", double_jpeg_aligned, jpeg_only=True),
        Kind("double-jpeg-nonaligned", double_jpeg_nonaligned, jpeg_only=True),
        Kind("authentic", authentic, label="authentic"),
        Kind("splice-object", splice_object, needs_donor=True),
        Kind("copy-move-object", copy_move_object),
        Kind("removal-object", removal_object),
        Kind("retouch", retouch),
    )
}

#: The kinds ``tamperscope synth`` cycles by default, in order (the benchmark set's recipe names them).
ALL_KINDS: tuple[str, ...] = ("splice", "copy-move", "removal", "resample", "color", "double-jpeg-aligned",
                              "double-jpeg-nonaligned", "authentic")
#: Kinds whose regions follow the photo's own segments (:func:`~tamperscope.synth.regions.object_region`).
OBJECT_KINDS: tuple[str, ...] = ("splice-object", "copy-move-object", "removal-object", "retouch")
