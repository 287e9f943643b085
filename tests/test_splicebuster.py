"""Splicebuster (Cozzolino, Poggi, Verdoliva 2015) on synthetic splices with exact masks."""

import json

import cv2
import numpy as np
import pytest

from forgeries import box_mask, decode, iou, jpeg_bytes, photo
from tamperscope.detectors import PROFILES, available, create
from tamperscope.detectors.splicebuster import _CLASS_OF, fit_gaussian_uniform, quantized_residuals
from tamperscope.image import load

BOX = (200, 300, 256, 256)


def run(pixels):
    return create("splicebuster").run(load(pixels))


def test_registered_map_only_in_thorough():
    cls = available()["splicebuster"]
    assert cls.decides is False and "Cozzolino" in cls.citation and "2015" in cls.citation
    assert "splicebuster" in PROFILES["thorough"] and "splicebuster" not in PROFILES["default"]


def test_symmetric_patterns_share_a_class():
    def code(p):
        return sum((v + 1) * 3 ** (3 - k) for k, v in enumerate(p))

    assert len(set(_CLASS_OF.tolist())) == 25
    p = (1, 0, -1, -1)
    same = {_CLASS_OF[code(v)] for v in (p, tuple(-x for x in p), p[::-1], tuple(-x for x in p[::-1]))}
    assert len(same) == 1
    assert _CLASS_OF[code((1, 0, 0, 0))] != _CLASS_OF[code((0, 1, 0, 0))]


def test_residuals_are_third_order_quantized_and_truncated():
    ramp = np.tile((np.arange(40, dtype=np.float32) ** 2) / 8.0, (10, 1))
    rows, cols = quantized_residuals(ramp)
    # A quadratic has no third derivative: every residual is 0 (stored as 1), in both directions.
    assert np.all(rows[:, 2:-2] == 1) and np.all(cols == 1)
    noise = np.random.default_rng(0).normal(128, 20, (50, 50)).astype(np.float32)
    rows, _ = quantized_residuals(noise)
    assert set(np.unique(rows).tolist()) == {0, 1, 2}


def test_em_separates_gaussian_from_uniform_outliers():
    rng = np.random.default_rng(0)
    inliers = rng.normal(0.0, 1.0, (4000, 3))
    outliers = rng.uniform(-20, 20, (400, 3))
    mu, sigma, pi, _ = fit_gaussian_uniform(np.vstack([inliers, outliers]))
    assert pi == pytest.approx(400 / 4400, abs=0.02)
    assert np.allclose(mu, 0.0, atol=0.1) and np.allclose(np.diag(sigma), 1.0, atol=0.15)


@pytest.mark.parametrize("kind", ["jpeg75", "blurred"])
def test_splice_with_other_micro_texture_is_localized(kind):
    pixels = photo()
    mask = box_mask(pixels.shape[:2], *BOX)
    source = decode(jpeg_bytes(pixels, 75)) if kind == "jpeg75" else cv2.GaussianBlur(pixels, (0, 0), 0.8)
    pixels[mask] = source[mask]
    ev = run(pixels)
    assert ev.ok, ev.reason
    assert ev.score is None
    heat = ev.heatmap_full(mask.shape)
    # 128-pixel windows blur the outline: the hot area is the box grown by up to half a window.
    assert iou(heat >= 0.5, mask) >= 0.35
    assert heat[mask].mean() > 0.8 and heat[~mask].mean() < 0.15
    assert 0.1 < ev.facts["outlier_prior"] < 0.4


def test_authentic_photo_and_its_jpeg_are_quiet():
    pixels = photo()
    for image in (pixels, decode(jpeg_bytes(pixels, 90))):
        ev = run(image)
        assert ev.ok
        assert ev.facts["flagged_share"] < 0.02 and ev.facts["outlier_prior"] < 0.02


def test_small_images_use_small_windows():
    ev = run(cv2.resize(photo(), (384, 256), interpolation=cv2.INTER_AREA))
    assert ev.ok and ev.facts["window"] == 64 and ev.stride == 4
    assert ev.heatmap.shape == (64, 96)
    json.dumps(ev.facts)


def test_uniform_saturated_and_tiny_images_are_not_applicable():
    ev = run(np.full((300, 300, 3), 128, np.uint8))
    assert ev.status == "not-applicable" and "no texture or noise" in ev.reason
    ev = run(np.full((300, 300, 3), 255, np.uint8))
    assert ev.status == "not-applicable" and "saturated" in ev.reason
    ev = run(np.zeros((100, 600, 3), np.uint8))
    assert ev.status == "not-applicable" and "too small" in ev.reason


def test_large_images_are_cropped():
    ev = create("splicebuster", max_pixels=500 * 600).run(load(photo()))
    assert ev.ok and "central" in ev.notes[-1]
    assert ev.heatmap.shape == (96, 128)
    assert ev.confidence[:5].max() == 0.0 and ev.confidence[30:60, 40:90].mean() > 0.5
