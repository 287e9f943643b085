"""Error level analysis (ELA) at a fixed lower quality.

N. Krawetz, "A picture's worth: digital image analysis and forensics",
Black Hat Briefings, 2007; defaults of the MKLab image-forensics toolbox
(M. Zampoglou, S. Papadopoulos, Y. Kompatsiaris, "Large-scale evaluation of
splicing localization algorithms for web images", Multimedia Tools and
Applications 76(4), 2017: re-save at quality 90, channels averaged).

The image is re-saved as JPEG at one quality and the per-pixel absolute
difference to the stored pixels is averaged over the three channels. Content
already compressed at or above that quality on the same grid keeps most of
its high-frequency coefficients at zero and changes little; content with
another history (pasted from an uncompressed or differently compressed
source, retouched after the last save) changes more.

Which quality
-------------
Krawetz and the MKLab toolbox re-save at a fixed quality (90), *below* the
file's own. Re-saving with the file's own tables is a near fixed point of
JPEG: every region of a JPEG saved twice at one quality then reads zero, which
is why this detector no longer does it. The quality used is

* for a JPEG: ``min(ceiling, Q - step)`` (90 and 5 by default), where ``Q`` is
  the IJG quality whose luminance table is closest to the file's (exact for
  libjpeg files, the nearest scaling for camera tables), and at least 20; a
  file saved at 95 is re-saved at 90, one saved at 90 at 85, one at 75 at 70;
* otherwise (PNG, TIFF, ...): ``ceiling`` (90), as MKLab.

``quality`` fixes it instead.

The map (its definition is stable: the learned localizer reads it)
-----------------------------------------------------------------
``error`` = mean over R, G, B of ``|I - JPEG_q(I)|`` in grey levels, at full
resolution (stride 1); ``smoothed`` = its 8x8 box mean (reflected borders), so
that single-pixel edges do not dominate; the heatmap is
``clip(smoothed / scale, 0, 1)`` with ``scale`` = the 99th percentile of
``smoothed`` over the image, and at least 1 grey level (so a near fixed point
is not stretched into noise). 1.0 therefore means "among the image's highest
error levels": the map is normalised per image for reading, and
``facts["scale"]`` gives the grey levels at which it reads 1, so the absolute
level is ``heatmap * scale``.

ELA gives a map for a person to read and no decision statistic, so its
evidence carries no score and fusion does not use it to decide; its map is a
layer in the report. High error also follows texture and edges on pristine
images: compare regions of like texture.

How it is computed
------------------
The re-save runs strip by strip (:func:`~tamperscope.detectors._jpeg.recompressed_strips`,
the same pixels as re-saving the whole image), so the working memory is a few
strips whatever the image size. The numbers are those of the definition above,
computed from integers: the per-pixel error summed over the channels (0..765)
and its 8x8 box sum (0..48960, exact in float32) are counted in histograms,
from which the mean, the 99th percentiles (``numpy.percentile``'s linear
interpolation) and ``scale`` are exact, without sorting the image's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ._jpeg import recompressed_strips
from ..image import Image, estimate_jpeg_quality
from .registry import register
from .base import Detector, Finding

#: The lowest re-save quality the rule chooses (a file saved at 20 or less is re-saved at 20).
MIN_QUALITY = 20


def resave_quality(image: Image, ceiling: int = 90, step: int = 5) -> tuple[int, str]:
    """The quality ELA re-saves ``image`` at, and a phrase saying how it was chosen."""
    if image.jpeg is None:
        return ceiling, f"not a JPEG: the fixed quality {ceiling}"
    if image.jpeg.quality is not None:
        own = int(image.jpeg.quality)
        how = "IJG table" if image.jpeg.quality_exact else "nearest IJG table"
    else:
        own = int(estimate_jpeg_quality(image.jpeg.quant_tables["Y"], max_error=None)[0])
        how = "nearest IJG scaling of its non-IJG table"
    quality = max(MIN_QUALITY, min(ceiling, own - step))
    return quality, f"the file's quality {own} ({how}) minus {step}, at most {ceiling}"


@register
@dataclass
class ELA(Detector):
    """Error level analysis at a fixed quality below the file's own.

    Parameters
    ----------
    quality : int or None
        Re-save quality. None: ``min(ceiling, file quality - step)`` for a
        JPEG, ``ceiling`` otherwise (see the module docstring).
    ceiling : int
        Highest re-save quality (Krawetz's and MKLab's 90).
    step : int
        How far below the file's own quality a JPEG is re-saved.
    percentile : float
        Percentile of the smoothed error level at which the map reads 1.
    """

    quality: int | None = None
    ceiling: int = 90
    step: int = 5
    percentile: float = 99.0

    name: ClassVar[str] = "ela"
    version: ClassVar[str] = "2.0"
    citation: ClassVar[str] = (
        "N. Krawetz, 'A picture's worth: digital image analysis and forensics', Black Hat Briefings, 2007"
    )
    summary: ClassVar[str] = (
        "error level after re-saving at a quality below the file's own (a layer to read, no decision)"
    )
    title: ClassVar[str] = "Error level analysis (ELA)"
    trace: ClassVar[str] = (
        "re-compresses with a different error level than the rest of the image"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"color"})
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        if self.quality is not None:
            quality, how = int(self.quality), f"the fixed quality {int(self.quality)}"
        else:
            quality, how = resave_quality(image, self.ceiling, self.step)
        heatmap = np.empty(image.shape, dtype=np.float32)  # the 8x8 box sums, then the map in place
        level_counts = np.zeros(LEVELS, dtype=np.int64)  # error summed over the channels -> pixels
        box_counts = np.zeros(BOX_SUMS, dtype=np.int64)  # its 8x8 box sum -> pixels
        for first, start, stop, resaved in recompressed_strips(image.pixels, quality):
            level = channel_sum(cv2.absdiff(image.pixels[first : first + len(resaved)], resaved))
            box = cv2.boxFilter(level, cv2.CV_32F, (8, 8), normalize=False, borderType=cv2.BORDER_REFLECT)
            keep = slice(start - first, stop - first)
            heatmap[start:stop] = box[keep]
            level_counts += np.bincount(level[keep].ravel(), minlength=LEVELS)
            box_counts += np.bincount(box[keep].astype(np.int32).ravel(), minlength=BOX_SUMS)
        # ``smoothed`` (the 8x8 mean of the channel mean) is a box sum / (3 * 64).
        scale = max(percentile_of_counts(box_counts, self.percentile) / BOX_DIVISOR, 1.0)
        heatmap *= np.float32(1.0 / (BOX_DIVISOR * scale))
        np.minimum(heatmap, np.float32(1.0), out=heatmap)

        values = np.arange(LEVELS) / 3.0
        mean = float(level_counts @ values / max(level_counts.sum(), 1))
        p99 = percentile_of_counts(level_counts, 99.0) / 3.0
        notes = [
            f"Re-saved as JPEG at IJG quality {quality} ({how}): mean error level {mean:.2f}, 99th percentile "
            f"{p99:.2f} grey levels. The map reads 1 at {scale:.2f} grey levels (8x8 mean), the image's "
            f"{self.percentile:g}th percentile; bright areas re-compress worse than the rest, and texture "
            "and edges do so on untouched photos too."
        ]
        facts = {
            "resave_quality": quality,
            "quality_rule": how,
            "mean_error": round(mean, 3),
            "p99_error": round(p99, 3),
            "scale": round(scale, 3),
            "map": "clip(8x8 mean of |I - JPEG_q(I)| averaged over R,G,B / scale, 0, 1), stride 1",
        }
        return Finding(score=None, heatmap=heatmap, notes=notes, facts=facts)


#: Possible sums of three 8-bit channel differences.
LEVELS = 3 * 255 + 1
#: Possible 8x8 box sums of those, and what divides a box sum into the 8x8 mean of the channel mean.
BOX_SUMS = 64 * (LEVELS - 1) + 1
BOX_DIVISOR = 3.0 * 64.0


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
