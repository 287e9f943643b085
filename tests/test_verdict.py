"""The verdict says what the evidence shows, the same way everywhere (issue 21).

* every output format (report.json, the CLI summary, HTML, Markdown, the service's job, the scan store, the
  gallery) carries the same label, class probabilities and regions;
* a forged image with no detected trace is never labelled ``authentic``; an intact protected image is;
* old scan stores and job stores migrate (their v1 "authentic" meant "no evidence found").
"""

import csv
import html
import json
import sqlite3
from pathlib import Path

import pytest

from forgeries import authentic_jpeg, double_jpeg_splice
from tamperscope import analyze, protect, verify, write_report
from tamperscope.report.present import score_line
from tamperscope.report.schema import LABEL_SHORT, LABEL_WORDS
from tamperscope.scan.gallery import write_gallery
from tamperscope.scan.store import ResultStore
from tamperscope.scan.worker import row_from_report

DATA = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "data" / "dev",
                         Path("/work/shared/data/dev")) if p.is_dir()), None)


@pytest.fixture(scope="module", params=["forged", "clean"])
def written(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    path = folder / "image.jpg"
    double_jpeg_splice(path) if request.param == "forged" else authentic_jpeg(path, 90)
    report = analyze(path)
    write_report(report, folder / "out", formats=("html", "md"))
    return report, folder / "out"


def test_every_output_format_shows_the_same_label_scores_and_regions(written, tmp_path):
    report, out = written
    data = json.loads((out / "report.json").read_text())
    verdict = data["verdict"]
    assert verdict["label"] == report.label and data["schema"] == "tamperscope.report/2.0"
    assert verdict["class_scores"] == {k: None if v is None else round(v, 4)
                                       for k, v in report.fusion.class_scores.items()}
    assert verdict["calibrated"] is True and set(verdict["class_scores"]) == {
        "edited", "ai-generated", "ai-edited", "no-manipulation"}
    words, line = LABEL_WORDS[report.label], score_line(report)
    page = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    summary = report.summary_text()
    for text, quote in ((summary, str), (page, html.escape), (markdown, str)):
        assert quote(words) in text
        assert quote(line) in text or quote(line).replace("-", "\\-") in text
    assert [r["id"] for r in data["regions"]] == [r.id for r in report.regions]
    for region in report.regions:
        assert f"Region {region.id}" in summary and f'data-region="{region.id}"' in page and region.id in markdown
    # The scan store and its gallery, and the service's job row, keep the same label and probabilities.
    row = row_from_report(report, str(report.image.source), report.image.sha256, "default")
    assert row.label == report.label and row.class_scores == verdict["class_scores"]
    with ResultStore(tmp_path / "scan.sqlite") as store:
        store.record(row)
        (stored,) = list(store.rows())
        assert stored.label == report.label and stored.class_scores == verdict["class_scores"]
        page = write_gallery(store, tmp_path / "gallery.html")
    gallery = page.read_text()
    words = LABEL_SHORT[report.label]
    assert f"<span>{words.lower()}</span>" in gallery  # the summary's count of this label
    assert f'"key": "{report.label}", "words": "{words}"' in gallery  # the page's meta: what each badge says
    from tamperscope.serve.store import Job, JobStore

    jobs = JobStore(tmp_path / "jobs.sqlite")
    jobs.create(Job(id=row.sha256[:32], filename="image.jpg", sha256=row.sha256, file_size=1, profile="default",
                    status="queued", created_at=0.0))
    row.sha256 = row.sha256[:32]  # the pool's task key is the job id
    jobs.finish(row)
    job = jobs.get(row.sha256)
    jobs.close()
    assert job.label == report.label and job.class_scores == verdict["class_scores"]
    pytest.importorskip("fastapi")
    from tamperscope.serve.app import _out

    assert _out(job)["label_words"] == LABEL_SHORT[report.label]


def test_a_region_only_with_a_manipulation_label(written):
    report, _ = written
    if report.label in ("edited", "ai-edited"):
        assert report.regions or any(s.text.startswith("No region") for s in report.explanation.sections[1].sentences)
    else:
        assert not report.regions and not report.fusion.mask.any()


def test_clean_photo_is_no_evidence_and_says_what_was_not_checked(tmp_path):
    authentic_jpeg(tmp_path / "c.jpg", 90)
    report = analyze(tmp_path / "c.jpg")
    assert report.label == "no-evidence"
    verdict = " ".join(s.text for s in report.explanation.sections[0].sentences)
    assert "not proof of authenticity" in verdict and "Not checked" in verdict and "ai-generated" in verdict


def test_an_intact_protected_image_is_authentic_and_an_edited_one_is_not(tmp_path):
    authentic_jpeg(tmp_path / "photo.jpg", 95, size=(512, 512))
    protect(tmp_path / "photo.jpg", tmp_path / "protected.png", key="newsroom")
    assert verify(tmp_path / "protected.png", key="newsroom").label == "authentic"
    report = analyze(tmp_path / "protected.png", watermark_key="newsroom")
    assert report.label == "authentic" and report.fusion.decided_by == "provenance"
    assert "Authentic" in report.explanation.sections[0].sentences[0].text
    from PIL import Image

    pixels = Image.open(tmp_path / "protected.png").convert("RGB")
    pixels.paste((255, 0, 0), (100, 100, 260, 260))
    pixels.save(tmp_path / "edited.png")
    assert verify(tmp_path / "edited.png", key="newsroom").label == "edited"


@pytest.mark.skipif(DATA is None or not (DATA / "casia1").is_dir(), reason="shared/data/dev/casia1 is absent")
def test_casia_forgeries_no_detector_catches_are_never_authentic():
    """Forgeries from the held-apart CASIA part: whatever the detectors miss, the label is not authentic."""
    from tamperscope.train.fusion_data import development_samples

    forged = [s for s in development_samples(DATA) if s.dataset == "casia1" and s.part == "eval"
              and s.klass == "edited"][:12]
    labels = [analyze(s.path).label for s in forged]
    assert labels and "authentic" not in labels
    assert set(labels) <= {"edited", "no-evidence", "inconclusive"}


# ---------------------------------------------------------------- migration of stores written by version 1

V1_SCAN = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, file_size INTEGER, status TEXT NOT NULL,
    label TEXT, score REAL, width INTEGER, height INTEGER, format TEXT, regions TEXT, provenance TEXT,
    detectors TEXT, error TEXT, error_kind TEXT, seconds REAL, artifact TEXT, profile TEXT, finished_at REAL NOT NULL);
CREATE INDEX images_score ON images(score DESC);
CREATE TABLE paths (path TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""
V1_ROWS = [  # sha, label, detectors: v1 "authentic" was "no evidence" unless trusted provenance attested it
    ("a" * 64, "authentic", {"dq": 0.1, "noise": 0.2, "c2pa": "not-applicable"}),
    ("b" * 64, "authentic", {"dq": 0.0, "c2pa": 0.9}),
    ("c" * 64, "authentic", {"watermark": 0.8}),
    ("d" * 64, "edited", {"dq": 0.9}),
    ("e" * 64, "inconclusive", {"dq": "not-applicable"}),
]
MIGRATED = {"a": "no-evidence", "b": "authentic", "c": "authentic", "d": "edited", "e": "inconclusive"}


def test_a_version_1_scan_store_migrates(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCAN)
    for sha, label, detectors in V1_ROWS:
        db.execute("INSERT INTO images (sha256, path, status, label, score, detectors, finished_at) "
                   "VALUES (?, ?, 'done', ?, 0.2, ?, 1.0)", (sha, f"/x/{sha[0]}.jpg", label, json.dumps(detectors)))
    db.commit()
    db.close()
    from tamperscope.scan.results import export_rows, open_results

    with open_results(path) as read_only:  # `tamperscope results` reads it as version 2 and changes nothing
        assert {r.sha256[0]: r.label for r in read_only.rows()} == MIGRATED
        assert read_only.row("a" * 64).class_scores is None and read_only.counts()["no-evidence"] == 1
        assert read_only.counts()["authentic"] == 2 and read_only.counts()["edited"] == 1
        assert sorted(values[4] for values, _ in export_rows(read_only)) == sorted(MIGRATED.values())
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    db.close()
    with ResultStore(path) as store:
        assert {r.sha256[0]: r.label for r in store.rows()} == MIGRATED
        assert all(r.class_scores is None for r in store.rows())
        assert store.counts()["no-evidence"] == 1
    with ResultStore(path) as again:  # opening twice changes nothing more
        assert {r.sha256[0]: r.label for r in again.rows()} == MIGRATED
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    db.close()
    from tamperscope.scan.results import export_csv

    export_csv(ResultStore(path), tmp_path / "out.csv")
    header = next(csv.reader((tmp_path / "out.csv").open()))
    assert "class_scores" in header and "label" in header


def test_a_version_1_job_store_migrates(tmp_path):
    from tamperscope.serve.store import JobStore

    path = tmp_path / "jobs.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE jobs (id TEXT PRIMARY KEY, filename TEXT NOT NULL, sha256 TEXT NOT NULL, file_size INTEGER
            NOT NULL, format TEXT, width INTEGER, height INTEGER, profile TEXT NOT NULL, status TEXT NOT NULL,
            label TEXT, score REAL, regions TEXT, provenance TEXT, detectors TEXT, error TEXT, error_kind TEXT,
            seconds REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL);
        INSERT INTO meta VALUES ('schema_version', '1');
    """)
    for sha, label, detectors in V1_ROWS:
        db.execute("INSERT INTO jobs (id, filename, sha256, file_size, profile, status, label, detectors, created_at) "
                   "VALUES (?, 'x.jpg', ?, 1, 'default', 'done', ?, ?, 0)", (sha[:32], sha, label, json.dumps(detectors)))
    db.commit()
    db.close()
    store = JobStore(path)
    assert {j.id[0]: j.label for j in store.list()} == MIGRATED
    store.close()


def test_a_class_outside_the_fitted_model_shows_the_deciding_detectors_own_score(tmp_path):
    # A detector named by hand (or of the thorough profile) that the fitted model does not weigh decides at its own
    # calibrated score; the probability line must show that score, not "not checked" beside the label it gave.
    import dataclasses

    path = tmp_path / "image.jpg"
    authentic_jpeg(path, 90)
    report = analyze(path)
    assert report.fusion.class_scores["ai-generated"] is None
    assert "ai-generated not checked" in score_line(report)
    probe = dataclasses.replace(report.evidence[-1], detector="aigen", score=0.93, indicates="ai-generated")
    report.evidence.append(probe)
    report.fusion.unmodelled = ["aigen"]
    assert "ai-generated 0.93 from aigen alone" in score_line(report)
    assert "ai-edited not checked" in score_line(report)
