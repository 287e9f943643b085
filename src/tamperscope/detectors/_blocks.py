"""Window-to-cell helpers shared by the windowed detectors (no detector imports another)."""

from __future__ import annotations

import numpy as np


def windows_view(array: np.ndarray, size: int, step: int) -> np.ndarray:
    """View of all ``size x size`` windows of a 2-D array at ``step``: ``(rows, cols, size, size)``."""
    view = np.lib.stride_tricks.sliding_window_view(array, (size, size))
    return view[::step, ::step]


def cells_from_windows(values: np.ndarray, shape: tuple[int, int], step: int) -> np.ndarray:
    """Per ``step`` cell, the mean of the windows of side ``2 step`` at ``step`` that cover it.

    ``values`` holds one number per window (``(rows, cols)``, window ``(i, j)``
    starting at pixel ``(i step, j step)``); the result has ``ceil(h / step) x
    ceil(w / step)`` cells, each covered by up to four windows.
    """
    h, w = shape
    ny, nx = -(-h // step), -(-w // step)
    total = np.zeros((ny, nx))
    count = np.zeros((ny, nx))
    rows, cols = values.shape
    for dy in (0, 1):
        for dx in (0, 1):
            total[dy : dy + rows, dx : dx + cols] += values
            count[dy : dy + rows, dx : dx + cols] += 1
    return total / np.maximum(count, 1)
