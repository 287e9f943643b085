"""Keyed watermark (protect / verify): round trip, processing it must survive, edits it must localize."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from forgeries import iou, photo
from tamperscope import analyze, protect, verify
from tamperscope.detectors import create
from tamperscope.image import load
from tamperscope.watermark import embed
from tamperscope.watermark import verify as verify_pixels
from tamperscope.watermark.attacks import edit, jpeg, resize

KEY = b"newsroom-key-7f3a"


@pytest.fixture(scope="module")
def original():
    return photo(480, 640)


@pytest.fixture(scope="module")
def marked(original):
    return embed(original, KEY).pixels


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2))


def test_round_trip_is_imperceptible_and_intact(original, marked):
    assert psnr(original, marked) >= 40
    result = verify_pixels(marked, KEY)
    assert result.present and result.bit_accuracy >= 0.99
    assert result.tampered_share == 0 and not result.mask().any()


@pytest.mark.parametrize("process", [lambda p: jpeg(p, 75), lambda p: resize(p, 0.75)], ids=["jpeg75", "resize0.75"])
def test_processing_keeps_the_image_intact(marked, process):
    result = verify_pixels(process(marked), KEY)
    assert result.present and result.bit_accuracy >= 0.95
    assert result.tampered_share <= 0.01


@pytest.mark.parametrize("kind", ["splice", "copy-move", "inpaint"])
def test_edit_then_jpeg85_is_localized(original, marked, kind):
    donor = np.ascontiguousarray(photo(480, 640, seed=3)[::-1, ::-1])
    edited, mask = edit(marked, kind, 0.08, np.random.default_rng(4), donor=donor)
    result = verify_pixels(jpeg(edited, 85), KEY)
    assert result.present
    assert iou(result.mask(), mask) >= 0.7
    # The same processing without the edit marks (almost) nothing.
    assert verify_pixels(jpeg(marked, 85), KEY).tampered_share <= 0.01


def test_wrong_key_finds_no_watermark_and_no_map(marked):
    edited, _ = edit(marked, "inpaint", 0.1, np.random.default_rng(5))
    for pixels in (marked, edited):
        result = verify_pixels(pixels, b"another-key")
        assert not result.present and result.log10_p > -9
        assert result.tampered_share == 0 and not result.mask().any() and not result.heatmap().any()


def test_never_protected_image_has_no_watermark(original):
    assert not verify_pixels(original, KEY).present
    assert not verify_pixels(jpeg(original, 90), KEY).present


def test_copy_from_another_protected_image_breaks_the_mark_at_its_new_place(marked):
    other = embed(photo(480, 640, seed=9)[:, ::-1].copy(), KEY).pixels
    pasted = marked.copy()
    # Carries valid bits, but for another position. (A black source would carry no mark at all:
    # see test_black_areas_follow_the_cells_around_them.)
    pasted[100:220, 200:360] = other[60:180, 300:460]
    mask = np.zeros(marked.shape[:2], bool)
    mask[100:220, 200:360] = True
    assert iou(verify_pixels(pasted, KEY).mask(), mask) >= 0.7


def test_detector_needs_a_key_and_never_reports_it(tmp_path, marked):
    path = tmp_path / "m.png"
    Image.fromarray(marked).save(path)
    evidence = create("watermark").run(load(path))
    assert evidence.status == "not-applicable" and "key" in evidence.reason
    report = analyze(path, "dq,noise", watermark_key=KEY.decode())
    text = report.to_json()
    assert KEY.decode() not in text
    assert report.evidence_for("watermark").facts["present"] is True
    assert json.loads(text)["reproducibility"]["detectors"][-1]["params"]["key_configured"] is True


def test_analyze_names_the_broken_watermark(tmp_path, marked):
    edited, mask = edit(marked, "splice", 0.1, np.random.default_rng(6), donor=np.ascontiguousarray(marked[::-1]))
    path = tmp_path / "e.jpg"
    Image.fromarray(edited).save(path, quality=90)
    report = verify(path, KEY)
    assert report.label == "edited" and report.regions[0].detectors == ["watermark"]
    assert "publisher's watermark is broken in" in report.explanation.text()
    assert iou(report.fusion.mask, mask) >= 0.7
    assert verify(path, "wrong").label == "inconclusive"


def test_protect_refuses_to_overwrite_or_protect_twice(tmp_path, original):
    source = tmp_path / "in.png"
    Image.fromarray(original).save(source)
    done = protect(source, tmp_path / "out.png", KEY)
    assert done.psnr_db >= 40
    from tamperscope.errors import InputError

    with pytest.raises(InputError, match="exists"):
        protect(source, tmp_path / "out.png", KEY)
    with pytest.raises(InputError, match="already carries"):
        protect(tmp_path / "out.png", tmp_path / "again.png", KEY)


def test_cli_protect_edit_verify(tmp_path, original):
    source = tmp_path / "photo.png"
    Image.fromarray(original).save(source)

    def run(*args, env_key=None):
        env = None
        if env_key is not None:
            import os

            env = {**os.environ, "TAMPERSCOPE_WATERMARK_KEY": env_key}
        return subprocess.run([sys.executable, "-m", "tamperscope", *map(str, args)], capture_output=True,
                              text=True, timeout=120, env=env)

    done = run("protect", source, "-o", tmp_path / "p.jpg", "--key", "k1")
    assert done.returncode == 0, done.stderr
    pixels = np.array(Image.open(tmp_path / "p.jpg").convert("RGB"))
    edited, _ = edit(pixels, "copy-move", 0.1, np.random.default_rng(7))
    Image.fromarray(edited).save(tmp_path / "e.jpg", quality=85)
    result = run("verify", tmp_path / "e.jpg", "-o", tmp_path / "rep", env_key="k1")
    assert result.returncode == 0, result.stderr
    assert "BROKEN" in result.stdout and "Region r1" in result.stdout
    written = (tmp_path / "rep" / "report.json").read_text()
    assert "k1" not in written.replace('"k1', "")  # the key appears nowhere as a value
    assert json.loads(written)["verdict"]["label"] == "edited"


def test_cli_bad_usage_exits_2_with_one_line(tmp_path):
    from typer.testing import CliRunner

    from tamperscope.cli import app

    runner = CliRunner()
    no_key = runner.invoke(app, ["protect", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png")],
                           env={"TAMPERSCOPE_WATERMARK_KEY": ""})
    assert no_key.exit_code == 2
    missing = runner.invoke(app, ["verify", str(tmp_path / "nope.jpg"), "--key", "k1"])
    assert missing.exit_code == 2


def test_an_intact_watermark_is_provenance_for_authentic(tmp_path, marked):
    path = tmp_path / "intact.jpg"
    Image.fromarray(marked).save(path, quality=90)
    report = verify(path, KEY)
    evidence = report.evidence_for("watermark")
    assert evidence.kind == "provenance" and evidence.indicates == "authentic"
    assert report.label == "authentic" and report.fusion.mask.sum() == 0
    assert "intact" in report.explanation.text()


def flat_photo(height=480, width=640):
    """A noiseless studio shot: smooth backdrop, a soft bright disc, a black band (clipped to 0)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    grey = 90 + 60 * x / width + 30 * y / height
    grey += 70 * np.exp(-(((x - 0.6 * width) ** 2 + (y - 0.4 * height) ** 2) / (2 * (0.15 * width) ** 2)))
    grey[int(0.8 * height):] = 0
    return np.clip(np.dstack([grey * 1.05, grey, grey * 0.9]), 0, 255).round().astype(np.uint8)


def ssim(a, b):
    from skimage.metrics import structural_similarity

    return structural_similarity(a, b, channel_axis=2, data_range=255)


def test_a_flat_noiseless_photo_gets_a_smaller_step_and_stays_invisible():
    from tamperscope.watermark import SCHEME

    flat = flat_photo()
    adapted = embed(flat, KEY)
    strongest = embed(flat, KEY, step=max(SCHEME.steps))
    assert adapted.step < max(SCHEME.steps)
    assert ssim(flat, adapted.pixels) >= 0.98 > ssim(flat, strongest.pixels)
    assert psnr(flat, adapted.pixels) >= 40
    # Black carries no mark: it is left exactly as it was (lifting it is what SSIM sees most).
    assert np.array_equal(adapted.pixels[400:], flat[400:])
    result = verify_pixels(jpeg(adapted.pixels, 75), KEY)
    assert result.present and result.step == adapted.step and result.tampered_share <= 0.01
    assert not result.judged[-4:].any()


def test_a_textured_photo_keeps_a_large_step(original, marked):
    # Texture masks the mark: the fidelity targets allow a step at least as strong as the fixed one of v1.
    assert verify_pixels(marked, KEY).step >= 28
    assert ssim(original, marked) >= 0.98


def test_every_step_of_the_scheme_is_found(original):
    # The smallest steps are chosen only for flat content, where JPEG moves the coefficients
    # least; on texture they would not survive JPEG 75 (a small step is not a free lunch).
    from tamperscope.watermark import SCHEME

    for pixels, step in ((flat_photo(240, 320), min(SCHEME.steps)), (original[::2, ::2].copy(), 28.0)):
        result = verify_pixels(jpeg(embed(pixels, KEY, step=step).pixels, 75), KEY)
        assert result.present and result.step == step and result.tampered_share <= 0.01


@pytest.mark.parametrize("seed", [1, 2])
def test_a_small_edit_on_a_small_image_is_localized_below_a_cell(seed):
    # 384x256: a cell of the mark is 12 pixels; a 3% splice is about 4 cells wide.
    host = photo(256, 384, seed=seed)
    donor = np.ascontiguousarray(photo(256, 384, seed=seed + 10)[::-1, ::-1])
    protected = embed(host, KEY).pixels
    edited, mask = edit(protected, "splice", 0.03, np.random.default_rng(seed), donor=donor)
    result = verify_pixels(jpeg(edited, 85), KEY)
    assert result.present and iou(result.mask(), mask) >= 0.7
    assert result.mask().sum() > 0 and (result.heatmap() >= 0.5).sum() == result.mask().sum()


def test_protect_refuses_an_image_too_black_to_carry_the_mark(tmp_path):
    from tamperscope.errors import InputError

    black = np.zeros((256, 384, 3), np.uint8)
    black[:8, :8] = 128
    source = tmp_path / "black.png"
    Image.fromarray(black).save(source)
    with pytest.raises(InputError, match="cannot carry"):
        protect(source, tmp_path / "out.png", KEY)


def test_black_areas_follow_the_cells_around_them():
    # Black carries no mark, so verify cannot read it: a black area that was there when the image was
    # protected stays intact next to an edit; black pasted inside an edit is part of the edit.
    host = photo(480, 640)
    host[300:420, 60:200] = 0
    protected = embed(host, KEY).pixels
    donor = np.ascontiguousarray(photo(480, 640, seed=5)[::-1, ::-1])
    edited = protected.copy()
    edited[300:420, 200:330] = donor[300:420, 200:330]  # beside the black area
    edited[60:220, 360:560] = donor[60:220, 360:560]
    edited[100:180, 420:500] = 0  # black inside the second edit
    truth = np.zeros(host.shape[:2], bool)
    truth[300:420, 200:330] = truth[60:220, 360:560] = True
    result = verify_pixels(jpeg(edited, 85), KEY)
    found = result.mask()
    assert result.present and iou(found, truth) >= 0.7
    assert found[100:180, 420:500].mean() >= 0.9
    assert found[310:410, 70:180].mean() <= 0.1
