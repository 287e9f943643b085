"""NPR-style neighbouring-pixel relationships (after Tan et al., CVPR 2024)."""

import json

import cv2
import numpy as np
from skimage import data

from forgeries import box_mask, iou, jpeg_bytes
from tamperscope.detectors import available, create
from tamperscope.detectors.npr import npr_contrast
from tamperscope.image import load


def camera_like(seed: int = 0) -> np.ndarray:
    """A photo at its native resolution (no resampling) with sensor-like noise."""
    rng = np.random.default_rng(seed)
    noisy = data.astronaut().astype(np.float64) + rng.normal(0.0, 2.0, (512, 512, 3))
    return np.clip(noisy, 0, 255).round().astype(np.uint8)


def upsampled(interpolation: int, seed: int = 0) -> np.ndarray:
    """What a generator's 2x up-sampling layer does to a half-resolution image."""
    half = cv2.resize(camera_like(seed), (256, 256), interpolation=cv2.INTER_AREA)
    return cv2.resize(half, (512, 512), interpolation=interpolation)


def run(pixels):
    image = load(pixels)
    return image, create("npr").run(image)


def test_registered_as_ai_evidence():
    cls = available()["npr"]
    assert cls.indicates == "ai-generated" and not cls.decides
    assert "Tan" in cls.citation and "2024" in cls.citation


def test_nearest_2x_upsampled_image_is_found():
    _, ev = run(upsampled(cv2.INTER_NEAREST))
    assert ev.ok and ev.score is None and ev.facts["ai_score"] >= 0.5, ev.facts


def test_bilinear_2x_upsampling_raises_the_statistic_below_the_threshold():
    # Bilinear pairs pixels weakly (contrast about 0.15) while some resized real photos of the calibration
    # set reach 0.7: the calibrated threshold lets it through, the statistic still orders it.
    _, up = run(upsampled(cv2.INTER_LINEAR))
    _, real = run(camera_like())
    assert up.facts["statistic"] > 0.1 > real.facts["statistic"]
    assert up.facts["ai_score"] < 0.5


def test_camera_like_counterpart_is_quiet():
    _, ev = run(camera_like())
    assert ev.ok and ev.facts["ai_score"] < 0.5
    assert abs(ev.facts["contrast"]) < 0.05


def test_phase_does_not_matter():
    # A one-pixel crop moves the 2x2 grid to the other phase: the sign flips, the statistic stays.
    pixels = upsampled(cv2.INTER_NEAREST)
    _, a = run(pixels[:, :-8])
    _, b = run(pixels[:, 1:-7])
    assert a.facts["ai_score"] >= 0.5 and b.facts["ai_score"] >= 0.5
    assert np.sign(a.facts["contrast_h"]) == -np.sign(b.facts["contrast_h"])


def test_jpeg_grid_alone_gives_no_contrast():
    image = load(jpeg_bytes(camera_like(), 90))
    ev = create("npr").run(image)
    assert ev.ok and ev.facts["ai_score"] < 0.5
    assert ev.facts["skipped_h"] == 7 and ev.facts["skipped_v"] == 7


def test_upsampled_box_is_localized():
    pixels = camera_like()
    mask = box_mask(pixels.shape[:2], 128, 192, 256, 256)
    pixels[mask] = upsampled(cv2.INTER_NEAREST, seed=1)[mask]
    image, ev = run(pixels)
    assert ev.stride == 32
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.7


def test_contrast_of_white_noise_is_zero():
    noise = np.random.default_rng(3).normal(128.0, 20.0, (512, 512))
    contrast, _ = npr_contrast(noise)
    assert abs(contrast.mean()) < 0.01


def test_too_small_and_uniform_are_not_applicable():
    _, ev = run(camera_like()[:60, :60])
    assert ev.status == "not-applicable" and "too small" in ev.reason
    _, ev = run(np.full((256, 256, 3), 90, np.uint8))
    assert ev.status == "not-applicable" and "uniform" in ev.reason


def test_output_contract_on_odd_size():
    image, ev = run(camera_like()[:301, :451])
    assert ev.ok
    assert ev.heatmap.shape == (10, 15) and ev.heatmap.dtype == np.float32
    assert ev.heatmap_full(image.shape).shape == image.shape
    json.dumps(ev.facts)
    assert ev.notes
