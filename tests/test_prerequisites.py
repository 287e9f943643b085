"""Detectors that read other detectors' evidence get it from the runner, computed once, never by importing them."""

import dataclasses

import numpy as np

from tamperscope.detectors import Detector, Finding, create, run_detectors, with_prerequisites
from tamperscope.image import load


@dataclasses.dataclass
class _ReadsNoise(Detector):
    name = "reads-noise"
    version = "0"
    citation = summary = title = trace = "test"
    consumes = ("noise",)
    seen: dict = dataclasses.field(default_factory=dict)

    def analyze_with(self, image, prior):
        self.seen.update(prior)
        return Finding(score=0.0, notes=[f"noise status {prior['noise'].status}"])


def test_prerequisites_run_first_and_are_reported_once():
    names = [d.name for d in with_prerequisites([create("faceswap"), create("dq")])]
    assert names == ["noise", "dq", "faceswap"]


def test_the_consumer_receives_the_reported_evidence_object():
    pixels = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    consumer = _ReadsNoise()
    evidence = run_detectors(load(pixels), [consumer])
    assert [e.detector for e in evidence] == ["noise", "reads-noise"]
    assert consumer.seen["noise"] is evidence[0]
    assert evidence[1].notes == [f"noise status {evidence[0].status}"]
