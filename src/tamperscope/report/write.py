"""Writing a report to disk: report.json, the PNG maps and the readable reports, all or nothing.

Maps are written upright (EXIF orientation applied) so that they line up with
the photo as people see it; the JSON keeps stored-pixel coordinates and the
orientation, so both views can be reconciled.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from ..errors import OutputError
from .colormap import colorize, overlay, to_grey
from .schema import Report

#: Files ``write_report`` creates, by artifact key.
ARTIFACTS = {
    "report": "report.json",
    "heatmap": "heatmap.png",
    "overlay": "overlay.png",
    "mask": "mask.png",
}

#: Report formats ``write_report`` can add: format -> (artifact key, file name). JSON is always written.
FORMATS = {
    "json": ("report", "report.json"),
    "html": ("html", "report.html"),
    "md": ("markdown", "report.md"),
}
_FORMAT_ALIASES = {"markdown": "md", "htm": "html"}


def report_formats(formats: Iterable[str] | str | None) -> list[str]:
    """Normalise report formats ("html,md", ["html"], None) to known names, JSON first.

    Raises ValueError naming an unknown format.
    """
    if formats is None:
        names: list[str] = []
    elif isinstance(formats, str):
        names = [formats]
    else:
        names = list(formats)
    chosen = ["json"]
    for entry in names:
        for name in str(entry).split(","):
            name = _FORMAT_ALIASES.get(name.strip().lower(), name.strip().lower())
            if not name:
                continue
            if name not in FORMATS:
                raise ValueError(f"unknown report format {name!r} (choose from {', '.join(FORMATS)})")
            if name not in chosen:
                chosen.append(name)
    return chosen


def write_report(
    report: Report,
    out_dir: str | os.PathLike,
    layers: bool = True,
    formats: Iterable[str] | str | None = ("json",),
) -> dict[str, str]:
    """Write report.json, heatmap.png, overlay.png, mask.png (and per-detector layers).

    ``formats`` adds readable reports: ``"html"`` writes report.html (one
    self-contained page, see :mod:`tamperscope.report.html`), ``"md"`` writes
    report.md (see :mod:`tamperscope.report.markdown`); report.json is always
    written. Files are first written to a temporary folder beside ``out_dir``
    and moved in only when all succeeded, so a failure never leaves a partial
    report. Returns the artifact map also stored in ``report.artifacts``.
    """
    chosen = report_formats(formats)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tamperscope-", dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    previous = report.artifacts
    try:
        image, fusion = report.image, report.fusion
        upright = image.upright
        heat = upright(fusion.heatmap)
        mask = upright(fusion.mask)
        _save_png(staging / ARTIFACTS["heatmap"], colorize(heat))
        _save_png(staging / ARTIFACTS["overlay"], overlay(upright(image.pixels), heat, mask))
        _save_png(staging / ARTIFACTS["mask"], mask.astype(np.uint8) * 255)
        artifacts = {key: name for key, name in ARTIFACTS.items()}
        if fusion.confidence is not None:
            _save_png(staging / "confidence.png", to_grey(upright(fusion.confidence)))
            artifacts["confidence"] = "confidence.png"
        if layers:
            (staging / "layers").mkdir()
            for item in report.evidence:
                full = item.heatmap_full(image.shape)
                if full is not None:
                    name = f"layers/{item.detector}.png"
                    _save_png(staging / name, colorize(upright(full)))
                    artifacts[f"layer:{item.detector}"] = name
        for name in chosen[1:]:
            key, filename = FORMATS[name]
            artifacts[key] = filename
        report.artifacts = {**artifacts, "directory": str(out)}
        (staging / ARTIFACTS["report"]).write_text(report.to_json() + "\n", encoding="utf-8")
        if "html" in chosen:
            from .html import html_report

            (staging / FORMATS["html"][1]).write_text(html_report(report), encoding="utf-8")
        if "md" in chosen:
            from .markdown import markdown_report

            (staging / FORMATS["md"][1]).write_text(markdown_report(report), encoding="utf-8")
        for entry in staging.iterdir():
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    except OSError as exc:
        report.artifacts = previous
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    except BaseException:
        report.artifacts = previous  # nothing was written: the report must not claim files
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report.artifacts


def _save_png(path: Path, array: np.ndarray) -> None:
    # Level 1: these are large, short-lived maps; speed matters more than bytes.
    PILImage.fromarray(array).save(path, format="PNG", compress_level=1)
