"""Small previews of scanned images, for a moderator who triages by looking.

Every analysed image gets one small JPEG, about :data:`PREVIEW_LONG_SIDE` pixels
on its long side and upright (EXIF orientation applied): the photo with the
fused heatmap blended over it and the mask outlined when the analysis found a
region (the report's own overlay, :func:`tamperscope.report.colormap.overlay_picture`,
at thumbnail size), a plain thumbnail otherwise. An image with a region also
gets its mask as a one-bit PNG of the same size, and the boxes of its largest
regions as fractions of the preview, so a page can draw them over it.

The work is split where it is cheapest and safest:

* :func:`render_previews` runs in the worker, next to the report it reads: it
  shrinks the full-size pixels once, draws the fused map's cells at that size and
  encodes the files in memory.
  The bytes travel back with the store row (a few kB), so a Ray worker on
  another machine needs no shared folder.
* :func:`save_previews` runs in the process that owns the store, before the row
  is committed: each file is written to a temporary name and renamed into place,
  so a crash at any moment leaves either no file or a whole one, and the row that
  references it is committed only after the rename. Files are named by the
  content's SHA-256, so a repeated or resumed scan (which skips contents the
  store holds) never writes one twice.

Where they live: a folder beside the store, ``<store>.artifacts/`` unless the
scan was given another (``--artifacts DIR``), with ``<sha[:2]>/<sha>.jpg`` and
``<sha[:2]>/<sha>.mask.png``. Files rather than blobs inside the SQLite store,
because a terminal user opens them by path (``tamperscope results top`` prints
it), a gallery page links them without copying their bytes, and the store stays
small and quick to copy and query. The store keeps which files exist, their
size and the region boxes in its ``previews`` table
(:meth:`~tamperscope.scan.store.ResultStore.record`).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..report.colormap import shrink  # noqa: F401  (the one resize of every picture, kept importable from here)

#: Long side of a preview, in pixels.
PREVIEW_LONG_SIDE = 320
#: JPEG quality of a preview (with optimized Huffman tables); docs/performance.md has the bytes it gives.
PREVIEW_JPEG_QUALITY = 60
#: Region boxes kept per preview (the store keeps the same number of regions).
PREVIEW_BOXES = 5
#: Kinds of the main preview image.
KINDS = ("overlay", "plain")

_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class PreviewRecord:
    """What the store keeps about one image's previews (the files are named by its SHA-256).

    ``kind`` is "overlay" (heatmap over the photo, for an image with a region)
    or "plain"; ``mask`` says whether a mask PNG exists; ``boxes`` are the region
    boxes ``[x, y, width, height]`` as fractions of the upright preview.
    """

    sha256: str
    kind: str
    mask: bool
    width: int
    height: int
    bytes: int
    boxes: list[list[float]]


def default_folder(store_path: str | Path) -> Path:
    """Where a store's previews go unless the scan says otherwise: ``<store>.artifacts`` beside it."""
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".artifacts")


def image_name(sha256: str) -> str:
    """The preview JPEG of ``sha256``, relative to the previews folder."""
    return f"{_checked(sha256)[:2]}/{sha256}.jpg"


def mask_name(sha256: str) -> str:
    """The mask PNG of ``sha256``, relative to the previews folder."""
    return f"{_checked(sha256)[:2]}/{sha256}.mask.png"


def _checked(sha256: str) -> str:
    # Names are built from the hash, never read from the store: a crafted database cannot point outside the folder.
    if not _SHA.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def preview_size(height: int, width: int, long_side: int = PREVIEW_LONG_SIDE) -> tuple[int, int]:
    """(width, height) of a preview of an image ``height`` x ``width``: long side ``long_side``, never enlarged."""
    scale = min(1.0, long_side / max(height, width, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def render_previews(report, long_side: int = PREVIEW_LONG_SIDE) -> dict[str, Any]:
    """Encode the previews of one analysed image in memory (runs in the worker).

    Returns a plain dict that travels with the store row: ``kind`` ("overlay" or
    "plain"), ``image`` (JPEG bytes), ``mask`` (PNG bytes or None), ``width``,
    ``height`` (of the upright preview) and ``boxes`` (see :class:`PreviewRecord`).
    """
    import cv2

    from ..image import apply_orientation
    from ..report.colormap import fit, fit_cells, overlay_picture

    image, fusion = report.image, report.fusion
    orientation = image.orientation
    regions = list(fusion.regions)
    mask_bytes = None
    boxes: list[list[float]] = []
    if regions:
        # The report's overlay at preview size, drawn from the fusion's cells (no full-size map is made).
        small = overlay_picture(image.pixels, fusion.heatmap_cells, fusion.stride, fusion.mask_cells,
                                max_side=long_side)
        mask = fit_cells(fusion.mask_cells, fusion.stride, image.shape, small.shape[:2], nearest=True)
        upright_mask = apply_orientation(mask, orientation)
        picture = apply_orientation(small, orientation)
        ok, encoded = cv2.imencode(".png", upright_mask.astype(np.uint8) * 255, [cv2.IMWRITE_PNG_BILEVEL, 1])
        mask_bytes = encoded.tobytes() if ok else None
        boxes = [_preview_box(region.bbox, report) for region in regions[:PREVIEW_BOXES]]
        kind = "overlay"
    else:
        picture = apply_orientation(fit(image.pixels, long_side), orientation)
        kind = "plain"
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:  # OpenCV reports failure rather than raising; a row without previews is still a result
        return {}
    upright_height, upright_width = picture.shape[:2]
    return {"kind": kind, "image": encoded.tobytes(), "mask": mask_bytes, "width": int(upright_width),
            "height": int(upright_height), "boxes": boxes}


def _preview_box(bbox, report) -> list[float]:
    """A stored-pixel region box as fractions [x, y, w, h] of the upright picture (any size of it)."""
    from ..report.explain import upright_bbox
    from ..report.present import upright_size

    x, y, w, h = upright_bbox(bbox, report.image)
    up_width, up_height = upright_size(report)
    return [round(x / up_width, 4), round(y / up_height, 4), round(w / up_width, 4), round(h / up_height, 4)]


def save_previews(folder: str | Path, sha256: str, previews: dict[str, Any],
                  names: tuple[str, str] | None = None) -> PreviewRecord | None:
    """Write the previews :func:`render_previews` made into ``folder``; returns what the store keeps.

    Each file goes to a temporary name in its final folder and is renamed into
    place, so no reader ever sees half a file. ``names`` (image, mask) overrides
    the SHA-named layout (the web service keeps one analysis per folder).
    Returns None when there is nothing to write; raises OSError when the folder
    cannot be written.
    """
    if not previews or not previews.get("image"):
        return None
    folder = Path(folder)
    image_file, mask_file = names or (image_name(sha256), mask_name(sha256))
    total = _write_atomic(folder / image_file, previews["image"])
    has_mask = bool(previews.get("mask"))
    if has_mask:
        total += _write_atomic(folder / mask_file, previews["mask"])
    kind = previews.get("kind") if previews.get("kind") in KINDS else "plain"
    return PreviewRecord(sha256=sha256, kind=kind, mask=has_mask, width=int(previews["width"]),
                         height=int(previews["height"]), bytes=total,
                         boxes=[[float(v) for v in box] for box in previews.get("boxes") or []])


def _write_atomic(target: Path, data: bytes) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    # os.open with 0o666 (not mkstemp's 0o600): the file gets the permissions the user's umask gives any new file,
    # so a web server or a colleague can read previews the way they read the store.
    temporary = target.parent / f".part-{secrets.token_hex(8)}-{target.name}"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return len(data)


__all__ = ["PREVIEW_LONG_SIDE", "PreviewRecord", "default_folder", "image_name", "mask_name", "render_previews",
           "save_previews", "shrink"]
