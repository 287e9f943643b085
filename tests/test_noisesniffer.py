"""Noisesniffer (Gardella et al. 2021, IPOL 2024) on synthetic images with exact masks."""

import json
import math

import cv2
import numpy as np
import pytest
from scipy.fft import dctn
from scipy.stats import binom

from forgeries import box_mask, iou, photo
from tamperscope.detectors import PROFILES, available, create
from tamperscope.detectors.noisesniffer import block_statistics, log10_binomial_tail, log10_nfa, valid_blocks
from tamperscope.image import load

BOX = (200, 300, 256, 256)


def run(pixels):
    return create("noisesniffer").run(load(pixels))


def test_registered_map_only_in_thorough():
    cls = available()["noisesniffer"]
    assert cls.decides is False and "Gardella" in cls.citation
    assert "noisesniffer" in PROFILES["thorough"] and "noisesniffer" not in PROFILES["default"]


def test_block_statistics_match_the_definitions():
    x = np.random.default_rng(0).integers(0, 256, (12, 15)).astype(np.uint8)
    mean, variance, energy = block_statistics(x, 3)
    assert mean.shape == (10, 13)
    for top, left in ((0, 0), (4, 7), (9, 12)):
        block = x[top : top + 3, left : left + 3].astype(np.float64)
        coef = dctn(block, norm="ortho")
        low = sum(coef[i, j] ** 2 for i in range(3) for j in range(3) if 0 < i + j < 3)
        assert mean[top, left] == pytest.approx(block.mean(), rel=1e-6)
        assert variance[top, left] == pytest.approx(block.var(), rel=1e-6)
        assert energy[top, left] == pytest.approx(low, rel=1e-4)
    flat = np.full((6, 6), 77, np.uint8)
    assert np.all(block_statistics(flat, 3)[1] == 0)


def test_binomial_tail_and_nfa():
    for k, n, p in ((5, 10, 0.5), (40, 100, 0.5), (300, 400, 0.5)):
        assert log10_binomial_tail(k, n, p) == pytest.approx(math.log10(binom.sf(k - 1, n, p)), rel=1e-6)
    # Far tails do not underflow to -inf.
    assert log10_binomial_tail(3000, 3000, 0.5) == pytest.approx(3000 * math.log10(0.5), rel=1e-6)
    assert log10_binomial_tail(0, 10, 0.5) == 0.0
    # NFA of one cell with no excess is the number of tests.
    area, cell = 1000.0 * 1000.0, 100
    assert log10_nfa(1, 9 * 50, 9 * 100, 3, 0.5, area, cell) > 0


def test_clipped_pixels_invalidate_their_blocks():
    pixels = np.full((10, 10, 3), 100, np.uint8)
    pixels[0, 0] = 0
    pixels[9, 9] = 200
    valid = valid_blocks(pixels, 3)
    assert not valid[0, 0] and not valid[7, 7] and valid[3, 3]


@pytest.mark.parametrize("kind", ["blurred", "cleaner"])
def test_less_noisy_region_is_detected(kind):
    pixels = photo()
    mask = box_mask(pixels.shape[:2], *BOX)
    if kind == "blurred":
        pixels[mask] = cv2.GaussianBlur(pixels, (0, 0), 1.0)[mask]
    else:
        # The host gets extra sensor noise, the box keeps the photo's own: a paste from a cleaner camera.
        noisy = pixels.astype(np.float64) + np.random.default_rng(3).normal(0, 2.0, pixels.shape)
        pixels[~mask] = np.clip(noisy, 0, 255).round().astype(np.uint8)[~mask]
    ev = run(pixels)
    assert ev.ok, ev.reason
    assert ev.score is None and ev.facts["detected"] and ev.facts["log10_nfa"] < -10
    assert iou(ev.heatmap_full(mask.shape) >= 0.5, mask) >= 0.6
    assert "NFA" in ev.notes[0]


def test_authentic_photo_is_quiet():
    ev = run(photo())
    assert ev.ok
    assert not ev.facts["detected"] and ev.facts["log10_nfa"] > 0
    assert ev.heatmap.max() < 0.5 and ev.facts["flagged_share"] == 0.0
    assert "No region" in ev.notes[0]


def test_uniform_and_small_images_are_not_applicable():
    ev = run(np.full((300, 300, 3), 128, np.uint8))
    assert ev.status == "not-applicable" and "no measurable noise" in ev.reason
    ev = run(photo(150, 400))
    assert ev.status == "not-applicable" and "too small" in ev.reason


def test_maps_contract_on_odd_sizes_and_greyscale():
    pixels = cv2.resize(photo(), (451, 301), interpolation=cv2.INTER_AREA)
    for image in (pixels, pixels[..., 1]):
        ev = run(image)
        assert ev.ok, ev.reason
        assert ev.stride == 100 and ev.heatmap.shape == (4, 5) and ev.confidence.shape == (4, 5)
        json.dumps(ev.facts)


def test_large_images_are_cropped_on_the_cell_grid():
    pixels = photo()
    ev = create("noisesniffer", max_pixels=400 * 500).run(load(pixels))
    assert ev.ok and "central" in ev.notes[-1]
    assert ev.heatmap.shape == (8, 11)
    assert ev.confidence[0].max() == 0.0 and ev.confidence[3:5, 3:7].min() > 0.0
