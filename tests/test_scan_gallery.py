"""Scan previews, the gallery that shows them, and the full reports a card opens (issue 22).

One module-wide scan runs the two commands a new user runs, with no option: ``tamperscope scan photos --db
scan.sqlite`` and ``tamperscope results gallery --db scan.sqlite -o gallery.html``. The photos: a double-JPEG
splice, the same splice with an EXIF orientation, an authentic JPEG and a copy of it under a hostile name, a flat
PNG nothing can decide on, and a file that is not an image. Tests that need many rows build a store directly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import struct
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from forgeries import authentic_jpeg, double_jpeg_splice
from tamperscope.cli import app
from tamperscope.scan import ResultStore, Row, scan
from tamperscope.scan.gallery import CHUNK_ROWS, PAGE_SIZE, gallery_folder, write_gallery
from tamperscope.scan.previews import (
    PREVIEW_LONG_SIDE,
    PreviewRecord,
    image_name,
    mask_name,
    render_previews,
    save_previews,
    shrink,
)
from tamperscope.scan.results import open_results

HOSTILE = "copy <img src=x onerror=alert(1)>.jpg"
SPLICE = dict(box=(64, 96, 192, 256), size=(384, 512))  # rows 64-256, columns 96-352 of a 384 x 512 photo
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def with_orientation(data: bytes, orientation: int) -> bytes:
    """JPEG bytes with an EXIF APP1 segment saying ``orientation`` inserted after SOI (pixels untouched)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    if not payload.startswith(b"Exif\x00\x00"):
        payload = b"Exif\x00\x00" + payload
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def make_photos(folder: Path) -> None:
    folder.mkdir(parents=True)
    double_jpeg_splice(folder / "spliced.jpg", **SPLICE)
    (folder / "rotated.jpg").write_bytes(with_orientation((folder / "spliced.jpg").read_bytes(), 6))
    authentic_jpeg(folder / "plain.jpg", 85, size=(384, 512))
    shutil.copy(folder / "plain.jpg", folder / HOSTILE)
    Image.new("RGB", (300, 200), "white").save(folder / "flat.png")
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")


def previews_on_disk(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (inode, mtime_ns) of every file under the previews folder but the reports."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and "reports" not in p.parts}


def gallery_rows(page: Path) -> list[list]:
    """Every card's data, in rank order, from the data files beside ``page``."""
    (build,) = [p for p in gallery_folder(page).iterdir() if not p.name.startswith(".")]
    rows: list[list] = []
    for chunk in sorted(build.glob("rows-*.js")):
        text = chunk.read_text(encoding="ascii")
        rows += json.loads(text[text.index(", ") + 2 : text.rindex(");")])
    return rows


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """The two commands with no option, run from the folder that holds the photos (relative paths)."""
    root = tmp_path_factory.mktemp("moderator")
    make_photos(root / "photos")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = cli("scan", "photos", "--db", "scan.sqlite")
        assert result.exit_code == 0, result.output
        assert "previews in scan.sqlite.artifacts" in result.output
        result = cli("results", "gallery", "--db", "scan.sqlite", "-o", "gallery.html")
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return root


# -- previews ------------------------------------------------------------------------------------------------------


def test_a_scan_without_options_keeps_previews_beside_the_store(scanned):
    folder = scanned / "scan.sqlite.artifacts"
    with open_results(scanned / "scan.sqlite") as store:
        assert store.artifacts_folder() == scanned / "scan.sqlite.artifacts"
        rows = {Path(row.path).name: row for row in store.rows(status="done")}
        records = store.previews([row.sha256 for row in rows.values()])
    assert len(rows) == 4 and len(records) == 4  # the copy is the same content; the broken file has no preview
    for name, row in rows.items():
        record = records[row.sha256]
        with Image.open(folder / image_name(row.sha256)) as picture:
            assert picture.format == "JPEG" and picture.size == (record.width, record.height)
            assert max(picture.size) == min(PREVIEW_LONG_SIDE, max(row.width, row.height))
        if row.regions:
            assert record.kind == "overlay" and record.mask and record.boxes
            with Image.open(folder / mask_name(row.sha256)) as mask:
                assert mask.size == (record.width, record.height)
        else:
            assert record.kind == "plain" and not record.mask and not record.boxes
            assert not (folder / mask_name(row.sha256)).exists()
        assert record.bytes == sum(f.stat().st_size for f in (folder / image_name(row.sha256),
                                                               folder / mask_name(row.sha256)) if f.exists())
    assert rows["spliced.jpg"].regions and rows["rotated.jpg"].regions
    assert not [p for p in folder.rglob(".part-*")]


def test_previews_are_upright_and_their_boxes_follow_the_region(scanned):
    folder = scanned / "scan.sqlite.artifacts"
    with open_results(scanned / "scan.sqlite") as store:
        rows = {Path(row.path).name: row for row in store.rows(status="done")}
        records = store.previews([row.sha256 for row in rows.values()])
    flat, turned = records[rows["spliced.jpg"].sha256], records[rows["rotated.jpg"].sha256]
    assert (flat.width, flat.height) == (320, 240) and (turned.width, turned.height) == (240, 320)
    # The splice: columns 96-352, rows 64-256 of 512 x 384, as fractions; orientation 6 turns it clockwise.
    truth = {"spliced.jpg": (96 / 512, 64 / 384, 256 / 512, 192 / 384),
             "rotated.jpg": ((384 - 64 - 192) / 384, 96 / 512, 192 / 384, 256 / 512)}
    for name, expected in truth.items():
        record = records[rows[name].sha256]
        box = max(record.boxes, key=lambda b: b[2] * b[3])
        assert np.allclose(box, expected, atol=0.08), (name, box)
        mask = np.asarray(Image.open(folder / mask_name(rows[name].sha256)).convert("L")) > 127
        ys, xs = np.nonzero(mask)
        centre = ((xs.mean() + 0.5) / mask.shape[1], (ys.mean() + 0.5) / mask.shape[0])
        assert np.allclose(centre, (expected[0] + expected[2] / 2, expected[1] + expected[3] / 2), atol=0.08)


def test_a_resumed_or_repeated_scan_writes_no_preview_twice(scanned, tmp_path):
    root = tmp_path / "again"
    shutil.copytree(scanned / "photos", root / "photos")
    with ResultStore(root / "scan.sqlite") as store:
        first = scan([root / "photos"], store)
        before = previews_on_disk(root / "scan.sqlite.artifacts")
        count = len(store.previews([row.sha256 for row in store.rows()]))
        shutil.copy(root / "photos" / "spliced.jpg", root / "photos" / "spliced again.jpg")  # a new name, same bytes
        again = scan([root / "photos"], store)
        assert again.analysed == 0 and again.already_done == first.seen + 1
        assert previews_on_disk(root / "scan.sqlite.artifacts") == before  # same files, not even rewritten
        assert len(store.previews([row.sha256 for row in store.rows()])) == count == 4
    assert sorted(before) == sorted(set(before))
    assert len([name for name in before if name.endswith(".jpg")]) == 4


def test_no_artifacts_writes_none(tmp_path, monkeypatch):
    make_photos(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    result = cli("scan", "photos", "--db", "plain.sqlite", "--no-artifacts")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "plain.sqlite.artifacts").exists()
    with open_results(tmp_path / "plain.sqlite") as store:
        assert store.artifacts_folder() is None
        assert store.previews([row.sha256 for row in store.rows()]) == {}
        write_gallery(store, tmp_path / "g.html")
    rows = gallery_rows(tmp_path / "g.html")
    assert len(rows) == 4 and all(row[6] is None and row[12] == 1 for row in rows)  # "scanned with --no-artifacts"
    assert not (tmp_path / "plain.sqlite.artifacts").exists()  # reading never makes the folder
    both = cli("scan", "photos", "--db", "x.sqlite", "--no-artifacts", "--artifacts", "elsewhere")
    assert both.exit_code == 2 and "not both" in both.output


def test_a_store_keeps_one_previews_folder(tmp_path, monkeypatch):
    make_photos(tmp_path / "photos")
    (tmp_path / "photos" / "spliced.jpg").unlink()
    monkeypatch.chdir(tmp_path)
    assert cli("scan", "photos/plain.jpg", "--db", "s.sqlite", "--artifacts", "thumbs").exit_code == 0
    assert (tmp_path / "thumbs").is_dir() and not (tmp_path / "s.sqlite.artifacts").exists()
    # A later scan without --artifacts goes on in the folder the store recorded; another folder is refused.
    assert cli("scan", "photos/flat.png", "--db", "s.sqlite").exit_code == 0
    assert len(list((tmp_path / "thumbs").rglob("*.jpg"))) == 2
    other = cli("scan", "photos", "--db", "s.sqlite", "--artifacts", "other")
    assert other.exit_code == 2 and "keeps its previews in" in other.output
    (tmp_path / "afile").write_text("x")
    result = cli("scan", "photos", "--db", "t.sqlite", "--artifacts", "afile")
    assert result.exit_code == 2 and result.output.strip().endswith("it is a file, not a folder")


def test_a_crash_never_leaves_a_half_written_preview_referenced(tmp_path, monkeypatch):
    from tamperscope.scan import previews as previews_module

    make_photos(tmp_path / "photos")
    folder = tmp_path / "s.sqlite.artifacts"

    # 1. Writing fails half-way (the disk fills after the JPEG, before the mask): no partial file is left and
    #    the row is recorded without previews, so nothing references the file that is there.
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target).endswith(".mask.png"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(previews_module.os, "replace", failing_replace)
    with ResultStore(tmp_path / "s.sqlite") as store:
        summary = scan([tmp_path / "photos" / "spliced.jpg"], store)
        (row,) = store.rows()
        assert row.status == "done" and store.previews([row.sha256]) == {}
    assert len(summary.preview_errors) == 1 and "No space left" in summary.preview_errors[0]
    assert not list(folder.rglob(".part-*")) and not (folder / mask_name(row.sha256)).exists()
    monkeypatch.setattr(previews_module.os, "replace", real_replace)

    # 2. The process dies after the files are in place and before the row is committed: the row is not there,
    #    so a rerun analyses the image again and writes the same names again (no second copy).
    def die(self, row, preview=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(ResultStore, "record", die)
    with ResultStore(tmp_path / "k.sqlite") as store, pytest.raises(KeyboardInterrupt):
        scan([tmp_path / "photos" / "flat.png"], store)
    monkeypatch.undo()
    written = previews_on_disk(tmp_path / "k.sqlite.artifacts")
    assert len(written) == 1
    with ResultStore(tmp_path / "k.sqlite") as store:
        assert scan([tmp_path / "photos" / "flat.png"], store).analysed == 1
        assert sorted(previews_on_disk(tmp_path / "k.sqlite.artifacts")) == sorted(written)


def test_render_previews_unit(tmp_path):
    from tamperscope import analyze

    double_jpeg_splice(tmp_path / "s.jpg", **SPLICE)
    report = analyze(tmp_path / "s.jpg")
    made = render_previews(report)
    assert made["kind"] == "overlay" and made["image"][:3] == b"\xff\xd8\xff" and made["mask"][:4] == b"\x89PNG"
    assert (made["width"], made["height"]) == (320, 240)
    small = render_previews(analyze(np.zeros((50, 80, 3), np.uint8)))
    assert small["kind"] == "plain" and small["mask"] is None and (small["width"], small["height"]) == (80, 50)
    record = save_previews(tmp_path / "out", "a" * 64, made)
    assert record == PreviewRecord("a" * 64, "overlay", True, 320, 240, len(made["image"]) + len(made["mask"]),
                                   made["boxes"])
    assert oct((tmp_path / "out" / image_name("a" * 64)).stat().st_mode & 0o777) != "0o600"  # readable like any file
    with pytest.raises(ValueError):
        image_name("../../etc/passwd")
    # The two-step shrink matches a one-step area resize.
    import cv2

    rng = np.random.default_rng(0)
    pixels = cv2.GaussianBlur(rng.integers(0, 255, (1000, 1500, 3), dtype=np.uint8), (0, 0), 3)
    ours, reference = shrink(pixels, (320, 213)), cv2.resize(pixels, (320, 213), interpolation=cv2.INTER_AREA)
    assert ours.shape == reference.shape and np.abs(ours.astype(int) - reference).mean() < 1.5


# -- the gallery in a browser --------------------------------------------------------------------------------------


def _watch(page):
    problems, requests = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    return problems, requests


def _drawn(page, previous: str | None = None) -> str:
    page.wait_for_function("prev => document.body.getAttribute('data-page-drawn') && "
                           "document.body.getAttribute('data-page-drawn') !== prev", arg=previous)
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    return page.evaluate("document.body.getAttribute('data-page-drawn')")


def test_the_gallery_shows_every_preview_and_opens_every_report(scanned, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, requests = _watch(page)
    page.goto((scanned / "gallery.html").as_uri())
    _drawn(page)
    cards = page.locator("article.card")
    assert cards.count() == 4
    widths = page.evaluate("Array.from(document.querySelectorAll('.card img')).map(i => i.naturalWidth)")
    assert len(widths) == 4 and all(w > 0 for w in widths)  # every analysed image shows its preview
    # The splices carry their region boxes and a mask that loads; the card for the copy shows the hostile name as
    # text (and both of its paths).
    assert page.locator("article.card.edited .box").count() >= 2
    toggle = page.locator("article.card.edited button:has-text('Show mask')").first
    toggle.click()
    page.wait_for_function("() => Array.from(document.images).some(i => i.src.endsWith('.mask.png') && "
                           "i.complete && i.naturalWidth > 0)")
    assert page.get_by_text(HOSTILE, exact=False).count() == 1
    # Every card opens its report (the gallery wrote those of the 100 most suspicious), and it is that image's report.
    links = page.evaluate("Array.from(document.querySelectorAll('.card .actions a')).map(a => a.href)")
    assert len(links) == 4
    for link in links:
        target = Path(unquote(urlparse(link).path))
        assert target.is_file() and target.name == "report.html"
        sha = target.parent.name
        assert json.loads((target.parent / "report.json").read_text())["image"]["sha256"] == sha
    with page.context.expect_page() as opened:
        page.locator("article.card .thumb").first.click()
    report = opened.value
    report.wait_for_load_state()
    assert "tamperscope report" in report.title()
    page.screenshot(path=str(scanned / "gallery.png"), full_page=True)
    assert problems == [], problems
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
    page.close()
    report.close()


def test_the_errors_and_counts_are_in_the_page(scanned):
    text = (scanned / "gallery.html").read_text(encoding="utf-8")
    assert "Errors (1)" in text and "broken.jpg" in text and "unsupported-format" in text
    assert "<img src=x" not in text  # the hostile name is only ever data, never markup
    rows = gallery_rows(scanned / "gallery.html")
    assert [row[1] for row in rows][:2] == ["edited", "edited"]
    copy = next(row for row in rows if any("plain.jpg" in p for p in row[4]))
    assert sorted(copy[4]) == sorted(["photos/plain.jpg", "photos/" + HOSTILE]) and copy[5] == 2


def _big_store(tmp_path: Path, count: int) -> Path:
    """A store of ``count`` rows (labels, detectors, unscored ones last) whose previews all exist (hard links)."""
    db = tmp_path / "big.sqlite"
    folder = tmp_path / "big.sqlite.artifacts"
    sample = tmp_path / "sample.jpg"
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(sample, format="JPEG")
    labels = ["edited", "authentic", "inconclusive", "no-evidence"]
    with ResultStore(db) as store:
        store.set_artifacts_folder(folder)
        for i in range(count):
            sha = f"{i:064x}"
            score = None if i >= count - 30 else round(1.0 - i / count, 6)
            detectors = {"dq": score if i % 3 == 0 and score is not None else 0.1,
                         "noise": 0.8 if i % 5 == 0 else 0.0}
            name = f"<b>row {i}</b> \u202e.jpg" if i == 7 else f"/photos/img{i:06d}.jpg"
            target = folder / image_name(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(sample, target)
            store.record(Row(sha256=sha, path=name, status="done", label=labels[i % 4], score=score,
                             detectors=detectors, regions=[], profile="default"),
                         PreviewRecord(sha, "plain", False, 80, 60, 1000, []))
    return db


def test_the_gallery_pages_and_filters_without_drawing_more_than_a_page(tmp_path, browser):
    count = 2 * CHUNK_ROWS + 100
    db = _big_store(tmp_path, count)
    with open_results(db) as store:
        out = write_gallery(store, tmp_path / "gallery.html")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, requests = _watch(page)
    page.goto(out.as_uri())
    drawn = _drawn(page)
    loaded = lambda: sorted({u.rsplit("/", 1)[1] for u in requests if u.endswith(".js")})  # noqa: E731
    ranks = lambda: page.locator(".card .rank").all_text_contents()  # noqa: E731
    assert ranks() == [f"#{i}" for i in range(1, PAGE_SIZE + 1)]
    assert loaded() == ["rows-00000.js"]  # one data file, no filter index, for the first page
    assert "of 1,100" in page.text_content("#shown")
    assert page.get_by_text("<b>row 7</b> \\u202e.jpg").count() == 1  # markup as text, bidi override made visible

    # A page that straddles two data files, then the last page.
    page.evaluate("location.hash = '#page=21'")
    drawn = _drawn(page, drawn)
    assert ranks() == [f"#{i}" for i in range(481, 505)] and loaded() == ["rows-00000.js", "rows-00001.js"]
    page.click("#last")
    drawn = _drawn(page, drawn)
    pages = -(-count // PAGE_SIZE)
    assert page.input_value("#page") == str(pages)
    assert page.locator("article.card").count() == count - (pages - 1) * PAGE_SIZE
    assert "rows-00002.js" in loaded()

    # Filters: by label, then label and detector together; the order reversed; each page stays one page.
    page.select_option("#label", "edited")
    drawn = _drawn(page, drawn)
    assert "index.js" in loaded()
    edited = [i for i in range(count) if i % 4 == 0]
    assert page.locator(".card .badge").all_text_contents() == ["Edited"] * PAGE_SIZE
    assert f"of {len(edited):,}" in page.text_content("#shown")
    page.select_option("#detector", "noise")
    drawn = _drawn(page, drawn)
    both = [i for i in edited if i % 5 == 0]
    assert ranks() == [f"#{i + 1}" for i in both[:PAGE_SIZE]] and f"of {len(both):,}" in page.text_content("#shown")
    page.select_option("#order", "asc")
    drawn = _drawn(page, drawn)
    scored = [i for i in both if i < count - 30]
    assert ranks()[0] == f"#{scored[-1] + 1}"  # the lowest score first; unscored rows stay last
    assert page.locator("article.card").count() <= PAGE_SIZE
    page.go_back()  # the hash keeps each view: Back returns to the previous one
    drawn = _drawn(page, drawn)
    assert page.input_value("#order") == "desc"
    assert problems == [], problems
    assert all(url.startswith(("file:", "data:")) for url in requests)
    page.close()


def test_an_old_store_without_previews_still_makes_a_gallery(tmp_path):
    db = _big_store(tmp_path, 3)
    with sqlite3.connect(db) as connection:  # as a store written before previews existed
        connection.execute("DROP TABLE previews")
        connection.execute("DELETE FROM meta WHERE key = 'artifacts'")
    with open_results(db) as store:
        write_gallery(store, tmp_path / "old.html")
    assert [row[12] for row in gallery_rows(tmp_path / "old.html")] == [1, 1, 1]
    assert cli("results", "top", "--db", db).exit_code == 0


def test_a_new_gallery_replaces_the_old_one_whole(scanned, tmp_path):
    with open_results(scanned / "scan.sqlite") as store:
        first = write_gallery(store, tmp_path / "g.html")
        builds = list(gallery_folder(first).iterdir())
        write_gallery(store, tmp_path / "g.html")
    after = list(gallery_folder(first).iterdir())
    assert len(builds) == len(after) == 1 and builds != after
    assert not (tmp_path / "g.html.part").exists()
    with open_results(scanned / "scan.sqlite") as store, pytest.raises(Exception, match="is a folder"):
        write_gallery(store, tmp_path)


# -- results report and results top --------------------------------------------------------------------------------


def test_results_report_by_sha_prefix_or_path(scanned, tmp_path, monkeypatch):
    monkeypatch.chdir(scanned)
    with open_results(scanned / "scan.sqlite") as store:
        rows = {Path(row.path).name: row for row in store.rows(status="done")}
    spliced = rows["spliced.jpg"]
    folder = scanned / "scan.sqlite.artifacts" / "reports" / spliced.sha256
    shutil.rmtree(folder)
    result = cli("results", "report", "--db", "scan.sqlite", spliced.sha256[:10])
    assert result.exit_code == 0, result.output
    assert (folder / "report.html").is_file() and str(Path("scan.sqlite.artifacts/reports")) in result.output
    assert json.loads((folder / "report.json").read_text())["verdict"]["label"] == spliced.label
    elsewhere = tmp_path / "renamed.jpg"
    shutil.copy(scanned / "photos" / "spliced.jpg", elsewhere)  # any copy finds the image by its content
    again = cli("results", "report", "--db", "scan.sqlite", elsewhere)
    assert again.exit_code == 0 and "report.html" in again.output
    assert cli("results", "report", "--db", "scan.sqlite", "photos/plain.jpg").exit_code == 0


def test_results_report_refuses_in_one_line(scanned, tmp_path, monkeypatch):
    monkeypatch.chdir(scanned)
    for args, words in ((["f" * 64], "no such image"), (["photos/broken.jpg"], "could not analyse"),
                        ([], "name at least one image")):
        result = cli("results", "report", "--db", "scan.sqlite", *args)
        assert result.exit_code == 2 and words in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    # A file changed since the scan is not reported on as if it were the scanned one.
    root = tmp_path / "changed"
    shutil.copytree(scanned / "photos", root / "photos")
    with ResultStore(root / "s.sqlite") as store:
        scan([root / "photos" / "flat.png"], store)
        (row,) = store.rows()
    Image.new("RGB", (300, 200), "black").save(root / "photos" / "flat.png")
    result = cli("results", "report", "--db", root / "s.sqlite", row.sha256)
    assert result.exit_code == 2 and "gone or has changed" in result.output
    assert not (root / "s.sqlite.artifacts" / "reports" / row.sha256).exists()


def test_results_top_prints_each_preview_path(scanned, monkeypatch):
    monkeypatch.chdir(scanned)
    result = cli("results", "top", "--db", "scan.sqlite")
    assert result.exit_code == 0, result.output
    listed = re.findall(r"^#(\d+) (\S+\.jpg)(?:  mask (\S+\.png))?", result.output, flags=re.M)
    assert len(listed) == 4 and all(Path(image).is_file() for _, image, _ in listed)
    with open_results(scanned / "scan.sqlite") as store:
        with_region = sum(1 for row in store.rows(status="done") if row.regions)
    assert with_region >= 2 and sum(1 for _, _, mask in listed if mask and Path(mask).is_file()) == with_region
    records = [json.loads(line) for line in cli("results", "top", "--db", "scan.sqlite", "--json").output.splitlines()]
    assert all(Path(r["preview"]).is_file() for r in records) and "previews" not in records[0]
    assert Path(records[0]["preview_mask"]).is_file() and Path(records[0]["report"]).is_file()
    with Image.open(records[0]["preview"]) as picture:
        assert picture.format == "JPEG"


def test_a_preview_that_fails_costs_the_image_its_thumbnail_not_its_verdict(tmp_path, monkeypatch):
    from tamperscope.scan import previews as previews_module

    def broken(report, long_side=PREVIEW_LONG_SIDE):
        raise RuntimeError("a bug in the preview code")

    monkeypatch.setattr(previews_module, "render_previews", broken)
    make_photos(tmp_path / "photos")
    with ResultStore(tmp_path / "s.sqlite") as store:
        summary = scan([tmp_path / "photos" / "flat.png"], store)
        (row,) = store.rows()
        assert row.status == "done" and store.previews([row.sha256]) == {}
    assert summary.preview_errors == [f"{tmp_path / 'photos' / 'flat.png'}: RuntimeError: a bug in the preview code"]
