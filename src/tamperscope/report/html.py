"""The report as one self-contained HTML file a journalist can forward.

:func:`html_report` returns a single page: every image is embedded as a
``data:`` URI, the CSS and the few lines of JavaScript are inline, and a
Content-Security-Policy forbids the page from loading anything else (only
``data:`` images, and only the page's own script, pinned by its hash). Images are
previews: the upright photo is downscaled to at most :data:`PREVIEW_MAX_SIDE`
pixels on the long side (a JPEG), and each map is embedded at its native
resolution when that fits within it (the very PNG file ``write_report`` wrote,
given the overlay's transparency), else downscaled to it; a 12 MP report stays
a few megabytes.

Every string that comes from the file or the analysis (file name, metadata
quoted by the explanation, notes, reasons, parameters) goes through
:func:`html.escape`: the image is attacker-controlled.

Nothing forensic happens here; the page presents a :class:`~tamperscope.report.Report`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING

import numpy as np

from . import present as _present
from .colormap import colorize, data_uri, fit, fit_cells, jpeg_bytes, map_png, with_transparency

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Report

#: Longest side, in pixels, of the photo and maps embedded in the page.
PREVIEW_MAX_SIDE = 1600
#: Longest side of the small photo behind the layer thumbnails.
THUMB_MAX_SIDE = 320
#: Photos smaller than this (long side, pixels) are displayed enlarged by a whole factor.
MIN_DISPLAY_SIDE = 480
#: Initial opacity of the heatmap overlay, percent.
DEFAULT_OPACITY = 70

#: Pointing at a region (its row, its box) lights every element of that region together; both pages use it.
REGION_ROWS_SCRIPT = """\
  var rows = document.querySelectorAll("[data-region]");
  function mark(id, on) {
    Array.prototype.forEach.call(rows, function (item) {
      if (item.getAttribute("data-region") === id) { item.classList.toggle("hot", on); }
    });
  }
  Array.prototype.forEach.call(rows, function (item) {
    var id = item.getAttribute("data-region");
    item.addEventListener("mouseenter", function () { mark(id, true); });
    item.addEventListener("mouseleave", function () { mark(id, false); });
    item.addEventListener("focusin", function () { mark(id, true); });
    item.addEventListener("focusout", function () { mark(id, false); });
  });
"""

_SCRIPT = ("""
(function () {
  var overlay = document.getElementById("overlay");
  var slider = document.getElementById("opacity");
  var shown = document.getElementById("opacity-value");
  var caption = document.getElementById("layer-caption");
  var viewer = document.getElementById("viewer");
  var boxes = document.getElementById("show-regions");
  function applyOpacity() {
    overlay.style.opacity = String(Number(slider.value) / 100);
    shown.textContent = slider.value + "%";
  }
  slider.addEventListener("input", applyOpacity);
  slider.addEventListener("change", applyOpacity);
  applyOpacity();
  boxes.addEventListener("change", function () {
    viewer.classList.toggle("hide-regions", !boxes.checked);
  });
  // Pointing at a region's row (or its box) lights the box on the photo and the row together.
""" + REGION_ROWS_SCRIPT + """  var buttons = document.querySelectorAll("button[data-layer]");
  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", function () {
      var source = button.querySelector("img.map");
      if (!source) { return; }
      overlay.src = source.src;
      caption.textContent = button.getAttribute("data-caption");
      Array.prototype.forEach.call(buttons, function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
    });
  });
})();
""").strip()

_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --paper: #ffffff; --page: #f6f8fa;
  --edited: #a40e26; --edited-bg: #ffebe9; --authentic: #1a7f37; --authentic-bg: #dafbe1;
  --inconclusive: #59636e; --inconclusive-bg: #eaeef2; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 24px 40px; }
section, footer { background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 22px; margin: 0 0 18px; }
h1 { font-size: 26px; margin: 2px 0 4px; word-break: break-all; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 16px 0 6px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
p { margin: 6px 0; }
.kicker { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .08em; margin: 0; }
.meta, .note, .small { color: var(--muted); font-size: 13px; }
.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
  overflow-wrap: anywhere; }
header { margin-bottom: 16px; }
.verdict { border-left: 8px solid var(--inconclusive); background: var(--inconclusive-bg); }
.verdict.edited, .verdict.ai-generated, .verdict.ai-edited { border-left-color: var(--edited);
  background: var(--edited-bg); }
.verdict.authentic { border-left-color: var(--authentic); background: var(--authentic-bg); }
.verdict .label { font-size: 22px; font-weight: 700; margin: 0 0 6px; }
.verdict.edited .label, .verdict.ai-generated .label, .verdict.ai-edited .label { color: var(--edited); }
.verdict.authentic .label { color: var(--authentic); }
.verdict .sentence { font-size: 16px; }
.howto { margin: 10px 0 0; padding-left: 20px; color: var(--muted); font-size: 13.5px; }
.viewer { position: relative; display: inline-block; max-width: 100%; line-height: 0; background: #000;
  border: 1px solid var(--line); }
.viewer img { display: block; max-width: 100%; height: auto; }
.viewer:not(.enlarged) .photo { width: auto; max-height: 80vh; }
.viewer.pixelated img { image-rendering: pixelated; }
.viewer #overlay, .layers img.map { image-rendering: pixelated; }  /* a map's cells, as measured */
.viewer #overlay { position: absolute; left: 0; top: 0; width: 100%; height: 100%; opacity: 0.DEFAULT;
  pointer-events: none; }
.region { position: absolute; border: 2px solid #00e5ff; box-shadow: 0 0 0 1px rgba(0,0,0,.6);
  pointer-events: none; }
.region span { position: absolute; left: -2px; top: -22px; background: #00e5ff; color: #000; font: 700 12px/20px
  system-ui, sans-serif; padding: 0 6px; border-radius: 3px 3px 0 0; }
.region.inside span { top: 0; border-radius: 0 0 3px 0; }
.hide-regions .region { display: none; }
.region.hot { border: 3px solid #ffd400; box-shadow: 0 0 0 2px #000, 0 0 0 9999px rgba(0,0,0,.35); z-index: 3; }
.region.hot span { background: #ffd400; }
tr.hot { background: #fff3b0; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 24px; align-items: center; margin: 10px 0 4px; font-size: 14px; }
.controls input[type=range] { width: 200px; vertical-align: middle; }
.legend { display: flex; align-items: center; gap: 8px; font-size: 13px; color: var(--muted); }
.legend .bar { width: 160px; height: 12px; border: 1px solid var(--line); background: LEGEND; }
#layer-caption { font-size: 14px; margin: 2px 0 10px; }
.layers { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 12px; margin-top: 8px; }
.layers button, .layers .nomap { width: 168px; border: 2px solid var(--line); border-radius: 6px; background: var(--paper);
  padding: 6px; text-align: left; font: inherit; font-size: 12.5px; color: var(--ink); }
.layers button { cursor: pointer; }
.layers button[aria-pressed=true] { border-color: var(--accent); box-shadow: 0 0 0 1px var(--accent); }
.layers .thumb { display: block; position: relative; line-height: 0; background: #000 center / cover no-repeat; THUMB_BG }
.layers .thumb img { width: 100%; height: auto; display: block; }
.layers .nomap { color: var(--muted); }
.layers b { display: block; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px 6px 0; border-bottom: 1px solid var(--line); }
th { font-size: 12.5px; color: var(--muted); font-weight: 600; }
td ul { margin: 0; padding-left: 18px; }
tr:target, li:target { background: #fff8c5; }
.explanation ul { margin: 0; padding-left: 20px; }
.explanation li { margin: 3px 0; }
.tags { white-space: nowrap; }
.narrative { border-top: 1px dashed var(--line); margin-top: 14px; }
.narrative h3 { text-transform: none; letter-spacing: 0; }
a.ev { display: inline-block; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 11px;
  line-height: 16px; padding: 0 5px; margin-left: 4px; border: 1px solid var(--line); border-radius: 8px;
  color: var(--muted); background: var(--page); text-decoration: none; vertical-align: 1px; }
a.ev:hover { color: var(--accent); border-color: var(--accent); }
.status-failed { color: var(--edited); font-weight: 600; }
.status-not-applicable { color: var(--muted); }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 12px; font-size: 13.5px; }
footer dt { color: var(--muted); }
footer dd { margin: 0; }
@media print {
  body { background: #fff; }
  .controls, .layers button:not([aria-pressed=true]) { display: none; }
  section, footer { break-inside: avoid; border-color: #bbb; }
}
""".strip()


def html_report(report: Report, maps: Mapping[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page (no external requests; see the module doc).

    ``maps`` holds map PNGs already encoded by :func:`~tamperscope.report.write.write_report` (palette PNGs of
    :func:`~tamperscope.report.colormap.map_png`, upright, by artifact key: ``heatmap``, ``layer:NAME``); the
    page embeds those that fit its previews instead of encoding them again.
    """
    image = report.image
    stored_preview = fit(image.pixels, PREVIEW_MAX_SIDE)  # shrink first: orienting the small copy is cheaper
    photo = image.upright(stored_preview)
    thumb = fit(photo, THUMB_MAX_SIDE)

    def map_uri(key: str, cells: np.ndarray, stride: int) -> str:
        png = (maps or {}).get(key)
        if png is None or max(_png_size(png)) > PREVIEW_MAX_SIDE:
            preview = fit_cells(cells, stride, image.shape, stored_preview.shape[:2])
            png = map_png(image.upright(preview), compress_level=6)
        return data_uri(with_transparency(png), "image/png")
    shown_h, shown_w = photo.shape[:2]
    up_w, up_h = _present.upright_size(report)
    names = _present.titles(report)
    facts = _present.file_facts(report)
    # Every evidence id a tag may cite -> the anchor of the table row that shows it.
    anchors = {_slug(ident): _slug(ids[0]) for _, _, ids in facts for ident in ids}
    anchors.update({_slug(f"ev:{e.detector}"): _slug(f"ev:{e.detector}") for e in report.evidence})

    def tags(ids: list[str]) -> str:
        if not ids:
            return ""
        links = []
        for ident in ids:
            target = anchors.get(_slug(ident)) or ("file" if ident.startswith("image:") else "evidence")
            links.append(f'<a class="ev" href="#{target}" title="evidence this rests on">{escape(ident)}</a>')
        return f' <span class="tags">{"".join(links)}</span>'

    css = (
        _CSS.replace("0.DEFAULT", f"{DEFAULT_OPACITY / 100:.2f}")
        .replace("LEGEND", _legend_gradient())
        .replace("THUMB_BG", f"background-image: url({data_uri(jpeg_bytes(thumb, 80), 'image/jpeg')});")
    )
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    name = _present.display_name(report)
    label = report.label
    out: list[str] = []
    add = out.append
    add("<!DOCTYPE html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add(f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add('<meta name="referrer" content="no-referrer">')
    add('<link rel="icon" href="data:,">')
    add(f"<title>{escape(report.label_words.split(':')[0].capitalize())}: {escape(name)} - tamperscope report</title>")
    add(f"<style>{css}</style></head><body><main>")

    # Title and verdict.
    add("<header>")
    add('<p class="kicker">Image forensics report &middot; tamperscope</p>')
    add(f"<h1>{escape(name)}</h1>")
    add(
        f'<p class="meta">{escape(image.format)}, {up_w} x {up_h} pixels &middot; analysed '
        f'{escape(report.analyzed_at)} &middot; SHA-256 <span class="mono">{escape(image.sha256)}</span></p>'
    )
    add("</header>")
    add(f'<section class="verdict {escape(label)}" id="verdict" aria-label="Verdict">')
    add(f'<p class="label">{escape(report.label_words)}</p>')
    for sentence in _present.verdict_sentences(report):
        add(f'<p class="sentence">{escape(sentence.text)}{tags(sentence.evidence)}</p>')
    add(f'<p class="small">{escape(_present.score_line(report))}</p>')
    add('<ul class="howto">')
    add("<li>Automated detectors looked for traces that editing leaves in a file (compression history, the JPEG "
        "block grid, noise). Their findings are leads for a human check, not proof either way.</li>")
    add("<li>The coloured overlay on the photo below shows where they found traces; boxes mark the regions listed "
        "under <a href=\"#regions\">Regions</a>.</li>")
    add("<li>Every statement in the <a href=\"#explanation\">Explanation</a> is tagged with the evidence it rests "
        "on; click a tag to see it.</li>")
    add("</ul></section>")

    # The photo with the fused heatmap, opacity slider, region boxes and layer toggles.
    fused_caption = f"Showing: {_present.FUSED_MAP_WORDS}"
    add('<section id="image" aria-label="Photo and heatmap">')
    add("<h2>Where: the photo with the detectors' heatmap</h2>")
    fused_uri = map_uri("heatmap", report.fusion.heatmap_cells, report.fusion.stride)
    # Small photos are shown enlarged by a whole factor (the page scales them; the data stays as is).
    zoom = -(-MIN_DISPLAY_SIDE // max(shown_w, shown_h)) if max(shown_w, shown_h) < MIN_DISPLAY_SIDE else 1
    look = (" enlarged" if zoom > 1 else "") + (" pixelated" if zoom >= 3 else "")
    add(f'<div class="viewer{look}" id="viewer">')
    add(f'<img class="photo" src="{data_uri(jpeg_bytes(photo, 88), "image/jpeg")}" width="{shown_w * zoom}" '
        f'height="{shown_h * zoom}" '
        f'alt="The analysed photo, upright">')
    add(f'<img id="overlay" src="{fused_uri}" width="{shown_w}" height="{shown_h}" alt="Heatmap overlay">')
    for rid, left, top, width, height in _present.region_boxes(report):
        inside = " inside" if top < 6 else ""
        add(
            f'<div class="region{inside}" data-region="{escape(rid)}" style="left:{left:.3f}%;top:{top:.3f}%;width:{width:.3f}%;'
            f'height:{height:.3f}%"><span>{escape(rid)}</span></div>'
        )
    add("</div>")
    add('<div class="controls">')
    add(f'<label for="opacity">Overlay opacity</label> <input type="range" id="opacity" min="0" max="100" '
        f'step="1" value="{DEFAULT_OPACITY}"> <output id="opacity-value" for="opacity">{DEFAULT_OPACITY}%</output>')
    add('<label><input type="checkbox" id="show-regions" checked> Region boxes</label>')
    add('<span class="legend"><span>no trace</span><span class="bar" aria-hidden="true"></span>'
        "<span>strongest trace</span></span>")
    add("</div>")
    add(f'<p id="layer-caption">{escape(fused_caption)}</p>')
    add('<p class="small">Choose a map to lay over the photo:</p>')
    add('<div class="layers">')
    add(_layer_button("Fused map", fused_caption, fused_uri, "all deciding detectors", pressed=True))
    for item in report.evidence:
        title = names.get(item.detector, item.detector)
        if item.heatmap is None:
            why = _present.STATUS_WORDS.get(item.status, item.status)
            add(f'<div class="nomap" title="{escape(item.reason or why)}"><b>{escape(title)}</b>no map ({escape(why)})</div>')
            continue
        score = "map only, no decision" if item.score is None else f"score {item.score:.2f}"
        caption = f"Showing: {title}, its own map ({score})"
        uri = map_uri(f"layer:{item.detector}", item.heatmap, item.stride)
        add(_layer_button(title, caption, uri, score))
    add("</div>")
    scaled = "not downscaled" if (shown_w, shown_h) == (up_w, up_h) else f"downscaled from {up_w} x {up_h}"
    if zoom > 1:
        scaled += f", displayed {zoom}x enlarged"
    add(
        f'<p class="note">Previews: the photo and maps in this page are at most {PREVIEW_MAX_SIDE} pixels on the '
        f"long side (here {shown_w} x {shown_h}, {scaled}; photo re-encoded as JPEG; a map is shown at its "
        "detector's own resolution when that is smaller). The analysis used the original file; the maps are the "
        "PNG files written beside this report.</p>"
    )
    add("</section>")

    # Regions.
    add('<section id="regions" aria-label="Regions"><h2>Regions</h2>')
    rows = _present.regions(report)
    if rows:
        add("<table><thead><tr><th>Region</th><th>Location</th><th>Share of image</th><th>Box (as shown)</th>"
            "<th>Detectors that mark it</th></tr></thead><tbody>")
        for row in rows:
            box = escape(row.bbox)
            if row.stored_bbox:
                box += f'<br><span class="small">stored pixels: {escape(row.stored_bbox)}</span>'
            detectors = ", ".join(escape(title) for _, title in row.detectors) or "fused map only"
            add(
                f'<tr id="region-{_slug(row.id)}" data-region="{escape(row.id)}" tabindex="0"><td><b>{escape(row.id)}</b></td><td>{escape(row.location)}</td>'
                f"<td>{escape(row.share)}</td><td>{box}</td>"
                f"<td>{detectors}{tags([ident for ident, _ in row.detectors])}</td></tr>"
            )
        add("</tbody></table>")
    else:
        add("<p>No region was marked.</p>")
    pairs = _present.clone_pairs(report)
    if pairs:
        add("<h3>Cloned areas (copy-move)</h3>")
        add("<table><thead><tr><th>Detector</th><th>Area</th><th>Reappears as</th><th>Transform</th>"
            "<th>Support</th></tr></thead><tbody>")
        for pair in pairs:
            add(f"<tr><td>{escape(pair.detector)}{tags([pair.evidence_id])}</td><td>{escape(pair.source)}</td>"
                f"<td>{escape(pair.target)}</td><td>{escape(pair.transform)}</td><td>{escape(pair.support)}</td></tr>")
        add("</tbody></table>")
        add('<p class="small">Boxes in stored pixels; which area is the original cannot be told.</p>')
    add("</section>")

    # Explanation: the audit trail.
    add('<section id="explanation" class="explanation" aria-label="Explanation"><h2>Explanation</h2>')
    add('<p class="small">Each statement is built from the evidence alone; the tags name what it rests on '
        "(<code>ev:NAME</code>: a detector's evidence; <code>image:FIELD</code>: a fact read from the file).</p>")
    for section in report.explanation.sections:
        add(f"<h3>{escape(section.title)}</h3>")
        if not section.sentences:
            empty = "Nothing to report."
            if section.title == "Where" and label not in {"edited", "ai-edited"}:
                empty = "Nothing to locate: regions are only reported when the verdict is edited."
            add(f'<p class="small">{escape(empty)}</p>')
            continue
        add("<ul>")
        for sentence in section.sentences:
            add(f"<li>{escape(sentence.text)}{tags(sentence.evidence)}</li>")
        add("</ul>")
    story = _present.narrative(report)
    if story is not None:
        heading, text = story
        add(f'<div class="narrative"><h3>{escape(heading)}</h3><p>{escape(text)}</p></div>')
    add("</section>")

    # Evidence.
    if report.video is not None:
        out.extend(_video_section(report.video))
    add('<section id="evidence" aria-label="Evidence"><h2>Evidence</h2>')
    add("<table><thead><tr><th>Detector</th><th>Status</th><th>Score</th><th>Notes</th><th>Reason</th></tr>"
        "</thead><tbody>")
    for row in _present.evidence(report):
        notes = "".join(f"<li>{escape(note)}</li>" for note in row.notes)
        add(
            f'<tr id="{_slug(row.id)}"><td><b>{escape(row.title)}</b><br><span class="small mono">'
            f"{escape(row.id)} v{escape(row.version)}</span></td>"
            f'<td class="status-{_slug(row.status)}">{escape(row.status)}</td><td>{escape(row.score)}</td>'
            f"<td>{f'<ul>{notes}</ul>' if notes else ''}</td><td>{escape(row.reason)}</td></tr>"
        )
    add("</tbody></table>")
    add('<p class="small">Scores run from 0 (no evidence) to 1; words: 0.3 weak, 0.5 moderate, 0.7 strong, '
        "0.9 very strong. Not calibrated probabilities.</p>")
    add("</section>")

    # Metadata and provenance.
    add('<section id="file" aria-label="File metadata and provenance"><h2>File metadata and provenance</h2>')
    add("<table><thead><tr><th>Field</th><th>Value</th><th>Evidence ids</th></tr></thead><tbody>")
    for label_text, value, ids in facts:
        cls = ' class="mono"' if ids[0] in ("image:sha256", "image:source") else ""
        add(
            f'<tr id="{_slug(ids[0])}"><th scope="row">{escape(label_text)}</th><td{cls}>{escape(value)}</td>'
            f'<td class="small mono">{escape(", ".join(ids))}</td></tr>'
        )
    add("</tbody></table></section>")

    # Reproducibility footer.
    add('<footer id="reproducibility" aria-label="Reproducibility"><h2>Reproducibility</h2><dl>')
    for key, value in _present.reproducibility(report):
        cls = ' class="mono"' if key in ("File SHA-256", "Rerun") else ""
        add(f"<dt>{escape(key)}</dt><dd{cls}>{escape(value)}</dd>")
    add("</dl>")
    add("<table><thead><tr><th>Detector</th><th>Version</th><th>Parameters</th></tr></thead><tbody>")
    for detector, version, params in _present.detector_params(report):
        add(f"<tr><td>{escape(detector)}</td><td>{escape(version)}</td>"
            f'<td class="mono">{escape(params)}</td></tr>')
    add("</tbody></table>")
    add('<p class="small">Made offline by tamperscope; this page loads nothing from the network.</p>')
    add("</footer>")

    add(f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def _layer_button(title: str, caption: str, uri: str, detail: str, pressed: bool = False) -> str:
    return (
        f'<button type="button" data-layer aria-pressed="{"true" if pressed else "false"}" '
        f'data-caption="{escape(caption)}"><span class="thumb"><img class="map" src="{uri}" alt=""></span>'
        f"<b>{escape(title)}</b>{escape(detail)}</button>"
    )


def _slug(ident: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ident.lower()).strip("-")


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    return struct.unpack(">II", png[16:24])


def _legend_gradient() -> str:
    colours = colorize(np.linspace(0.0, 1.0, 9, dtype=np.float32)).reshape(-1, 3)
    stops = ", ".join(f"rgb({r},{g},{b}) {100 * i / 8:.1f}%" for i, (r, g, b) in enumerate(colours))
    return f"linear-gradient(to right, {stops})"


def _video_section(video: dict) -> list[str]:
    """Per-face swap scores over the sampled frames of a clip, as a table with a small inline chart."""
    rows = [
        '<section id="video" aria-label="Faces over time"><h2>Faces over time</h2>',
        f'<p class="small">{escape(video["container"])}, {video["frames_decoded"]} frames at {video["fps"]} fps; '
        f'{len(video["sampled_frames"])} frames sampled; the photo above is frame {video["key_frame"]}. '
        f'{escape(video["rule"])}.</p>',
        "<table><thead><tr><th>Face</th><th>Track score</th><th>Swap score per sampled frame</th></tr></thead><tbody>",
    ]
    last = max(video["sampled_frames"][-1], 1)
    for face in video["faces"]:
        points = [(o["frame"], o["score"]) for o in face["series"] if o["score"] is not None]
        line = " ".join(f"{4 + 232 * f / last:.1f},{44 - 40 * s:.1f}" for f, s in points)
        chart = (
            '<svg width="240" height="48" role="img" aria-label="swap score over time">'
            '<line x1="0" y1="24" x2="240" y2="24" stroke="#999" stroke-dasharray="3"/>'
            f'<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{line}"/></svg>'
            if points else ""
        )
        values = ", ".join("-" if o["score"] is None else f'{o["score"]:.2f}' for o in face["series"])
        score = "too small" if face["score"] is None else f'{face["score"]:.2f}'
        rows.append(f"<tr><td>{escape(face['id'])}</td><td>{score}</td><td>{chart}"
                    f'<div class="small mono">{escape(values)}</div></td></tr>')
    rows.append("</tbody></table>")
    rows.extend(f'<p class="small">Warning: {escape(w)}</p>' for w in video.get("warnings", []))
    rows.append("</section>")
    return rows
