"""The calibration of compare's region threshold (tamperscope.train.compare): jobs, records and thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tamperscope.train import compare as calibration

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/dev")


def test_verdict_applies_a_threshold_exactly_to_recorded_candidates():
    # Two disjoint candidates: one on the edit (mass 5000, 120 px, 100 on the truth), one beside it.
    record = {"label": "compared", "truth_pixels": 150,
              "candidates": [[5000.0, 120, 100, "added"], [300.0, 40, 0, "replaced"]]}
    high = calibration.verdict(record, 1000.0)
    assert high == {"label": "changed", "iou": 100 / (150 + 120 - 100), "kind": "added"}
    low = calibration.verdict(record, 100.0)
    assert low["iou"] == pytest.approx(100 / (150 + 160 - 100))
    assert calibration.verdict(record, 9000.0) == {"label": "unchanged", "iou": 0.0, "kind": None}
    assert calibration.verdict({"label": "not-comparable"}, 1.0)["label"] == "not-comparable"


def test_seeds_are_stable_and_distinct():
    assert calibration.seed_of("a", "crop") == calibration.seed_of("a", "crop")
    assert calibration.seed_of("a", "crop") != calibration.seed_of("a", "resize")


def test_photos_split_by_file_hash_without_overlap():
    found = calibration.photos(DATA)
    if len(found) < 4:
        pytest.skip("no calibration photos on this machine (Debian wallpapers or ../shared/data/dev)")
    splits = {p["split"] for p in found}
    assert splits == {"calibrate", "evaluate"}
    for photo in found:
        assert photo["split"] == ("calibrate" if int(photo["sha256"][:2], 16) % 2 == 0 else "evaluate")
    jobs = calibration.jobs_for("calibrate", DATA, limit=2)
    assert {j["edit"] for j in jobs} == {"none"} and len({j["path"] for j in jobs}) == 2
    held = {j["sha256"] for j in calibration.jobs_for("evaluate", DATA, limit=2)}
    assert not held & {j["sha256"] for j in jobs}


def test_shipped_calibration_is_complete():
    import json
    from importlib import resources

    document = json.loads(resources.files("tamperscope.models").joinpath("compare.json").read_text())
    assert document["statistic"] == "mass" and document["threshold"] > 0
    assert 0 < document["target_false_alarm"] < 0.5 and document["pairs"] >= 80
    assert document["command"].startswith("tamperscope train compare")
    assert all(len(p["sha256"]) == 64 for p in document["photos"])
    assert np.isfinite(document["threshold"])
