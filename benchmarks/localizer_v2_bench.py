"""Held-apart benchmark of the learned localizer v2 against each classical map and the v1 fusion (issue 16, item 7).

Runs every detector that matters once per image and condition (the bench runner's
cache, ``OUT/<set>/cache``), then scores several *methods* from the same evidence:

* each map alone: ``ela``, ``dq``, ``blk``, ``noise``, ``copymove_sift``, ``adq2``, ``ghost`` and the new ``localizer``;
* ``fusion v1, default profile``: rule classes-v1 over the default profile
  (c2pa, metadata, sdwm, ela, dq, blk, noise, copymove_sift), what ``analyze``
  reports now: the *default verdict*;
* ``fusion v1 + localizer``: the same rule with the localizer and the one map it
  reads that the default profile lacks (adq2) added: what the default verdict
  would be with the localizer in the default profile.

Sets (all held apart from training, thresholds and calibration):

* ``casia-test``: the ``test`` split of the CASIA v1 development half, split by
  source-photo component (:mod:`tamperscope.train.localizer_data`); the other
  CASIA forgeries were trained on, so these numbers are *near in-domain*;
* ``synth-test``: ``tamperscope synth`` forgeries (seed 1, the training kinds)
  made only from held-apart authentic photos (CASIA ``test``, MICC-F220,
  exif-camera ``test``);
* ``micc-f220``: the MICC-F220 development half (copy-moves; image labels only);
* ``exif-test``: the held-apart camera JPEGs of dev/exif-camera (authentic only);
  with the authentic images of ``casia-test`` and ``micc-f220`` they are every
  held-apart authentic development photo: the verdict's false-alarm set.

Conditions ``clean`` and ``social`` (long side to 2048, JPEG 80 twice).
Writes ``OUT/summary.json`` and the section "Learned localizer v2 (issue 16)" of
docs/benchmarks.md (``--doc``).

    python benchmarks/localizer_v2_bench.py --data ../shared/data/dev --out /tmp/l2 --workers 2 --doc docs/benchmarks.md
    # the 286 k localizer v1, from a checkout of the commit that shipped it (8764e61):
    #   tamperscope bench --dataset csv:/tmp/l2/sets/casia-test.csv --detectors localizer --perturb clean,social \\
    #       --protocols pixel-F1@0.5,pixel-F1-best,pixel-AUC,image-AUC,image-TPR@5%FPR --out /tmp/l1-casia
    #   and pass it here with --v1 casia-test=/tmp/l1-casia
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _machine import cpu_model, replace_section  # noqa: E402

PROTOCOLS = ["pixel-F1-best", "pixel-F1@0.5", "pixel-AUC", "image-AUC", "image-TPR@5%FPR"]
DETECTORS = ["c2pa", "metadata", "sdwm", "ela", "dq", "blk", "noise", "copymove_sift", "adq2", "ghost", "localizer"]
MAPS = ["ela", "dq", "blk", "noise", "copymove_sift", "adq2", "ghost", "localizer"]
DEFAULT = ("c2pa", "metadata", "sdwm", "ela", "dq", "blk", "noise", "copymove_sift")
CONDITIONS = ["clean", "social"]
HEADING = "## Learned localizer v2 (issue 16)"


def make_sets(data: Path, out: Path, synth_limit: int | None = None) -> dict[str, str]:
    from tamperscope.synth import make_dataset
    from tamperscope.train.localizer import SYNTH_KINDS, SYNTH_SIZE
    from tamperscope.train.localizer_data import authentic_rows, write_eval_manifests

    written = write_eval_manifests(data, out / "sets")
    synth = out / "synth-test"
    if not (synth / "manifest.csv").is_file():
        hosts = [Path(r["image"]) for r in authentic_rows(data, "test")]
        make_dataset(hosts, synth, count=380, seed=1, kinds=SYNTH_KINDS, size=SYNTH_SIZE, split=(0.0, 0.0, 1.0),
                     overwrite=True)
    synth_spec = f"csv:{synth / 'manifest.csv'}"
    if synth_limit:
        rows = (synth / "manifest.csv").read_text().splitlines()
        subset = out / "sets" / "synth-test.csv"
        subset.write_text("\n".join([rows[0], *[r.replace("images/", f"{synth}/images/", 1).replace(
            ",masks/", f",{synth}/masks/", 1) for r in rows[1 : synth_limit + 1]]]) + "\n")
        synth_spec = f"csv:{subset}"
    exif = out / "sets" / "exif-test.csv"
    with written["authentic-test"].open() as source, exif.open("w") as target:
        lines = source.read().splitlines()
        target.write("\n".join([lines[0], *[line for line in lines[1:] if "/exif-camera/" in line]]) + "\n")
    return {"casia-test": f"csv:{written['casia-test']}", "synth-test": synth_spec,
            "micc-f220": f"devset:{data / 'micc-f220'}", "exif-test": f"csv:{exif}"}


CLASSICAL = [d for d in DETECTORS if d != "localizer"]


def classical_pass(name: str, spec: str, out: Path, workers: int, conditions: list[str], log=print) -> None:
    """Pass 1 (needs no model): every classical detector's evidence, cached by the bench runner's cache."""
    from concurrent.futures import ProcessPoolExecutor

    from tamperscope.bench.datasets import open_dataset
    from tamperscope.bench.runner import BenchConfig, _ensure_cached
    from tamperscope.detectors import resolve

    config = BenchConfig(spec, out / name / "classical", CLASSICAL, conditions, PROTOCOLS, seed=0, workers=workers)
    samples = list(open_dataset(spec).samples())
    specs = [{"name": d.name, "version": d.version, "params": d.params()} for d in resolve(CLASSICAL)]
    for condition in conditions:
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_ensure_cached, [(config, condition, s, specs) for s in samples], chunksize=4))
        log(f"{name} {condition}: classical evidence of {len(samples)} images in {time.perf_counter() - started:.0f} s")


def _with_localizer(job):
    """Pass 2 for one image: the localizer on the cached classical evidence (as the runner would give it)."""
    from tamperscope.bench import cache
    from tamperscope.bench.runner import _ensure_cached, _entry, _prepare
    from tamperscope.detectors import create
    from tamperscope.image import load

    config, condition, sample, specs, local_config, local_specs = job
    sample_, error, key, mask = _ensure_cached((config, condition, sample, specs))
    if error:
        return sample, error, None, None, None
    shape, evidence = cache.load(_entry(config, condition, sample), key)
    data, _ = _prepare(config, condition, sample)
    local_key = cache.cache_key(data, local_specs)
    entry = _entry(local_config, condition, sample)
    stored = cache.load(entry, local_key)
    if stored is None:
        prior = {e.detector: e for e in evidence}
        localizer = create("localizer").run(load(data), prior=prior)
        cache.save(entry, local_key, shape, [localizer])
        stored = (shape, [localizer])
    return sample, None, shape, [*evidence, *stored[1]], mask


def evaluate(name: str, spec: str, out: Path, workers: int, conditions: list[str], log=print) -> dict:
    """Pass 2: the localizer on each image given the cached classical evidence, then every method scored."""
    from concurrent.futures import ProcessPoolExecutor

    from tamperscope.bench.datasets import open_dataset
    from tamperscope.bench.metrics import MetricSuite, align
    from tamperscope.bench.runner import BenchConfig
    from tamperscope.detectors import resolve
    from tamperscope.detectors.localizer import CALIBRATION_PATH, CONSUMES
    from tamperscope.fusion import FusionParams, fuse

    config = BenchConfig(spec, out / name / "classical", CLASSICAL, conditions, PROTOCOLS, seed=0, workers=workers)
    local_config = BenchConfig(spec, out / name / "localizer", ["localizer"], conditions, PROTOCOLS, seed=0)
    samples = list(open_dataset(spec).samples())
    specs = [{"name": d.name, "version": d.version, "params": d.params()} for d in resolve(CLASSICAL)]
    model = json.loads(CALIBRATION_PATH.read_text())["model_sha256"]
    # The localizer reads the consumed maps: their versions are part of its cache key (ELA 2.0 changed its map).
    consumed = [s for s in specs if s["name"] in CONSUMES]
    local_specs = [{"name": "localizer", "version": "2", "params": {"model_sha256": model}}, *consumed]
    fusions = {"fusion v1, default profile": DEFAULT, "fusion v1 + localizer": (*DEFAULT, "adq2", "localizer")}
    results = {}
    for condition in conditions:
        started = time.perf_counter()
        jobs = [(config, condition, s, specs, local_config, local_specs) for s in samples]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(_with_localizer, jobs, chunksize=4))
        log(f"{name} {condition}: {len(outcomes)} images in {time.perf_counter() - started:.0f} s")
        suites = {m: MetricSuite(PROTOCOLS) for m in [*MAPS, *fusions]}
        kinds: dict[tuple[str, str], MetricSuite] = {}
        authentic: dict[str, list[float]] = {m: [] for m in suites}
        verdicts = {m: [] for m in fusions}
        refused = 0
        for sample, error, shape, evidence, mask in outcomes:
            if error:
                refused += 1
                continue
            by_name = {e.detector: e for e in evidence}
            truth = mask if mask is not None and sample.label == 1 else None
            for method in suites:
                if method in fusions:
                    fused = fuse([e for e in evidence if e.detector in fusions[method]], shape, FusionParams())
                    score, heat = fused.score, fused.heatmap
                    verdicts[method].append((sample.label, fused.label in ("edited", "ai-edited")))
                else:
                    item = by_name[method]
                    ok = item.ok
                    score = (item.score if ok else 0.0)
                    heat = item.heatmap_full(shape) if ok and item.heatmap is not None else np.zeros(shape, np.float32)
                decides = score is not None and method not in ("ela", "adq2", "ghost")
                kind_suite = None
                if sample.label == 1 and sample.kind:
                    kind_suite = kinds.setdefault((sample.kind, method), MetricSuite(["pixel-F1-best", "pixel-AUC",
                                                                                      "image-AUC"]))
                if truth is not None:
                    aligned = heat if heat.shape == truth.shape else align(heat, truth.shape)
                    for suite in filter(None, (suites[method], kind_suite)):
                        suite.add(heat=aligned, truth=truth, score=score if decides else None, label=1)
                elif decides:
                    for suite in filter(None, (suites[method], kind_suite)):
                        suite.add(score=float(score), label=sample.label)
                if sample.label == 0 and decides:
                    authentic[method].append(float(score))
        by_kind = {}
        for (kind, method), suite in sorted(kinds.items()):
            for score in authentic[method]:
                suite.add(score=score, label=0)
            by_kind.setdefault(kind, {})[method] = _clean(suite.results())
        results[condition] = {
            "images": len(outcomes) - refused, "refused": refused,
            "methods": {m: _clean(s.results()) for m, s in suites.items()},
            "by_kind": by_kind,
            "verdict": {m: {"tampered_flagged": int(sum(f for label, f in v if label == 1)),
                            "tampered": int(sum(1 for label, _ in v if label == 1)),
                            "authentic_flagged": int(sum(f for label, f in v if label == 0)),
                            "authentic": int(sum(1 for label, _ in v if label == 0))}
                        for m, v in verdicts.items()},
        }
    return results


def _clean(values: dict) -> dict:
    return {k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 3))
            for k, v in values.items()}


def v1_rows(paths: dict[str, Path]) -> dict:
    """The 286 k localizer v1's numbers from its own bench run (results.json of ``tamperscope bench``)."""
    found = {}
    for name, path in paths.items():
        payload = json.loads((path / "results.json").read_text())
        found[name] = {c["condition"]: c["methods"].get("localizer", {}) for c in payload["conditions"]}
    return found


def _cell(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def curve_lines() -> list[str]:
    """The shipped model's learning curve (from models/localizer.json) and what it says about more steps."""
    from tamperscope.detectors.localizer import CALIBRATION_PATH

    stored = json.loads(CALIBRATION_PATH.read_text())
    curve, recipe = stored["curve"], stored["recipe"]
    lines = [f"**Learning curve** of the shipped weights ({recipe['steps']} steps of {recipe['batch']} crops, "
             f"{recipe['train_seconds'] / 60:.0f} min of training on the shared 2-core CPU; validation = whole "
             "CASIA `calibrate` and synthetic `val` forgeries, cell-level best F1; plot: docs/localizer-curve.png):", "",
             "| step | train BCE + Dice | val BCE | val cell F1-best |", "|---:|---:|---:|---:|"]
    for point in curve:
        loss = "–" if point["train_loss"] is None else f"{point['train_loss']:.3f}"
        lines.append(f"| {point['step']} | {loss} | {point['val_bce']:.3f} | "
                     f"{point['val_cell_f1_best']:.3f} |")
    if len(curve) >= 2:
        first, last = curve[len(curve) // 2], curve[-1]
        slope = (last["val_cell_f1_best"] - first["val_cell_f1_best"]) / max(1, last["step"] - first["step"]) * 100
        lines += ["", f"Over the second half of the run the validation F1 moved {slope:+.4f} per 100 steps "
                  f"(the learning rate decays to zero at the last step, which flattens the end of any run); "
                  "see the reading below for what more steps would buy."]
    return lines + [""]


def verdict_lines(summary: dict) -> list[str]:
    """The issue's bar: forgeries of casia-test flagged, against every held-apart authentic photo flagged."""
    lines = ["**Default verdict** (`edited`) on the held-apart real forgeries (casia-test) against every held-apart "
             "authentic development photo (the authentic images of casia-test, micc-f220 and exif-test):", "",
             "| condition | method | CASIA forgeries flagged | authentic photos flagged |", "|---|---|---:|---:|"]
    sets = summary["sets"]
    for condition in CONDITIONS:
        if "casia-test" not in sets or condition not in sets["casia-test"]:
            continue
        for method in ("fusion v1, default profile", "fusion v1 + localizer"):
            found = sets["casia-test"][condition]["verdict"][method]
            flagged, total = 0, 0
            for name in ("casia-test", "micc-f220", "exif-test"):
                if name in sets and condition in sets[name]:
                    v = sets[name][condition]["verdict"][method]
                    flagged, total = flagged + v["authentic_flagged"], total + v["authentic"]
            lines.append(f"| {condition} | {method} | {found['tampered_flagged']}/{found['tampered']} "
                         f"({found['tampered_flagged'] / max(found['tampered'], 1):.1%}) | {flagged}/{total} "
                         f"({flagged / max(total, 1):.1%}) |")
    return lines + [""]


def markdown(summary: dict, command: str) -> str:
    lines = [HEADING, ""]
    lines += [
        f"`{command}` on {summary['date']} ({summary['machine']}; {summary['seconds']:.0f} s, load average "
        f"{summary['load']}). All sets are held apart: no image of them, nor any image sharing a source photo with "
        "them, was trained on or used for a threshold. **CASIA v1 numbers are near in-domain**: the model trained on "
        "the other CASIA v1 development forgeries (split by source-photo component). `fusion v1, default profile` is "
        "what `tamperscope analyze` reports now (default profile with copymove_sift, rule classes-v1); `fusion v1 + "
        "localizer` what it would report with the localizer (and adq2) added to it; `localizer v1 (286 k)` the previous shipped network (bench run from commit 8764e61). Pixel "
        "metrics on forgeries with masks, per-image means; image metrics on all images (definitions above).",
        "",
    ]
    lines += verdict_lines(summary)
    lines += curve_lines()
    v1 = summary.get("v1", {})
    for name, per_condition in summary["sets"].items():
        for condition, result in per_condition.items():
            lines += [f"#### {name}, `{condition}` ({result['images']} images"
                      + (f", {result['refused']} refused" if result["refused"] else "") + ")", ""]
            lines += ["| method | " + " | ".join(f"`{p}`" for p in PROTOCOLS) + " |",
                      "|---|" + "---:|" * len(PROTOCOLS)]
            rows = dict(result["methods"])
            if name in v1 and condition in v1[name]:
                rows = {**{k: v for k, v in rows.items() if k != "localizer"},
                        "localizer v1 (286 k)": v1[name][condition], "localizer": rows["localizer"]}
            for method, values in rows.items():
                label = f"**{method}**" if method in ("localizer", "fusion v1 + localizer") else method
                lines.append(f"| {label} | " + " | ".join(_cell(values.get(p)) for p in PROTOCOLS) + " |")
            lines.append("")
            verdict = result["verdict"]
            lines.append("Verdict `edited`: " + "; ".join(
                f"{m}: {v['tampered_flagged']}/{v['tampered']} forgeries, {v['authentic_flagged']}/{v['authentic']} "
                f"authentic" for m, v in verdict.items()) + ".")
            lines.append("")
            if result["by_kind"] and name != "micc-f220":
                lines += ["By kind, `pixel-F1-best` / `image-AUC` (each kind against all authentic images):", "",
                          "| kind | " + " | ".join(MAPS + ["fusion v1 + localizer"]) + " |",
                          "|---|" + "---:|" * (len(MAPS) + 1)]
                for kind, methods in result["by_kind"].items():
                    cells = []
                    for m in MAPS + ["fusion v1 + localizer"]:
                        v = methods.get(m, {})
                        cells.append(f"{_cell(v.get('pixel-F1-best'))} / {_cell(v.get('image-AUC'))}")
                    lines.append(f"| {kind} | " + " | ".join(cells) + " |")
                lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sets", default="casia-test,micc-f220,exif-test,synth-test")
    parser.add_argument("--conditions", default="clean,social")
    parser.add_argument("--synth-limit", type=int, default=190, help="the first N images of synth-test (all kinds)")
    parser.add_argument("--synth-conditions", default="clean")
    parser.add_argument("--v1", action="append", default=[], help="SET=FOLDER of a tamperscope bench run of localizer v1")
    parser.add_argument("--doc", type=Path, help="docs/benchmarks.md: rewrite its section")
    parser.add_argument("--classical-only", action="store_true", help="only pass 1 (the classical evidence cache)")
    args = parser.parse_args(argv)
    known_sets, known_conditions = {"casia-test", "micc-f220", "exif-test", "synth-test"}, set(CONDITIONS)
    if not set(args.sets.split(",")) <= known_sets:
        parser.error(f"--sets: choose from {', '.join(sorted(known_sets))}")
    for option in (args.conditions, args.synth_conditions):
        if not set(option.split(",")) <= known_conditions:
            parser.error(f"conditions: choose from {', '.join(CONDITIONS)}")
    import os
    import platform

    started = time.perf_counter()
    specs = make_sets(args.data, args.out, args.synth_limit)
    conditions = {name: (args.synth_conditions if name == "synth-test" else args.conditions).split(",")
                  for name in args.sets.split(",")}
    summary = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}", "sets": {}}
    for name in args.sets.split(","):
        classical_pass(name, specs[name], args.out, args.workers, conditions[name])
    if args.classical_only:
        return 0
    for name in args.sets.split(","):
        summary["sets"][name] = evaluate(name, specs[name], args.out, args.workers, conditions[name])
    summary["v1"] = v1_rows({k: Path(v) for k, v in (item.split("=", 1) for item in args.v1)})
    summary["seconds"] = time.perf_counter() - started
    summary["load"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    command = "python benchmarks/localizer_v2_bench.py --data ../shared/data/dev --out OUT --workers 2 " + \
              f"--sets {args.sets} --conditions {args.conditions} " + \
              (f"--synth-limit {args.synth_limit} --synth-conditions {args.synth_conditions} "
               if "synth-test" in args.sets else "") + \
              " ".join(f"--v1 {item.split('=')[0]}=V1_{item.split('=')[0].upper().replace('-', '_')}" for item in args.v1) + \
              (f" --doc {args.doc}" if args.doc else "")
    text = markdown(summary, command.strip())
    (args.out / "section.md").write_text(text + "\n")
    if args.doc:
        replace_section(args.doc, HEADING, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
