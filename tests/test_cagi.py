"""CAGI (Iakovidou et al. 2018) on synthetic forgeries with exact masks.

CAGI gives maps, no decision; the thresholds below are the levels measured on
these images (noted beside each), not tuned parameters of the method.
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from forgeries import box_mask, decode, iou, jpeg_bytes, photo
from tamperscope.bench.metrics import pixel_auc
from tamperscope.detectors import PROFILES, available, create
from tamperscope.detectors.cagi import cross_differences, in_block_patterns, predict_grids
from tamperscope.image import load

BOX = (256, 384, 256, 320)
SIZE = (768, 1024)


@pytest.fixture(scope="module")
def original():
    return photo(*SIZE)


@pytest.fixture(scope="module")
def mask():
    return box_mask(SIZE, *BOX)


def png(path, pixels):
    PILImage.fromarray(pixels).save(path, format="PNG")
    return path


def run(path, variant="normal"):
    image = load(path)
    return image, create("cagi", variant=variant).run(image)


def spliced(host: np.ndarray, region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = host.copy()
    out[mask] = region[mask]
    return out


def test_registered_as_a_map_in_thorough():
    cls = available()["cagi"]
    assert cls.decides is False
    assert "Iakovidou" in cls.citation and "Visual Communication" in cls.citation
    assert "cagi" in PROFILES["thorough"] and "cagi" not in PROFILES["default"]


def test_grid_prediction_finds_the_jpeg_grid_and_its_crop_offset(original):
    y = load(jpeg_bytes(original, 75)).luminance()
    k, correct, _ = in_block_patterns(y)
    assert predict_grids(k, correct)[-1].origin_xy == (0, 0)
    # Cropping 3 rows and 5 columns moves the block starts to x = 3, y = 5.
    cropped = load(jpeg_bytes(original, 75)).luminance()[3:, 5:]
    k, correct, _ = in_block_patterns(np.ascontiguousarray(cropped))
    assert predict_grids(k, correct)[-1].origin_xy == (3, 5)
    assert cross_differences(np.zeros((4, 5))).shape == (3, 4)


def test_shifted_grid_region_ranks_above_the_host(tmp_path, original, mask):
    # Q60 region rolled by (3, 5) pasted into the Q90 photo, saved losslessly: its grid is shifted.
    region = np.roll(decode(jpeg_bytes(original, 60)), (3, 5), axis=(0, 1))
    image, ev = run(png(tmp_path / "shifted.png", spliced(decode(jpeg_bytes(original, 90)), region, mask)))
    assert ev.ok, ev.reason
    assert ev.score is None
    assert ev.facts["predicted_grid_origin"] == [0, 0]
    heat = ev.heatmap_full(image.shape)
    assert pixel_auc(heat, mask) >= 0.6  # measured 0.69
    assert heat[mask].max() > heat[~mask].max()  # measured 0.47 vs 0.34


@pytest.mark.xfail(
    strict=True,
    reason=(
        "CAGI's map is relative (min-max scaled, raised to the mean, 5x5 averaged): the shifted Q60 region "
        "ranks above the host (AUC 0.69) but peaks at 0.47, so nothing reaches 0.5; measured IoU 0.00"
    ),
)
def test_shifted_grid_region_iou_at_half(tmp_path, original, mask):
    region = np.roll(decode(jpeg_bytes(original, 60)), (3, 5), axis=(0, 1))
    image, ev = run(png(tmp_path / "shifted.png", spliced(decode(jpeg_bytes(original, 90)), region, mask)))
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.3


def test_missing_grid_region_is_marked_by_the_normal_map(tmp_path, original, mask):
    # A resampled patch (scaled by 1.1 after Q60) has no 8x8 grid left; the host is Q90.
    resampled = cv2.resize(decode(jpeg_bytes(original, 60)), None, fx=1.1, fy=1.1,
                           interpolation=cv2.INTER_LINEAR)[: SIZE[0], : SIZE[1]]
    path = png(tmp_path / "missing.png", spliced(decode(jpeg_bytes(original, 90)), resampled, mask))
    image, ev = run(path)
    assert ev.ok, ev.reason
    heat = ev.heatmap_full(image.shape)
    assert iou(heat >= 0.5, mask) >= 0.1  # measured 0.16
    assert pixel_auc(heat, mask) >= 0.6  # measured 0.67
    # The inverse map is not the one for a missing grid: it ranks this region below the host.
    image, inv = run(path, "inverse")
    assert pixel_auc(inv.heatmap_full(image.shape), mask) < 0.5  # measured 0.24


def test_region_alone_carrying_a_grid_is_marked_by_the_inverse_map(tmp_path, original, mask):
    # A Q75 JPEG region pasted into the never-compressed photo: only the region has a grid.
    path = png(tmp_path / "jpeg_in_raw.png", spliced(original, decode(jpeg_bytes(original, 75)), mask))
    image, ev = run(path, "inverse")
    assert ev.ok, ev.reason
    heat = ev.heatmap_full(image.shape)
    assert pixel_auc(heat, mask) >= 0.8  # measured 0.90
    assert heat[mask].max() > heat[~mask].max()  # measured 0.56 vs 0.42
    image, normal = run(path)
    assert pixel_auc(normal.heatmap_full(image.shape), mask) < 0.5  # measured 0.05: the host reads "missing"


@pytest.mark.parametrize("quality", [90, 75])
@pytest.mark.parametrize("variant", ["normal", "inverse"])
def test_authentic_jpeg_is_quiet(tmp_path, original, quality, variant):
    path = tmp_path / "authentic.jpg"
    path.write_bytes(jpeg_bytes(original, quality))
    image, ev = run(path, variant)
    assert ev.ok, ev.reason
    assert ev.facts["flagged_share"] < 0.02  # measured 0.000 (normal), 0.000 / 0.005 (inverse Q90 / Q75)


def test_output_contract(tmp_path, original):
    height, width = 767, 1001  # not multiples of 24
    path = tmp_path / "odd.jpg"
    path.write_bytes(jpeg_bytes(original[:height, :width], 80))
    image, ev = run(path)
    assert ev.ok, ev.reason
    stride = ev.facts["supercell_px"]
    assert ev.stride == stride == 24  # 3x3 blocks from 640x480 up
    for array in (ev.heatmap, ev.confidence):
        assert array.shape == (math.ceil(height / stride), math.ceil(width / stride))
        assert array.dtype == np.float32
        assert 0.0 <= float(array.min()) and float(array.max()) <= 1.0
    json.dumps(ev.facts)
    assert ev.notes and "no decision" in ev.notes[0]


def test_small_image_uses_two_by_two_blocks(tmp_path, original):
    path = tmp_path / "small.jpg"
    path.write_bytes(jpeg_bytes(original[:400, :500], 80))
    _, ev = run(path)
    assert ev.ok, ev.reason
    assert ev.stride == 16


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda o: o, "no 8x8 JPEG block grid"),
        (lambda o: o[:48, :48], "too small"),
        (lambda o: np.full((300, 400, 3), 128, np.uint8), "uniform"),
    ],
)
def test_not_applicable(tmp_path, original, make, words):
    _, ev = run(png(tmp_path / "na.png", np.ascontiguousarray(make(original))))
    assert ev.status == "not-applicable"
    assert words in ev.reason
    assert ev.heatmap is None


def test_unknown_variant_fails_cleanly(tmp_path, original):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(original[:200, :200], 80))
    ev = create("cagi", variant="both").run(load(path))
    assert ev.status == "failed" and "variant" in ev.reason
