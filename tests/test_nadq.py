"""NADQ (Bianchi & Piva 2012, non-aligned model) on synthetic forgeries with exact masks."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from forgeries import box_mask, decode, iou, jpeg_bytes, photo
from tamperscope.detectors import available, create
from tamperscope.image import load

SIZE = (512, 640)
BOX = (160, 224, 192, 224)


def cropped_host_with_pasted_region(path, shift, q1, q2):
    """A Q1 JPEG shifted off its grid (as a crop does), a box from the uncompressed photo pasted, saved at Q2."""
    original = photo(*SIZE)
    host = np.roll(decode(jpeg_bytes(original, q1)), shift, axis=(0, 1))
    mask = box_mask(SIZE, *BOX)
    host[mask] = np.roll(original, shift, axis=(0, 1))[mask]
    path.write_bytes(jpeg_bytes(host, q2))
    return mask


def run(path):
    image = load(path)
    return image, create("nadq").run(image)


def test_registered_as_map_only():
    assert available()["nadq"].decides is False


def test_shift_and_primary_steps_are_recovered_and_the_region_is_marked(tmp_path):
    mask = cropped_host_with_pasted_region(tmp_path / "m.jpg", (3, 5), 70, 90)
    image, ev = run(tmp_path / "m.jpg")
    assert ev.ok, ev.reason
    assert ev.facts["first_grid_shift"] == [3, 5]
    assert ev.facts["inverted"] is False
    assert ev.facts["primary_steps"]["0,1"] == 7 and ev.facts["primary_steps"]["1,0"] == 7  # Q70 steps
    heat = ev.heatmap_full(image.shape)
    # Measured at 768x1024: mean 0.997 inside, 0.37 outside, IoU 0.25 (the paper's map is noisy per block).
    assert heat[mask].mean() > 0.9
    assert heat[mask].mean() - heat[~mask].mean() > 0.4
    assert iou(heat >= 0.5, mask) > 0.15


def test_png_and_small_jpeg_are_not_applicable(tmp_path):
    PILImage.fromarray(photo(64, 64)).save(tmp_path / "p.png")
    _, ev = run(tmp_path / "p.png")
    assert ev.status == "not-applicable"
    (tmp_path / "t.jpg").write_bytes(jpeg_bytes(photo(40, 40), 80))
    _, ev = run(tmp_path / "t.jpg")
    assert ev.status == "not-applicable" and "too small" in ev.reason


def test_uniform_jpeg_does_not_fail(tmp_path):
    (tmp_path / "u.jpg").write_bytes(jpeg_bytes(np.full((128, 128, 3), 120, np.uint8), 80))
    _, ev = run(tmp_path / "u.jpg")
    assert ev.status in {"ok", "not-applicable"}, ev.reason


def shifted_region(shift, q_region=60, q_host=90, paste=True):
    """The BLK xfail case (tests/test_blk.py, same size and box): a Q60 region on a shifted grid in a Q90
    host, saved at Q90. At 512x640 the region is too small for the shift search (it picked (0, 4))."""
    size = (768, 1024)
    original = photo(*size)
    region = np.roll(decode(jpeg_bytes(original, q_region)), shift, axis=(0, 1))
    host = decode(jpeg_bytes(original, q_host))
    mask = box_mask(size, 256, 384, 256, 320)
    if paste:
        host[mask] = region[mask]
    return jpeg_bytes(host, q_host), mask


def test_shifted_low_quality_region_recompressed_at_q90_is_localized(tmp_path):
    # BLK and ZERO both miss this case; the doubly compressed minority is the region, so the map is inverted.
    data, mask = shifted_region((3, 5))
    (tmp_path / "s.jpg").write_bytes(data)
    image, ev = run(tmp_path / "s.jpg")
    assert ev.ok, ev.reason
    assert ev.facts["first_grid_shift"] == [3, 5]
    assert ev.facts["inverted"] is True
    assert ev.facts["primary_steps"]["0,1"] == 9 and ev.facts["primary_steps"]["1,0"] == 10  # Q60 steps
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.5  # measured 0.61 at 768x1024


def test_authentic_counterpart_maps_little(tmp_path):
    data, mask = shifted_region((3, 5), paste=False)
    (tmp_path / "a.jpg").write_bytes(data)
    image, ev = run(tmp_path / "a.jpg")
    assert ev.ok
    assert float((ev.heatmap >= 0.5).mean()) < 0.1  # measured 4% at 768x1024 (a map without a decision)
