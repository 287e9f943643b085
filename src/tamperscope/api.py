"""The Python API every shell (CLI, service, scanner) calls."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from .detectors import resolve
from .explain import explain
from .fusion import FusionParams, fuse
from .image import DEFAULT_LIMITS, ImageSource, Limits, load
from .narrate import NarrativeConfig, narrate
from .report import Report, utc_now


def analyze(
    source: ImageSource,
    detectors: Iterable[str] | str | None = None,
    *,
    profile: str = "default",
    limits: Limits = DEFAULT_LIMITS,
    fusion: FusionParams = FusionParams(),
    narrative: NarrativeConfig | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
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
    chosen = resolve(detectors, profile, params)
    image = load(source, limits)
    loaded = time.perf_counter()
    evidence = [detector.run(image, limits.detector_seconds) for detector in chosen]
    fused = fuse(evidence, image.shape, fusion)
    explanation = explain(image, evidence, fused)
    timings = {"load": loaded - start, **{f"detector:{e.detector}": e.runtime_s for e in evidence}}
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
