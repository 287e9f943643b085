"""A scan's results as one self-contained HTML page: counts, the most suspicious images, the errors.

:func:`write_gallery` writes a single file that loads nothing: the overlay
thumbnails the scan wrote (``scan(..., artifacts=DIR)``, JPEGs of at most 512
pixels) are embedded as ``data:`` URIs, the CSS is inline, there is no script,
and a Content-Security-Policy forbids every other request, as in the single-image
report (:mod:`tamperscope.report.html`).

Paths, error messages and every other string from the store went through a scanned
file, so they are attacker-controlled: each is passed through
:func:`~tamperscope.scan.results.visible` (control and bidi characters shown as
escapes) and :func:`html.escape`. A thumbnail is only read from inside the
artifacts folder, only if it is a JPEG, and only up to a size cap. Large ``n``
stays bounded: the first :data:`MAX_THUMBNAILS` images get a card with their
thumbnail, the rest a table row, and at most :data:`MAX_ERRORS` errors are listed.
The page is written as it is built, to a ``.part`` file renamed at the end.
"""

from __future__ import annotations

import base64
import os
import time
from html import escape
from pathlib import Path

from ..report.present import score_text
from ..errors import InputError, OutputError
from ..report.explain import strength_words
from .results import errors as error_rows
from .results import detector_titles, paths_for, top, top_detectors, visible
from .store import ResultStore, Row
from .worker import TOP_REGIONS

#: Images shown as cards with an embedded thumbnail; the rest of the top ``n`` are table rows.
MAX_THUMBNAILS = 200
#: Largest thumbnail file embedded (the scan writes ~20-80 KB JPEGs).
MAX_THUMBNAIL_BYTES = 1 << 20
#: Errors listed in the page (the count is always complete).
MAX_ERRORS = 1000
#: Paths listed per image (the rest are counted).
MAX_PATHS_SHOWN = 5

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_BADGES = {"edited": "Edited", "ai-generated": "AI-generated", "ai-edited": "AI-edited", "authentic": "No evidence found", "inconclusive": "Inconclusive"}

# The palette and type of the single-image report (report/html.py), for a page that reads as its sibling.
_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --paper: #ffffff; --page: #f6f8fa;
  --edited: #a40e26; --edited-bg: #ffebe9; --authentic: #1a7f37; --authentic-bg: #dafbe1;
  --inconclusive: #59636e; --inconclusive-bg: #eaeef2; --error: #9a6700; --error-bg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 24px 40px; }
section, footer { background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 22px; margin: 0 0 18px; }
header { margin-bottom: 16px; }
h1 { font-size: 26px; margin: 2px 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 0 0 10px; }
p { margin: 6px 0; }
.kicker { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .08em; margin: 0; }
.meta, .note, .small { color: var(--muted); font-size: 13px; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
  overflow-wrap: anywhere; }
.counts { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; margin: 4px 0 8px; }
.count { border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.count b { display: block; font-size: 24px; line-height: 1.2; }
.count span { color: var(--muted); font-size: 13px; }
.count.edited { border-left-color: var(--edited); } .count.edited b { color: var(--edited); }
.count.authentic { border-left-color: var(--authentic); } .count.authentic b { color: var(--authentic); }
.count.inconclusive { border-left-color: var(--inconclusive); }
.count.error { border-left-color: var(--error); } .count.error b { color: var(--error); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; overflow: hidden; background: var(--paper);
  display: flex; flex-direction: column; }
.card.edited { border-top: 5px solid var(--edited); }
.card.authentic { border-top: 5px solid var(--authentic); }
.card.inconclusive { border-top: 5px solid var(--inconclusive); }
.thumb { height: 210px; background: #111; display: flex; align-items: center; justify-content: center;
  line-height: 0; }
.thumb img { max-width: 100%; max-height: 100%; display: block; }
.thumb.none { background: var(--inconclusive-bg); color: var(--muted); font-size: 13px; line-height: 1.4;
  padding: 12px; text-align: center; }
.card .body { padding: 10px 12px 12px; }
.card .head { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; margin: 0 0 4px; }
.rank { color: var(--muted); font-size: 13px; }
.badge { display: inline-block; font-size: 12.5px; font-weight: 700; padding: 0 8px; border-radius: 10px;
  background: var(--inconclusive-bg); color: var(--inconclusive); }
.badge.edited { background: var(--edited-bg); color: var(--edited); }
.badge.authentic { background: var(--authentic-bg); color: var(--authentic); }
.score { font-weight: 600; }
.facts { font-size: 13.5px; margin: 2px 0 6px; }
ul.paths { list-style: none; margin: 0; padding: 0; }
ul.paths li { padding: 1px 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px 6px 0; border-bottom: 1px solid var(--line); }
th { font-size: 12.5px; color: var(--muted); font-weight: 600; }
td.num, td.kind { white-space: nowrap; }
h2.more { margin-top: 18px; }
@media print {
  body { background: #fff; }
  section, footer, .card { break-inside: avoid; border-color: #bbb; }
}
""".strip()


def write_gallery(
    store: ResultStore,
    out_html: str | Path,
    artifacts_dir: str | Path | None = None,
    n: int = 100,
    *,
    max_thumbnails: int = MAX_THUMBNAILS,
    max_errors: int = MAX_ERRORS,
) -> Path:
    """Write the gallery of ``store`` to ``out_html`` (one self-contained page); returns its path.

    Parameters
    ----------
    artifacts_dir : path or None
        The folder the scan wrote its overlay thumbnails to (``scan(..., artifacts=)``);
        without it every image gets a placeholder.
    n : int
        How many of the most suspicious images to show.
    """
    target = Path(out_html)
    root = None if artifacts_dir is None else Path(artifacts_dir)
    if root is not None and not root.is_dir():
        raise InputError(f"artifacts folder {root} does not exist or is not a folder")
    part = target.with_name(target.name + ".part")
    try:
        if target.is_dir():
            raise OutputError(f"cannot write {target}: it is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        with part.open("w", encoding="utf-8") as handle:
            for chunk in _page(store, root, n, max_thumbnails, max_errors):
                handle.write(chunk)
        os.replace(part, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)
    return target


def _page(store: ResultStore, root: Path | None, n: int, max_thumbnails: int, max_errors: int):
    counts = store.counts()
    ranked = top(store, n)
    paths = paths_for(store, [row.sha256 for row in ranked])
    names = detector_titles()
    analysed = counts["images"] - counts.get("error", 0)
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    yield "<!DOCTYPE html>\n"
    yield '<html lang="en"><head><meta charset="utf-8">\n'
    yield f'<meta http-equiv="Content-Security-Policy" content="{escape(_CSP)}">\n'
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

    # Summary.
    yield '<section id="summary" aria-label="Summary"><h2>Summary</h2><div class="counts">'
    boxes = [("images", "images (distinct contents)", ""), ("edited", "edited", "edited"),
             ("authentic", "no evidence found", "authentic"), ("inconclusive", "inconclusive", "inconclusive"),
             ("error", "errors (not analysed)", "error"), ("paths", "paths (file names)", "")]
    for key, words, cls in boxes:
        yield f'<div class="count {cls}"><b>{counts.get(key, 0):,}</b><span>{escape(words)}</span></div>'
    yield "</div>"
    yield ('<p class="note">Each distinct file content is analysed once; a copy under another name adds a path, '
           "not an image. A verdict of &ldquo;edited&rdquo; is a lead for a human check, not proof; "
           "&ldquo;no evidence found&rdquo; means the detectors that ran found none.</p>")
    yield "</section>\n"

    # The most suspicious images.
    yield '<section id="top" aria-label="Most suspicious images">'
    yield f"<h2>Most suspicious images ({len(ranked):,} of {analysed:,} analysed)</h2>"
    yield ('<p class="note">Highest manipulation score first: the strongest single detector\'s score, from 0 (no '
           "evidence) to 1, not a calibrated probability. Thumbnails show the detectors' heatmap over the image; "
           "regions counted are the largest ones the scan kept.</p>")
    if not ranked:
        yield "<p>No analysed image in this database.</p>"
    cards, rest = ranked[:max(0, max_thumbnails)], ranked[max(0, max_thumbnails):]
    if cards:
        yield '<div class="grid">\n'
        for rank, row in enumerate(cards, 1):
            yield _card(rank, row, paths.get(row.sha256) or [row.path], root, names) + "\n"
        yield "</div>\n"
    if rest:
        yield (f'<h2 class="more">Further images, without thumbnails</h2><p class="note">Only the first '
               f"{max_thumbnails:,} images embed a thumbnail, to keep this page a reasonable size.</p>")
        yield ("<table><thead><tr><th>#</th><th>Verdict</th><th>Score</th><th>Regions</th><th>Top detectors</th>"
               "<th>Path(s)</th></tr></thead><tbody>\n")
        for rank, row in enumerate(rest, len(cards) + 1):
            yield (f'<tr><td class="num">{rank}</td><td>{_badge(row.label)}</td><td class="num">'
                   f"{escape(score_text(row.score))}</td><td>{escape(_regions(row))}</td>"
                   f"<td>{escape(_detectors(row, names))}</td>"
                   f"<td>{_path_list(paths.get(row.sha256) or [row.path])}</td></tr>\n")
        yield "</tbody></table>\n"
    yield "</section>\n"

    # Errors.
    total_errors = counts.get("error", 0)
    yield f'<section id="errors" aria-label="Errors"><h2>Errors ({total_errors:,})</h2>'
    if not total_errors:
        yield "<p>Every file was analysed.</p>"
    else:
        yield ("<table><thead><tr><th>Path</th><th>Kind</th><th>Message</th></tr></thead><tbody>\n")
        for row in error_rows(store, limit=max(0, max_errors)):
            yield (f'<tr><td class="mono">{_text(row.path)}</td><td class="kind">{_text(row.error_kind or "")}</td>'
                   f"<td>{_text(row.error or '')}</td></tr>\n")
        yield "</tbody></table>"
        if total_errors > max_errors:
            yield (f'<p class="note">{total_errors - max_errors:,} more errors are not listed here; '
                   "<code>tamperscope results export --csv</code> writes them all.</p>")
    yield "</section>\n"

    yield ('<footer><p class="small">Made offline by tamperscope from a scan database; this page loads nothing '
           "from the network. Analyse one image in full with <code>tamperscope analyze FILE -o OUT "
           "--report html</code>.</p></footer>\n")
    yield "</main></body></html>\n"


def _card(rank: int, row: Row, paths: list[str], root: Path | None, names: dict[str, str]) -> str:
    label = row.label or "inconclusive"
    uri, why = _thumbnail(root, row.artifact)
    first = os.path.basename(paths[0]) if paths else row.path
    if uri:
        thumb = f'<div class="thumb"><img src="{uri}" alt="Heatmap overlay of {_text(first)}"></div>'
    else:
        thumb = f'<div class="thumb none">{escape(why)}</div>'
    score = "no score" if row.score is None else f"score {row.score:.2f} ({strength_words(row.score)} evidence)"
    return (
        f'<article class="card {escape(_label_class(label))}">{thumb}<div class="body">'
        f'<p class="head"><span class="rank">#{rank}</span>{_badge(row.label)}'
        f'<span class="score">{escape(score)}</span></p>'
        f'<p class="facts">{escape(_regions(row))} &middot; {escape(_detectors(row, names))}</p>'
        f"{_path_list(paths)}"
        f'<p class="small mono" title="SHA-256">{escape(row.sha256[:16])}&hellip;</p></div></article>'
    )


def _thumbnail(root: Path | None, name: str | None) -> tuple[str | None, str]:
    """(data URI, "") of the artifact ``name`` under ``root``, or (None, why there is none)."""
    if root is None:
        return None, "No thumbnail: no artifacts folder given"
    if not name:
        return None, "No thumbnail: the scan wrote none for this image"
    base = root.resolve()
    target = (base / name).resolve()
    if not target.is_relative_to(base):  # a stored name must not read outside the folder
        return None, "No thumbnail: its stored name points outside the artifacts folder"
    try:
        if not target.is_file():
            return None, "No thumbnail: file missing from the artifacts folder"
        if target.stat().st_size > MAX_THUMBNAIL_BYTES:
            return None, "No thumbnail: file too large to embed"
        data = target.read_bytes()
    except OSError:
        return None, "No thumbnail: file unreadable"
    if not data.startswith(b"\xff\xd8\xff"):
        return None, "No thumbnail: the file is not a JPEG"
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"), ""


def _badge(label: str | None) -> str:
    key = label or "inconclusive"
    return f'<span class="badge {escape(_label_class(key))}">{escape(_BADGES.get(key, key))}</span>'


def _label_class(label: str) -> str:
    return label if label in _BADGES else "inconclusive"


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


def _path_list(paths: list[str]) -> str:
    items = "".join(f"<li>{_text(path)}</li>" for path in paths[:MAX_PATHS_SHOWN])
    if len(paths) > MAX_PATHS_SHOWN:
        items += f'<li class="small">and {len(paths) - MAX_PATHS_SHOWN:,} more paths</li>'
    return f'<ul class="paths mono">{items}</ul>'


def _text(value: object) -> str:
    return escape(visible(value))


__all__ = ["MAX_ERRORS", "MAX_THUMBNAILS", "MAX_THUMBNAIL_BYTES", "write_gallery"]
