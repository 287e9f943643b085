"""Spectral up-sampling traces (Durall et al. 2020; Frank et al. 2020)."""

import json

import cv2
import numpy as np

from forgeries import jpeg_bytes
from tamperscope.detectors import available, create
from tamperscope.detectors.spectral import grid_peaks, high_frequency_excess, welch_spectrum
from tamperscope.image import load
from test_npr import camera_like


def periodic_upsampled() -> np.ndarray:
    """A transposed-convolution-like 2x up-sampling: zero insertion then a short filter, as in 2020 GANs."""
    half = cv2.resize(camera_like(), (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32)
    zeros = np.zeros((512, 512, 3), np.float32)
    zeros[::2, ::2] = half
    kernel = np.array([0.5, 1.0, 0.5], np.float32)
    # An imperfect interpolation kernel (taps 0.9/0.5) leaves the period-2 pattern a generator leaves.
    up = cv2.sepFilter2D(zeros, -1, kernel * [1, 1.8, 1], kernel * [1, 1.8, 1])
    return np.clip(up, 0, 255).round().astype(np.uint8)


def run(source):
    image = load(source)
    return image, create("spectral").run(image)


def test_registered_as_ai_evidence():
    cls = available()["spectral"]
    assert cls.indicates == "ai-generated"
    assert "Durall" in cls.citation and "Frank" in cls.citation


def test_period_two_pattern_gives_a_peak_at_half_frequency():
    _, ev = run(periodic_upsampled())
    assert ev.ok and ev.score is None and ev.facts["ai_score"] >= 0.5, ev.facts
    assert ev.facts["peak_used"]
    assert 0.5 in [abs(f) for f in ev.facts["peak_frequency"]]


def test_camera_like_counterpart_is_quiet():
    _, ev = run(camera_like())
    assert ev.ok and ev.facts["ai_score"] < 0.5, ev.facts


def test_jpeg_grid_peaks_are_not_counted():
    image, ev = run(jpeg_bytes(camera_like(), 90))
    assert ev.ok and not ev.facts["peak_used"]
    assert ev.facts["ai_score"] < 0.5
    assert "8x8 block grid" in " ".join(ev.notes)


def test_white_noise_has_no_peaks_and_blur_lowers_the_excess():
    noise = np.random.default_rng(1).normal(0.0, 10.0, (512, 512)).astype(np.float32)
    power = welch_spectrum(noise)
    assert grid_peaks(power).max() < 0.6
    # A lens-like blur takes power from the highest frequencies: the excess over the mid-band trend drops.
    blurred = cv2.GaussianBlur(noise, (0, 0), 0.7)
    assert high_frequency_excess(welch_spectrum(blurred)) < high_frequency_excess(power) - 0.5


def test_window_map_marks_a_periodic_half():
    pixels = camera_like()
    pixels[:, 256:] = periodic_upsampled()[:, 256:]
    image, ev = run(pixels)
    assert ev.stride == 256 and ev.heatmap.shape == (2, 2)
    assert ev.heatmap[:, 1].min() >= 0.5 > ev.heatmap[:, 0].max()


def test_too_small_and_uniform_are_not_applicable():
    _, ev = run(camera_like()[:100, :100])
    assert ev.status == "not-applicable" and "too small" in ev.reason
    _, ev = run(np.full((256, 256, 3), 7, np.uint8))
    assert ev.status == "not-applicable" and "uniform" in ev.reason


def test_output_contract():
    _, ev = run(camera_like()[:300, :450])
    assert ev.ok and ev.score is None and 0.0 <= ev.facts["ai_score"] <= 1.0
    json.dumps(ev.facts)
