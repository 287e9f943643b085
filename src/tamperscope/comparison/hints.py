"""Which of the two looks earlier: hints from size, framing, compression and metadata, never a verdict.

Each hint is a fact and the version it points to (``"original"``, ``"suspect"``
or None). Copies made for publication tend to be smaller, tighter framed and
more compressed than what they were made from, and a camera's own metadata
(capture date, make and model) tends to survive only in files close to the
camera; none of this is proof (a platform can up-scale, an editor can copy
metadata), which is why these are hints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..image import Image
from .align import Alignment

#: Relative difference in linear size, covered area or JPEG quality below which a hint is not given.
SIZE_MARGIN = 0.05
QUALITY_MARGIN = 5.0


@dataclass
class Hint:
    fact: str
    points_to: str | None
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "fact": self.fact, "points_to": self.points_to}


def exif_summary(raw: bytes | None) -> dict[str, str]:
    """Capture date, last-change date, camera and software from an EXIF block (those present)."""
    if not raw:
        return {}
    from PIL import ExifTags
    from PIL import Image as PILImage

    try:
        exif = PILImage.Exif()
        exif.load(raw)
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        fields = {
            "captured": sub.get(0x9003) or sub.get(0x9004),
            "modified": exif.get(0x0132),
            "make": exif.get(0x010F),
            "model": exif.get(0x0110),
            "software": exif.get(0x0131),
        }
    except Exception:  # a damaged EXIF block is a missing fact
        return {}
    out = {}
    for key, value in fields.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1", "replace")
        if isinstance(value, str) and value.strip("\x00 "):
            out[key] = " ".join(value.strip("\x00 ").split())[:100]
    return out


def hints(original: Image, suspect: Image, alignment: Alignment, covered_original: float,
          covered_suspect: float) -> list[Hint]:
    """The hints for a compared pair (see the module doc).

    ``covered_original`` is the share of the original's area that the suspect
    shows; ``covered_suspect`` the share of the suspect's area that the
    original shows.
    """
    found: list[Hint] = []
    scale = alignment.scale
    if scale < 1 - SIZE_MARGIN:
        found.append(Hint(f"The original holds {1 / scale**2:.1f} times as many pixels of the shared scene "
                          f"(the suspect shows it at {scale:.0%} of the original's size).", "original", "size"))
    elif scale > 1 + SIZE_MARGIN:
        found.append(Hint(f"The suspect shows the shared scene {scale:.2f} times larger than the original "
                          "(a larger copy is usually closer to the source, unless it was up-scaled).", "suspect",
                          "size"))
    if covered_original < 1 - SIZE_MARGIN and covered_suspect >= 1 - SIZE_MARGIN:
        found.append(Hint(f"The suspect shows only {covered_original:.0%} of the original's frame: it looks like a "
                          "crop of it.", "original", "framing"))
    elif covered_suspect < 1 - SIZE_MARGIN and covered_original >= 1 - SIZE_MARGIN:
        found.append(Hint(f"The original shows only {covered_suspect:.0%} of the suspect's frame: it looks like a "
                          "crop of the suspect, or the suspect was extended.", "suspect", "framing"))
    qa = original.jpeg.quality if original.jpeg is not None else None
    qb = suspect.jpeg.quality if suspect.jpeg is not None else None
    if qa is not None and qb is not None and abs(qa - qb) >= QUALITY_MARGIN:
        more = "original" if qa > qb else "suspect"
        found.append(Hint(f"JPEG quality about {qa:.0f} (original) against {qb:.0f} (suspect): the {more} is less "
                          "compressed.", more, "compression"))
    elif (original.format in {"PNG", "TIFF", "BMP"}) != (suspect.format in {"PNG", "TIFF", "BMP"}):
        lossless = "original" if original.format in {"PNG", "TIFF", "BMP"} else "suspect"
        found.append(Hint(f"The {lossless} is stored without lossy compression ({original.format} against "
                          f"{suspect.format}); a lossless file may still have been made from a JPEG.", lossless,
                          "compression"))
    ea, eb = exif_summary(original.metadata.exif), exif_summary(suspect.metadata.exif)
    da, db = ea.get("captured"), eb.get("captured")
    if da and db and da != db:
        earlier = "original" if da < db else "suspect"
        found.append(Hint(f"EXIF capture dates differ: {da} (original) and {db} (suspect).", earlier, "dates"))
    elif da and db:
        found.append(Hint(f"Both files carry the same EXIF capture date, {da}.", None, "dates"))
    camera_a, camera_b = bool(ea.get("make") or ea.get("model")), bool(eb.get("make") or eb.get("model"))
    if camera_a != camera_b:
        holder = "original" if camera_a else "suspect"
        found.append(Hint(f"Only the {holder} names a camera in its EXIF metadata "
                          f"({' '.join(v for v in ((ea if camera_a else eb).get('make'), (ea if camera_a else eb).get('model')) if v)}).",
                          holder, "metadata"))
    for who, fields in (("original", ea), ("suspect", eb)):
        if fields.get("software"):
            found.append(Hint(f"The {who}'s EXIF names the software {fields['software']!r}.", None, "metadata"))
    return found


def leaning(found: list[Hint]) -> str | None:
    """The version most hints point to, when they do not disagree; else None."""
    votes = [h.points_to for h in found if h.points_to]
    if not votes:
        return None
    first = votes.count("original")
    second = votes.count("suspect")
    if first and not second:
        return "original"
    if second and not first:
        return "suspect"
    return None
