"""What each input of the learned localizer pays: the held-apart CASIA forgeries with one input withheld at a time.

The network was trained with each classical map dropped (zero plane, flag 0) with probability 0.15 and the DCT
stream with 0.25, so withholding one at inference is a state it knows: the drop in pixel F1 says how much the
map adds beside the others. Reads the classical evidence cached by ``benchmarks/localizer_v2_bench.py`` (pass
1) so no detector reruns; only the network does. Writes the section "Localizer inputs: what each one pays" of
docs/benchmarks.md with ``--doc``.

    python benchmarks/localizer_ablation.py --bench OUT --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _machine import replace_section  # noqa: E402

HEADING = "## Localizer inputs: what each one pays (issue 16)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, required=True, help="OUT of localizer_v2_bench.py")
    parser.add_argument("--set", default="casia-test")
    parser.add_argument("--conditions", default="clean,social")
    parser.add_argument("--doc", type=Path)
    args = parser.parse_args(argv)

    from tamperscope.bench import cache
    from tamperscope.bench.datasets import open_dataset
    from tamperscope.bench.metrics import MetricSuite, align
    from tamperscope.bench.runner import BenchConfig, _entry, _prepare
    from tamperscope.detectors import resolve
    from tamperscope.detectors.localizer import CONSUMES, predict_maps, prepare
    from tamperscope.image import load

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from localizer_v2_bench import CLASSICAL, PROTOCOLS

    spec = f"csv:{args.bench / 'sets' / (args.set + '.csv')}"
    variants = ["all inputs", *[f"without {m}" for m in CONSUMES], "without the DCT stream", "without any map"]
    specs = [{"name": d.name, "version": d.version, "params": d.params()} for d in resolve(CLASSICAL)]
    rows = {}
    started = time.perf_counter()
    for condition in args.conditions.split(","):
        config = BenchConfig(spec, args.bench / args.set / "classical", CLASSICAL, [condition], PROTOCOLS)
        suites = {v: MetricSuite(["pixel-F1-best", "pixel-F1@0.5", "pixel-AUC"]) for v in variants}
        for sample in open_dataset(spec).samples():
            if sample.label != 1 or sample.mask is None:
                continue
            data, mask = _prepare(config, condition, sample)
            loaded = cache.load(_entry(config, condition, sample), cache.cache_key(data, specs))
            if loaded is None or mask is None:
                continue
            shape, evidence = loaded
            image = load(data)
            base = prepare(image, {e.detector: e for e in evidence})
            for variant in variants:
                inputs = prepare(image, {e.detector: e for e in evidence})
                if variant.startswith("without ") and variant[8:] in CONSUMES:
                    index = CONSUMES.index(variant[8:])
                    inputs.maps[0, index] = 0
                    inputs.globals[0, 65 + index] = 0
                elif variant == "without the DCT stream":
                    inputs.dct[:] = 0
                    inputs.globals[0, 64] = 0
                elif variant == "without any map":
                    inputs.maps[:] = 0
                    inputs.globals[0, 65:] = 0
                anomaly, _ = predict_maps(inputs)
                cell = 8 * base.factor
                heat = np.kron(anomaly, np.ones((cell, cell), np.float32))[: shape[0], : shape[1]]
                suites[variant].add(heat=align(heat, mask.shape) if heat.shape != mask.shape else heat,
                                    truth=mask, label=1)
        rows[condition] = {v: s.results() for v, s in suites.items()}
    lines = [HEADING, "",
             f"`python benchmarks/localizer_ablation.py --bench OUT --doc docs/benchmarks.md` (OUT from "
             f"localizer_v2_bench.py; {time.perf_counter() - started:.0f} s): the held-apart CASIA v1 forgeries "
             f"(`{args.set}`, near in-domain), the shipped network with one input withheld (zero plane, flag 0: "
             "a state it was trained with).", "",
             "| condition | inputs | `pixel-F1-best` | `pixel-F1@0.5` | `pixel-AUC` |", "|---|---|---:|---:|---:|"]
    for condition, values in rows.items():
        for variant, v in values.items():
            lines.append(f"| {condition} | {variant} | {v['pixel-F1-best']:.3f} | {v['pixel-F1@0.5']:.3f} | "
                         f"{v['pixel-AUC']:.3f} |")
    text = "\n".join(lines)
    print(text)
    if args.doc:
        replace_section(args.doc, HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
