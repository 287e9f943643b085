"""Held-apart benchmark of the learned localizer v2 against each classical map and the v1 fusion (issue 16, item 7).

Runs every detector that matters once per image and condition (the bench runner's
cache, ``OUT/<set>/cache``), then scores several *methods* from the same evidence:

* each map alone: ``ela``, ``dq``, ``blk``, ``noise``, ``adq2``, ``ghost`` and the new ``localizer``;
* ``fusion v1, old default``: rule classes-v1 over the previous default profile
  (c2pa, metadata, sdwm, ela, dq, blk, noise), what ``analyze`` reported before;
* ``fusion v1, new default``: the same rule over the new default profile (the
  localizer and the maps it reads added), what ``analyze`` reports now: the
  *default verdict*.

Sets (all held apart from training, thresholds and calibration):

* ``casia-test``: the ``test`` split of the CASIA v1 development half, split by
  source-photo component (:mod:`tamperscope.train.localizer_data`); the other
  CASIA forgeries were trained on, so these numbers are *near in-domain*;
* ``synth-test``: ``tamperscope synth`` forgeries (seed 1, the training kinds)
  made only from held-apart authentic photos (CASIA ``test``, MICC-F220,
  exif-camera ``test``);
* ``micc-f220``: the MICC-F220 development half (copy-moves; image labels only);
* ``authentic-test``: every held-apart authentic development photo, for the
  verdict's false-alarm rate.

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
DETECTORS = ["c2pa", "metadata", "sdwm", "ela", "dq", "blk", "noise", "adq2", "ghost", "localizer"]
MAPS = ["ela", "dq", "blk", "noise", "adq2", "ghost", "localizer"]
OLD_DEFAULT = ("c2pa", "metadata", "sdwm", "ela", "dq", "blk", "noise")
CONDITIONS = ["clean", "social"]
HEADING = "## Learned localizer v2 (issue 16)"


def new_default() -> tuple[str, ...]:
    from tamperscope.detectors import PROFILES

    return PROFILES["default"]


def make_sets(data: Path, out: Path) -> dict[str, str]:
    from tamperscope.synth import make_dataset
    from tamperscope.train.localizer import SYNTH_KINDS, SYNTH_SIZE
    from tamperscope.train.localizer_data import authentic_rows, write_eval_manifests

    written = write_eval_manifests(data, out / "sets")
    synth = out / "synth-test"
    if not (synth / "manifest.csv").is_file():
        hosts = [Path(r["image"]) for r in authentic_rows(data, "test")]
        make_dataset(hosts, synth, count=380, seed=1, kinds=SYNTH_KINDS, size=SYNTH_SIZE, split=(0.0, 0.0, 1.0),
                     overwrite=True)
    return {"casia-test": f"csv:{written['casia-test']}", "synth-test": f"csv:{synth / 'manifest.csv'}",
            "micc-f220": f"devset:{data / 'micc-f220'}", "authentic-test": f"csv:{written['authentic-test']}"}


def evaluate(name: str, spec: str, out: Path, workers: int, conditions: list[str], log=print) -> dict:
    """Cache the evidence of every image and condition, then score each method."""
    from concurrent.futures import ProcessPoolExecutor

    from tamperscope.bench import cache
    from tamperscope.bench.datasets import open_dataset
    from tamperscope.bench.metrics import MetricSuite, align
    from tamperscope.bench.runner import BenchConfig, _ensure_cached, _entry
    from tamperscope.detectors import resolve
    from tamperscope.fusion import FusionParams, fuse

    config = BenchConfig(spec, out / name, DETECTORS, conditions, PROTOCOLS, seed=0, workers=workers)
    samples = list(open_dataset(spec).samples())
    specs = [{"name": d.name, "version": d.version, "params": d.params()} for d in resolve(DETECTORS)]
    fusions = {"fusion v1, old default": OLD_DEFAULT, "fusion v1, new default": new_default()}
    results = {}
    for condition in conditions:
        started = time.perf_counter()
        jobs = [(config, condition, s, specs) for s in samples]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(_ensure_cached, jobs, chunksize=4))
        log(f"{name} {condition}: {len(outcomes)} images cached/read in {time.perf_counter() - started:.0f} s")
        suites = {m: MetricSuite(PROTOCOLS) for m in [*MAPS, *fusions]}
        kinds: dict[tuple[str, str], MetricSuite] = {}
        authentic: dict[str, list[float]] = {m: [] for m in suites}
        verdicts = {m: [] for m in fusions}
        refused = 0
        for sample, error, key, mask in outcomes:
            loaded = None if error else cache.load(_entry(config, condition, sample), key)
            if loaded is None:
                refused += 1
                continue
            shape, evidence = loaded
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


def markdown(summary: dict, command: str) -> str:
    lines = [HEADING, ""]
    lines += [
        f"`{command}` on {summary['date']} ({summary['machine']}; {summary['seconds']:.0f} s, load average "
        f"{summary['load']}). All sets are held apart: no image of them, nor any image sharing a source photo with "
        "them, was trained on or used for a threshold. **CASIA v1 numbers are near in-domain**: the model trained on "
        "the other CASIA v1 development forgeries (split by source-photo component). `fusion v1, new default` is "
        "what `tamperscope analyze` reports now (default profile, rule classes-v1); `fusion v1, old default` what it "
        "reported before; `localizer v1 (286 k)` the previous shipped network (bench run from commit 8764e61). Pixel "
        "metrics on forgeries with masks, per-image means; image metrics on all images (definitions above).",
        "",
    ]
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
                label = f"**{method}**" if method in ("localizer", "fusion v1, new default") else method
                lines.append(f"| {label} | " + " | ".join(_cell(values.get(p)) for p in PROTOCOLS) + " |")
            lines.append("")
            verdict = result["verdict"]
            lines.append("Verdict `edited`: " + "; ".join(
                f"{m}: {v['tampered_flagged']}/{v['tampered']} forgeries, {v['authentic_flagged']}/{v['authentic']} "
                f"authentic" for m, v in verdict.items()) + ".")
            lines.append("")
            if result["by_kind"] and name != "micc-f220":
                lines += ["By kind, `pixel-F1-best` / `image-AUC` (each kind against all authentic images):", "",
                          "| kind | " + " | ".join(MAPS + ["fusion v1, new default"]) + " |",
                          "|---|" + "---:|" * (len(MAPS) + 1)]
                for kind, methods in result["by_kind"].items():
                    cells = []
                    for m in MAPS + ["fusion v1, new default"]:
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
    parser.add_argument("--sets", default="casia-test,synth-test,micc-f220,authentic-test")
    parser.add_argument("--conditions", default="clean,social")
    parser.add_argument("--v1", action="append", default=[], help="SET=FOLDER of a tamperscope bench run of localizer v1")
    parser.add_argument("--doc", type=Path, help="docs/benchmarks.md: rewrite its section")
    args = parser.parse_args(argv)
    import os
    import platform

    started = time.perf_counter()
    specs = make_sets(args.data, args.out)
    summary = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}", "sets": {}}
    for name in args.sets.split(","):
        summary["sets"][name] = evaluate(name, specs[name], args.out, args.workers, args.conditions.split(","))
    summary["v1"] = v1_rows({k: Path(v) for k, v in (item.split("=", 1) for item in args.v1)})
    summary["seconds"] = time.perf_counter() - started
    summary["load"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    command = "python benchmarks/localizer_v2_bench.py --data ../shared/data/dev --out OUT --workers 2 " + \
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
