"""Paper-style synthetic experiment: double-JPEG localization vs (Q1, Q2) for DQ, ADQ2 and NADQ.

The protocol of Lin et al. (2009) and Bianchi & Piva (2011, 2012): an uncompressed photo is JPEG compressed at
quality Q1 and decompressed; a central square (a quarter of the area) is replaced by the uncompressed photo, so that
only it lacks the first compression; the result is compressed at Q2. In the *aligned* case the grid is untouched; in
the *non-aligned* case the decompressed Q1 image (and the photo) are cropped by a random (dy, dx) != (0, 0) before
the paste, as a crop shifts the grid. The authentic counterparts go through the same steps without the paste
(compressed at Q1 then Q2), or are compressed once at Q2.

Reported per (Q1, Q2): the mean over photos of the block-level AUC of each map against the mask (the papers'
localization metric; a block counts as tampered when most of its pixels are; the map is used as the detector gives
it, not flipped), and for DQ, the only one of the three that decides, the share of forged images with score >= 0.5
(detection) and the share of authentic counterparts with score >= 0.5 (false alarms, double and single).

Photos: scikit-image's astronaut, coffee, chelsea, rocket and camera (public domain / CC0), and the first camera JPEGs
of ../shared/data/dev/exif-camera at least 1200 pixels wide, downscaled by area averaging to at most 512 pixels a side
(which erases their own JPEG grid), all cropped to multiples of 8. Photos are never written into the repository.

Usage (from the repository root)::

    python benchmarks/double_jpeg_rates.py [--qualities 60,70,80,90] [--camera 5] [--data ../shared/data/dev]
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parent.parent


def jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(data)).convert("RGB"))


def fit(pixels: np.ndarray, side: int = 512) -> np.ndarray:
    scale = min(1.0, side / max(pixels.shape[:2]))
    if scale < 1.0:
        pixels = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = pixels.shape[0] // 8 * 8, pixels.shape[1] // 8 * 8
    return np.ascontiguousarray(pixels[:h, :w])


def photos(data: Path, camera: int) -> list[tuple[str, np.ndarray]]:
    from skimage import color, data as skdata

    chosen = [(n, getattr(skdata, n)()) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    chosen.append(("camera", (color.gray2rgb(skdata.camera())).astype(np.uint8)))
    manifest = data / "exif-camera" / "manifest.csv"
    if manifest.is_file() and camera:
        with manifest.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["format"] == "jpeg" and r["width"]
                    and int(r["width"]) >= 1200]
        for row in rows[:camera]:
            pixels = np.asarray(PILImage.open(data / "exif-camera" / row["image_path"]).convert("RGB"))
            chosen.append((Path(row["image_path"]).name, pixels))
    return [(name, fit(pixels)) for name, pixels in chosen]


def central_mask(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), bool)
    top, left = (h // 4) // 8 * 8, (w // 4) // 8 * 8
    mask[top : top + h // 2, left : left + w // 2] = True
    return mask


def forge(photo: np.ndarray, q1: int, q2: int, shift: tuple[int, int], paste: bool):
    first = decode(jpeg_bytes(photo, q1))
    dy, dx = shift
    first, original = first[dy:, dx:], photo[dy:, dx:]
    h, w = first.shape[0] // 8 * 8, first.shape[1] // 8 * 8
    first, original = first[:h, :w].copy(), original[:h, :w]
    mask = central_mask((h, w))
    if paste:
        first[mask] = original[mask]
    return jpeg_bytes(first, q2), mask


def block_auc(heat_cells: np.ndarray, stride: int, mask: np.ndarray) -> float | None:
    """ROC AUC of a map given per ``stride`` cell against the cells that are mostly inside the mask."""
    from tamperscope.bench.metrics import pixel_auc  # Mann-Whitney with ties as 1/2, as scikit-learn's

    rows, cols = mask.shape[0] // stride, mask.shape[1] // stride
    truth = mask[: rows * stride, : cols * stride].reshape(rows, stride, cols, stride).mean(axis=(1, 3)) > 0.5
    scores = heat_cells[:rows, :cols]
    if truth.all() or not truth.any():
        return None
    return float(pixel_auc(scores, truth))


def main() -> None:
    from tamperscope.detectors import create
    from tamperscope.image import load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qualities", default="60,70,80,90")
    parser.add_argument("--camera", type=int, default=5, help="camera JPEGs from exif-camera to add")
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/dev"))
    args = parser.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    images = photos(args.data, args.camera)
    rng = np.random.default_rng(0)
    shifts = [tuple(int(v) for v in rng.integers(0, 8, 2)) for _ in images]
    shifts = [s if s != (0, 0) else (3, 5) for s in shifts]
    print(f"{len(images)} photos: {', '.join(name for name, _ in images)}", flush=True)

    dq, adq2, nadq = create("dq"), create("adq2"), create("nadq")
    start = time.perf_counter()
    table = []
    for q1, q2 in itertools.product(qualities, qualities):
        auc = {key: [] for key in ("dq", "adq2", "nadq", "dq_na", "adq2_na")}
        detected = alarms_double = alarms_single = 0
        for (name, photo), shift in zip(images, shifts):
            data, mask = forge(photo, q1, q2, (0, 0), paste=True)
            image = load(data)
            for detector in (dq, adq2):
                ev = detector.run(image)
                value = block_auc(ev.heatmap, ev.stride, mask) if ev.ok else None
                auc[detector.name].append(0.5 if value is None else value)
                if detector is dq:
                    detected += bool(ev.ok and ev.score >= 0.5)
            authentic, _ = forge(photo, q1, q2, (0, 0), paste=False)
            alarms_double += bool((ev := dq.run(load(authentic))).ok and ev.score >= 0.5)
            alarms_single += bool((ev := dq.run(load(jpeg_bytes(photo, q2)))).ok and ev.score >= 0.5)

            data, mask = forge(photo, q1, q2, shift, paste=True)
            image = load(data)
            for detector, key in ((nadq, "nadq"), (dq, "dq_na"), (adq2, "adq2_na")):
                ev = detector.run(image)
                value = block_auc(ev.heatmap, ev.stride, mask) if ev.ok else None
                auc[key].append(0.5 if value is None else value)
        n = len(images)
        row = {"q1": q1, "q2": q2, **{k: float(np.mean(v)) for k, v in auc.items()},
               "dq_detect": detected / n, "dq_fa_double": alarms_double / n, "dq_fa_single": alarms_single / n}
        table.append(row)
        print(f"Q1 {q1} Q2 {q2}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if k not in ("q1", "q2")),
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    print()
    print(f"Aligned and non-aligned double JPEG, {len(images)} photos, central quarter pasted from the uncompressed "
          "photo; mean block AUC per method, DQ detection / false-alarm rates at score >= 0.5.")
    print()
    print("| Q1 | Q2 | DQ AUC | ADQ2 AUC | DQ detected | DQ false alarms (Q1+Q2 / Q2 only) "
          "| NADQ AUC (shifted) | DQ AUC (shifted) | ADQ2 AUC (shifted) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in table:
        print(f"| {r['q1']} | {r['q2']} | {r['dq']:.2f} | {r['adq2']:.2f} | {r['dq_detect']:.0%} | "
              f"{r['dq_fa_double']:.0%} / {r['dq_fa_single']:.0%} | {r['nadq']:.2f} | {r['dq_na']:.2f} | "
              f"{r['adq2_na']:.2f} |")


if __name__ == "__main__":
    main()
