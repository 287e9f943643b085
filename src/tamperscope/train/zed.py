"""Train the ``zed`` detector's lossless coder on real photos and calibrate its threshold.

Training is counting: for each level (full resolution, 2x2 means) the
residual histogram of every JPEG-LS context over the ``train`` split of
:mod:`tamperscope.train.photos`. The threshold is then the 99th percentile of
the statistic ``-D0`` over the ``calibrate`` split, which training never saw.
Deterministic (no random step): the same photos give the same file.

Usage::

    python -m tamperscope.train.zed --data ../shared/data/dev --out src/tamperscope/models/zed.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..detectors.zed import N_CONTEXTS, N_RESIDUALS, CodingModel, count_histograms, level_planes, surprises
from ..detectors._crop import central_crop
from ..errors import InputError
from .photos import photos

#: Percentile of the statistic on held-out real photos where the score is 0.5.
PERCENTILE = 99.0


def _luma(pixels: np.ndarray) -> np.ndarray:
    from ..image import load

    return load(pixels).luminance()


def count(data_root: Path, max_side: int) -> tuple[np.ndarray, dict[str, int]]:
    counts = np.zeros((2, N_CONTEXTS, N_RESIDUALS), dtype=np.int64)
    per_source: dict[str, int] = {}
    for photo in photos(data_root, ("train",)):
        luma, _ = central_crop(_luma(photo.pixels()), max_side)
        for level, plane in enumerate(level_planes(luma)):
            counts[level] += count_histograms(plane)
        source = photo.key.split("/")[0]
        per_source[source] = per_source.get(source, 0) + 1
    return counts, per_source


def calibrate(model: CodingModel, data_root: Path, max_side: int) -> np.ndarray:
    stats = []
    for photo in photos(data_root, ("calibrate",)):
        luma, _ = central_crop(_luma(photo.pixels()), max_side)
        stats.append(-surprises(luma, model)["d0"])
    return np.asarray(stats)


def train(data_root: Path, out: Path, alpha: float = 0.05, max_side: int = 2048) -> dict:
    start = time.perf_counter()
    counts, per_source = count(data_root, max_side)
    if not per_source:
        raise InputError(f"no training photos under {data_root}")
    provisional = CodingModel.from_counts(counts, alpha, 0.0, 1.0, "")
    stats = calibrate(provisional, data_root, max_side)
    if stats.size < 20:
        raise InputError(f"only {stats.size} calibration photos under {data_root}: too few for a 99th percentile")
    threshold = float(np.percentile(stats, PERCENTILE))
    scale = float(max(1.4826 * np.median(np.abs(stats - np.median(stats))), 1e-3))
    recipe = {
        "command": "python -m tamperscope.train.zed --data ../shared/data/dev --out src/tamperscope/models/zed.npz",
        "train_photos_per_source": per_source,
        "train_pixels_level0": int(counts[0].sum()),
        "calibration_photos": int(stats.size),
        "calibration_percentile": PERCENTILE,
        "split": "sha1(folder/image_path) mod 4: 0,1 train; 2 calibrate; 3 test (tamperscope.train.photos)",
        "max_side": max_side,
        "alpha": alpha,
        "seed": "none (counting is deterministic)",
        "seconds": round(time.perf_counter() - start, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        counts=counts.astype(np.uint32),
        alpha=np.float64(alpha),
        threshold=np.float64(threshold),
        scale=np.float64(scale),
        recipe=np.str_(json.dumps(recipe, sort_keys=True)),
    )
    return {**recipe, "threshold": threshold, "scale": scale}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared/data/dev folder")
    parser.add_argument("--out", type=Path, default=Path("src/tamperscope/models/zed.npz"))
    parser.add_argument("--alpha", type=float, default=0.05, help="added to every histogram bin")
    parser.add_argument("--max-side", type=int, default=2048)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(train(args.data, args.out, args.alpha, args.max_side), indent=2))
    except InputError as exc:  # one line, as the CLI does
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
