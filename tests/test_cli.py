"""The command line, run as a user runs it: a subprocess, exit codes, files written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from forgeries import double_jpeg_splice, jpeg_bytes, photo
from test_loader import png_with_canvas

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "spliced.jpg"


def tamperscope(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tamperscope", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_analyze_writes_the_report_files(tmp_path, plumbing_fusion):
    mask = double_jpeg_splice(tmp_path / "spliced.jpg")
    out = tmp_path / "out"
    result = tamperscope("analyze", tmp_path / "spliced.jpg", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "Verdict: EDITED" in result.stdout and "Region r1" in result.stdout
    for name in ("report.json", "heatmap.png", "overlay.jpg", "mask.png", "layers/dq.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "tamperscope.report/2.0"
    assert report["verdict"]["label"] == "edited"
    x, y, w, h = report["regions"][0]["bbox"]
    rows, cols = mask.nonzero()
    # The first region overlaps the true box.
    assert x < cols.max() and x + w > cols.min() and y < rows.max() and y + h > rows.min()
    assert not [p for p in out.iterdir() if p.name.startswith(".tamperscope-")]


def test_json_output_is_what_the_api_returns(tmp_path):
    from tamperscope import analyze

    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(photo(256, 320), 90))
    result = tamperscope("analyze", path, "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    expected = analyze(path).to_dict()
    for volatile in (printed, expected):
        volatile.pop("timings_s")
        volatile["reproducibility"].pop("analyzed_at")
        for item in volatile["evidence"]:
            item.pop("runtime_s")
    assert printed == expected


def test_bundled_sample_is_found_edited():
    result = tamperscope("analyze", SAMPLE, "--detectors", "dq")
    assert result.returncode == 0 and "Verdict: EDITED" in result.stdout


def test_detectors_lists_citations():
    result = tamperscope("detectors", "--json")
    assert result.returncode == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"ela", "dq", "blk", "noise"} <= set(rows)
    assert "Pattern Recognition" in rows["dq"]["citation"]
    assert all(row["citation"] and row["version"] for row in rows.values())


def _truncated_jpeg():
    data = jpeg_bytes(photo(256, 256), 90)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("empty.jpg", b"", "empty"),
        ("truncated.jpg", None, "truncated"),
        ("text.jpg", b"this is a text file, not a photo\n" * 3, "not an image"),
        ("bomb.png", png_with_canvas(40000, 40000), "decompression bomb"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_files(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(_truncated_jpeg() if content is None else content)
    out = tmp_path / "out"
    result = tamperscope("analyze", path, "-o", out)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_unknown_detector_is_bad_usage(tmp_path):
    path = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(photo(64, 64)).save(path)
    result = tamperscope("analyze", path, "--detectors", "nope")
    assert result.returncode == 2 and "unknown detector 'nope'" in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = tamperscope("analyze", tmp_path / "missing.jpg")
    assert result.returncode == 2 and "no such file" in result.stderr


def test_unwritable_output_is_a_clear_error(tmp_path):
    from PIL import Image

    Image.fromarray(photo(64, 64)).save(tmp_path / "a.png")
    (tmp_path / "taken").write_text("a file, not a folder")
    result = tamperscope("analyze", tmp_path / "a.png", "-o", tmp_path / "taken")
    assert result.returncode == 2 and "cannot write the report" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["train", "zed", "--data", "{empty}", "--out", "{tmp}/z.npz"],
                                     ["train", "faces", "--faces", "{tmp}/absent"],
                                     ["train", "localizer", "--photos", "{tmp}/absent"]])
def test_training_without_photos_is_one_line_and_exit_2(tmp_path, command):
    (tmp_path / "empty").mkdir()
    args = [part.format(empty=tmp_path / "empty", tmp=tmp_path) for part in command]
    result = subprocess.run([sys.executable, "-m", "tamperscope", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tamperscope: error:"), result.stderr
