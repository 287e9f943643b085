"""Detector registry: one module per method, looked up by name.

>>> from tamperscope.detectors import available, create
>>> sorted(available())  # doctest: +SKIP
['adq2', 'blk', 'dq', 'ela', 'nadq', 'noise', 'zero']
"""

from __future__ import annotations

from collections.abc import Iterable

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


def resolve(names: Iterable[str] | str | None = None, profile: str = "default") -> list[Detector]:
    """Detectors for a list of names (or a comma-separated string), else a profile."""
    if names is None:
        if profile not in PROFILES:
            raise UnknownDetector(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        names = PROFILES[profile]
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    names = list(dict.fromkeys(names))
    if not names:
        raise UnknownDetector("no detector named")
    return [create(name) for name in names]


# Importing the modules registers them; the order here is the report's order.
from . import ela, dq, blk, noise, adq2, nadq, zero  # noqa: E402,F401

PROFILES.update(
    {
        "fast": ("dq", "blk"),
        "default": ("ela", "dq", "blk", "noise"),
        "thorough": ("ela", "dq", "blk", "noise", "adq2", "nadq", "zero"),
    }
)

__all__ = ["Detector", "Finding", "NotApplicable", "PROFILES", "available", "create", "register", "resolve"]
