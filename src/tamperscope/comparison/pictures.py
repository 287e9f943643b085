"""Pictures of a comparison in the suspect's frame, shared by the file writer and the HTML page."""

from __future__ import annotations

import numpy as np

from ..report.colormap import overlay
from .frame import warp_into
from .report import Comparison


def aligned_original(comparison: Comparison, tone: bool = False) -> np.ndarray | None:
    """The original warped into the suspect's upright frame (uint8 RGB), optionally through the tone model."""
    if comparison.alignment is None:
        return None
    suspect = comparison.suspect
    height, width = suspect.upright(suspect.pixels).shape[:2]
    original = comparison.original
    warped, _ = warp_into(original.upright(original.pixels), comparison.alignment.matrix, (width, height))
    if tone and comparison.tone is not None:
        warped = comparison.tone.apply(warped.astype(np.float32))
    return np.clip(np.rint(warped), 0, 255).astype(np.uint8)


def comparison_overlay(comparison: Comparison) -> np.ndarray:
    """The suspect with the heatmap, the regions outlined and the part the original does not cover darkened."""
    suspect = comparison.suspect
    pixels = suspect.upright(suspect.pixels)
    picture = overlay(pixels, comparison.heatmap, comparison.mask)
    if comparison.overlap is not None and not comparison.overlap.all():
        outside = ~comparison.overlap
        picture[outside] = (picture[outside].astype(np.float32) * 0.35).astype(np.uint8)
    return picture
