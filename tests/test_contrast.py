"""Contrast enhancement (Stamm & Liu 2010): histogram peaks and gaps, global and by windows."""

import numpy as np

from forgeries import box_mask, iou, jpeg_bytes, photo
from tamperscope.detectors import available, create
from tamperscope.detectors.contrast import high_frequency_statistic, pinch_off
from tamperscope.image import load

BOX = (256, 384, 256, 320)


def gamma(pixels: np.ndarray, g: float) -> np.ndarray:
    return np.clip(np.round(255.0 * (pixels / 255.0) ** g), 0, 255).astype(np.uint8)


def test_registered():
    cls = available()["contrast"]
    assert not cls.decides and "Stamm" in cls.citation  # camera tone curves leave the same trace


def test_pinch_off_weights_the_ends_down():
    w = pinch_off(8)
    assert w[0] == 0 and w[255] == 0 and w[128] == 1 and np.all(np.diff(w[:9]) > 0)


def test_smooth_histogram_is_at_the_counting_noise_level():
    rng = np.random.default_rng(0)
    hist = np.bincount(np.clip(rng.normal(128, 30, 200_000).round(), 0, 255).astype(int), minlength=256)
    ratio, tail = high_frequency_statistic(hist.astype(float), pinch_off(8), 112)
    assert 0.5 < ratio < 2.0 and tail > 1e-3


def test_whole_image_gamma_is_detected_png():
    ev = create("contrast").run(load(gamma(photo(), 0.7)))
    assert ev.ok and ev.score is None and ev.facts["peak_heat"] >= 0.9
    assert min(ev.facts["global_nfa"]) < 1e-6 and sum(ev.facts["histogram_gaps"]) > 30


def test_enhanced_region_is_localized_and_authentic_is_not_flagged():
    original = photo()
    mask = box_mask(original.shape[:2], *BOX)
    local = original.copy()
    local[mask] = gamma(original, 0.7)[mask]
    image = load(local)
    ev = create("contrast").run(image)
    assert ev.ok and ev.facts["peak_heat"] >= 0.9
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.6
    authentic = create("contrast").run(load(original))
    assert authentic.ok and authentic.facts["peak_heat"] < 0.5
    assert create("contrast").run(load(jpeg_bytes(original, 90))).facts["peak_heat"] < 0.5


def test_not_applicable_cases():
    small = create("contrast").run(load(photo(100, 300)))
    assert small.status == "not-applicable" and "too small" in small.reason
    flat = create("contrast").run(load(np.full((256, 256, 3), 77, np.uint8)))
    assert flat.status == "not-applicable" and "too narrow" in flat.reason
