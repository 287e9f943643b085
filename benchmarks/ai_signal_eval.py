"""AI-image signal detectors (spectral, npr, zed) against real photos at matched size and format.

Every image, generated or real, goes through the same pipeline: a central 256x256 crop (offsets multiples
of 8; cropping keeps pixel-level traces, resizing would not), then one condition applied to both classes alike:

* ``clean``: the crop's pixels as they are (real photos keep the JPEG history they came with);
* ``jpeg90`` / ``jpeg75``: the crop re-saved as JPEG (4:2:0) and read back as a JPEG file;
* ``resize0.5``: the crop down-scaled to 128x128 (area interpolation).

Pairs compared (real photos: the ``test`` split of ``tamperscope.train.photos``, never used to train or
calibrate): ``generators`` = shared/data/dev/sentry-ai + comfyui-ai synthetic (pixels only: the files' metadata
chunks never reach the detectors) vs real photos; ``faces`` = faces-gan-vs-real synthetic vs its authentic
faces. AUC is rank-based (0.5 = chance) on each detector's decision statistic; ``FA`` is the share of real
images whose score is >= 0.5.

``--calibrate`` prints each training-free statistic's 99th percentile and MAD on the ``calibrate`` split (whole
images as loaded), the constants written into detectors/npr.py and detectors/spectral.py.

Usage::

    python benchmarks/ai_signal_eval.py --data ../shared/data/dev            # AUC table (markdown)
    python benchmarks/ai_signal_eval.py --data ../shared/data/dev --calibrate
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from tamperscope.detectors import create
from tamperscope.image import load
from tamperscope.train.photos import photos

CROP = 256
CONDITIONS = ("clean", "jpeg90", "jpeg75", "resize0.5")
DETECTORS = ("spectral", "npr", "zed")


def statistic(name: str, evidence) -> float:
    """The detector's decision statistic (monotone with its score) from its facts."""
    f = evidence.facts
    if name == "npr":
        return f["statistic"]
    if name == "zed":
        return -f["d0"]
    return f["ai_score"]  # spectral: the larger of two calibrated logistics


def central_square(pixels: np.ndarray, side: int = CROP) -> np.ndarray | None:
    h, w = pixels.shape[:2]
    if min(h, w) < side:
        return None
    top, left = (h - side) // 2 // 8 * 8, (w - side) // 2 // 8 * 8
    return np.ascontiguousarray(pixels[top : top + side, left : left + side, :3])


def condition(pixels: np.ndarray, name: str):
    if name == "clean":
        return load(pixels)
    if name.startswith("jpeg"):
        buffer = io.BytesIO()
        PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=int(name[4:]), subsampling=2)
        return load(buffer.getvalue())
    small = cv2.resize(pixels, (pixels.shape[1] // 2, pixels.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return load(small)


def manifest_rows(folder: Path):
    with (folder / "manifest.csv").open(newline="") as handle:
        yield from csv.DictReader(handle)


def generated(data: Path) -> list[tuple[str, np.ndarray]]:
    out = []
    for name in ("sentry-ai", "comfyui-ai"):
        for row in manifest_rows(data / name):
            if row["label"] == "synthetic":
                out.append((f"{name}/{row['image_path']}", load(data / name / row["image_path"]).pixels))
    return out


def faces(data: Path, label: str) -> list[tuple[str, np.ndarray]]:
    folder = data / "faces-gan-vs-real"
    return [(r["image_path"], load(folder / r["image_path"]).pixels) for r in manifest_rows(folder) if r["label"] == label]


def real_photos(data: Path, split: str) -> list[tuple[str, np.ndarray]]:
    return [(p.key, p.pixels()) for p in photos(data, (split,), skimage=False)]


def auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    pos, neg = np.asarray(positive, float), np.asarray(negative, float)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def measure(images: list[tuple[str, np.ndarray]], cond: str, detectors: dict) -> dict[str, dict[str, list]]:
    result = {name: {"stat": [], "score": [], "na": 0} for name in detectors}
    for _, pixels in images:
        crop = central_square(pixels)
        if crop is None:
            continue
        image = condition(crop, cond)
        for name, detector in detectors.items():
            ev = detector.run(image)
            if not ev.ok:
                result[name]["na"] += 1
                continue
            result[name]["stat"].append(statistic(name, ev))
            result[name]["score"].append(ev.facts["ai_score"])
    return result


def evaluate(data: Path) -> str:
    detectors = {name: create(name) for name in DETECTORS}
    real = real_photos(data, "test")
    pairs = {"generators": (generated(data), real), "faces": (faces(data, "synthetic"), faces(data, "authentic"))}
    lines = [
        "| pair | condition | n fake / real | " + " | ".join(f"{d} AUC" for d in DETECTORS) + " | "
        + " | ".join(f"{d} TPR / FA" for d in DETECTORS) + " |",
        "|---|---|---|" + "---|" * (2 * len(DETECTORS)),
    ]
    for pair, (fake, genuine) in pairs.items():
        for cond in CONDITIONS:
            mf, mr = measure(fake, cond, detectors), measure(genuine, cond, detectors)
            aucs, rates = [], []
            for d in DETECTORS:
                aucs.append(f"{auc(mf[d]['stat'], mr[d]['stat']):.3f}")
                tpr = np.mean(np.asarray(mf[d]["score"]) >= 0.5) if mf[d]["score"] else float("nan")
                fa = np.mean(np.asarray(mr[d]["score"]) >= 0.5) if mr[d]["score"] else float("nan")
                rates.append(f"{tpr:.2f} / {fa:.2f}")
            n = f"{len(mf[DETECTORS[-1]]['stat'])} / {len(mr[DETECTORS[-1]]['stat'])}"
            lines.append(f"| {pair} | {cond} | {n} | " + " | ".join(aucs) + " | " + " | ".join(rates) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    # False alarms on whole test-split photos as they are (no crop, no re-save): what a user's photo meets.
    whole = {d: [] for d in DETECTORS}
    for _, pixels in real:
        image = load(pixels)
        for d, detector in detectors.items():
            ev = detector.run(image)
            if ev.ok:
                whole[d].append(ev.facts["ai_score"])
    lines.append("")
    lines.append(
        "False alarms on whole real test photos (no crop, no re-save; score >= 0.5): "
        + ", ".join(f"{d} {np.mean(np.asarray(v) >= 0.5):.3f} of {len(v)}" for d, v in whole.items())
    )
    return "\n".join(lines)


def calibrate(data: Path) -> str:
    npr, peak, excess = [], [], []
    for _, pixels in real_photos(data, "calibrate"):
        image = load(pixels)
        ev = create("npr").run(image)
        if ev.ok:
            npr.append(ev.facts["statistic"])
        ev = create("spectral").run(image)
        if ev.ok:
            peak.append(ev.facts["peak"])
            excess.append(ev.facts["high_frequency_excess"])

    def line(name: str, values: list[float]) -> str:
        v = np.asarray(values)
        mad = 1.4826 * np.median(np.abs(v - np.median(v)))
        return f"{name}: n={v.size} p99={np.percentile(v, 99):.4f} MAD={mad:.4f} median={np.median(v):.4f}"

    return "\n".join([line("npr statistic", npr), line("spectral peak", peak), line("spectral excess", excess)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared/data/dev folder")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    print(calibrate(args.data) if args.calibrate else evaluate(args.data))
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
