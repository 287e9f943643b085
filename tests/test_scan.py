"""Scanning: resumable, deduplicated, and no bad file (or killed process) loses anything."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forgeries import authentic_jpeg, double_jpeg_splice, jpeg_bytes, photo
from tamperscope.scan import ResultStore, count_files, file_sha256, iter_files, scan


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for index in range(4):
        (root / f"a{index}.jpg").write_bytes(jpeg_bytes(photo(128, 160, seed=index), 90))
    double_jpeg_splice(root / "sub" / "spliced.jpg", box=(64, 96, 192, 256), size=(384, 512))
    (root / "sub" / "copy-of-a0.jpg").write_bytes((root / "a0.jpg").read_bytes())
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "notes.txt").write_text("not scanned")
    return root


def test_scan_records_every_file_once_and_resumes(folder, tmp_path):
    assert count_files([folder]) == 5 and count_files([folder], recursive=True) == 7
    with ResultStore(tmp_path / "r.sqlite") as store:
        first = scan([folder], store, recursive=True, workers=2)
        assert first.seen == 7 and first.analysed == 6 and first.errors == 1
        assert first.already_done + first.duplicates == 1  # the copy of a0
        counts = store.counts()
        assert counts["images"] == 6 and counts["paths"] == 7 and counts["edited"] >= 1
        rows = {Path(r.path).name: r for r in store.rows()}
        assert rows["spliced.jpg"].label == "edited" and rows["spliced.jpg"].regions
        assert rows["broken.jpg"].status == "error" and rows["broken.jpg"].error_kind == "unsupported-format"
        assert sorted(Path(p).name for p in store.paths_of(file_sha256(folder / "a0.jpg"))) == [
            "a0.jpg", "copy-of-a0.jpg"]
        again = scan([folder], store, recursive=True, workers=2)
        assert again.analysed == 0 and again.already_done == 7


def test_iteration_is_lazy():
    walk = iter_files(["/"], recursive=True)
    assert next(walk) is not None  # the whole file system is not listed before the first file


def _sleep_on(name, seconds):
    from tamperscope.scan import worker

    original = worker.analyze_to_row

    def patched(path, sha256, settings):
        if Path(path).name == name:
            time.sleep(seconds)
        return original(path, sha256, settings)

    return patched


def test_a_hanging_file_times_out_and_the_scan_goes_on(folder, tmp_path, monkeypatch):
    from tamperscope.scan import worker

    monkeypatch.setattr(worker, "analyze_to_row", _sleep_on("a1.jpg", 60))
    with ResultStore(tmp_path / "r.sqlite") as store:
        summary = scan([folder], store, workers=2, timeout_s=3)
        rows = {Path(r.path).name: r for r in store.rows()}
    assert rows["a1.jpg"].error_kind == "timeout" and "timed out after 3 s" in rows["a1.jpg"].error
    assert rows["a2.jpg"].status == "done" and summary.analysed == 5


def test_a_crashing_file_is_recorded_and_the_scan_goes_on(folder, tmp_path, monkeypatch):
    from tamperscope.scan import worker

    original = worker.analyze_to_row

    def crash(path, sha256, settings):
        if Path(path).name == "a2.jpg":
            os.kill(os.getpid(), signal.SIGSEGV)
        return original(path, sha256, settings)

    monkeypatch.setattr(worker, "analyze_to_row", crash)
    with ResultStore(tmp_path / "r.sqlite") as store:
        scan([folder], store, workers=1)
        rows = {Path(r.path).name: r for r in store.rows()}
    assert rows["a2.jpg"].error_kind == "crashed" and "signal 11" in rows["a2.jpg"].error
    assert all(rows[name].status == "done" for name in ("a0.jpg", "a1.jpg", "a3.jpg"))


def test_memory_cap_turns_into_an_error_row(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.fromarray(photo(3000, 4000)).save(big, compress_level=1)
    with ResultStore(tmp_path / "r.sqlite") as store:
        scan([big], store, memory_mb=64)
        (row,) = list(store.rows())
    # Analysing 12 MP needs far more than 64 MiB beyond the worker's start: whichever allocation fails first
    # (decoding, a detector, the report), the failure is a row, not a dead scan.
    assert row.status == "error" and row.error_kind in {"memory", "crashed", "internal", "too-large"}


def _rows_in(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or busy
        return -1


def test_repeated_sigkills_then_rerun_lose_nothing_and_repeat_nothing(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for index in range(240):
        (root / f"img{index:03d}.jpg").write_bytes(jpeg_bytes(photo(192, 256, seed=index), 85))
    db = tmp_path / "r.sqlite"
    command = [sys.executable, "-m", "tamperscope", "scan", str(root), "--db", str(db), "--workers", "2"]
    kills, done = 0, 0
    for step in (30, 30, 30):  # three SIGKILLs, each after at least `step` more images were committed
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target, deadline = done + step, time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None and _rows_in(db) < target:
            time.sleep(0.1)
        if process.poll() is not None:
            break  # it finished first: nothing left to kill
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        survived = _rows_in(db)
        assert survived >= done, "a kill lost rows that were already committed"
        done = survived
    assert kills == 3, "the scan finished before it could be killed three times: make the set larger"
    assert done < 240

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with ResultStore(db) as store:
        rows = list(store.rows())
    expected = {file_sha256(path) for path in root.iterdir()}
    assert len(rows) == 240 and {row.sha256 for row in rows} == expected
    assert all(row.status == "done" for row in rows)
    # The workers of the killed scans are gone too: no orphan keeps a core or the store open.
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(db)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(db)) == []


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
    assert f"already in the store {survived}" in rerun.stdout
