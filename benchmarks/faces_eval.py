"""Measure the face-swap detector: held-apart self-blends, GAN faces vs real, false alarms, speed.

Usage (from the repository root, with shared/data beside the clone)::

    PYTHONPATH=src python benchmarks/faces_eval.py --data ../shared/data/dev [--model PATH]

Prints one JSON object. Sections:

* ``self_blend_auc``: real faces of the test split (tamperscope.train.faces, never
  trained on nor calibrated with) against self-blends of the same faces made with
  another seed; clean, JPEG 75 and 0.5 resize of the crop.
* ``gan_vs_real``: dev/faces-gan-vs-real through the whole detector (find, crop,
  network) with synthetic as positive; clean, after JPEG 75 and after a 0.5 resize
  of the file. The detector is not meant for fully generated faces, and the two
  classes come through different pipelines (a shortcut), so read it as a control.
* ``false_alarms``: share of authentic photos with a judged face whose score is
  >= 0.5 (the real-face test split, casia1 / micc-f220 / exif-camera authentic).
* ``speed``: seconds per megapixel of the detector (consistency checks off and on).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from tamperscope.detectors import create
from tamperscope.faces.model import MODEL_PATH, load_model
from tamperscope.image import load
from tamperscope.train.faces import auc, collect, held_apart_aucs


def perturb_file(pixels: np.ndarray, how: str) -> bytes | np.ndarray:
    if how == "jpeg75":
        buffer = io.BytesIO()
        PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=75)
        return buffer.getvalue()
    if how == "resize0.5":
        h, w = pixels.shape[:2]
        return cv2.resize(pixels, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return pixels


MODEL = {"path": str(MODEL_PATH)}


def detector_scores(paths: list[Path], how: str = "clean", file_bytes: bool = True) -> list[float | None]:
    detector = create("faceswap", consistency=False, model=MODEL["path"])
    from tamperscope.errors import InputError

    scores = []
    for path in paths:
        try:
            image = load(path) if how == "clean" and file_bytes else load(perturb_file(load(path).pixels, how))
        except InputError:  # formats the loader does not read here (HEIC without pillow-heif)
            scores.append(None)
            continue
        evidence = detector.run(image)
        scores.append(evidence.score if evidence.ok else None)
    return scores


def manifest_rows(folder: Path, labels: tuple[str, ...]) -> list[tuple[Path, str]]:
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as handle:
        return [(folder / r["image_path"], r["label"]) for r in csv.DictReader(handle) if r["label"] in labels]


def gan_vs_real(data: Path) -> dict:
    rows = manifest_rows(data / "faces-gan-vs-real", ("authentic", "synthetic"))
    result = {}
    for how in ("clean", "jpeg75", "resize0.5"):
        scores = detector_scores([p for p, _ in rows], how)
        judged = [(s, label) for s, (_, label) in zip(scores, rows) if s is not None]
        real = np.array([s for s, label in judged if label == "authentic"])
        fake = np.array([s for s, label in judged if label == "synthetic"])
        result[how] = {"auc": round(auc(real, fake), 4) if len(real) and len(fake) else None,
                       "judged_real": len(real), "judged_synthetic": len(fake), "images": len(rows),
                       "flagged_real": round(float((real >= 0.5).mean()), 4) if len(real) else None,
                       "flagged_synthetic": round(float((fake >= 0.5).mean()), 4) if len(fake) else None}
    return result


def false_alarms(data: Path) -> dict:
    out = {}
    for folder in ("casia1", "micc-f220", "exif-camera"):
        rows = manifest_rows(data / folder, ("authentic",))
        scores = [s for s in detector_scores([p for p, _ in rows]) if s is not None]
        out[folder] = {"images": len(rows), "with_judged_face": len(scores),
                       "flagged": int(sum(s >= 0.5 for s in scores)),
                       "rate": round(float(np.mean([s >= 0.5 for s in scores])), 4) if scores else None}
    return out


def speed() -> dict:
    from skimage import data as skdata

    out = {}
    for side in (1024, 3000):
        pixels = cv2.resize(skdata.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
        image = load(pixels)
        for consistency in (False, True):
            detector = create("faceswap", consistency=consistency, model=MODEL["path"])
            detector.run(image)  # warm the model session
            began = time.perf_counter()
            detector.run(image)
            seconds = time.perf_counter() - began
            out[f"{side}x{side}{' +consistency' if consistency else ''}"] = round(seconds / (side * side / 1e6), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--skip", nargs="*", default=[], help="sections to skip")
    parser.add_argument("--cache", type=Path, help="the crops cache of 'tamperscope train faces --cache'")
    args = parser.parse_args()
    MODEL["path"] = str(args.model)
    model = load_model(str(args.model))
    result = {"model_recipe": model.recipe}
    if "self_blend" not in args.skip:
        folders = [args.data / "faces-real-utkface", args.data / "faces-real-lfw"]
        faces = collect(folders, cache=args.cache) if args.cache else collect(folders, only=("test",))
        crops, rolls = faces.of("test")
        logits = lambda c: model.logits(c)[0]  # noqa: E731
        result["self_blend_auc"] = {**held_apart_aucs(logits, crops, rolls, args.seed), "faces": len(crops)}
        result["real_test_faces_flagged"] = round(float((model.score(logits(crops)) >= 0.5).mean()), 4)
        print(json.dumps(result), file=sys.stderr, flush=True)
    if "gan" not in args.skip:
        result["gan_vs_real"] = gan_vs_real(args.data)
        print(json.dumps(result["gan_vs_real"]), file=sys.stderr, flush=True)
    if "false_alarms" not in args.skip:
        result["false_alarms"] = false_alarms(args.data)
        print(json.dumps(result["false_alarms"]), file=sys.stderr, flush=True)
    if "speed" not in args.skip:
        result["speed_s_per_mp"] = speed()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
