"""The comparison's explanation: sentences built only from its facts, each citing the facts it rests on.

Fact ids: ``cmp:alignment``, ``cmp:overlap``, ``cmp:tone``, ``cmp:noise``,
``cmp:decision``, ``cmp:region:N``, ``cmp:hints`` (the blocks of the
comparison report), ``original:...`` and ``suspect:...`` (the two files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..report.explain import Explanation, Section, Sentence, location_words
from .changes import WINDOW

if TYPE_CHECKING:  # pragma: no cover
    from .report import Comparison


def explain_comparison(c: "Comparison") -> Explanation:
    sections = [Section("Verdict", _verdict(c))]
    if c.label != "not-comparable":
        sections.append(Section("Where", _where(c)))
        sections.append(Section("What was discounted", _discounted(c)))
    if c.hints:
        sections.append(Section("Which looks earlier (hints, not the verdict)", _hints(c)))
    sections.append(Section("Caveats", _caveats(c)))
    return Explanation(sections)


def _verdict(c: "Comparison") -> list[Sentence]:
    if c.label == "not-comparable":
        return [Sentence(f"The two images are not comparable: {c.reason}", ["cmp:alignment"])]
    al = c.alignment
    how = (f"The suspect was aligned to the original with a {al.model} map (scale {al.scale:.2f}, rotation "
           f"{_angle(al.rotation_deg)} degrees{', mirrored' if al.mirrored else ''}) that {al.inliers} keypoint "
           f"matches agree on.")
    first = Sentence(how, ["cmp:alignment"])
    decision = c.decision
    if c.label == "unchanged":
        text = ("Beyond that map, the global colour and tone model and the re-compression and resampling noise "
                "modelled from the pair, no region differs more than benign processing does: the threshold, "
                f"calibrated on benign pairs, is a statistic of {decision.get('threshold', 0):.0f}, and the "
                f"strongest candidate reached {decision.get('largest_candidate', 0):.0f}.")
        return [first, Sentence(text, ["cmp:decision", "cmp:tone", "cmp:noise"])]
    kinds = {}
    for region in c.regions:
        kinds[region.kind] = kinds.get(region.kind, 0) + 1
    listed = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    many = len(c.regions) != 1
    text = (f"{len(c.regions)} region{'s' if many else ''} of the suspect {'differ' if many else 'differs'} from the "
            "original "
            f"beyond resizing, cropping, re-compression and global colour changes ({listed}), covering "
            f"{sum(r.share for r in c.regions):.1%} of the suspect.")
    return [first, Sentence(text, ["cmp:decision", *(f"cmp:region:{r.id}" for r in c.regions)])]


def _angle(degrees: float) -> str:
    """A rotation to one decimal, without a negative zero."""
    rounded = round(degrees, 1)
    return "0.0" if rounded == 0 else f"{rounded:+.1f}"


def _where(c: "Comparison") -> list[Sentence]:
    if not c.regions:
        return [Sentence("No region is outlined.", ["cmp:decision"])]
    height, width = c.mask.shape
    sentences = []
    for r in c.regions:
        x, y, w, h = r.bbox_suspect
        in_original = ""
        if r.bbox_original is not None:
            ox, oy, ow, oh = r.bbox_original
            in_original = f"; the same place in the original is {ow}x{oh} px at ({ox}, {oy})"
        why = {
            "added": f"the suspect has {r.detail_suspect / max(r.detail_original, 1e-6):.1f} times the original's "
                     "fine detail there: something was added",
            "removed": f"the original has {r.detail_original / max(r.detail_suspect, 1e-6):.1f} times the suspect's "
                       "fine detail there: something was removed and the gap filled",
            "replaced": "the content differs at a similar level of detail: something was replaced",
            "recoloured": "the same structure with other colours or tones" + (
                f" (detail correlation {r.structure:.2f})" if r.structure is not None else " (flat in both)"),
        }[r.kind]
        sentences.append(Sentence(
            f"Region {r.id} ({r.kind}), in {location_words((x, y, w, h), (height, width))}: {w}x{h} px at ({x}, {y}) "
            f"in the suspect, {r.share:.1%} of it{in_original}; {why}. Its statistic is {r.mass:.0f} (threshold "
            f"{c.decision.get('threshold', 0):.0f}), with a median normalised difference of {r.median_z:.1f} times "
            "the benign level.",
            [f"cmp:region:{r.id}", "cmp:decision"],
        ))
    return sentences


def _discounted(c: "Comparison") -> list[Sentence]:
    return [Sentence(item["detail"], [item["id"]]) for item in c.discounted]


def _hints(c: "Comparison") -> list[Sentence]:
    return [Sentence(h.fact, ["cmp:hints"]) for h in c.hints]


def _caveats(c: "Comparison") -> list[Sentence]:
    sentences = [Sentence(
        "The comparison shows what differs between the two files; it does not say which one is authentic, and a "
        "change made before the earlier of the two was published leaves no difference.", [])]
    if c.label == "not-comparable":
        return sentences
    facts = c.overlap_facts
    if facts.get("share_of_suspect", 1.0) < 0.99:
        sentences.append(Sentence(
            f"Only {facts['share_of_suspect']:.0%} of the suspect is covered by the original; the rest was not "
            "compared.", ["cmp:overlap"]))
    factor = c.analysis.get("factor", 1.0)
    narrowest = WINDOW / 2 / factor
    if factor < 0.999:
        sentences.append(Sentence(
            f"The pair was compared at {c.analysis['width']}x{c.analysis['height']} px, {factor:.0%} of the "
            f"suspect's size.", ["cmp:decision"]))
    sentences.append(Sentence(
        f"A change narrower than about {narrowest:.0f} suspect pixels (a thin line, a small text edit) cannot fill "
        "most of the comparison window and is not outlined; it may still show in the heatmap.", ["cmp:decision"]))
    if c.decision.get("candidates_below_threshold"):
        sentences.append(Sentence(
            f"{c.decision['candidates_below_threshold']} smaller or weaker differences stayed below the threshold "
            "and are not outlined (they are in the heatmap).", ["cmp:decision"]))
    if c.mask is not None and c.regions and sum(r.share_of_overlap for r in c.regions) > 0.5:
        sentences.append(Sentence(
            "Most of the overlap differs: the two may be different photographs of one scene rather than versions "
            "of one picture.", ["cmp:decision"]))
    return sentences
