"""Writing a comparison to disk: report.json, the maps in the suspect's frame, the aligned original, report.html.

All or nothing, like ``analyze``'s reports (:func:`tamperscope.report.write.staged`). Files:

* ``report.json`` - always;
* ``heatmap.png`` (colour scale of every map), ``mask.png`` (white = changed), ``overlay.png`` (the suspect
  with the heatmap, the regions outlined and what the original does not cover darkened), ``aligned.png`` (the
  original brought into the suspect's frame by the fitted map, colours as they are) - when the pair was
  aligned;
* ``report.html`` - with ``formats`` including "html": one self-contained page with side-by-side, swipe and
  blink views (:mod:`tamperscope.comparison.html`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ..report.colormap import colorize
from ..report.write import report_formats, save_png, staged
from .pictures import aligned_original, comparison_overlay
from .report import Comparison

#: Files written for an aligned pair, by artifact key.
ARTIFACTS = {
    "report": "report.json",
    "heatmap": "heatmap.png",
    "mask": "mask.png",
    "overlay": "overlay.png",
    "aligned": "aligned.png",
}
#: Readable reports a comparison can add (Markdown is not offered: the views need a page).
FORMATS = ("json", "html")


def comparison_formats(formats: Iterable[str] | str | None) -> list[str]:
    """Normalise the formats as ``analyze`` does; ValueError names one a comparison cannot write."""
    return report_formats(formats, known=FORMATS)


def write_comparison(
    comparison: Comparison, out_dir: str | os.PathLike, formats: Iterable[str] | str | None = ("json",)
) -> dict[str, str]:
    """Write the comparison's files into ``out_dir`` (see the module doc); returns the artifact map.

    Raises
    ------
    tamperscope.errors.OutputError
        The folder cannot be made or written (nothing is left half-written).
    ValueError
        An unknown or unavailable report format.
    """
    chosen = comparison_formats(formats)
    previous = comparison.artifacts
    try:
        with staged(out_dir) as staging:
            artifacts = {"report": ARTIFACTS["report"]}
            if comparison.heatmap is not None:
                save_png(staging / ARTIFACTS["heatmap"], colorize(comparison.heatmap))
                save_png(staging / ARTIFACTS["mask"], comparison.mask.astype(np.uint8) * 255)
                save_png(staging / ARTIFACTS["overlay"], comparison_overlay(comparison))
                save_png(staging / ARTIFACTS["aligned"], aligned_original(comparison))
                artifacts.update({k: v for k, v in ARTIFACTS.items() if k != "report"})
            if "html" in chosen:
                artifacts["html"] = "report.html"
            comparison.artifacts = {**artifacts, "directory": str(out_dir)}
            (staging / ARTIFACTS["report"]).write_text(comparison.to_json() + "\n", encoding="utf-8")
            if "html" in chosen:
                from .html import comparison_html

                (staging / "report.html").write_text(comparison_html(comparison), encoding="utf-8")
    except BaseException:
        comparison.artifacts = previous
        raise
    return comparison.artifacts
