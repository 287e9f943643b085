"""From a fused result to what a person reads: the report, its explanation and the files written from it.

============  ===========================================================================================
``schema``    :class:`Report` (what ``analyze`` returns) and its versioned JSON, ``SCHEMA_VERSION``
``explain``   the grounded explanation: sentences built only from the evidence, each citing its evidence ids
``narrate``   optional rewording of the explanation by a local OpenAI-compatible model (off by default)
``write``     :func:`write_report`: report.json, the PNG maps and the readable reports, all or nothing
``html``      report.html, one self-contained page
``markdown``  report.md
``present``   what the readable reports (and the scan gallery) show, in words, shared by HTML and Markdown
============  ===========================================================================================

>>> from tamperscope.report import Report, SCHEMA_VERSION, write_report
"""

from .explain import Explanation
from .narrate import Narrative, NarrativeConfig
from .schema import SCHEMA_ID, SCHEMA_VERSION, Report, utc_now
from .write import ARTIFACTS, FORMATS, report_formats, write_report

__all__ = [
    "ARTIFACTS",
    "Explanation",
    "FORMATS",
    "Narrative",
    "NarrativeConfig",
    "Report",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "report_formats",
    "utc_now",
    "write_report",
]
