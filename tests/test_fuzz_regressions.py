"""Inputs on which benchmarks/fuzz.py once found a crash: every detector must now handle them.

Each file in tests/fuzz_regressions/ is a fuzzer mutation of the fuzzer's own generated seeds, kept byte for byte
(named after what it broke). As in the fuzzer, a detector whose evidence is "failed" counts as a crash.
"""

from pathlib import Path

import numpy as np
import pytest

from tamperscope.detectors import available, create
from tamperscope.errors import InputError
from tamperscope.image import Limits, load

CASES = sorted((Path(__file__).parent / "fuzz_regressions").iterdir())


@pytest.mark.parametrize("path", CASES, ids=[path.name for path in CASES])
def test_every_detector_handles_the_input(path):
    try:
        image = load(path.read_bytes(), Limits(max_pixels=250_000))
    except InputError:
        return  # a typed one-line refusal is a correct answer
    failed = []
    for name in sorted(available()):
        if name == "watermark":  # needs a key; nothing to exercise without one
            continue
        evidence = create(name).run(image)
        if evidence.status == "failed":
            failed.append(f"{name}: {evidence.reason}")
    assert not failed


def test_nadq_model_keeps_the_histogram_length_when_the_rounding_error_is_wide():
    from tamperscope.detectors.nadq import doubly_quantized_model

    assert doubly_quantized_model(np.ones(64), q=3, sigma=100.0, bias=0.0).shape == (64,)
