"""The comparison as one self-contained HTML page: side by side, swipe and blink over the aligned pair.

Same rules as ``analyze``'s page (:mod:`tamperscope.report.html`, whose styles and image helpers it uses):
every image is a ``data:`` URI, the CSS and script are inline, a Content-Security-Policy forbids loading
anything else (the script pinned by its hash), and every string from the files or the comparison is escaped.

Views (all in the suspect's frame except the first):

* **Side by side** - each version in its own frame, the changed regions boxed in both;
* **Swipe** - the aligned original over the suspect, a slider uncovers one or the other;
* **Blink** - the two alternate every 0.6 s (a pause button stops it);
* **Difference map** - the suspect with the heatmap; what the original does not cover is darkened.

"Match colours" shows the aligned original through the fitted tone model, so that swipe and blink show
only what the model does not explain.
"""

from __future__ import annotations

import base64
import hashlib
import io
from html import escape

import numpy as np
from PIL import Image as PILImage

from ..report.colormap import data_uri, fit, jpeg_bytes, map_png, with_transparency
from ..report.html import _CSS, REGION_ROWS_SCRIPT, _legend_gradient, _slug
from ..report.explain import location_words
from .report import Comparison
from .pictures import aligned_original

#: Where each fact id of the explanation is shown on the page.
_ANCHORS = {"cmp:alignment": "cmp-alignment", "cmp:overlap": "cmp-alignment", "cmp:tone": "cmp-alignment",
            "cmp:noise": "cmp-alignment", "cmp:decision": "cmp-decision", "cmp:region": "regions",
            "cmp:hints": "cmp-hints"}
#: Longest side, in pixels, of the pictures embedded in the page.
PREVIEW_MAX_SIDE = 1600

_SCRIPT = ("""
(function () {
  var tabs = document.querySelectorAll("button[data-view]");
  var panes = document.querySelectorAll("[data-pane]");
  var blinkTimer = null;
  function stopBlink() { if (blinkTimer) { clearInterval(blinkTimer); blinkTimer = null; } }
  function show(name) {
    Array.prototype.forEach.call(tabs, function (t) {
      t.setAttribute("aria-pressed", t.getAttribute("data-view") === name ? "true" : "false");
    });
    Array.prototype.forEach.call(panes, function (p) { p.hidden = p.getAttribute("data-pane") !== name; });
    stopBlink();
    if (name === "blink") { startBlink(); }
  }
  Array.prototype.forEach.call(tabs, function (t) {
    t.addEventListener("click", function () { show(t.getAttribute("data-view")); });
  });
  var swipe = document.getElementById("swipe");
  var top = document.getElementById("swipe-top");
  function applySwipe() { top.style.clipPath = "inset(0 " + (100 - Number(swipe.value)) + "% 0 0)"; }
  if (swipe) { swipe.addEventListener("input", applySwipe); applySwipe(); }
  var blinkTop = document.getElementById("blink-top");
  var blinkName = document.getElementById("blink-name");
  var pause = document.getElementById("blink-pause");
  function flip() {
    var hidden = blinkTop.style.visibility === "hidden";
    blinkTop.style.visibility = hidden ? "visible" : "hidden";
    blinkName.textContent = hidden ? "original (aligned)" : "suspect";
  }
  function startBlink() { stopBlink(); if (blinkTop) { blinkTimer = setInterval(flip, 600); } }
  if (pause) {
    pause.addEventListener("click", function () {
      if (blinkTimer) { stopBlink(); pause.textContent = "Play"; } else { startBlink(); pause.textContent = "Pause"; }
    });
  }
  var match = document.getElementById("match-colours");
  if (match) {
    match.addEventListener("change", function () {
      Array.prototype.forEach.call(document.querySelectorAll("img.aligned"), function (img) {
        img.src = img.getAttribute(match.checked ? "data-toned" : "data-raw");
      });
    });
  }
""" + REGION_ROWS_SCRIPT + """  var first = document.querySelector("button[data-view]");
  if (first) { show(first.getAttribute("data-view")); }
})();
""").strip()

_EXTRA_CSS = """
.verdict.changed { border-left-color: var(--edited); background: var(--edited-bg); }
.verdict.changed .label { color: var(--edited); }
.verdict.unchanged { border-left-color: var(--authentic); background: var(--authentic-bg); }
.verdict.unchanged .label { color: var(--authentic); }
.tabs { display: flex; gap: 8px; flex-wrap: wrap; margin: 0 0 12px; }
.tabs button { font: inherit; font-size: 14px; padding: 5px 12px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--paper); cursor: pointer; }
.tabs button[aria-pressed=true] { border-color: var(--accent); color: var(--accent); box-shadow: 0 0 0 1px var(--accent); }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.pair figure { margin: 0; }
.pair figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
.stage { position: relative; display: inline-block; max-width: 100%; line-height: 0; background: #000;
  border: 1px solid var(--line); }
.stage img { display: block; max-width: 100%; height: auto; }
.stage .layer { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.stage .heat { opacity: .75; pointer-events: none; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 24px; align-items: center; margin: 10px 0 4px; font-size: 14px; }
.controls input[type=range] { width: 260px; vertical-align: middle; }
"""


def _jpeg_uri(pixels: np.ndarray, quality: int) -> str:
    return data_uri(jpeg_bytes(pixels, quality), "image/jpeg")


def _map_uri(heat: np.ndarray) -> str:
    """A [0, 1] map as the analysis report embeds its maps: inferno palette PNG, transparent where it is 0."""
    return data_uri(with_transparency(map_png(np.asarray(heat, dtype=np.float32), compress_level=6)), "image/png")


def _data_uri_png_rgba(rgba: np.ndarray) -> str:
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _boxes(regions, frame_w: int, frame_h: int, which: str) -> list[str]:
    out = []
    for region in regions:
        box = region.bbox_suspect if which == "suspect" else region.bbox_original
        if box is None:
            continue
        x, y, w, h = box
        inside = " inside" if y / frame_h * 100 < 6 else ""
        out.append(
            f'<div class="region{inside}" data-region="{region.id}" style="left:{100 * x / frame_w:.3f}%;'
            f'top:{100 * y / frame_h:.3f}%;width:{100 * w / frame_w:.3f}%;height:{100 * h / frame_h:.3f}%">'
            f"<span>{region.id}</span></div>"
        )
    return out


def comparison_html(c: Comparison) -> str:
    """The comparison as one self-contained HTML page (no external requests; see the module doc)."""
    original_pixels = c.original.upright(c.original.pixels)
    suspect_pixels = c.suspect.upright(c.suspect.pixels)
    orig_h, orig_w = original_pixels.shape[:2]
    sus_h, sus_w = suspect_pixels.shape[:2]
    suspect_preview = fit(suspect_pixels, PREVIEW_MAX_SIDE)
    original_preview = fit(original_pixels, PREVIEW_MAX_SIDE)
    shown_h, shown_w = suspect_preview.shape[:2]
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'")
    css = (_CSS.replace("0.DEFAULT", "0.70").replace("LEGEND", _legend_gradient()).replace("THUMB_BG", "")
           + _EXTRA_CSS)
    names = (c.original.source, c.suspect.source)

    def tags(ids: list[str]) -> str:
        if not ids:
            return ""
        links = "".join(f'<a class="ev" href="#{_ANCHORS.get(i.rsplit(":", 1)[0] if ":region:" in i else i, "explanation")}" '
                        f'title="facts this rests on">{escape(i)}</a>' for i in ids)
        return f' <span class="tags">{links}</span>'

    out: list[str] = []
    add = out.append
    add("<!DOCTYPE html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add(f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add('<meta name="referrer" content="no-referrer">')
    add('<link rel="icon" href="data:,">')
    add(f"<title>{escape(c.label.capitalize())}: {escape(names[1])} against {escape(names[0])} - tamperscope "
        "comparison</title>")
    add(f"<style>{css}</style></head><body><main>")
    add("<header>")
    add('<p class="kicker">Comparison of two versions &middot; tamperscope</p>')
    add(f"<h1>{escape(names[1])}</h1>")
    add(f'<p class="meta">suspect, {escape(c.suspect.format)} {sus_w} x {sus_h}, SHA-256 <span class="mono">'
        f'{escape(c.suspect.sha256)}</span></p>')
    add(f'<p class="meta">compared with the original {escape(names[0])}, {escape(c.original.format)} {orig_w} x '
        f'{orig_h}, SHA-256 <span class="mono">{escape(c.original.sha256)}</span> &middot; {escape(c.analyzed_at)}</p>')
    add("</header>")
    add(f'<section class="verdict {escape(c.label)}" id="verdict" aria-label="Verdict">')
    add(f'<p class="label">{escape(c.label_words)}</p>')
    for section in (c.explanation.sections if c.explanation else []):
        if section.title == "Verdict":
            for sentence in section.sentences:
                add(f'<p class="sentence">{escape(sentence.text)}{tags(sentence.evidence)}</p>')
    add('<ul class="howto">')
    add("<li>The two files were aligned (scale, crop, rotation, mirror) and their colours matched by one global "
        "model; what remains beyond re-compression and resampling noise is outlined.</li>")
    add("<li>Use <b>Swipe</b> or <b>Blink</b> to see each outlined change with your own eyes; "
        "<b>Match colours</b> removes the global colour difference first.</li>")
    add("</ul></section>")

    if c.alignment is not None:
        raw = fit(aligned_original(c, tone=False), PREVIEW_MAX_SIDE)
        toned = fit(aligned_original(c, tone=True), PREVIEW_MAX_SIDE)
        raw_uri, toned_uri = _jpeg_uri(raw, 88), _jpeg_uri(toned, 88)
        suspect_uri = _jpeg_uri(suspect_preview, 88)
        heat_uri = _map_uri(fit(c.heatmap, PREVIEW_MAX_SIDE))
        shade = np.zeros((shown_h, shown_w, 4), np.uint8)
        outside = fit((~c.overlap).astype(np.float32), PREVIEW_MAX_SIDE) > 0.5
        shade[outside, 3] = 150
        shade_uri = _data_uri_png_rgba(shade)
        suspect_boxes = "".join(_boxes(c.regions, sus_w, sus_h, "suspect"))
        add('<section id="views" aria-label="Views of the pair"><h2>See it: the two versions</h2>')
        add('<div class="tabs" role="group" aria-label="View">')
        for key, title in (("side", "Side by side"), ("swipe", "Swipe"), ("blink", "Blink"), ("map", "Difference map")):
            add(f'<button type="button" data-view="{key}" aria-pressed="false">{title}</button>')
        add("</div>")
        add('<div class="controls"><label><input type="checkbox" id="match-colours"> Match colours (aligned original '
            "through the fitted tone model)</label></div>")
        # Side by side: each in its own frame.
        add('<div data-pane="side"><div class="pair">')
        add(f'<figure><div class="stage"><img src="{_jpeg_uri(original_preview, 88)}" alt="The original, '
            f'upright">{"".join(_boxes(c.regions, orig_w, orig_h, "original"))}</div><figcaption>Original '
            f"({orig_w} x {orig_h}), its own frame</figcaption></figure>")
        add(f'<figure><div class="stage"><img src="{suspect_uri}" alt="The suspect, upright">{suspect_boxes}</div>'
            f"<figcaption>Suspect ({sus_w} x {sus_h})</figcaption></figure>")
        add("</div></div>")
        # Swipe.
        add('<div data-pane="swipe" hidden>')
        add(f'<div class="stage"><img src="{suspect_uri}" width="{shown_w}" height="{shown_h}" alt="The suspect">'
            f'<img id="swipe-top" class="layer aligned" src="{raw_uri}" data-raw="{raw_uri}" data-toned="{toned_uri}"'
            f' alt="The original, aligned to the suspect">{suspect_boxes}</div>')
        add('<div class="controls"><label for="swipe">original (aligned)</label> <input type="range" id="swipe" '
            'min="0" max="100" value="50"> <span>suspect</span></div>')
        add("</div>")
        # Blink.
        add('<div data-pane="blink" hidden>')
        add(f'<div class="stage"><img src="{suspect_uri}" width="{shown_w}" height="{shown_h}" alt="The suspect">'
            f'<img id="blink-top" class="layer aligned" src="{raw_uri}" data-raw="{raw_uri}" data-toned="{toned_uri}"'
            f' alt="The original, aligned to the suspect">{suspect_boxes}</div>')
        add('<div class="controls"><button type="button" id="blink-pause">Pause</button> Showing: '
            '<b id="blink-name">original (aligned)</b></div>')
        add("</div>")
        # Difference map.
        add('<div data-pane="map" hidden>')
        add(f'<div class="stage"><img src="{suspect_uri}" width="{shown_w}" height="{shown_h}" alt="The suspect">'
            f'<img class="layer heat" src="{heat_uri}" alt="Difference heatmap"><img class="layer" src="{shade_uri}" '
            f'alt="Not covered by the original">{suspect_boxes}</div>')
        add('<div class="controls"><span class="legend"><span>no difference beyond the benign</span><span class="bar" '
            'aria-hidden="true"></span><span>all of the neighbourhood differs</span></span></div>')
        add('<p class="small">Darkened: the part of the suspect the original does not show (not compared).</p>')
        add("</div>")
        scaled = "" if (shown_w, shown_h) == (sus_w, sus_h) else f" (previews: {shown_w} x {shown_h})"
        add(f'<p class="note">Views in the suspect\'s frame{escape(scaled)}; the full-resolution maps and the aligned '
            "original are the PNG files beside this page.</p>")
        add("</section>")

    # Regions.
    add('<section id="regions" aria-label="Changed regions"><h2>Changed regions</h2>')
    if c.regions:
        add("<table><thead><tr><th>Region</th><th>Change</th><th>Where (suspect)</th><th>Box in the suspect</th>"
            "<th>Box in the original</th><th>Share of the suspect</th><th>Statistic</th></tr></thead><tbody>")
        for r in c.regions:
            x, y, w, h = r.bbox_suspect
            original_box = "outside the original" if r.bbox_original is None else (
                "{2} x {3} at ({0}, {1})".format(*r.bbox_original))
            add(f'<tr data-region="{r.id}" tabindex="0"><td><b>{r.id}</b></td><td>{escape(r.kind)}</td>'
                f"<td>{escape(location_words((x, y, w, h), (sus_h, sus_w)))}</td><td>{w} x {h} at ({x}, {y})</td>"
                f"<td>{escape(original_box)}</td><td>{r.share:.1%}</td>"
                f'<td>{r.mass:.0f} (threshold {c.decision.get("threshold", 0):.0f})</td></tr>')
        add("</tbody></table>")
    else:
        add("<p>No region is outlined.</p>")
    add("</section>")

    # Explanation.
    add('<section id="explanation" class="explanation" aria-label="Explanation"><h2>Explanation</h2>')
    add('<p class="small">Each statement is built from the comparison\'s facts alone; the tags name the block of '
        "report.json it rests on (<code>cmp:alignment</code>, <code>cmp:tone</code>, <code>cmp:noise</code>, "
        "<code>cmp:decision</code>, <code>cmp:region:N</code>, <code>cmp:hints</code>).</p>")
    for section in (c.explanation.sections if c.explanation else []):
        add(f"<h3>{escape(section.title)}</h3><ul>")
        for sentence in section.sentences:
            add(f"<li>{escape(sentence.text)}{tags(sentence.evidence)}</li>")
        add("</ul>")
    add("</section>")

    # Transform, tone and decision.
    document = c.to_dict()
    add('<section id="cmp-alignment" aria-label="Fitted transform"><h2>What was fitted</h2><table><tbody>')
    if c.alignment is not None:
        al = c.alignment
        rows = [
            ("Map (original to suspect)", f"{al.model}; scale {al.scale:.4f}, rotation {al.rotation_deg:+.2f} deg"
             f"{', mirrored' if al.mirrored else ''}"),
            ("Matrix", "; ".join(" ".join(f"{v:.6g}" for v in row) for row in al.matrix)),
            ("Keypoint matches", f"{al.inliers} of {al.matches} agree, error {al.rms_px:.2f} px, log10 NFA "
             f"{al.log10_nfa:.1f}"),
            ("Overlap", f"{c.overlap_facts.get('share_of_suspect', 0):.1%} of the suspect, "
             f"{c.overlap_facts.get('share_of_original', 0):.1%} of the original"),
            ("Compared at", f"{c.analysis.get('width')} x {c.analysis.get('height')} px"),
        ]
        for key, value in rows:
            add(f'<tr><th scope="row">{escape(key)}</th><td class="mono">{escape(value)}</td></tr>')
    for item in c.discounted:
        add(f'<tr id="{_slug(item["id"])}-{_slug(item["what"])}"><th scope="row">Discounted: {escape(item["what"])}'
            f'</th><td>{escape(item["detail"])}</td></tr>')
    decision = document["decision"]
    if decision:
        add(f'<tr id="cmp-decision"><th scope="row">Decision</th><td>A region is outlined when its statistic '
            f'(sum of log z over the region) reaches {decision.get("threshold", 0):.0f}, the level benign-only '
            f'calibration pairs stay under in {1 - decision.get("target_false_alarm", 0):.0%} of cases; '
            f'{decision.get("candidates", 0)} candidates, {decision.get("candidates_below_threshold", 0)} below '
            "it.</td></tr>")
    add("</tbody></table></section>")

    if c.hints:
        add('<section id="cmp-hints" aria-label="Which looks earlier"><h2>Which looks earlier (hints, not the '
            "verdict)</h2><ul>")
        for hint in c.hints:
            add(f"<li>{escape(hint.fact)}</li>")
        add("</ul></section>")

    add('<footer id="reproducibility" aria-label="Reproducibility"><h2>Reproducibility</h2><dl>')
    repro = document["reproducibility"]
    for key, value in (("tamperscope", repro["tamperscope_version"]), ("Compared at", repro["analyzed_at"]),
                       ("Original SHA-256", repro["original_sha256"]), ("Suspect SHA-256", repro["suspect_sha256"]),
                       ("Rerun", f"tamperscope compare {names[0]} {names[1]} -o OUT --report html")):
        add(f"<dt>{escape(key)}</dt><dd class=\"mono\">{escape(str(value))}</dd>")
    add("</dl>")
    add('<p class="small">Made offline by tamperscope; this page loads nothing from the network.</p></footer>')
    add(f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
