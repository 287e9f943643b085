"""The Ray backend keeps the scan contract of the local pool (needs the ``ray`` extra; skipped without it)."""

from __future__ import annotations

import shutil
import sys

import pytest

ray = pytest.importorskip("ray")

from forgeries import double_jpeg_splice, jpeg_bytes, noise_splice, photo  # noqa: E402

from tamperscope.errors import InputError  # noqa: E402
from tamperscope.scan import ResultStore, scan  # noqa: E402
from tamperscope.scan import ray_backend  # noqa: E402
from tamperscope.scan.previews import image_name  # noqa: E402
from tamperscope.scan.ray_backend import RayBackend  # noqa: E402

#: Row fields that depend on when and how fast a file was analysed, not on what it contains.
VOLATILE = ("seconds", "finished_at")


@pytest.fixture(autouse=True)
def _no_outside_cluster(monkeypatch):
    """RAY_ADDRESS unset: "auto" starts (and stops) a private cluster unless `ray start` runs on this machine."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield
    assert not ray.is_initialized(), "the backend left its Ray connection open"


def _collection(folder):
    """18 distinct JPEGs (3 of them forged), one byte-identical copy, one file that is not an image."""
    folder.mkdir()
    for index in range(15):
        height, width = 192 + 32 * (index % 4), 256 + 32 * (index % 3)
        (folder / f"photo{index:02d}.jpg").write_bytes(jpeg_bytes(photo(height, width, seed=index), 70 + index))
    box = (96, 128, 128, 128)
    double_jpeg_splice(folder / "splice_a.jpg", box=box, size=(384, 512))
    double_jpeg_splice(folder / "splice_b.jpg", q_region=50, q_host=95, box=box, size=(384, 512))
    noise_splice(folder / "noisy.jpg", sigma=12.0, box=box, size=(384, 512), quality=92)
    shutil.copy(folder / "photo03.jpg", folder / "photo03_copy.jpg")
    (folder / "notes.jpg").write_bytes(b"not an image, only a name that says so\n" * 10)


def _rows(store):
    return {row.sha256: {k: v for k, v in row.to_dict().items() if k not in VOLATILE} for row in store.rows()}


def test_ray_scan_matches_local_scan(tmp_path, monkeypatch):
    _collection(tmp_path / "imgs")
    monkeypatch.chdir(tmp_path)  # relative paths: Ray workers get absolute ones, the store keeps these

    with ResultStore(tmp_path / "local.db") as local_store:
        local = scan(["imgs"], local_store, workers=2)
        expected = _rows(local_store)
        local_previews = local_store.previews(list(expected))

    with ResultStore(tmp_path / "ray.db") as store:
        summary = scan(["imgs"], store, ray="auto", workers=2)
        assert not ray.is_initialized()  # the cluster it started is gone
        rows = _rows(store)

        # The copy is analysed once: skipped as in flight or as already done, depending on timing.
        assert (summary.seen, summary.analysed, summary.duplicates + summary.already_done, summary.errors) == (
            20, 19, 1, 1)
        assert summary.labels == local.labels
        assert rows == expected  # same label, score, detectors, regions, error for every content hash
        # Previews travel back with the rows and the driver writes them: no folder shared with the workers needed.
        assert store.previews(list(rows)) == local_previews and len(local_previews) == 18  # 19 contents, 1 error
        for sha in local_previews:
            assert (tmp_path / "ray.db.artifacts" / image_name(sha)).read_bytes() == (
                tmp_path / "local.db.artifacts" / image_name(sha)).read_bytes()
        assert len({row["label"] for row in rows.values() if row["status"] == "done"}) > 1

        bad = [row for row in rows.values() if row["status"] == "error"]
        assert [(row["path"], row["error_kind"]) for row in bad] == [("imgs/notes.jpg", expected_kind(expected))]
        copy = next(sha for sha, row in rows.items() if row["path"] == "imgs/photo03.jpg")
        assert store.paths_of(copy) == ["imgs/photo03.jpg", "imgs/photo03_copy.jpg"]

        # A rerun has nothing left to do, so it does not even start Ray.
        def no_cluster(self):
            raise AssertionError("Ray started for a scan with nothing to analyse")

        monkeypatch.setattr(RayBackend, "_connect", no_cluster)
        again = scan(["imgs"], store, ray="auto", workers=2)
        assert (again.seen, again.already_done, again.analysed, again.errors) == (20, 20, 0, 0)
        assert _rows(store) == rows


def expected_kind(rows):
    (kind,) = {row["error_kind"] for row in rows.values() if row["status"] == "error"}
    assert kind not in ("crashed", "timeout", "internal")
    return kind


def test_crash_and_timeout_become_rows(tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.jpg", "crash.jpg", "hang.jpg", "b.jpg", "c.jpg"):
        (folder / name).write_bytes(name.encode())  # distinct contents, distinct hashes

    def flaky(path, sha256, settings):  # nested, so Ray ships it by value to its workers
        import os
        import time

        from tamperscope.scan.store import Row

        name = os.path.basename(path)
        if name == "crash.jpg":
            os._exit(3)
        if name == "hang.jpg":
            time.sleep(120)
        return Row(sha256=sha256, path=path, status="done", label="authentic", score=0.0).to_dict()

    monkeypatch.setattr(ray_backend, "_analyze_task", flaky)
    with ResultStore(tmp_path / "ray.db") as store:
        # 30 s: the timeout counts from submission, and after crash.jpg kills its worker, Ray starts a new one for the
        # next task; on a loaded 2-core machine that took more than 10 s, and a healthy file must not look like a hang.
        summary = scan([folder], store, ray="auto", workers=2, timeout_s=30)
        rows = {row.path.rsplit("/", 1)[1]: row for row in store.rows()}
    assert summary.analysed == 5 and summary.errors == 2
    assert rows["crash.jpg"].error_kind == "crashed"
    assert (rows["hang.jpg"].error_kind, rows["hang.jpg"].error) == ("timeout", "timed out after 30 s")
    assert rows["hang.jpg"].seconds < 60
    assert [rows[name].status for name in ("a.jpg", "b.jpg", "c.jpg")] == ["done"] * 3


def test_usage_errors_are_input_errors(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="cannot connect to the Ray cluster at 127.0.0.1:1"):
        RayBackend("127.0.0.1:1", 1, {}, timeout_s=5).run(iter([("x.jpg", "0" * 64)]), lambda row: None)
    with pytest.raises(InputError, match="not a Ray cluster address"):
        RayBackend("nowhere", 1, {}, timeout_s=5).run(iter([("x.jpg", "0" * 64)]), lambda row: None)

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with ResultStore(tmp_path / "x.db") as store, pytest.raises(
        InputError, match=r"^Ray is not installed: pip install 'tamperscope\[ray\]'$"
    ):
        scan([tmp_path], store, ray="auto")


def test_workers_without_tamperscope_stop_the_scan_not_every_file(tmp_path, monkeypatch):
    (tmp_path / "a.jpg").write_bytes(b"a")

    def other_version():
        return "0.0.0-elsewhere"

    def not_installed():
        raise ModuleNotFoundError("No module named 'tamperscope'")

    ray.init(include_dashboard=False, object_store_memory=100 * 2**20, num_cpus=1, log_to_driver=False)
    try:  # a connection this process opened itself is used and left open
        with ResultStore(tmp_path / "r.db") as store:
            monkeypatch.setattr(ray_backend, "_worker_version", other_version)
            with pytest.raises(InputError, match=r"workers have tamperscope 0\.0\.0-elsewhere, this machine"):
                scan([tmp_path], store, ray="auto")
            monkeypatch.setattr(ray_backend, "_worker_version", not_installed)
            with pytest.raises(InputError, match=r"cannot run on the Ray workers \(ModuleNotFoundError: No module"):
                scan([tmp_path], store, ray="auto")
            assert ray.is_initialized()
            assert store.counts()["images"] == 0
    finally:
        ray.shutdown()
