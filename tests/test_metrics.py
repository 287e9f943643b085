"""Tests for tamperscope.bench.metrics.

Exact hand-computed cases, comparisons with scikit-learn (used here only, as
the reference) on seeded random data, and the degenerate-case conventions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image as PILImage
from sklearn import metrics as skm

from tamperscope.bench import metrics as M

TOL = 1e-9

# --------------------------------------------------------------------------- #
# hand-computed cases
# --------------------------------------------------------------------------- #

# 3x3: positives at 0.9, 0.4, 0.7; one pixel exactly on the threshold (0.5)
HEAT3 = np.array([[0.9, 0.4, 0.6], [0.7, 0.2, 0.1], [0.5, 0.3, 0.8]])
TRUTH3 = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)

# 4x4: an inverted detector. Truth = top-left 2x2 block.
HEAT4 = np.array(
    [
        [0.1, 0.1, 0.9, 0.9],
        [0.1, 0.7, 0.9, 0.9],
        [0.9, 0.9, 0.3, 0.9],
        [0.9, 0.9, 0.9, 0.3],
    ]
)
TRUTH4 = np.zeros((4, 4), dtype=bool)
TRUTH4[:2, :2] = True


def test_confusion_3x3_strict_threshold():
    # heat > 0.5: the 0.5 pixel is predicted negative
    assert M.confusion(HEAT3 > 0.5, TRUTH3) == (2, 2, 1, 4)


def test_fixed_threshold_metrics_3x3():
    # tp=2 fp=2 fn=1 tn=4
    assert M.f1_fixed(HEAT3, TRUTH3) == pytest.approx(4 / 7, abs=TOL)
    assert M.iou(HEAT3, TRUTH3) == pytest.approx(2 / 5, abs=TOL)
    assert M.mcc(HEAT3, TRUTH3) == pytest.approx(1 / math.sqrt(10), abs=TOL)
    # the complement (tp=1 fp=4 fn=2 tn=2) is worse: permuting changes nothing
    assert M.f1_fixed(HEAT3, TRUTH3, permute=True) == pytest.approx(4 / 7, abs=TOL)


def test_permuted_4x4():
    # heat > 0.5: tp=1 fp=10 fn=3 tn=2; complement: tp=3 fp=2 fn=1 tn=10
    assert M.confusion(HEAT4 > 0.5, TRUTH4) == (1, 10, 3, 2)
    assert M.f1_fixed(HEAT4, TRUTH4) == pytest.approx(2 / 15, abs=TOL)
    assert M.f1_fixed(HEAT4, TRUTH4, permute=True) == pytest.approx(2 / 3, abs=TOL)
    assert M.iou(HEAT4, TRUTH4) == pytest.approx(1 / 14, abs=TOL)
    assert M.iou(HEAT4, TRUTH4, permute=True) == pytest.approx(1 / 2, abs=TOL)
    assert M.mcc(HEAT4, TRUTH4) == pytest.approx(-28 / math.sqrt(2640), abs=TOL)
    assert M.mcc(HEAT4, TRUTH4, permute=True) == pytest.approx(28 / math.sqrt(2640), abs=TOL)
    # permuted AUC
    auc = M.pixel_auc(HEAT4, TRUTH4)
    assert auc < 0.5
    assert M.pixel_auc(HEAT4, TRUTH4, permute=True) == pytest.approx(1 - auc, abs=TOL)


def test_f1_best_3x3_with_threshold():
    # best F1 2/3 reached at t=0.3 and t=0.6; the larger threshold is returned
    best = M.f1_best(HEAT3, TRUTH3)
    assert best.f1 == pytest.approx(2 / 3, abs=TOL)
    assert best.threshold == pytest.approx(0.6)
    assert best.inverted is False
    assert M.f1_fixed(HEAT3, TRUTH3, threshold=best.threshold) == pytest.approx(best.f1, abs=TOL)
    assert M.f1_best(HEAT3, TRUTH3, permute=True) == best


def test_f1_best_4x4_all_positive_and_inverted():
    # direct: the best is to flag every pixel (F1 = 8/20), threshold -inf
    best = M.f1_best(HEAT4, TRUTH4)
    assert best.f1 == pytest.approx(2 / 5, abs=TOL)
    assert best.threshold == -np.inf and best.inverted is False
    # permuted: heat <= 0.1 flags 3 of 4 true pixels and nothing else: 6/7
    best = M.f1_best(HEAT4, TRUTH4, permute=True)
    assert best.f1 == pytest.approx(6 / 7, abs=TOL)
    assert best.threshold == pytest.approx(0.1) and best.inverted is True


def test_pixel_auc_hand():
    # 3x3: positives 0.9, 0.4, 0.7 vs negatives 0.6 0.2 0.1 0.5 0.3 0.8
    # pairs won: 0.9 -> 6, 0.7 -> 5, 0.4 -> 3; 14 / 18
    assert M.pixel_auc(HEAT3, TRUTH3) == pytest.approx(14 / 18, abs=TOL)
    # a tie counts one half
    heat = np.array([[0.5, 0.5], [0.2, 0.5]])
    truth = np.array([[1, 0], [0, 0]], dtype=bool)
    assert M.pixel_auc(heat, truth) == pytest.approx((0.5 + 1 + 0.5) / 3, abs=TOL)


# --------------------------------------------------------------------------- #
# border band
# --------------------------------------------------------------------------- #


def test_border_ignore_small_square():
    truth = np.zeros((9, 9), dtype=bool)
    truth[2:7, 2:7] = True
    ig = M.border_ignore(truth, erode=3, dilate=3)
    expected = np.zeros((9, 9), dtype=bool)
    expected[1:8, 1:8] = True  # one pixel outside the square ...
    expected[3:6, 3:6] = False  # ... and one inside are ignored
    np.testing.assert_array_equal(ig, expected)


def test_border_ignore_trufor_sizes():
    truth = np.zeros((40, 40), dtype=bool)
    truth[10:30, 10:30] = True
    ig = M.border_ignore(truth)  # 15 / 11: radius 7 inside, 5 outside
    expected = np.zeros((40, 40), dtype=bool)
    expected[5:35, 5:35] = True
    expected[17:23, 17:23] = False
    np.testing.assert_array_equal(ig, expected)


def test_border_ignore_image_edge_is_not_a_border():
    truth = np.zeros((12, 12), dtype=bool)
    truth[:6, :6] = True
    ig = M.border_ignore(truth, erode=3, dilate=1)
    expected = np.zeros((12, 12), dtype=bool)
    expected[:6, :6] = True
    expected[:5, :5] = False  # the image edge (reflected) does not erode
    np.testing.assert_array_equal(ig, expected)
    assert not M.border_ignore(truth, erode=0, dilate=0).any()


def test_border_ignore_removes_small_region_entirely():
    truth = np.zeros((30, 30), dtype=bool)
    truth[10:20, 10:20] = True  # 10 px wide < 15: no positive survives
    ig = M.border_ignore(truth)
    assert not (truth & ~ig).any()
    heat = np.random.default_rng(0).random((30, 30))
    assert math.isnan(M.f1_fixed(heat, truth, ignore=ig))
    assert M.f1_fixed(heat, truth, ignore=ig, empty_truth="zero") == 0.0


# --------------------------------------------------------------------------- #
# scikit-learn as reference
# --------------------------------------------------------------------------- #


def _random_case(seed, shape=(37, 41), levels=None):
    rng = np.random.default_rng(seed)
    truth = rng.random(shape) < 0.3
    heat = np.clip(0.35 * truth + 0.65 * rng.random(shape), 0, 1)
    if levels:
        heat = np.round(heat * levels) / levels  # many ties
    return heat, truth


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_fixed_metrics_vs_sklearn(seed, threshold):
    heat, truth = _random_case(seed, levels=20)
    y, p = truth.ravel(), (heat > threshold).ravel()
    assert M.f1_fixed(heat, truth, threshold) == pytest.approx(skm.f1_score(y, p), abs=TOL)
    assert M.mcc(heat, truth, threshold) == pytest.approx(skm.matthews_corrcoef(y, p), abs=TOL)
    assert M.iou(heat, truth, threshold) == pytest.approx(skm.jaccard_score(y, p), abs=TOL)
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    assert M.confusion(heat > threshold, truth) == (tp, fp, fn, tn)


@pytest.mark.parametrize("seed", range(5))
def test_ignore_mask_removes_pixels(seed):
    heat, truth = _random_case(seed, levels=20)
    ignore = np.random.default_rng(100 + seed).random(heat.shape) < 0.4
    keep = ~ignore
    y, h = truth[keep], heat[keep]
    assert M.f1_fixed(heat, truth, ignore=ignore) == pytest.approx(skm.f1_score(y, h > 0.5), abs=TOL)
    assert M.mcc(heat, truth, ignore=ignore) == pytest.approx(skm.matthews_corrcoef(y, h > 0.5), abs=TOL)
    assert M.pixel_auc(heat, truth, ignore=ignore) == pytest.approx(skm.roc_auc_score(y, h), abs=TOL)
    assert sum(M.confusion(heat > 0.5, truth, ignore)) == keep.sum()
    # ignoring changes the result here (sanity of the test itself)
    assert M.pixel_auc(heat, truth) != pytest.approx(M.pixel_auc(heat, truth, ignore=ignore), abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("levels", [None, 10])
def test_pixel_auc_vs_sklearn(seed, levels):
    heat, truth = _random_case(seed, levels=levels)
    assert M.pixel_auc(heat, truth) == pytest.approx(skm.roc_auc_score(truth.ravel(), heat.ravel()), abs=TOL)


def _brute_f1_best(heat, truth, permute):
    """Every binarisation heat > t (t = -inf and each value), scored by sklearn."""
    y = truth.ravel()
    best = 0.0
    for t in np.r_[-np.inf, np.unique(heat)]:
        p = heat.ravel() > t
        best = max(best, skm.f1_score(y, p, zero_division=0))
        if permute:
            best = max(best, skm.f1_score(y, ~p, zero_division=0))
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("levels", [None, 7])
@pytest.mark.parametrize("permute", [False, True])
def test_f1_best_vs_brute_force(seed, levels, permute):
    heat, truth = _random_case(seed, shape=(15, 17), levels=levels)
    if seed % 2:
        heat = 1 - heat  # an inverted map: the permuted variant matters
    best = M.f1_best(heat, truth, permute=permute)
    assert best.f1 == pytest.approx(_brute_f1_best(heat, truth, permute), abs=TOL)
    p = heat > best.threshold
    if best.inverted:
        p = ~p
    assert skm.f1_score(truth.ravel(), p.ravel()) == pytest.approx(best.f1, abs=TOL)


@pytest.mark.parametrize("seed", range(6))
def test_image_metrics_vs_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 200
    labels = (rng.random(n) < 0.4).astype(int)
    scores = np.clip(0.25 * labels + rng.random(n) * 0.8, 0, 1)
    if seed % 2:
        scores = np.round(scores * 10) / 10  # ties
    assert M.image_auc(scores, labels) == pytest.approx(skm.roc_auc_score(labels, scores), abs=TOL)
    assert M.average_precision(scores, labels) == pytest.approx(
        skm.average_precision_score(labels, scores), abs=TOL
    )
    assert M.balanced_accuracy(scores, labels) == pytest.approx(
        skm.balanced_accuracy_score(labels, scores > 0.5), abs=TOL
    )
    assert M.balanced_accuracy(scores, labels, threshold=0.3) == pytest.approx(
        skm.balanced_accuracy_score(labels, scores > 0.3), abs=TOL
    )
    fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    for target in (0.0, 0.01, 0.05, 0.1, 0.3, 1.0):
        expected = tpr[fpr <= target + 1e-12].max()
        assert M.tpr_at_fpr(scores, labels, fpr=target) == pytest.approx(expected, abs=TOL)


def test_tpr_at_fpr_exact_budget():
    # 20 negatives: one false positive is exactly 5 % and is allowed
    scores = np.r_[np.arange(20) / 100, 0.9, 0.5, 0.195, 0.1]
    labels = np.r_[np.zeros(20, int), np.ones(4, int)]
    # score >= 0.19 flags the negative 0.19 (FP=1) and positives 0.9, 0.5, 0.195
    assert M.tpr_at_fpr(scores, labels, 0.05) == pytest.approx(3 / 4)
    assert M.tpr_at_fpr(scores, labels, 0.0) == pytest.approx(3 / 4)
    assert M.tpr_at_fpr(scores, labels, 0.04) == pytest.approx(3 / 4)


def test_image_auc_with_infinite_scores():
    scores = [0.1, np.inf, 0.4, -np.inf]
    labels = [0, 1, 1, 0]
    assert M.image_auc(scores, labels) == 1.0
    with pytest.raises(ValueError):
        M.image_auc([0.1, np.nan], [0, 1])


# --------------------------------------------------------------------------- #
# degenerate cases
# --------------------------------------------------------------------------- #


def test_one_class_auc_is_nan():
    heat = np.random.default_rng(1).random((5, 5))
    assert math.isnan(M.pixel_auc(heat, np.zeros((5, 5), bool)))
    assert math.isnan(M.pixel_auc(heat, np.ones((5, 5), bool)))
    assert math.isnan(M.image_auc([0.1, 0.2, 0.3], [1, 1, 1]))
    assert math.isnan(M.tpr_at_fpr([0.1, 0.2], [0, 0]))
    assert math.isnan(M.balanced_accuracy([0.1, 0.9], [1, 1]))
    assert math.isnan(M.average_precision([0.1, 0.9], [0, 0]))
    assert M.average_precision([0.1, 0.9], [1, 1]) == 1.0


@pytest.mark.parametrize("func", [M.f1_fixed, M.iou, M.mcc])
def test_empty_truth_conventions(func):
    empty = np.zeros((4, 4), bool)
    quiet = np.full((4, 4), 0.2)  # predicts nothing
    noisy = quiet.copy()
    noisy[0, 0] = 0.9  # one false positive
    for heat in (quiet, noisy):
        assert math.isnan(func(heat, empty))
        assert math.isnan(func(heat, empty, permute=True))
        assert func(heat, empty, empty_truth="zero") == 0.0
    assert func(quiet, empty, empty_truth="perfect") == 1.0
    assert func(noisy, empty, empty_truth="perfect") == 0.0
    with pytest.raises(ValueError):
        func(quiet, empty, empty_truth="one")


def test_empty_truth_f1_best_and_all_ignored():
    empty = np.zeros((4, 4), bool)
    heat = np.linspace(0, 1, 16).reshape(4, 4)
    best = M.f1_best(heat, empty)
    assert math.isnan(best.f1) and math.isnan(best.threshold)
    best = M.f1_best(heat, empty, empty_truth="perfect")
    assert best.f1 == 1.0 and best.threshold == 1.0  # heat > max: nothing flagged
    assert M.f1_best(heat, empty, empty_truth="zero").f1 == 0.0
    # every pixel ignored: undefined whatever the convention
    everything = np.ones((4, 4), bool)
    assert math.isnan(M.f1_fixed(heat, TRUTH4, ignore=everything, empty_truth="zero"))
    assert math.isnan(M.f1_best(heat, TRUTH4, ignore=everything, empty_truth="perfect").f1)
    assert math.isnan(M.pixel_auc(heat, TRUTH4, ignore=everything))


def test_count_functions():
    assert M.f1_from_counts(2, 2, 1, 4) == pytest.approx(4 / 7)
    assert M.iou_from_counts(2, 2, 1) == pytest.approx(2 / 5)
    assert M.f1_from_counts(0, 0, 0, empty_truth="perfect") == 1.0
    assert math.isnan(M.f1_from_counts(0, 0, 0, 0, empty_truth="perfect"))  # no pixel at all
    np.testing.assert_allclose(M.f1_from_counts(np.array([2, 0]), np.array([2, 3]), np.array([1, 0])), [4 / 7, np.nan])


def test_empty_suite_gives_nan():
    res = M.MetricSuite().results()
    assert set(res) == set(M.PROTOCOLS) and all(math.isnan(v) for v in res.values())


def test_constant_prediction_mcc_is_zero():
    assert M.mcc(np.zeros((3, 3)), TRUTH3) == 0.0
    assert M.mcc(np.ones((3, 3)), TRUTH3) == 0.0


def test_input_validation():
    with pytest.raises(ValueError):
        M.f1_fixed(np.zeros((3, 3)), np.zeros((4, 4), bool))
    with pytest.raises(ValueError):
        M.f1_fixed(np.zeros((3, 3)), np.full((3, 3), 255, np.uint8))  # use load_mask
    with pytest.raises(ValueError):
        M.f1_fixed(np.full((3, 3), np.nan), TRUTH3)
    # 0/1 integer truth is accepted
    assert M.f1_fixed(HEAT3, TRUTH3.astype(np.uint8)) == M.f1_fixed(HEAT3, TRUTH3)


# --------------------------------------------------------------------------- #
# aggregation
# --------------------------------------------------------------------------- #


def _dataset(n=6, seed=7, levels=255, size=10):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        shape = (2 * size + 3 * i, 2 * size + 5 + i)
        truth = np.zeros(shape, bool)
        r, c = rng.integers(0, 8, 2)
        truth[r : r + size + i, c : c + size + 2] = True
        heat = np.clip(0.4 * truth + 0.6 * rng.random(shape), 0, 1)
        if levels:
            heat = np.round(heat * levels) / levels
        out.append((heat, truth))
    return out


def test_accumulator_per_image_and_pooled():
    data = _dataset()
    acc = M.PixelAccumulator()
    for heat, truth in data:
        assert acc.add(heat, truth)
    assert acc.n_images == len(data)
    f1s = [M.f1_fixed(h, t) for h, t in data]
    assert acc.per_image_mean("f1") == pytest.approx(np.mean(f1s), abs=TOL)
    assert acc.per_image_mean("f1_best") == pytest.approx(np.mean([M.f1_best(h, t).f1 for h, t in data]), abs=TOL)
    assert acc.per_image_mean("f1_best", permute=True) == pytest.approx(
        np.mean([M.f1_best(h, t, permute=True).f1 for h, t in data]), abs=TOL
    )
    assert acc.per_image_mean("mcc", permute=True) == pytest.approx(
        np.mean([M.mcc(h, t, permute=True) for h, t in data]), abs=TOL
    )
    assert acc.per_image_mean("auc") == pytest.approx(np.mean([M.pixel_auc(h, t) for h, t in data]), abs=TOL)
    y = np.concatenate([t.ravel() for _, t in data])
    h = np.concatenate([h.ravel() for h, _ in data])
    assert acc.pooled("f1") == pytest.approx(skm.f1_score(y, h > 0.5), abs=TOL)
    assert acc.pooled("mcc") == pytest.approx(skm.matthews_corrcoef(y, h > 0.5), abs=TOL)
    assert acc.pooled("iou") == pytest.approx(skm.jaccard_score(y, h > 0.5), abs=TOL)
    # 8-bit maps: the binned pooled AUC is exact
    assert acc.pooled("auc") == pytest.approx(skm.roc_auc_score(y, h), abs=TOL)
    # pooled permuted: one orientation for the data set
    assert acc.pooled("f1", permute=True) == pytest.approx(
        max(skm.f1_score(y, h > 0.5), skm.f1_score(y, h <= 0.5)), abs=TOL
    )
    # per-image mean and pooled are different protocols
    assert acc.per_image_mean("f1") != pytest.approx(acc.pooled("f1"), abs=1e-6)
    with pytest.raises(ValueError):
        acc.pooled("f1_best")


def test_pooled_auc_binning_error_within_stated_bound():
    data = _dataset(levels=None)
    bins = 1000
    acc = M.PixelAccumulator(auc_bins=bins, rank_metrics=False)
    for heat, truth in data:
        acc.add(heat, truth)
    y = np.concatenate([t.ravel() for _, t in data])
    h = np.concatenate([h.ravel() for h, _ in data])
    b = np.clip(np.floor(h * bins), 0, bins - 1).astype(int)
    shared = np.sum(np.bincount(b[y], minlength=bins) * np.bincount(b[~y], minlength=bins))
    bound = 0.5 * shared / (y.sum() * (~y).sum())
    assert abs(acc.pooled("auc") - skm.roc_auc_score(y, h)) <= bound + 1e-12
    with pytest.raises(ValueError):
        acc.per_image("auc")


def test_accumulator_fakes_only_and_authentic():
    data = _dataset(n=3)
    rng = np.random.default_rng(3)
    authentic = (rng.random((20, 20)), np.zeros((20, 20), bool))
    acc = M.PixelAccumulator()
    for heat, truth in [*data, authentic]:
        acc.add(heat, truth)
    assert acc.n_images == 3 and acc.n_skipped == 1

    both = M.PixelAccumulator(include_authentic=True)
    for heat, truth in [*data, authentic]:
        both.add(heat, truth)
    assert both.n_images == 4
    # NaN F1 for the authentic image: per-image mean unchanged, pooled changed
    assert both.n_defined("f1") == 3
    assert both.per_image_mean("f1") == pytest.approx(acc.per_image_mean("f1"), abs=TOL)
    y = np.concatenate([t.ravel() for _, t in [*data, authentic]])
    h = np.concatenate([h.ravel() for h, _ in [*data, authentic]])
    assert both.pooled("f1") == pytest.approx(skm.f1_score(y, h > 0.5), abs=TOL)
    assert both.pooled("f1") < acc.pooled("f1")

    zero = M.PixelAccumulator(include_authentic=True, empty_truth="zero")
    for heat, truth in [*data, authentic]:
        zero.add(heat, truth)
    assert zero.per_image_mean("f1") == pytest.approx(acc.per_image_mean("f1") * 3 / 4, abs=TOL)

    # an explicit label overrides the mask
    lab = M.PixelAccumulator()
    assert not lab.add(*data[0], is_fake=False)


def test_accumulator_border():
    data = _dataset(n=3)
    acc = M.PixelAccumulator(border=(5, 3))
    for heat, truth in data:
        acc.add(heat, truth)
    expected = [M.f1_fixed(h, t, ignore=M.border_ignore(t, 5, 3)) for h, t in data]
    assert acc.per_image_mean("f1") == pytest.approx(np.mean(expected), abs=TOL)


def test_protocols_and_suite():
    ids = set(M.PROTOCOLS)
    for pid in (
        "pixel-F1@0.5",
        "pixel-F1-best",
        "pixel-F1-permuted@0.5",
        "pixel-MCC@0.5",
        "pixel-IoU@0.5",
        "pixel-AUC",
        "pixel-F1@0.5-pooled",
        "pixel-AUC-pooled",
        "image-AUC",
        "image-AP",
        "image-bACC@0.5",
        "image-TPR@5%FPR",
    ):
        assert pid in ids
    for pid, p in M.PROTOCOLS.items():
        assert p.id == pid and p.description and callable(p.function)

    data = _dataset(n=4, size=24)
    data.append(_dataset(n=1, seed=8, size=10)[0])  # too small: no positive outside the band
    rng = np.random.default_rng(11)
    authentic = [(rng.random((30, 30)), np.zeros((30, 30), bool)) for _ in range(3)]
    suite = M.MetricSuite()
    scores, labels = [], []
    for i, (heat, truth) in enumerate([*data, *authentic]):
        label = int(truth.any())
        score = float(heat.max() if label else heat.mean()) * (0.9 if i % 2 else 1.0)
        suite.add(heat=heat, truth=truth, score=score, label=label)
        scores.append(score)
        labels.append(label)
    res = suite.results()
    assert set(res) == ids
    fakes = data
    assert res["pixel-F1@0.5"] == pytest.approx(np.mean([M.f1_fixed(h, t) for h, t in fakes]), abs=TOL)
    trufor = [M.f1_best(h, t, M.border_ignore(t), permute=True).f1 for h, t in fakes]
    assert np.isnan(trufor).sum() == 1  # skipped, and counted as such
    assert res["pixel-F1-best-TruFor"] == pytest.approx(np.nanmean(trufor), abs=TOL)
    assert res["pixel-F1-permuted@0.5"] == pytest.approx(
        np.mean([M.f1_fixed(h, t, permute=True) for h, t in fakes]), abs=TOL
    )
    assert res["image-AUC"] == pytest.approx(skm.roc_auc_score(labels, scores), abs=TOL)
    assert res["image-bACC@0.5"] == pytest.approx(M.balanced_accuracy(scores, labels), abs=TOL)
    counts = suite.counts()
    assert counts["pixel-F1@0.5"] == 5 and counts["image-AUC"] == 8
    assert counts["pixel-F1-best-TruFor"] == 4 and counts["pixel-F1@0.5-pooled"] == 5

    only = M.MetricSuite(["pixel-F1@0.5", M.PROTOCOLS["image-AP"]])
    only.add(heat=data[0][0], truth=data[0][1])
    only.add(score=0.3, label=0)
    only.add(score=0.8, label=1)
    assert set(only.results()) == {"pixel-F1@0.5", "image-AP"}
    assert only.results()["image-AP"] == 1.0


# --------------------------------------------------------------------------- #
# masks and alignment
# --------------------------------------------------------------------------- #


def test_load_mask_arrays():
    grey = np.array([[0, 100, 127], [128, 200, 255]], dtype=np.uint8)
    white = M.load_mask(grey)
    np.testing.assert_array_equal(white, [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(M.load_mask(grey, "black-tampered"), ~white)
    np.testing.assert_array_equal(M.load_mask(grey, threshold=50), [[0, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(M.load_mask(grey.astype(float) / 255), white)
    np.testing.assert_array_equal(M.load_mask(np.array([[True, False]])), [[True, False]])
    rgb = np.stack([grey] * 3, axis=-1)
    np.testing.assert_array_equal(M.load_mask(rgb), white)
    with pytest.raises(ValueError):
        M.load_mask(grey, "red-tampered")
    with pytest.raises(ValueError):
        M.load_mask(grey.astype(float))  # float outside [0, 1]


def test_load_mask_files(tmp_path):
    grey = np.array([[0, 100, 127], [128, 200, 255]], dtype=np.uint8)
    PILImage.fromarray(grey).save(tmp_path / "m.png")
    np.testing.assert_array_equal(M.load_mask(tmp_path / "m.png"), [[0, 0, 0], [1, 1, 1]])
    PILImage.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(M.load_mask(str(tmp_path / "rgb.png"), "black-tampered"), [[1, 1, 1], [0, 0, 0]])
    PILImage.fromarray(grey > 127).save(tmp_path / "bits.png")  # mode "1"
    np.testing.assert_array_equal(M.load_mask(tmp_path / "bits.png"), [[0, 0, 0], [1, 1, 1]])
    PILImage.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "16.png")
    np.testing.assert_array_equal(M.load_mask(tmp_path / "16.png"), [[0, 0, 0], [1, 1, 1]])


def test_align_nearest_neighbour():
    small = np.array([[0.0, 1.0], [2.0, 3.0]])
    up = M.align(small, (4, 4))
    np.testing.assert_array_equal(
        up, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    )
    big = np.arange(16, dtype=float).reshape(4, 4)
    np.testing.assert_array_equal(M.align(big, (2, 2)), [[5, 7], [13, 15]])
    # non-integer ratio: centres matched (3 -> 2 takes rows 0 and 2)
    np.testing.assert_array_equal(M.align(np.arange(3.0)[:, None], (2, 1)), [[0], [2]])
    same = M.align(big, (4, 4, 3))
    np.testing.assert_array_equal(same, big)
    assert same is not big
    # a blockwise map brought to the mask's size can be scored
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True
    assert M.f1_fixed(M.align(np.array([[0.9, 0.1], [0.1, 0.1]]), truth.shape), truth) == 1.0


# --------------------------------------------------------------------------- #
# speed sanity (no timing assertion)
# --------------------------------------------------------------------------- #


def test_f1_best_large_map_is_vectorised():
    rng = np.random.default_rng(5)
    truth = np.zeros((2000, 2000), bool)
    truth[500:1200, 300:900] = True
    heat = np.clip(0.3 * truth + 0.7 * rng.random(truth.shape), 0, 1).astype(np.float32)
    best = M.f1_best(heat, truth, permute=True)  # ~4 M distinct values, one sort
    assert 0 < best.f1 <= 1
    assert M.f1_fixed(heat, truth, best.threshold) == pytest.approx(best.f1, abs=TOL)
