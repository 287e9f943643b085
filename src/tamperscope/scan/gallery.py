"""A scan's results as a page a moderator browses: previews, verdicts, filters, pages, and each image's report.

:func:`write_gallery` writes ``gallery.html`` and, beside it, a folder
``gallery_files/`` of data files; the page links the previews the scan wrote
(:mod:`~tamperscope.scan.previews`) and the reports written on demand
(:mod:`~tamperscope.scan.reports`) where they lie, and copies neither.

How it stays fast with a million rows: the page holds no card. Its script draws
only the visible page (:data:`PAGE_SIZE` cards). The rows, most suspicious
first, are split into data files of :data:`CHUNK_ROWS`; a page loads the one or
two it shows. Filtering by verdict label or by detector loads one more file,
``index.js``, the row numbers of each label and each detector, once. The data
files are scripts (``<script src>``), because a page opened from ``file:``
may not ``fetch`` its neighbours, and a script may.

What it loads: the page, its data files and the previews, all local files; no
network. A Content-Security-Policy allows its own inline script by hash and
scripts and images from local files ('self'), nothing else. Paths, labels and
every other string from the store went through a scanned file, so they are
attacker-controlled: the script puts them in the page as text
(``textContent``), never as markup, and builds every URL from a SHA-256 it has
checked; the errors table, written here, passes each through
:func:`~tamperscope.scan.results.visible` and :func:`html.escape`.

A page is never half-written: the data go to a folder named for this build
(``gallery_files/<build>/``), the page to ``gallery.html.part``, renamed into
place last; the builds it replaced are then removed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path
from urllib.parse import quote

from ..errors import InputError, OutputError
from ..report.explain import strength_words
from ..report.schema import LABEL_SHORT
from .previews import default_folder, image_name, mask_name
from .reports import REPORT_PAGE, reports_folder, written_reports
from .results import detector_titles, paths_for, top_detectors, visible
from .results import errors as error_rows
from .store import ResultStore, Row
from .worker import TOP_REGIONS

#: Cards on one page of the gallery.
PAGE_SIZE = 24
#: Reports ``tamperscope results gallery`` writes before the page, where missing: the most suspicious images
#: (about four pages), so that the cards a moderator opens first open at once; any other is one command away.
DEFAULT_REPORTS = 100
#: Rows per data file (a page needs one, or two where it straddles a boundary).
CHUNK_ROWS = 500
#: Errors listed in the page (the count is always complete).
MAX_ERRORS = 1000
#: Paths listed per card (the rest are counted).
MAX_PATHS_SHOWN = 3
#: A detector "flags" an image for the detector filter when its score reaches this ("moderate" evidence on the
#: scale every sentence of the reports uses) or when it supports one of the image's regions.
FLAG_SCORE = 0.5

#: Words for the verdict labels tamperscope writes: the single-image report's (a store written by version 1 reads
#: with its labels upgraded, scan/store.py); a label not listed here is shown as it is.
LABEL_WORDS = LABEL_SHORT
#: Colour family of each label's badge (red: manipulation found, green: authentic, grey: the rest, no-evidence
#: included: finding nothing is not evidence of authenticity).
_LABEL_CLASS = {"edited": "edited", "ai-generated": "edited", "ai-edited": "edited", "authentic": "authentic"}

#: Why a card has no preview, by the code its data row carries.
_NO_PREVIEW = {
    1: "No preview: this image was scanned with --no-artifacts (or before scans kept previews)",
    2: "No preview: its file is missing from the previews folder",
}

_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --paper: #ffffff; --page: #f6f8fa;
  --edited: #a40e26; --edited-bg: #ffebe9; --authentic: #1a7f37; --authentic-bg: #dafbe1;
  --inconclusive: #59636e; --inconclusive-bg: #eaeef2; --error: #9a6700; --error-bg: #fff8c5; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 28px 24px 40px; }
section, footer { background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 22px; margin: 0 0 18px; }
header { margin-bottom: 16px; }
h1 { font-size: 26px; margin: 2px 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 0 0 10px; }
p { margin: 6px 0; }
.kicker { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .08em; margin: 0; }
.meta, .note, .small { color: var(--muted); font-size: 13px; }
.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
  overflow-wrap: anywhere; }
.counts { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; margin: 4px 0 8px; }
.count { border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.count b { display: block; font-size: 24px; line-height: 1.2; }
.count span { color: var(--muted); font-size: 13px; }
.count.edited { border-left-color: var(--edited); } .count.edited b { color: var(--edited); }
.count.authentic { border-left-color: var(--authentic); } .count.authentic b { color: var(--authentic); }
.count.inconclusive { border-left-color: var(--inconclusive); }
.count.error { border-left-color: var(--error); } .count.error b { color: var(--error); }
.controls { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: end; margin: 0 0 12px; }
.controls label { display: flex; flex-direction: column; font-size: 12.5px; color: var(--muted); gap: 2px; }
select, button, input { font: inherit; font-size: 14px; }
select, input { padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
button { padding: 4px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--page);
  color: var(--ink); cursor: pointer; }
button:disabled { color: var(--muted); cursor: default; }
button:focus-visible, select:focus-visible, a:focus-visible { outline: 3px solid #54aeff; }
.pager { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.pager input { width: 5em; }
#shown { color: var(--muted); font-size: 13px; margin: 0 0 10px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; overflow: hidden; background: var(--paper);
  display: flex; flex-direction: column; }
.card.edited { border-top: 5px solid var(--edited); }
.card.authentic { border-top: 5px solid var(--authentic); }
.card.inconclusive { border-top: 5px solid var(--inconclusive); }
.thumb { height: 220px; background: #111; display: flex; align-items: center; justify-content: center;
  line-height: 0; text-decoration: none; }
.frame { position: relative; display: inline-block; max-width: 100%; max-height: 100%; }
.frame img { display: block; max-width: 100%; max-height: 220px; }
.box { position: absolute; border: 2px solid #00e5ff; box-shadow: 0 0 0 1px rgba(0,0,0,.6); pointer-events: none; }
.thumb.none { background: var(--inconclusive-bg); color: var(--muted); font-size: 13px; line-height: 1.4;
  padding: 12px; text-align: center; }
.card .body { padding: 10px 12px 12px; display: flex; flex-direction: column; gap: 2px; flex: 1; }
.card .head { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; margin: 0 0 2px; }
.rank { color: var(--muted); font-size: 13px; }
.badge { display: inline-block; font-size: 12.5px; font-weight: 700; padding: 0 8px; border-radius: 10px;
  background: var(--inconclusive-bg); color: var(--inconclusive); }
.badge.edited { background: var(--edited-bg); color: var(--edited); }
.badge.authentic { background: var(--authentic-bg); color: var(--authentic); }
.score { font-weight: 600; }
.facts { font-size: 13.5px; margin: 0 0 4px; }
ul.paths { list-style: none; margin: 0; padding: 0; }
ul.paths li { padding: 1px 0; }
.actions { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-top: auto; padding-top: 6px; }
.actions a { color: var(--accent); font-weight: 600; }
details.howto { font-size: 13px; }
details.howto code { display: block; background: var(--page); border: 1px solid var(--line); border-radius: 4px;
  padding: 4px 6px; margin: 4px 0; user-select: all; }
.empty { color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px 6px 0; border-bottom: 1px solid var(--line); }
th { font-size: 12.5px; color: var(--muted); font-weight: 600; }
td.kind { white-space: nowrap; }
@media print { body { background: #fff; } section, footer, .card { break-inside: avoid; border-color: #bbb; }
  .controls, .pager { display: none; } }
""".strip()

# The page's one script. Data arrive through tamperscopeGallery.rows(number, rows) and .index(data), called by the
# data files; every string from the store reaches the page through textContent or a checked URL.
_SCRIPT = r"""
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("gallery-meta").textContent);
  var SHA = /^[0-9a-f]{64}$/;
  var chunks = {}, waiting = {}, index = null, indexWaiting = null, drawn = 0;
  var $ = function (id) { return document.getElementById(id); };
  var labels = Object.create(null), detectors = Object.create(null);
  var own = function (object, key) { return Object.prototype.hasOwnProperty.call(object, key); };
  meta.labels.forEach(function (item) { labels[item.key] = item; });
  meta.detectors.forEach(function (item) { detectors[item.key] = item; });

  window.tamperscopeGallery = {
    rows: function (number, rows) {
      chunks[number] = rows;
      (waiting[number] || []).forEach(function (done) { done(); });
      delete waiting[number];
    },
    index: function (data) {
      index = data;
      (indexWaiting || []).forEach(function (done) { done(); });
      indexWaiting = null;
    }
  };

  function failed(what) {
    return function () {
      $("shown").textContent = "Could not load " + what + ": keep this page beside its folder " + meta.dataFolder +
        " (make it again with tamperscope results gallery).";
    };
  }
  function script(src, what) {
    var element = document.createElement("script");
    element.src = src;
    element.onerror = failed(what);
    document.head.appendChild(element);
  }
  function chunk(number, done) {
    if (chunks[number]) { done(); return; }
    if (waiting[number]) { waiting[number].push(done); return; }
    waiting[number] = [done];
    script(meta.data + "rows-" + ("00000" + number).slice(-5) + ".js", "the gallery's data");
  }
  function needIndex(done) {
    if (index) { done(); return; }
    if (indexWaiting) { indexWaiting.push(done); return; }
    indexWaiting = [done];
    script(meta.data + "index.js", "the gallery's filters");
  }

  function readHash() {
    var state = { label: "", detector: "", order: "desc", page: 1 };
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var at = pair.indexOf("="), key = pair.slice(0, at), value = "";
      if (at < 0) { return; }
      try { value = decodeURIComponent(pair.slice(at + 1)); } catch (ignored) { return; }
      if (key === "label" && labels[value]) { state.label = value; }
      if (key === "detector" && detectors[value]) { state.detector = value; }
      if (key === "order" && value === "asc") { state.order = "asc"; }
      if (key === "page" && /^[0-9]{1,9}$/.test(value)) { state.page = Math.max(1, parseInt(value, 10)); }
    });
    return state;
  }
  function writeHash(state) {
    var parts = [];
    if (state.label) { parts.push("label=" + encodeURIComponent(state.label)); }
    if (state.detector) { parts.push("detector=" + encodeURIComponent(state.detector)); }
    if (state.order === "asc") { parts.push("order=asc"); }
    if (state.page > 1) { parts.push("page=" + state.page); }
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (hash !== location.hash && !(hash === "" && location.hash === "#")) {
      location.hash = hash || "#";
    } else {
      draw();
    }
  }

  function intersect(a, b) {
    var out = [], i = 0, j = 0;
    while (i < a.length && j < b.length) {
      if (a[i] === b[j]) { out.push(a[i]); i++; j++; } else if (a[i] < b[j]) { i++; } else { j++; }
    }
    return out;
  }
  // The rows a state selects, as a function position -> row number, and how many there are.
  function selection(state, done) {
    if (!state.label && !state.detector) {
      done(ordered(null, meta.total, meta.scored, state.order));
      return;
    }
    needIndex(function () {
      var lists = [];
      if (state.label) { lists.push(own(index.label, state.label) ? index.label[state.label] : []); }
      if (state.detector) { lists.push(own(index.detector, state.detector) ? index.detector[state.detector] : []); }
      var list = lists.length === 1 ? lists[0] : intersect(lists[0], lists[1]);
      var scored = 0, low = 0, high = list.length;
      while (low < high) {
        var mid = (low + high) >> 1;
        if (list[mid] < meta.scored) { low = mid + 1; } else { high = mid; }
      }
      scored = low;
      done(ordered(list, list.length, scored, state.order));
    });
  }
  function ordered(list, count, scored, order) {
    var at = list ? function (i) { return list[i]; } : function (i) { return i; };
    // Rows are numbered most suspicious first, unscored last; "lowest first" reverses the scored ones only.
    var pick = order === "asc" ? function (i) { return i < scored ? at(scored - 1 - i) : at(i); } : at;
    return { count: count, row: pick };
  }

  function text(tag, className, words) {
    var element = document.createElement(tag);
    if (className) { element.className = className; }
    if (words !== undefined) { element.textContent = words; }
    return element;
  }
  function labelClass(label) { return (labels[label] && labels[label].cls) || "inconclusive"; }
  function labelWords(label) { return (labels[label] && labels[label].words) || label || "no label"; }

  function card(rank, row) {
    var sha = row[0], label = row[1], kind = row[6], hasMask = row[7], boxes = row[8], report = row[11];
    var ok = SHA.test(sha);
    var article = text("article", "card " + labelClass(label));
    var reportUrl = ok && report ? meta.reports + sha + "/" + meta.reportPage : null;
    var thumb;
    if (ok && kind && meta.previews) {
      thumb = document.createElement(reportUrl ? "a" : "div");
      thumb.className = "thumb";
      if (reportUrl) {
        thumb.href = reportUrl; thumb.target = "_blank"; thumb.rel = "noopener"; thumb.title = "Open the full report";
      }
      var frame = text("div", "frame");
      var image = document.createElement("img");
      var imageUrl = meta.previews + sha.slice(0, 2) + "/" + sha + ".jpg";
      image.src = imageUrl;
      image.alt = (kind === "overlay" ? "Heatmap overlay of " : "Thumbnail of ") + (row[4][0] || sha);
      image.decoding = "async";
      frame.appendChild(image);
      boxes.forEach(function (box) {
        var mark = text("div", "box");
        mark.style.left = (100 * box[0]) + "%";
        mark.style.top = (100 * box[1]) + "%";
        mark.style.width = (100 * box[2]) + "%";
        mark.style.height = (100 * box[3]) + "%";
        frame.appendChild(mark);
      });
      thumb.appendChild(frame);
    } else {
      thumb = text("div", "thumb none", meta.noPreview[String(row[12])] || meta.noPreview["1"]);
    }
    article.appendChild(thumb);
    var body = text("div", "body");
    var head = text("p", "head");
    head.appendChild(text("span", "rank", "#" + (rank + 1)));
    head.appendChild(text("span", "badge " + labelClass(label), labelWords(label)));
    head.appendChild(text("span", "score", row[2]));
    body.appendChild(head);
    body.appendChild(text("p", "facts", row[3]));
    var paths = text("ul", "paths mono");
    row[4].forEach(function (path) { paths.appendChild(text("li", "", path)); });
    if (row[5] > row[4].length) {
      paths.appendChild(text("li", "small", "and " + (row[5] - row[4].length) + " more paths"));
    }
    body.appendChild(paths);
    body.appendChild(text("p", "small mono", (ok ? sha.slice(0, 16) : "?") + "\u2026"));
    var actions = text("div", "actions");
    if (reportUrl) {
      var open = text("a", "", "Open the full report");
      open.href = reportUrl; open.target = "_blank"; open.rel = "noopener";
      actions.appendChild(open);
    } else if (ok) {
      var howto = text("details", "howto");
      howto.appendChild(text("summary", "", "Full report: not written yet"));
      howto.appendChild(text("span", "", "Write it with"));
      howto.appendChild(text("code", "", meta.reportCommand + " " + sha));
      howto.appendChild(text("span", "", "then open " + meta.reportsShown + sha + "/" + meta.reportPage +
                                          " (the next gallery links it)."));
      actions.appendChild(howto);
    }
    if (ok && hasMask && meta.previews && kind) {
      var toggle = text("button", "", "Show mask");
      toggle.type = "button";
      toggle.addEventListener("click", function () {
        var showingMask = toggle.textContent === "Show overlay";
        var shown = article.querySelector(".frame img");
        shown.src = showingMask ? meta.previews + sha.slice(0, 2) + "/" + sha + ".jpg"
                                : meta.previews + sha.slice(0, 2) + "/" + sha + ".mask.png";
        toggle.textContent = showingMask ? "Show mask" : "Show overlay";
      });
      actions.appendChild(toggle);
    }
    body.appendChild(actions);
    article.appendChild(body);
    return article;
  }

  function draw() {
    var state = readHash(), ticket = ++drawn;
    $("label").value = state.label;
    $("detector").value = state.detector;
    $("order").value = state.order;
    selection(state, function (chosen) {
      if (ticket !== drawn) { return; }
      var pages = Math.max(1, Math.ceil(chosen.count / meta.pageSize));
      var page = Math.min(state.page, pages);
      var first = (page - 1) * meta.pageSize, last = Math.min(chosen.count, first + meta.pageSize);
      var rows = [], needed = {};
      for (var i = first; i < last; i++) {
        rows.push(chosen.row(i));
        needed[Math.floor(chosen.row(i) / meta.chunkRows)] = true;
      }
      var numbers = Object.keys(needed), left = numbers.length;
      function render() {
        if (ticket !== drawn) { return; }
        var grid = $("grid");
        grid.textContent = "";
        rows.forEach(function (rank) {
          var row = chunks[Math.floor(rank / meta.chunkRows)][rank % meta.chunkRows];
          grid.appendChild(card(rank, row));
        });
        if (!rows.length) { grid.appendChild(text("p", "empty", "No image matches these filters.")); }
        $("shown").textContent = chosen.count ? "Images " + (first + 1).toLocaleString() + "\u2013" +
          last.toLocaleString() + " of " + chosen.count.toLocaleString() : "";
        $("page").value = page;
        $("page").max = pages;
        $("pages").textContent = "of " + pages.toLocaleString();
        $("first").disabled = $("previous").disabled = page <= 1;
        $("next").disabled = $("last").disabled = page >= pages;
        document.body.setAttribute("data-drawn-at", String(Math.round(performance.now())));
        document.body.setAttribute("data-page-drawn", String(ticket));
      }
      if (!left) { render(); return; }
      numbers.forEach(function (number) { chunk(Number(number), function () { if (--left === 0) { render(); } }); });
    });
  }

  function go(change) {
    var state = readHash();
    change(state);
    writeHash(state);
  }
  ["label", "detector", "order"].forEach(function (name) {
    $(name).addEventListener("change", function () {
      var value = this.value;
      go(function (s) { s[name] = value; s.page = 1; });
    });
  });
  $("first").addEventListener("click", function () { go(function (s) { s.page = 1; }); });
  $("previous").addEventListener("click", function () { go(function (s) { s.page = Math.max(1, s.page - 1); }); });
  function lastPage() { return Number($("page").max) || 1; }
  $("next").addEventListener("click", function () { go(function (s) { s.page = Math.min(lastPage(), s.page + 1); }); });
  $("last").addEventListener("click", function () { go(function (s) { s.page = lastPage(); }); });
  $("page").addEventListener("change", function () {
    var v = parseInt(this.value, 10);
    if (v > 0) { go(function (s) { s.page = v; }); }
  });
  window.addEventListener("hashchange", draw);
  draw();
})();
""".strip()


def gallery_folder(out_html: str | Path) -> Path:
    """The data folder written beside a gallery page: ``gallery.html`` -> ``gallery_files/``."""
    target = Path(out_html)
    return target.with_name((target.stem or target.name) + "_files")


def write_gallery(
    store: ResultStore,
    out_html: str | Path,
    artifacts_dir: str | Path | None = None,
    n: int | None = None,
    *,
    max_errors: int = MAX_ERRORS,
    command: str = "tamperscope",
) -> Path:
    """Write the gallery of ``store`` to ``out_html`` and its data folder (see the module doc); returns the page.

    Parameters
    ----------
    artifacts_dir : path or None
        The previews folder; None: the one the store records, else ``<store>.artifacts``.
    n : int or None
        Show only the ``n`` most suspicious images (None: all).
    command : str
        How the page tells the reader to call tamperscope (in the command that writes a missing report).
    """
    target = Path(out_html)
    if artifacts_dir is not None:
        root = Path(artifacts_dir)
        if not root.is_dir():
            raise InputError(f"artifacts folder {root} does not exist or is not a folder")
    else:
        root = store.artifacts_folder() or default_folder(store.path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    data_root = gallery_folder(target)
    build = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    staging = data_root / f".{build}.part"
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir(parents=True)
        facts = _write_data(store, staging, root, n)
        os.replace(staging, data_root / build)
        with part.open("w", encoding="utf-8") as handle:
            for piece in _page(store, target, root, data_root, build, facts, max_errors, command):
                handle.write(piece)
        os.replace(part, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)
    _remove_old_builds(data_root, keep=build)
    return target


def _remove_old_builds(data_root: Path, keep: str) -> None:
    """Remove the data of the pages this one replaced (only folders named as builds are)."""
    try:
        entries = list(data_root.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name != keep and re.fullmatch(r"\.?\d{8}-\d{6}-[0-9a-f]{6}(\.part)?", entry.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


class _Files:
    """Which preview files exist, one listing per shard folder (a stat per image would cost more at 10^6)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listed: dict[str, set[str]] = {}

    def has(self, name: str) -> bool:
        shard, _, file = name.partition("/")
        if shard not in self._listed:
            try:
                self._listed[shard] = {entry.name for entry in os.scandir(self.root / shard)}
            except OSError:
                self._listed[shard] = set()
        return file in self._listed[shard]


def _write_data(store: ResultStore, folder: Path, root: Path, n: int | None) -> dict:
    """Write the row files and ``index.js`` into ``folder``; returns what the page needs to know about them."""
    names = detector_titles()
    files = _Files(root)
    reports = written_reports(store)
    by_label: dict[str, list[int]] = {}
    by_detector: dict[str, list[int]] = {}
    total = scored = 0
    batch: list[Row] = []

    def flush(number: int, rows: list[Row]) -> None:
        paths = paths_for(store, [row.sha256 for row in rows])
        previews = store.previews([row.sha256 for row in rows])
        data = [_row_data(row, paths.get(row.sha256) or [row.path], previews.get(row.sha256), files, reports, names)
                for row in rows]
        _write_script(folder / f"rows-{number:05d}.js", f"tamperscopeGallery.rows({number}, ", data)

    limit = None if n is None else max(0, int(n))
    for row in store.rows(order="score", status="done", limit=limit):
        rank = total
        total += 1
        if row.score is not None:
            scored += 1
        by_label.setdefault(row.label or "", []).append(rank)
        for name in _flagging(row):
            by_detector.setdefault(name, []).append(rank)
        batch.append(row)
        if len(batch) == CHUNK_ROWS:
            flush(rank // CHUNK_ROWS, batch)
            batch = []
    if batch:
        flush((total - 1) // CHUNK_ROWS, batch)
    _write_script(folder / "index.js", "tamperscopeGallery.index(", {"label": by_label, "detector": by_detector})
    labels = [{"key": key, "words": LABEL_WORDS.get(key, key or "no label"),
               "cls": _LABEL_CLASS.get(key, "inconclusive"), "count": len(ranks)}
              for key, ranks in sorted(by_label.items(), key=lambda item: -len(item[1]))]
    detectors = [{"key": key, "title": names.get(key, key), "count": len(ranks)}
                 for key, ranks in sorted(by_detector.items(), key=lambda item: (-len(item[1]), item[0]))]
    return {"total": total, "scored": scored, "labels": labels, "detectors": detectors,
            "reports": len(reports)}


def _flagging(row: Row) -> list[str]:
    """The detectors that flag ``row``: a score of at least :data:`FLAG_SCORE`, or support for one of its regions."""
    found = {name for name, value in (row.detectors or {}).items()
             if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= FLAG_SCORE}
    for region in row.regions or []:
        if isinstance(region, dict):
            found.update(name for name in region.get("detectors") or [] if isinstance(name, str))
    return sorted(found)


def _row_data(row: Row, paths: list[str], preview, files: _Files, reports: set[str], names: dict[str, str]) -> list:
    """One card's data: [sha, label, score words, facts, paths, path count, preview kind, mask, boxes, width,
    height, report written, why no preview]."""
    kind, mask, boxes, width, height, missing = None, 0, [], 0, 0, 1
    if preview is not None:
        kind, mask, boxes, width, height = preview.kind, int(preview.mask), preview.boxes, preview.width, preview.height
    elif row.artifact == _legacy_name(row.sha256):  # a scan made with --artifacts before previews had a table
        kind = "overlay"
    if kind is not None:
        if files.has(image_name(row.sha256)):
            missing = 0
            mask = int(bool(mask) and files.has(mask_name(row.sha256)))
        else:
            kind, mask, boxes, missing = None, 0, [], 2
    score = "no score" if row.score is None else f"score {row.score:.2f} ({strength_words(row.score)} evidence)"
    return [row.sha256, row.label or "", score, f"{_regions(row)} \u00b7 {_detectors(row, names)}",
            [visible(path) for path in paths[:MAX_PATHS_SHOWN]], len(paths), kind, mask, boxes, width, height,
            int(row.sha256 in reports), missing]


def _legacy_name(sha256: str) -> str | None:
    try:
        return image_name(sha256)
    except ValueError:
        return None


def _write_script(path: Path, call: str, data) -> None:
    # ensure_ascii: the JSON is plain ASCII, so no character of a file name can end the script or the string.
    path.write_text(call + json.dumps(data, ensure_ascii=True, separators=(",", ":")) + ");\n", encoding="ascii")


def _url_to(folder: Path, page_folder: Path) -> str:
    """A URL from the page's folder to ``folder``, ending in '/': relative where possible (both can move together)."""
    try:
        relative = os.path.relpath(folder.absolute(), page_folder.absolute())
    except ValueError:  # another drive: only an absolute URL reaches it
        return folder.absolute().as_uri().rstrip("/") + "/"
    parts = [quote(part) for part in Path(relative).parts if part != "."]
    return "".join(part + "/" for part in parts)


def _page(store: ResultStore, target: Path, root: Path, data_root: Path, build: str, facts: dict, max_errors: int,
          command: str) -> Iterator[str]:
    counts = store.counts()
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    page_folder = target.parent
    reports = reports_folder(store)  # where `tamperscope results report` writes them
    meta = {
        "total": facts["total"], "scored": facts["scored"], "pageSize": PAGE_SIZE, "chunkRows": CHUNK_ROWS,
        "data": _url_to(data_root / build, page_folder), "dataFolder": data_root.name,
        "previews": _url_to(root, page_folder) if root.is_dir() else None,
        "reports": _url_to(reports, page_folder), "reportPage": REPORT_PAGE,
        # Absolute: the reader may run the command, or look for the file, from anywhere.
        "reportsShown": str(reports.absolute()) + os.sep,
        "reportCommand": f"{command} results report --db {shlex.quote(str(store.path.absolute()))}",
        "labels": facts["labels"], "detectors": facts["detectors"], "noPreview": _NO_PREVIEW,
    }
    # The meta JSON sits in the page: '<', '>' and '&' escaped so that no text in it can close the element.
    meta_json = json.dumps(meta, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; script-src 'self' 'sha256-{script_hash}'; img-src 'self' data:; "
           "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")

    yield "<!DOCTYPE html>\n"
    yield '<html lang="en"><head><meta charset="utf-8">\n'
    yield f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">\n'
    yield '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    yield '<meta name="referrer" content="no-referrer">\n<link rel="icon" href="data:,">\n'
    yield f"<title>Scan results: {_text(store.path.name)} - tamperscope</title>\n"
    yield f"<style>{_CSS}</style></head><body><main>\n"

    yield "<header>"
    yield '<p class="kicker">Scan results &middot; tamperscope</p>'
    yield f"<h1>{_text(store.path.name)}</h1>"
    yield (f'<p class="meta">Results database <span class="mono">{_text(store.path)}</span> &middot; '
           f"page made {escape(generated)}</p>")
    yield "</header>\n"

    yield '<section id="summary" aria-label="Summary"><h2>Summary</h2><div class="counts">'
    yield _count(counts.get("images", 0), "images (distinct contents)", "")
    for label in facts["labels"]:
        yield _count(label["count"], label["words"].lower() if label["key"] in LABEL_WORDS else label["words"],
                     label["cls"])
    yield _count(counts.get("error", 0), "errors (not analysed)", "error")
    yield _count(counts.get("paths", 0), "paths (file names)", "")
    yield "</div>"
    yield ('<p class="note">Each distinct file content is analysed once; a copy under another name adds a path, '
           "not an image. A verdict of &ldquo;edited&rdquo; is a lead for a human check, not proof; "
           "&ldquo;no evidence found&rdquo; means the detectors that ran found none, which is not proof of "
           "authenticity; &ldquo;authentic&rdquo; needs evidence (an intact publisher watermark, trusted Content "
           "Credentials of a capture, or a calibrated probability of manipulation below the stated level).</p>")
    yield "</section>\n"

    yield '<section id="images" aria-label="Images"><h2>Images, most suspicious first</h2>'
    yield ('<p class="note">Score: the manipulation score, from 0 to 1: the calibrated probability that the image '
           "was manipulated where the fusion is calibrated, else the strongest single detector's score. "
           "A preview with a region shows the detectors' heatmap over the image, the mask outlined and the largest "
           "regions boxed; the others are plain thumbnails. A card opens the image's full report.</p>")
    yield '<div class="controls" role="group" aria-label="Filters">'
    yield '<label>Verdict<select id="label"><option value="">All verdicts</option>'
    for label in facts["labels"]:
        yield (f'<option value="{escape(label["key"])}">{_text(label["words"])} '
               f'({label["count"]:,})</option>')
    yield "</select></label>"
    yield '<label>Detector<select id="detector"><option value="">Any detector</option>'
    for detector in facts["detectors"]:
        yield (f'<option value="{escape(detector["key"])}">{_text(detector["title"])} '
               f'({detector["count"]:,})</option>')
    yield "</select></label>"
    yield ('<label>Order<select id="order"><option value="desc">Highest score first</option>'
           '<option value="asc">Lowest score first</option></select></label>')
    yield ('<div class="pager" role="navigation" aria-label="Pages"><button type="button" id="first">First</button>'
           '<button type="button" id="previous">Previous</button><label>Page<input id="page" type="number" min="1" '
           'value="1"></label><span id="pages"></span><button type="button" id="next">Next</button>'
           '<button type="button" id="last">Last</button></div>')
    yield "</div>"
    yield (f'<p class="note">A detector flags an image when its score is at least {FLAG_SCORE:.1f} or it supports '
           "one of its regions.</p>")
    yield '<p id="shown" aria-live="polite"></p><div id="grid" class="grid"></div>'
    yield ('<noscript><p>This page draws its cards with its own script (it loads nothing from the network); '
           "<code>tamperscope results top</code> lists the same images in a terminal.</p></noscript>")
    yield "</section>\n"

    total_errors = counts.get("error", 0)
    yield f'<section id="errors" aria-label="Errors"><h2>Errors ({total_errors:,})</h2>'
    if not total_errors:
        yield "<p>Every file was analysed.</p>"
    else:
        yield "<table><thead><tr><th>Path</th><th>Kind</th><th>Message</th></tr></thead><tbody>\n"
        for row in error_rows(store, limit=max(0, max_errors)):
            yield (f'<tr><td class="mono">{_text(row.path)}</td><td class="kind">{_text(row.error_kind or "")}</td>'
                   f"<td>{_text(row.error or '')}</td></tr>\n")
        yield "</tbody></table>"
        if total_errors > max_errors:
            yield (f'<p class="note">{total_errors - max_errors:,} more errors are not listed here; '
                   "<code>tamperscope results export --csv</code> writes them all.</p>")
    yield "</section>\n"

    yield ('<footer><p class="small">Made offline by tamperscope from a scan database; this page loads nothing '
           f"from the network. Keep it beside <span class=\"mono\">{_text(data_root.name)}/</span>, its data. "
           "</p></footer>\n")
    yield f'<script type="application/json" id="gallery-meta">{meta_json}</script>\n'
    yield f"<script>{_SCRIPT}</script>\n"
    yield "</main></body></html>\n"


def _count(value: int, words: str, cls: str) -> str:
    return f'<div class="count {escape(cls)}"><b>{value:,}</b><span>{_text(words)}</span></div>'


def _regions(row: Row) -> str:
    count = len(row.regions or [])
    if count >= TOP_REGIONS:
        return f"{count}+ regions"
    return "no region" if count == 0 else f"{count} region" + ("s" if count > 1 else "")


def _detectors(row: Row, names: dict[str, str]) -> str:
    best = top_detectors(row)
    if not best:
        return "detector scores all 0.00" if top_detectors(row, min_score=0.0) else "no detector decided"
    return ", ".join(f"{visible(names.get(name, name))} {score:.2f}" for name, score in best)


def _text(value: object) -> str:
    return escape(visible(value))


__all__ = ["CHUNK_ROWS", "DEFAULT_REPORTS", "FLAG_SCORE", "LABEL_WORDS", "MAX_ERRORS", "PAGE_SIZE", "gallery_folder",
           "write_gallery"]
