"""``tamperscope compare`` through its shells: the command line, the files it writes, the HTTP API, the page.

One generated pair (an astronaut photo with a pasted coffee cup, cropped and re-saved) is compared once per
module; the bad-input rules are those of ``analyze``: one line on stderr, exit code 2, nothing half-written.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tamperscope.cli.main import app as cli
from tamperscope.synth.pairs import make_pair


def _photo(name: str, long_side: int = 480) -> np.ndarray:
    from skimage import data

    pixels = getattr(data, name)()
    factor = long_side / max(pixels.shape[:2])
    size = (round(pixels.shape[1] * factor), round(pixels.shape[0] * factor))
    return cv2.resize(np.ascontiguousarray(pixels[..., :3]), size, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    pair = make_pair(_photo("astronaut"), np.random.default_rng(5), edit="splice", transform="crop",
                     donor=_photo("coffee"))
    (folder / "original.jpg").write_bytes(pair.original)
    (folder / "viral.jpg").write_bytes(pair.suspect)
    return folder, pair


@pytest.fixture(scope="module")
def written(pair_files):
    folder, pair = pair_files
    out = folder / "out"
    result = CliRunner().invoke(cli, ["compare", str(folder / "original.jpg"), str(folder / "viral.jpg"), "-o",
                                      str(out), "--report", "html"])
    return result, out, pair


def test_cli_compare_prints_the_verdict_and_writes_the_files(written):
    result, out, pair = written
    assert result.exit_code == 0, result.output
    assert "CHANGED" in result.output and "Region 1" in result.output
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "report.html", "heatmap.png", "mask.png", "overlay.png", "aligned.png"} <= names
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"]["label"] == "changed"
    assert report["artifacts"]["html"] == "report.html"
    mask = np.array(Image.open(out / "mask.png"))
    assert mask.shape == pair.suspect_pixels.shape[:2] and set(np.unique(mask)) <= {0, 255}
    aligned = np.array(Image.open(out / "aligned.png"))
    assert aligned.shape == pair.suspect_pixels.shape
    # The aligned original matches the suspect outside the edit (same frame, same content).
    outside = ~cv2.dilate(pair.mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert np.abs(aligned.astype(float) - pair.suspect_pixels)[outside].mean() < 6


def test_html_page_is_self_contained_with_the_three_views(written):
    _, out, _ = written
    page = (out / "report.html").read_text()
    assert "Content-Security-Policy" in page
    for view in ("side", "swipe", "blink", "map"):
        assert f'data-view="{view}"' in page
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page), "nothing is loaded from the network"


def test_cli_json_output(pair_files):
    folder, _ = pair_files
    result = CliRunner().invoke(cli, ["compare", str(folder / "original.jpg"), str(folder / "viral.jpg"), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["schema"].startswith("tamperscope.comparison/")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["{f}/original.jpg", "{f}/missing.jpg"], "no such file"),
        (["{f}/original.jpg", "{f}/notes.txt"], "not an image"),
        (["{f}/original.jpg", "{f}/viral.jpg", "--report", "html"], "--report needs -o"),
        (["{f}/original.jpg", "{f}/viral.jpg", "-o", "{f}/md", "--report", "md"],
         "unknown report format 'md' (choose from json, html)"),
        (["{f}/original.jpg", "{f}/viral.jpg", "--max-pixels", "1000"], "limit"),
        (["{f}/original.jpg"], "Missing argument"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(pair_files, arguments, message):
    folder, _ = pair_files
    (folder / "notes.txt").write_text("not an image")
    result = CliRunner().invoke(cli, ["compare", *(a.format(f=folder) for a in arguments)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (folder / "md").exists()


def test_cli_unwritable_output_is_exit_2(pair_files, tmp_path):
    folder, _ = pair_files
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(cli, ["compare", str(folder / "original.jpg"), str(folder / "viral.jpg"), "-o",
                                      str(blocker / "out")])
    assert result.exit_code == 2 and "cannot write the report" in result.output


def test_not_comparable_pair_writes_only_the_report(tmp_path):
    for name, photo in (("a.jpg", _photo("astronaut")), ("b.jpg", _photo("rocket"))):
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format="JPEG", quality=90)
        (tmp_path / name).write_bytes(buffer.getvalue())
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "-o",
                                      str(tmp_path / "out"), "--report", "html"])
    assert result.exit_code == 0 and "NOT COMPARABLE" in result.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "report.html"}


# --------------------------------------------------------------------------
# The HTTP API


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    pytest.importorskip("fastapi", reason="the service needs fastapi")
    from fastapi.testclient import TestClient

    from tamperscope.serve import Settings, create_app

    app = create_app(Settings(data=tmp_path_factory.mktemp("serve-compare"), workers=1))
    with TestClient(app) as client:
        yield client


def test_http_comparison_returns_the_report_and_its_files(service, pair_files):
    folder, _ = pair_files
    files = {"original": ("original.jpg", (folder / "original.jpg").read_bytes(), "application/octet-stream"),
             "suspect": ("viral.jpg", (folder / "viral.jpg").read_bytes(), "application/octet-stream")}
    created = service.post("/v1/comparisons", files=files)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["label"] == "changed" and body["regions"]
    assert body["suspect"] == "viral.jpg", "the report names the upload, not the server's path"
    assert "directory" not in body["report"]["artifacts"]
    again = service.get(body["links"]["self"]).json()
    assert again["report"]["verdict"] == body["report"]["verdict"]
    page = service.get(body["links"]["html"])
    assert page.status_code == 200 and "sandbox" in page.headers["content-security-policy"]
    assert service.get(body["links"]["mask"]).headers["content-type"] == "image/png"
    assert service.get(f"{body['links']['self']}/artifacts/inputs").status_code == 404
    assert service.get("/v1/comparisons/" + "0" * 32).status_code == 404


def test_http_comparison_rejects_bad_uploads(service, pair_files):
    folder, _ = pair_files
    good = ("original.jpg", (folder / "original.jpg").read_bytes(), "application/octet-stream")
    text = service.post("/v1/comparisons", files={"original": good, "suspect": ("x.jpg", b"hello", "text/plain")})
    assert text.status_code == 415 and text.json()["message"].startswith("suspect:")
    missing = service.post("/v1/comparisons", files={"original": good})
    assert missing.status_code == 422


def test_page_offers_the_comparison(service):
    page = service.get("/").text
    assert 'id="compare-panel"' in page and "/static/compare.js" in page
    assert service.get("/static/compare.js").status_code == 200


def test_page_compares_two_dropped_files_in_the_browser(browser, pair_files, tmp_path):
    """Headless Chromium: choose both files, compare, and use the comparison's own views inside the page."""
    from servers import live_server

    from tamperscope.serve import Settings, create_app

    folder, _ = pair_files
    with live_server(create_app(Settings(data=tmp_path / "data", workers=1))) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        problems, requests = [], []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url + "/")
        assert page.is_disabled("#compare-button")
        page.set_input_files("#file-original", str(folder / "original.jpg"))
        page.set_input_files("#file-suspect", str(folder / "viral.jpg"))
        page.click("#compare-button")
        page.wait_for_selector("#compare-result:not([hidden])", timeout=120_000)
        assert "Changed" in page.text_content("#compare-summary")
        report = page.frame_locator("#compare-report")
        report.locator("button[data-view=swipe]").click()
        top = report.locator("#swipe-top")
        top.wait_for(state="visible")
        report.locator("#swipe").fill("20")
        assert "80%" in top.evaluate("img => img.style.clipPath")
        report.locator("button[data-view=blink]").click()
        page.wait_for_timeout(800)
        assert report.locator("#blink-name").text_content() in ("suspect", "original (aligned)")
        page.close()
    assert problems == [], problems
    assert all(u.startswith((url + "/", "data:", "blob:", "about:")) for u in requests), requests
