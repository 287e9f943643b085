"""tamperscope.compare (package tamperscope.comparison): two versions of one picture, aligned, benign differences discounted.

Pairs are generated here (``tamperscope.synth.pairs``) from scikit-image's
bundled photos (public domain), so every expectation is known exactly: a
benign-only pair must come out ``unchanged``, a known edit under crop, scale,
rotation, mirror, JPEG and tone changes must be outlined, unrelated photos
must be ``not-comparable``.
"""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from tamperscope import compare
from tamperscope.comparison.align import align, log10_nfa
from tamperscope.comparison.tone import ToneModel, fit_tone
from tamperscope.errors import ImageTooLarge, UnreadableImage, UnsupportedFormat
from tamperscope.image import Limits
from tamperscope.synth.pairs import TRANSFORMS, make_pair


def _photo(name: str, long_side: int = 480) -> np.ndarray:
    from skimage import data

    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    factor = long_side / max(pixels.shape[:2])
    size = (round(pixels.shape[1] * factor), round(pixels.shape[0] * factor))
    return cv2.resize(np.ascontiguousarray(pixels[..., :3]), size, interpolation=cv2.INTER_AREA)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return _photo("coffee")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return _photo("astronaut")


# --------------------------------------------------------------------------
# Benign-only pairs: nothing to outline


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_benign_only_pairs_come_out_unchanged(astronaut, transform):
    pair = make_pair(astronaut, np.random.default_rng(11), edit="none", transform=transform)
    result = compare(pair.original, pair.suspect)
    assert result.label == "unchanged", (transform, [(r.kind, r.mass) for r in result.regions])
    assert not result.mask.any()
    assert result.heatmap.dtype == np.float32 and result.heatmap.shape == pair.suspect_pixels.shape[:2]


# --------------------------------------------------------------------------
# Known edits under benign transforms: outlined, and nothing else


@pytest.mark.parametrize(
    ("edit", "transform", "kinds"),
    [
        ("splice", "crop", {"replaced", "added"}),
        ("removal", "resize", {"removed", "replaced"}),
        ("copy-move", "rotate", {"added", "replaced"}),
        pytest.param(
            "color", "tone", {"recoloured"},
            marks=pytest.mark.xfail(
                strict=True,
                reason="known weakness: a +30 brightening of an area holding most of the picture's darkest pixels "
                "(the black collar), under a global grade, leaves two dark areas elsewhere (helmet, flag) outlined as "
                "recoloured: once excluded from the tone refit, nothing is left to fit the dark levels on",
            ),
        ),
        ("splice", "mirror", {"replaced", "added"}),
        ("splice", "all", {"replaced", "added"}),
        ("removal", "platform", {"removed", "replaced"}),
    ],
)
def test_known_edits_are_outlined_under_benign_transforms(astronaut, coffee, edit, transform, kinds):
    pair = make_pair(astronaut, np.random.default_rng(5), edit=edit, transform=transform, donor=coffee)
    result = compare(pair.original, pair.suspect)
    assert result.label == "changed"
    assert _iou(result.mask, pair.mask) >= 0.5, _iou(result.mask, pair.mask)
    main = max(result.regions, key=lambda r: r.share)
    assert main.kind in kinds, (main.kind, main.to_dict()["measures"])
    # Nothing else outlined: every region lies mostly on the edit.
    for region in result.regions:
        x, y, w, h = region.bbox_suspect
        assert pair.mask[y : y + h, x : x + w].any(), region.to_dict()


def test_region_boxes_are_given_in_both_images(astronaut, coffee):
    pair = make_pair(astronaut, np.random.default_rng(2), edit="splice", transform="resize", donor=coffee)
    result = compare(pair.original, pair.suspect)
    region = max(result.regions, key=lambda r: r.share)
    x, y, w, h = region.bbox_original
    # The box in the original, mapped to the suspect, lands on the box in the suspect.
    corners = np.array([[x, y], [x + w, y + h]], float).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(corners, pair.matrix).reshape(-1, 2)
    sx, sy, sw, sh = region.bbox_suspect
    assert abs(mapped[0, 0] - sx) <= 3 and abs(mapped[0, 1] - sy) <= 3
    assert abs(mapped[1, 0] - (sx + sw)) <= 3 and abs(mapped[1, 1] - (sy + sh)) <= 3


# --------------------------------------------------------------------------
# Unrelated photos


@pytest.mark.parametrize(("first", "second"), [("astronaut", "coffee"), ("chelsea", "rocket")])
def test_unrelated_photos_are_not_comparable(first, second):
    result = compare(_jpeg(_photo(first)), _jpeg(_photo(second)))
    assert result.label == "not-comparable"
    assert result.reason and "\n" not in result.reason
    assert result.heatmap is None and result.mask is None and not result.regions
    document = result.to_dict()
    assert document["verdict"]["label"] == "not-comparable"
    json.dumps(document, allow_nan=False)


# --------------------------------------------------------------------------
# Alignment


def test_alignment_recovers_scale_rotation_and_mirror(astronaut):
    height, width = astronaut.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), 5.0, 0.7)
    turned = cv2.warpAffine(astronaut, matrix, (width, height), flags=cv2.INTER_AREA)
    for mirrored in (False, True):
        suspect = np.ascontiguousarray(turned[:, ::-1]) if mirrored else turned
        found = align(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), cv2.cvtColor(suspect, cv2.COLOR_RGB2GRAY))
        assert found is not None
        assert found.mirrored is mirrored
        assert found.scale == pytest.approx(0.7, abs=0.01)
        assert found.rotation_deg == pytest.approx(-5.0 if mirrored else 5.0, abs=0.3)
        assert found.log10_nfa < -20


def test_nfa_of_random_correspondences_is_not_meaningful():
    rng = np.random.default_rng(0)
    errors = rng.uniform(0, 500, 200)  # transfer errors of unrelated points in a 500 x 500 image
    value, _ = log10_nfa(errors, 4, 500.0 * 500.0)
    assert value > 0


# --------------------------------------------------------------------------
# Tone model


def test_tone_model_undoes_a_global_grade(coffee):
    values = coffee.astype(np.float32)
    graded = np.clip(255.0 * (values / 255.0) ** 0.7 * np.float32([1.05, 1.0, 0.9]), 0, 255)
    valid = np.ones(coffee.shape[:2], bool)
    model = fit_tone(values, graded, valid)
    assert model.residual_after < 0.25 * model.residual_before
    assert np.abs(model.apply(values) - graded).mean() < 1.5


def test_tone_model_of_identical_images_changes_nothing(coffee):
    values = coffee.astype(np.float32)
    model = fit_tone(values, values, np.ones(coffee.shape[:2], bool))
    assert np.abs(model.apply(values) - values).max() < 1.0
    assert ToneModel.identity().apply(values).tolist() == values.tolist()


# --------------------------------------------------------------------------
# Report


def test_report_json_follows_the_analyze_conventions(astronaut, coffee):
    pair = make_pair(astronaut, np.random.default_rng(3), edit="splice", transform="platform", donor=coffee)
    result = compare(pair.original, pair.suspect)
    document = json.loads(result.to_json())
    assert document["schema"].startswith("tamperscope.comparison/")
    assert document["verdict"]["label"] in {"changed", "unchanged", "not-comparable"}
    assert document["alignment"]["model"] in {"similarity", "affine", "homography"}
    assert len(document["alignment"]["matrix"]) == 3
    assert document["tone"]["model"] == "additive-curves"
    assert {item["what"] for item in document["discounted"]} >= {"geometry", "tone", "compression"}
    assert document["decision"]["statistic"] == "mass"
    region = document["regions"][0]
    assert set(region) >= {"id", "bbox", "bbox_original", "share", "change", "statistic"}
    assert region["change"] in {"added", "removed", "replaced", "recoloured"}
    assert document["hints"]["note"].startswith("Which version looks earlier")
    assert all(s["evidence"] or s["text"] for sec in document["explanation"]["sections"] for s in sec["sentences"])
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.mask.dtype == bool and result.mask.shape == pair.suspect_pixels.shape[:2]


def test_hints_point_to_the_larger_less_compressed_uncropped_version(astronaut):
    pair = make_pair(astronaut, np.random.default_rng(4), edit="none", transform="platform")
    original = _jpeg(pair.original_pixels, 95)
    suspect = _jpeg(cv2.resize(pair.suspect_pixels, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA), 70)
    result = compare(original, suspect)
    document = result.to_dict()
    kinds = {item["kind"]: item["points_to"] for item in document["hints"]["items"]}
    assert kinds.get("size") == "original" and kinds.get("compression") == "original"
    assert document["hints"]["leaning"] == "original"


def test_same_inputs_give_the_same_report(astronaut):
    pair = make_pair(astronaut, np.random.default_rng(8), edit="removal", transform="crop")
    first = compare(pair.original, pair.suspect).to_dict()
    second = compare(pair.original, pair.suspect).to_dict()
    for document in (first, second):
        document.pop("timings_s")
        document["reproducibility"].pop("analyzed_at")
    assert first == second


# --------------------------------------------------------------------------
# Bad input: one-line errors, never a crash


def test_bad_inputs_raise_one_line_input_errors(tmp_path, astronaut):
    good = _jpeg(astronaut)
    missing = tmp_path / "missing.jpg"
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    cases = [
        (missing, good, UnreadableImage),
        (good, text, UnsupportedFormat),
        (empty, good, UnreadableImage),
        (good, tmp_path, UnreadableImage),
    ]
    for first, second, kind in cases:
        with pytest.raises(kind) as caught:
            compare(first, second)
        assert "\n" not in str(caught.value)
    with pytest.raises(ImageTooLarge):
        compare(good, good, limits=Limits(max_pixels=1000))


def test_tiny_and_flat_images_do_not_crash():
    flat = np.full((40, 40, 3), 128, np.uint8)
    result = compare(flat, flat)
    assert result.label == "not-comparable"
    noise = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    assert compare(noise, flat).label == "not-comparable"
    assert compare(noise, noise).label == "not-comparable"  # no keypoints on 8 x 8 pixels: nothing to align


def test_exif_orientation_is_applied_before_comparing(astronaut):
    """A phone file stored sideways with an EXIF turn and an upright copy of it are the same picture."""
    sideways = np.ascontiguousarray(np.rot90(astronaut, 1))  # stored turned; orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(sideways).save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    result = compare(buffer.getvalue(), _jpeg(astronaut, 85))
    assert result.label == "unchanged"
    assert result.alignment.scale == pytest.approx(1.0, abs=0.01)
    assert abs(result.alignment.rotation_deg) < 0.5 and not result.alignment.mirrored


def test_too_few_matching_details_to_align_precisely_is_not_comparable():
    """A smooth gradient with a few dots in one corner: a map fitted there is uncertain at the far side."""
    height, width = 360, 480
    y, x = np.mgrid[0:height, 0:width]
    picture = np.stack([80 + 100 * x / width, 60 + 80 * y / height, 150 + 0 * x], -1)
    rng = np.random.default_rng(0)
    for _ in range(6):
        centre = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        cv2.circle(picture, centre, int(rng.integers(3, 7)), (255, 255, 255), -1)
    picture = np.clip(picture, 0, 255).astype(np.uint8)
    result = compare(_jpeg(picture, 92), _jpeg(np.ascontiguousarray(picture[5:, 8:]), 80))
    assert result.label == "not-comparable"
    assert "aligned to within a pixel" in result.reason
    assert result.alignment is not None and result.alignment.uncertainty_px > 0.5
