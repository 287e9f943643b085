"""Null tail of the resampling detector's peak ratio, measured on white-noise p-maps.

For images of rounded Gaussian noise (no periodicity at all) the script computes every tested periodogram ratio
``r`` (ordinate over the mean of its 40 ring neighbours, Hann-tapered 64x64 windows) and prints the empirical
tail ``P(r > t)`` beside the model ``(1 + t / K)^-K`` for several ``K``; the detector uses the ``K`` that matches
(14). Usage (from the repository root)::

    python benchmarks/resampling_null.py [--images 6]
"""

from __future__ import annotations

import argparse

import numpy as np

from tamperscope.detectors._blocks import windows_view
from tamperscope.detectors.resampling import _half_plane, _low_frequencies, p_map, periodogram_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tested = _half_plane(64) & ~_low_frequencies(64)
    values = []
    for _ in range(args.images):
        luma = np.clip(np.round(128 + rng.normal(0, 3, (512, 512))), 0, 255).astype(np.float32)
        pmap, _ = p_map(luma)
        windows = np.ascontiguousarray(windows_view(pmap, 64, 64).reshape(-1, 64, 64))
        values.append(periodogram_ratio(windows)[:, tested].ravel())
    r = np.concatenate(values)
    print(f"{r.size} ordinates, mean ratio {r.mean():.3f}")
    print("| t | empirical | K=40 | K=20 | K=14 | K=12 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for t in (5, 8, 10, 12, 15):
        model = " | ".join(f"{(1 + t / k) ** -k:.2e}" for k in (40, 20, 14, 12))
        print(f"| {t} | {(r > t).mean():.2e} | {model} |")


if __name__ == "__main__":
    main()
