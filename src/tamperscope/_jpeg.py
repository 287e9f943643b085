"""Small JPEG helpers shared by detectors (no detector imports another)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from .image import JpegInternals

#: Zig-zag scan order of an 8x8 block as (row, column) pairs.
ZIGZAG: tuple[tuple[int, int], ...] = tuple(
    sorted(
        ((u, v) for u in range(8) for v in range(8)),
        key=lambda uv: (uv[0] + uv[1], uv[0] if (uv[0] + uv[1]) % 2 else uv[1]),
    )
)

_SUBSAMPLING_CODE = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def recompress(pixels: np.ndarray, quality: int | None = None, jpeg: JpegInternals | None = None) -> np.ndarray:
    """Encode ``pixels`` as JPEG and decode them again.

    With ``jpeg`` given, the file's own quantization tables and chroma
    subsampling are reused, which reproduces "the same quality" exactly even for
    camera tables that are not IJG scalings; otherwise IJG ``quality`` is used.
    """
    options: dict = {"format": "JPEG"}
    if jpeg is not None:
        tables = [jpeg.quant_tables["Y"]]
        if "Cb" in jpeg.quant_tables:
            tables.append(jpeg.quant_tables["Cb"])
        options["qtables"] = [np.asarray(t, dtype=int).ravel().tolist() for t in tables]
        options["subsampling"] = _SUBSAMPLING_CODE.get(jpeg.subsampling, 2)
    else:
        options["quality"] = int(quality if quality is not None else 90)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, **options)
    buffer.seek(0)
    return np.asarray(PILImage.open(buffer).convert("RGB"))
