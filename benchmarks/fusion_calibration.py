"""Expected calibration error and reliability diagrams of the fused score, from bench runs.

Reads ``per_image.csv`` of ``tamperscope bench`` runs (methods ``fusion-v2``, whose score is the
calibrated-v2 integrity probability put on the verdict scale by :func:`tamperscope.fusion.decision_scale`,
inverted here to the probability with the fitted model's threshold; and ``fusion``, the classes-v1 max
rule, taken as it is) and, per run and condition, computes the expected calibration
error over 10 equal-width bins of the score (Guo et al., "On calibration of modern neural networks",
ICML 2017): ``ECE = sum_b n_b / n * |accuracy_b - confidence_b|``, where the "accuracy" of a bin is
its share of manipulated images and its "confidence" the mean score. Because the fusion is fitted for an
even prior, the ECE is also given with the images weighted so both classes weigh the same
(``ECE-balanced``). Writes a reliability diagram PNG and prints a Markdown table.

Usage::

    python benchmarks/fusion_calibration.py synthetic-test=/tmp/bench-test casia1-dev=/tmp/bench-casia \\
        --png docs/fusion-reliability.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

BINS = 10
METHODS = ("fusion-v2", "fusion")


def integrity(score: float, threshold: float) -> float:
    """Inverse of :func:`tamperscope.fusion.decision_scale` (piecewise linear)."""
    return 2 * score * threshold if score < 0.5 else threshold + (score - 0.5) * 2 * (1 - threshold)


def ece(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    weights = np.ones_like(scores) if weights is None else weights
    index = np.minimum((scores * BINS).astype(int), BINS - 1)
    total = 0.0
    for b in range(BINS):
        chosen = index == b
        if chosen.any():
            w = weights[chosen]
            total += w.sum() * abs(np.average(labels[chosen], weights=w) - np.average(scores[chosen], weights=w))
    return float(total / weights.sum())


def balanced(labels: np.ndarray) -> np.ndarray:
    positives = labels.mean()
    return np.where(labels == 1, 0.5 / max(positives, 1e-9), 0.5 / max(1 - positives, 1e-9))


def read(run: Path) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    from tamperscope.fusion import MODELLED, choose_model, load_model

    threshold = choose_model(load_model(), set(MODELLED))["decision_threshold"]
    found: dict[tuple[str, str], list] = {}
    with (run / "per_image.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["method"] in METHODS and row["score"] not in ("", "None"):
                score = float(row["score"])
                if row["method"] == "fusion-v2":
                    score = integrity(score, threshold)
                found.setdefault((row["condition"], row["method"]), []).append((score, int(row["label"])))
    return {key: (np.array([s for s, _ in v]), np.array([l for _, l in v])) for key, v in found.items()}


def curve(scores, labels):
    index = np.minimum((scores * BINS).astype(int), BINS - 1)
    centres, rates = [], []
    for b in range(BINS):
        chosen = index == b
        if chosen.sum() >= 3:
            centres.append(scores[chosen].mean())
            rates.append(labels[chosen].mean())
    return centres, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=BENCH_OUT_DIR")
    parser.add_argument("--png", type=Path, default=Path("docs/fusion-reliability.png"))
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(r.split("=", 1)[0], Path(r.split("=", 1)[1])) for r in args.runs]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 4), squeeze=False)
    print("| data | condition | method | images | ECE | ECE-balanced |")
    print("|---|---|---|---:|---:|---:|")
    for axis, (name, folder) in zip(axes[0], runs):
        axis.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for (condition, method), (scores, labels) in sorted(read(folder).items()):
            print(f"| {name} | {condition} | {method} | {len(scores)} | {ece(scores, labels):.3f} | "
                  f"{ece(scores, labels, balanced(labels)):.3f} |")
            x, y = curve(scores, labels)
            axis.plot(x, y, marker="o", ms=3, label=f"{method} ({condition})")
        axis.set_title(name)
        axis.set_xlabel("score (bin mean)")
        axis.set_ylabel("share manipulated")
        axis.legend(fontsize=7)
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=90)


if __name__ == "__main__":
    main()
