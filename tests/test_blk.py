"""BLK (block artifact grid, Li, Yuan & Yu 2009) on synthetic forgeries with exact masks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image as PILImage

from forgeries import authentic_jpeg, box_mask, decode, double_jpeg_splice, iou, jpeg_bytes, photo
from tamperscope.detectors import available, create
from tamperscope.detectors.blk import block_values, grid_profile
from tamperscope.image import load

BOX = (256, 384, 256, 320)  # the default box of double_jpeg_splice
SIZE = (768, 1024)


def run(path):
    image = load(path)
    return image, create("blk").run(image)


def flagged(evidence, image) -> np.ndarray:
    return evidence.heatmap_full(image.shape) >= 0.5


def save_png(path, pixels: np.ndarray):
    PILImage.fromarray(pixels).save(path, format="PNG")
    return path


def shifted_splice(shift: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Q90 host with the box taken from the Q60 photo rolled by ``shift`` (rows, columns)."""
    original = photo(*SIZE)
    region = np.roll(decode(jpeg_bytes(original, 60)), shift, axis=(0, 1))
    host = decode(jpeg_bytes(original, 90))
    mask = box_mask(SIZE, *BOX)
    host[mask] = region[mask]
    return host, mask


def test_registered_with_metadata():
    cls = available()["blk"]
    assert cls.version == "1.0"
    assert cls.requires == frozenset()
    assert "Li" in cls.citation and "Signal Processing" in cls.citation


def test_aligned_double_jpeg_region_is_localized(tmp_path):
    # Q60 region at the host's grid offset, then Q90: same grid, much stronger.
    mask = double_jpeg_splice(tmp_path / "aligned.jpg")
    image, ev = run(tmp_path / "aligned.jpg")
    assert ev.ok, ev.reason
    assert ev.facts["grid_offset"] == [0, 0]
    assert iou(flagged(ev, image), mask) >= 0.5  # measured 0.73
    assert ev.score >= 0.8  # measured 0.94
    # The region is flagged because its grid is stronger, not weaker.
    assert ev.facts["stronger_block_share"] > 5 * ev.facts["weaker_block_share"]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "BLK's |second difference| statistic loses the shifted Q60 grid once the image is "
        "recompressed at Q90 (mean BAG peak 60 -> about 10); the region stays within the "
        "host's texture-conditioned spread. Measured IoU 0.07, score 0.0."
    ),
)
def test_shifted_region_recompressed_at_q90_is_localized(tmp_path):
    host, mask = shifted_splice((3, 5))
    path = tmp_path / "shifted.jpg"
    path.write_bytes(jpeg_bytes(host, 90))
    image, ev = run(path)
    assert ev.ok, ev.reason
    assert iou(flagged(ev, image), mask) >= 0.5


@pytest.mark.parametrize("shift", [(3, 5), (0, 4)])
def test_shifted_grid_saved_losslessly_is_localized(tmp_path, shift):
    # Without a final recompression the pasted region keeps its own shifted grid.
    # (0, 4) moves only the horizontal lines: the two directions disagree.
    host, mask = shifted_splice(shift)
    image, ev = run(save_png(tmp_path / "shifted.png", host))
    assert ev.ok, ev.reason
    assert ev.facts["grid_offset"] == [0, 0]
    assert iou(flagged(ev, image), mask) >= 0.5  # measured 0.83 and 0.82
    assert ev.score >= 0.8  # measured 0.96 and 0.96
    assert ev.facts["weaker_block_share"] > ev.facts["stronger_block_share"]


@pytest.mark.parametrize("quality", [90, 75])
def test_authentic_single_jpeg_is_quiet(tmp_path, quality):
    path = tmp_path / f"authentic{quality}.jpg"
    authentic_jpeg(path, quality)
    image, ev = run(path)
    assert ev.ok, ev.reason
    assert ev.score < 0.3  # measured 0.0
    assert flagged(ev, image).mean() < 0.01  # measured 0.06% (Q90), 0.03% (Q75)
    assert ev.facts["grid_offset"] == [0, 0]


def test_never_compressed_png_is_not_applicable(tmp_path):
    image, ev = run(save_png(tmp_path / "raw.png", photo(*SIZE)))
    assert ev.status == "not-applicable"
    assert "no 8x8 JPEG block grid" in ev.reason
    assert ev.score is None and ev.heatmap is None


def test_png_resave_of_cropped_jpeg_finds_shifted_grid(tmp_path):
    # Cropping 3 rows and 5 columns moves the block starts to x = 3, y = 5.
    pixels = decode(jpeg_bytes(photo(*SIZE), 75))[3:, 5:]
    image, ev = run(save_png(tmp_path / "cropped.png", pixels))
    assert ev.ok, ev.reason
    assert ev.facts["grid_offset"] == [3, 5]
    assert ev.score < 0.3
    assert flagged(ev, image).mean() < 0.01


def test_output_contract(tmp_path):
    height, width = 777, 1001  # not multiples of 8
    path = tmp_path / "odd.jpg"
    path.write_bytes(jpeg_bytes(photo(height, width), 80))
    image, ev = run(path)
    assert ev.ok, ev.reason
    cells = (math.ceil(height / 8), math.ceil(width / 8))
    assert ev.stride == 8
    for array in (ev.heatmap, ev.confidence):
        assert array.shape == cells
        assert array.dtype == np.float32
        assert 0.0 <= float(array.min()) and float(array.max()) <= 1.0
    assert ev.heatmap_full(image.shape).shape == image.shape
    json.dumps(ev.facts)
    assert set(ev.facts) >= {"grid_offset", "grid_strength", "rayleigh_z", "flagged_block_share"}
    assert ev.notes and ev.notes[0].startswith("Dominant JPEG block grid at offset (0, 0)")


def test_confidence_is_low_where_pixels_are_clipped(tmp_path):
    pixels = photo(*SIZE)
    pixels[:, :256] = 255  # a saturated band carries no quantization steps
    path = tmp_path / "clipped.jpg"
    path.write_bytes(jpeg_bytes(pixels, 75))
    image, ev = run(path)
    assert ev.ok, ev.reason
    assert float(ev.confidence[:, :24].max()) < 0.1
    assert float(np.median(ev.confidence[:, 40:])) > 0.5


@pytest.mark.parametrize(
    "pixels, words",
    [
        (np.full((24, 24, 3), 128, np.uint8), "too small"),
        (np.full((300, 400, 3), 128, np.uint8), "no 8x8 JPEG block grid"),
    ],
)
def test_not_applicable_cases(tmp_path, pixels, words):
    image, ev = run(save_png(tmp_path / "flat.png", pixels))
    assert ev.status == "not-applicable"
    assert words in ev.reason


def test_bag_peaks_on_block_borders():
    y = load(jpeg_bytes(photo(*SIZE), 75)).luminance()
    profile = grid_profile(y)
    for bag in (profile.bag_h, profile.bag_v):
        mean = bag.reshape(-1, 8).mean(axis=0)
        # Block borders lie between positions 7 and 0 of each 8-pixel period.
        assert set(np.argsort(mean)[-2:]) == {0, 7}
    # The paper's block value: negative on the true grid, positive on a grid shifted by 4.
    assert np.median(block_values(profile, (0, 0))) < 0
    assert np.median(block_values(profile, (4, 4))) > 0
