"""The ``tamperscope`` command: a thin shell over the Python API.

Exit codes: 0 analysed (whatever the verdict); 1 internal error (a bug: please
report it); 2 bad input (unreadable, unsupported, truncated, too large) or bad
usage (unknown detector, an output folder that cannot be written). Errors are one line on stderr, never a traceback (set
``TAMPERSCOPE_DEBUG=1`` to see one).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

# The commands below keep their short private names for the shared helpers.
from .exits import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK  # noqa: F401  (EXIT_OK: part of the shell's contract)
from .exits import fail as _fail
from .exits import guarded as _guarded
from .memory import keep_freed_memory

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Image forensics: was this image changed, where, and why.",
)


@app.command()
def analyze(
    image: Path = typer.Argument(..., help="Image file (JPEG, PNG, TIFF, WebP, BMP; HEIC/AVIF with pillow-heif), "
                                "or a video clip (MP4, MOV, AVI, MKV: faces are tracked over sampled frames)."),
    out: Optional[Path] = typer.Option(
        None, "-o", "--out", help="Folder for report.json, heatmap.png, overlay.jpg, mask.png."
    ),
    report_formats: Optional[List[str]] = typer.Option(
        None,
        "--report",
        help="Readable reports to add with -o: html (report.html, one self-contained page), md (report.md); "
        "repeat or comma-separate. report.json is always written.",
    ),
    detectors: Optional[str] = typer.Option(None, "--detectors", help="Comma-separated detector names."),
    profile: str = typer.Option("default", "--profile", help="Detector set: fast, default or thorough."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of the summary."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Largest accepted canvas (default 120 MP)."),
    max_file_mb: Optional[float] = typer.Option(None, "--max-file-mb", help="Largest accepted file (default 256)."),
    detector_seconds: Optional[float] = typer.Option(
        None, "--detector-seconds", help="Time limit of each detector; 0 turns it off (default 120)."
    ),
    narrate_endpoint: Optional[str] = typer.Option(
        None,
        "--narrate-endpoint",
        envvar="TAMPERSCOPE_NARRATE_ENDPOINT",
        help="Base URL of a local OpenAI-compatible API (e.g. http://127.0.0.1:8080/v1) that rewrites the "
        "grounded explanation as a paragraph. Off when unset; the image is never sent unless --narrate-image.",
    ),
    narrate_model: str = typer.Option("local", "--narrate-model", envvar="TAMPERSCOPE_NARRATE_MODEL"),
    narrate_image: bool = typer.Option(False, "--narrate-image", help="Also send a downscaled copy of the image."),
    trust_anchors: Optional[Path] = typer.Option(
        None,
        "--trust-anchors",
        envvar="TAMPERSCOPE_TRUST_ANCHORS",
        help="PEM file of trusted root certificates for Content Credentials (C2PA). Without it a valid "
        "signature is reported as valid but untrusted.",
    ),
    watermark_key: Optional[str] = typer.Option(
        None, "--watermark-key", envvar="TAMPERSCOPE_WATERMARK_KEY", show_envvar=True,
        help="The publisher's key of 'tamperscope protect': adds the watermark check as evidence "
        "(the key is never written to the report).",
    ),
    full_size_maps: bool = typer.Option(
        False, "--full-size-maps", help="With -o: write heatmap.png, confidence.png and layers/ at the image's "
        "full resolution instead of each map's own (report.json's artifacts.map_scale gives that scale).",
    ),
) -> None:
    """Analyse one image: verdict, regions and evidence; with -o, write the report files."""
    from ..api import analyze as run_analysis
    from ..report.write import report_formats as normalise_formats
    from ..report.write import write_report

    try:
        formats = normalise_formats(report_formats)
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if report_formats and out is None:
        _fail("--report needs -o/--out: the report files are written into that folder", EXIT_BAD_INPUT)
    limits = _limits(max_pixels, max_file_mb, detector_seconds)

    narrative = None
    if narrate_endpoint:
        from ..report.narrate import NarrativeConfig

        narrative = NarrativeConfig(
            endpoint=narrate_endpoint,
            model=narrate_model,
            api_key=os.environ.get("TAMPERSCOPE_NARRATE_API_KEY"),
            include_image=narrate_image,
        )

    params = {}
    if trust_anchors is not None:
        if not trust_anchors.is_file():
            _fail(f"--trust-anchors {trust_anchors}: no such file", EXIT_BAD_INPUT)
        params["c2pa"] = {"trust_anchors": str(trust_anchors)}

    if full_size_maps and out is None:
        _fail("--full-size-maps needs -o/--out: the maps are written into that folder", EXIT_BAD_INPUT)

    def action():
        started = _process_age()
        report = run_analysis(image, detectors, profile=profile, limits=limits, narrative=narrative, params=params,
                              watermark_key=watermark_key or None)
        _add_startup(report, started)
        if out is not None:
            write_report(report, out, formats=formats, full_size_maps=full_size_maps)
        return report

    report = _guarded(action)
    typer.echo(report.to_json() if as_json else report.summary_text())


def _process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``, 10 ms steps); None where that cannot be read."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()  # after the command name, fields 3.. of proc(5)
        with open("/proc/uptime", "rb") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time, in ticks
    except (OSError, ValueError, IndexError):
        return None


def _limits(max_pixels: int | None, max_file_mb: float | None, detector_seconds: float | None = None):
    """The default input limits with the command's overrides (``detector_seconds`` 0 = no per-detector limit)."""
    from dataclasses import replace

    from ..image import DEFAULT_LIMITS

    limits = DEFAULT_LIMITS
    if max_pixels is not None:
        limits = replace(limits, max_pixels=max_pixels)
    if max_file_mb is not None:
        limits = replace(limits, max_file_bytes=int(max_file_mb * 1024 * 1024))
    if detector_seconds is not None:
        limits = replace(limits, detector_seconds=detector_seconds or None)
    return limits


def _add_startup(report, started: float | None) -> None:
    """Put the time from process start to the analysis (Python, imports, arguments) first in the timings."""
    if started is not None:
        report.timings = {"startup": started, **report.timings}


_KEY_HELP = "The publisher's secret key (or set TAMPERSCOPE_WATERMARK_KEY); never stored in any output."


@app.command()
def protect(
    image: Path = typer.Argument(..., help="Image to protect (left untouched)."),
    out: Path = typer.Option(..., "-o", "--out", help="Protected image to write: .png or .jpg/.jpeg, same size."),
    key: Optional[str] = typer.Option(None, "--key", envvar="TAMPERSCOPE_WATERMARK_KEY", help=_KEY_HELP),
    quality: int = typer.Option(95, "--quality", help="JPEG quality when OUT is a JPEG."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists (even the input)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Embed a keyed, imperceptible watermark so that 'verify' can later show where the image changed."""
    import json

    from ..api import protect as run_protect

    if not key:
        _fail("a key is needed: --key KEY or TAMPERSCOPE_WATERMARK_KEY", EXIT_BAD_INPUT)
    done = _guarded(lambda: run_protect(image, out, key, quality=quality, overwrite=overwrite))
    if as_json:
        typer.echo(json.dumps(done.to_dict(), indent=2))
        return
    typer.echo(f"Protected {image} -> {done.path} ({done.format}, {done.width}x{done.height}, "
               f"{done.bits} watermark bits on a {done.grid} grid, step {done.step:g}, PSNR {done.psnr_db:.1f} dB).")
    typer.echo(f"Check it later with: tamperscope verify {done.path} --key KEY")


@app.command()
def verify(
    image: Path = typer.Argument(..., help="Image to check for the publisher's watermark."),
    key: Optional[str] = typer.Option(None, "--key", envvar="TAMPERSCOPE_WATERMARK_KEY", help=_KEY_HELP),
    out: Optional[Path] = typer.Option(
        None, "-o", "--out", help="Folder for report.json, heatmap.png, overlay.jpg, mask.png."
    ),
    report_formats: Optional[List[str]] = typer.Option(
        None, "--report", help="Readable reports to add with -o: html, md (as for analyze)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of the summary."),
) -> None:
    """Is the watermark of KEY present, and where is it broken? A report like analyze's."""
    from ..api import verify as run_verify
    from ..report.write import report_formats as normalise_formats
    from ..report.write import write_report

    if not key:
        _fail("a key is needed: --key KEY or TAMPERSCOPE_WATERMARK_KEY", EXIT_BAD_INPUT)
    try:
        formats = normalise_formats(report_formats)
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if report_formats and out is None:
        _fail("--report needs -o/--out: the report files are written into that folder", EXIT_BAD_INPUT)

    def action():
        started = _process_age()
        report = run_verify(image, key)
        _add_startup(report, started)
        if out is not None:
            write_report(report, out, formats=formats)
        return report

    report = _guarded(action)
    if as_json:
        typer.echo(report.to_json())
        return
    evidence = report.evidence_for("watermark")
    if evidence.ok:
        facts = evidence.facts
        state = "BROKEN" if report.label == "edited" else "INTACT"
        typer.echo(f"Watermark: present, {state}: broken in {facts['tampered_share']:.1%} of the image "
                   f"(bit agreement {facts['bit_accuracy']:.1%}).")
    else:
        typer.echo(f"Watermark: not found ({evidence.reason}).")
    typer.echo(report.summary_text())


@app.command()
def compare(
    original: Path = typer.Argument(..., help="The original or earlier version (found by a reverse image search, say)."),
    suspect: Path = typer.Argument(..., help="The version in question; maps and masks are drawn in its frame."),
    out: Optional[Path] = typer.Option(
        None, "-o", "--out", help="Folder for report.json, heatmap.png, mask.png, overlay.png, aligned.png."
    ),
    report_formats: Optional[List[str]] = typer.Option(
        None, "--report", help="Readable report to add with -o: html (report.html with side-by-side, swipe and "
        "blink views). report.json is always written."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of the summary."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Largest accepted canvas (default 120 MP)."),
    max_file_mb: Optional[float] = typer.Option(None, "--max-file-mb", help="Largest accepted file (default 256)."),
) -> None:
    """Compare two versions of a picture: what differs beyond resizing, cropping, re-compression and grading?

    Exit code 0 whatever the verdict (changed, unchanged, not-comparable); 2 for an unreadable file or bad usage.
    """
    from ..api import compare as run_comparison
    from ..comparison.write import comparison_formats, write_comparison

    try:
        formats = comparison_formats(report_formats)
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if report_formats and out is None:
        _fail("--report needs -o/--out: the report files are written into that folder", EXIT_BAD_INPUT)
    limits = _limits(max_pixels, max_file_mb)

    def action():
        result = run_comparison(original, suspect, limits=limits)
        if out is not None:
            write_comparison(result, out, formats=formats)
        return result

    result = _guarded(action)
    typer.echo(result.to_json() if as_json else result.summary_text())


@app.command()
def bench(
    dataset: str = typer.Option(
        ..., "--dataset", help="KIND:PATH, e.g. casia1:/data/CASIA1, csv:/x/manifest.csv, folder:/x "
        "(kinds: tamperscope.bench.datasets.ADAPTERS)."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for results.{json,csv,md}, plots and the cache."),
    detectors: Optional[str] = typer.Option(None, "--detectors", help="Comma-separated detector names."),
    perturb: Optional[List[str]] = typer.Option(
        None, "--perturb", help="Conditions: chains like jpeg:75, resize:0.5+jpeg:85, social; repeat or "
        "comma-separate; 'standard' = the robustness set. Default: clean only."
    ),
    protocols: Optional[str] = typer.Option(None, "--protocols", help="Comma-separated protocol ids (default all)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most N samples (a seeded random subset)."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes computing detector outputs."),
) -> None:
    """Benchmark detectors and the fusion on a dataset, with named metric protocols."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..bench.metrics import PROTOCOLS
    from ..bench.perturb import STANDARD_CONDITIONS, parse_chain
    from ..bench.runner import BenchConfig, markdown_tables, run

    conditions: list[str] = []
    for value in perturb or ["clean"]:
        for part in (p.strip() for p in value.split(",")):
            if part == "standard":
                conditions.extend(STANDARD_CONDITIONS)
            elif part:
                conditions.append(part)
    chosen = [p.strip() for p in protocols.split(",") if p.strip()] if protocols else None
    unknown = [p for p in chosen or [] if p not in PROTOCOLS]
    if unknown:
        _fail(f"unknown protocol {unknown[0]!r}; known: {', '.join(PROTOCOLS)}", EXIT_BAD_INPUT)
    _guarded(lambda: [parse_chain(c) for c in conditions])
    config = BenchConfig(
        dataset=dataset, out=out, detectors=detectors.split(",") if detectors else None,
        conditions=list(dict.fromkeys(conditions)), protocols=chosen, seed=seed, limit=limit, workers=workers,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(done: int, total: int, condition: str) -> None:
            if condition not in tasks:
                tasks[condition] = bar.add_task(condition, total=total)
            bar.update(tasks[condition], completed=done)

        results = _guarded(lambda: run(config, progress))
    typer.echo(markdown_tables(results, chosen))
    typer.echo(f"Results written to {out}")


@app.command()
def synth(
    photos: List[Path] = typer.Option(..., "--photos", help="Authentic photos: files or folders (searched recursively)."),
    out: Path = typer.Option(..., "-o", "--out", help="Dataset folder: images/, masks/, manifest.csv, recipe.json."),
    count: Optional[int] = typer.Option(None, "--count", help="Images to make (default: one per kind and photo)."),
    kinds: Optional[str] = typer.Option(None, "--kinds", help="Comma-separated kinds (default: all)."),
    size: int = typer.Option(1024, "--size", help="Long-side cap; larger photos are downscaled first."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
) -> None:
    """Make forgeries with exact masks (and matched authentic controls) from authentic photos."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..synth import ALL_KINDS, make_dataset

    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("synth", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def action():
            try:
                return make_dataset(list(photos), out, count=count, seed=seed, kinds=kinds or ALL_KINDS,
                                    size=size, progress=progress, overwrite=overwrite)
            except (ValueError, FileExistsError) as exc:
                raise InputError(str(exc)) from None

        from ..errors import InputError

        manifest = _guarded(action)
    made: dict[str, int] = {}
    for sample in manifest.samples:
        made[sample.kind] = made.get(sample.kind, 0) + 1
    typer.echo(f"Made {len(manifest.samples)} images in {out}: " + ", ".join(f"{k} {n}" for k, n in made.items()))
    if manifest.skipped:
        typer.echo(f"Skipped {len(manifest.skipped)} photos (see recipe.json).")
    typer.echo(f"Benchmark it with: tamperscope bench --dataset csv:{out / 'manifest.csv'} -o RESULTS/")


@app.command()
def scan(
    paths: List[Path] = typer.Argument(..., help="Files and folders to scan."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    db: Path = typer.Option(Path("results.sqlite"), "--db", help="SQLite result store (created or resumed)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (or concurrent Ray tasks)."),
    profile: str = typer.Option("default", "--profile", help="Detector set: fast, default or thorough."),
    artifacts: Optional[Path] = typer.Option(
        None, "--artifacts", help="Folder for the previews (default: DB.artifacts beside the store)."
    ),
    no_artifacts: bool = typer.Option(False, "--no-artifacts", help="Keep no previews (thumbnails, overlays, masks)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds one image may take before it is given up."),
    memory_mb: int = typer.Option(
        4096, "--memory-mb", help="Memory each worker may add to its start, MiB (0: no cap)."
    ),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: 'auto' or a cluster address."),
) -> None:
    """Scan collections into a result store: resumable, one bad file never stops it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.progress import TimeRemainingColumn

    from ..detectors import PROFILES
    from ..scan import ResultStore, count_files, previews_folder
    from ..scan import scan as run_scan

    if profile not in PROFILES:
        _fail(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}", EXIT_BAD_INPUT)
    if no_artifacts and artifacts is not None:
        _fail("give --artifacts DIR or --no-artifacts, not both", EXIT_BAD_INPUT)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(f"{missing[0]}: no such file or folder", EXIT_BAD_INPUT)
    try:
        store = ResultStore(db)
    except Exception as exc:  # sqlite3 errors and OS errors alike: the user's path is the problem
        _fail(f"cannot open the result store {db}: {exc}", EXIT_BAD_INPUT)
    folder = None if no_artifacts else _guarded(lambda: previews_folder(store, artifacts))
    total = count_files(paths, recursive)
    columns = (TextColumn("scan"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with store, Progress(*columns, transient=False) as bar:
        task = bar.add_task("scan", total=total, rate="", status="")

        def progress(summary) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{summary.analysed / elapsed:.1f} img/s" if elapsed > 0 else ""
            edited = summary.labels.get("edited", 0)
            bar.update(task, completed=summary.seen, rate=rate,
                       status=f"edited {edited}, errors {summary.errors}, skipped {summary.already_done}")

        summary = _guarded(lambda: run_scan(
            paths, store, recursive=recursive, workers=workers, profile=profile, artifacts=folder,
            previews=folder is not None, timeout_s=timeout, memory_mb=memory_mb or None, ray=ray, on_progress=progress,
        ))
        counts = store.counts()
    labels = ", ".join(f"{k} {v}" for k, v in sorted(summary.labels.items())) or "none"
    typer.echo(
        f"Scanned {summary.seen} files: analysed {summary.analysed} ({labels}; errors {summary.errors}), "
        f"already in the store {summary.already_done}, duplicates {summary.duplicates}."
    )
    typer.echo(f"Store {db}: {counts['images']} images, {counts['paths']} paths"
               + (f"; previews in {folder}." if folder is not None else "."))
    for problem in summary.preview_errors[:5]:
        typer.echo(f"tamperscope: warning: no preview for {problem}", err=True)
    if len(summary.preview_errors) > 5:
        typer.echo(f"tamperscope: warning: ... and {len(summary.preview_errors) - 5} more previews not written",
                   err=True)
    typer.echo(f"Next: tamperscope results gallery --db {db} -o gallery.html   (or: tamperscope results top --db {db})")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (not loopback: a token is required)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    data: Path = typer.Option(Path("tamperscope-data"), "--data", help="Folder for uploads, reports and history."),
    db: Optional[Path] = typer.Option(None, "--db", help="SQLite history (default DATA/tamperscope.sqlite)."),
    token: Optional[str] = typer.Option(None, "--token", envvar="TAMPERSCOPE_TOKEN", show_default=False,
                                        help="Bearer token the API requires (env TAMPERSCOPE_TOKEN)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Analyses run at once (one process each)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds one analysis may take."),
    memory_mb: int = typer.Option(4096, "--memory-mb", help="Memory each worker may add, MiB (0: no cap)."),
    profile: str = typer.Option("default", "--profile", help="Detector set: fast, default or thorough."),
    max_upload_mb: float = typer.Option(64.0, "--max-upload-mb", help="Largest accepted upload."),
    max_pixels: int = typer.Option(60_000_000, "--max-pixels", help="Largest accepted canvas."),
    uploads_per_minute: float = typer.Option(30.0, "--uploads-per-minute", help="Per client, sustained."),
    upload_burst: int = typer.Option(10, "--upload-burst", min=1, help="Per client, uploads at once."),
    cors: Optional[List[str]] = typer.Option(None, "--cors-origin", help="Allow this browser origin (off by default)."),
) -> None:
    """Serve the web page and the HTTP API (open http://HOST:PORT/ in a browser)."""
    import uvicorn

    from ..detectors import PROFILES
    from ..serve import ConfigError, Settings, create_app

    if profile not in PROFILES:
        _fail(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}", EXIT_BAD_INPUT)
    settings = Settings(
        data=data, db=db, host=host, token=token or None, workers=workers, job_timeout_s=timeout,
        memory_mb=memory_mb or None, profile=profile, max_upload_mb=max_upload_mb, max_pixels=max_pixels,
        uploads_per_minute=uploads_per_minute, upload_burst=upload_burst, cors_origins=list(cors or []),
    )
    try:
        application = create_app(settings)
    except ConfigError as exc:  # bad usage (e.g. a public address without a token): exit 2 like bad input
        _fail(str(exc), EXIT_BAD_INPUT)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"tamperscope serving on http://{shown}:{port}/ (API docs at /docs; data in {data}); Ctrl+C stops")
    uvicorn.run(application, host=host, port=port, log_level="warning", timeout_keep_alive=10)


def _register_results() -> None:
    from .results import results_app

    app.add_typer(results_app, name="results", help="Read a scan's result store: top, export, gallery.")


_register_results()

train_app = typer.Typer(no_args_is_help=True, help="Train the project's own models from authentic photos (needs the train extra).")
app.add_typer(train_app, name="train")


@train_app.command("localizer")
def train_localizer(
    data: Path = typer.Option(..., "--data", "--photos", help="The shared/data/dev folder (CASIA v1, exif-camera; split by source photo)."),
    out: Path = typer.Option(Path("src/tamperscope/models"), "--out", help="Folder for localizer.onnx and localizer.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic set, the crops and the network."),
    work: Path = typer.Option(Path(".tamperscope-train/localizer"), "--work", help="Folder for the synthetic set, the input cache and the checkpoint."),
    photos: Optional[Path] = typer.Option(None, "--extra-photos", help="More host photos (e.g. the recipe's crops: train/localizer_photos.csv)."),
    count: int = typer.Option(1330, "--count", help="Synthetic images to make."),
    steps: int = typer.Option(1500, "--steps", help="Optimiser steps."),
    batch: int = typer.Option(10, "--batch", help="Crops per step."),
    workers: int = typer.Option(2, "--workers", help="Processes that build the input cache."),
    resume: bool = typer.Option(False, "--resume", help="Continue from WORK/checkpoint.pt."),
    device: str = typer.Option("cpu", "--device", help="torch device: cpu, or cuda where a GPU exists."),
) -> None:
    """Train the learned localizer (real + synthetic forgeries), export ONNX, fit its detection head, calibrate."""

    def action():
        from ..errors import InputError

        try:
            import onnx  # noqa: F401
            import torch  # noqa: F401

            from ..train.localizer import train
        except ImportError as exc:
            raise InputError(f"training needs torch and onnx: pip install 'tamperscope[train]' ({exc})") from None
        if not (data / "casia1" / "manifest.csv").is_file():
            raise InputError(f"{data} is not the development data folder (no casia1/manifest.csv)")
        if photos is not None and not photos.is_dir():
            raise InputError(f"{photos} is not a folder of photos")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available to torch here")
        return train(data, out, work, seed=seed, steps=steps, batch=batch, workers=workers, resume=resume,
                     device=device, synth_count=count, photos=photos, log=lambda line: typer.echo(line, err=True))

    result = _guarded(action)
    typer.echo(f"wrote {out / 'localizer.onnx'} (sha256 {result['model_sha256']}) in {result['total_seconds']} s")


@train_app.command("zed")
def train_zed(
    data: Path = typer.Option(..., "--data", help="The shared/data/dev folder."),
    out: Path = typer.Option(Path("src/tamperscope/models/zed.npz"), "--out"),
) -> None:
    """Count the zed detector's coder on real photos and calibrate its threshold."""
    import json

    from ..train.zed import train

    result = _guarded(lambda: train(data, out))
    typer.echo(json.dumps(result, indent=2))


@train_app.command("compare")
def train_compare(
    data: Path = typer.Option(..., "--data", help="The shared/data/dev folder (camera JPEGs, MICC-F220)."),
    out: Path = typer.Option(Path("src/tamperscope/models/compare.json"), "--out", help="Threshold file to write."),
    work: Path = typer.Option(Path(".tamperscope-train/compare"), "--work",
                              help="Folder of the per-pair records (a rerun resumes from them)."),
    photos: Optional[int] = typer.Option(None, "--photos", help="Use only the first N calibration photos (in the order of their SHA-256)."),
    workers: int = typer.Option(2, "--workers", help="Processes comparing pairs."),
) -> None:
    """Calibrate compare's region threshold on benign-only generated pairs (see models/README.md)."""
    import json

    from ..train.compare import calibrate

    if not data.is_dir():
        _fail(f"--data {data}: not a folder", EXIT_BAD_INPUT)
    result = _guarded(lambda: calibrate(data, out, work, workers=workers, limit=photos,
                                        log=lambda line: typer.echo(line, err=True)))
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "photos"}, indent=2))


@train_app.command("faces")
def train_faces(
    faces: List[Path] = typer.Option(..., "--faces", help="Folder of real face photos (repeatable); a "
                                     "manifest.csv there selects its rows labelled authentic."),
    out: Path = typer.Option(Path("src/tamperscope/models/faceswap.onnx"), "--out", help="ONNX file to write."),
    work: Path = typer.Option(Path(".tamperscope-train/faces"), "--work",
                              help="Folder for the face cache, the checkpoint and the learning curve."),
    steps: int = typer.Option(1500, "--steps", help="Optimiser steps."),
    batch: int = typer.Option(16, "--batch", help="Images per step: half real faces, half their self-blends."),
    seed: int = typer.Option(0, "--seed", help="Seed of the blends, augmentations, batch order and dropout."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak learning rate of the heads (the backbone gets a quarter)."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch (1 is fastest on a shared machine)."),
    workers: int = typer.Option(1, "--workers", help="Processes making the self-blended batches (0: in the trainer)."),
    device: str = typer.Option("cpu", "--device", help="torch device: cpu, or cuda where a GPU exists."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run whose checkpoint is in --work."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Folder of the face cache (default: WORK/cache)."),
) -> None:
    """Train the face-swap detector on real faces blended with themselves (SBI); export to ONNX."""
    import json

    for folder in faces:
        if not folder.is_dir():
            _fail(f"--faces {folder}: not a folder", EXIT_BAD_INPUT)
    for name, value, low in (("--steps", steps, 1), ("--threads", threads, 1), ("--workers", workers, 0)):
        if value < low:
            _fail(f"{name} {value}: at least {low}", EXIT_BAD_INPUT)
    if not lr > 0:
        _fail(f"--lr {lr}: a positive number", EXIT_BAD_INPUT)
    try:
        from ..train.faces import train
    except ImportError as exc:
        _fail(f"training needs torch and onnx (pip install 'tamperscope[train]'): {exc}", EXIT_BAD_INPUT)
    result = _guarded(lambda: train(list(faces), out, work, steps=steps, batch=batch, seed=seed, lr=lr, threads=threads,
                                    device=device, workers=workers, resume=resume, cache=cache,
                                    log=lambda line: typer.echo(line, err=True)))
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=2))


@train_app.command("aigen")
def train_aigen(
    data: Optional[Path] = typer.Option(None, "--data", help="The shared/data/dev folder (real photos, StyleGAN2 faces, "
                                        "unseen generators kept for testing)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="The training recipe's files as owner+name/path "
                                          "(tamperscope.train.recipe.materialize writes them from local clones)."),
    photos: List[Path] = typer.Option([], "--photos", help="Extra folder of real photos (repeatable)."),
    out: Path = typer.Option(Path("src/tamperscope/models/aigen.npz"), "--out", help="Probe file to write."),
    cache: Path = typer.Option(Path(".tamperscope-train/aigen"), "--cache", help="Folder of cached CLIP features."),
    seed: int = typer.Option(0, "--seed", help="Seed of the save chains, the crop draws and the probes."),
    feature: str = typer.Option("cls+mean", "--feature", help="Probe input: cls+mean, cls or mean (of the 8th block)."),
    workers: int = typer.Option(2, "--workers", help="Feature processes (one thread each)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Keep the cached features (default) or recompute."),
    device: str = typer.Option("cpu", "--device", help="cpu, or cuda where onnxruntime-gpu and a GPU exist."),
    curve: Optional[Path] = typer.Option(None, "--curve", help="PNG of the learning curve (e.g. docs/aigen-curve.png)."),
) -> None:
    """Fit the aigen detector's probe on frozen CLIP features of AI images and real photos (see models/README.md)."""
    import json

    def action():
        from ..errors import InputError

        for folder in [p for p in (data, corpus) if p is not None] + list(photos):
            if not folder.is_dir():
                raise InputError(f"{folder} is not a folder")
        try:
            import onnx  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as exc:
            raise InputError(f"training needs onnx and scikit-learn: pip install 'tamperscope[train]' ({exc})") from None
        from ..train.aigen import set_device, train

        set_device(device)
        return train(data, corpus, list(photos), out, cache, seed=seed, feature=feature, workers=workers,
                     resume=resume, curve_png=curve, log=lambda line: typer.echo(line, err=True))

    result = _guarded(action)
    typer.echo(json.dumps({k: result[k] for k in ("out", "sha256", "calibrate_split", "seconds")}, indent=2))


@train_app.command("fusion")
def train_fusion(
    data: Path = typer.Option(..., "--data", help="The shared/data/dev folder (casia1/, micc-f220/, ... with manifest.csv)."),
    out: Path = typer.Option(Path("src/tamperscope/models/fusion.json"), "--out", help="Model file to write."),
    work: Path = typer.Option(Path(".tamperscope-train/fusion"), "--work",
                              help="Folder for the synthetic sets and the evidence cache."),
    profiles: str = typer.Option("fast,default", "--profiles",
                                 help="Comma-separated profiles: one model per profile's detector set "
                                      "(thorough: about 8 s of evidence per image, hours; docs/fusion.md)."),
    synthetic: int = typer.Option(280, "--synthetic", min=0, help="Synthetic images made per part (fit, eval)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic sets and the pixel draws."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes computing detector evidence."),
    resume: bool = typer.Option(True, "--resume/--fresh",
                                help="Keep the evidence WORK already holds (default); --fresh recomputes it."),
) -> None:
    """Fit the calibrated class probabilities of the fusion on held-apart development data (docs/fusion.md)."""
    import json

    from ..train.fusion import train

    chosen = tuple(p.strip() for p in profiles.split(",") if p.strip())
    if not chosen:
        _fail("--profiles: name at least one profile", EXIT_BAD_INPUT)
    if not data.is_dir():
        _fail(f"--data {data}: not a folder", EXIT_BAD_INPUT)
    result = _guarded(lambda: train(data, out, work, profiles=chosen, seed=seed, synthetic=synthetic,
                                    workers=workers, resume=resume, log=lambda line: typer.echo(line, err=True)))
    typer.echo(json.dumps(result, indent=2))


@app.command("detectors")
def list_detectors(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the detectors, what they need, and the paper each implements."""
    import json

    from ..detectors import PROFILES, available

    rows = [
        {
            "name": cls.name,
            "version": cls.version,
            "requires": sorted(cls.requires),
            "profiles": [p for p, names in PROFILES.items() if cls.name in names],
            "summary": cls.summary,
            "citation": cls.citation,
        }
        for cls in available().values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tamperscope detectors", show_lines=True)
    for column in ("name", "version", "needs", "profiles", "what it looks at", "paper"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"], row["version"], ", ".join(row["requires"]) or "pixels", ", ".join(row["profiles"]),
            row["summary"], row["citation"],
        )
    Console().print(table)


@app.command()
def version() -> None:
    """Print the version."""
    from .. import __version__

    typer.echo(__version__)


def main() -> None:
    """The command's entry point (``tamperscope``, ``python -m tamperscope``)."""
    keep_freed_memory()  # this process: one command, large short-lived arrays (before numpy is imported)
    try:
        app()
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            sys.exit(exc.code or 0)
        # A message some library exited with: shown as one line, not swallowed.
        typer.echo(f"tamperscope: error: {exc.code}", err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
