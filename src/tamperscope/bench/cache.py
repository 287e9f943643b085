"""Per-image detector outputs, cached so that re-scoring with another metric is fast.

One ``.npz`` per (condition, sample) holds every detector's evidence: status,
score, heatmap and confidence map at its own stride, so the fused map can be rebuilt with
:func:`tamperscope.fusion.fuse` without rerunning anything. Maps finer than
stride 4 are stored block-averaged to stride 4 (ELA's map is already an 8x8
box average, so this loses nothing material) and as float16, to keep a cache of
thousands of images to a few hundred megabytes. The entry is keyed by the hash
of the analysed bytes and of the detectors' names, versions and parameters:
change any of them and the entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..evidence import Evidence

CACHE_STRIDE = 4
#: Bumped when an entry's content changes (2: each evidence keeps ``indicates`` and ``kind``), so older
#: entries are recomputed rather than read with defaults.
FORMAT = 2


def cache_key(data: bytes, detectors: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256(data)
    digest.update(f"cache-format:{FORMAT}".encode())
    digest.update(json.dumps(detectors, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def save(path: Path, key: str, shape: tuple[int, int], evidence: list[Evidence]) -> None:
    arrays: dict[str, np.ndarray] = {}
    records = []
    for item in evidence:
        record = {"detector": item.detector, "version": item.version, "status": item.status,
                  "reason": item.reason, "score": item.score, "stride": item.stride,
                  "indicates": item.indicates, "kind": item.kind}
        if item.heatmap is not None:
            heat, stride = _coarsen(item.heatmap, item.stride)
            arrays[f"heat__{item.detector}"] = heat.astype(np.float16)
            record["stride"] = stride
            if item.confidence is not None and item.confidence.shape == item.heatmap.shape:
                # The calibrated fusion weighs maps by their confidence: keep it beside its map.
                arrays[f"conf__{item.detector}"] = _coarsen(item.confidence, item.stride)[0].astype(np.float16)
        records.append(record)
    meta = {"key": key, "shape": list(shape), "evidence": records}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    os.close(handle)
    try:
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path: Path, key: str) -> tuple[tuple[int, int], list[Evidence]] | None:
    """The cached evidence, or None when absent, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("key") != key:
                return None
            evidence = []
            for record in meta["evidence"]:
                name = f"heat__{record['detector']}"
                heat = data[name].astype(np.float32) if name in data.files else None
                conf_name = f"conf__{record['detector']}"
                confidence = data[conf_name].astype(np.float32) if conf_name in data.files else None
                evidence.append(
                    Evidence(detector=record["detector"], version=record["version"], status=record["status"],
                             reason=record["reason"], score=record["score"], heatmap=heat,
                             confidence=confidence, stride=int(record["stride"]),
                             # The class a score supports and the kind of evidence (entries written before
                             # these were kept read as the Evidence defaults).
                             indicates=record.get("indicates", "edited"), kind=record.get("kind", "signal"))
                )
        return (int(meta["shape"][0]), int(meta["shape"][1])), evidence
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


def _coarsen(heat: np.ndarray, stride: int) -> tuple[np.ndarray, int]:
    if stride >= CACHE_STRIDE:
        return heat, stride
    factor = CACHE_STRIDE // stride
    rows, cols = -(-heat.shape[0] // factor), -(-heat.shape[1] // factor)
    padded = np.pad(heat, ((0, rows * factor - heat.shape[0]), (0, cols * factor - heat.shape[1])), mode="edge")
    return padded.reshape(rows, factor, cols, factor).mean(axis=(1, 3)), stride * factor
