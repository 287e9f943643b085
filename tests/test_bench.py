"""The benchmark runner end to end on a tiny folder dataset made in the test."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeries import authentic_jpeg, double_jpeg_splice
from tamperscope.bench.runner import BenchConfig, roc_points, run


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    for folder in ("authentic", "tampered", "masks"):
        (root / folder).mkdir()
    for index in range(3):
        box = (64 + 32 * index, 96, 192, 256)
        mask = double_jpeg_splice(root / "tampered" / f"t{index}.jpg", box=box, size=(384, 512))
        Image.fromarray((mask * 255).astype(np.uint8)).save(root / "masks" / f"t{index}.png")
        authentic_jpeg(root / "authentic" / f"a{index}.jpg", 90 - 5 * index, size=(384, 512))
    return root


def test_run_writes_named_protocol_tables_and_reuses_its_cache(dataset, tmp_path):
    config = BenchConfig(dataset=f"folder:{dataset}", out=tmp_path / "r", detectors=["dq", "ela"],
                         conditions=["clean", "crop:3"])
    results = run(config)
    clean = {r.condition: r for r in results}["clean"]
    assert clean.images == 6 and clean.errors == []
    assert clean.methods["dq"]["image-AUC"] == 1.0
    assert clean.methods["dq"]["pixel-F1@0.5"] >= 0.5
    assert clean.methods["ela"]["image-AUC"] is None  # a map-only method has no image metric
    assert clean.applicable == {"dq": 6, "ela": 6, "fusion": 6, "fusion-v1": 6}
    # Cropping by 3 pixels misaligns the grid: aligned double quantization is gone.
    cropped = {r.condition: r for r in results}["crop:3"]
    assert cropped.methods["dq"]["pixel-F1@0.5"] < clean.methods["dq"]["pixel-F1@0.5"]

    out = tmp_path / "r"
    data = json.loads((out / "results.json").read_text())
    assert data["protocols"]["pixel-F1@0.5"] and data["config"]["conditions"] == ["clean", "crop:3"]
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"condition", "method", "protocol", "value", "images"} <= set(rows[0])
    assert "`pixel-F1-best`" in (out / "results.md").read_text()

    entries = sorted((out / "cache").rglob("*.npz"))
    assert len(entries) == 12
    stamps = [p.stat().st_mtime_ns for p in entries]
    again = run(BenchConfig(dataset=f"folder:{dataset}", out=out, detectors=["dq", "ela"],
                            conditions=["clean", "crop:3"], protocols=["image-AP"]))
    assert [p.stat().st_mtime_ns for p in entries] == stamps  # nothing recomputed
    assert again[0].methods["dq"] == {"image-AP": 1.0}


def test_cli_bench(dataset, tmp_path):
    from test_cli import tamperscope

    result = tamperscope("bench", "--dataset", f"folder:{dataset}", "-o", tmp_path / "c", "--detectors", "dq",
                         "--protocols", "image-AUC,pixel-F1@0.5", "--perturb", "jpeg:85")
    assert result.returncode == 0, result.stderr
    assert "Condition `jpeg:85`" in result.stdout and "`image-AUC`" in result.stdout
    bad = tamperscope("bench", "--dataset", "casia1:/does/not/exist", "-o", tmp_path / "d")
    assert bad.returncode == 2 and "expected folders" in bad.stderr and "Traceback" not in bad.stderr


def test_roc_points():
    fpr, tpr = roc_points(np.array([0.9, 0.8, 0.8, 0.1]), np.array([1, 0, 1, 0]))
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0]


def test_unwritable_results_folder_is_a_clear_error(dataset, tmp_path):
    from test_cli import tamperscope

    (tmp_path / "taken").write_text("a file")
    result = tamperscope("bench", "--dataset", f"folder:{dataset}", "-o", tmp_path / "taken")
    assert result.returncode == 2 and "cannot write results" in result.stderr
