"""The one type every detector returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "not-applicable", "failed"]


@dataclass
class Evidence:
    """What one detector found in one image.

    Attributes
    ----------
    detector, version : str
        Which detector, at which algorithm version, produced this.
    status : {"ok", "not-applicable", "failed"}
        "not-applicable" is an answer, not an error (a JPEG check on a PNG);
        "failed" means the detector raised and ``reason`` holds the error.
    reason : str or None
        Why the detector is not applicable or failed.
    score : float or None
        Image-level strength of the evidence of manipulation in [0, 1], as
        defined in the detector's docstring. None for methods that give a map
        to read but no decision statistic (ELA).
    heatmap : ndarray or None
        float32 in [0, 1], higher = more likely manipulated, one value per
        ``stride x stride`` cell of the stored image (stride 1 = pixels).
    stride : int
        Cell size of ``heatmap`` and ``confidence`` in pixels.
    confidence : ndarray or None
        float32 in [0, 1], how far the heatmap can be trusted per cell.
    notes : list of str
        Short factual sentences (what was measured), never a verdict.
    facts : dict
        Small JSON-serialisable measurements (estimated quality, periods...).
    runtime_s : float
        Wall time of the detector on this image.
    indicates : {"edited", "ai-generated", "ai-edited", "authentic"}
        The verdict class a score >= the fusion threshold supports. "authentic"
        only for provenance that positively attests an unedited capture (a
        trusted C2PA manifest of a camera capture with no edits).
    kind : {"signal", "provenance"}
        "signal" for traces measured in the pixels, "provenance" for what the
        file declares about itself; fusion lets provenance outrank signals.
    """

    detector: str
    version: str
    status: Status = "ok"
    reason: str | None = None
    score: float | None = None
    heatmap: np.ndarray | None = None
    stride: int = 1
    confidence: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    runtime_s: float = 0.0
    indicates: str = "edited"
    kind: str = "signal"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def full_resolution(self, array: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
        """Expand a map given per ``stride`` cell to ``shape`` pixels (nearest; a new float32 array)."""
        if array is None:
            return None
        return expand_cells(np.asarray(array, dtype=np.float32), self.stride, shape, copy=True)

    def heatmap_full(self, shape: tuple[int, int]) -> np.ndarray | None:
        return self.full_resolution(self.heatmap, shape)

    def confidence_full(self, shape: tuple[int, int]) -> np.ndarray | None:
        return self.full_resolution(self.confidence, shape)

    def summary(self) -> dict[str, Any]:
        """JSON-ready view (maps are written as files, not inlined)."""
        return {
            "detector": self.detector,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "score": None if self.score is None else round(float(self.score), 4),
            "has_heatmap": self.heatmap is not None,
            "stride": self.stride,
            "has_confidence": self.confidence is not None,
            "notes": list(self.notes),
            "facts": self.facts,
            "runtime_s": round(float(self.runtime_s), 4),
            "indicates": self.indicates,
            "kind": self.kind,
        }


def expand_cells(
    cells: np.ndarray, stride: int, shape: tuple[int, int], top: int = 0, copy: bool = False
) -> np.ndarray:
    """Pixels ``top .. top + shape[0]`` (all ``shape[1]`` columns) of a map given per ``stride x stride`` cell.

    Cell ``(i, j)`` covers pixels ``i * stride .. (i + 1) * stride`` (rows) and the same in columns, from the
    image's top-left corner; where the cells end before the image does, the last row and column of cells are
    repeated, and cells past the image's edge are cut. Nearest, exact: a cell's value is each of its pixels'
    (an empty map is zero everywhere).
    Used by every expansion of a cell map (fusion, the report's pictures), so that they all agree. Returns
    ``cells`` itself when it already is the requested pixels (stride 1, same shape), unless ``copy``.
    """
    height, width = shape
    rows, cols = cells.shape[:2]
    if rows == 0 or cols == 0:
        return np.zeros(shape, dtype=cells.dtype)  # nothing measured anywhere
    if stride == 1 and top == 0 and (rows, cols) == (height, width):
        return cells.copy() if copy else cells
    ys = np.minimum(np.arange(top, top + height) // stride, rows - 1)
    xs = np.minimum(np.arange(width) // stride, cols - 1)
    return np.take(np.take(cells, ys, axis=0), xs, axis=1)
