"""The detector registry: each detector module registers its class under its name with :func:`register`.

A module of its own so that detectors import ``register`` from here, not from the package ``__init__`` that
imports them (which would be an import circle). The package imports every detector module, so
``tamperscope.detectors.available()`` lists them all.
"""

from __future__ import annotations

from ..errors import UnknownDetector
from .base import Detector

_REGISTRY: dict[str, type[Detector]] = {}


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
