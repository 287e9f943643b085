"""Error level analysis (ELA).

N. Krawetz, "A picture's worth: digital image analysis and forensics",
Black Hat Briefings, 2007.

The image is re-saved as JPEG and the per-pixel absolute difference to the
stored pixels is averaged over the three channels (MKLab's "flatten"). Content
last compressed with the same tables on the same grid is close to a fixed point
of that re-compression and shows a low error level; content with another
history (pasted from an uncompressed or differently compressed source,
retouched after the last save) shows a higher one.

For a JPEG the re-save uses the file's own quantization tables and chroma
subsampling, i.e. exactly the quality it was saved at; the IJG quality those
tables correspond to is reported. Other formats are re-saved at quality 90
(the MKLab toolbox default).

ELA gives a map for a person to read and no decision statistic, so its
evidence carries no score and fusion does not use it to decide; its map is a
layer in the report. The map is the error level times the usual display gain
of 15, divided by 255 and clipped to [0, 1], smoothed over 8x8 blocks so that
single-pixel edges do not dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ._jpeg import recompress
from ..image import Image
from .registry import register
from .base import Detector, Finding


@register
@dataclass
class ELA(Detector):
    """Error level analysis.

    Parameters
    ----------
    quality : int or None
        Re-save quality. None: the file's own tables for a JPEG, 90 otherwise.
    gain : float
        Display multiplier applied to the error level (MKLab: 15).
    """

    quality: int | None = None
    gain: float = 15.0

    name: ClassVar[str] = "ela"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "N. Krawetz, 'A picture's worth: digital image analysis and forensics', Black Hat Briefings, 2007"
    )
    summary: ClassVar[str] = "error level after re-saving at the file's own JPEG quality (a layer to read, no decision)"
    title: ClassVar[str] = "Error level analysis (ELA)"
    trace: ClassVar[str] = (
        "re-compresses with a different error level than the rest of the image"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"color"})
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        use_file_tables = self.quality is None and image.jpeg is not None
        resaved = recompress(image.pixels, self.quality or 90, image.jpeg if use_file_tables else None)
        difference = cv2.absdiff(image.pixels, resaved).astype(np.float32)
        error = cv2.transform(difference, np.full((1, 3), 1.0 / 3.0, dtype=np.float32))  # channel mean
        smoothed = cv2.blur(error, (8, 8), borderType=cv2.BORDER_REFLECT)
        heatmap = np.clip(smoothed * (self.gain / 255.0), 0.0, 1.0)

        if use_file_tables:
            quality = image.jpeg.quality
            how = (
                f"the file's own quantization tables (IJG quality {quality:.0f})"
                if quality is not None
                else "the file's own quantization tables (not an IJG table)"
            )
        else:
            quality = float(self.quality or 90)
            how = f"IJG quality {quality:.0f}"
        mean, p99 = float(error.mean()), float(np.percentile(error, 99))
        notes = [f"Re-saved as JPEG with {how}: mean error level {mean:.2f}, 99th percentile {p99:.2f} grey levels."]
        facts = {"resave_quality": quality, "file_tables": use_file_tables, "mean_error": round(mean, 3),
                 "p99_error": round(p99, 3)}
        return Finding(score=None, heatmap=heatmap, notes=notes, facts=facts)
