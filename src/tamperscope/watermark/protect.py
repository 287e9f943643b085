"""Protecting a file: load it, refuse what would be unsafe, embed, write PNG or JPEG atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from ..errors import InputError, OutputError
from ..image import DEFAULT_LIMITS, Limits, load
from .embed import embed
from .scheme import SCHEME
from .extract import verify

#: Output formats by file suffix.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


@dataclass
class Protection:
    """What :func:`protect_file` wrote."""

    path: str
    format: str
    width: int
    height: int
    grid: str
    bits: int
    step: float
    scheme: int
    on_lattice: float
    psnr_db: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def protect_file(source: str | os.PathLike, out: str | os.PathLike, key: bytes, *, quality: int = 95,
                 overwrite: bool = False, limits: Limits = DEFAULT_LIMITS) -> Protection:
    """Embed the keyed watermark into ``source`` and write ``out`` (PNG or JPEG by suffix), same size.

    Refuses (``InputError``): an empty key; an output that exists (or is the
    input) unless ``overwrite``; an image that already carries a mark of this
    key, because protecting it again would write a fresh mark over any edit
    made since it was first protected and so hide it; an image whose mark
    verify would not find (almost entirely black: black cells stay
    unmarked). EXIF (orientation included) and the ICC profile are carried
    over.
    """
    if not key:
        raise InputError("an empty watermark key cannot protect an image")
    target = Path(out)
    fmt = OUTPUT_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise InputError(f"{target}: write protected images as .png, .jpg or .jpeg")
    if not 1 <= quality <= 100:
        raise InputError(f"JPEG quality {quality} is outside 1..100")
    if target.exists() and not overwrite:
        same = Path(source).exists() and os.path.samefile(source, target)
        what = "is the input" if same else "exists"
        raise InputError(f"{target} {what}; pass --overwrite to replace it")
    image = load(source, limits)
    if verify(image.pixels, key).present:
        raise InputError(f"{image.source} already carries a watermark of this key; protecting it again "
                         "would hide any edit made since (protect the original instead)")
    marked = embed(image.pixels, key)
    if not verify(marked.pixels, key).present:
        # Black cells carry no mark (see scheme.dark_cells): an image that is nearly all black has too few.
        raise InputError(f"{image.source} cannot carry the watermark ({marked.bits} bits fit: the image is "
                         "almost entirely black or too small)")
    _write(marked.pixels, target, fmt, quality, image.metadata.exif, image.metadata.icc_profile)
    error = np.mean((marked.pixels.astype(np.float64) - image.pixels) ** 2)
    psnr = float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))
    return Protection(str(target), fmt, image.width, image.height, marked.grid.label, marked.bits, marked.step,
                      SCHEME.version, round(marked.on_lattice, 4), round(psnr, 2))


def _write(pixels: np.ndarray, target: Path, fmt: str, quality: int, exif: bytes | None,
           icc: bytes | None) -> None:
    options: dict = {}
    if exif:
        options["exif"] = exif if exif.startswith(b"Exif") else b"Exif\x00\x00" + exif
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        # 4:4:4 keeps chroma as protected; the mark itself lives in luma.
        options.update(quality=quality, subsampling=0)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tamperscope-", suffix=target.suffix, dir=target.parent)
        os.close(handle)
        try:
            PILImage.fromarray(pixels).save(temporary, format=fmt, **options)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
