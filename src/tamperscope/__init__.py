"""tamperscope: was this image changed, where, and why.

>>> from tamperscope import analyze
>>> report = analyze("photo.jpg")  # doctest: +SKIP
>>> print(report.summary_text())  # doctest: +SKIP
"""

from ._version import __version__
from .api import analyze, protect, verify
from .errors import InputError, TamperscopeError
from .evidence import Evidence
from .image import Image, Limits, load
from .report import SCHEMA_VERSION, Report, write_report

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
    "load",
    "protect",
    "verify",
    "write_report",
]
