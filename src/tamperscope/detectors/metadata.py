"""Metadata evidence: what the file's own records say about how it was made.

Each check yields a *fact* with a stated strength and the verdict class it
supports; the detector's score is the strongest fact's strength. Strong facts
decide (score >= 0.5); weak facts are reported and never make a verdict alone.

* **Generator records** (strong, ai-generated; ai-edited when the record
  describes inpainting). Image generators write their parameters into the
  file: AUTOMATIC1111 a PNG ``parameters`` chunk (or the EXIF UserComment of a
  JPEG) with "Steps: ..., Sampler: ..., Seed: ..."; ComfyUI the node graph in
  ``prompt`` and ``workflow`` chunks; NovelAI ``Software``/``Source``/``Comment``;
  InvokeAI ``invokeai_metadata``/``sd-metadata``/``Dream``. A real camera or
  editor never writes these.
* **IPTC DigitalSourceType** in XMP (IPTC Photo Metadata Standard 2023.1,
  ``Iptc4xmpExt:DigitalSourceType``): ``trainedAlgorithmicMedia`` (strong,
  ai-generated), ``compositeWithTrainedAlgorithmicMedia`` (strong, ai-edited).
  Unsigned, but a false declaration of AI is rare: it is taken as strong.
* **Generator or editor names** in EXIF Software / XMP CreatorTool, and the
  XMP editing history (``xmpMM:History``). A generator name is strong; an
  editor name (Photoshop, GIMP, Lightroom...) is weak: most published photos
  pass through one, which is not manipulation.
* **EXIF thumbnail versus image**: cameras write a thumbnail of the same
  picture; an editor that changes the image but keeps the old EXIF block
  leaves a thumbnail that no longer matches (Kee and Farid, "Digital image
  authentication from thumbnails", SPIE 2010). Measured as the normalized
  cross-correlation of the thumbnail with the image shrunk to its size.
* **Quantization tables versus the declared camera**: camera makers use their
  own tables; a file that names a camera Make but whose tables are exactly the
  IJG standard tables at some quality was re-saved by a library (libjpeg,
  Pillow, an editor) rather than written by the camera (Kee, Johnson and Farid,
  "Digital image authentication from JPEG headers", IEEE TIFS 2011). Weak:
  some cameras do use IJG tables.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..image import Image
from .registry import register
from .base import Detector, Finding

#: Strengths on the detector score scale (>= 0.5 decides), fixed by what each fact proves.
STRONG_GENERATOR_RECORD = 0.95
STRONG_SOURCE_TYPE = 0.9
GENERATOR_NAME = 0.8
THUMBNAIL_MISMATCH = 0.8
WEAK_SOURCE_TYPE = 0.6
THUMBNAIL_PARTIAL = 0.4
IJG_TABLES_WITH_CAMERA = 0.4
EDITING_HISTORY = 0.35
EDITOR_SOFTWARE = 0.3
CAPTURE_DECLARED = 0.2

_GENERATORS = re.compile(
    r"stable[ -]?diffusion|novelai|midjourney|dall[-\u00b7 ]?e|firefly|imagen|comfyui|invokeai|automatic1111|"
    r"fooocus|leonardo\.ai|ideogram|\bflux\b|sdxl|dreamstudio|nightcafe|craiyon|bing image creator",
    re.IGNORECASE,
)
_EDITORS = re.compile(
    r"photoshop|gimp|lightroom|affinity|pixelmator|paint\.net|snapseed|picasa|capture one|darktable|rawtherapee|"
    r"luminar|acdsee|paintshop|photoscape|canva|facetune|fotor|krita|photopea|windows photo editor|corel",
    re.IGNORECASE,
)
_SOURCE_TYPE = re.compile(r"digitalsourcetype/([A-Za-z]+)", re.IGNORECASE)
_INPAINT_NODES = frozenset({"VAEEncodeForInpaint", "InpaintModelConditioning", "SetLatentNoiseMask",
                            "INPAINT_ApplyFooocusInpaint", "InpaintPreprocessor"})
_CAMERA_MAKES = re.compile(
    r"canon|nikon|sony|fujifilm|olympus|panasonic|pentax|ricoh|samsung|apple|google|huawei|xiaomi|oppo|"
    r"leica|kodak|casio|minolta|sigma|hasselblad|gopro|dji|motorola|lg|htc|oneplus|sanyo|jvc|konica|nokia",
    re.IGNORECASE,
)

Fact = tuple[float, str, str, str]  # strength, indicates, source, sentence


@register
@dataclass
class MetadataDetector(Detector):
    """Generator records, DigitalSourceType, software and history, thumbnail, quantization tables.

    Parameters
    ----------
    thumbnail_mismatch : float
        Thumbnail-to-image correlation below which the thumbnail shows other
        content (strong fact).
    thumbnail_partial : float
        Correlation below which the thumbnail only partly matches (weak fact:
        a crop or a local edit).

    Notes
    -----
    ``score`` is the strength of the strongest fact, for the class in
    ``facts["indicates"]``; 0 when the metadata holds none of these records.
    """

    name: ClassVar[str] = "metadata"
    version: ClassVar[str] = "1"
    citation: ClassVar[str] = (
        "IPTC Photo Metadata Standard 2023.1 (DigitalSourceType); Kee, Johnson & Farid, IEEE TIFS 2011; "
        "Kee & Farid, SPIE 2010"
    )
    summary: ClassVar[str] = "Generator records, IPTC source type, software and history, EXIF thumbnail, JPEG tables"
    title: ClassVar[str] = "File metadata"
    trace: ClassVar[str] = "is described by the file's metadata"
    kind: ClassVar[str] = "provenance"

    thumbnail_mismatch: float = 0.5
    thumbnail_partial: float = 0.8

    def analyze(self, image: Image) -> Finding:
        exif = read_exif(image.metadata.exif)
        xmp = (image.metadata.xmp or b"").decode("utf-8", "replace")
        facts: list[Fact] = []
        facts += generator_records(image.metadata.text, exif)
        facts += source_type_facts(xmp)
        facts += software_facts(exif, xmp)
        thumb = self._thumbnail_facts(image, exif)
        facts += thumb[0]
        facts += table_facts(image, exif)
        facts.sort(key=lambda f: -f[0])
        details: dict[str, Any] = {
            "make": exif.get("Make"),
            "model": exif.get("Model"),
            "software": exif.get("Software"),
            "creator_tool": _xmp_value(xmp, "CreatorTool"),
            "digital_source_types": sorted(set(_SOURCE_TYPE.findall(xmp))),
            "text_keys": sorted(image.metadata.text),
            "thumbnail_correlation": thumb[1],
            "findings": [{"strength": s, "indicates": i, "source": src, "fact": t} for s, i, src, t in facts],
        }
        if not facts:
            return Finding(score=0.0, notes=["No generator record, source type, editor or inconsistency found "
                                             "in the metadata."], facts={"indicates": "edited", **details})
        return Finding(score=facts[0][0], notes=[f[3] for f in facts], facts={"indicates": facts[0][1], **details})

    def _thumbnail_facts(self, image: Image, exif: dict[str, Any]) -> tuple[list[Fact], float | None]:
        thumb = exif.get("_thumbnail")
        if thumb is None:
            return [], None
        ncc = thumbnail_correlation(thumb, image.luminance())
        if ncc is None:
            return [], None
        if ncc < self.thumbnail_mismatch:
            return [(THUMBNAIL_MISMATCH, "edited", "exif", f"The EXIF thumbnail shows different content from the "
                     f"image (correlation {ncc:.2f}): the image was changed after the thumbnail was written.")], ncc
        if ncc < self.thumbnail_partial:
            return [(THUMBNAIL_PARTIAL, "edited", "exif", f"The EXIF thumbnail only partly matches the image "
                     f"(correlation {ncc:.2f}): cropped, re-framed or locally changed after capture.")], ncc
        return [], ncc


def generator_records(text: dict[str, str], exif: dict[str, Any]) -> list[Fact]:
    """Facts from the parameter records image generators write into PNG text chunks or EXIF."""
    found: list[Fact] = []
    keys = {k.lower(): v for k, v in text.items()}
    a1111 = keys.get("parameters") or exif.get("UserComment") or ""
    if isinstance(a1111, str) and re.search(r"\bSteps: \d+", a1111) and "Sampler" in a1111:
        inpaint = bool(re.search(r"Mask blur: |Inpaint area: |Masked content: ", a1111))
        model = re.search(r"Model: ([^,\n]+)", a1111)
        found.append((STRONG_GENERATOR_RECORD, "ai-edited" if inpaint else "ai-generated", "png-text",
                      f"The file carries an AUTOMATIC1111-style generation record (steps, sampler, seed"
                      f"{', model ' + model.group(1).strip() if model else ''})"
                      + (" describing inpainting." if inpaint else ".")))
    if "prompt" in keys or "workflow" in keys:
        nodes = _comfy_nodes(keys.get("prompt"), keys.get("workflow"))
        if nodes:
            inpaint = sorted(nodes & _INPAINT_NODES)
            found.append((STRONG_GENERATOR_RECORD, "ai-edited" if inpaint else "ai-generated", "png-text",
                          f"The file carries a ComfyUI workflow ({len(nodes)} node types"
                          + (f", inpainting with {', '.join(inpaint)})." if inpaint else ").")))
    software, source = keys.get("software", ""), keys.get("source", "")
    if "novelai" in software.lower() or ("comment" in keys and "novelai" in (software + source).lower()):
        found.append((STRONG_GENERATOR_RECORD, "ai-generated", "png-text",
                      f"The file carries a NovelAI generation record ({(source or software)[:60]})."))
    invoke = next((keys[k] for k in ("invokeai_metadata", "sd-metadata", "dream", "invokeai_graph") if k in keys), None)
    if invoke is not None:
        mode = re.search(r'"(?:generation_mode|type)"\s*:\s*"([a-z_0-9]+)"', invoke)
        inpaint = bool(mode and re.search(r"inpaint|outpaint|canvas", mode.group(1)))
        found.append((STRONG_GENERATOR_RECORD, "ai-edited" if inpaint else "ai-generated", "png-text",
                      "The file carries an InvokeAI generation record"
                      + (f" (mode {mode.group(1)})." if mode else ".")))
    return found


def _comfy_nodes(prompt: str | None, workflow: str | None) -> set[str]:
    nodes: set[str] = set()
    for raw, pick in ((prompt, "prompt"), (workflow, "workflow")):
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if pick == "prompt" and isinstance(data, dict):
            nodes |= {str(n.get("class_type")) for n in data.values() if isinstance(n, dict) and n.get("class_type")}
        elif isinstance(data, dict) and isinstance(data.get("nodes"), list):
            nodes |= {str(n.get("type")) for n in data["nodes"] if isinstance(n, dict) and n.get("type")}
    return nodes


def source_type_facts(xmp: str) -> list[Fact]:
    """Facts from an IPTC DigitalSourceType written in the XMP packet."""
    types = set(_SOURCE_TYPE.findall(xmp))
    found: list[Fact] = []
    if "trainedAlgorithmicMedia" in types:
        found.append((STRONG_SOURCE_TYPE, "ai-generated", "xmp", "The XMP metadata declares the image as made by "
                      "a generative AI model (IPTC DigitalSourceType trainedAlgorithmicMedia)."))
    if "compositeWithTrainedAlgorithmicMedia" in types:
        found.append((STRONG_SOURCE_TYPE, "ai-edited", "xmp", "The XMP metadata declares AI-generated content "
                      "composited into the image (IPTC compositeWithTrainedAlgorithmicMedia)."))
    if "algorithmicMedia" in types:
        found.append((WEAK_SOURCE_TYPE, "ai-generated", "xmp", "The XMP metadata declares the image as generated "
                      "by an algorithm (IPTC algorithmicMedia)."))
    composites = sorted(types & {"composite", "compositeSynthetic", "compositeCapture"})
    if composites:
        found.append((WEAK_SOURCE_TYPE, "edited", "xmp", f"The XMP metadata declares a composite "
                      f"(IPTC {', '.join(composites)})."))
    if types & {"digitalCapture", "computationalCapture"} and not found:
        found.append((CAPTURE_DECLARED, "authentic", "xmp", "The XMP metadata declares a camera capture "
                      "(unsigned, so not relied on)."))
    return found


def software_facts(exif: dict[str, Any], xmp: str) -> list[Fact]:
    """Facts from EXIF Software, XMP CreatorTool and the XMP editing history."""
    found: list[Fact] = []
    agents = [v for v in (exif.get("Software"), _xmp_value(xmp, "CreatorTool")) if v]
    agents += re.findall(r'stEvt:softwareAgent(?:="|>)([^"<]+)', xmp)
    generators = sorted({a for a in agents if _GENERATORS.search(a)})
    editors = sorted({a for a in agents if _EDITORS.search(a)} - set(generators))
    if generators:
        found.append((GENERATOR_NAME, "ai-generated", "software", f"The metadata names an image generator as the "
                      f"software: {'; '.join(generators)}."))
    if editors:
        found.append((EDITOR_SOFTWARE, "edited", "software", f"The metadata names editing software: "
                      f"{'; '.join(editors)}."))
    saves = re.findall(r'stEvt:action(?:="|>)(saved|converted|derived|edited|cropped|produced)', xmp)
    if saves:
        found.append((EDITING_HISTORY, "edited", "xmp", f"The XMP editing history records {len(saves)} "
                      f"step(s) ({', '.join(sorted(set(saves)))})."))
    return found


def table_facts(image: Image, exif: dict[str, Any]) -> list[Fact]:
    """A camera Make with exactly standard IJG tables: re-saved by a library, not by the camera."""
    jpeg, make = image.jpeg, str(exif.get("Make") or "")
    if jpeg is None or not jpeg.quality_exact or not _CAMERA_MAKES.search(make):
        return []
    return [(IJG_TABLES_WITH_CAMERA, "edited", "jpeg", f"The EXIF names a {make} camera but the quantization "
             f"tables are exactly the IJG standard tables at quality {jpeg.quality:.0f}: the file was re-saved by "
             "a JPEG library or editor, not written by the camera (some cameras do use these tables).")]


def read_exif(raw: bytes | None) -> dict[str, Any]:
    """The EXIF fields these checks use, and the thumbnail's bytes under ``_thumbnail``."""
    if not raw:
        return {}
    from PIL import ExifTags
    from PIL import Image as PILImage

    fields: dict[str, Any] = {}
    try:
        exif = PILImage.Exif()
        exif.load(raw)
        for name, tag in (("Make", 0x010F), ("Model", 0x0110), ("Software", 0x0131), ("ImageDescription", 0x010E)):
            fields[name] = _clean(exif.get(tag))
        fields["UserComment"] = _user_comment(exif.get_ifd(ExifTags.IFD.Exif).get(0x9286))
        ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
        start, length = int(ifd1.get(0x0201, 0) or 0), int(ifd1.get(0x0202, 0) or 0)
    except Exception:  # a damaged EXIF block is a missing fact, not a failure of the analysis
        return {k: v for k, v in fields.items() if v}
    tiff = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    if start > 0 and 0 < length <= len(tiff) - start:
        fields["_thumbnail"] = tiff[start : start + length]
    return {k: v for k, v in fields.items() if v}


def thumbnail_correlation(thumb_bytes: bytes, luminance: np.ndarray) -> float | None:
    """Normalized cross-correlation of the EXIF thumbnail with the image shrunk to its size.

    Black bars that cameras add to fit a 3:2 picture into a 4:3 thumbnail are
    trimmed first. None when the thumbnail cannot be decoded or is flat.
    """
    import cv2
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(thumb_bytes)) as pil:
            thumb = np.asarray(pil.convert("L"), dtype=np.float32)
    except Exception:  # an undecodable thumbnail is no evidence either way
        return None
    thumb = _trim_bars(thumb)
    if min(thumb.shape) < 16:
        return None
    small = cv2.resize(np.asarray(luminance, dtype=np.float32), (thumb.shape[1], thumb.shape[0]),
                       interpolation=cv2.INTER_AREA)
    a, b = thumb - thumb.mean(), small - small.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denominator < 1e-6:
        return None
    return float((a * b).sum() / denominator)


def _trim_bars(thumb: np.ndarray, dark: float = 16.0) -> np.ndarray:
    rows = np.nonzero(thumb.mean(axis=1) > dark)[0]
    cols = np.nonzero(thumb.mean(axis=0) > dark)[0]
    if rows.size == 0 or cols.size == 0:
        return thumb
    return thumb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _xmp_value(xmp: str, name: str) -> str | None:
    match = re.search(rf'(?:xmp|xap):{name}(?:="([^"]*)"|>([^<]*)<)', xmp)
    if not match:
        return None
    value = (match.group(1) or match.group(2) or "").strip()
    return value or None


def _clean(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if not isinstance(value, str):
        return None
    value = " ".join(value.strip("\x00 ").split())
    return value[:200] or None


def _user_comment(value: Any) -> str | None:
    # EXIF UserComment starts with an 8-byte character-code prefix ("UNICODE\0", "ASCII\0\0\0").
    if isinstance(value, str):
        return value or None
    if not isinstance(value, bytes) or len(value) <= 8:
        return None
    head, body = value[:8], value[8:]
    if head.startswith(b"UNICODE"):
        for codec in ("utf-16-be", "utf-16-le"):
            text = body.decode(codec, "replace")
            if "Steps" in text or text.isprintable():
                return text
        return None
    return body.decode("latin-1", "replace").strip("\x00 ") or None
