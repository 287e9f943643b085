"""The detector protocol: what every detector declares and how it is run."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ._deadline import DeadlineExceeded, time_limit
from ..evidence import Evidence
from ..image import Image


class NotApplicable(Exception):
    """Raised inside :meth:`Detector.analyze` when the method does not apply.

    Not an error: a JPEG-only method on a PNG answers "not applicable" with the
    reason, and fusion ignores it.
    """


@dataclasses.dataclass
class Finding:
    """What :meth:`Detector.analyze` returns; :meth:`Detector.run` wraps it."""

    score: float | None
    heatmap: np.ndarray | None = None
    stride: int = 1
    confidence: np.ndarray | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)


class Detector:
    """Base class of detectors.

    A subclass is a dataclass whose fields are the method's parameters, sets
    the class attributes below, and implements :meth:`analyze`. It receives the
    decoded :class:`~tamperscope.image.Image` and never reopens the file.
    """

    #: Registry name, lowercase, stable.
    name: ClassVar[str]
    #: Algorithm version: bump when outputs change for the same input.
    version: ClassVar[str]
    #: The paper the method implements.
    citation: ClassVar[str]
    #: One line: what trace the method looks at.
    summary: ClassVar[str]
    #: Plain-language name for reports ("Double JPEG compression").
    title: ClassVar[str]
    #: What a region this method marks shows, completing "the region ..." in a report.
    trace: ClassVar[str]
    #: False for methods that give a map to read and no decision statistic (score None).
    decides: ClassVar[bool] = True
    #: What the method needs from the image: "jpeg" (DCT coefficients), "color".
    requires: ClassVar[frozenset[str]] = frozenset()
    #: The verdict class a positive score supports: "edited", "ai-generated" or "ai-edited".
    indicates: ClassVar[str] = "edited"
    #: "signal" (a trace measured in the pixels) or "provenance" (what the file declares about
    #: itself: signed credentials, metadata, watermarks); fusion lets provenance outrank signals.
    kind: ClassVar[str] = "signal"
    #: Detectors whose evidence this one reads (their maps as inputs). Detectors never import each other:
    #: :func:`tamperscope.detectors.run_detectors` runs these first and hands their Evidence to
    #: :meth:`analyze_with`, so each map is computed once per image however many detectors read it.
    consumes: ClassVar[tuple[str, ...]] = ()

    def analyze(self, image: Image) -> Finding:  # pragma: no cover - abstract
        raise NotImplementedError

    def analyze_with(self, image: Image, prior: Mapping[str, Evidence]) -> Finding:
        """Analyse ``image`` given the evidence of :attr:`consumes` (by detector name); most detectors need none."""
        return self.analyze(image)

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}

    def run(
        self, image: Image, time_limit_s: float | None = None, prior: Mapping[str, Evidence] | None = None
    ) -> Evidence:
        """Run on ``image`` and return :class:`Evidence`, never raising for bad luck.

        ``prior`` holds the evidence of the detectors named in :attr:`consumes`
        (those missing from it are absent for :meth:`analyze_with`).

        A method that does not apply returns status "not-applicable"; a method
        that raises, runs out of memory or runs past ``time_limit_s`` seconds
        returns status "failed" with the reason, so one broken detector cannot
        take the others' evidence down with it.
        """
        start = time.perf_counter()
        evidence = Evidence(detector=self.name, version=self.version, indicates=self.indicates, kind=self.kind)
        try:
            if "jpeg" in self.requires and image.jpeg is None:
                if image.format == "JPEG":
                    raise NotApplicable(image.jpeg_error or "the JPEG internals could not be read")
                raise NotApplicable(f"not a JPEG file ({image.format}), so there are no DCT coefficients to read")
            with time_limit(time_limit_s):
                finding = self.analyze_with(image, {n: prior[n] for n in self.consumes if n in (prior or {})})
        except NotApplicable as exc:
            evidence.status, evidence.reason = "not-applicable", str(exc)
        except DeadlineExceeded as exc:
            evidence.status, evidence.reason = "failed", str(exc)
        except MemoryError:
            evidence.status, evidence.reason = "failed", "ran out of memory"
        except Exception as exc:  # a detector bug must not hide the other detectors' evidence
            evidence.status, evidence.reason = "failed", f"{type(exc).__name__}: {exc}"
        else:
            evidence.score = None if finding.score is None else float(np.clip(finding.score, 0.0, 1.0))
            evidence.heatmap = _as_map(finding.heatmap)
            evidence.confidence = _as_map(finding.confidence)
            evidence.stride = int(finding.stride)
            evidence.notes = list(finding.notes)
            evidence.facts = dict(finding.facts)
            # Provenance detectors name the class per finding (a C2PA manifest may declare AI generation
            # in one file and a plain edit in the next), so the finding's own class wins over the default.
            evidence.indicates = str(finding.facts.get("indicates", self.indicates))
        evidence.runtime_s = time.perf_counter() - start
        return evidence


def _as_map(array: np.ndarray | None) -> np.ndarray | None:
    """A detector's map as float32 in [0, 1] with NaN as 0; a map that already is one is kept, not copied."""
    if array is None:
        return None
    values = np.asarray(array, dtype=np.float32)
    if values.size and 0.0 <= values.min() and values.max() <= 1.0:  # NaN fails both comparisons
        return values
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
