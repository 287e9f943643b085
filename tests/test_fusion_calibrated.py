"""Fusion rule calibrated-v2: pooled statistics, model choice, fallback to classes-v1, regions by detector."""

import numpy as np
import pytest

from tamperscope.evidence import Evidence
from tamperscope.fusion import (
    MODELLED,
    STATISTICS,
    FusionParams,
    choose_model,
    decision_scale,
    fuse,
    load_model,
    pooled_statistics,
)


def _ev(name, score, heat=None, confidence=None, stride=8, status="ok"):
    return Evidence(detector=name, version="1", status=status, score=score, heatmap=heat, confidence=confidence,
                    stride=stride)


def test_pooled_statistics_of_a_known_map():
    heat = np.zeros((50, 50), np.float32)
    heat[:5, :10] = 1.0  # 50 cells of 2500 = 2%: the soft maximum is exactly their mean
    stats = dict(zip(STATISTICS, pooled_statistics(_ev("dq", 0.7, heat))))
    assert stats["applicable"] == 1 and stats["score"] == pytest.approx(0.7)
    assert stats["softmax"] == pytest.approx(1.0) and stats["mean"] == pytest.approx(0.02)
    assert stats["q50"] == 0 and stats["q99"] == pytest.approx(1.0)
    assert stats["confident"] == stats["softmax"]
    confidence = np.ones_like(heat)
    confidence[:5, :5] = 0.0  # half the hot cells are not trusted: weighting moves the top elsewhere
    weighted = dict(zip(STATISTICS, pooled_statistics(_ev("localizer", 0.7, heat, confidence))))
    assert weighted["confident"] < 1.0
    assert not pooled_statistics(_ev("dq", None, status="not-applicable")).any()


def test_model_choice_follows_the_detectors_that_ran():
    models = {"models": [{"detectors": list(MODELLED)}, {"detectors": [d for d in MODELLED if d != "localizer"]}]}
    assert choose_model(models, set(MODELLED))["detectors"] == list(MODELLED)
    assert "localizer" not in choose_model(models, {"ela", "dq", "blk", "noise", "c2pa"})["detectors"]
    assert choose_model(models, {"dq", "noise"}) is None
    assert choose_model(None, set(MODELLED)) is None


def test_unmodelled_evidence_keeps_the_v1_rule():
    heat = np.zeros((8, 8), np.float32)
    heat[2:4, 2:4] = 0.9
    fused = fuse([_ev("a", 0.8, heat)], (64, 64))
    assert fused.rule == "classes-v1" and fused.score == pytest.approx(0.8) and fused.label == "edited"
    forced = fuse([_ev("dq", 0.8, heat)], (64, 64), FusionParams(rule="classes-v1"))
    assert forced.rule == "classes-v1" and forced.integrity is None


needs_model = pytest.mark.skipif(load_model() is None, reason="models/fusion.json is not installed")


def _evidence(found: bool, shape=(256, 256)):
    """The five modelled detectors; when ``found``, every map and the localizer mark one square."""
    cells = (shape[0] // 8, shape[1] // 8)
    heat = np.full(cells, 0.05, np.float32)
    if found:
        heat[8:20, 8:20] = 0.95
    scores = {"dq": 0.9 if found else 0.0, "blk": 0.8 if found else 0.0, "noise": 0.7 if found else 0.1,
              "localizer": 0.95 if found else 0.05}
    items = [_ev("ela", None, heat)]
    items += [_ev(name, score, heat, np.ones(cells, np.float32) if name == "localizer" else None)
              for name, score in scores.items()]
    return items


V2 = FusionParams(rule="calibrated-v2")


def test_decision_scale_puts_the_threshold_at_one_half_and_keeps_the_order():
    values = [decision_scale(p, 0.76) for p in (0.0, 0.3, 0.76, 0.9, 1.0)]
    assert values[0] == 0 and values[2] == pytest.approx(0.5) and values[-1] == pytest.approx(1.0)
    assert values == sorted(values)


@needs_model
def test_calibrated_rule_gives_a_probability_and_a_map_from_the_modelled_detectors():
    shape = (256, 256)
    fused = fuse(_evidence(True), shape, V2)
    assert fused.rule == "calibrated-v2" and 0.0 <= fused.integrity <= 1.0
    assert fused.score == pytest.approx(decision_scale(fused.integrity, load_model()["models"][0]["decision_threshold"]))
    assert fused.heatmap.shape == shape and 0.0 <= fused.heatmap.min() <= fused.heatmap.max() <= 1.0
    # The per-pixel model weighs every map positively: the square all detectors mark is hotter.
    assert fused.heatmap[64:160, 64:160].mean() > fused.heatmap[:64, :64].mean()
    without = fuse([e for e in _evidence(True) if e.detector != "localizer"], shape, V2)
    assert without.rule == "calibrated-v2" and without.integrity is not None
    assert fuse(_evidence(True), shape).rule == "classes-v1"  # the default rule


@needs_model
def test_provenance_still_outranks_the_calibrated_signal():
    capture = Evidence(detector="c2pa", version="1", score=0.9, indicates="authentic", kind="provenance")
    fused = fuse([capture, *_evidence(True)], (256, 256), V2)
    assert fused.label == "authentic" and fused.decided_by == "provenance" and fused.drivers == ["c2pa"]
