"""tamperscope: was this image changed, where, and why.

>>> from tamperscope import analyze
>>> report = analyze("photo.jpg")  # doctest: +SKIP
>>> print(report.summary_text())  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .api import analyze, compare, protect, verify  # noqa: E402
from .errors import InputError, TamperscopeError  # noqa: E402
from .evidence import Evidence  # noqa: E402
from .image import Image, Limits, load  # noqa: E402
from .render import write_report  # noqa: E402
from .report import SCHEMA_VERSION, Report  # noqa: E402

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
