"""DQ (Lin et al. 2009) on forgeries generated with exact masks."""

import numpy as np
import pytest

from forgeries import authentic_jpeg, decode, double_jpeg_splice, iou, jpeg_bytes, photo
from tamperscope.detectors import create
from tamperscope.detectors.dq import comb
from tamperscope.image import load


def test_comb_of_9_then_2_has_period_9_with_split_half_values():
    mask = comb(9, 2, 20)
    values = set((np.flatnonzero(mask) - 20).tolist())
    assert {4, 5, 9, 13, 14, 18, -4, -5, -9} <= values
    assert not values & {1, 2, 3, 6, 7, 8, 0}


def test_minority_region_from_low_quality_jpeg_is_localized(tmp_path):
    mask = double_jpeg_splice(tmp_path / "a.jpg")
    image = load(tmp_path / "a.jpg")
    evidence = create("dq").run(image)
    assert evidence.ok and evidence.score >= 0.5
    assert evidence.facts["inverted"] is True
    # Q60 luminance steps at (0,1), (1,0), (1,1) are 9, 10, 10.
    for key, step in {"0,1": 9, "1,0": 10, "1,1": 10}.items():
        assert evidence.facts["primary_steps"].get(key, step) == step
    assert iou(evidence.heatmap_full(image.shape) >= 0.5, mask) >= 0.5


def test_majority_double_compression_marks_the_single_compressed_region(tmp_path):
    # The classic Lin et al. case: the host was compressed twice (70 then 90), the pasted
    # region only once (at 90: it came from an uncompressed source).
    original = photo()
    host = decode(jpeg_bytes(original, 70))
    mask = np.zeros(original.shape[:2], bool)
    mask[200:456, 300:620] = True
    host[mask] = original[mask]
    (tmp_path / "b.jpg").write_bytes(jpeg_bytes(host, 90))
    image = load(tmp_path / "b.jpg")
    evidence = create("dq").run(image)
    assert evidence.facts["inverted"] is False
    assert evidence.score >= 0.5
    assert iou(evidence.heatmap_full(image.shape) >= 0.5, mask) >= 0.5


@pytest.mark.parametrize("quality", [75, 90, 95])
def test_single_compression_shows_nothing(tmp_path, quality):
    authentic_jpeg(tmp_path / "c.jpg", quality)
    evidence = create("dq").run(load(tmp_path / "c.jpg"))
    assert evidence.ok and evidence.score == 0.0
    assert evidence.facts["double_quantized_frequencies"] == 0


def test_whole_image_double_compression_is_not_a_forgery(tmp_path):
    (tmp_path / "d.jpg").write_bytes(jpeg_bytes(decode(jpeg_bytes(photo(), 70)), 90))
    evidence = create("dq").run(load(tmp_path / "d.jpg"))
    assert evidence.facts["double_quantized_frequencies"] >= 3
    assert evidence.score < 0.5


def test_png_is_not_applicable(tmp_path):
    from PIL import Image

    Image.fromarray(photo(64, 64)).save(tmp_path / "e.png")
    evidence = create("dq").run(load(tmp_path / "e.png"))
    assert evidence.status == "not-applicable" and "not a JPEG" in evidence.reason


def test_fit_without_any_excess_does_not_raise():
    from tamperscope.detectors.dq import fit_primary_step

    rng = np.random.default_rng(0)
    values = np.round(rng.laplace(0, 4, 5000)).astype(np.int64)
    fit = fit_primary_step(values, values + 1, 2)  # the "calibrated" histogram is shifted: no comb anywhere
    assert fit is not None and fit.q1 > 2
