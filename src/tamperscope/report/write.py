"""Writing a report to disk: report.json, the maps and pictures, and the readable reports, all or nothing.

What is written, and at what cost (docs/performance.md measures it):

* ``mask.png``: the regions' pixels, lossless at full resolution (0 or 255).
* ``heatmap.png``, ``confidence.png`` and ``layers/NAME.png``: the maps a program reads, lossless at their native
  resolution: one map pixel per ``stride x stride`` cell of the stored image (the cell side is
  ``artifacts["map_scale"][key]`` in report.json), or per image pixel with ``full_size_maps``. The heatmap and the
  layers are palette PNGs whose pixel values are the map's 0..255 levels and whose palette is the inferno colour
  scale; ``confidence.png`` is grey.
* ``overlay.jpg``: the fused map over the photo at full resolution, for people: a JPEG.
* ``report.html`` and ``report.md`` when asked for; the HTML page embeds the very map files written here when they
  fit its previews, encoded once.

Pictures and maps are written upright (EXIF orientation applied) so that they line up with the photo as people
see it; the JSON keeps stored-pixel coordinates and the orientation, so both views can be reconciled. Files are
encoded in parallel threads when the process may use more than one core (the encoders release the GIL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..evidence import expand_cells
from ..fusion import grid_shape
from .colormap import jpeg_bytes, map_png, overlay_picture, png_bytes, to_grey
from .schema import Report

#: Files ``write_report`` creates, by artifact key.
ARTIFACTS = {
    "report": "report.json",
    "heatmap": "heatmap.png",
    "overlay": "overlay.jpg",
    "mask": "mask.png",
}

#: Report formats ``write_report`` can add: format -> (artifact key, file name). JSON is always written.
FORMATS = {
    "json": ("report", "report.json"),
    "html": ("html", "report.html"),
    "md": ("markdown", "report.md"),
}
_FORMAT_ALIASES = {"markdown": "md", "htm": "html"}


def report_formats(formats: Iterable[str] | str | None, known: Iterable[str] | None = None) -> list[str]:
    """Normalise report formats ("html,md", ["html"], None) to known names, JSON first.

    ``known`` narrows the accepted names (a comparison writes json and html only); default: :data:`FORMATS`.
    Raises ValueError naming an unknown format.
    """
    known = tuple(FORMATS if known is None else known)
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
            if name not in known:
                raise ValueError(f"unknown report format {name!r} (choose from {', '.join(known)})")
            if name not in chosen:
                chosen.append(name)
    return chosen


def write_report(
    report: Report,
    out_dir: str | os.PathLike,
    layers: bool = True,
    formats: Iterable[str] | str | None = ("json",),
    full_size_maps: bool = False,
) -> dict:
    """Write report.json, heatmap.png, overlay.jpg, mask.png (and per-detector layers) into ``out_dir``.

    ``formats`` adds readable reports: ``"html"`` writes report.html (one self-contained page, see
    :mod:`tamperscope.report.html`), ``"md"`` writes report.md (see :mod:`tamperscope.report.markdown`);
    report.json is always written. Maps are written at their detectors' native resolution (the scale is in
    ``artifacts["map_scale"]``) unless ``full_size_maps``, which upscales them to the image's pixels.
    Files are first written to a temporary folder beside ``out_dir`` and moved in only when all succeeded, so a
    failure never leaves a partial report. The time spent is added to ``report.timings`` (``write`` and its
    steps; report.json is written last, carrying them). Returns the artifact map also stored in
    ``report.artifacts``.
    """
    began = time.perf_counter()
    chosen = report_formats(formats)
    out = Path(out_dir)
    previous, previous_timings = report.artifacts, dict(report.timings)
    try:
        with staged(out) as staging:
            jobs, scales = _pictures(report, layers, full_size_maps)
            encoded = _run(jobs)
            if layers:
                (staging / "layers").mkdir()  # replaces the layers of an earlier report in this folder
            for name, data in encoded.values():
                (staging / name).write_bytes(data)
            order = [*ARTIFACTS, "confidence"]
            keys = sorted(encoded, key=lambda k: order.index(k) if k in order else len(order))
            artifacts = {"report": ARTIFACTS["report"], **{key: encoded[key][0] for key in keys}}
            for name in chosen[1:]:
                key, filename = FORMATS[name]
                artifacts[key] = filename
            report.artifacts = {**artifacts, "map_scale": scales, "directory": str(out)}
            pictures_done = time.perf_counter()
            report.timings["write:pictures"] = pictures_done - began
            if "html" in chosen:
                from .html import html_report

                page = html_report(report, maps={key: data for key, (_, data) in encoded.items() if key in scales})
                (staging / FORMATS["html"][1]).write_text(page, encoding="utf-8")
                report.timings["write:html"] = time.perf_counter() - pictures_done
            if "md" in chosen:
                from .markdown import markdown_report

                (staging / FORMATS["md"][1]).write_text(markdown_report(report), encoding="utf-8")
            # Everything but report.json itself, which carries the figure.
            report.timings["write"] = time.perf_counter() - began
            (staging / ARTIFACTS["report"]).write_text(report.to_json() + "\n", encoding="utf-8")
    except BaseException:
        report.artifacts, report.timings = previous, previous_timings  # nothing was written: claim no files
        raise
    return report.artifacts


@contextmanager
def staged(out_dir: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder inside ``out_dir`` whose entries replace those of ``out_dir`` when the block succeeds.

    All or nothing: when the block raises, nothing in ``out_dir`` changes. An ``OSError`` (the folder cannot be
    made or written) becomes an :class:`~tamperscope.errors.OutputError` with one line.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tamperscope-", dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    try:
        yield staging
        for entry in staging.iterdir():
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_png(path: Path, array: np.ndarray) -> None:
    """A map or picture (uint8 grey or RGB) as a PNG file, encoded as the report's maps are."""
    path.write_bytes(png_bytes(array))


def _pictures(report: Report, layers: bool, full_size: bool) -> tuple[dict[str, tuple[str, Callable[[], bytes]]], dict]:
    """What to encode: artifact key -> (file name, encoder), and the scale of every map (pixels per map pixel)."""
    image, fusion = report.image, report.fusion
    upright = image.upright
    jobs: dict[str, tuple[str, Callable[[], bytes]]] = {}
    scales: dict[str, int] = {}

    def add_map(key: str, name: str, cells: np.ndarray, stride: int, grey: bool = False) -> None:
        def encode() -> bytes:
            # The image's pixels, or the cells covering it exactly (the last ones may run past its edge).
            values = upright(expand_cells(cells, stride, image.shape) if full_size
                             else expand_cells(cells, 1, grid_shape(image.shape, stride)))
            return png_bytes(to_grey(values)) if grey else map_png(values)

        jobs[key] = (name, encode)
        scales[key] = 1 if full_size else int(stride)

    jobs["overlay"] = (ARTIFACTS["overlay"], lambda: jpeg_bytes(upright(
        overlay_picture(image.pixels, fusion.heatmap_cells, fusion.stride, fusion.mask_cells)), consume=True))
    jobs["mask"] = (ARTIFACTS["mask"], lambda: png_bytes(upright(
        expand_cells(fusion.mask_cells.astype(np.uint8) * np.uint8(255), fusion.stride, image.shape))))
    add_map("heatmap", ARTIFACTS["heatmap"], fusion.heatmap_cells, fusion.stride)
    if fusion.confidence_cells is not None:
        add_map("confidence", "confidence.png", fusion.confidence_cells, fusion.stride, grey=True)
    if layers:
        for item in report.evidence:
            if item.heatmap is not None:
                add_map(f"layer:{item.detector}", f"layers/{item.detector}.png", item.heatmap, item.stride)
    return jobs, scales


def _run(jobs: dict[str, tuple[str, Callable[[], bytes]]]) -> dict[str, tuple[str, bytes]]:
    """Encode every job (the overlay, the largest, first), in threads when this process may use more than one core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if cores <= 1:
        return {key: (name, encode()) for key, (name, encode) in jobs.items()}
    with ThreadPoolExecutor(max_workers=min(cores, 4)) as pool:
        futures = {key: (name, pool.submit(encode)) for key, (name, encode) in jobs.items()}
        return {key: (name, future.result()) for key, (name, future) in futures.items()}
