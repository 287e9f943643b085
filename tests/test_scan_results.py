"""Reading a scan's results: top images, CSV/Parquet exports, `tamperscope results` (the gallery: test_scan_gallery.py).

The store is built by a real scan of generated files (an edited JPEG, two authentic
ones, a copy under a second name, a file that is not an image, and a hostile file
name); tests that need odd rows write them straight into a store.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from forgeries import authentic_jpeg, double_jpeg_splice
from tamperscope.errors import InputError
from tamperscope.scan import ResultStore, Row, scan
from tamperscope.cli.results import results_app
from tamperscope.scan.results import (
    EXPORT_COLUMNS,
    PARQUET_NEEDS,
    MissingDependency,
    ResultsUnavailable,
    errors,
    export_csv,
    export_parquet,
    open_results,
    top,
    top_detectors,
    visible,
)
from tamperscope.scan.store import JSON_COLUMNS

HOSTILE = "<img src=x onerror=alert(1)>.jpg"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, plumbing_fusion):
    """(database path, artifacts folder, photos folder) of one scan."""
    root = tmp_path_factory.mktemp("scan")
    photos = root / "photos"
    photos.mkdir()
    double_jpeg_splice(photos / "edited.jpg")
    authentic_jpeg(photos / "plain-90.jpg", 90)
    authentic_jpeg(photos / "plain-75.jpg", 75)
    shutil.copy(photos / "edited.jpg", photos / "edited copy|2.jpg")
    (photos / "notes.jpg").write_text("this is not an image\n")
    authentic_jpeg(photos / HOSTILE, 85)
    Image.new("RGB", (600, 400), "white").save(photos / "flat.png")  # nothing to decide on: inconclusive
    (photos / "broken-<b>.png").write_bytes(b"\x89PNG\r\n\x1a\n<script>alert(2)</script>")
    db, artifacts = root / "results.sqlite", root / "artifacts"
    with ResultStore(db) as store:
        summary = scan([photos], store, artifacts=artifacts)
    assert summary.analysed == 7 and summary.errors == 2
    return db, artifacts, photos


@pytest.fixture()
def store(scanned):
    with open_results(scanned[0]) as opened:
        yield opened


def test_top_is_most_suspicious_first_and_leaves_errors_out(store, scanned):
    rows = top(store)
    assert [row.status for row in rows] == ["done"] * 5
    assert os.path.basename(rows[0].path) in ("edited.jpg", "edited copy|2.jpg")
    assert rows[0].label == "edited"
    scores = [row.score for row in rows if row.score is not None]
    assert scores == sorted(scores, reverse=True)
    assert rows[-1].score is None and rows[-1].label == "inconclusive"  # unscored last
    assert [row.sha256 for row in top(store, 2)] == [row.sha256 for row in rows[:2]]
    assert top(store, 0) == []
    failed = list(errors(store))
    assert sorted(os.path.basename(row.path) for row in failed) == ["broken-<b>.png", "notes.jpg"]
    assert all(row.error and row.error_kind for row in failed)


def test_top_detectors_and_visible():
    row = Row(sha256="a", path="p", status="done", detectors={"dq": 0.8, "blk": 0.2, "ela": None, "noise": 0.001,
                                                              "x": "not-applicable", "y": 0.5})
    assert top_detectors(row) == [("dq", 0.8), ("y", 0.5), ("blk", 0.2)]
    assert top_detectors(row, k=1) == [("dq", 0.8)]
    assert visible("a\x1b[31mb\u202ec.jpg") == "a\\x1b[31mb\\u202ec.jpg"
    assert visible("é ü.jpg") == "é ü.jpg"


def test_csv_export_one_row_per_image(store, tmp_path):
    out = tmp_path / "sub" / "results.csv"
    assert export_csv(store, out) == 7
    assert not (tmp_path / "sub" / "results.csv.part").exists()
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert tuple(next(reader)) == EXPORT_COLUMNS
        records = [dict(zip(EXPORT_COLUMNS, values)) for values in reader]
    assert len(records) == store.counts()["images"] == 7
    assert len({r["sha256"] for r in records}) == 7
    stored = {row.sha256: row for row in store.rows()}
    for record in records:
        row = stored[record["sha256"]]
        for name in JSON_COLUMNS:  # JSON text that decodes to what the store holds
            assert (json.loads(record[name]) if record[name] else None) == getattr(row, name)
        assert record["path"] in record["paths"]
    # Most suspicious first, as `top` ranks them.
    assert records[0]["label"] == "edited"
    # The same content under two names: one row, both paths, joined with "|".
    edited = records[0]
    assert sorted(os.path.basename(p) for p in re.split(r"\|(?=/)", edited["paths"])) == [
        "edited copy|2.jpg", "edited.jpg"]
    hostile = next(r for r in records if r["path"].endswith(HOSTILE))
    assert hostile["paths"] == hostile["path"] and hostile["status"] == "done"
    failed = [r for r in records if r["status"] == "error"]
    assert len(failed) == 2 and all(r["error"] and r["score"] == "" for r in failed)


def test_parquet_export(store, tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    out = tmp_path / "results.parquet"
    assert export_parquet(store, out, batch_rows=4) == 7
    parquet = pq.ParquetFile(out)
    assert parquet.metadata.num_rows == 7 and parquet.num_row_groups == 2
    table = parquet.read()
    assert tuple(table.column_names) == EXPORT_COLUMNS
    records = table.to_pylist()
    assert records[0]["label"] == "edited" and isinstance(records[0]["score"], float)
    assert sorted(os.path.basename(p) for p in records[0]["paths"]) == ["edited copy|2.jpg", "edited.jpg"]
    assert json.loads(records[0]["detectors"])["dq"] > 0.5
    # An empty store still gives a readable file with the schema.
    with ResultStore(tmp_path / "empty.sqlite") as empty:
        assert export_parquet(empty, tmp_path / "empty.parquet") == 0
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def test_parquet_without_pyarrow_is_a_one_line_input_error(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDependency) as caught:
        export_parquet(store, tmp_path / "x.parquet")
    assert isinstance(caught.value, InputError)
    assert str(caught.value) == PARQUET_NEEDS
    assert not list(tmp_path.iterdir())


def test_open_results_never_creates_a_database(tmp_path):
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(ResultsUnavailable, match="no results database at"):
        open_results(missing)
    assert not missing.exists()
    (tmp_path / "text.sqlite").write_text("hello")
    with pytest.raises(ResultsUnavailable, match="not a readable results database"):
        open_results(tmp_path / "text.sqlite")
    import sqlite3

    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    with pytest.raises(ResultsUnavailable, match="not a tamperscope results database"):
        open_results(tmp_path / "other.sqlite")


def _page(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# The command line.

runner = CliRunner()


def invoke(*args):
    return runner.invoke(results_app, [str(a) for a in args])


def test_cli_top_table_and_json(scanned):
    db = scanned[0]
    result = invoke("top", "--db", db)
    assert result.exit_code == 0, result.output
    assert "edited" in result.output and "could not be analysed" in result.output
    lines = invoke("top", "--db", db, "--n", 3, "--json").output.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["rank"] for r in records] == [1, 2, 3] and records[0]["label"] == "edited"
    assert len(records[0]["paths"]) == 2
    assert invoke("top", "--db", db, "--n", 0).exit_code == 2


def test_cli_prints_hostile_names_as_text(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.record(Row(sha256="a" * 64, path="/x/[bold red]\x1b[2Jboom\u202e.jpg", status="done", label="edited",
                         score=0.9))
    result = invoke("top", "--db", tmp_path / "r.sqlite")
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "[bold" in result.output and "\\x1b[2Jboom" in result.output


def test_cli_missing_database_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "none.sqlite"
    for args in (["top"], ["export", "--csv", tmp_path / "x.csv"], ["gallery", "-o", tmp_path / "g.html"]):
        result = invoke(*args, "--db", missing)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert lines == [f"tamperscope: error: no results database at {missing}"]
    assert not missing.exists() and not (tmp_path / "x.csv").exists() and not (tmp_path / "g.html").exists()


def test_cli_export(scanned, tmp_path, monkeypatch):
    db = scanned[0]
    result = invoke("export", "--db", db, "--csv", tmp_path / "r.csv")
    assert result.exit_code == 0 and "Exported 7 images" in result.output
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 7
    for args in ([], ["--csv", tmp_path / "a.csv", "--parquet", tmp_path / "a.parquet"]):
        result = invoke("export", "--db", db, *args)
        assert result.exit_code == 2 and "exactly one of --csv PATH or --parquet PATH" in result.output
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = invoke("export", "--db", db, "--parquet", tmp_path / "a.parquet")
    assert result.exit_code == 2
    assert result.output.strip() == f"tamperscope: error: {PARQUET_NEEDS}"


def test_cli_gallery(scanned, tmp_path):
    db, artifacts, _ = scanned
    out = tmp_path / "gallery.html"
    result = invoke("gallery", "--db", db, "--n", 2, "--reports", 0, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / "gallery_files").is_dir()
    assert '"total": 2' in out.read_text(encoding="utf-8")  # --n 2: the two most suspicious images
    assert not (artifacts / "reports").exists()  # --reports 0: no report written
    assert invoke("gallery", "--db", db).exit_code == 2  # -o is required
    result = invoke("gallery", "--db", db, "--reports", 0, "--artifacts", tmp_path / "nope", "-o", tmp_path / "x.html")
    assert result.exit_code == 2 and "artifacts folder" in result.output

def test_csv_cells_a_spreadsheet_would_run_are_made_literal(tmp_path):
    hostile = "=HYPERLINK(\"http://example.invalid\",\"x\").jpg"
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.add_path(hostile, "f" * 64)
        store.record(Row(sha256="f" * 64, path=hostile, status="done", label="authentic", score=0.1))
        export_csv(store, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        record = dict(zip(EXPORT_COLUMNS, list(csv.reader(handle))[1]))
    assert record["path"] == "'" + hostile and record["paths"] == "'" + hostile
    assert record["score"] == "0.1"  # numbers stay numbers
