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

The re-save runs strip by strip (:func:`~tamperscope.detectors._jpeg.recompressed_strips`,
the same pixels as re-saving the whole image), so the working memory is a few
strips whatever the image size; the error levels are counted in a histogram of
their 766 possible values (sums of three channel differences), from which the
mean and the 99th percentile are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ._jpeg import recompressed_strips
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
        heatmap = np.empty(image.shape, dtype=np.float32)
        counts = np.zeros(LEVELS, dtype=np.int64)  # error level (sum over the channels) -> pixels
        strips = recompressed_strips(image.pixels, self.quality or 90, image.jpeg if use_file_tables else None)
        for first, start, stop, resaved in strips:
            level = channel_sum(cv2.absdiff(image.pixels[first : first + len(resaved)], resaved))
            smoothed = cv2.boxFilter(level, cv2.CV_32F, (8, 8), normalize=True, borderType=cv2.BORDER_REFLECT)
            keep = slice(start - first, stop - first)
            heatmap[start:stop] = smoothed[keep]
            counts += np.bincount(level[keep].ravel(), minlength=LEVELS)
        heatmap *= np.float32(self.gain / 255.0 / 3.0)  # the channel mean, at the display gain
        np.minimum(heatmap, np.float32(1.0), out=heatmap)

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
        values = np.arange(LEVELS) / 3.0
        mean, p99 = float(counts @ values / max(counts.sum(), 1)), percentile_of_counts(counts, 99.0) / 3.0
        notes = [f"Re-saved as JPEG with {how}: mean error level {mean:.2f}, 99th percentile {p99:.2f} grey levels."]
        facts = {"resave_quality": quality, "file_tables": use_file_tables, "mean_error": round(mean, 3),
                 "p99_error": round(p99, 3)}
        return Finding(score=None, heatmap=heatmap, notes=notes, facts=facts)


#: Possible sums of three 8-bit channel differences.
LEVELS = 3 * 255 + 1


def channel_sum(difference: np.ndarray) -> np.ndarray:
    """Sum of the three channels of a uint8 image, uint16 (exact: at most 765)."""
    first, second, third = cv2.split(difference)
    total = cv2.add(first, second, dtype=cv2.CV_16U)
    return cv2.add(total, third, dtype=cv2.CV_16U)


def percentile_of_counts(counts: np.ndarray, q: float) -> float:
    """``numpy.percentile(values, q)`` (linear interpolation) of the values ``0, 1, ...`` counted in ``counts``."""
    total = int(counts.sum())
    if total == 0:
        return 0.0
    cumulative = np.cumsum(counts)
    position = q / 100.0 * (total - 1)
    below = int(np.floor(position))
    low = int(np.searchsorted(cumulative, below, side="right"))
    high = int(np.searchsorted(cumulative, min(below + 1, total - 1), side="right"))
    return low + (position - below) * (high - low)
