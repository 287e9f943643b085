"""Calibrating ``tamperscope compare``: the region threshold from benign-only pairs (``models/compare.json``).

``tamperscope train compare --data ../shared/data/dev`` reproduces the shipped file. What it does:

1. **Photos** (read in place, never copied; each listed in the output with its SHA-256): the Debian wallpaper
   photos under /usr/share/backgrounds, /usr/share/lxqt/wallpapers (less the graphics of :data:`GRAPHICS`) and
   /usr/share/wallpapers (the photographic ones, :data:`KDE_PHOTOS`, the largest file of each), a list of OpenCV's sample photos (:data:`OPENCV_PHOTOS`),
   the camera JPEGs of ``DATA/exif-camera`` and the first :data:`MICC_PHOTOS` authentic images of
   ``DATA/micc-f220``; long side capped at ``side`` (area averaging), short side at least 256, byte-identical
   files once. **Split** by the file's SHA-256: even first byte ``calibrate``, odd ``evaluate`` (the benchmark's
   held-apart half, benchmarks/compare_bench.py).
2. **Pairs**: every calibrate photo through every benign transform of :mod:`tamperscope.synth.pairs`, no edit;
   the pair's generator is seeded from the photo's hash and the transform, so a rerun makes the same files.
3. **Statistic**: each pair goes through :func:`tamperscope.comparison.pipeline.prepare`; the largest candidate
   region's statistic (``mass``) is recorded, with every candidate's statistic, area and overlap with the truth
   (so a threshold can be applied later without rerunning).
4. **Threshold**: the ``1 - TARGET_FALSE_ALARM`` quantile (linear interpolation) of the largest candidates.

Runs are resumable: each pair's record is appended to ``WORK/calibrate.jsonl`` as it finishes and skipped by
the next run. Nothing here needs torch.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

#: Long side the photos are capped at.
SIDE = 800
KDE_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
              "Kite", "OneStandsOut", "Path", "summer_1am", "Volna")
OPENCV_PHOTOS = ("HappyFish.jpg", "aero1.jpg", "aero3.jpg", "apple.jpg", "baboon.jpg", "building.jpg",
                 "butterfly.jpg", "fruits.jpg", "home.jpg", "leuvenA.jpg", "messi5.jpg", "orange.jpg",
                 "squirrel_cls.jpg", "stuff.jpg", "lena.jpg", "graf1.png", "box_in_scene.png")
#: MICC-F220 holds many shots of a few scenes: this many of its authentic photos are used (manifest order).
MICC_PHOTOS = 30
EDIT_CYCLE = ("splice", "copy-move", "removal", "resample", "color")
TARGET_FALSE_ALARM = 0.01
#: Candidates recorded per pair: those with a statistic at least this (far below any threshold) or touching the edit.
MIN_RECORDED = 100.0
#: The strongest candidates of an edited pair whose change kind is recorded.
KINDS_RECORDED = 3
#: Wallpapers in those folders that are graphics or digital art, not photographs: left out of the photo set (the
#: comparison is made for photos; benchmarks/compare_bench.py measures these apart, as a known weakness).
GRAPHICS = ("analogpattern_by_Peter_Nerlich.jpg", "Elephants.jpg", "Elephants_3840x2160.jpg",
            "Elephants_5640x3172.jpg", "GreenTraditional.jpg", "umang_by_Abhishek_Mudgal.jpg",
            "waves-purple-logo.jpg")


def graphic_paths() -> list[Path]:
    """The wallpapers of :data:`GRAPHICS` present on this machine."""
    found = glob.glob("/usr/share/backgrounds/**/*.jpg", recursive=True) + glob.glob("/usr/share/lxqt/wallpapers/*.jpg")
    return sorted(Path(p) for p in found if Path(p).name in GRAPHICS)


def photo_paths(data: Path) -> list[Path]:
    paths: list[Path] = []
    paths += sorted(Path(p) for p in glob.glob("/usr/share/backgrounds/**/*.jpg", recursive=True)
                    if Path(p).name not in GRAPHICS)
    paths += sorted(Path(p) for p in glob.glob("/usr/share/lxqt/wallpapers/*.jpg") if Path(p).name not in GRAPHICS)
    for name in KDE_PHOTOS:
        files = [Path(p) for p in glob.glob(f"/usr/share/wallpapers/{name}/contents/images/*")
                 if p.lower().endswith((".jpg", ".jpeg", ".png"))]
        if files:
            paths.append(max(files, key=lambda p: p.stat().st_size))
    paths += [Path("/usr/share/doc/opencv-doc/examples/data") / n for n in OPENCV_PHOTOS]
    import csv

    for folder, fmt in (("exif-camera", None), ("micc-f220", None)):
        manifest = data / folder / "manifest.csv"
        if manifest.is_file():
            with manifest.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    if row["label"] == "authentic" and row["image_path"].lower().endswith((".jpg", ".jpeg")):
                        paths.append(data / folder / row["image_path"])
    return [p for p in paths if p.is_file()]


def photos(data: Path, side: int = SIDE) -> list[dict]:
    """The usable photos, one per distinct file: path, sha256, split (at most ``MICC_PHOTOS`` from MICC-F220)."""
    seen, found = set(), []
    micc = 0
    for path in photo_paths(data):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        try:
            with Image.open(io.BytesIO(data)) as pil:
                width, height = pil.size
        except Exception:
            continue
        scale = min(1.0, side / max(width, height))
        if min(width, height) * scale < 256:
            continue
        if "micc-f220" in str(path):
            micc += 1
            if micc > MICC_PHOTOS:
                continue
        found.append({"path": str(path), "sha256": digest,
                      "split": "calibrate" if int(digest[:2], 16) % 2 == 0 else "evaluate"})
    return found


def load_photo(path: str, side: int) -> np.ndarray:
    with Image.open(path) as pil:
        pixels = np.array(pil.convert("RGB"))
    scale = side / max(pixels.shape[:2])
    if scale < 1:
        size = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    return pixels


def seed_of(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "little")


def run_pair(job: dict) -> dict:
    """One pair: make it, compare it, score it; an exception is recorded (and counted in the report), not raised."""
    try:
        return _run_casia(job) if job["split"] == "casia" else _run_pair(job)
    except Exception as exc:  # a crash is a result to report, not a reason to lose the run
        import traceback

        return {k: job[k] for k in ("key", "split", "sha256", "transform", "edit")} | {
            "label": "error", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}


def _run_pair(job: dict) -> dict:
    from ..comparison.calibration import Calibration
    from ..comparison.pipeline import decide, prepare
    from ..synth.pairs import make_pair

    side = job["side"]
    photo = load_photo(job["path"], side)
    record = {k: job[k] for k in ("key", "split", "sha256", "transform", "edit")}
    began = time.perf_counter()
    if job["edit"] == "unrelated":
        other = load_photo(job["other"], side)
        a, b = io.BytesIO(), io.BytesIO()
        Image.fromarray(photo).save(a, format="JPEG", quality=90)
        Image.fromarray(other).save(b, format="JPEG", quality=85)
        prepared = prepare(a.getvalue(), b.getvalue())
        record.update(label="not-comparable" if prepared.early is not None else "aligned",
                      seconds=time.perf_counter() - began,
                      log10_nfa=None if prepared.alignment is None else prepared.alignment.log10_nfa)
        return record
    donor = load_photo(job["other"], side) if job["edit"] == "splice" else None
    pair = make_pair(photo, np.random.default_rng(seed_of(job["sha256"], job["transform"], job["edit"])),
                     edit=job["edit"], transform=job["transform"], donor=donor)
    prepared = prepare(pair.original, pair.suspect)
    record.update(suspect_size=list(pair.suspect_pixels.shape[:2]), truth_share=float(pair.mask.mean()),
                  truth_pixels=int(pair.mask.sum()))
    return _score(record, prepared, pair.mask, began, describe_kinds=job["edit"] != "none")


def _score(record: dict, prepared, truth: np.ndarray, began: float, describe_kinds: bool = True) -> dict:
    """Record every candidate's statistic, area and overlap with ``truth`` in the suspect's frame: the report can
    then apply any threshold exactly (candidates are disjoint), and the calibration never reruns the pairs."""
    from ..comparison.calibration import Calibration
    from ..comparison.pipeline import decide

    if prepared.early is not None:
        record.update(label="not-comparable", largest_candidate=None, candidates=[],
                      seconds=time.perf_counter() - began)
        return record
    changes = prepared.changes
    record["label"] = "compared"
    record["log10_nfa"] = round(prepared.alignment.log10_nfa, 1)
    record["largest_candidate"] = round(max((c.mass for c in changes.candidates), default=0.0), 2)
    size = (truth.shape[1], truth.shape[0])
    labels = cv2.resize(changes.labels.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int64)
    count = len(changes.candidates) + 1
    area = np.bincount(labels.ravel(), minlength=count)
    hits = np.bincount(labels.ravel(), weights=truth.ravel().astype(np.float64), minlength=count)
    strong = sorted(changes.candidates, key=lambda c: -c.mass)[:KINDS_RECORDED]
    kinds = {}
    if describe_kinds and strong:
        described = decide(prepared, Calibration("mass", strong[-1].mass, TARGET_FALSE_ALARM, 0, "bench"))
        for c, region in zip(strong, described.regions):
            kinds[c.label] = region.kind
    record["candidates"] = [
        [round(c.mass, 2), int(area[c.label]), int(hits[c.label]), kinds.get(c.label)]
        for c in changes.candidates if c.mass >= MIN_RECORDED or hits[c.label] > 0
    ]
    record["seconds"] = time.perf_counter() - began
    return record


def verdict(record: dict, threshold: float) -> dict:
    """Label, IoU and kind of a recorded pair at ``threshold`` (exact: the candidates are disjoint)."""
    if record["label"] in ("not-comparable", "error"):
        return {"label": record["label"], "iou": 0.0, "kind": None}
    kept = [c for c in record["candidates"] if c[0] >= threshold]
    inter = sum(c[2] for c in kept)
    union = record.get("truth_pixels", 0) + sum(c[1] for c in kept) - inter
    best = max(kept, key=lambda c: c[2], default=None)
    return {"label": "changed" if kept else "unchanged", "iou": inter / union if union else 1.0,
            "kind": best[3] if best is not None and best[2] > 0 else None}


def casia_pairs(data: Path) -> list[tuple[str, str, str, str]]:
    """(authentic host, tampered, mask, manipulation type) of dev/casia1 where the host photo is there too.

    CASIA v1 names a forgery after its host photo (Sp_D_CNN_A_art0024_ani0032_0268: host art0024, donor ani0032;
    Sp_S_*: one photo); the authentic file of the host is Au_art_0024. These are real edits, made by hand.
    """
    import csv
    import re

    folder = data / "casia1"
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    hosts = {}
    for row in rows:
        match = re.match(r"Au/Au_([a-z]+)_(\d+)\.", row["image_path"], re.I)
        if match and row["label"] == "authentic":
            hosts[match.group(1).lower() + match.group(2)] = row["image_path"]
    found = []
    for row in rows:
        match = re.match(r"Tp/Sp_[DS]_\w+?_([a-z]+\d+)_[a-z]+\d+_\d+", row["image_path"], re.I)
        if row["label"] != "authentic" and row["mask_path"] and match and match.group(1).lower() in hosts:
            found.append((str(folder / hosts[match.group(1).lower()]), str(folder / row["image_path"]),
                          str(folder / row["mask_path"]), row["manipulation_type"]))
    return found


def casia_jobs(data: Path) -> list[dict]:
    from ..synth.pairs import TRANSFORMS

    jobs = []
    for index, (host, tampered, mask, kind) in enumerate(casia_pairs(data)):
        for transform in ("as-published", TRANSFORMS[index % len(TRANSFORMS)]):
            jobs.append({"key": f"casia/{Path(tampered).stem}/{transform}", "split": "casia", "side": 0,
                         "path": host, "sha256": Path(tampered).stem, "transform": transform, "edit": kind,
                         "other": tampered, "mask": mask})
    return jobs


def _run_casia(job: dict) -> dict:
    """A CASIA host photo against its hand-made forgery, as published or after a benign transform."""
    from ..comparison.pipeline import prepare
    from ..synth.pairs import apply_transform

    record = {k: job[k] for k in ("key", "split", "sha256", "transform", "edit")}
    began = time.perf_counter()
    with Image.open(job["other"]) as pil:
        tampered = np.array(pil.convert("RGB"))
    with Image.open(job["mask"]) as pil:
        mask = np.array(pil.convert("L")) > 127
    if mask.shape != tampered.shape[:2]:
        record.update(label="error", error="mask and image sizes differ (flagged in the CASIA manifest)")
        return record
    if job["transform"] == "as-published":
        suspect, truth = Path(job["other"]).read_bytes(), mask
    else:
        rng = np.random.default_rng(seed_of(job["sha256"], job["transform"]))
        suspect, _, truth, _, _ = apply_transform(tampered, mask, job["transform"], rng)
    prepared = prepare(Path(job["path"]).read_bytes(), suspect)
    record.update(truth_share=float(truth.mean()), truth_pixels=int(truth.sum()), suspect_size=list(truth.shape))
    return _score(record, prepared, truth, began)


def jobs_for(split: str, data: Path, side: int = SIDE, limit: int | None = None) -> list[dict]:
    from ..synth.pairs import TRANSFORMS

    # In the order of their SHA-256, so that the first N mix every folder (wallpapers, OpenCV samples, camera
    # JPEGs, MICC-F220) and a run with a larger N extends one with a smaller N.
    chosen = sorted((p for p in photos(data, side) if p["split"] == split), key=lambda p: p["sha256"])[:limit]
    jobs = []
    for index, photo in enumerate(chosen):
        other = chosen[(index + 1) % len(chosen)]["path"]
        edits = ["none"] if split == "calibrate" else ["none", EDIT_CYCLE[index % len(EDIT_CYCLE)]]
        for transform in TRANSFORMS:
            for edit in edits:
                jobs.append({"key": f"{photo['sha256'][:16]}/{transform}/{edit}", "split": split, "side": side,
                             "path": photo["path"], "sha256": photo["sha256"], "transform": transform,
                             "edit": edit, "other": other})
        if split == "evaluate":
            jobs.append({"key": f"{photo['sha256'][:16]}/unrelated", "split": split, "side": side,
                         "path": photo["path"], "sha256": photo["sha256"], "transform": "none",
                         "edit": "unrelated", "other": other})
    return jobs


def run_jobs(jobs: list[dict], out: Path, workers: int, log: Callable[[str], None] = print) -> list[dict]:
    done = {}
    if out.is_file():
        for line in out.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                done[record["key"]] = record
    todo = [j for j in jobs if j["key"] not in done]
    log(f"{len(done)} done, {len(todo)} to do -> {out}")
    if todo:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, maxtasksperchild=20) as pool, out.open("a") as sink:
            for count, record in enumerate(pool.imap_unordered(run_pair, todo), start=1):
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                done[record["key"]] = record
                if count % 10 == 0:
                    log(f"  {count}/{len(todo)}")
    return [done[j["key"]] for j in jobs if j["key"] in done]


def calibrate(data: Path, out: Path, work: Path, *, workers: int = 2, limit: int | None = None, side: int = SIDE,
              log: Callable[[str], None] = print) -> dict:
    """Run (or resume) the calibration pairs and write the threshold file ``out``; returns what was written."""
    from ..errors import InputError

    jobs = jobs_for("calibrate", data, side, limit)
    if not jobs:
        raise InputError(f"no calibration photos found (looked in /usr/share/backgrounds, /usr/share/wallpapers and "
                         f"{data})")
    work.mkdir(parents=True, exist_ok=True)
    records = [r for r in run_jobs(jobs, work / "calibrate.jsonl", workers, log) if r["label"] != "error"]
    values = np.array([r["largest_candidate"] or 0.0 for r in records if r["label"] != "not-comparable"])
    threshold = float(np.quantile(values, 1 - TARGET_FALSE_ALARM))
    per_transform = {}
    for transform in sorted({r["transform"] for r in records}):
        mine = [r for r in records if r["transform"] == transform]
        per_transform[transform] = {
            "pairs": len(mine),
            "not_comparable": sum(r["label"] == "not-comparable" for r in mine),
            "above_threshold": sum((r["largest_candidate"] or 0.0) >= threshold for r in mine),
        }
    paths = {p["sha256"]: p["path"] for p in photos(data, side)}
    document = {
        "statistic": "mass",
        "threshold": round(threshold, 1),
        "target_false_alarm": TARGET_FALSE_ALARM,
        "pairs": int(len(values)),
        "rule": "threshold = quantile 1 - target_false_alarm (linear) of the largest candidate's mass over the "
                "calibration pairs (benign only)",
        "command": f"tamperscope train compare --data {data} --workers {workers}"
                   + (f" --photos {limit}" if limit else ""),
        "side": side,
        "per_transform": per_transform,
        "largest_candidates": {"median": round(float(np.median(values)), 1),
                               "q90": round(float(np.quantile(values, 0.9)), 1),
                               "max": round(float(values.max()), 1)},
        "photos": [{"path": paths.get(s, "?"), "sha256": s} for s in sorted({r["sha256"] for r in records})],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n")
    return document
