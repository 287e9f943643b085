"""The forwardable reports: one self-contained HTML page and its Markdown twin.

The unit tests read the HTML as text; the browser test opens it in headless
Chromium (Debian's /usr/bin/chromium driven by Playwright, never a downloaded
browser) and skips when either is missing.
"""

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeries import double_jpeg_splice, photo
from tamperscope import analyze, write_report
from tamperscope.report.html import PREVIEW_MAX_SIDE, html_report
from tamperscope.report.markdown import markdown_report

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "spliced.jpg"
HOSTILE_SOFTWARE = "<script>alert(1)</script>"
HOSTILE_NAME = '"><img src=x onerror=alert(2)>.jpg'


@pytest.fixture(scope="module")
def sample():
    report = analyze(SAMPLE)
    return report, html_report(report)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A spliced JPEG whose name and EXIF Software tag are HTML, turned upright by EXIF orientation 6."""
    folder = tmp_path_factory.mktemp("hostile")
    plain = folder / "plain.jpg"
    double_jpeg_splice(plain)
    exif = Image.Exif()
    exif[0x0131] = HOSTILE_SOFTWARE
    exif[0x0112] = 6
    path = folder / HOSTILE_NAME
    with Image.open(plain) as source:
        source.save(path, exif=exif.tobytes(), qtables=source.quantization, subsampling="4:2:0")
    report = analyze(path)
    return path, report


def embedded_images(page: str) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(data)))
        for data in re.findall(r"data:image/(?:png|jpeg);base64,([A-Za-z0-9+/=]+)", page)
    ]


def test_html_loads_nothing_from_outside(sample):
    _, page = sample
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page
    # Every src, href and CSS url() is a data: URI or an in-page anchor.
    attributes = re.findall(r"(?<=\s)(src|href|action|poster|srcset|formaction)\s*=\s*[\"']?([^\"'\s>]*)", page)
    assert len(attributes) >= 5
    for attribute, value in attributes:
        assert value.startswith(("data:", "#")), (attribute, value[:60])
    for value in re.findall(r"url\(\s*['\"]?([^'\")]*)", page):
        assert value.startswith("data:"), value[:60]
    assert re.search(r"<(?:iframe|object|embed|link rel=\"stylesheet\")", page) is None
    # The policy the browser enforces: nothing but data: images and the page's own script.
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp and "img-src data:" in csp


def test_html_shows_verdict_regions_explanation_evidence_and_file_facts(sample):
    report, page = sample
    assert report.label == "edited" and report.regions
    assert html.escape(report.label_words) in page
    for section in report.explanation.sections:
        assert f"<h3>{html.escape(section.title)}</h3>" in page
        for sentence in section.sentences:
            assert html.escape(sentence.text) in page
            for ident in sentence.evidence:
                assert f">{html.escape(ident)}</a>" in page  # the audit trail, as tags
    for region in report.regions:
        assert f"<b>{region.id}</b>" in page and f"<span>{region.id}</span>" in page
    for item in report.evidence:
        assert f'id="ev-{item.detector.replace("_", "-")}"' in page  # the anchor is a slug (copymove_sift)
        for note in item.notes:
            assert html.escape(note) in page
    assert report.image.sha256 in page and report.analyzed_at in page
    for name in ("dq", "blk", "noise", "ela"):
        assert f"<td>{name}</td>" in page  # reproducibility: every detector with its parameters
    # Content in the order a reader needs it.
    order = ["id=\"verdict\"", 'id="overlay"', 'id="opacity"', "data-layer", 'id="regions"', 'id="explanation"',
             'id="evidence"', 'id="file"', 'id="reproducibility"']
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_every_tag_links_to_a_row_of_the_page(sample):
    _, page = sample
    anchors = set(re.findall(r'\bid="([^"]+)"', page))
    targets = re.findall(r'<a class="ev" href="#([^"]+)"', page)
    assert targets and set(targets) <= anchors


def test_embedded_images_are_downscaled_previews(tmp_path):
    path = tmp_path / "wide.jpg"
    Image.fromarray(photo(1200, 2400)).save(path, quality=90)
    page = html_report(analyze(path, "dq,blk"))
    images = embedded_images(page)
    assert len(images) >= 4  # thumbnail photo, photo, fused map, one map per detector
    assert max(max(image.size) for image in images) == PREVIEW_MAX_SIDE
    assert "downscaled from 2400 x 1200" in page


def test_hostile_metadata_and_file_name_are_escaped(hostile):
    path, report = hostile
    assert report.image.orientation == 6
    page = html_report(report)
    assert HOSTILE_SOFTWARE not in page and html.escape(HOSTILE_SOFTWARE) in page
    assert "<img src=x" not in page and html.escape(HOSTILE_NAME) in page
    assert page.count("<script") == 1  # only the page's own
    text = markdown_report(report)
    assert HOSTILE_SOFTWARE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text


def test_markdown_has_the_same_sections(sample):
    report, _ = sample
    text = markdown_report(report)
    for heading in ("# Image forensics report: spliced.jpg", "## Verdict", "## Where", "## Regions",
                    "## Explanation", "### Why", "### Caveats", "## Evidence", "## File metadata and provenance",
                    "## Reproducibility"):
        assert f"\n{heading}" in "\n" + text, heading
    assert "](overlay.jpg)" in text and "](layers/dq.png)" in text
    assert "| **r1** |" in text and "`ev:dq`" in text
    assert report.image.sha256 in text


def test_write_report_adds_html_and_markdown_atomically(tmp_path):
    report = analyze(SAMPLE)
    out = tmp_path / "out"
    artifacts = write_report(report, out, formats=["html", "markdown"])
    assert artifacts["html"] == "report.html" and artifacts["markdown"] == "report.md"
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "](layers/ela.png)" in (out / "report.md").read_text()
    saved = json.loads((out / "report.json").read_text())
    assert saved["artifacts"]["html"] == "report.html" and saved["artifacts"]["markdown"] == "report.md"
    assert not [p for p in out.iterdir() if p.name.startswith(".tamperscope-")]
    # JSON only by default, and an unknown format is refused before anything is written.
    plain = write_report(analyze(SAMPLE, "dq"), tmp_path / "plain")
    assert "html" not in plain and not (tmp_path / "plain" / "report.html").exists()
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        write_report(report, tmp_path / "never", formats="html,pdf")
    assert not (tmp_path / "never").exists()


def tamperscope(*args):
    return subprocess.run(
        [sys.executable, "-m", "tamperscope", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_cli_report_option(tmp_path):
    out = tmp_path / "out"
    result = tamperscope("analyze", SAMPLE, "-o", out, "--report", "html", "--report", "md,json")
    assert result.returncode == 0, result.stderr
    assert {"report.json", "report.html", "report.md"} <= {p.name for p in out.iterdir()}
    result = tamperscope("analyze", SAMPLE, "-o", tmp_path / "j")
    assert result.returncode == 0 and not (tmp_path / "j" / "report.html").exists()


@pytest.mark.parametrize(
    "args, words",
    [(["--report", "html"], "--report needs -o"), (["-o", "OUT", "--report", "pdf"], "unknown report format")],
)
def test_cli_report_usage_errors(tmp_path, args, words):
    args = [str(tmp_path / "o") if a == "OUT" else a for a in args]
    result = tamperscope("analyze", SAMPLE, *args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0]
    assert not (tmp_path / "o").exists()



@pytest.mark.parametrize("which", ["sample", "hostile"])
def test_report_page_in_a_browser(browser, sample, hostile, which, tmp_path):
    if which == "sample":
        report = sample[0]
    else:
        report = hostile[1]
    out = tmp_path / "out"
    write_report(report, out, formats=["html"])
    # Open it away from the other report files: the page must not need them.
    alone = tmp_path / "alone" / "report.html"
    alone.parent.mkdir()
    shutil.copy(out / "report.html", alone)

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems, requests = [], []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(alone.as_uri())
    page.wait_for_load_state("load")

    opacity = "getComputedStyle(document.getElementById('overlay')).opacity"
    assert float(page.evaluate(opacity)) == pytest.approx(0.7)
    page.fill("#opacity", "20")
    assert float(page.evaluate(opacity)) == pytest.approx(0.2)
    assert page.text_content("#opacity-value") == "20%"
    # A detector's layer replaces the fused map on the photo.
    fused = page.get_attribute("#overlay", "src")
    page.click("button[data-layer]:has-text('Double JPEG')")
    assert page.get_attribute("#overlay", "src") != fused
    assert "Double JPEG" in page.text_content("#layer-caption")
    # Every embedded image decoded.
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length")
    assert broken == 0
    if which == "sample":
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.close()

    assert problems == []
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
