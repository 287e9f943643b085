"""Detector registry: one module per method, looked up by name.

>>> from tamperscope.detectors import available, create
>>> 'dq' in available() and 'zero' in available()
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import UnknownDetector
from .base import Detector, Finding, NotApplicable

_REGISTRY: dict[str, type[Detector]] = {}

#: Named detector sets; "default" is what ``analyze`` runs when none are named.
PROFILES: dict[str, tuple[str, ...]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator adding a detector to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> dict[str, type[Detector]]:
    """All registered detectors by name."""
    return dict(_REGISTRY)


def create(name: str, **params) -> Detector:
    """Instantiate the detector registered as ``name`` with its parameters."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UnknownDetector(
            f"unknown detector {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return cls(**params)


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
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    names = list(dict.fromkeys(names))
    if not names:
        raise UnknownDetector("no detector named")
    params = params or {}
    return [create(name, **dict(params.get(name, {}))) for name in names]


# Importing the modules registers them; the order here is the report's order.
from . import ela, dq, blk, noise  # noqa: E402,F401
from . import c2pa, metadata, invisible_wm  # noqa: E402,F401
from . import adq2, nadq, zero  # noqa: E402,F401
from . import cagi  # noqa: E402,F401
from . import noisesniffer, splicebuster, cfa  # noqa: E402,F401
from . import resampling, median_filter, contrast, ghost  # noqa: E402,F401
from . import copymove_sift, copymove_dense  # noqa: E402,F401
from . import spectral, npr, zed  # noqa: E402,F401
from . import localizer  # noqa: E402,F401
from . import faceswap  # noqa: E402,F401
# In no profile: "watermark" (analyze adds it when a publisher's watermark key is configured); "nadq", whose map
# marks 10-29% of authentic photos for lack of a presence test (docs/accuracy.md); "rivagan". They run when named.
from . import watermark  # noqa: E402,F401

#: Detectors every profile runs: provenance checks read what the file declares, cost milliseconds and
#: outrank signals in fusion. rivagan (seconds; it decides only with an expected payload) runs when named.
_PROVENANCE = ("c2pa", "metadata", "sdwm")

PROFILES.update(
    {
        "fast": ("c2pa", "metadata", "dq", "blk"),
        "default": (*_PROVENANCE, "ela", "dq", "blk", "noise"),
        "thorough": (
            *_PROVENANCE, "ela", "dq", "blk", "noise",
            "adq2", "zero", "cagi",
            "noisesniffer", "splicebuster", "cfa",
            "resampling", "median_filter", "contrast", "ghost",
            "copymove_sift", "copymove_dense",
            "spectral", "npr", "zed",
            "localizer",
            "faceswap",
        ),
    }
)

__all__ = ["Detector", "Finding", "NotApplicable", "PROFILES", "available", "create", "register", "resolve"]
