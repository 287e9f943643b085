"""tamperscope: was this image changed, where, and why.

>>> from tamperscope import analyze
>>> report = analyze("photo.jpg")  # doctest: +SKIP
>>> print(report.summary_text())  # doctest: +SKIP

The names below are imported on first use (PEP 562), so that ``import tamperscope`` (and every command of
the ``tamperscope`` shell, which imports it first) loads only what it uses.
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .errors import InputError, TamperscopeError

#: Public name -> the module that defines it.
_LAZY = {
    "Evidence": "evidence",
    "Image": "image",
    "Limits": "image",
    "Report": "report",
    "SCHEMA_VERSION": "report",
    "analyze": "api",
    "compare": "api",
    "load": "image",
    "protect": "api",
    "verify": "api",
    "write_report": "report",
}

__all__ = [
    "Evidence",
    "Image",
    "InputError",
    "Limits",
    "Report",
    "SCHEMA_VERSION",
    "TamperscopeError",
    "__version__",
    "analyze",
    "compare",
    "load",
    "protect",
    "verify",
    "write_report",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
