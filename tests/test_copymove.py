"""Copy-move detectors: keypoints (Amerini et al. 2011) and dense field (Cozzolino et al. 2015).

The forgery copies a textured 120x120 square of the photo (hair and forehead), optionally rotated and scaled,
onto the suit; the exact source and target masks come from the same warp. Each detector must mark both ends
(IoU against each mask, the heatmap split by proximity) and report the pair with its transform. The authentic
photo and scikit-image's brick wall (a genuinely repeated texture), loaded the same way, must give nothing.
copymove_sift's false-alarm control (its module docstring): a periodic pattern is vetoed, the score is the
calibrated NFA's, a small exact duplicate stays below the bound, large images use a bounded working copy.
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
def test_registered_in_profiles(name):
    cls = available()[name]
    assert cls.decides and cls.requires == frozenset()
    assert name in PROFILES["thorough"]
    # The keypoint detector runs by default since its false alarms are controlled (issue #16); the dense one,
    # seconds per image and without that control, only in the thorough profile.
    assert (name in PROFILES["default"]) == (name == "copymove_sift")


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


# --- copymove_sift 2.x: the false-alarm control -------------------------------------------------------------------

def _tiles(count: int) -> np.ndarray:
    """The test photo with one textured 120x120 tile (cat fur, from another photo) laid ``count`` times in a row,
    150 px apart, each with its own mild noise, saved as JPEG 90: a periodic pattern, no clone."""
    from forgeries import decode, jpeg_bytes

    pixels = photo(*SIZE)
    tile = cv2.resize(data.chelsea(), (300, 225))[60:180, 100:220].astype(np.float64)
    rng = np.random.default_rng(0)
    for i in range(count):
        left = 20 + 150 * i
        pixels[300:420, left:left + 120] = np.clip(tile + rng.normal(0.0, 1.5, tile.shape), 0, 255).astype(np.uint8)
    return decode(jpeg_bytes(pixels, 90))


def test_a_periodic_pattern_is_not_called_a_clone():
    ev = create("copymove_sift").run(load(_tiles(4)))
    assert ev.ok, ev.reason
    assert ev.score < 0.5 and ev.facts["pairs"] == []
    periodic = [c for c in ev.facts["candidates"] if c["verdict"].startswith("a period of a repeated pattern")]
    assert periodic, ev.facts["candidates"]
    # tile 1 onto tile 2, and onto tiles 3 and 4 (two and three periods: the pattern shows at 1/2 and 1/3 step)
    shifts = sorted(round(abs(c["transform"][0][2]) / 150) for c in periodic)
    assert 1 in shifts


def test_the_score_follows_the_calibrated_number_of_false_alarms(forged):
    detector = create("copymove_sift")
    ev = detector.run(forged[(0.0, 1.0)][0])
    for c in ev.facts["candidates"]:
        if c["log10_nfa"] is None:
            continue
        nfa = 10 ** detector.log10_nfa(c["exact_inliers"])
        assert c["score"] == pytest.approx(1 / (1 + nfa / detector.epsilon), abs=1e-3)
        assert (c["verdict"] == "clone") == (nfa <= detector.epsilon)
    assert len(ev.facts["pairs"]) == sum(c["verdict"] == "clone" for c in ev.facts["candidates"])
    pair = ev.facts["pairs"][0]
    assert pair["exact_inliers"] >= detector.clone_threshold() and pair["log10_nfa"] <= np.log10(detector.epsilon)


def test_a_small_exact_duplicate_is_a_candidate_not_a_clone():
    # A 56x56 patch copied once holds a handful of matches: exact, but no more than genuine duplicates (a logo
    # printed twice) give on authentic photos, so the calibrated bound does not call it a clone.
    image, _, _ = copy_move(photo(*SIZE), box=(60, 250, 56, 56), to=(420, 500))
    detector = create("copymove_sift")
    ev = detector.run(load(image))
    assert ev.ok, ev.reason
    seen = [c for c in ev.facts["candidates"] if c["exact_inliers"] >= detector.min_inliers]
    assert seen and all(c["exact_inliers"] < detector.clone_threshold() for c in seen)
    assert 0.0 < ev.score < 0.5 and ev.facts["pairs"] == []


def test_large_images_are_analysed_on_a_bounded_working_copy():
    detector = create("copymove_sift")
    big = np.zeros((2400, 3200, 3), dtype=np.uint8) + photo(600, 800)[np.arange(2400) // 4][:, np.arange(3200) // 4]
    ev = detector.run(load(big))
    assert ev.ok, ev.reason
    working = ev.facts["working_scale"] ** 2 * 2400 * 3200
    assert working <= detector.max_pixels * 1.01
    assert ev.heatmap_full((2400, 3200)).shape == (2400, 3200)


@pytest.mark.parametrize("factor, stride", [(1.0, 1), (0.6, 1), (0.5, 2), (0.408, 2), (0.204, 4), (0.142, 4)])
def test_the_map_of_a_downscaled_copy_is_given_per_cell_no_coarser_than_the_copy(factor, stride):
    from tamperscope.detectors.copymove_sift import cells_of, map_stride
    from tamperscope.evidence import expand_cells

    assert map_stride(factor) == stride
    shape = (3000, 4000)
    working = np.zeros((round(3000 * factor), round(4000 * factor)), dtype=np.float32)
    working[working.shape[0] // 3 : working.shape[0] // 2, working.shape[1] // 4 : working.shape[1] // 2] = 0.8
    per_pixel = cv2.resize(working, shape[::-1], interpolation=cv2.INTER_NEAREST)  # the map upscaled to pixels
    cells = cells_of(working, shape, stride)
    assert cells.shape == (-(-shape[0] // stride), -(-shape[1] // stride))
    on_pixels = expand_cells(cells, stride, shape)
    for ours, theirs in zip(np.nonzero(on_pixels), np.nonzero(per_pixel)):  # rows, then columns: the region's
        # edges move by less than one cell
        assert abs(int(ours.min()) - int(theirs.min())) < stride + 1 and abs(int(ours.max()) - int(theirs.max())) < stride + 1
    assert np.mean(on_pixels != per_pixel) < 0.002
    if stride == 1:
        np.testing.assert_array_equal(cells, per_pixel)
