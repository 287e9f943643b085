"""The report as Markdown: the HTML report's content, with the images as the PNG files beside it.

``report.md`` is written into the report folder next to ``overlay.jpg`` and
``layers/NAME.png`` and links them by relative path, so the folder can be
zipped, attached or committed as is. Text from the file (its name, metadata
quoted by the explanation) is escaped both as HTML (``<`` ``>`` ``&``, since
Markdown renderers pass raw HTML through) and as Markdown punctuation.

Nothing forensic happens here; the page presents a :class:`~tamperscope.report.Report`.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from . import present as _present

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Report

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]{}|!#~])")


def md(text: object) -> str:
    """One line of inline Markdown showing ``text`` literally, whatever it contains."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=False))


def _ids(ids: list[str]) -> str:
    # Evidence ids are made by tamperscope (ev:NAME, image:FIELD), never read from the file.
    return "".join(f" `{ident.replace('`', '')}`" for ident in ids)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_report(report: Report) -> str:
    """The report in Markdown (see the module doc)."""
    image = report.image
    up_w, up_h = _present.upright_size(report)
    names = _present.titles(report)
    artifacts = report.artifacts
    out: list[str] = []
    add = out.append

    add(f"# Image forensics report: {md(_present.display_name(report))}")
    add("")
    add(f"{md(image.format)}, {up_w} x {up_h} pixels · analysed {md(report.analyzed_at)} · "
        f"SHA-256 `{image.sha256}` · tamperscope")
    add("")
    add(f"## Verdict: {md(report.label_words)}")
    add("")
    for sentence in _present.verdict_sentences(report):
        add(f"> **{md(sentence.text)}**{_ids(sentence.evidence)}")
        add(">")
    add(f"> {md(_present.score_line(report))}")
    add("")
    add("- Automated detectors looked for traces that editing leaves in a file (compression history, the JPEG block "
        "grid, noise). Their findings are leads for a human check, not proof either way.")
    add("- The heatmap over the photo shows where they found traces; outlines mark the regions listed under Regions.")
    add("- Every statement in the Explanation is tagged with the evidence it rests on (`ev:NAME` rows of the Evidence "
        "table, `image:FIELD` rows of the file table).")
    add("")

    add("## Where: the photo with the detectors' heatmap")
    add("")
    overlay = artifacts.get("overlay", "overlay.jpg")
    add(f"![Fused heatmap over the upright photo, regions outlined]({overlay})")
    add("")
    add(f"{md(_present.FUSED_MAP_WORDS[0].upper() + _present.FUSED_MAP_WORDS[1:])}. Colour runs from dark "
        "(0) to bright yellow (1).")
    add("")
    add("Each detector's own map:")
    add("")
    for item in report.evidence:
        title = md(names.get(item.detector, item.detector))
        key = f"layer:{item.detector}"
        path = artifacts.get(key) if artifacts else f"layers/{item.detector}.png"
        if item.heatmap is None:
            status = _present.STATUS_WORDS.get(item.status, item.status)
            add(f"- **{title}**: no map ({md(status)})")
            continue
        score = "map only, no decision" if item.score is None else f"score {item.score:.2f}"
        if path is None:
            add(f"- **{title}** ({score}): map not written beside this report")
        else:
            add(f"- **{title}** ({score}): ![{title} map]({path})")
    add("")

    add("## Regions")
    add("")
    rows = _present.regions(report)
    if rows:
        add(_row("Region", "Location", "Share of image", "Box (as shown)", "Detectors that mark it"))
        add(_row(*["---"] * 5))
        for row in rows:
            box = md(row.bbox) + (f" (stored pixels: {md(row.stored_bbox)})" if row.stored_bbox else "")
            detectors = ", ".join(md(title) for _, title in row.detectors) or "fused map only"
            add(_row(f"**{md(row.id)}**", md(row.location), md(row.share), box,
                     detectors + _ids([ident for ident, _ in row.detectors])))
    else:
        add("No region was marked.")
    add("")

    pairs = _present.clone_pairs(report)
    if pairs:
        add("### Cloned areas (copy-move)")
        add("")
        add(_row("Detector", "Area", "Reappears as", "Transform", "Support"))
        add(_row(*["---"] * 5))
        for pair in pairs:
            add(_row(md(pair.detector) + _ids([pair.evidence_id]), md(pair.source), md(pair.target),
                     md(pair.transform), md(pair.support)))
        add("")
        add("Boxes in stored pixels; which area is the original cannot be told.")
        add("")

    add("## Explanation")
    add("")
    add("Each statement is built from the evidence alone; the tags name what it rests on.")
    add("")
    for section in report.explanation.sections:
        add(f"### {md(section.title)}")
        add("")
        if not section.sentences:
            if section.title == "Where" and report.label not in {"edited", "ai-edited"}:
                add("Nothing to locate: regions are only reported when the verdict is edited or ai-edited.")
            else:
                add("Nothing to report.")
        for sentence in section.sentences:
            add(f"- {md(sentence.text)}{_ids(sentence.evidence)}")
        add("")
    story = _present.narrative(report)
    if story is not None:
        heading, text = story
        add(f"### {md(heading)}")
        add("")
        add(md(text))
        add("")

    add("## Evidence")
    add("")
    add(_row("Detector", "Status", "Score", "Notes", "Reason"))
    add(_row(*["---"] * 5))
    for row in _present.evidence(report):
        add(_row(f"**{md(row.title)}** `{row.id}` v{md(row.version)}", md(row.status), md(row.score),
                 " ".join(md(note) for note in row.notes), md(row.reason)))
    add("")
    add("Scores run from 0 (no evidence) to 1; words: 0.3 weak, 0.5 moderate, 0.7 strong, 0.9 very strong. "
        "Not calibrated probabilities.")
    add("")

    add("## File metadata and provenance")
    add("")
    add(_row("Field", "Value", "Evidence ids"))
    add(_row("---", "---", "---"))
    for label, value, ids in _present.file_facts(report):
        add(_row(md(label), md(value), _ids(ids).strip()))
    add("")

    add("## Reproducibility")
    add("")
    for key, value in _present.reproducibility(report):
        add(f"- **{md(key)}**: {md(value)}")
    add("")
    add(_row("Detector", "Version", "Parameters"))
    add(_row("---", "---", "---"))
    for detector, version, params in _present.detector_params(report):
        add(_row(md(detector), md(version), md(params)))
    add("")
    return "\n".join(out)
