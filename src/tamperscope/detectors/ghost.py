"""JPEG ghosts: a region that was saved at a lower JPEG quality than the rest.

H. Farid, "Exposing digital forgeries from JPEG ghosts", IEEE Transactions on
Information Forensics and Security 4(1):154-160, 2009.

Method
------
Re-saving JPEG content at the quality it was last quantized with changes it
least: the quantized DCT coefficients are (nearly) fixed points. So, as in
the paper, the image is recompressed at a sweep of qualities ``q`` and the
squared difference to the original is averaged over ``b x b`` pixels (``b``
= 17, MKLab's ``Ghost.m``): ``D_q(x)``. Content that was last saved at ``q0``
shows a dip of ``D_q`` at ``q = q0`` -- a "ghost" -- while content saved
later at a higher quality has its minimum at that final quality.

Our choices, beyond the paper
-----------------------------
*Luma only, aligned grid.* The sweep recompresses the luma (rounded to 8
bits) as a greyscale JPEG with the IJG luminance tables: a third of the work
of three channels and the same ghost, since the dip comes from the luma
quantization. The 8x8 grid is taken aligned with the image origin, as for a
region pasted on the grid (the paper's 64-offset search is not done).

*Qualities.* ``q`` runs from ``q_min`` (50) in steps of ``q_step`` (5) up to
the file's own quality minus 3 for a JPEG (a ghost must be below the final
quality; above it everything is a fixed point), or to 95 otherwise. Fewer
than two qualities in range: not applicable.

*One map from the stack.* Farid normalises each ``D_q`` to [0, 1] and lets
a person look through the stack. To give one map: each ``D_q`` is divided by
its image median (``n_q``, the typical difference at ``q`` is 1), and each
pixel's ``n_q`` by its own geometric mean over the sweep, which removes the
pixel's texture (busy content changes more at every ``q``). A ghost at ``q0``
is where this relative curve dips: ``u_q = n_q / geomean_q(n_q)`` well below
1 at ``q0`` only. The dip depth ``1 - u_q`` is taken at the best ghost
quality ``q*``, the quality whose map has the largest mean dip over its most
dipping 5% of pixels; the heatmap is ``clip(2 (1 - u_{q*}), 0, 1)``: 0.5 at
a 25% dip relative to the pixel's own level. Flat pixels (``D`` under 0.5
grey levels squared at every ``q``) carry no ghost and get confidence 0; so
do pixels whose box is over half clipped (within 2 grey levels of 0 or 255:
they stay clipped at every quality and notch at random); in between the
confidence falls linearly with the clipped share; the map is 0 where the
confidence is below 0.5.

JPEG ghosts give a map to read and a candidate quality, no decision statistic:
the evidence has no score (``decides = False``), as the reference notes say
("reading the output needs a human, or a rule that picks q").

Limits
------
Works only if the region's earlier quality is below the final one, the
region is larger than about ``2b`` pixels and was not resized or shifted off
the 8x8 grid after its earlier compression. Camera (non-IJG) tables dip less
sharply at the IJG quality nearest to them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from PIL import Image as PILImage

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable


#: Grey levels squared added to every mean squared difference before taking ratios.
_OFFSET = 0.0


def recompress_luma(luma: np.ndarray, quality: int) -> np.ndarray:
    """Greyscale JPEG round trip at IJG ``quality``, float32."""
    buffer = io.BytesIO()
    PILImage.fromarray(luma).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(PILImage.open(buffer), dtype=np.float32)


def difference_maps(luma: np.ndarray, qualities: list[int], box: int, stride: int = 1) -> np.ndarray:
    """``D_q``: the ``box x box`` mean squared difference after recompression at each quality.

    Sampled every ``stride`` pixels (at the centre of each ``stride`` cell).
    """
    original = luma.astype(np.float32)
    h, w = luma.shape
    ys = np.minimum(np.arange(0, h, stride) + stride // 2, h - 1)
    xs = np.minimum(np.arange(0, w, stride) + stride // 2, w - 1)
    maps = np.empty((len(qualities), ys.size, xs.size), dtype=np.float32)
    for i, q in enumerate(qualities):
        diff = recompress_luma(luma, q) - original
        maps[i] = cv2.blur(diff * diff, (box, box), borderType=cv2.BORDER_REFLECT)[np.ix_(ys, xs)]
    return maps


@register
@dataclass
class JpegGhost(Detector):
    """JPEG ghosts (Farid 2009), summarised into one map and a ghost quality.

    Parameters
    ----------
    q_min, q_step : int
        Lowest quality of the sweep and its step.
    box : int
        Side of the averaging box in pixels (MKLab: 17).
    stride : int
        The difference maps are kept at one value per ``stride x stride`` pixels
        (they are box averages over ``box`` pixels, so little is lost): memory stays
        at ``len(qualities) / stride^2`` float maps of the image's size.
    """

    q_min: int = 50
    q_step: int = 5
    box: int = 17
    stride: int = 4

    name: ClassVar[str] = "ghost"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = "H. Farid, Exposing digital forgeries from JPEG ghosts, IEEE TIFS 4(1), 2009"
    summary: ClassVar[str] = "region that changes least when re-saved at a lower JPEG quality (a layer to read, no decision)"
    title: ClassVar[str] = "JPEG ghosts"
    trace: ClassVar[str] = "was saved at a lower JPEG quality than the rest of the image before it was put there"
    requires: ClassVar[frozenset[str]] = frozenset()
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        h, w = image.shape
        if min(h, w) < 4 * self.box:
            raise NotApplicable(f"{w}x{h} is too small for JPEG ghosts averaged over {self.box}x{self.box} pixels")
        final = image.jpeg.quality if image.jpeg is not None else None
        top = int(np.floor(final)) - 3 if final is not None else 95
        qualities = list(range(self.q_min, min(top, 95) + 1, self.q_step))
        if len(qualities) < 2:
            raise NotApplicable(
                f"the file's quality ({final:.0f}) leaves no room below it for a ghost "
                f"(sweep from {self.q_min} in steps of {self.q_step})"
            )
        luma = np.clip(np.rint(image.luminance()), 0, 255).astype(np.uint8)
        maps = self._relative_dips(difference_maps(luma, qualities, self.box, self.stride))
        flat = maps.pop("flat")
        dips = maps["dips"]

        clipped = _clipped_share(luma, self.box, self.stride)[: flat.shape[0], : flat.shape[1]]
        confidence = np.clip(1.0 - 2.0 * clipped, 0.0, 1.0) * ~flat
        usable = confidence >= 0.5
        if not usable.any():
            raise NotApplicable("the image is flat or clipped: no area changes under recompression")
        strength = [_top_share_mean(d[usable], 0.05) for d in dips]
        best = int(np.argmax(strength))
        heat = np.clip(2.0 * dips[best], 0.0, 1.0) * usable
        ghost_share = float(np.mean(heat >= 0.5))
        facts = {
            "ghost_quality": qualities[best],
            "ghost_strength": round(float(strength[best]), 4),
            "ghost_share": round(ghost_share, 4),
            "qualities": qualities,
            "strength_by_quality": [round(float(s), 4) for s in strength],
            "file_quality": None if final is None else round(float(final), 1),
        }
        notes = [
            f"Recompressed at IJG qualities {qualities[0]}..{qualities[-1]} (step {self.q_step}); the strongest "
            f"ghost is at quality {qualities[best]}: {100 * ghost_share:.1f}% of the image changes at least 25% "
            f"less there than its own average over the sweep.",
        ]
        if final is not None:
            notes.append(f"The file itself was saved at about quality {final:.0f}; ghosts are looked for below it.")
        return Finding(
            score=None, heatmap=heat.astype(np.float32), stride=self.stride, confidence=confidence, notes=notes, facts=facts
        )

    def _relative_dips(self, stack: np.ndarray) -> dict[str, np.ndarray]:
        """``1 - u_q``: each pixel's dip at each quality below its neighbouring qualities.

        ``u_q = n_q / sqrt(n_{q-} n_{q+})`` (geometric mean of the two neighbours in
        the sweep, the one neighbour at the ends): how a pixel's change depends on q
        follows its content smoothly, a ghost is a notch.
        """
        flat = stack.max(axis=0) < 0.5
        typical = np.median(stack.reshape(stack.shape[0], -1), axis=1)
        # The offset keeps nearly unchanged pixels (a few rounding flips in 17x17) from
        # making deep notches out of noise.
        log_n = np.log(np.maximum(stack + _OFFSET, 1e-3) / np.maximum(typical + _OFFSET, 1e-3)[:, None, None])
        below = np.concatenate([log_n[1:2], log_n[:-1]])
        above = np.concatenate([log_n[1:], log_n[-2:-1]])
        return {"dips": 1.0 - np.exp(log_n - 0.5 * (below + above)), "flat": flat}


def _clipped_share(luma: np.ndarray, box: int, stride: int) -> np.ndarray:
    """Share of pixels within 2 grey levels of 0 or 255 in the ``box`` around each map sample.

    Clipped areas stay clipped at every quality, so their differences are not
    the quantization's and make notches of their own.
    """
    clipped = ((luma <= 2) | (luma >= 253)).astype(np.float32)
    share = cv2.blur(clipped, (box, box), borderType=cv2.BORDER_REFLECT)
    h, w = luma.shape
    ys = np.minimum(np.arange(0, h, stride) + stride // 2, h - 1)
    xs = np.minimum(np.arange(0, w, stride) + stride // 2, w - 1)
    return share[np.ix_(ys, xs)]


def _top_share_mean(values: np.ndarray, share: float) -> float:
    k = max(1, int(share * values.size))
    return float(np.partition(values, values.size - k)[values.size - k :].mean())
