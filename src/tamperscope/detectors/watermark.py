"""The publisher's keyed watermark as one more evidence source (active forensics).

Runs only when a key is configured (``analyze(..., watermark_key=...)``, the
CLI's ``--watermark-key`` or ``TAMPERSCOPE_WATERMARK_KEY``). The mark is the
one ``tamperscope protect`` embeds: dither-modulation QIM (Chen & Wornell
2001) on low DCT frequencies of a working grid, extracted globally and per
block as in MaskMark (2025); see :mod:`tamperscope.watermark`.

* No mark of this key (wrong key, never protected, or destroyed):
  not applicable, "no watermark found"; never a map.
* Mark present: the heatmap marks where the mark is broken (cells, with
  boundaries refined below a cell, at a stride of half a cell). Score
  ``min(1, broken_share / (2 * min_share))``: 0.5 (edited) once the broken
  cells cover ``min_share`` (1%) of the image, the false tamper area the
  mark is specified to stay within after JPEG 75 or a 0.75 resize; the
  smallest edit this is built to find covers 2%. Over the 67 distinct photos
  of both benchmark picks (docs/benchmarks.md), JPEG 75 of a protected photo
  stays below it (max 0.27%); a 0.75 resize passes it on 3 (2.4-3.4%), which
  then read "edited".
* Mark present and nowhere broken: the evidence supports "authentic" with
  score ``intact_score`` (0.8). It is *provenance* (what the publisher put in
  the file, checked with its key), so fusion lets it outrank pixel statistics,
  as it does a broken mark; the note states the resolution it holds at.

The key is a field so that the detector can run, but it is excluded from
:meth:`params` and from ``repr``: reports never contain it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..image import Image
from ..watermark import VerifyParams, verify
from .registry import register
from .base import Detector, Finding, NotApplicable


@register
@dataclass
class WatermarkDetector(Detector):
    """Keyed watermark verification; see the module docstring."""

    name = "watermark"
    version = "1.3"
    citation = (
        "Chen & Wornell, Quantization index modulation, IEEE Trans. Inf. Theory 47(4), 2001; "
        "local extraction after MaskMark (Jiang et al., 2025)"
    )
    summary = "The publisher's keyed watermark (tamperscope protect): present? broken where?"
    title = "Publisher's watermark"
    trace = "is where the publisher's watermark is broken: these pixels changed after the image was protected"
    decides = True
    requires = frozenset()
    kind = "provenance"

    key: bytes = field(default=b"", repr=False)
    presence_log10_p: float = -9.0
    threshold: float = 0.35
    min_cells: int = 4
    min_share: float = 0.01
    intact_score: float = 0.8

    def params(self) -> dict[str, Any]:
        return {
            "presence_log10_p": self.presence_log10_p,
            "threshold": self.threshold,
            "min_cells": self.min_cells,
            "min_share": self.min_share,
            "intact_score": self.intact_score,
            "key_configured": bool(self.key),
        }

    def analyze(self, image: Image) -> Finding:
        if not self.key:
            raise NotApplicable("no watermark key configured")
        params = VerifyParams(self.presence_log10_p, self.threshold, self.min_cells)
        result = verify(image.pixels, _as_bytes(self.key), params=params)
        facts = {
            "present": result.present,
            "bit_accuracy": round(result.bit_accuracy, 4),
            "bits": result.bits,
            "log10_p": round(max(result.log10_p, -1e6), 1),
            "grid": None if result.grid is None else result.grid.label,
            "step": result.step,
        }
        if not result.present:
            raise NotApplicable(
                f"no watermark found for this key (bit agreement {result.bit_accuracy:.1%} over {result.bits} bits, "
                "as an unmarked image or another key gives)"
            )
        share = result.tampered_share
        facts.update(tampered_share=round(share, 5), judged_share=round(result.judged_share, 4))
        score = min(1.0, share / (2 * self.min_share))
        if share > 0:
            note = (f"The publisher's watermark is present (bit agreement {result.bit_accuracy:.1%}) and broken "
                    f"in {share:.1%} of the image.")
        else:
            cell = max(image.height / result.judged.shape[0], image.width / result.judged.shape[1])
            note = (f"The publisher's watermark is present and intact (bit agreement {result.bit_accuracy:.1%}): "
                    f"no change since it was protected, at the mark's resolution (cells of about {cell:.0f} "
                    f"pixels; edits smaller than {self.min_cells} cells are not resolved).")
            score, facts["indicates"] = self.intact_score, "authentic"
        stride = _stride(result.judged.shape, image.shape)
        heat = np.ascontiguousarray(result.heatmap()[::stride, ::stride])
        confidence = _cells_to_stride(result.judged.astype(np.float32), image.shape, stride)
        return Finding(score=score, heatmap=heat, stride=stride, confidence=confidence, notes=[note], facts=facts)


def _as_bytes(key: bytes | str) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _stride(cells: tuple[int, int], shape: tuple[int, int]) -> int:
    """Half a cell of the mark's grid, in image pixels: fine enough for the sub-cell boundaries."""
    height, width = shape
    return max(1, int(min(height / cells[0], width / cells[1]) // 2))


def _cells_to_stride(cells: np.ndarray, shape: tuple[int, int], stride: int) -> np.ndarray:
    """A per-cell map as a map of ``stride``-pixel cells covering the image (nearest)."""
    height, width = shape
    scaled = cv2.resize(cells.astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(scaled[::stride, ::stride])
