"""The page end to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; skipped without it).

A real server on a loopback port: upload the sample through the file picker, see the overlay, change the
opacity, toggle a detector's layer, hover a region, download the report; no console error, no request that
leaves 127.0.0.1.
"""

import json

import pytest

from servers import live_server
from tamperscope.serve import Settings, create_app
from test_html_report import SAMPLE



def test_upload_overlay_layers_regions_download(browser, tmp_path):
    with live_server(create_app(Settings(data=tmp_path / "data", workers=1))) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        problems, requests = [], []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url + "/")
        assert page.is_visible("#history-empty")

        page.set_input_files("#file", str(SAMPLE))
        page.wait_for_selector("#result:not([hidden])", timeout=60_000)
        assert "Edited" in page.text_content("#summary")
        report = page.frame_locator("#report")
        overlay = report.locator("#overlay")
        overlay.wait_for(state="visible")
        assert overlay.evaluate("img => img.complete && img.naturalWidth > 0")

        report.locator("#opacity").fill("25")
        assert float(overlay.evaluate("img => getComputedStyle(img).opacity")) == pytest.approx(0.25)
        fused = overlay.get_attribute("src")
        report.locator("button[data-layer]:has-text('Double JPEG')").click()
        assert overlay.get_attribute("src") != fused
        assert "Double JPEG" in report.locator("#layer-caption").text_content()

        row = report.locator("tr[data-region]").first
        region = row.get_attribute("data-region")
        box = report.locator(f"div.region[data-region='{region}']")
        assert "hot" not in (box.get_attribute("class") or "")
        row.hover()
        assert "hot" in box.get_attribute("class")

        with page.expect_download() as download_info:
            page.click("#download-json")
        saved = tmp_path / "saved.json"
        download_info.value.save_as(saved)
        assert download_info.value.suggested_filename == "spliced-report.json"
        assert json.loads(saved.read_text())["verdict"]["label"] == "edited"
        with page.expect_download() as download_info:
            page.click("#download-html")
        assert download_info.value.suggested_filename == "spliced-report.html"

        page.wait_for_selector("#history li")
        assert "spliced.jpg" in page.text_content("#history")
        # The history shows the analysis's preview (the same one a scan keeps), fetched with the page's token.
        thumb = page.locator("#history li .thumb img").first
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        assert thumb.evaluate("img => img.naturalWidth") == 320
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

        # An upload the server refuses is explained in words on the page.
        text = tmp_path / "notes.jpg"
        text.write_text("just some text, not a photo")
        page.set_input_files("#file", str(text))
        page.wait_for_selector("#error:not([hidden])")
        assert "not an image tamperscope can read" in page.text_content("#error")
        page.close()

    # The 415 of the refused upload is logged by Chromium as a failed resource load; nothing else may be.
    assert [p for p in problems if "415" not in p] == [], problems
    assert requests and all(u.startswith((url + "/", "data:", "blob:", "about:")) for u in requests), requests
