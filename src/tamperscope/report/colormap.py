"""Heat to colour: the one colour scale of the PNG maps, the overlay, the scan's thumbnails and the HTML legend.

Every picture of a map goes through :func:`colorize`, so a colour means the same strength in every file.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_grey(values: np.ndarray) -> np.ndarray:
    """float [0, 1] map -> uint8 0..255, rounded: the one quantization of every picture of a map."""
    return np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)


def colorize(heat: np.ndarray) -> np.ndarray:
    """float [0, 1] map -> uint8 RGB with the perceptually uniform inferno colormap."""
    grey = to_grey(heat)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def overlay(pixels: np.ndarray, heat: np.ndarray, mask: np.ndarray | None = None, opacity: float = 0.6) -> np.ndarray:
    """Heat blended over the photo, stronger where the heat is higher; mask outlined."""
    alpha = (np.clip(heat, 0.0, 1.0) * opacity)[..., None]
    blended = pixels.astype(np.float32) * (1.0 - alpha) + colorize(heat).astype(np.float32) * alpha
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    if mask is not None and mask.any():
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        thickness = max(1, round(max(mask.shape) / 400))
        cv2.drawContours(out, contours, -1, (0, 255, 255), thickness)
    return out
