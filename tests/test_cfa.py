"""CFA demosaicing artifacts (Ferrara et al. 2012) on synthetic Bayer images with exact masks."""

import json

import cv2
import numpy as np
import pytest

from forgeries import box_mask, iou, jpeg_bytes, photo
from tamperscope.detectors import PROFILES, available, create
from tamperscope.detectors.cfa import fit_mixture, prediction_error, quincunx
from tamperscope.image import load

BOX = (200, 300, 256, 256)


def bayer_bg(rgb: np.ndarray) -> np.ndarray:
    """One colour per pixel as a BG Bayer sensor samples it (greens where row + col is odd)."""
    mosaic = np.empty(rgb.shape[:2], dtype=np.uint8)
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 2]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    return mosaic


def demosaic(rgb: np.ndarray, code: int = cv2.COLOR_BayerBG2BGR) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(bayer_bg(rgb), code)[..., ::-1])


@pytest.fixture(scope="module")
def scene():
    original = photo()
    return original, demosaic(original), box_mask(original.shape[:2], *BOX)


def run(pixels):
    return create("cfa").run(load(pixels))


def test_registered_map_only_in_thorough():
    cls = available()["cfa"]
    assert cls.decides is False and "Ferrara" in cls.citation and "2012" in cls.citation
    assert "cfa" in PROFILES["thorough"] and "cfa" not in PROFILES["default"]


def test_interpolated_greens_are_predicted_exactly(scene):
    _, demosaiced, _ = scene
    error = prediction_error(demosaiced[..., 1])[2:-2, 2:-2]
    odd = ~quincunx(demosaiced.shape[:2])[2:-2, 2:-2]
    # OpenCV's bilinear demosaicing interpolates greens on the even lattice: only rounding is left there.
    assert np.abs(error[~odd]).max() <= 0.5
    assert error[odd].std() > 2.0


@pytest.mark.parametrize("kind", ["other_phase", "not_demosaiced", "resampled"])
def test_pasted_region_without_the_host_pattern_is_found(scene, kind):
    original, host, mask = scene
    if kind == "other_phase":
        source = demosaic(original, cv2.COLOR_BayerGB2BGR)
    elif kind == "not_demosaiced":
        source = original
    else:
        small = cv2.resize(host, (900, 675), interpolation=cv2.INTER_LINEAR)
        source = cv2.resize(small, (1024, 768), interpolation=cv2.INTER_LINEAR)
    forged = host.copy()
    forged[mask] = source[mask]
    ev = run(forged)
    assert ev.ok, ev.reason
    assert ev.score is None
    assert iou(ev.heatmap_full(mask.shape) >= 0.5, mask) >= 0.6
    assert ev.facts["acquired_lattice"] == "odd"


def test_fully_demosaiced_image_is_quiet(scene):
    _, host, _ = scene
    ev = run(host)
    assert ev.ok
    assert ev.facts["flagged_share"] < 0.01
    assert ev.facts["cfa_strength"] > 3


@pytest.mark.parametrize("quality", [90, 95])
def test_jpeg_erases_the_trace(scene, tmp_path, quality):
    _, host, _ = scene
    path = tmp_path / "host.jpg"
    path.write_bytes(jpeg_bytes(host, quality))
    ev = create("cfa").run(load(path))
    assert ev.status == "not-applicable"
    assert "JPEG-compressed at quality" in ev.reason


def test_image_never_demosaiced_is_not_applicable(scene):
    original, _, _ = scene
    ev = run(original)
    assert ev.status == "not-applicable" and "no demosaicing" in ev.reason


def test_uniform_grey_and_small_images_are_not_applicable():
    assert run(np.full((256, 256, 3), 128, np.uint8)).status == "not-applicable"
    grey = photo(256, 256)[..., 1]
    ev = run(grey)
    assert ev.status == "not-applicable" and "greyscale" in ev.reason
    ev = run(np.zeros((20, 300, 3), np.uint8))
    assert ev.status == "not-applicable" and "too small" in ev.reason


def test_flat_colour_image_is_not_applicable():
    pixels = np.zeros((256, 256, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 200, 120, 40
    ev = run(pixels)
    assert ev.status == "not-applicable" and "flat" in ev.reason


@pytest.mark.parametrize("shape", [(301, 451), (255, 333)])
def test_maps_contract_on_odd_sizes(shape):
    pixels = demosaic(cv2.resize(photo(), (shape[1], shape[0]), interpolation=cv2.INTER_AREA))
    ev = run(pixels)
    assert ev.ok, ev.reason
    cells = (-(-shape[0] // 8), -(-shape[1] // 8))
    assert ev.stride == 8 and ev.heatmap.shape == cells and ev.confidence.shape == cells
    json.dumps(ev.facts)


def test_mixture_recovers_its_components():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(3.0, 0.5, 9000), rng.normal(0.0, 0.3, 800), rng.normal(-2.5, 0.5, 200)])
    model = fit_mixture(values)
    assert model["mu2"] == pytest.approx(3.0, abs=0.05)
    assert model["s1"] == pytest.approx(0.3, abs=0.05)
    assert model["pi_cfa"] == pytest.approx(0.9, abs=0.02)
    assert model["mu3"] == pytest.approx(-2.5, abs=0.15)
