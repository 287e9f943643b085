"""Perturbation chains: each step's effect on the file and the mask, parsing, errors, determinism."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forgeries import box_mask, decode, jpeg_bytes, photo
from tamperscope.bench.perturb import (
    STANDARD_CONDITIONS,
    BadPerturbation,
    Chain,
    MaskShapeMismatch,
    Step,
    apply,
    parse_chain,
)
from tamperscope.errors import InputError
from tamperscope.image import load

H, W = 96, 128


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return photo(H, W)


@pytest.fixture(scope="module")
def png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture()
def mask() -> np.ndarray:
    return box_mask((H, W), 24, 40, 32, 48)


# ----------------------------------------------------------------------------------------------
# Parsing


def test_standard_conditions_are_the_table_columns():
    assert STANDARD_CONDITIONS == [
        "clean", "jpeg:95", "jpeg:85", "jpeg:75", "jpeg:65", "jpeg:50", "resize:0.5", "resize:0.75",
        "resize:1.5", "blur:1.0", "noise:3", "crop:4", "webp:80", "social",
    ]
    for name in STANDARD_CONDITIONS:
        assert isinstance(parse_chain(name), Chain)


def test_parse_chain_canonical_names():
    chain = parse_chain(" Resize:0.75 + JPEG:85 ")
    assert chain.steps == (Step("resize", 0.75), Step("jpeg", 85))
    assert str(chain) == "resize:0.75+jpeg:85"
    assert str(parse_chain("blur:1.0")) == "blur:1" and str(parse_chain("noise:3")) == "noise:3"
    assert parse_chain("social").steps == (Step("social"),)
    assert parse_chain("clean").is_clean and not parse_chain("jpeg:75").is_clean
    assert parse_chain("crop:4").geometric and not parse_chain("jpeg:75+blur:2").geometric
    assert parse_chain(chain) is chain
    assert isinstance(parse_chain("jpeg:75.0").steps[0].param, int)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty perturbation"),
        ("   ", "empty perturbation"),
        ("sharpen:2", "unknown perturbation 'sharpen'"),
        ("jpeg", "needs a parameter"),
        ("jpeg:", "needs a parameter"),
        ("jpeg:0", "outside [1, 100]"),
        ("jpeg:101", "outside [1, 100]"),
        ("jpeg:75.5", "whole number"),
        ("webp:abc", "not a number"),
        ("resize:0", "outside (0, 8]"),
        ("resize:nan", "not a finite number"),
        ("blur:-1", "outside (0, 50]"),
        ("noise:0", "outside (0, 100]"),
        ("crop:0", "outside [1, inf]"),
        ("social:2", "takes no parameter"),
        ("clean+jpeg:75", "cannot be combined"),
        ("jpeg:75++blur:1", "empty step"),
        ("jpeg:75+", "empty step"),
    ],
)
def test_malformed_chains_raise_one_line_listing_valid_names(text, fragment):
    with pytest.raises(BadPerturbation) as caught:
        parse_chain(text)
    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert fragment in message and "\n" not in message
    for name in ("jpeg:Q", "webp:Q", "resize:F", "blur:SIGMA", "noise:SIGMA", "crop:N", "social", "clean"):
        assert name in message


def test_apply_rejects_bad_chain_before_reading(png):
    with pytest.raises(BadPerturbation):
        apply("jpeg:200", png)


# ----------------------------------------------------------------------------------------------
# Each step


@pytest.mark.parametrize("quality", [95, 75, 50])
def test_jpeg_quality_reads_back(png, mask, quality):
    data, out_mask, fmt = apply(f"jpeg:{quality}", png, mask)
    image = load(data)
    assert fmt == "JPEG" and image.format == "JPEG"
    assert image.jpeg.quality == quality and image.jpeg.quality_exact
    assert image.jpeg.subsampling == "4:2:0" and not image.jpeg.progressive
    assert image.shape == (H, W)
    assert np.array_equal(out_mask, mask) and out_mask is not mask


def test_webp(png, mask, pixels):
    data, out_mask, fmt = apply("webp:80", png, mask)
    image = load(data)
    assert fmt == "WEBP" and image.format == "WEBP" and image.shape == (H, W)
    assert np.array_equal(out_mask, mask)
    assert not np.array_equal(image.pixels, pixels)  # lossy


@pytest.mark.parametrize("factor, shape", [(0.5, (48, 64)), (0.75, (72, 96)), (1.5, (144, 192))])
def test_resize_shapes_of_image_and_mask_agree(png, mask, factor, shape):
    data, out_mask, fmt = apply(f"resize:{factor}", png, mask)
    image = load(data)
    assert fmt == "PNG" and image.format == "PNG"
    assert image.shape == shape and out_mask.shape == shape
    assert out_mask.dtype == bool
    assert out_mask.mean() == pytest.approx(mask.mean(), abs=0.02)
    rows, cols = np.nonzero(out_mask)
    assert rows.min() == pytest.approx(24 * factor, abs=1) and cols.min() == pytest.approx(40 * factor, abs=1)


def test_resize_keeps_mask_dtype_and_channels(png):
    labels = np.zeros((H, W, 2), dtype=np.uint8)
    labels[10:20, 30:50, 1] = 7
    _, out, _ = apply("resize:0.5", png, labels)
    assert out.shape == (48, 64, 2) and out.dtype == np.uint8 and set(np.unique(out)) == {0, 7}


def test_crop_removes_exactly_n_rows_and_columns(png, pixels, mask):
    data, out_mask, fmt = apply("crop:4", png, mask)
    image = load(data)
    assert fmt == "PNG" and image.shape == (H - 4, W - 4)
    assert np.array_equal(image.pixels, pixels[4:, 4:])  # lossless in, lossless out
    assert np.array_equal(out_mask, mask[4:, 4:])


def test_crop_breaks_the_jpeg_grid(pixels):
    source = jpeg_bytes(pixels, 90)
    data, _, fmt = apply("crop:4+jpeg:90", source)
    assert fmt == "JPEG" and load(data).shape == (H - 4, W - 4)
    assert np.array_equal(decode(apply("crop:4", source)[0]), decode(source)[4:, 4:])


def test_crop_larger_than_the_image(png):
    with pytest.raises(BadPerturbation, match="larger than"):
        apply(f"crop:{H}", png)


def test_blur_smooths_and_keeps_geometry(png, pixels, mask):
    data, out_mask, fmt = apply("blur:1.0", png, mask)
    blurred = load(data).pixels
    assert fmt == "PNG" and blurred.shape == pixels.shape and np.array_equal(out_mask, mask)

    def roughness(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a.astype(np.float64), axis=1)).mean())

    assert roughness(blurred) < 0.8 * roughness(pixels)


def test_noise_is_seeded(png, pixels):
    first, _, fmt = apply("noise:3", png, seed=7)
    again, _, _ = apply("noise:3", png, seed=7)
    other, _, _ = apply("noise:3", png, seed=8)
    assert fmt == "PNG" and first == again and first != other
    difference = load(first).pixels.astype(np.float64) - pixels
    assert difference.std() == pytest.approx(3.0, rel=0.1)
    assert abs(difference.mean()) < 0.2


def test_two_noise_steps_draw_differently(png):
    once, _, _ = apply("noise:3", png, seed=1)
    twice, _, _ = apply("noise:3+noise:3", png, seed=1)
    a = load(once).pixels.astype(np.float64)
    b = load(twice).pixels.astype(np.float64)
    assert (b - a).std() > 2.0  # the second step is not the first's draw again


def test_social_on_a_large_image():
    big = np.random.default_rng(0).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG", compress_level=1)
    mask = box_mask((2000, 3000), 500, 600, 400, 900)
    data, out_mask, fmt = apply("social", buffer.getvalue(), mask)
    image = load(data)
    assert fmt == "JPEG" and image.format == "JPEG"
    assert max(image.shape) == 2048 and image.shape == (1365, 2048)
    assert image.jpeg.quality == 80 and image.jpeg.quality_exact
    assert out_mask.shape == (1365, 2048)
    assert out_mask.mean() == pytest.approx(mask.mean(), abs=0.01)


def test_social_on_a_small_image_only_recompresses(png, mask):
    data, out_mask, fmt = apply("social", png, mask)
    image = load(data)
    assert fmt == "JPEG" and image.shape == (H, W) and image.jpeg.quality == 80
    assert np.array_equal(out_mask, mask)


def test_chain_output_format_follows_the_last_step(png, mask):
    data, out_mask, fmt = apply("resize:0.75+jpeg:85", png, mask)
    image = load(data)
    assert fmt == "JPEG" and image.jpeg.quality == 85 and image.shape == (72, 96)
    assert out_mask.shape == (72, 96)
    data, out_mask, fmt = apply("jpeg:75+resize:0.5", png, mask)
    image = load(data)
    assert fmt == "PNG" and image.format == "PNG" and image.shape == (48, 64) and out_mask.shape == (48, 64)
    data, _, fmt = apply("jpeg:50+webp:90", png)
    assert fmt == "WEBP" and load(data).format == "WEBP"


def test_chain_steps_see_the_previous_compression(png, pixels):
    low, _, _ = apply("jpeg:20+blur:0.5", png)
    high, _, _ = apply("jpeg:98+blur:0.5", png)
    reference = load(apply("blur:0.5", png)[0]).pixels.astype(np.float64)
    error_low = np.abs(load(low).pixels - reference).mean()
    error_high = np.abs(load(high).pixels - reference).mean()
    assert error_low > 2 * error_high


def test_clean_returns_the_file_itself(tmp_path, pixels, mask):
    source = jpeg_bytes(pixels, 90)
    data, out_mask, fmt = apply("clean", source, mask)
    assert data == source and fmt == "JPEG" and np.array_equal(out_mask, mask)
    path = tmp_path / "x.jpg"
    path.write_bytes(source)
    assert apply("clean", path)[0] == source
    assert apply("clean", str(path))[2] == "JPEG"


def test_paths_and_bytes_give_the_same_file(tmp_path, png):
    path = tmp_path / "x.png"
    path.write_bytes(png)
    assert apply("resize:0.5+jpeg:75", path, seed=3)[0] == apply("resize:0.5+jpeg:75", png, seed=3)[0]


@pytest.mark.parametrize("condition", STANDARD_CONDITIONS + ["resize:0.75+jpeg:85+noise:2"])
def test_every_condition_is_deterministic(png, mask, condition):
    first = apply(condition, png, mask, seed=11)
    second = apply(condition, png, mask, seed=11)
    assert first[0] == second[0] and first[2] == second[2]
    assert np.array_equal(first[1], second[1])
    assert load(first[0]).shape == first[1].shape[:2]


def test_mask_must_match_the_image(png):
    with pytest.raises(MaskShapeMismatch, match="does not match") as caught:
        apply("jpeg:75", png, np.zeros((W, H), dtype=bool))
    assert isinstance(caught.value, InputError)


def test_mask_none_stays_none(png):
    assert apply("resize:0.5", png)[1] is None


def test_unreadable_image_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        apply("jpeg:75", b"not an image")
    with pytest.raises(InputError):
        apply("clean", tmp_path / "missing.png")
