"""Detector registry: one module per method, looked up by name.

>>> from tamperscope.detectors import available, create
>>> 'dq' in available() and 'zero' in available()
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import UnknownDetector
from ..evidence import Evidence
from .base import Detector, Finding, NotApplicable
from .registry import MODULES, available, catalogue, create, detector_class, register

#: Named detector sets; "default" is what ``analyze`` runs when none are named.
PROFILES: dict[str, tuple[str, ...]] = {}
#: Parameters a profile gives its detectors (a caller's ``params`` win): a thorough run buys more views.
PROFILE_PARAMS: dict[str, dict[str, dict[str, Any]]] = {}


def resolve(
    names: Iterable[str] | str | None = None,
    profile: str = "default",
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Detector]:
    """Detectors for a list of names (or a comma-separated string), else a profile.

    ``params`` maps a detector name to its parameters (e.g. ``{"c2pa": {"trust_anchors": "roots.pem"}}``);
    detectors not chosen ignore theirs.
    """
    if names is None:
        if profile not in PROFILES:
            raise UnknownDetector(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        names = PROFILES[profile]
        params = {**PROFILE_PARAMS.get(profile, {}), **(params or {})}
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    names = list(dict.fromkeys(names))
    if not names:
        raise UnknownDetector("no detector named")
    params = params or {}
    return [create(name, **dict(params.get(name, {}))) for name in names]


def with_prerequisites(chosen: list[Detector]) -> list[Detector]:
    """``chosen`` in an order where every detector comes after those it :attr:`~Detector.consumes`.

    A prerequisite that was not chosen is added (with its default parameters) just before its first
    consumer, and its evidence is reported like any other: it ran, and the report says what ran.
    """
    by_name = {d.name: d for d in chosen}
    ordered: list[Detector] = []
    placed: set[str] = set()

    def place(detector: Detector, path: tuple[str, ...]) -> None:
        if detector.name in placed:
            return
        if detector.name in path:
            raise ValueError(f"detectors consume each other in a circle: {' -> '.join((*path, detector.name))}")
        for name in detector.consumes:
            place(by_name.setdefault(name, create(name)), (*path, detector.name))
        placed.add(detector.name)
        ordered.append(detector)

    for detector in chosen:
        place(detector, ())
    return ordered


def run_detectors(image, chosen: list[Detector], time_limit_s: float | None = None) -> list[Evidence]:
    """Run ``chosen`` on ``image`` (prerequisites first, see :func:`with_prerequisites`); one Evidence each.

    What the detectors computed for each other (``Image.shared``, the luminance) is released when they are done,
    so that the memory is free for fusion and the report.
    """
    found: dict[str, Evidence] = {}
    try:
        for detector in with_prerequisites(chosen):
            found[detector.name] = detector.run(image, time_limit_s, found)
    finally:
        image.release_shared()
    return list(found.values())


# Detector modules are imported when first needed (registry.MODULES), never all at once here: a profile
# loads only its own detectors' libraries. In no profile: "watermark" (analyze adds it when a publisher's
# watermark key is configured); "nadq", whose map marks 10-29% of authentic photos for lack of a presence test
# (docs/accuracy.md); "rivagan". They run when named.

#: Detectors every profile runs: provenance checks read what the file declares, cost milliseconds and
#: outrank signals in fusion. rivagan (seconds; it decides only with an expected payload) runs when named.
_PROVENANCE = ("c2pa", "metadata", "sdwm")

PROFILES.update(
    {
        "fast": ("c2pa", "metadata", "dq", "blk"),
        # copymove_sift joined with its false-alarm control (issue #16): 0-1.8 % of authentic development photos
        # flagged, about 1 s per image on one core whatever the size (docs/benchmarks.md, docs/performance.md).
        # Not aigen (issue #17), although one crop costs about 0.2 s of one core: it calls the test forgeries' photo
        # (skimage's astronaut, upscaled x2) ai-generated at P 0.98, and that call then outranks their localized
        # edits in the verdict; whether it joins is fusion's question (issue 21; docs/benchmarks.md).
        "default": (*_PROVENANCE, "ela", "dq", "blk", "noise", "copymove_sift"),
        "thorough": (
            *_PROVENANCE, "ela", "dq", "blk", "noise",
            "adq2", "zero", "cagi",
            "noisesniffer", "splicebuster", "cfa",
            "resampling", "median_filter", "contrast", "ghost",
            "copymove_sift", "copymove_dense",
            "spectral", "npr", "zed",
            "localizer",
            "faceswap",
            "aigen",
        ),
    }
)
PROFILE_PARAMS.update({"thorough": {"aigen": {"crops": 3}}})

__all__ = ["Detector", "Finding", "MODULES", "NotApplicable", "PROFILES", "PROFILE_PARAMS", "available", "catalogue",
           "create", "detector_class", "register", "resolve", "run_detectors", "with_prerequisites"]
