"""Copy-move detectors: keypoints (Amerini et al. 2011) and dense field (Cozzolino et al. 2015).

The forgery copies a textured 120x120 square of the photo (hair and forehead), optionally rotated and scaled,
onto the suit; the exact source and target masks come from the same warp. Each detector must mark both ends
(IoU against each mask, the heatmap split by proximity) and report the pair with its transform. The authentic
photo and scikit-image's brick wall (a genuinely repeated texture), loaded the same way, must give nothing.
"""

import re

import cv2
import numpy as np
import pytest
from skimage import data

from forgeries import copy_move, iou, photo
from tamperscope.detectors import PROFILES, available, create
from tamperscope.detectors.copymove_dense import zernike_features
from tamperscope.image import load

DETECTORS = ("copymove_sift", "copymove_dense")
BOX, TO = (30, 215, 120, 120), (400, 215)
SIZE = (512, 640)


@pytest.fixture(scope="module")
def forged():
    pixels = photo(*SIZE)
    cases = {}
    for angle, scale in ((0.0, 1.0), (15.0, 1.1)):
        image, source, target = copy_move(pixels, box=BOX, to=TO, angle=angle, scale=scale)
        cases[(angle, scale)] = (load(image), source, target)
    return cases


@pytest.fixture(scope="module")
def evidence(forged):
    return {(name, key): create(name).run(case[0]) for name in DETECTORS for key, case in forged.items()}


def near(heat: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The part of the heatmap within 40 px of ``mask``: one end of the pair."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((81, 81), np.uint8)).astype(bool)
    return heat & grown


@pytest.mark.parametrize("name", DETECTORS)
def test_registered_in_thorough_profile(name):
    cls = available()[name]
    assert cls.decides and cls.requires == frozenset()
    assert name in PROFILES["thorough"] and name not in PROFILES["default"]


@pytest.mark.parametrize("name", DETECTORS)
@pytest.mark.parametrize("key", [(0.0, 1.0), (15.0, 1.1)])
def test_both_regions_found_with_transform(forged, evidence, name, key):
    image, source, target = forged[key]
    ev = evidence[(name, key)]
    assert ev.ok, ev.reason
    assert ev.score >= 0.5
    heat = ev.heatmap_full(image.shape) >= 0.5
    assert iou(near(heat, source), source) >= 0.6
    assert iou(near(heat, target), target) >= 0.6
    pair = ev.facts["pairs"][0]
    # Either end may be called the source: the copy cannot be told from the original.
    forward = abs(pair["scale"] - key[1]) < 0.03
    backward = abs(pair["scale"] - 1 / key[1]) < 0.03
    assert forward or backward, pair
    # cv2 rotates counter-clockwise for a positive angle; ours is clockwise on screen.
    assert abs(pair["rotation_deg"] - (-key[0] if forward else key[0])) < 2.0
    boxes = [pair["source_bbox"], pair["target_bbox"]]
    centres = sorted((x + w / 2, y + h / 2) for x, y, w, h in boxes)
    expected = sorted([(BOX[1] + BOX[3] / 2, BOX[0] + BOX[2] / 2), (TO[1], TO[0])])
    for (cx, cy), (ex, ey) in zip(sorted(centres, key=lambda c: c[1]), sorted(expected, key=lambda c: c[1])):
        assert abs(cx - ex) < 40 and abs(cy - ey) < 40
    assert any("Pair 1:" in note for note in ev.notes)


@pytest.mark.parametrize("name", DETECTORS)
@pytest.mark.parametrize("pixels", ["photo", "brick"])
def test_authentic_and_repeated_texture_are_quiet(name, pixels):
    if pixels == "photo":
        image = photo(*SIZE)
    else:
        image = np.repeat(data.brick()[:, :, None], 3, axis=2)
    ev = create(name).run(load(image))
    assert ev.ok, ev.reason
    assert ev.score < 0.5
    assert ev.facts["pairs"] == []
    assert float(ev.heatmap.mean()) < 0.01


@pytest.mark.parametrize("name", DETECTORS)
def test_uniform_and_tiny_images_are_not_applicable(name):
    flat = create(name).run(load(np.full((300, 400, 3), 128, dtype=np.uint8)))
    assert flat.status == "not-applicable"
    assert "uniform" in flat.reason or "texture" in flat.reason
    tiny = create(name).run(load(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)))
    assert tiny.status == "not-applicable" and "too small" in tiny.reason


def test_zernike_magnitudes_are_rotation_invariant():
    # A patch and its 90-degree rotation (exact on the pixel grid) have the same |Z_nm| at the centre.
    patch = cv2.resize(photo()[300:340, 400:440, 1], (41, 41)).astype(np.float32)
    a = zernike_features(patch)[20, 20]
    b = zernike_features(np.ascontiguousarray(np.rot90(patch)))[20, 20]
    np.testing.assert_allclose(a, b, rtol=0.02, atol=0.05 * a.max())


def test_pairs_reach_the_explanation_and_reports(forged):
    from tamperscope import analyze
    from tamperscope.report.html import html_report
    from tamperscope.report.markdown import markdown_report

    image, _, _ = forged[(15.0, 1.1)]
    report = analyze(image.pixels, detectors="copymove_sift")
    assert report.label == "edited"
    where = next(s for s in report.explanation.sections if s.title == "Where")
    pair_sentences = [s for s in where.sentences if "pair 1: the" in s.text]
    assert len(pair_sentences) == 1 and pair_sentences[0].evidence == ["ev:copymove_sift"]
    # Either direction: the original cannot be told from the copy.
    assert re.search(r"rotated (-15 degrees and scaled 1\.1\dx|\+15 degrees and scaled 0\.9\dx)", pair_sentences[0].text)
    caveats = next(s for s in report.explanation.sections if s.title == "Caveats")
    assert "copy-move" not in caveats.sentences[-1].text
    for page in (html_report(report), markdown_report(report)):
        assert "Cloned areas (copy-move)" in page
        assert re.search(r"rotated (-1[45]\.\d degrees, scaled 1\.1|\+1[45]\.\d degrees, scaled 0\.9)", page)
