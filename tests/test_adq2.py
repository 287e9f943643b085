"""ADQ2 (Bianchi, De Rosa, Piva 2011) on synthetic forgeries with exact masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from forgeries import authentic_jpeg, decode, double_jpeg_splice, iou, jpeg_bytes, photo
from tamperscope.detectors import available, create
from tamperscope.detectors.adq2 import periodic_factor
from tamperscope.image import load

SIZE = (512, 640)


def single_region_in_double_host(path, q1, q2):
    """Host compressed at q1 then q2; the pasted box (from the uncompressed photo) only at q2."""
    original = photo(*SIZE)
    host = decode(jpeg_bytes(original, q1))
    mask = np.zeros(SIZE, bool)
    mask[128:320, 192:448] = True
    host[mask] = original[mask]
    path.write_bytes(jpeg_bytes(host, q2))
    return mask


def run(path):
    image = load(path)
    return image, create("adq2").run(image)


def test_registered_as_map_only():
    cls = available()["adq2"]
    assert cls.decides is False and cls.requires == frozenset({"jpeg"})


def test_periodic_factor_has_mean_one_and_the_q1_period():
    bins = np.arange(-60, 61)
    n = periodic_factor(7, 2, bins)
    assert n.mean() == pytest.approx(1.0, abs=0.03)
    # With q1 = 7 and q2 = 2, value 0 (7 * 0) and 3-4 (7 / 2 = 3.5, split) are hit, 1 and 2 are not.
    assert n[60] > 0 and n[61] == 0 and n[62] == 0 and n[63] > 0 and n[64] > 0


@pytest.mark.parametrize("q1, q2, steps", [(70, 90, {"0,1": 7, "1,0": 7}), (60, 80, {"0,1": 9, "1,0": 10})])
def test_singly_compressed_region_in_doubly_compressed_host(tmp_path, q1, q2, steps):
    mask = single_region_in_double_host(tmp_path / "m.jpg", q1, q2)
    image, ev = run(tmp_path / "m.jpg")
    assert ev.ok, ev.reason
    assert ev.score is None
    for key, step in steps.items():  # IJG steps of the first quality
        assert ev.facts["primary_steps"][key] == step
    heat = ev.heatmap_full(image.shape)
    assert iou(heat >= 0.5, mask) >= 0.5  # measured 0.60 (70/90) and 0.96 (60/80) at 768x1024
    assert heat[mask].mean() > 0.9 and heat[~mask].mean() < 0.2


@pytest.mark.parametrize("quality", [75, 90, 95])
def test_single_compression_maps_nothing(tmp_path, quality):
    authentic_jpeg(tmp_path / "a.jpg", quality, size=SIZE)
    image, ev = run(tmp_path / "a.jpg")
    assert ev.ok
    assert ev.facts["double_quantized_frequencies"] == 0
    assert float(ev.heatmap.max()) < 0.5


def test_minority_double_compression_is_outside_the_model(tmp_path):
    # A Q60 region in a Q90 host: doubly compressed blocks are about 10% of the image, below the
    # paper's alpha > 0.25, so ADQ2 reports no primary step (DQ handles this case).
    double_jpeg_splice(tmp_path / "s.jpg", size=SIZE, box=(128, 192, 192, 256))
    _, ev = run(tmp_path / "s.jpg")
    assert ev.ok and float((ev.heatmap >= 0.5).mean()) < 0.05


def test_png_and_tiny_jpeg_are_not_applicable(tmp_path):
    PILImage.fromarray(photo(64, 64)).save(tmp_path / "p.png")
    _, ev = run(tmp_path / "p.png")
    assert ev.status == "not-applicable" and "not a JPEG" in ev.reason
    (tmp_path / "t.jpg").write_bytes(jpeg_bytes(photo(24, 24), 80))
    _, ev = run(tmp_path / "t.jpg")
    assert ev.status == "not-applicable" and "too small" in ev.reason


def test_uniform_jpeg_maps_nothing(tmp_path):
    (tmp_path / "u.jpg").write_bytes(jpeg_bytes(np.full((256, 256, 3), 120, np.uint8), 80))
    _, ev = run(tmp_path / "u.jpg")
    assert ev.ok and ev.facts["double_quantized_frequencies"] == 0 and float(ev.heatmap.max()) < 0.5
