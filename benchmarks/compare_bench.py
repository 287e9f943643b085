"""``tamperscope compare`` on generated pairs: calibration of the region threshold, accuracy, speed.

Photos (read in place, never copied; listed with their SHA-256 in the calibration file):

* the Debian wallpaper photos under /usr/share/backgrounds, /usr/share/lxqt/wallpapers and
  /usr/share/wallpapers (the photographic ones, :data:`KDE_PHOTOS`; the largest file of each),
  a list of photos from /usr/share/doc/opencv-doc/examples/data (:data:`OPENCV_PHOTOS`);
* the camera JPEGs of ../shared/data/dev/exif-camera and the authentic images of
  ../shared/data/dev/micc-f220 (manifest label ``authentic``).

Each photo is decoded, its long side capped at ``--side`` (area averaging); photos with a short side under
256 px are skipped; byte-identical files are counted once. **Split** by the SHA-256 of the photo's file:
even first byte -> ``calibrate``, odd -> ``evaluate``. Nothing of the evaluate half is seen by the
calibration.

Pairs (``tamperscope.synth.pairs.make_pair``; seeds from the photo's hash, the transform and the edit):

* ``calibrate``: every calibrate photo through every benign transform, no edit. The threshold is the
  ``1 - target`` quantile (linear interpolation) of the largest candidate region's statistic over these
  pairs; it is written to src/tamperscope/models/compare.json with this recipe.
* ``evaluate``: every evaluate photo through every benign transform twice: once with no edit (is it called
  ``changed``?) and once with an edit, the kind cycling over splice, copy-move, removal, resample, color
  with the photo (IoU of the outlined mask with the true one in the suspect's frame; the change kind of
  the region that covers most of the edit). Plus unrelated pairs: each evaluate photo against the next
  one (must be ``not-comparable``).
* ``speed``: two 12 MP images (4000 x 3000 from the largest wallpaper photo; the suspect is spliced,
  cropped by 5 % and resized back to 4000 x 3000, JPEG 80), three runs, with the load average and the
  decode time of the two files measured in the same run.

Usage (from the repository root; results are appended to ``--work``/*.jsonl, so a rerun resumes)::

    PYTHONPATH=src python benchmarks/compare_bench.py calibrate --workers 2
    PYTHONPATH=src python benchmarks/compare_bench.py evaluate --workers 2
    PYTHONPATH=src python benchmarks/compare_bench.py speed
    PYTHONPATH=src python benchmarks/compare_bench.py report      # writes the docs sections
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from _machine import cpu_model, replace_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "dev"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/dev")
CALIBRATION = ROOT / "src" / "tamperscope" / "models" / "compare.json"
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
SECTION = "## Comparing two versions (`tamperscope compare`)"
SPEED_SECTION = "## Comparing two versions (`tamperscope compare`)"


def photo_paths() -> list[Path]:
    paths: list[Path] = []
    paths += sorted(Path(p) for p in glob.glob("/usr/share/backgrounds/**/*.jpg", recursive=True))
    paths += sorted(Path(p) for p in glob.glob("/usr/share/lxqt/wallpapers/*.jpg"))
    for name in KDE_PHOTOS:
        files = [Path(p) for p in glob.glob(f"/usr/share/wallpapers/{name}/contents/images/*")
                 if p.lower().endswith((".jpg", ".jpeg", ".png"))]
        if files:
            paths.append(max(files, key=lambda p: p.stat().st_size))
    paths += [Path("/usr/share/doc/opencv-doc/examples/data") / n for n in OPENCV_PHOTOS]
    import csv

    for folder, fmt in (("exif-camera", None), ("micc-f220", None)):
        manifest = DATA / folder / "manifest.csv"
        if manifest.is_file():
            with manifest.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    if row["label"] == "authentic" and row["image_path"].lower().endswith((".jpg", ".jpeg")):
                        paths.append(DATA / folder / row["image_path"])
    return [p for p in paths if p.is_file()]


def photos(side: int) -> list[dict]:
    """The usable photos, one per distinct file: path, sha256, split (at most ``MICC_PHOTOS`` from MICC-F220)."""
    seen, found = set(), []
    micc = 0
    for path in photo_paths():
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


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def run_pair(job: dict) -> dict:
    """One pair: make it, compare it, score it; an exception is recorded (and counted in the report), not raised."""
    try:
        return _run_casia(job) if job["split"] == "casia" else _run_pair(job)
    except Exception as exc:  # a crash is a result to report, not a reason to lose the run
        import traceback

        return {k: job[k] for k in ("key", "split", "sha256", "transform", "edit")} | {
            "label": "error", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}


def _run_pair(job: dict) -> dict:
    from tamperscope.comparison.calibration import Calibration
    from tamperscope.comparison.pipeline import decide, prepare
    from tamperscope.synth.pairs import make_pair

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
    from tamperscope.comparison.calibration import Calibration
    from tamperscope.comparison.pipeline import decide

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


def casia_pairs() -> list[tuple[str, str, str, str]]:
    """(authentic host, tampered, mask, manipulation type) of dev/casia1 where the host photo is there too.

    CASIA v1 names a forgery after its host photo (Sp_D_CNN_A_art0024_ani0032_0268: host art0024, donor ani0032;
    Sp_S_*: one photo); the authentic file of the host is Au_art_0024. These are real edits, made by hand.
    """
    import csv
    import re

    folder = DATA / "casia1"
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


def casia_jobs() -> list[dict]:
    from tamperscope.synth.pairs import TRANSFORMS

    jobs = []
    for index, (host, tampered, mask, kind) in enumerate(casia_pairs()):
        for transform in ("as-published", TRANSFORMS[index % len(TRANSFORMS)]):
            jobs.append({"key": f"casia/{Path(tampered).stem}/{transform}", "split": "casia", "side": 0,
                         "path": host, "sha256": Path(tampered).stem, "transform": transform, "edit": kind,
                         "other": tampered, "mask": mask})
    return jobs


def _run_casia(job: dict) -> dict:
    """A CASIA host photo against its hand-made forgery, as published or after a benign transform."""
    from tamperscope.comparison.pipeline import prepare
    from tamperscope.synth.pairs import apply_transform

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


def jobs_for(split: str, side: int, limit: int | None = None) -> list[dict]:
    from tamperscope.synth.pairs import TRANSFORMS

    chosen = [p for p in photos(side) if p["split"] == split][:limit]
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


def run_jobs(jobs: list[dict], out: Path, workers: int) -> list[dict]:
    done = {}
    if out.is_file():
        for line in out.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                done[record["key"]] = record
    todo = [j for j in jobs if j["key"] not in done]
    print(f"{len(done)} done, {len(todo)} to do -> {out}", flush=True)
    if todo:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, maxtasksperchild=20) as pool, out.open("a") as sink:
            for count, record in enumerate(pool.imap_unordered(run_pair, todo), start=1):
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                done[record["key"]] = record
                if count % 10 == 0:
                    print(f"  {count}/{len(todo)}", flush=True)
    return [done[j["key"]] for j in jobs if j["key"] in done]


def calibrate(args) -> None:
    jobs = jobs_for("calibrate", args.side, args.photos)
    records = [r for r in run_jobs(jobs, args.work / "calibrate.jsonl", args.workers) if r["label"] != "error"]
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
    used = sorted({(r["sha256"]) for r in records})
    paths = {p["sha256"]: p["path"] for p in photos(args.side)}
    document = {
        "statistic": "mass",
        "threshold": round(threshold, 1),
        "target_false_alarm": TARGET_FALSE_ALARM,
        "pairs": int(len(values)),
        "rule": "threshold = quantile 1 - target_false_alarm (linear) of the largest candidate's mass over the "
                "calibration pairs (benign only)",
        "command": "PYTHONPATH=src python benchmarks/compare_bench.py calibrate --workers 2"
                   + (f" --photos {args.photos}" if args.photos else ""),
        "side": args.side,
        "per_transform": per_transform,
        "photos": [{"path": paths.get(s, "?"), "sha256": s} for s in used],
    }
    CALIBRATION.write_text(json.dumps(document, indent=1) + "\n")
    print(f"threshold {threshold:.1f} from {len(values)} benign pairs -> {CALIBRATION}")


def casia(args) -> None:
    run_jobs(casia_jobs(), args.work / "casia.jsonl", args.workers)


def evaluate(args) -> None:
    run_jobs(jobs_for("evaluate", args.side, args.photos), args.work / "evaluate.jsonl", args.workers)


def speed(args) -> None:
    from tamperscope import compare
    from tamperscope.image import load
    from tamperscope.synth.kinds import encode
    from tamperscope.synth.pairs import make_pair

    source = max((Path(p) for p in glob.glob("/usr/share/backgrounds/*.jpg")), key=lambda p: Image.open(p).size[0])
    with Image.open(source) as pil:
        pixels = np.array(pil.convert("RGB"))
    top, left = (pixels.shape[0] - 3000) // 2, (pixels.shape[1] - 4000) // 2
    photo = np.ascontiguousarray(pixels[top : top + 3000, left : left + 4000])
    pair = make_pair(photo, np.random.default_rng(0), edit="splice", transform="resave", donor=photo[::-1, ::-1])
    crop = pair.suspect_pixels[75:-75, 100:-100]
    suspect = encode(cv2.resize(crop, (4000, 3000), interpolation=cv2.INTER_CUBIC),
                     {"format": "JPEG", "quality": 80, "subsampling": "4:2:0"})
    original = pair.original
    runs, decodes, stages = [], [], []
    for _ in range(3):
        began = time.perf_counter()
        load(original)
        load(suspect)
        decodes.append(time.perf_counter() - began)
        began = time.perf_counter()
        result = compare(original, suspect)
        runs.append(time.perf_counter() - began)
        stages.append(result.timings)
    load_average = os.getloadavg()
    record = {
        "source": str(source), "original": "4000x3000", "suspect": "4000x3000",
        "label": result.label, "regions": len(result.regions),
        "seconds": runs, "median_seconds": statistics.median(runs),
        "decode_seconds": decodes, "median_decode_seconds": statistics.median(decodes),
        "stages_of_median_run": stages[int(np.argsort(runs)[1])],
        "load_average": [round(v, 2) for v in load_average], "cpu": cpu_model(), "cores": os.cpu_count(),
        "python": platform.python_version(),
        "peak_rss_mb": _peak_rss_mb(),
    }
    (args.work / "speed.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record, indent=1))


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(args) -> None:
    from tamperscope.synth.pairs import TRANSFORMS

    calibration = json.loads(CALIBRATION.read_text())
    threshold = calibration["threshold"]
    raw = [json.loads(x) for x in (args.work / "evaluate.jsonl").read_text().splitlines() if x.strip()]
    keys = {j["key"] for j in jobs_for("evaluate", args.side, args.photos)}
    raw = [r for r in raw if r["key"] in keys]
    records = [{**r, **verdict(r, threshold)} if r["edit"] != "unrelated" else r for r in raw]
    errors = [r for r in records if r["label"] == "error"]
    lines = [SECTION, "",
             "Generated pairs (`tamperscope.synth.pairs`): an original file (JPEG 85-95 or PNG) and a suspect made "
             "from it by one benign transform (crop, resize, rotate, mirror, colour grade, up-scale, a platform's "
             "crop + resize + JPEG + sharpening, or crop, rotation, scale, mirror and grade together), saved as "
             "JPEG 60-90, with or without a local edit before the transform. Photos: Debian wallpaper photos, "
             "OpenCV sample photos, the camera JPEGs of dev/exif-camera and authentic MICC-F220 images, long side "
             f"capped at {calibration['side']} px, split by file hash: the region threshold was calibrated on "
             f"{calibration['pairs']} benign pairs of one half (statistic threshold {threshold:.0f}, the "
             f"{1 - calibration['target_false_alarm']:.0%} quantile of the largest candidate region's statistic); "
             "every number below is on the other half, which the calibration never saw.", "",
             "| transform | benign pairs | called `changed` | not comparable | edited pairs | edit outlined | "
             "mean IoU | median IoU |", "|---|---|---|---|---|---|---|---|"]
    total_benign = total_false = 0
    for transform in TRANSFORMS:
        benign = [r for r in records if r["transform"] == transform and r["edit"] == "none"]
        edited = [r for r in records if r["transform"] == transform and r["edit"] not in ("none", "unrelated")]
        false = sum(r["label"] == "changed" for r in benign)
        total_benign += len(benign)
        total_false += false
        ious = [r["iou"] for r in edited]
        found = sum(r["label"] == "changed" and r["iou"] > 0 for r in edited)
        lines.append(f"| {transform} | {len(benign)} | {false} ({false / max(len(benign), 1):.1%}) | "
                     f"{sum(r['label'] == 'not-comparable' for r in benign + edited)} | {len(edited)} | "
                     f"{found} ({found / max(len(edited), 1):.0%}) | "
                     f"{statistics.mean(ious) if ious else 0:.2f} | {statistics.median(ious) if ious else 0:.2f} |")
    edited_all = [r for r in records if r["edit"] not in ("none", "unrelated")]
    lines.append(f"| **all** | {total_benign} | {total_false} ({total_false / max(total_benign, 1):.1%}) | "
                 f"{sum(r['label'] == 'not-comparable' for r in records if r['edit'] != 'unrelated')} | "
                 f"{len(edited_all)} | {sum(r['label'] == 'changed' and r['iou'] > 0 for r in edited_all)} | "
                 f"{statistics.mean(r['iou'] for r in edited_all) if edited_all else 0:.2f} | "
                 f"{statistics.median(r['iou'] for r in edited_all) if edited_all else 0:.2f} |")
    lines += ["", "By edit (all transforms): IoU, and the change kind given to the outlined region that covers most "
              "of the edit.", "", "| edit | pairs | edit outlined | mean IoU | kinds given |", "|---|---|---|---|---|"]
    for edit in EDIT_CYCLE:
        mine = [r for r in records if r["edit"] == edit]
        if not mine:
            continue
        kinds: dict[str, int] = {}
        for r in mine:
            if r.get("kind"):
                kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        found = sum(r["label"] == "changed" and r["iou"] > 0 for r in mine)
        lines.append(f"| {edit} | {len(mine)} | {found} | {statistics.mean(r['iou'] for r in mine):.2f} | "
                     + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])) + " |")
    unrelated = [r for r in records if r["edit"] == "unrelated"]
    aligned = [r["log10_nfa"] for r in records if r["edit"] != "unrelated" and r.get("log10_nfa") is not None]
    calibration_records = [json.loads(x) for x in (args.work / "calibrate.jsonl").read_text().splitlines()
                           if x.strip()]
    lines += ["", f"Unrelated photos (each evaluate photo against the next): {len(unrelated)} pairs, "
              f"{sum(r['label'] == 'not-comparable' for r in unrelated)} `not-comparable`, "
              f"{sum(r['label'] != 'not-comparable' for r in unrelated)} aligned by mistake. Versions of one picture: "
              f"weakest alignment log10 NFA {max(aligned) if aligned else float('nan'):.0f}, median "
              f"{statistics.median(aligned) if aligned else float('nan'):.0f} (the decision is at -3)."
              + (f" {len(errors)} pairs failed with an error." if errors else ""),
              "", f"Calibration half, for reference: {len(calibration_records)} benign pairs, "
              f"{sum((r.get('largest_candidate') or 0) >= threshold for r in calibration_records)} above the "
              "threshold (by construction about 1%).", "",
              f"Commands (from the repository root; {statistics.median(r['seconds'] for r in records):.1f} s per pair "
              "(median) on the shared 2-core machine under a load average of 20-35 from other jobs):",
              "", "```", calibration["command"],
              "PYTHONPATH=src python benchmarks/compare_bench.py evaluate --workers 2"
              + (f" --photos {args.photos}" if args.photos else ""),
              "PYTHONPATH=src python benchmarks/compare_bench.py report"
              + (f" --photos {args.photos}" if args.photos else ""), "```"]
    lines += casia_lines(args.work / "casia.jsonl", threshold)
    speed_file = args.work / "speed.json"
    if speed_file.is_file():
        sp = json.loads(speed_file.read_text())
        lines += ["", f"**Time for two 12 MP images** (4000 x 3000 original and suspect, JPEG): median "
                  f"{sp['median_seconds']:.1f} s over {len(sp['seconds'])} runs; decoding the two files alone takes "
                  f"{sp['median_decode_seconds']:.2f} s in the same runs (ratio "
                  f"{sp['median_seconds'] / sp['median_decode_seconds']:.0f}x); peak RSS {sp['peak_rss_mb']:.0f} MiB; "
                  f"{sp['cpu']} ({sp['cores']} cores) with a load average of {sp['load_average'][0]:.1f} from other "
                  "jobs, so an upper bound. Stages of the median run: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in sp["stages_of_median_run"].items())
                  + ". Command: `PYTHONPATH=src python benchmarks/compare_bench.py speed`."]
        replace_section(ROOT / "docs" / "performance.md", SPEED_SECTION, "\n".join([
            SPEED_SECTION, "",
            f"Two 12 MP images (4000 x 3000 JPEG original and suspect; the suspect spliced, cropped by 5 % and "
            f"resized back): median {sp['median_seconds']:.1f} s over {len(sp['seconds'])} runs, of which decoding "
            f"the two files {sp['median_decode_seconds']:.2f} s; peak RSS {sp['peak_rss_mb']:.0f} MiB. Measured on "
            f"{sp['cpu']} ({sp['cores']} cores) shared with other jobs (load average {sp['load_average'][0]:.1f}): "
            "an upper bound. The comparison runs at most 4 MP (the suspect's frame reduced), so larger pairs cost "
            "about the same beyond their decoding. Stages: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in sp["stages_of_median_run"].items())
            + ". Command: `PYTHONPATH=src python benchmarks/compare_bench.py speed`; accuracy in docs/benchmarks.md.",
        ]) + "\n")
    replace_section(ROOT / "docs" / "benchmarks.md", SECTION, "\n".join(lines) + "\n")
    print("\n".join(lines))


def casia_lines(path: Path, threshold: float) -> list[str]:
    """The section's table for CASIA v1's hand-made forgeries against their host photos."""
    if not path.is_file():
        return []
    raw = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    records = [{**r, **verdict(r, threshold)} for r in raw if r["label"] != "error"]
    skipped = len(raw) - len(records)
    lines = ["", "**Real edits: CASIA v1** (Dong, Wang & Tan, ChinaSIP 2013; dev/casia1, the half kept for development). "
             "CASIA names each forgery after its host photo; where the host's authentic file is in the set, the pair "
             "(host, forgery) is an original and a hand-made edit of it (splices and copy-moves made in an image "
             "editor, 384 x 256). Each forgery is compared with its host as published, and once more after one benign "
             "transform (cycling over the list above); IoU is with CASIA's mask (Pham et al., Symmetry 2019) carried "
             "into the suspect's frame." + (f" {skipped} pairs left out: mask and image sizes differ." if skipped else ""),
             "", "| condition | pairs | edit outlined | mean IoU | median IoU | not comparable |", "|---|---|---|---|---|---|"]
    conditions = ["as-published"] + sorted({r["transform"] for r in records} - {"as-published"})
    for condition in conditions:
        mine = [r for r in records if r["transform"] == condition]
        if not mine:
            continue
        ious = [r["iou"] for r in mine]
        found = sum(r["label"] == "changed" and r["iou"] > 0 for r in mine)
        lines.append(f"| {condition} | {len(mine)} | {found} ({found / len(mine):.0%}) | {statistics.mean(ious):.2f} | "
                     f"{statistics.median(ious):.2f} | {sum(r['label'] == 'not-comparable' for r in mine)} |")
    for kind in ("splicing", "copy-move"):
        mine = [r for r in records if r["edit"] == kind]
        if mine:
            kinds: dict[str, int] = {}
            for r in mine:
                if r.get("kind"):
                    kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
            lines.append(f"| {kind} (all conditions) | {len(mine)} | "
                         f"{sum(r['label'] == 'changed' and r['iou'] > 0 for r in mine)} | "
                         f"{statistics.mean(r['iou'] for r in mine):.2f} | "
                         f"{statistics.median(r['iou'] for r in mine):.2f} | kinds given: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])) + " |")
    lines += ["", "Command: `PYTHONPATH=src python benchmarks/compare_bench.py casia --workers 1`."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["calibrate", "evaluate", "casia", "speed", "report"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tamperscope-compare-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--side", type=int, default=800)
    parser.add_argument("--photos", type=int, default=None, help="Use only the first N photos of the split.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    {"calibrate": calibrate, "evaluate": evaluate, "casia": casia, "speed": speed, "report": report}[args.mode](args)


if __name__ == "__main__":
    main()
