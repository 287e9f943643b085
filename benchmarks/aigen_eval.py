"""The ``aigen`` CLIP probe: leave-one-generator-out AUC, robustness, false alarms, the format check, old rows.

Reads the CLIP features that ``tamperscope train aigen`` cached (same corpus, same views; run the trainer first)
and computes the evaluation versions it never reads (the test and unseen splits as stored, after JPEG 75 and after a
0.5 resize; the train split's AI images as stored), unless ``--cached-only``; then refits the probe with
:func:`tamperscope.train.aigen.fit` for each experiment, so every number is the shipped method's:

* **Held apart**: the shipped probe on the test split (no probe, blend or threshold saw it): AUC, false alarms and
  detections at its 2% threshold, per condition, one crop and the thorough profile's three.

* **Probe input**: calibrate-split AUC (and test-split AUC, clean, one crop) of probes on each cached feature:
  the projected embedding, the last block's class token and mean patch token, and the intermediate blocks' (which
  the analysis cannot read without cutting the graph: listed to show what is left on the table).
* **Leave one generator out**: for each generator group, the probes, blend and threshold are fitted without any
  image of that group (its images in every split are removed from train and calibrate); its images (all splits)
  are then scored against the real photos of the test split, under ``clean`` / ``jpeg:75`` / ``resize:0.5``
  (:func:`tamperscope.bench.perturb.apply`), with one crop (global + centre crop: the detector named alone) and, clean
  only, the thorough profile's (global + 3 crops). "det." is the share of the group's images at or above the
  fold's own 2%-false-alarm threshold.
* **Unseen generators**: dev/comfyui-ai and dev/sentry-ai (never trained on) with the shipped probe.
* **False alarms** of the shipped probe on the real photos of the test split, per source and condition.
* **Format check**: a logistic regression on trivially format-derived features (JPEG or PNG, bytes per pixel,
  width, height, aspect) of the training chains, 5-fold cross-validated AUC: near 0.5 means the chains left no
  format cue; the same on the stored files shows the cue they remove.
* ``--old``: the spectral, NPR and ZED detectors' statistics on the same images and conditions.

Usage::

    PYTHONPATH=src python benchmarks/aigen_eval.py --data ../shared/data/dev --corpus CORPUS \\
        --photos /usr/share/backgrounds --cache .tamperscope-train/aigen [--old] [--write]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from tamperscope.detectors.aigen import sigmoid
from tamperscope.train import aigen
from tamperscope.train import aigen_data as data

DEFAULT_CROPS = 1
THOROUGH_CROPS = 3
SECTION = "## AI-generated images from the pixels: the CLIP probe (`aigen`, issue #17)"


def auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(y), np.asarray(s)
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def scores(probes, records, crops):
    return np.array([float(sigmoid(probes.image_logit(r, crops))) for r in records])


def feature_table(records, seed, log) -> list[str]:
    from tamperscope.models.clip import LAST_BLOCK

    names = [name for b in (*data.TAPS, LAST_BLOCK) for name in (f"cls{b}", f"mean{b}", f"cls{b}+mean{b}")]
    lines = ["| probe input | dim | calibrate AUC | test AUC (clean, 1 crop) | test AUC (jpeg:75) | test AUC (resize:0.5) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        for r in records:
            r.select(aigen.feature_keys(name))
        probes = aigen.fit(records, seed=seed, c=None, log=lambda _: None, patch=False)
        calib = [r for r in records if r.sample.split == "calibrate" and len(r.views) > 1]
        row = [name, str(records[0].views.shape[1]), f"{auc([r.y for r in calib], scores(probes, calib, 1)):.3f}"]
        for version in data.EVAL_VERSIONS:
            test = [r for r in records if r.sample.split == "test" and r.version == version]
            row.append(f"{auc([r.y for r in test], scores(probes, test, 1)):.3f}")
        lines.append("| " + " | ".join(row) + " |")
        log(lines[-1])
    return lines


#: Families held out together (a generator's relatives can carry it through a one-generator fold).
FAMILIES = {
    "family: Stable Diffusion (ldm, sd1, sd2, sdxl, sd3)": {"ldm", "sd1", "sd2", "sdxl", "sd3"},
    "family: OpenAI (gpt-image, dalle2, dalle3, glide)": {"gpt-image", "dalle2", "dalle3", "glide"},
    "family: GANs (stylegan2-faces, stylegan, gigagan)": {"stylegan2-faces", "stylegan", "gigagan"},
}


def logo_table(records, seed, c, log) -> tuple[list[str], dict]:
    generators = sorted({r.sample.group for r in records if r.y and r.sample.split != "unseen"})
    folds = {g: {g} for g in generators} | FAMILIES
    real_test = {v: [r for r in records if not r.y and r.sample.split == "test" and r.version == v] for v in data.EVAL_VERSIONS}
    lines = ["| held-out generator | AI images (clean / jpeg:75 / resize:0.5) | AUC clean | AUC jpeg:75 | AUC resize:0.5 | AUC clean, 3 crops | "
             "det. clean | det. jpeg:75 | det. resize:0.5 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    pooled = defaultdict(lambda: ([], []))
    for group, members in folds.items():
        kept = [r for r in records if r.sample.group not in members]
        probes = aigen.fit(kept, seed=seed, c=c, log=lambda _: None, patch=False)
        held = [r for r in records if r.sample.group in members]
        row = [group, " / ".join(str(sum(r.version == v for r in held)) for v in data.EVAL_VERSIONS)]
        dets = []
        for version in data.EVAL_VERSIONS:
            ai = [r for r in held if r.version == version]
            real = real_test[version]
            s_ai, s_real = scores(probes, ai, DEFAULT_CROPS), scores(probes, real, DEFAULT_CROPS)
            if not ai:  # a generator with no image of the test split under this condition
                row.append("n/a")
                dets.append("n/a")
                continue
            row.append(f"{auc([1] * len(ai) + [0] * len(real), np.concatenate([s_ai, s_real])):.3f}")
            dets.append(f"{np.mean(s_ai >= probes.threshold[DEFAULT_CROPS]):.2f}")
            if group in generators:
                pooled[version][0].extend(s_ai >= probes.threshold[DEFAULT_CROPS])
                summary[(group, version)] = (s_ai, s_real)
        ai3 = [r for r in held if r.version == "clean" and len(r.views) - 1 >= THOROUGH_CROPS]
        real3 = [r for r in real_test["clean"] if len(r.views) - 1 >= THOROUGH_CROPS]
        if THOROUGH_CROPS in probes.blend and ai3:
            s = np.concatenate([scores(probes, ai3, THOROUGH_CROPS), scores(probes, real3, THOROUGH_CROPS)])
            row.append(f"{auc([1] * len(ai3) + [0] * len(real3), s):.3f}")
        else:
            row.append("n/a")
        lines.append("| " + " | ".join(row + dets) + " |")
        log(lines[-1])
    weighted = []
    for version in data.EVAL_VERSIONS:
        aucs = [(len(summary[(g, version)][0]), auc([1] * len(summary[(g, version)][0]) + [0] * len(summary[(g, version)][1]),
                np.concatenate(summary[(g, version)]))) for g in generators if (g, version) in summary]
        aucs = [(n, a) for n, a in aucs if n and np.isfinite(a)]
        weighted.append((version, float(np.mean([a for _, a in aucs])), float(np.average([a for _, a in aucs], weights=[n for n, _ in aucs])),
                         float(np.mean(pooled[version][0])) if pooled[version][0] else float("nan")))
    lines.append("")
    lines.append("Mean over the single-generator folds (unweighted / weighted by images), and the share of all held-out AI images "
                 "detected at their fold's threshold: " + "; ".join(
                     f"{v}: AUC {m:.3f} / {w:.3f}, detected {d:.0%}" for v, m, w, d in weighted))
    return lines, summary


def held_apart_table(probes, records) -> list[str]:
    """The shipped probe on the test split: AUC, false alarms and detections at its threshold, per condition."""
    lines = ["| views | condition | AI / real images | AUC | false alarms | detected |", "|---|---|---:|---:|---:|---:|"]
    for crops, title in ((DEFAULT_CROPS, "global + 1 crop"), (THOROUGH_CROPS, "global + 3 crops (thorough)")):
        for version in data.EVAL_VERSIONS:
            if crops not in probes.blend or not any(r.sample.split == "test" and r.version == version
                                                    and len(r.views) - 1 >= crops for r in records):
                continue
            m = aigen.split_summary(probes, records, crops, split="test", version=version)
            lines.append(f"| {title} | {version} | {m['n_ai']} / {m['n_real']} | {m['auc']:.3f} | "
                         f"{m['false_alarms']:.1%} | {m['detected']:.1%} |")
    return lines


def unseen_table(probes, records) -> list[str]:
    lines = ["| unseen set (never trained on) | images | AUC clean | AUC jpeg:75 | AUC resize:0.5 | det. clean | det. jpeg:75 | det. resize:0.5 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for group in sorted({r.sample.group for r in records if r.sample.split == "unseen"}):
        row, dets = [group, str(len({r.sample.key for r in records if r.sample.group == group}))], []
        for version in data.EVAL_VERSIONS:
            ai = [r for r in records if r.sample.group == group and r.version == version]
            real = [r for r in records if not r.y and r.sample.split == "test" and r.version == version]
            s_ai, s_real = scores(probes, ai, DEFAULT_CROPS), scores(probes, real, DEFAULT_CROPS)
            row.append(f"{auc([1] * len(ai) + [0] * len(real), np.concatenate([s_ai, s_real])):.3f}")
            dets.append(f"{np.mean(s_ai >= probes.threshold[DEFAULT_CROPS]):.2f}")
        lines.append("| " + " | ".join(row + dets) + " |")
    return lines


def false_alarm_table(probes, records) -> list[str]:
    lines = ["| real source (test split) | photos | FA clean | FA jpeg:75 | FA resize:0.5 | FA clean, 3 crops |", "|---|---:|---:|---:|---:|---:|"]
    real = [r for r in records if not r.y and r.sample.split == "test"]
    for group in sorted({r.sample.group for r in real}) + ["all"]:
        rows = [r for r in real if group in ("all", r.sample.group)]
        cells = [group, str(len({r.sample.key for r in rows}))]
        for version in data.EVAL_VERSIONS:
            s = scores(probes, [r for r in rows if r.version == version], DEFAULT_CROPS)
            cells.append(f"{np.mean(s >= probes.threshold[DEFAULT_CROPS]):.1%}" if len(s) else "n/a")
        three = [r for r in rows if r.version == "clean" and len(r.views) - 1 >= THOROUGH_CROPS]
        s = scores(probes, three, THOROUGH_CROPS) if THOROUGH_CROPS in probes.blend else np.array([])
        cells.append(f"{np.mean(s >= probes.threshold[THOROUGH_CROPS]):.1%}" if len(s) else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def format_check(records, seed) -> str:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def trivial(rs):
        x = np.array([[r.fmt == "JPEG", r.fmt == "PNG", np.log(r.nbytes / (r.shape[0] * r.shape[1])), np.log(r.shape[0]),
                       np.log(r.shape[1]), np.log(r.shape[1] / r.shape[0])] for r in rs], dtype=float)
        return x, np.array([r.y for r in rs])

    out = []
    for name, rs in (("training chains", [r for r in records if r.version in data.TRAIN_VERSIONS]),
                     ("files as stored", [r for r in records if r.version == "clean" and r.sample.split != "unseen"])):
        x, y = trivial(rs)
        if name == "files as stored":  # the stored files' own format: PNG or JPEG by their suffix
            x[:, 0] = [r.sample.path.suffix.lower() in (".jpg", ".jpeg") for r in rs]
            x[:, 1] = [r.sample.path.suffix.lower() == ".png" for r in rs]
            x[:, 2] = [np.log(r.sample.path.stat().st_size / (r.shape[0] * r.shape[1])) for r in rs]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced", random_state=seed))
        score = cross_val_score(model, x, y, cv=5, scoring="roc_auc").mean()
        alone = []
        if name == "training chains":  # which cue is left: each group of columns alone
            for title, columns in (("JPEG/PNG", [0]), ("bytes per pixel", [2]), ("width and height", [3, 4]), ("aspect", [5])):
                alone.append(f"{title} {cross_val_score(model, x[:, columns], y, cv=5, scoring='roc_auc').mean():.3f}")
        out.append(f"{name} ({len(rs)} versions): AUC {score:.3f}" + (f" (alone: {', '.join(alone)})" if alone else ""))
    return "; ".join(out)


def old_rows(samples, seed, cache: Path, log, measure: bool = True) -> list[str]:
    """spectral, npr, zed statistics (their decision statistic, as benchmarks/ai_signal_eval.py reads them), per
    generator family and pooled; each (file, version) is measured once and kept in ``cache/old-detectors.json``.

    ``measure=False`` measures nothing and reports the images already stored (a busy machine's budget): the
    table then says how many images each row read."""
    import json

    from tamperscope.detectors import create
    from tamperscope.image import load

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ai_signal_eval import statistic

    store_path = cache / "old-detectors.json"
    store = json.loads(store_path.read_text()) if store_path.is_file() else {}
    detectors = {name: create(name) for name in ("spectral", "npr", "zed")}
    chosen = [s for s in samples if (s.label == "ai") or (s.split == "test")]
    for index, sample in enumerate(chosen if measure else []):
        digest = data.file_sha256(sample.path)
        for version in data.EVAL_VERSIONS:
            key = f"{digest}|{version}|{seed}"
            if key in store:
                continue
            _, _, blob = data.version_pixels(sample, version, seed)
            image = load(blob if blob is not None else sample.path)
            found = {}
            for name, detector in detectors.items():
                ev = detector.run(image)
                found[name] = statistic(name, ev) if ev.ok else None
            store[key] = found
        if index % 50 == 0:
            log(f"old detectors: {index}/{len(chosen)}")
            store_path.write_text(json.dumps(store))
    store_path.write_text(json.dumps(store))
    families = {"all generators": None, **{name: members for name, members in FAMILIES.items()}}
    lines = ["| detector | AI images | AI / real images (clean) | AUC clean | AUC jpeg:75 | AUC resize:0.5 |",
             "|---|---|---:|---:|---:|---:|"]
    digests = {s.key: data.file_sha256(s.path) for s in chosen}
    for name in detectors:
        for family, members in families.items():
            cells, counts = [name, family], ""
            for version in data.EVAL_VERSIONS:
                pairs = []
                for s in chosen:
                    value = store.get(f"{digests[s.key]}|{version}|{seed}", {}).get(name)
                    if value is None or (s.label == "ai" and members is not None and s.group not in members):
                        continue
                    pairs.append((s.label == "ai", value))
                if version == "clean":
                    counts = f"{sum(p for p, _ in pairs)} / {sum(not p for p, _ in pairs)}"
                cells.append(f"{auc([p for p, _ in pairs], [v for _, v in pairs]):.3f}")
            lines.append("| " + " | ".join(cells[:2] + [counts] + cells[2:]) + " |")
    return lines


#: Development sets read end to end by ``--live``: (folder, manifest label, what the images are).
LIVE_SETS = (
    ("exif-camera", "authentic", "camera photos"),
    ("casia1", "authentic", "CASIA v1 authentic"),
    ("micc-f220", "authentic", "MICC-F220 authentic"),
    ("faces-gan-vs-real", "authentic", "Unsplash portraits"),
    ("faces-real-lfw", "authentic", "LFW faces"),
    ("faces-real-utkface", "authentic", "UTKFace crops"),
    ("comfyui-ai", "authentic", "ComfyUI inputs (real)"),
    ("casia1", "tampered", "CASIA v1 forgeries (edited, not AI)"),
    ("micc-f220", "tampered", "MICC-F220 copy-moves (edited, not AI)"),
)


def live_false_alarms(data_root: Path, samples, count: int, log) -> list[str]:
    """The detector itself (one crop) on development images no probe or threshold was fitted on."""
    import csv
    import hashlib

    from tamperscope.detectors import create
    from tamperscope.image import load

    fitted = {s.key for s in samples if s.split in ("train", "calibrate")}
    detector = create("aigen")
    lines = ["| development set | images | flagged ai-generated | flagged ai-edited | not applicable | median P(ai) |",
             "|---|---:|---:|---:|---:|---:|"]
    for folder, label, title in LIVE_SETS:
        manifest = data_root / folder / "manifest.csv"
        if not manifest.is_file():
            continue
        with manifest.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["label"] == label and f"{folder}/{r['image_path']}" not in fitted
                    and r["image_path"].lower().endswith((".jpg", ".jpeg", ".png", ".tif", ".bmp"))]
        rows.sort(key=lambda r: hashlib.sha1(f"{folder}/{r['image_path']}".encode()).hexdigest())
        outcomes, probabilities, skipped = [], [], 0
        for row in rows[:count]:
            evidence = detector.run(load(data_root / folder / row["image_path"]))
            if not evidence.ok:
                skipped += 1
                continue
            outcomes.append(evidence.indicates if evidence.score >= 0.5 else "none")
            probabilities.append(evidence.facts["p_ai_generated"])
        n = len(outcomes)
        lines.append(f"| {title} | {n} | {sum(o == 'ai-generated' for o in outcomes) / max(n, 1):.1%} | "
                     f"{sum(o == 'ai-edited' for o in outcomes) / max(n, 1):.1%} | {skipped} | "
                     f"{np.median(probabilities) if probabilities else float('nan'):.3f} |")
        log(lines[-1])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--photos", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, default=Path(".tamperscope-train/aigen"))
    parser.add_argument("--probe", type=Path, default=Path("src/tamperscope/models/aigen.npz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--old", action="store_true", help="also run spectral, npr and zed on the same images")
    parser.add_argument("--old-stored", action="store_true",
                        help="with --old: report only what the cache already holds for them (measure nothing)")
    parser.add_argument("--features", action="store_true", help="also compare probe inputs (slow: one fit per input)")
    parser.add_argument("--live", type=int, default=0, help="also run the detector on up to N unfitted images of each dev set")
    parser.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    parser.add_argument("--cached-only", action="store_true", help="compute no features: report what the cache holds")
    parser.add_argument("--workers", type=int, default=2, help="feature processes for the evaluation versions")
    args = parser.parse_args()
    start = time.perf_counter()
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    samples = aigen.gather(args.data, args.corpus, args.photos, log=log)
    from tamperscope.detectors.aigen import load_probe

    shipped = load_probe(str(args.probe))
    feature = shipped.meta["feature"]
    if not args.cached_only:
        aigen.fill_cache(samples, args.cache, seed=args.seed, workers=args.workers, log=log)
    records = aigen.load_records(samples, args.cache, feature, args.seed)
    log(f"{len(records)} cached versions")
    probes = aigen.Probes.shipped(shipped)
    parts = {"held": held_apart_table(probes, records), "logo": logo_table(records, args.seed, shipped.meta.get("c"), log)[0], "unseen": unseen_table(probes, records),
             "fa": false_alarm_table(probes, records), "format": format_check(records, args.seed)}
    if args.features:
        parts["features"] = feature_table(records, args.seed, log)
        for r in records:
            r.select(aigen.feature_keys(feature))
    if args.old:
        parts["old"] = old_rows(samples, args.seed, args.cache, log, measure=not args.old_stored)
    if args.live:
        parts["live"] = live_false_alarms(args.data, samples, args.live, log)
    command = " ".join("CORPUS" if arg == str(args.corpus) else arg for arg in sys.argv[1:])
    text = render(parts, samples, records, feature, time.perf_counter() - start, command)
    print(text)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _machine import replace_section

        replace_section(Path("docs/benchmarks.md"), SECTION, text)


def render(parts, samples, records, feature, seconds, command) -> str:
    counts = defaultdict(lambda: defaultdict(int))
    for s in samples:
        counts[s.label][s.split] += 1
    lines = [SECTION, "",
             f"Measured by `PYTHONPATH=src python benchmarks/aigen_eval.py {command}` "
             f"({seconds / 60:.0f} min on the shared 2-core machine, from the features `tamperscope train aigen` cached; "
             "CORPUS = the recipe's files, materialized). "
             f"Images: {sum(counts['ai'].values())} AI ({', '.join(f'{k} {v}' for k, v in sorted(counts['ai'].items()))}) and "
             f"{sum(counts['real'].values())} real ({', '.join(f'{k} {v}' for k, v in sorted(counts['real'].items()))}); "
             f"probe input `{feature}`. Protocol in the script's docstring.", ""]
    lines += ["### Held apart: the test split (shipped probe, its 2% threshold)", ""] + parts["held"] + [""]
    lines += ["### Leave one generator out", ""] + parts["logo"] + [""]
    lines += ["### Generators of the development sets, never trained on (shipped probe)", ""] + parts["unseen"] + [""]
    lines += ["### False alarms on real photos held apart (shipped probe, its 2% threshold)", ""] + parts["fa"] + [""]
    if "live" in parts:
        lines += ["### The detector itself on development images never fitted (one crop)", ""] + parts["live"] + [""]
    lines += ["### Format is not the cue", "", "A logistic regression on format-derived features only (JPEG/PNG, bytes "
              "per pixel, width, height, aspect), 5-fold cross-validated: " + parts["format"] + ".", ""]
    if "features" in parts:
        lines += ["### Probe input", ""] + parts["features"] + [""]
    if "old" in parts:
        lines += ["### The earlier pixel detectors on the same images (AI images vs the test split's real photos; each "
                  "detector's own statistic, which needs no training on AI images)", ""] + parts["old"] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
