"""Grounded explanation: sentences built only from the evidence, each citing it.

Unlike the multimodal-LLM explainers of FakeShield (Xu et al., ICLR 2025), SIDA
(Huang et al., CVPR 2025) or LEGION (Kang et al., ICCV 2025), nothing here is
generated: every sentence is a template filled with a detector's output, a fact
read from the file, or a fact about the run, and carries the ids of what it
rests on (``ev:NAME`` for a detector's evidence, ``image:...`` for facts of
the file in the report's ``image`` block). Sections:

* **Verdict**: the label (edited, ai-generated, ai-edited, authentic,
  no-evidence, inconclusive), the evidence that drove it and its calibrated
  probability, and, when provenance decided, that it outranked the pixel
  signals (naming those it overrode). For "no-evidence" and "authentic" it
  says which classes of manipulation applicable detectors looked for and
  which none could.
* **Where**: one sentence per region (location in words, share, box, which
  detectors agree) and one per supporting detector saying what it saw there;
  or, for a manipulation label without a region, why there is none. Only
  for a manipulation label: an image without evidence gets no region claims.
* **Why**: one sentence per detector that ran, with the strength of its
  evidence and its first factual note.
* **Provenance**: what the file says about itself (EXIF camera and software,
  XMP, ICC, text chunks, a Content Credentials manifest).
* **Caveats**: what did not run and why, what the score is not, and what
  conditions weaken the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..image import Image

if TYPE_CHECKING:  # pragma: no cover
    from ..evidence import Evidence
    from ..fusion import Fusion, Region


@dataclass
class Sentence:
    text: str
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "evidence": list(self.evidence)}


@dataclass
class Section:
    title: str
    sentences: list[Sentence]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "sentences": [s.to_dict() for s in self.sentences]}


@dataclass
class Explanation:
    sections: list[Section]

    def to_dict(self) -> dict[str, Any]:
        return {"sections": [s.to_dict() for s in self.sections]}

    def text(self) -> str:
        """Plain text, one paragraph per section."""
        return "\n\n".join(
            f"{section.title}\n" + " ".join(s.text for s in section.sentences)
            for section in self.sections
            if section.sentences
        )


def evidence_id(name: str) -> str:
    return f"ev:{name}"


def strength_words(score: float) -> str:
    """Words for a detector score: the scale every sentence uses."""
    if score >= 0.9:
        return "very strong"
    if score >= 0.7:
        return "strong"
    if score >= 0.5:
        return "moderate"
    if score >= 0.3:
        return "weak"
    return "no"


def location_words(bbox: tuple[int, int, int, int], shape: tuple[int, int]) -> str:
    """Where a box lies, in words, by the third of the image its centre falls in."""
    x, y, w, h = bbox
    height, width = shape
    if w * h >= 0.5 * width * height:
        return "most of the image"
    column = ("left", "centre", "right")[min(2, int(3 * (x + w / 2) / width))]
    row = ("top", "middle", "bottom")[min(2, int(3 * (y + h / 2) / height))]
    if row == "middle" and column == "centre":
        return "the centre of the image"
    if row == "middle":
        return f"the {column} side of the image"
    if column == "centre":
        return f"the {row} centre of the image"
    return f"the {row}-{column} part of the image"


def upright_bbox(bbox: tuple[int, int, int, int], image: Image) -> tuple[int, int, int, int]:
    """A stored-pixel box expressed in the upright view (EXIF orientation applied).

    Arithmetic on the corners, the same flips and transposes as
    :func:`~tamperscope.image.apply_orientation` (tests/test_explain.py checks each
    orientation against it), so a box costs nothing however large the image.
    """
    x, y, w, h = (int(v) for v in bbox)
    height, width = image.pixels.shape[:2]
    flipped_x, flipped_y = width - x - w, height - y - h
    return {
        2: (flipped_x, y, w, h),
        3: (flipped_x, flipped_y, w, h),
        4: (x, flipped_y, w, h),
        5: (y, x, h, w),
        6: (flipped_y, x, h, w),
        7: (flipped_y, flipped_x, h, w),
        8: (y, flipped_x, h, w),
    }.get(image.orientation, (x, y, w, h))


def explain(image: Image, evidence: list[Evidence], fusion: Fusion) -> Explanation:
    """Build the grounded explanation of one analysis."""
    from ..detectors import catalogue as classes_of

    catalogue = classes_of(e.detector for e in evidence)

    def title(name: str) -> str:
        cls = catalogue.get(name)
        return cls.title if cls is not None else name

    sections = [
        Section("Verdict", _verdict(evidence, fusion)),
        Section("Where", _where(image, fusion, catalogue, title) + _clone_pairs(evidence, title)
                + _unlocated(image, evidence, fusion, title) if fusion.label in _CLASS_WORDS else []),
        Section("Why", _why(evidence, title)),
        Section("Provenance", _provenance(image)),
        Section("Caveats", _caveats(image, evidence, fusion, title)),
    ]
    return Explanation(sections)


_CLASS_WORDS = {
    "edited": "Edited: the evidence shows that this image was manipulated",
    "ai-generated": "AI-generated: the evidence shows that this image was made by a generative model",
    "ai-edited": "AI-edited: the evidence shows AI-generated content inside a real image",
}


def _verdict(evidence: list[Evidence], fusion: Fusion) -> list[Sentence]:
    deciding = [e for e in evidence if e.ok and e.score is not None]
    ids = [evidence_id(e.detector) for e in deciding if e.kind != "provenance"]
    drivers = [e for e in deciding if e.detector in fusion.drivers]
    if fusion.label in _CLASS_WORDS or (fusion.label == "authentic" and drivers):
        return _class_sentences(fusion, drivers) + _coverage(evidence, fusion, ids)
    probability = fusion.manipulated
    if fusion.label == "inconclusive":
        if probability is not None and probability >= fusion.params.decision:
            return [Sentence(f"Inconclusive: the evidence conflicts. Manipulation is more likely than not "
                             f"(probability {probability:.2f}), but no one class of manipulation is.", ids)]
        ran = [evidence_id(e.detector) for e in evidence]
        return [Sentence("Inconclusive: no detector that ran could judge this image.", ran)]
    if fusion.label == "authentic":
        head = (f"Authentic: the calibrated probability that this image was manipulated is {probability:.2f}, below "
                f"{fusion.params.authentic_below:.2f}, and applicable detectors looked for every class of "
                "manipulation.")
        return [Sentence(head, ids)] + _coverage(evidence, fusion, ids)
    if probability is not None:
        text = (f"No evidence of manipulation: the calibrated probability that this image was manipulated is "
                f"{probability:.2f}, below the {fusion.params.decision:.2f} at which the evidence decides, and not "
                f"low enough (below {fusion.params.authentic_below:.2f}, with every class checked) to call it "
                "authentic. That is not proof of authenticity: it means these traces were not found.")
    else:
        score = float(fusion.score or 0.0)
        text = (f"No evidence of manipulation was found by the {len(ids)} detector{'s' if len(ids) != 1 else ''} "
                f"that could judge this image (highest score {score:.2f} on a scale from 0 to 1). That is not proof "
                "of authenticity: it means these traces were not found.")
    return [Sentence(text, ids)] + _coverage(evidence, fusion, ids)


def _coverage(evidence: list[Evidence], fusion: Fusion, ids: list[str]) -> list[Sentence]:
    """What the run looked for and what it could not: the classes of manipulation, checked or not."""
    if fusion.class_scores is None:
        return []
    from ..fusion import MANIPULATIONS

    checked = [k for k in MANIPULATIONS if k not in fusion.unchecked]
    sentences = []
    if checked:
        sentences.append(Sentence(f"Checked by applicable detectors: {_join(checked)}.", ids))
    if fusion.unchecked:
        sentences.append(Sentence(f"Not checked (no applicable detector of this run looks for it): "
                                  f"{_join(fusion.unchecked)}.", [evidence_id(e.detector) for e in evidence
                                                                  if e.kind != "provenance"]))
    return sentences


def _class_sentences(fusion: Fusion, drivers: list[Evidence]) -> list[Sentence]:
    from ..detectors import catalogue as classes_of

    catalogue = classes_of([*(e.detector for e in drivers), *fusion.outranked])
    named = _join([catalogue[e.detector].title if e.detector in catalogue else e.detector for e in drivers])
    ids = [evidence_id(e.detector) for e in drivers]
    probability = (fusion.class_scores or {}).get(fusion.label)
    if fusion.decided_by == "signal" and probability is not None and probability >= fusion.params.decision:
        head = (f"{_CLASS_WORDS[fusion.label]} (calibrated probability {probability:.2f}; the label needs "
                f"{fusion.params.decision:.2f}), from {named or 'the modelled detectors'}.")
        top = max(drivers, key=lambda e: e.score) if drivers else None
        reason = top.notes[0] if top is not None and top.notes else ""
        return [Sentence(f"{head} {reason}".strip(), ids)]
    top = max(drivers, key=lambda e: e.score)
    reason = top.notes[1] if top.kind == "provenance" and len(top.notes) > 1 else (top.notes[0] if top.notes else "")
    if fusion.label == "authentic":
        head = (f"Authentic: {named} attest{'s' if len(drivers) == 1 else ''} that the image is unedited "
                f"({strength_words(top.score)} evidence, score {top.score:.2f}).")
    else:
        head = (f"{_CLASS_WORDS[fusion.label]}; decided by {named} ({strength_words(top.score)} "
                f"{fusion.decided_by} evidence, score {top.score:.2f}).")
    sentences = [Sentence(f"{head} {reason}".strip(), ids)]
    if fusion.decided_by == "provenance":
        text = ("Provenance evidence (what the file itself declares or proves cryptographically) outranks signals "
                "measured in the pixels, so it sets the class.")
        if fusion.outranked:
            text += (f" It outranked {_join([catalogue[n].title if n in catalogue else n for n in fusion.outranked])}"
                     f", which pointed to another class.")
        sentences.append(Sentence(text, ids + [evidence_id(n) for n in fusion.outranked]))
    return sentences


def _where(image: Image, fusion: Fusion, catalogue, title) -> list[Sentence]:
    sentences = []
    for region in fusion.regions:
        bbox = upright_bbox(region.bbox, image)
        x, y, w, h = bbox
        shape = image.shape[::-1] if image.orientation >= 5 else image.shape
        ids = [evidence_id(name) for name in region.detectors]
        agree = _join([title(name) for name in region.detectors]) or "the fused map"
        verb = "agree" if len(region.detectors) > 1 else "marks it"
        sentences.append(
            Sentence(
                f"Region {region.id}, in {location_words(bbox, shape)}, covers {region.share:.1%} of the image "
                f"({w}x{h} pixels from x={x}, y={y}); {agree} {verb}.",
                ids,
            )
        )
        if "watermark" in region.detectors:
            sentences.append(Sentence(f"The publisher's watermark is broken in {location_words(bbox, shape)}: "
                                      "those pixels changed after the image was protected.", [evidence_id("watermark")]))
        for name in region.detectors:
            if name == "watermark":
                continue
            cls = catalogue.get(name)
            if cls is not None:
                sentences.append(Sentence(f"{cls.title}: the region {cls.trace}.", [evidence_id(name)]))
    return sentences


def _unlocated(image: Image, evidence: list[Evidence], fusion: Fusion, title) -> list[Sentence]:
    """Why a manipulation label shows no region (and where the map peaks), so the label always says where."""
    if fusion.regions:
        return []
    ids = [evidence_id(name) for name in fusion.drivers]
    if fusion.label == "ai-generated":
        return [Sentence("Where: the whole image. The evidence says a generative model made the image as a whole, "
                         "so no region is singled out.", ids)]
    if any(e.ok and e.score is not None and e.score >= 0.5 and e.facts.get("pairs") for e in evidence):
        return []  # the cloned pairs above say where
    if fusion.decided_by == "provenance":
        return [Sentence(f"No region: the deciding evidence ({_join([title(n) for n in fusion.drivers])}) "
                         "concerns the file as a whole and does not say where it changed; no pixel is more likely "
                         "manipulated than not by the detectors' maps.", ids)]
    if fusion.peak is not None:
        value, (row, col) = fusion.peak
        bbox = upright_bbox((col, row, 1, 1), image)
        shape = image.shape[::-1] if image.orientation >= 5 else image.shape
        return [Sentence(f"No region: no pixel is more likely manipulated than not (>= {fusion.params.decision:.2f}) "
                         f"given that the image was; the detectors' maps peak at {value:.2f} in "
                         f"{location_words(bbox, shape)} (x={bbox[0]}, y={bbox[1]}). The deciding evidence is an "
                         "image-level trace that the maps do not localize.", ids)]
    return [Sentence("No region: the deciding evidence gives no map that localizes it.", ids)]


def _clone_pairs(evidence: list[Evidence], title) -> list[Sentence]:
    """One sentence per cloned pair a deciding copy-move detector reports (boxes in stored pixels)."""
    sentences = []
    for item in evidence:
        if not item.ok or item.score is None or item.score < 0.5:
            continue
        for number, pair in enumerate(item.facts.get("pairs", [])[:5], start=1):
            sx, sy, sw, sh = pair["source_bbox"]
            tx, ty, tw, th = pair["target_bbox"]
            sentences.append(
                Sentence(
                    f"{title(item.detector)}, pair {number}: the {sw}x{sh}-pixel area at x={sx}, y={sy} reappears "
                    f"as the {tw}x{th}-pixel area at x={tx}, y={ty}, rotated {pair['rotation_deg']:+.0f} degrees "
                    f"and scaled {pair['scale']:.2f}x; which of the two is the original cannot be told.",
                    [evidence_id(item.detector)],
                )
            )
    return sentences


def _why(evidence: list[Evidence], title) -> list[Sentence]:
    sentences = []
    for item in evidence:
        if not item.ok:
            continue
        note = item.notes[0] if item.notes else ""
        if item.score is None:
            text = f"{title(item.detector)} gives a map to read, not a decision. {note}"
        else:
            supports = "" if item.indicates == "edited" or item.score < 0.3 else f" for '{item.indicates}'"
            text = (f"{title(item.detector)} ({item.kind}): {strength_words(item.score)} evidence{supports} "
                    f"(score {item.score:.2f}). {note}")
        sentences.append(Sentence(text.strip(), [evidence_id(item.detector)]))
    return sentences


def _provenance(image: Image) -> list[Sentence]:
    meta = image.metadata
    sentences = []
    exif = _exif_fields(meta.exif)
    if exif:
        said = []
        make, model = exif.get("Make", ""), exif.get("Model", "")
        camera = model if make and model.lower().startswith(make.lower()) else " ".join(v for v in (make, model) if v)
        if camera:
            said.append(f"a {camera} camera")
        if exif.get("Software"):
            said.append(f"the software '{exif['Software']}'")
        if exif.get("DateTime"):
            said.append(f"the date {exif['DateTime']}")
        if said:
            sentences.append(Sentence(f"The EXIF metadata names {_join(said)}.", ["image:metadata.exif_bytes"]))
        else:
            sentences.append(Sentence("The file has EXIF metadata without camera or software fields.",
                                      ["image:metadata.exif_bytes"]))
    elif image.format != "ARRAY":
        sentences.append(Sentence("The file has no EXIF metadata.", ["image:metadata.exif_bytes"]))
    if meta.xmp:
        sentences.append(Sentence(f"It carries an XMP packet ({len(meta.xmp)} bytes).", ["image:metadata.xmp_bytes"]))
    if meta.text:
        keys = ", ".join(sorted(meta.text)[:8])
        sentences.append(Sentence(f"It carries text chunks: {keys}.", ["image:metadata.text_keys"]))
    if meta.c2pa_present:
        sentences.append(
            Sentence(
                "It embeds a Content Credentials (C2PA) manifest; the Content Credentials detector validates it.",
                ["image:metadata.c2pa_present"],
            )
        )
    if image.jpeg is not None and image.jpeg.quality is not None:
        exact = "exactly" if image.jpeg.quality_exact else "approximately"
        sentences.append(
            Sentence(
                f"It was last saved as JPEG with quantization tables that match IJG quality "
                f"{image.jpeg.quality:.0f} {exact}.",
                ["image:jpeg.quant_tables"],
            )
        )
    return sentences


def _caveats(image: Image, evidence: list[Evidence], fusion: Fusion, title) -> list[Sentence]:
    sentences = []
    for item in evidence:
        if item.status == "not-applicable":
            sentences.append(Sentence(f"{title(item.detector)} did not apply: {item.reason}.",
                                      [evidence_id(item.detector)]))
        elif item.status == "failed":
            sentences.append(Sentence(f"{title(item.detector)} failed and gave no evidence ({item.reason}).",
                                      [evidence_id(item.detector)]))
    if fusion.class_scores is not None:
        text = ("The class probabilities come from a model fitted on development images (CASIA v1, MICC-F220, "
                "camera photos, AI images, synthetic forgeries), each for a population where one image in five is "
                "of that class; on other kinds of images they can be off. Provenance strengths are fixed by what "
                "each check proves, not measured rates.")
        if fusion.unmodelled:
            text += (f" {_join([title(n) for n in fusion.unmodelled])} "
                     f"{'is' if len(fusion.unmodelled) == 1 else 'are'} outside the fitted model and decide"
                     f"{'s' if len(fusion.unmodelled) == 1 else ''} by {'its' if len(fusion.unmodelled) == 1 else 'their'}"
                     " own uncalibrated score.")
        sentences.append(Sentence(text, [evidence_id(name) for name in fusion.deciding]))
    elif fusion.score is not None:
        sentences.append(
            Sentence(
                "The manipulation score is the strongest single detector's score, not a calibrated probability "
                "(no fitted model covers the detectors that ran); provenance strengths are fixed by what each "
                "check proves, not measured rates.",
                [evidence_id(name) for name in fusion.deciding],
            )
        )
    if min(image.shape) < 256:
        sentences.append(Sentence(f"The image is small ({image.width}x{image.height}); the statistics behind "
                                  "these detectors are weak at this size.", ["image:width", "image:height"]))
    if image.jpeg is not None and image.jpeg.quality is not None and image.jpeg.quality < 70:
        sentences.append(Sentence(f"The last JPEG save was at about quality {image.jpeg.quality:.0f}; strong "
                                  "compression hides noise and compression traces.", ["image:jpeg.quant_tables"]))
    if image.frames > 1:
        sentences.append(Sentence(f"Only the first of {image.frames} frames was analysed.", ["image:frames"]))
    if image.decode_warnings:
        sentences.append(Sentence("The decoder reported damage in the file and worked around it "
                                  f"(\"{image.decode_warnings[0]}\"); the detectors saw the pixels as decoded.",
                                  ["image:decode_warnings"]))
    sentences += _ai_probe_caveat(image, evidence)
    provenance = [e for e in evidence if e.kind == "provenance"]
    if provenance and not any(e.ok and e.score is not None and e.score >= fusion.params.threshold
                              for e in provenance):
        sentences.append(
            Sentence(
                "No decisive provenance was found (Content Credentials, generator records, watermarks). Such "
                "records are easily stripped, so their absence is not evidence of authenticity.",
                [evidence_id(e.detector) for e in provenance],
            )
        )
    unchecked = []
    if not any(item.detector == "watermark" for item in evidence):
        unchecked.append("a publisher's protective watermark (needs the publisher's key)")
    if not any(item.ok and item.detector.startswith("copymove") for item in evidence):
        unchecked.append("copy-move")
    faces = next((item for item in evidence if item.detector == "faceswap"), None)
    # A picture without a face has no face to swap: only a face the detector could not judge is unchecked.
    if faces is None or (not faces.ok and not (faces.reason or "").startswith("no face found")):
        unchecked.append("face swaps")
    if unchecked:
        from ..detectors import PROFILES

        text = f"Not checked in this analysis: {_join(unchecked)}."
        thorough_only = {"copy-move": "copymove_sift", "face swaps": "faceswap"}
        in_thorough = [item for item in unchecked if item in thorough_only
                       and thorough_only[item] not in PROFILES["default"] and all(e.detector != thorough_only[item]
                                                                                 for e in evidence)]
        if in_thorough:
            text += f" The thorough profile checks {_join(in_thorough)}."
        sentences.append(Sentence(text, []))
    return sentences


def _ai_probe_caveat(image: Image, evidence: list[Evidence]) -> list[Sentence]:
    """What the CLIP probe measures and where it fails, whenever it judged the image."""
    probe = next((e for e in evidence if e.detector == "aigen" and e.ok), None)
    if probe is None:
        return []
    facts = probe.facts
    text = (f"The AI-image probe measures how much CLIP features of {facts.get('views', 2) - 1} native-resolution "
            "crop(s) and of the whole image resemble those of the generators it was trained on rather than real "
            f"photos (P(ai-generated) {facts.get('p_ai_generated', probe.score):.2f}). It can miss a generator unlike "
            "those, and it weakens when the image was heavily re-compressed or downscaled")
    if min(image.shape) < 256:
        text += f"; at {image.width}x{image.height} this image is small for it"
    text += ("; drawings, renders and screenshots are outside the real photos it was calibrated on, and its map "
             "covers only the crops it read.")
    return [Sentence(text, [evidence_id("aigen")])]


def _exif_fields(raw: bytes | None) -> dict[str, str]:
    if not raw:
        return {}
    from PIL import Image as PILImage

    try:
        exif = PILImage.Exif()
        exif.load(raw)
        fields = {name: exif.get(tag) for name, tag in (("Make", 0x010F), ("Model", 0x0110),
                                                         ("Software", 0x0131), ("DateTime", 0x0132))}
    except Exception:  # a damaged EXIF block is a fact to skip, not a reason to fail the report
        return {"_present": "yes"}
    clean = {}
    for name, value in fields.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1", "replace")
        if isinstance(value, str) and value.strip("\x00 ").strip():
            clean[name] = " ".join(value.strip("\x00 ").split())[:80]
    return clean or {"_present": "yes"}


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
