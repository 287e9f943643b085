"""Connected regions of a binary map: one labelling for detectors and fusion alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: 8-connectivity: diagonal neighbours belong to the same region.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass
class Regions:
    """8-connected regions of a mask; region ``k`` (1-based) has size ``sizes[k - 1]``."""

    labels: np.ndarray
    sizes: np.ndarray

    @property
    def count(self) -> int:
        return int(self.sizes.size)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values`` over each region."""
        sums = np.bincount(self.labels.ravel(), weights=values.ravel(), minlength=self.count + 1)[1:]
        return sums / np.maximum(self.sizes, 1)

    def member(self, keep: np.ndarray) -> np.ndarray:
        """Boolean map of the pixels in regions whose ``keep`` flag (one per region) is set."""
        return np.concatenate([[False], np.asarray(keep, dtype=bool)])[self.labels]


def connected_regions(mask: np.ndarray) -> Regions:
    """Label the 8-connected regions of ``mask``."""
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    return Regions(labels=labels, sizes=np.bincount(labels.ravel(), minlength=count + 1)[1:])
