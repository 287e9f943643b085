"""The detector registry: each detector module registers its class under its name with :func:`register`.

A module of its own so that detectors import ``register`` from here, not from the package ``__init__``
(which would be an import circle). :data:`MODULES` names the module of every detector, and a module is
imported when one of its detectors is first needed, so that analysing with one profile never loads what only
the others need (``scipy.stats`` for ZERO, onnxruntime for the learned models...): the command line starts in
the time its profile needs. :func:`available` imports them all.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownDetector
from .base import Detector

#: Every detector's registry name -> the module of this package that defines it, in the report's order
#: (``tamperscope detectors`` lists them so). A new detector adds its line here.
MODULES: dict[str, str] = {
    "ela": "ela", "dq": "dq", "blk": "blk", "noise": "noise",
    "c2pa": "c2pa", "metadata": "metadata", "sdwm": "invisible_wm", "rivagan": "invisible_wm",
    "adq2": "adq2", "nadq": "nadq", "zero": "zero",
    "cagi": "cagi",
    "noisesniffer": "noisesniffer", "splicebuster": "splicebuster", "cfa": "cfa",
    "resampling": "resampling", "median_filter": "median_filter", "contrast": "contrast", "ghost": "ghost",
    "copymove_sift": "copymove_sift", "copymove_dense": "copymove_dense",
    "spectral": "spectral", "npr": "npr", "zed": "zed",
    "localizer": "localizer",
    "faceswap": "faceswap",
    "aigen": "aigen",
    "watermark": "watermark",
}

_REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator adding a detector to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def detector_class(name: str) -> type[Detector]:
    """The class registered as ``name``, importing its module on first use.

    Raises UnknownDetector (one line, with the known names) for a name no module defines.
    """
    if name not in _REGISTRY and name in MODULES:
        importlib.import_module(f"{__package__}.{MODULES[name]}")
    try:
        return _REGISTRY[name]
    except KeyError:
        known = sorted({*MODULES, *_REGISTRY})
        raise UnknownDetector(f"unknown detector {name!r}; known: {', '.join(known)}") from None


def catalogue(names) -> dict[str, type[Detector]]:
    """The classes of those of ``names`` that are detectors (their modules imported on first use)."""
    found = {}
    for name in names:
        try:
            found[name] = detector_class(name)
        except UnknownDetector:  # e.g. the calibrated fusion's "integrity", or a detector of a newer version
            continue
    return found


def available() -> dict[str, type[Detector]]:
    """Every detector by name, in the report's order (imports every detector module)."""
    found = {name: detector_class(name) for name in MODULES}
    return {**found, **_REGISTRY}


def create(name: str, **params) -> Detector:
    """Instantiate the detector registered as ``name`` with its parameters."""
    return detector_class(name)(**params)
