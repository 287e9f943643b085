"""Helpers shared by detectors: bounded-size analysis without resizing (resizing erases the traces they
measure), and the logistic map from a statistic to a [0, 1] score."""

from __future__ import annotations

import math

import numpy as np


def central_crop(plane: np.ndarray, max_side: int) -> tuple[np.ndarray, list[str]]:
    """Central crop of ``plane`` to at most ``max_side`` per side, at offsets that are multiples of 8.

    Multiples of 8 keep the 2x2 up-sampling grid and any 8x8 (JPEG, latent) grid
    where they were. Returns the crop and a note for the report when it cropped.
    """
    h, w = plane.shape[:2]
    ch, cw = min(h, max_side), min(w, max_side)
    if (ch, cw) == (h, w):
        return plane, []
    top, left = (h - ch) // 2 // 8 * 8, (w - cw) // 2 // 8 * 8
    note = f"Measured on the central {cw}x{ch} crop of the {w}x{h} image; resizing would erase the trace."
    return plane[top : top + ch, left : left + cw], [note]


def central_crop_pixels(array: np.ndarray, max_pixels: int, align: int) -> tuple[np.ndarray, tuple[int, int], list[str]]:
    """Central crop of ``array`` to at most ``max_pixels``, same aspect, its corner on multiples of ``align``.

    Returns the crop, its top-left corner in pixels, and a note for the report
    when it cropped (the whole array, (0, 0) and no note otherwise).
    """
    h, w = array.shape[:2]
    if h * w <= max_pixels:
        return array, (0, 0), []
    scale = math.sqrt(max_pixels / (h * w))
    ch, cw = int(h * scale), int(w * scale)
    top, left = (h - ch) // 2 // align * align, (w - cw) // 2 // align * align
    note = f"The image is large: only its central {cw}x{ch} pixels were analysed to bound time and memory."
    return array[top : top + ch, left : left + cw], (top, left), [note]


def crop_origin(shape: tuple[int, int], cropped: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of :func:`central_crop`'s crop of an image of ``shape``."""
    return (shape[0] - cropped[0]) // 2 // 8 * 8, (shape[1] - cropped[1]) // 2 // 8 * 8


def logistic(x: np.ndarray | float, threshold: float, scale: float) -> np.ndarray:
    """0.5 at ``threshold``, rising over ``scale``: a calibrated statistic as a score in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(x, dtype=np.float64) - threshold) / scale))
