"""Calibration and verdict labels of the fusion on held-apart development data (docs/accuracy.md).

For each profile, every held-apart (``eval``) image of the development sets
(:mod:`tamperscope.train.fusion_data`: the parts no fit saw; plus the provenance
and face sets, which are judged only) goes through the profile's deciding
detectors (cached in ``--work``, the folder ``tamperscope train fusion`` uses)
and :func:`tamperscope.fusion.fuse` with the shipped ``models/fusion.json``.

Writes the section "## Verdict labels and calibration (fusion calibrated-v3)"
of docs/accuracy.md (``_machine.replace_section``) and the reliability diagrams
``docs/fusion-reliability.png``:

* expected calibration error (10 equal-width bins, Guo et al. ICML 2017) per
  class, one-vs-rest, weighted to the prior the model is fitted for (the
  class 0.2, the rest 0.8) and with the images as they come;
* the distribution of labels per development set and class;
* false alarms at the decision thresholds: authentic images labelled a
  manipulation class (or inconclusive);
* manipulated images labelled ``authentic`` (and by what evidence).

Usage::

    PYTHONPATH=src python benchmarks/fusion_calibration.py --data ../shared/data/dev --work .tamperscope-train/fusion
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, replace_section  # noqa: E402

HEADING = "## Verdict labels and calibration (fusion calibrated-v3)"
LABEL_ORDER = ("edited", "ai-generated", "ai-edited", "authentic", "no-evidence", "inconclusive", "error")
#: Judged-only sets with thousands of images: a hash-chosen subset keeps the run short.
SUBSET = {"faces-real-lfw": 300, "faces-real-utkface": 300}


def _subset(samples, limits):
    import hashlib

    kept, by_set = [], {}
    for sample in samples:
        by_set.setdefault(sample.dataset, []).append(sample)
    for name, group in by_set.items():
        if name in limits:
            group = sorted(group, key=lambda s: hashlib.sha256(s.path.name.encode()).hexdigest())[: limits[name]]
        kept += group
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--work", type=Path, default=Path(".tamperscope-train/fusion"))
    parser.add_argument("--profiles", default="default,fast")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--doc", type=Path, default=Path("docs/accuracy.md"))
    parser.add_argument("--png", type=Path, default=Path("docs/fusion-reliability.png"))
    args = parser.parse_args()

    from tamperscope.bench.metrics import image_auc
    from tamperscope.fusion import ANY, MANIPULATIONS, NO_MANIPULATION, FusionParams, fuse, load_model
    from tamperscope.train.fusion import PRIOR, class_outcomes, deciding, ece, gather, prior_weights, reliability
    from tamperscope.train.fusion_data import ai_edited_samples, development_samples, synthetic_samples

    models = load_model()
    if models is None:
        raise SystemExit("models/fusion.json is missing: run tamperscope train fusion first")
    recipe = models.get("recipe", {})
    started = time.time()
    samples = development_samples(args.data)
    made = synthetic_samples(samples, args.work, recipe.get("synthetic_per_part", 280), recipe.get("seed", 0))
    made += ai_edited_samples(samples, args.work, recipe.get("ai_edited_per_part", 0), recipe.get("seed", 0))
    samples += made
    held = _subset([s for s in samples if s.part == "eval"], SUBSET)
    params = FusionParams()
    lines = [HEADING, ""]
    lines += [
        f"Produced by `PYTHONPATH=src python benchmarks/fusion_calibration.py --data ../shared/data/dev --work "
        f"WORK --profiles {args.profiles}` on {time.strftime('%Y-%m-%d')} ({cpu_model()}), with the shipped "
        "`models/fusion.json` (fitted by `tamperscope train fusion`, docs/fusion.md). Only **held-apart** images: "
        "the `eval` part of each set (CASIA v1: the localizer's `test` components; exif-camera: its `test` photos; "
        "MICC-F220, sentry-ai, comfyui-ai, faces-gan-vs-real: the half no fit saw; synthetic: forgeries made from "
        "held-apart photos; never an image another shipped model trained on: `fusion_data.trained_elsewhere`), and "
        "the sets only judged (c2pa-testfiles, exiftool-fixtures, and 300 hash-chosen "
        "images of each real-face set). The decision thresholds: a class probability >= "
        f"{params.decision} decides; `authentic` needs P(manipulated) < {params.authentic_below} with every class "
        "checked; provenance >= 0.5 outranks signals.",
        "",
    ]
    figure_rows = []
    for profile in [p.strip() for p in args.profiles.split(",") if p.strip()]:
        names = deciding(profile)
        records = gather(held, names, args.work, args.workers, log=lambda line: print(line, file=sys.stderr))
        model = next((m for m in models["models"] if m["name"] == profile), None)
        labels, strongest = [], []
        for record in records:
            if record.error is not None:
                labels.append("error")
                strongest.append(None)
                continue
            fused = fuse(list(record.evidence.values()), record.shape, params)
            labels.append(fused.label)
            known = [v for k, v in (fused.class_scores or {}).items() if k in MANIPULATIONS and v is not None]
            strongest.append(max(known) if known else None)
        lines += [f"### Profile `{profile}` ({', '.join(names)})", ""]
        if model is not None:
            calibration = [r for r in records if r.sample.klass in (*MANIPULATIONS, NO_MANIPULATION)
                           and not r.sample.dataset.startswith("faces-real")]
            outcomes = class_outcomes(calibration, model)
            lines += [f"Calibration (held-apart images with a class; one-vs-rest; \"at the prior\" weighs the class "
                      f"{PRIOR} and the rest {1 - PRIOR:.1f}, the population the model is fitted for; \"as is\" "
                      "counts every image once, so it also measures how far the sets' own share of each class is "
                      "from the prior; AUC: how well the probability ranks the class above the rest, 0.5 = "
                      "chance. A small ECE with an AUC near 0.5 means honest but uninformative probabilities):", "",
                      "| class | images | positives | ECE at the prior | ECE as is | AUC |", "|---|---:|---:|---:|---:|---:|"]
            for klass in (*MANIPULATIONS, ANY):
                if klass not in outcomes:
                    lines.append(f"| {klass} | - | - | not modelled (no fitted detector looks for it) | - | - |")
                    continue
                p, y = outcomes[klass]
                if y.sum() == 0:
                    lines.append(f"| {klass} | {len(y)} | 0 | no positive held-apart image | - | - |")
                    continue
                weights = prior_weights(y)
                lines.append(f"| {klass} | {len(y)} | {int(y.sum())} | {ece(p, y, weights):.3f} | {ece(p, y):.3f} | "
                             f"{image_auc(p, y):.3f} |")
                figure_rows.append((profile, klass, reliability(p, y, weights)))
            lines.append("")
        else:
            lines += [f"No fitted model for `{profile}`: its verdicts use the uncalibrated rule classes-v1.", ""]
        table: dict[tuple[str, str], Counter] = {}
        for record, label in zip(records, labels):
            table.setdefault((record.sample.dataset, record.sample.klass), Counter())[label] += 1
        lines += ["Labels per held-apart development set:", "",
                  "| set | class | images | " + " | ".join(LABEL_ORDER) + " |",
                  "|---|---|---:|" + "---:|" * len(LABEL_ORDER)]
        for (dataset, klass), counts in sorted(table.items()):
            total = sum(counts.values())
            lines.append(f"| {dataset} | {klass} | {total} | " + " | ".join(str(counts.get(k, 0)) for k in LABEL_ORDER)
                         + " |")
        lines.append("")
        alarms = Counter()
        authentic_total = coin_flips = 0
        wrong_authentic = []
        # A probability at the prior 0.2 reaches 0.2 where the likelihood ratio reaches 1: where an even-prior
        # model would decide at 0.5 (a coin flip), the decision this prior avoids.
        even = params.decision * PRIOR / (params.decision * PRIOR + (1 - params.decision) * (1 - PRIOR))
        for record, label, top in zip(records, labels, strongest):
            if record.sample.klass == NO_MANIPULATION and label != "error":
                authentic_total += 1
                alarms[label] += 1
                coin_flips += int(top is not None and top >= even)
            if record.sample.manipulated and record.sample.klass in MANIPULATIONS and label == "authentic":
                wrong_authentic.append(record.sample.path.name)
        flagged = sum(alarms[k] for k in MANIPULATIONS)
        lines += [
            f"False alarms at the decision thresholds: of {authentic_total} held-apart authentic images, "
            f"{flagged} ({flagged / max(authentic_total, 1):.1%}) are labelled a manipulation class "
            f"({', '.join(f'{k} {alarms[k]}' for k in MANIPULATIONS)}), {alarms['inconclusive']} inconclusive, "
            f"{alarms['authentic']} authentic, {alarms['no-evidence']} no-evidence. Deciding at an even prior "
            f"(a likelihood ratio of 1: class probability >= {even:.2f} here) would flag {coin_flips} "
            f"({coin_flips / max(authentic_total, 1):.1%}).",
            "",
            f"Manipulated held-apart images labelled `authentic`: {len(wrong_authentic)}"
            + (f" ({', '.join(wrong_authentic[:10])})." if wrong_authentic else "."),
            "",
        ]
    lines += [f"Reliability diagrams: `{args.png.as_posix()}`. Run time {time.time() - started:.0f} s on a shared "
              "2-core machine.", ""]
    replace_section(args.doc, HEADING, "\n".join(lines))
    _figure(figure_rows, args.png)
    print("\n".join(lines))


def _figure(rows, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = list(dict.fromkeys(r[0] for r in rows))
    if not profiles:
        return
    fig, axes = plt.subplots(1, len(profiles), figsize=(4.4 * len(profiles), 4.2), squeeze=False)
    for axis, profile in zip(axes[0], profiles):
        axis.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for _, klass, points in (r for r in rows if r[0] == profile):
            x = [p for p, _, n in points if n >= 3]
            y = [q for _, q, n in points if n >= 3]
            axis.plot(x, y, marker="o", ms=3, label=klass)
        axis.set_title(f"{profile}: held-apart, at the prior")
        axis.set_xlabel("predicted probability (bin mean)")
        axis.set_ylabel("share of the class (weighted to the prior)")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)


if __name__ == "__main__":
    main()
