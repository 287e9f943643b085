"""The region decision's threshold, calibrated on benign-only pairs (``models/compare.json``).

The file is written by ``tamperscope train compare``
(:mod:`tamperscope.train.compare`; the command, the photos with their SHA-256
and the rate above the threshold per transform are inside it) and read here
once. A region of the comparison is reported when its statistic reaches
``threshold``: the ``1 - target`` quantile, over the calibration's benign-only
pairs, of the largest candidate region's statistic in each pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Calibration:
    statistic: str
    threshold: float
    target_false_alarm: float
    pairs: int
    source: str

    def to_dict(self) -> dict:
        return {
            "statistic": self.statistic,
            "threshold": self.threshold,
            "target_false_alarm": self.target_false_alarm,
            "calibration_pairs": self.pairs,
            "source": self.source,
        }


@lru_cache(maxsize=1)
def load_calibration() -> Calibration:
    """The shipped calibration (``tamperscope/models/compare.json``)."""
    text = resources.files("tamperscope.models").joinpath("compare.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return Calibration(
        statistic=data["statistic"],
        threshold=float(data["threshold"]),
        target_false_alarm=float(data["target_false_alarm"]),
        pairs=int(data["pairs"]),
        source="tamperscope/models/compare.json",
    )
