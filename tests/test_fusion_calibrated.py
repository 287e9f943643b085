"""Fusion rule calibrated-v3: class probabilities, monotonicity, honest labels, map/label agreement, fitting."""

import itertools

import numpy as np
import pytest

from tamperscope.evidence import Evidence
from tamperscope.fusion import (
    LOCALIZED,
    MANIPULATIONS,
    NO_MANIPULATION,
    FusionParams,
    choose_model,
    class_probabilities,
    columns,
    fuse,
    load_model,
)

SHAPE = (128, 128)


def _ev(name, score, heat=None, status="ok", indicates="edited", kind="signal", stride=8):
    return Evidence(detector=name, version="1", status=status, score=score if status == "ok" else None,
                    heatmap=heat if status == "ok" else None, stride=stride, indicates=indicates, kind=kind)


def _heat(value_inside=0.95, value_outside=0.05):
    heat = np.full((SHAPE[0] // 8, SHAPE[1] // 8), value_outside, np.float32)
    heat[4:10, 4:10] = value_inside
    return heat


def toy_models(classes=("edited", "ai-generated", "ai-edited"), intercept=-4.0):
    """A fitted-looking model over three invented detectors, one per class ("splice", "probe", "inpaint")."""
    detectors = ["splice", "probe", "inpaint"]
    owner = dict(zip(detectors, MANIPULATIONS))
    cols = columns(detectors)

    def model(klass):
        if klass != "manipulated" and klass not in classes:
            return None
        coef = [(6.0 if term == "score" else 8.0)
                if (klass == "manipulated" or c == klass) and owner[name] == c and c in classes else 0.0
                for name, term, c in cols]
        return {"coef": coef, "intercept": intercept}

    image = {k: model(k) for k in (*MANIPULATIONS, "manipulated")}
    # Maps weighed by score, then by the score's excess over 0.5 (splice, probe, inpaint each).
    pixel = {"coef": [4.0, 0.0, 4.0, 4.0, 0.0, 4.0], "intercept": -3.0}
    return {"rule": "calibrated-v3", "models": [{"name": "toy", "detectors": detectors, "image": image,
                                                  "pixel": pixel}]}


def _run(scores, models, heat=None, statuses=None, extra=()):
    statuses = statuses or {}
    indicates = {"splice": "edited", "probe": "ai-generated", "inpaint": "ai-edited"}
    items = [_ev(name, scores.get(name, 0.0), heat if name in ("splice", "inpaint") else None,
                 statuses.get(name, "ok"), indicates[name]) for name in ("splice", "probe", "inpaint")]
    return fuse([*items, *extra], SHAPE, FusionParams(), models=models)


# ---------------------------------------------------------------- monotone


@pytest.mark.parametrize("models", [toy_models(), pytest.param(None, id="shipped")])
def test_more_evidence_never_lowers_a_probability_of_manipulation(models):
    """Raise any one detector's score (everything else kept): no class probability of manipulation goes down."""
    models = models or load_model()
    if models is None:
        pytest.skip("models/fusion.json is not installed")
    rng = np.random.default_rng(0)
    for model in models["models"]:
        names = model["detectors"]
        for _ in range(40):
            base = {n: float(rng.random()) if rng.random() < 0.7 else 0.0 for n in names}
            states = {n: "ok" if rng.random() < 0.85 else "not-applicable" for n in names}
            for name in names:
                if states[name] != "ok":
                    continue
                before = {n: _ev(n, base[n], status=states[n]) for n in names}
                raised = dict(before)
                raised[name] = _ev(name, min(1.0, base[name] + float(rng.uniform(0.05, 0.6))))
                low, _, _ = class_probabilities(before, model)
                high, _, _ = class_probabilities(raised, model)
                for klass in MANIPULATIONS:
                    if low[klass] is not None:
                        assert high[klass] >= low[klass] - 1e-12, (model["name"], name, klass)
                if low[NO_MANIPULATION] is not None:
                    assert high[NO_MANIPULATION] <= low[NO_MANIPULATION] + 1e-12


def test_shipped_weights_of_evidence_are_not_negative():
    models = load_model()
    if models is None:
        pytest.skip("models/fusion.json is not installed")
    for model in models["models"]:
        cols = columns(model["detectors"])
        for klass, fitted in model["image"].items():
            if fitted is None:
                continue
            assert len(fitted["coef"]) == len(cols)
            assert all(c >= 0 for c in fitted["coef"]), klass
        assert all(c >= 0 for c in model["pixel"]["coef"])


# ---------------------------------------------------------------- labels


def test_no_trace_is_no_evidence_not_authentic():
    models = toy_models(classes=("edited", "ai-generated"))  # nothing can see ai-edited content
    fused = _run({}, models)
    assert fused.label == "no-evidence" and fused.calibrated
    assert fused.unchecked == ["ai-edited"] and fused.class_scores["ai-edited"] is None
    assert fused.class_scores[NO_MANIPULATION] > 0.95  # low as the probability is, a class was not checked
    assert not fused.regions and not fused.mask.any()


def test_authentic_only_when_every_class_was_checked_and_the_probability_is_low():
    models = toy_models()
    fused = _run({}, models)
    assert fused.label == "authentic" and not fused.unchecked and fused.decided_by == "signal"
    assert 1 - fused.class_scores[NO_MANIPULATION] < FusionParams().authentic_below
    # A detector that could not judge the image leaves its class unchecked: no longer authentic.
    blind = _run({}, models, statuses={"probe": "not-applicable"})
    assert blind.label == "no-evidence" and blind.unchecked == ["ai-generated"]
    assert blind.class_scores["ai-generated"] is None and blind.class_scores["edited"] is not None
    # Some evidence, below the decision: not low enough for authentic either.
    assert _run({"splice": 0.3}, models).label == "no-evidence"


def test_a_class_probability_above_the_decision_sets_the_label_and_the_region():
    models = toy_models()
    fused = _run({"splice": 0.9}, models, heat=_heat())
    assert fused.label == "edited" and fused.class_scores["edited"] >= 0.5 and fused.drivers == ["splice"]
    assert len(fused.regions) == 1 and fused.regions[0].bbox == (32, 32, 48, 48)
    # The graded map is the pixel probability times the image's probability of a localizable manipulation.
    assert fused.heatmap.max() <= fused.class_scores["edited"] + 1e-6
    probe = _run({"probe": 0.9}, models, heat=_heat())
    assert probe.label == "ai-generated" and not probe.regions  # the whole image: no region singled out


def test_ai_edited_refines_edited():
    models = toy_models()
    fused = _run({"splice": 0.95, "inpaint": 0.7}, models, heat=_heat())
    assert fused.class_scores["edited"] > fused.class_scores["ai-edited"] >= 0.5
    assert fused.label == "ai-edited" and fused.regions  # the AI edit is located like any edit


def test_conflicting_evidence_is_inconclusive():
    models = toy_models()
    # Two classes each below the decision, while manipulation at all is more likely than not.
    models["models"][0]["image"]["manipulated"]["intercept"] = -1.0
    fused = _run({"splice": 0.45, "probe": 0.45}, models)
    assert max(fused.class_scores[k] for k in MANIPULATIONS) < 0.5 <= 1 - fused.class_scores[NO_MANIPULATION]
    assert fused.label == "inconclusive"
    nothing = _run({}, models, statuses={n: "not-applicable" for n in ("splice", "probe", "inpaint")})
    assert nothing.label == "inconclusive" and nothing.score is None  # a base rate is no score
    assert set(nothing.class_scores.values()) == {None}


def test_provenance_outranks_the_calibrated_signals():
    models = toy_models()
    capture = _ev("c2pa", 0.9, indicates="authentic", kind="provenance")
    fused = _run({"splice": 0.95}, models, heat=_heat(), extra=[capture])
    assert fused.label == "authentic" and fused.decided_by == "provenance" and fused.outranked == ["splice"]
    assert not fused.regions  # the authentic label shows no region
    generated = _run({}, models, extra=[_ev("metadata", 0.95, indicates="ai-generated", kind="provenance")])
    assert generated.label == "ai-generated" and generated.drivers == ["metadata"]


def test_an_intact_watermark_is_authentic_and_a_broken_one_is_edited_where_broken():
    intact = _ev("watermark", 0.8, indicates="authentic", kind="provenance")
    assert fuse([intact], SHAPE).label == "authentic"
    heat = _heat(1.0, 0.0)
    broken = _ev("watermark", 0.9, heat=heat, kind="provenance")
    fused = fuse([broken], SHAPE)
    assert fused.label == "edited" and fused.regions and fused.regions[0].detectors == ["watermark"]


def test_region_only_with_a_manipulation_label_and_a_manipulation_label_says_where():
    models = toy_models()
    for splice, probe in itertools.product((0.0, 0.3, 0.6, 0.95), repeat=2):
        fused = _run({"splice": splice, "probe": probe}, models, heat=_heat())
        if fused.regions:
            assert fused.label in LOCALIZED
        if fused.label in LOCALIZED:
            assert fused.regions or fused.peak is not None


def test_unmodelled_signals_decide_by_their_own_score_and_the_verdict_is_not_calibrated():
    models = toy_models()
    fused = _run({}, models, extra=[_ev("handmade", 0.8, heat=_heat())])
    assert fused.label == "edited" and not fused.calibrated and fused.unmodelled == ["handmade"]
    assert fused.drivers == ["handmade"]


def test_without_a_model_the_written_rule_never_says_authentic():
    fused = fuse([_ev("zzz", 0.1)], SHAPE, FusionParams(rule="classes-v1"))
    assert fused.label == "no-evidence" and fused.class_scores is None and not fused.calibrated
    assert fuse([_ev("zzz", 0.7, heat=_heat())], SHAPE, FusionParams(rule="classes-v1")).label == "edited"
    with pytest.raises(ValueError):
        fuse([], SHAPE, FusionParams(rule="nope"))


def test_model_choice_follows_the_deciding_signals_that_ran():
    models = {"models": [{"name": "a", "detectors": ["dq", "blk"]}, {"name": "b", "detectors": ["dq", "blk", "noise"]}]}
    assert choose_model(models, {"dq", "blk", "noise", "zero"})["name"] == "b"
    assert choose_model(models, {"dq", "blk"})["name"] == "a"
    assert choose_model(models, {"dq"}) is None and choose_model(None, {"dq"}) is None
    # A model fitted on another version of a detector is stale: the next one that fits is used.
    models["models"][1]["versions"] = {"dq": "2", "blk": "1", "noise": "1"}
    assert choose_model(models, {"dq", "blk", "noise"}, {"dq": "3", "blk": "1", "noise": "1"})["name"] == "a"
    assert choose_model(models, {"dq", "blk", "noise"}, {"dq": "2", "blk": "1", "noise": "1"})["name"] == "b"


# ---------------------------------------------------------------- fitting


def test_fit_logistic_keeps_evidence_weights_non_negative_and_recovers_a_slope():
    from tamperscope.train.fusion import balanced_weights, ece, fit_logistic, prior_weights

    rng = np.random.default_rng(1)
    x = rng.random((4000, 3))
    logit = -2.0 + 5.0 * x[:, 0] - 3.0 * x[:, 1]  # column 1 truly lowers the odds
    y = (rng.random(4000) < 1 / (1 + np.exp(-logit))).astype(float)
    curve: list = []
    coef, intercept = fit_logistic(x, y, np.ones_like(y), np.array([False, False, True]), l2=0.0, curve=curve)
    assert coef[0] > 3.0 and coef[1] == 0.0  # the bound holds where the truth is negative
    assert curve and curve[-1] <= curve[0]
    free, free_intercept = fit_logistic(x, y, np.ones_like(y), np.array([True, True, True]), l2=0.0)
    assert free[0] == pytest.approx(5.0, abs=0.6) and free[1] == pytest.approx(-3.0, abs=0.6)
    assert abs(free[2]) < 0.6 and free_intercept == pytest.approx(-2.0, abs=0.5)
    p = 1 / (1 + np.exp(-(x @ coef + intercept)))
    assert ece(p, y) < 0.05  # a logistic fit with an intercept is calibrated on its own data
    assert balanced_weights(np.array([1.0, 0, 0, 0])).tolist() == [0.5, 0.5 / 3, 0.5 / 3, 0.5 / 3]
    assert prior_weights(np.array([1.0, 1, 0, 0]), 0.2).tolist() == pytest.approx([0.1, 0.1, 0.4, 0.4])


def test_ece_of_known_bins():
    from tamperscope.train.fusion import ece

    p = np.array([0.1] * 10 + [0.9] * 10)
    y = np.array([0] * 9 + [1] + [1] * 9 + [0], dtype=float)
    assert ece(p, y) == pytest.approx(0.0)
    assert ece(np.full(4, 0.75), np.array([1.0, 0, 0, 0])) == pytest.approx(0.5)


def test_splits_keep_source_photos_together():
    from tamperscope.train.fusion_data import CASIA_PART, half, micc_group
    from tamperscope.train.localizer_data import CASIA_SPLIT

    assert set(CASIA_PART) == {name for name, _ in CASIA_SPLIT}  # every split of the localizer has a part here
    assert CASIA_PART["train"] == "excluded"  # never fit on what the localizer trained on
    assert micc_group("sony_61tamp131.jpg") == micc_group("sony_61_scale.jpg") == "sony_61"
    assert micc_group("DSC_0812tamp37_Multiple.jpg") == "DSC_0812"
    assert {half(f"micc:{n}") for n in ("a", "b", "c", "d", "e", "f", "g", "h")} == {"fit", "eval"}


def test_images_another_model_trained_on_are_neither_fitted_nor_judged(tmp_path, monkeypatch):
    from tamperscope.train import fusion_data

    folder = tmp_path / "micc-f220"
    folder.mkdir()
    (folder / "manifest.csv").write_text("image_path,label\nalpha.jpg,authentic\nbeta.jpg,authentic\n"
                                         "alphatamp1.jpg,tampered\n", encoding="utf-8")
    before = {s.path.name: s.part for s in fusion_data.development_samples(tmp_path)}
    assert set(before.values()) <= {"fit", "eval"}
    monkeypatch.setattr(fusion_data, "trained_elsewhere", lambda root: {(folder / "beta.jpg").resolve(): "aigen"})
    after = {s.path.name: s.part for s in fusion_data.development_samples(tmp_path)}
    assert after == {**before, "beta.jpg": "excluded"}


def test_synthetic_sets_are_remade_when_their_photos_change_and_reused_otherwise(tmp_path):
    from PIL import Image as PILImage

    from tamperscope.train.fusion_data import FitSample, synthetic_samples

    rng = np.random.default_rng(0)
    samples = []
    for index in range(3):
        path = tmp_path / f"photo{index}.jpg"
        PILImage.fromarray(rng.integers(0, 255, (300, 320, 3), dtype=np.uint8)).save(path, quality=90)
        samples.append(FitSample(path, "exif-camera", NO_MANIPULATION, "fit", path.name))
    work = tmp_path / "work"
    made = synthetic_samples(samples, work, 4)
    first = {s.path.name: s.path.read_bytes() for s in made}
    assert "photo2.jpg" in {s.group for s in made}
    again = synthetic_samples(samples, work, 4)  # the same photos: reused, the same files
    assert {s.path.name: s.path.read_bytes() for s in again} == first
    changed = synthetic_samples(samples[:2], work, 4)  # a photo left the part (e.g. another model trained on it)
    sources = {s.group for s in changed}
    assert sources <= {"photo0.jpg", "photo1.jpg"}


def test_a_model_named_by_the_environment_is_used_and_a_wrong_name_is_an_error(tmp_path, monkeypatch):
    import json

    from tamperscope.errors import InputError
    from tamperscope.fusion import MODEL_ENV

    path = tmp_path / "refit.json"
    path.write_text(json.dumps(toy_models()), encoding="utf-8")
    monkeypatch.setenv(MODEL_ENV, str(path))
    assert [m["name"] for m in load_model()["models"]] == ["toy"]
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(InputError, match="TAMPERSCOPE_FUSION_MODEL"):
        load_model()
