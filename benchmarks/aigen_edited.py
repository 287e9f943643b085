"""``ai-edited`` from the aigen map: real photos with one pasted AI region, against the same photos untouched.

A proxy for inpainting (no held-apart inpainting set with masks exists here): into each real photo of the
``test`` split (at least 448 px a side) a square of side 45% of the short side (about a fifth of the image) is
cut from an AI image of the ``test`` split at native resolution (no resize) and pasted with a feathered edge
(Gaussian, sigma 6 px), at a seeded random place; the result and the untouched photo are saved alike (JPEG 92).
Each file is analysed by the detector alone, with one crop (global + centre crop: the detector named alone) and the
thorough profile's (global + 3 crops). Reported: the share labelled ``ai-edited`` (score >= 0.5 with
``indicates`` = ai-edited), ``ai-generated``, or neither; and, where the map covered the pasted square, the
cell-level AUC of the map (pasted cells vs the other covered cells).

Usage::

    PYTHONPATH=src python benchmarks/aigen_edited.py --data ../shared/data/dev --corpus CORPUS [--count 60] [--write]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from tamperscope.detectors import create
from tamperscope.image import load
from tamperscope.train import aigen

SECTION_TITLE = "## Locally AI-edited photos: the `aigen` map (pasted AI regions, a proxy for inpainting)"


def composite(photo: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = photo.shape[:2]
    side = int(0.45 * min(h, w))
    side = min(side, donor.shape[0], donor.shape[1])
    dy, dx = rng.integers(0, donor.shape[0] - side + 1), rng.integers(0, donor.shape[1] - side + 1)
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    mask = np.zeros((h, w), np.float32)
    mask[y : y + side, x : x + side] = 1
    soft = cv2.GaussianBlur(mask, (0, 0), 6)[..., None]
    patch = np.zeros_like(photo, dtype=np.float32)
    patch[y : y + side, x : x + side] = donor[dy : dy + side, dx : dx + side, :3]
    out = photo.astype(np.float32) * (1 - soft) + patch * soft
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), mask.astype(bool)


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def map_auc(evidence, mask: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if evidence.heatmap is None:
        return None
    s = evidence.stride
    rows, cols = evidence.heatmap.shape
    cells = np.zeros((rows, cols), bool)
    m = np.pad(mask, ((0, rows * s - mask.shape[0]), (0, cols * s - mask.shape[1])))
    cells = m.reshape(rows, s, cols, s).mean(axis=(1, 3)) > 0.5
    seen = evidence.confidence > 0
    y, v = cells[seen], evidence.heatmap[seen]
    return float(roc_auc_score(y, v)) if 0 < y.sum() < y.size else None


def outcome(evidence) -> str:
    if not evidence.ok or evidence.score < 0.5:
        return "none"
    return evidence.indicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    samples = aigen.gather(args.data, args.corpus, [], log=lambda line: print(line, file=sys.stderr))
    rng = np.random.default_rng(args.seed)
    real = [s for s in samples if s.label == "real" and s.split == "test"]
    donors = [s for s in samples if s.label == "ai" and s.split == "test"]
    rng.shuffle(real)
    results = {k: {"edited": [], "control": [], "auc": []} for k in (1, 3)}
    used = 0
    for sample in real:
        if used >= args.count:
            break
        photo = load(sample.path).pixels
        if min(photo.shape[:2]) < 448:
            continue
        donor = load(donors[int(rng.integers(len(donors)))].path).pixels
        if min(donor.shape[:2]) < int(0.45 * min(photo.shape[:2])):
            continue
        edited, mask = composite(photo, donor, rng)
        files = {"edited": load(jpeg(edited)), "control": load(jpeg(photo))}
        for crops in (1, 3):
            detector = create("aigen", crops=crops)
            for kind, image in files.items():
                evidence = detector.run(image)
                results[crops][kind].append(outcome(evidence))
                if kind == "edited":
                    value = map_auc(evidence, mask)
                    if value is not None:
                        results[crops]["auc"].append(value)
        used += 1
        print(f"{used}/{args.count}", file=sys.stderr, flush=True)
    lines = [SECTION_TITLE, "",
             f"Measured by `PYTHONPATH=src python benchmarks/aigen_edited.py --data ../shared/data/dev --corpus CORPUS "
             f"--count {args.count} --write` ({(time.perf_counter() - start) / 60:.0f} min). {used} real photos of the test "
             "split (at least 448 px a side), each with one pasted AI square (about a fifth of the image, feathered edge) and untouched; both saved "
             "as JPEG 92. Protocol in the script's docstring.", "",
             "| views | file | ai-edited | ai-generated | neither | map AUC inside vs outside (covered cells) |",
             "|---|---|---:|---:|---:|---:|"]
    for crops, label in ((1, "global + centre crop"), (3, "thorough (global + 3 crops)")):
        for kind in ("edited", "control"):
            out = results[crops][kind]
            share = {k: np.mean([o == k for o in out]) for k in ("ai-edited", "ai-generated", "none")}
            aucs = results[crops]["auc"]
            auc_text = f"{np.mean(aucs):.2f} over {len(aucs)} images" if kind == "edited" and aucs else ""
            lines.append(f"| {label} | {'pasted AI region' if kind == 'edited' else 'untouched photo'} | "
                         f"{share['ai-edited']:.0%} | {share['ai-generated']:.0%} | {share['none']:.0%} | {auc_text} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _machine import replace_section

        replace_section(Path("docs/benchmarks.md"), SECTION_TITLE, text)


if __name__ == "__main__":
    main()
