"""Noise-level inconsistency (NOI1, Mahdian & Saic 2009) through the public API."""

import json

import cv2
import numpy as np
import pytest
import pywt
from PIL import Image as PILImage

from forgeries import authentic_jpeg, box_mask, iou, noise_splice, photo
from tamperscope.detectors import available, create
from tamperscope.detectors.noise import merge_regions, wavelet_level
from tamperscope.image import load

BOX = (200, 300, 256, 256)


def run(path):
    image = load(path)
    return image, create("noise").run(image)


def share_hot(evidence, image):
    return float(np.mean(evidence.heatmap_full(image.shape) >= 0.5))


def test_registered_for_every_format():
    cls = available()["noise"]
    assert cls.name == "noise" and cls.version == "1.0"
    assert cls.requires == frozenset()
    assert "Mahdian" in cls.citation and "2009" in cls.citation


def test_wavelet_level_is_the_db8_dwt():
    x = np.random.default_rng(0).normal(100.0, 20.0, (96, 130)).astype(np.float32)
    ours = wavelet_level(x)
    ll, (lh, hl, hh) = pywt.dwt2(x.astype(np.float64), "db8", mode="periodization")
    # Equal away from the borders, where we reflect and pywt wraps around.
    for name, ref in (("LL", ll), ("HL", hl), ("LH", lh), ("HH", hh)):
        assert ours[name].shape == ref.shape
        np.testing.assert_allclose(ours[name][8:-8, 8:-8], ref[8:-8, 8:-8], atol=1e-3)


def test_noise_added_in_a_box_is_localized_png(tmp_path):
    mask = noise_splice(tmp_path / "noisy.png", sigma=10, box=BOX)
    image, ev = run(tmp_path / "noisy.png")
    assert ev.ok, ev.reason
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.5
    assert ev.score >= 0.7
    # Gaussian noise of sigma 10 per channel is 6.7 in luma, on top of the photo's 1.3.
    assert ev.facts["region_sigma"] > 4 * ev.facts["noise_sigma"]
    assert abs(ev.facts["region_share"] - mask.mean()) < 0.03
    assert ev.facts["region_z"] > 0
    assert "more noise than the rest" in ev.notes[1] and "% of the image" in ev.notes[1]


def test_noise_added_in_a_box_is_localized_jpeg90(tmp_path):
    mask = noise_splice(tmp_path / "noisy.jpg", sigma=10, box=BOX, quality=90)
    image, ev = run(tmp_path / "noisy.jpg")
    assert ev.ok, ev.reason
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.5
    assert ev.score >= 0.5


def test_smoothed_region_is_found_too(tmp_path):
    # Two-sided: a denoised/blurred box has less noise than the rest.
    pixels = photo()
    mask = box_mask(pixels.shape[:2], *BOX)
    pixels[mask] = cv2.GaussianBlur(pixels, (0, 0), 1.0)[mask]
    PILImage.fromarray(pixels).save(tmp_path / "blur.png")
    image, ev = run(tmp_path / "blur.png")
    assert ev.ok and ev.score >= 0.7
    assert ev.facts["region_z"] < 0 and ev.facts["region_sigma"] < ev.facts["noise_sigma"]
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.5


def test_authentic_jpeg90_is_quiet(tmp_path):
    authentic_jpeg(tmp_path / "a.jpg", 90)
    image, ev = run(tmp_path / "a.jpg")
    assert ev.ok
    assert ev.score < 0.3
    assert share_hot(ev, image) < 0.01


def test_clean_png_is_quiet(tmp_path):
    PILImage.fromarray(photo()).save(tmp_path / "clean.png")
    image, ev = run(tmp_path / "clean.png")
    assert ev.ok
    assert ev.score < 0.3
    assert share_hot(ev, image) < 0.01
    # The photo carries Gaussian noise of sigma 2 per channel: 1.34 in luma.
    assert 1.1 < ev.facts["noise_sigma"] < 1.7


def test_isolated_cells_do_not_count():
    # Strong noise in two separate 16x16 cells: each is a departure, neither is a region.
    pixels = photo().astype(np.float64)
    rng = np.random.default_rng(5)
    for top, left in ((320, 480), (160, 800)):
        pixels[top : top + 16, left : left + 16] += rng.normal(0.0, 30.0, (16, 16, 3))
    ev = create("noise").run(load(np.clip(pixels, 0, 255).round().astype(np.uint8)))
    assert ev.ok and ev.score < 0.3


def test_uniform_image_has_no_measurable_noise():
    ev = create("noise").run(load(np.full((256, 320, 3), 128, dtype=np.uint8)))
    assert ev.status == "not-applicable"
    assert "no measurable noise" in ev.reason


def test_saturated_image_has_no_measurable_noise():
    pixels = np.zeros((256, 256, 3), dtype=np.uint8)
    pixels[:, 128:] = 255
    ev = create("noise").run(load(pixels))
    assert ev.status == "not-applicable"


def test_too_small_image_is_not_applicable():
    pixels = np.random.default_rng(0).integers(0, 256, (40, 300, 3), dtype=np.uint8)
    ev = create("noise").run(load(pixels))
    assert ev.status == "not-applicable" and "too small" in ev.reason


@pytest.mark.parametrize("shape", [(301, 451, 3), (333, 257)])
def test_maps_contract_on_odd_sizes(shape):
    base = cv2.resize(photo(), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    pixels = base if len(shape) == 3 else base[..., 1]
    image = load(pixels)
    ev = create("noise").run(image)
    assert ev.ok, ev.reason
    cells = (-(-shape[0] // 16), -(-shape[1] // 16))
    assert ev.stride == 16
    assert ev.heatmap.shape == cells and ev.confidence.shape == cells
    for m in (ev.heatmap, ev.confidence):
        assert m.dtype == np.float32 and m.min() >= 0.0 and m.max() <= 1.0
    assert ev.heatmap_full(image.shape).shape == image.shape
    assert 0.0 <= ev.score <= 1.0
    json.dumps(ev.facts)
    assert ev.notes and all(isinstance(n, str) for n in ev.notes)


def test_saturated_area_has_low_confidence():
    pixels = photo()
    pixels[:, :256] = 255
    image = load(pixels)
    ev = create("noise").run(image)
    assert ev.ok
    conf = ev.confidence_full(image.shape)
    assert conf[:, :240].max() == 0.0
    assert conf[:, 300:].mean() > 0.5


def test_merge_regions_finds_two_levels():
    rng = np.random.default_rng(0)
    level = rng.normal(0.0, 0.15, (30, 40))
    level[10:20, 15:30] += 1.5
    labels, mean, weight, count = merge_regions(level, np.ones_like(level), tau=0.15, margin=0.15)
    inside = labels[12:18, 17:28]
    assert np.unique(inside).size == 1
    region = inside[0, 0]
    assert abs(mean[region] - 1.5) < 0.1
    # The box's 150 cells, give or take a border cell that joined it.
    assert 140 <= count[region] <= 165
    assert count.sum() == level.size and weight.sum() == pytest.approx(level.size)


def test_merge_keeps_a_smooth_noise_field_whole():
    rng = np.random.default_rng(1)
    level = rng.normal(0.0, 0.15, (40, 60))
    labels, _, _, count = merge_regions(level, np.ones_like(level), tau=0.15, margin=0.15)
    assert count.max() >= 0.95 * level.size
