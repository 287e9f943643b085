"""The Python API every shell (CLI, service, scanner) calls."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .detectors import resolve, run_detectors, with_prerequisites
from .fusion import FusionParams, fuse
from .image import DEFAULT_LIMITS, ImageSource, Limits, load
from .report.explain import explain
from .report.narrate import NarrativeConfig, narrate
from .report.schema import Report, utc_now


def analyze(
    source: ImageSource,
    detectors: Iterable[str] | str | None = None,
    *,
    profile: str = "default",
    limits: Limits = DEFAULT_LIMITS,
    fusion: FusionParams = FusionParams(),
    narrative: NarrativeConfig | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    watermark_key: str | bytes | None = None,
) -> Report:
    """Analyse one image: load it, run the detectors, fuse their evidence.

    Parameters
    ----------
    source : path, bytes or ndarray
        The image file (or its bytes, or a uint8 pixel array).
    detectors : list of str or comma-separated str, optional
        Detector names (see ``tamperscope detectors``); default: the profile's.
    profile : {"fast", "default", "thorough"}
        The detector set used when ``detectors`` is None.
    limits : Limits
        File-size and pixel limits checked before decoding, and each
        detector's time limit.
    fusion : FusionParams
        Thresholds of the fusion rule.
    narrative : NarrativeConfig, optional
        A local OpenAI-compatible endpoint that rewrites the grounded
        explanation as a paragraph (off when None).
    params : mapping, optional
        Parameters per detector name, e.g. ``{"c2pa": {"trust_anchors": "roots.pem"}}``.
    watermark_key : str or bytes, optional
        The publisher's key of ``tamperscope protect``: when given, the
        ``watermark`` detector runs as one more evidence source (the key is
        never written into the report).

    Returns
    -------
    Report
        ``report.label``, ``report.score``, ``report.regions``, the evidence,
        and ``report.to_dict()`` for the JSON form.

    Raises
    ------
    tamperscope.errors.InputError
        The file cannot be analysed (message is one line).

    Examples
    --------
    >>> from tamperscope import analyze
    >>> report = analyze("examples/spliced.jpg")  # doctest: +SKIP
    >>> report.label, [r.bbox for r in report.regions]  # doctest: +SKIP
    """
    analyzed_at = utc_now()
    start = time.perf_counter()
    video = _video_source(source, limits)
    if video is not None:
        # A clip's verdict rests on the faces over time; photo detectors run on its key frame only when named.
        from .faces.video import analyze_video

        data, name, container = video
        chosen = resolve(detectors, profile, params) if detectors is not None else []
        return analyze_video(data, name, container, chosen, limits, fusion, analyzed_at, start)
    chosen = _with_watermark(resolve(detectors, profile, params), watermark_key)
    return _run(source, chosen, limits, fusion, narrative, analyzed_at, start)


def _video_source(source: ImageSource, limits: Limits) -> tuple[bytes, str, str] | None:
    """``(bytes, name, container)`` when ``source`` is a video file (sniffed by content), else None."""
    from .faces.video import sniff_video

    if isinstance(source, (bytes, bytearray, memoryview)):
        head, name = bytes(source[:512]), "bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as handle:
                head = handle.read(512)
        except OSError:
            return None  # the image loader reports unreadable paths in its own words
        name = path
    else:
        return None
    container = sniff_video(head)
    if container is None:
        return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        from .image import _read_file
        from pathlib import Path

        data = _read_file(Path(name), limits)
    return data, name, container


def verify(
    source: ImageSource,
    key: str | bytes,
    *,
    limits: Limits = DEFAULT_LIMITS,
    fusion: FusionParams = FusionParams(),
) -> Report:
    """Check the publisher's watermark of ``key`` (see ``tamperscope protect``) and map where it is broken.

    The report has the same form as :func:`analyze`'s with one evidence
    source, ``watermark``: label "edited" with regions where the mark is
    broken, "authentic" when the mark is present and intact, "inconclusive"
    when no mark of this key was found (a wrong key, or a file never
    protected: never a tamper map).

    Examples
    --------
    >>> from tamperscope import verify  # doctest: +SKIP
    >>> report = verify("protected-then-edited.jpg", key="newsroom-secret")  # doctest: +SKIP
    >>> report.evidence_for("watermark").facts["tampered_share"]  # doctest: +SKIP
    """
    from .detectors.watermark import WatermarkDetector

    analyzed_at = utc_now()
    start = time.perf_counter()
    return _run(source, [WatermarkDetector(key=_key_bytes(key))], limits, fusion, None, analyzed_at, start)


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _with_watermark(chosen: list, key: str | bytes | None) -> list:
    """Add (or arm) the watermark detector when a key is configured."""
    if not key:
        return chosen
    from .detectors.watermark import WatermarkDetector

    armed = [d for d in chosen if isinstance(d, WatermarkDetector)]
    if not armed:
        chosen = [*chosen, WatermarkDetector()]
        armed = chosen[-1:]
    for detector in armed:
        detector.key = _key_bytes(key)
    return chosen


def _run(source, chosen, limits, fusion, narrative, analyzed_at, start) -> Report:
    image = load(source, limits)
    loaded = time.perf_counter()
    chosen = with_prerequisites(chosen)
    evidence = run_detectors(image, chosen, limits.detector_seconds)
    detected = time.perf_counter()
    fused = fuse(evidence, image.shape, fusion)
    fused_at = time.perf_counter()
    explanation = explain(image, evidence, fused)
    timings = {"load": loaded - start, **{f"detector:{e.detector}": e.runtime_s for e in evidence}}
    timings["fuse"] = fused_at - detected
    timings["explain"] = time.perf_counter() - fused_at
    timings["total"] = time.perf_counter() - start
    described = [{"name": d.name, "version": d.version, "params": d.params()} for d in chosen]
    report = Report(
        image=image,
        evidence=evidence,
        fusion=fused,
        detectors=described,
        limits=limits,
        timings=timings,
        explanation=explanation,
        analyzed_at=analyzed_at,
    )
    if narrative is not None:
        began = time.perf_counter()
        pixels = image.upright(image.pixels) if narrative.include_image else None
        report.narrative = narrate(explanation, [e.summary() for e in evidence], narrative, pixels)
        report.timings["narrative"] = time.perf_counter() - began
    return report


def compare(original: ImageSource, suspect: ImageSource, *, limits: Limits = DEFAULT_LIMITS, **options):
    """Compare two versions of a picture; see :func:`tamperscope.comparison.compare` (the same function).

    >>> from tamperscope import compare
    >>> result = compare("original.jpg", "viral.jpg")  # doctest: +SKIP
    >>> result.label, [(r.kind, r.bbox_suspect) for r in result.regions]  # doctest: +SKIP
    """
    from .comparison import compare as run_comparison

    return run_comparison(original, suspect, limits=limits, **options)


def protect(
    source: str | os.PathLike,
    out: str | os.PathLike,
    key: str | bytes,
    *,
    quality: int = 95,
    overwrite: bool = False,
    limits: Limits = DEFAULT_LIMITS,
):
    """Embed the publisher's keyed watermark so that :func:`verify` can later show where the image changed.

    Parameters
    ----------
    source : path
        The image to protect (never modified unless it is also ``out`` and ``overwrite``).
    out : path
        Where to write the protected image: ``.png`` or ``.jpg``/``.jpeg``, same size.
    key : str or bytes
        The publisher's secret; it is not stored anywhere.
    quality : int
        JPEG quality when ``out`` is a JPEG (default 95).
    overwrite : bool
        Replace ``out`` if it exists.

    Returns
    -------
    tamperscope.watermark.protect.Protection
        Path, grid, number of bits, share of coefficients on their lattice, PSNR.

    Raises
    ------
    tamperscope.errors.InputError
        Unreadable input, bad output name, an existing output, or an image that
        already carries a watermark of this key.
    """
    from .watermark.protect import protect_file

    return protect_file(source, out, _key_bytes(key), quality=quality, overwrite=overwrite, limits=limits)
