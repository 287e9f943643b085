"""Forgery-localisation and detection metrics, each with an explicit protocol.

Published numbers for the same detector disagree mostly because of how they
were scored: F1 at 0.5 or at a per-image oracle threshold, with or without
the inverted map, on fake images only or on all images, averaged per image or
pooled over all pixels, with or without a band around the mask border left
out. Every function here states which of these choices it makes, and
:data:`PROTOCOLS` names each benchmark column with all of them spelled out.

Conventions shared by all pixel-level functions
-----------------------------------------------
* ``heat`` is a finite float map, higher = more likely manipulated (nominally
  in [0, 1]); ``truth`` is a boolean mask, ``True`` = manipulated. A 0/1
  integer array is accepted for ``truth``; anything else must go through
  :func:`load_mask`. ``heat`` and ``truth`` must have the same shape (use
  :func:`align` first).
* ``ignore`` (optional, boolean, same shape) marks pixels that are left out
  of every count, every threshold candidate and every rank.
* A pixel is predicted manipulated when ``heat > threshold`` (strictly), as
  in TruFor's ``metrics.py`` and IMDL-BenCo.
* ``permute=True`` scores ``max(metric(pred), metric(~pred))``: the metric of
  the binary prediction and of its complement, with the same truth. This is
  TruFor's ``max(F1(map), F1(1 - map))``; it equals evaluating ``1 - heat``
  at ``1 - threshold`` except for pixels lying exactly on the threshold. For
  MCC it is ``|MCC|``; for AUC it is ``max(AUC, 1 - AUC)``.
* Empty truth. F1, IoU and MCC measure how well a manipulated region is
  found; when the scored truth has no positive pixel (an authentic image, or
  a region entirely removed by ``ignore``) they are undefined. The keyword
  ``empty_truth`` chooses what to return then:

  - ``"nan"`` (default): NaN whatever the prediction. Aggregates skip NaNs
    and report how many images they skipped.
  - ``"perfect"``: 1.0 when nothing is predicted, 0.0 otherwise.
  - ``"zero"``: the formula with 0/0 read as 0, i.e. always 0.0. This is
    what TruFor (``max(denominator, 1e-32)``), IMDL-BenCo (``+ eps``) and
    scikit-learn (``zero_division=0``) effectively give.

  Apart from the empty truth, a zero denominator gives 0.0 (MCC when the
  prediction is constant or the truth is all positive, as scikit-learn and
  TruFor do). When every pixel is ignored the result is NaN.
* Pixel ROC AUC is undefined (NaN) when the scored pixels hold one class
  only.

Image-level functions take a score per image and a 0/1 label per image
(1 = manipulated or generated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np

__all__ = [
    "BestF1",
    "MetricSuite",
    "PROTOCOLS",
    "PixelAccumulator",
    "Protocol",
    "align",
    "average_precision",
    "balanced_accuracy",
    "border_ignore",
    "confusion",
    "f1_best",
    "f1_fixed",
    "f1_from_counts",
    "image_auc",
    "iou",
    "iou_from_counts",
    "load_mask",
    "mcc",
    "mcc_from_counts",
    "pixel_auc",
    "tpr_at_fpr",
]

EmptyTruth = Literal["nan", "perfect", "zero"]
_EMPTY_TRUTH = ("nan", "perfect", "zero")


# --------------------------------------------------------------------------- #
# input checks
# --------------------------------------------------------------------------- #


def _as_mask(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iuf" and arr.size and np.all((arr == 0) | (arr == 1)):
        return arr.astype(bool)
    if arr.dtype.kind in "iuf" and arr.size == 0:
        return arr.astype(bool)
    raise ValueError(
        f"{name} must be a boolean mask (or 0/1 values); use load_mask() to "
        "binarise a grey-level mask with an explicit convention"
    )


def _as_heat(a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("heat must be finite (no NaN or inf)")
    return arr


def _check_empty_truth(empty_truth: str) -> None:
    if empty_truth not in _EMPTY_TRUTH:
        raise ValueError(f"empty_truth must be one of {_EMPTY_TRUTH}, got {empty_truth!r}")


def _scored(
    heat: Any, truth: Any, ignore: Any | None
) -> tuple[np.ndarray, np.ndarray]:
    """Flat heat values and truth of the scored (not ignored) pixels."""
    h = _as_heat(heat)
    t = _as_mask(truth, "truth")
    if h.shape != t.shape:
        raise ValueError(
            f"heat shape {h.shape} differs from truth shape {t.shape}; use align()"
        )
    if ignore is None:
        return h.ravel(), t.ravel()
    ig = _as_mask(ignore, "ignore")
    if ig.shape != t.shape:
        raise ValueError(f"ignore shape {ig.shape} differs from truth shape {t.shape}")
    keep = ~ig.ravel()
    return h.ravel()[keep], t.ravel()[keep]


# --------------------------------------------------------------------------- #
# counts -> metric
# --------------------------------------------------------------------------- #


def _from_counts(
    num: np.ndarray,
    den: np.ndarray,
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    n: np.ndarray,
    empty_truth: str,
) -> np.ndarray:
    """num/den with 0/0 -> 0, then the empty-truth convention; NaN if n == 0."""
    _check_empty_truth(empty_truth)
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    empty = (np.asarray(tp) + np.asarray(fn)) == 0
    if empty_truth == "nan":
        out = np.where(empty, np.nan, out)
    elif empty_truth == "perfect":
        out = np.where(empty, np.where(np.asarray(fp) == 0, 1.0, 0.0), out)
    # "zero": the formula already gives 0 (tp = 0) for an empty truth
    return np.where(np.asarray(n) == 0, np.nan, out)


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def f1_from_counts(tp, fp, fn, tn=None, *, empty_truth: EmptyTruth = "nan"):
    """F1 = 2 TP / (2 TP + FP + FN) from confusion counts.

    Parameters
    ----------
    tp, fp, fn : int or array_like
        Confusion counts (broadcast together).
    tn : int or array_like, optional
        Only tells a scored set with no pixel at all (all four counts 0:
        NaN) from an empty truth; when omitted the set is taken as
        non-empty.
    empty_truth : {"nan", "perfect", "zero"}
        Value when ``tp + fn == 0``; see the module docstring.

    Returns
    -------
    float or numpy.ndarray
    """
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    n = 1.0 if tn is None else tp + fp + fn + np.asarray(tn, dtype=np.float64)
    out = _from_counts(2 * tp, 2 * tp + fp + fn, tp, fp, fn, n, empty_truth)
    return _scalar(out)


def iou_from_counts(tp, fp, fn, tn=None, *, empty_truth: EmptyTruth = "nan"):
    """IoU (Jaccard index) = TP / (TP + FP + FN) from confusion counts.

    Parameters and conventions as in :func:`f1_from_counts`.
    """
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    n = 1.0 if tn is None else tp + fp + fn + np.asarray(tn, dtype=np.float64)
    out = _from_counts(tp, tp + fp + fn, tp, fp, fn, n, empty_truth)
    return _scalar(out)


def mcc_from_counts(tp, fp, fn, tn, *, empty_truth: EmptyTruth = "nan"):
    """Matthews correlation coefficient from confusion counts.

    ``(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``. A zero
    denominator gives 0.0 (scikit-learn's convention), except that an empty
    truth (``tp + fn == 0``) follows ``empty_truth`` (see the module
    docstring; ``"perfect"`` gives 1.0 when nothing is predicted).
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    num = tp * tn - fp * fn
    den = np.sqrt(tp + fp) * np.sqrt(tp + fn) * np.sqrt(tn + fp) * np.sqrt(tn + fn)
    out = _from_counts(num, den, tp, fp, fn, tp + fp + fn + tn, empty_truth)
    return _scalar(out)


# --------------------------------------------------------------------------- #
# pixel level
# --------------------------------------------------------------------------- #


def confusion(pred_bool: Any, truth_bool: Any, ignore: Any | None = None) -> tuple[int, int, int, int]:
    """Confusion counts of a binary prediction against a binary truth.

    Parameters
    ----------
    pred_bool, truth_bool : array_like of bool, same shape
        Predicted and true masks, ``True`` = manipulated.
    ignore : array_like of bool, optional
        Pixels left out of all four counts.

    Returns
    -------
    (tp, fp, fn, tn) : tuple of int
    """
    p = _as_mask(pred_bool, "pred_bool")
    t = _as_mask(truth_bool, "truth_bool")
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from truth shape {t.shape}")
    if ignore is not None:
        ig = _as_mask(ignore, "ignore")
        if ig.shape != t.shape:
            raise ValueError(f"ignore shape {ig.shape} differs from truth shape {t.shape}")
        keep = ~ig
        p, t = p[keep], t[keep]
    n = int(p.size)
    n_pos = int(np.count_nonzero(t))
    n_pred = int(np.count_nonzero(p))
    tp = int(np.count_nonzero(p & t))
    fp = n_pred - tp
    fn = n_pos - tp
    return tp, fp, fn, n - tp - fp - fn


def _counts_at(heat, truth, threshold, ignore) -> tuple[int, int, int, int]:
    h, t = _scored(heat, truth, ignore)
    return confusion(h > threshold, t)


def _permuted(metric: Callable[..., Any], counts: tuple[int, int, int, int], permute: bool, **kw) -> float:
    tp, fp, fn, tn = counts
    value = metric(tp, fp, fn, tn, **kw)
    if not permute:
        return value
    # complement of the prediction: TP<->FN, FP<->TN
    inv = metric(fn, tn, tp, fp, **kw)
    return float(np.fmax(value, inv)) if not (np.isnan(value) and np.isnan(inv)) else float("nan")


def f1_fixed(
    heat: Any,
    truth: Any,
    threshold: float = 0.5,
    ignore: Any | None = None,
    *,
    permute: bool = False,
    empty_truth: EmptyTruth = "nan",
) -> float:
    """Pixel F1 at a fixed threshold.

    Protocol: pixels with ``heat > threshold`` are predicted manipulated;
    ignored pixels are dropped; F1 = 2TP / (2TP + FP + FN). With
    ``permute=True``, ``max(F1(pred), F1(~pred))`` (TruFor's "F1-fixed" when
    combined with :func:`border_ignore`; IMDL-BenCo's "permute F1").

    Parameters
    ----------
    heat : array_like of float, shape (H, W)
    truth : array_like of bool, shape (H, W)
    threshold : float
    ignore : array_like of bool, shape (H, W), optional
    permute : bool
    empty_truth : {"nan", "perfect", "zero"}
        See the module docstring.

    Returns
    -------
    float
    """
    counts = _counts_at(heat, truth, threshold, ignore)
    return _permuted(f1_from_counts, counts, permute, empty_truth=empty_truth)


def mcc(
    heat: Any,
    truth: Any,
    threshold: float = 0.5,
    ignore: Any | None = None,
    *,
    permute: bool = False,
    empty_truth: EmptyTruth = "nan",
) -> float:
    """Pixel Matthews correlation coefficient at a fixed threshold.

    Protocol as :func:`f1_fixed` (``heat > threshold``, ignored pixels
    dropped). A constant prediction gives 0.0; ``permute=True`` gives
    ``|MCC|``; an empty truth follows ``empty_truth``.
    """
    counts = _counts_at(heat, truth, threshold, ignore)
    return _permuted(mcc_from_counts, counts, permute, empty_truth=empty_truth)


def iou(
    heat: Any,
    truth: Any,
    threshold: float = 0.5,
    ignore: Any | None = None,
    *,
    permute: bool = False,
    empty_truth: EmptyTruth = "nan",
) -> float:
    """Pixel intersection over union (Jaccard) at a fixed threshold.

    Protocol as :func:`f1_fixed`: IoU = TP / (TP + FP + FN) with
    ``heat > threshold`` predicted manipulated.
    """
    counts = _counts_at(heat, truth, threshold, ignore)
    return _permuted(iou_from_counts, counts, permute, empty_truth=empty_truth)


class _Ranked(NamedTuple):
    """Scored values grouped by distinct value, ascending."""

    values: np.ndarray  # distinct values, ascending
    pos_le: np.ndarray  # positives with value <= values[g]
    neg_le: np.ndarray  # negatives with value <= values[g]
    n_pos: int
    n_neg: int


def _rank(values: np.ndarray, labels: np.ndarray) -> _Ranked:
    """One sort; cumulative class counts at the end of each tie group."""
    values = np.asarray(values, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    if values.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Ranked(np.zeros(0), empty, empty, 0, 0)
    order = np.argsort(values, kind="quicksort")
    v = values[order]
    last = np.flatnonzero(np.r_[v[1:] != v[:-1], True])
    pos_le = np.cumsum(labels[order], dtype=np.int64)[last]
    neg_le = (last + 1) - pos_le
    return _Ranked(v[last], pos_le, neg_le, int(pos_le[-1]), int(neg_le[-1]))


def _auc_from_groups(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC from per-group class counts in ascending score order.

    Ties count one half (equivalent to the Mann-Whitney statistic with
    averaged ranks). NaN when a class is absent.
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


def _auc_ranked(r: _Ranked) -> float:
    pos = np.diff(r.pos_le, prepend=0)
    neg = np.diff(r.neg_le, prepend=0)
    return _auc_from_groups(pos, neg)


def pixel_auc(heat: Any, truth: Any, ignore: Any | None = None, *, permute: bool = False) -> float:
    """Pixel ROC AUC of one map, exact.

    Protocol: the Mann-Whitney statistic over the scored (not ignored)
    pixels, i.e. the probability that a random manipulated pixel scores
    higher than a random pristine one, ties counting one half (averaged
    ranks; identical to ``sklearn.metrics.roc_auc_score``). NaN when the
    scored pixels hold one class only. ``permute=True`` gives
    ``max(AUC, 1 - AUC)``.
    """
    h, t = _scored(heat, truth, ignore)
    auc = _auc_ranked(_rank(h, t))
    return max(auc, 1.0 - auc) if permute and not np.isnan(auc) else auc


class BestF1(NamedTuple):
    """Result of :func:`f1_best`.

    Attributes
    ----------
    f1 : float
        The best F1.
    threshold : float
        The threshold achieving it: prediction ``heat > threshold`` or, when
        ``inverted``, ``heat <= threshold``. ``-inf`` means "every pixel" (or,
        inverted, "no pixel"). NaN when the F1 is NaN.
    inverted : bool
        True when the complemented prediction won (only with ``permute``).
    """

    f1: float
    threshold: float
    inverted: bool


def _best_f1_pair(r: _Ranked, empty_truth: str) -> tuple[BestF1, BestF1]:
    """(direct, permuted) oracle F1 from one ranking."""
    nan = BestF1(float("nan"), float("nan"), False)
    if r.n_pos + r.n_neg == 0:
        return nan, nan
    # candidate thresholds: -inf, then every distinct scored value
    thr = np.r_[-np.inf, r.values]
    fn = np.r_[0, r.pos_le]  # heat <= thr
    tn = np.r_[0, r.neg_le]
    tp = r.n_pos - fn  # heat > thr
    fp = r.n_neg - tn
    f1 = np.asarray(f1_from_counts(tp, fp, fn, tn, empty_truth=empty_truth))
    if np.all(np.isnan(f1)):  # empty truth under "nan": the complement is empty too
        return nan, nan
    # ties: the largest threshold (fewest predicted pixels)
    i = len(f1) - 1 - int(np.nanargmax(f1[::-1]))
    direct = BestF1(float(f1[i]), float(thr[i]), False)
    # complement heat <= thr: TP<->FN, FP<->TN; ties: the smallest threshold
    f1i = np.asarray(f1_from_counts(fn, tn, tp, fp, empty_truth=empty_truth))
    j = int(np.nanargmax(f1i))
    permuted = BestF1(float(f1i[j]), float(thr[j]), True) if f1i[j] > direct.f1 else direct
    return direct, permuted


def f1_best(
    heat: Any,
    truth: Any,
    ignore: Any | None = None,
    *,
    permute: bool = False,
    empty_truth: EmptyTruth = "nan",
) -> BestF1:
    """Pixel F1 at the per-image oracle threshold.

    Protocol: candidate predictions are ``heat > t`` for ``t`` = ``-inf``
    (every pixel) and every distinct heat value of the scored pixels (the
    largest gives "no pixel"), which covers every distinct binarisation of
    the map. The F1 of all candidates is computed from one sort of the
    scored pixels (O(n log n), no loop over thresholds). With
    ``permute=True`` the complement ``heat <= t`` of each candidate is
    scored too; this is exactly TruFor's "F1-best" (with
    :func:`border_ignore`). Without ``permute`` the "every pixel" candidate
    is one TruFor does not try.

    Ties: the largest threshold reaching the best F1 (fewest predicted
    pixels); for an inverted winner, the smallest. The direct orientation
    wins a tie with the inverted one.

    Parameters
    ----------
    heat, truth, ignore : see :func:`f1_fixed`
    permute : bool
    empty_truth : {"nan", "perfect", "zero"}
        With ``"perfect"`` an empty truth gives 1.0 (the "no pixel"
        candidate); with ``"zero"``, 0.0.

    Returns
    -------
    BestF1
        ``(f1, threshold, inverted)``; ``f1_fixed(heat, truth, threshold)``
        reproduces ``f1`` when not inverted.
    """
    _check_empty_truth(empty_truth)
    h, t = _scored(heat, truth, ignore)
    direct, permuted = _best_f1_pair(_rank(h, t), empty_truth)
    return permuted if permute else direct


def border_ignore(truth: Any, erode: int = 15, dilate: int = 11) -> np.ndarray:
    """Pixels near the mask border that TruFor leaves out of its scores.

    Protocol (TruFor ``extractGTs``): a manipulated pixel is scored only if
    the ``erode`` x ``erode`` square window centred on it is all manipulated
    (``scipy.ndimage.minimum_filter``); a pristine pixel is scored only if
    the ``dilate`` x ``dilate`` window centred on it holds no manipulated
    pixel (``maximum_filter``). So manipulated pixels within Chebyshev
    distance ``erode // 2`` of a pristine one, and pristine pixels within
    ``dilate // 2`` of a manipulated one, are ignored. Windows extend past
    the image edge by reflection (scipy's default ``mode="reflect"``), so
    the image edge itself creates no band. For an even side the window
    spans one more pixel above/left of the centre than below/right (scipy's
    convention). A side of 0 or 1 disables that half of the band.

    Parameters
    ----------
    truth : array_like of bool, shape (H, W)
    erode : int
        Side of the square minimum filter applied to the manipulated set.
    dilate : int
        Side of the square maximum filter applied to the manipulated set
        (the pristine set keeps the complement).

    Returns
    -------
    numpy.ndarray of bool, shape (H, W)
        ``True`` where the pixel is ignored; pass it as ``ignore``.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    t = _as_mask(truth, "truth")
    if erode < 0 or dilate < 0:
        raise ValueError("erode and dilate must be >= 0")
    kept_pos = minimum_filter(t, size=max(int(erode), 1)) if erode > 1 else t
    grown = maximum_filter(t, size=max(int(dilate), 1)) if dilate > 1 else t
    kept_neg = ~grown
    return ~(kept_pos | kept_neg)


# --------------------------------------------------------------------------- #
# aggregation
# --------------------------------------------------------------------------- #

_PIXEL_METRICS = ("f1", "f1_best", "mcc", "iou", "auc")
_COUNT_METRICS = {"f1": f1_from_counts, "mcc": mcc_from_counts, "iou": iou_from_counts}


class PixelAccumulator:
    """Per-image pixel scores and pooled counts over a data set.

    Which images count: by default fake images only (TruFor, IMDL-BenCo,
    PhotoHolmes); an image is fake when ``is_fake`` says so or, if it is not
    given, when its truth has any manipulated pixel. Authentic images are
    skipped (``n_skipped``) unless ``include_authentic=True``; then they
    enter the pooled counts (their false positives count) and the per-image
    values, where their F1/IoU/MCC follow ``empty_truth`` (NaN by default,
    so they then change only the pooled numbers) and their AUC is NaN.

    Aggregations
    ------------
    * ``per_image_mean(metric)``: the mean over counted images of the
      per-image value, NaNs (undefined images) skipped; ``n_defined`` says
      how many entered. NaN when none did.
    * ``pooled(metric)``: F1, MCC and IoU from the confusion counts summed
      over all counted images (at ``threshold``). AUC over all scored pixels
      of all counted images, computed from class histograms of the heat
      with ``auc_bins`` equal bins on [0, 1] (values outside are clipped
      into the end bins): it is the exact AUC of the binned scores, pixels
      in one bin counting as ties. It is exact whenever distinct heat
      values never share a bin (e.g. 8-bit maps k/255 with >= 256 bins) and
      otherwise differs from the exact AUC by at most half the fraction of
      (manipulated, pristine) pixel pairs that share a bin. There is no
      pooled F1-best.
    * ``permute=True``: per image, as in :func:`f1_fixed` etc. Pooled, one
      orientation for the whole data set: ``max(metric(summed counts),
      metric(summed counts of the complemented predictions))``, and
      ``max(AUC, 1 - AUC)``.

    Parameters
    ----------
    threshold : float
        Fixed threshold for F1, MCC and IoU (``heat > threshold``).
    border : (int, int) or None
        ``(erode, dilate)`` for :func:`border_ignore`, applied to every image
        and combined (or) with the ``ignore`` passed to :meth:`add`. None: no
        band.
    include_authentic : bool
    empty_truth : {"nan", "perfect", "zero"}
    auc_bins : int
        Histogram bins for the pooled AUC (>= 1000 recommended).
    rank_metrics : bool
        Compute the per-image F1-best and AUC (one sort per image). Turn off
        when only fixed-threshold and pooled numbers are needed.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        *,
        border: tuple[int, int] | None = None,
        include_authentic: bool = False,
        empty_truth: EmptyTruth = "nan",
        auc_bins: int = 10_000,
        rank_metrics: bool = True,
    ) -> None:
        _check_empty_truth(empty_truth)
        if auc_bins < 1:
            raise ValueError("auc_bins must be >= 1")
        self.threshold = float(threshold)
        self.border = border
        self.include_authentic = include_authentic
        self.empty_truth = empty_truth
        self.auc_bins = int(auc_bins)
        self.rank_metrics = rank_metrics
        self._counts: list[tuple[int, int, int, int]] = []
        self._best: list[float] = []
        self._best_perm: list[float] = []
        self._auc: list[float] = []
        self._hist_pos = np.zeros(self.auc_bins, dtype=np.int64)
        self._hist_neg = np.zeros(self.auc_bins, dtype=np.int64)
        self.n_skipped = 0

    @property
    def n_images(self) -> int:
        """Number of images counted."""
        return len(self._counts)

    def add(self, heat: Any, truth: Any, ignore: Any | None = None, *, is_fake: bool | None = None) -> bool:
        """Score one image; return whether it was counted.

        Parameters
        ----------
        heat, truth, ignore : see :func:`f1_fixed`
        is_fake : bool, optional
            The image's label; inferred from ``truth.any()`` when None.
        """
        t = _as_mask(truth, "truth")
        fake = bool(t.any()) if is_fake is None else bool(is_fake)
        if not fake and not self.include_authentic:
            self.n_skipped += 1
            return False
        ig = None if ignore is None else _as_mask(ignore, "ignore")
        if self.border is not None:
            band = border_ignore(t, *self.border)
            ig = band if ig is None else (ig | band)
        h, tt = _scored(heat, t, ig)
        self._counts.append(confusion(h > self.threshold, tt))
        if self.rank_metrics:
            r = _rank(h, tt)
            direct, permuted = _best_f1_pair(r, self.empty_truth)
            self._best.append(direct.f1)
            self._best_perm.append(permuted.f1)
            self._auc.append(_auc_ranked(r))
        b = np.clip(np.floor(h * self.auc_bins), 0, self.auc_bins - 1).astype(np.intp)
        self._hist_pos += np.bincount(b[tt], minlength=self.auc_bins)
        self._hist_neg += np.bincount(b[~tt], minlength=self.auc_bins)
        return True

    def per_image(self, metric: str, *, permute: bool = False) -> np.ndarray:
        """Per-image values of ``metric`` (one of f1, f1_best, mcc, iou, auc)."""
        if metric not in _PIXEL_METRICS:
            raise ValueError(f"metric must be one of {_PIXEL_METRICS}, got {metric!r}")
        if metric in _COUNT_METRICS:
            fn = _COUNT_METRICS[metric]
            c = np.asarray(self._counts, dtype=np.float64).reshape(-1, 4)
            tp, fp, fnn, tn = c.T
            v = np.asarray(fn(tp, fp, fnn, tn, empty_truth=self.empty_truth), dtype=np.float64)
            if permute:
                vi = np.asarray(fn(fnn, tn, tp, fp, empty_truth=self.empty_truth), dtype=np.float64)
                with np.errstate(invalid="ignore"):
                    v = np.fmax(v, vi)
            return v.reshape(-1)
        if not self.rank_metrics:
            raise ValueError("per-image f1_best and auc need rank_metrics=True")
        if metric == "f1_best":
            return np.asarray(self._best_perm if permute else self._best, dtype=np.float64)
        a = np.asarray(self._auc, dtype=np.float64)
        return np.fmax(a, 1.0 - a) if permute else a

    def n_defined(self, metric: str, *, permute: bool = False) -> int:
        """Number of counted images where ``metric`` is defined (not NaN)."""
        return int(np.count_nonzero(~np.isnan(self.per_image(metric, permute=permute))))

    def per_image_mean(self, metric: str, *, permute: bool = False) -> float:
        """Mean of the per-image values over images where they are defined."""
        v = self.per_image(metric, permute=permute)
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    def pooled(self, metric: str, *, permute: bool = False) -> float:
        """Metric over all counted pixels (summed counts; binned AUC)."""
        if metric == "auc":
            auc = _auc_from_groups(self._hist_pos, self._hist_neg)
            return max(auc, 1.0 - auc) if permute and not np.isnan(auc) else auc
        if metric not in _COUNT_METRICS:
            raise ValueError("pooled metric must be one of f1, mcc, iou, auc")
        c = np.asarray(self._counts, dtype=np.int64).reshape(-1, 4).sum(axis=0)
        return _permuted(_COUNT_METRICS[metric], tuple(int(x) for x in c), permute, empty_truth=self.empty_truth)


# --------------------------------------------------------------------------- #
# image level
# --------------------------------------------------------------------------- #


def _image_inputs(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    lab = np.asarray(labels).ravel()
    if s.shape != lab.shape:
        raise ValueError(f"{s.size} scores but {lab.size} labels")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; decide how to count those images first")
    if lab.dtype != bool:
        if lab.size and not np.all((lab == 0) | (lab == 1)):
            raise ValueError("labels must be 0/1 (1 = manipulated)")
        lab = lab.astype(bool)
    return s, lab


def image_auc(scores: Any, labels: Any) -> float:
    """Image-level ROC AUC (detection).

    Protocol: Mann-Whitney statistic, ties counting one half (as
    ``sklearn.metrics.roc_auc_score``). NaN when only one class is present.
    Scores may be any real numbers (including inf), not NaN.
    """
    s, lab = _image_inputs(scores, labels)
    return _auc_ranked(_rank(s, lab))


def _descending_ops(s: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(thresholds, TP, FP) for ``score >= t`` at every distinct score, descending."""
    r = _rank(s, lab)
    tp = r.n_pos - np.r_[0, r.pos_le[:-1]]
    fp = r.n_neg - np.r_[0, r.neg_le[:-1]]
    return r.values[::-1], tp[::-1], fp[::-1], r.n_pos, r.n_neg


def average_precision(scores: Any, labels: Any) -> float:
    """Image-level average precision, as scikit-learn defines it.

    Protocol: ``AP = sum_k (R_k - R_{k-1}) P_k`` over the operating points
    ``score >= t`` for every distinct score ``t`` taken in decreasing order
    (tied scores enter together), with ``R_0 = 0``: a step-wise sum, no
    interpolation. NaN when there is no manipulated image (scikit-learn
    then warns and returns 0).
    """
    s, lab = _image_inputs(scores, labels)
    _, tp, fp, n_pos, _ = _descending_ops(s, lab)
    if n_pos == 0:
        return float("nan")
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def balanced_accuracy(scores: Any, labels: Any, threshold: float = 0.5) -> float:
    """Image-level balanced accuracy at a fixed threshold.

    Protocol: an image is called manipulated when ``score > threshold``
    (TruFor: ``scores > 0.5``); bACC = (TPR + TNR) / 2. NaN when a class is
    absent (scikit-learn instead averages over the classes present).
    """
    s, lab = _image_inputs(scores, labels)
    if lab.all() or not lab.any():
        return float("nan")
    pred = s > threshold
    return float(0.5 * (pred[lab].mean() + (~pred[~lab]).mean()))


def tpr_at_fpr(scores: Any, labels: Any, fpr: float = 0.05) -> float:
    """Image-level true-positive rate at a false-positive-rate budget.

    Protocol (Zampoglou et al. report TPR at FPR 0.05): the largest TPR
    among the operating points ``score >= t``, ``t`` running over the
    distinct scores plus ``+inf`` (nothing flagged), whose FPR is at most
    ``fpr`` (compared as ``FP <= fpr * n_negatives + 1e-9``). No
    interpolation between points: the value is read off the empirical ROC
    curve (``sklearn.metrics.roc_curve`` with ``drop_intermediate=False``).
    NaN when a class is absent.
    """
    s, lab = _image_inputs(scores, labels)
    _, tp, fp, n_pos, n_neg = _descending_ops(s, lab)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ok = fp <= fpr * n_neg + 1e-9
    best = int(tp[ok].max()) if ok.any() else 0
    return best / n_pos


# --------------------------------------------------------------------------- #
# masks and alignment
# --------------------------------------------------------------------------- #


def _to_grey(arr: np.ndarray) -> np.ndarray:
    """Grey level on a 0-255 scale from a mask array of any common layout."""
    if arr.dtype == bool:
        arr = arr.astype(np.float64) * 255.0
    elif arr.dtype.kind == "f":
        if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
            raise ValueError("a float mask must hold values in [0, 1]")
        arr = arr.astype(np.float64) * 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float64) / 257.0
    elif arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError("an integer mask must hold values in [0, 255] (or be uint16)")
        arr = arr.astype(np.float64)
    else:
        raise ValueError(f"unsupported mask dtype {arr.dtype}")
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):  # grey+alpha, RGBA: drop alpha
            arr = arr[..., :-1]
        if arr.shape[2] == 3:
            # ITU-R 601-2 luma, as PIL's convert("L")
            arr = arr @ np.array([0.299, 0.587, 0.114])
        elif arr.shape[2] == 1:
            arr = arr[..., 0]
        else:
            raise ValueError(f"unsupported mask shape {arr.shape}")
    if arr.ndim != 2:
        raise ValueError(f"a mask must be 2-D (or H x W x C), got shape {arr.shape}")
    return arr


def load_mask(
    path_or_array: str | PathLike[str] | np.ndarray,
    convention: Literal["white-tampered", "black-tampered"] = "white-tampered",
    threshold: float = 127,
) -> np.ndarray:
    """Read a ground-truth mask as a boolean array, ``True`` = manipulated.

    The mask is brought to a 0-255 grey level: files through Pillow
    (``convert("L")``, 16-bit files divided by 257); arrays as they are
    when integer, times 255 when float in [0, 1] or bool; colour by ITU-R
    601-2 luma; an alpha channel is dropped. Then, with
    ``"white-tampered"`` (tamperscope's and most data sets' convention),
    manipulated = ``grey > threshold``; with ``"black-tampered"`` (e.g.
    DSO-1), manipulated = ``grey <= threshold``, the exact complement.

    Parameters
    ----------
    path_or_array : path or numpy.ndarray
    convention : {"white-tampered", "black-tampered"}
    threshold : float

    Returns
    -------
    numpy.ndarray of bool, shape (H, W)
    """
    if convention not in ("white-tampered", "black-tampered"):
        raise ValueError(f"unknown mask convention {convention!r}")
    if isinstance(path_or_array, np.ndarray):
        grey = _to_grey(path_or_array)
    else:
        from PIL import Image as PILImage

        with PILImage.open(path_or_array) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                grey = np.asarray(im, dtype=np.uint16).astype(np.float64) / 257.0
            elif im.mode in ("I", "F"):
                grey = _to_grey(np.asarray(im))
            else:
                grey = np.asarray(im.convert("L"), dtype=np.float64)
    white = grey > threshold
    return white if convention == "white-tampered" else ~white


def align(heat: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Resize a map to a mask's size by nearest neighbour (Zampoglou).

    Output pixel ``(i, j)`` takes input pixel
    ``(floor((i + 0.5) * h_in / h_out), floor((j + 0.5) * w_in / w_out))``,
    i.e. pixel centres are matched, as MATLAB's ``imresize(..., "nearest")``
    does (OpenCV's ``INTER_NEAREST`` uses ``floor(i * h_in / h_out)``
    instead and shifts the map). Returns a float64 copy, unchanged when the
    shapes already agree.

    Parameters
    ----------
    heat : array_like, shape (h_in, w_in)
    shape : tuple
        Target shape; only the first two entries are used.
    """
    h = np.asarray(heat, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"heat must be 2-D, got shape {h.shape}")
    h_out, w_out = int(shape[0]), int(shape[1])
    if (h_out, w_out) == h.shape:
        return h.copy()
    if h.size == 0 or h_out <= 0 or w_out <= 0:
        raise ValueError("cannot resize an empty map or to an empty shape")
    rows = np.minimum(((np.arange(h_out) + 0.5) * h.shape[0] / h_out).astype(np.intp), h.shape[0] - 1)
    cols = np.minimum(((np.arange(w_out) + 0.5) * h.shape[1] / w_out).astype(np.intp), h.shape[1] - 1)
    return h[np.ix_(rows, cols)]


# --------------------------------------------------------------------------- #
# named protocols
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Protocol:
    """One benchmark column, with every scoring choice named.

    Attributes
    ----------
    id : str
        Column label.
    description : str
        What is computed, on which images, how averaged.
    level : {"pixel", "image"}
    metric : str
        Pixel: one of f1, f1_best, mcc, iou, auc (see
        :class:`PixelAccumulator`). Image: auc, ap, bacc, tpr_at_fpr.
    aggregation : {"per-image mean", "pooled", "data set"}
    function : callable
        The function that scores one image (pixel level) or the data set
        (image level); ``options`` holds its keyword arguments where they
        apply.
    options : mapping
        Pixel level: threshold, permute, border, include_authentic,
        empty_truth. Image level: threshold or fpr where relevant.
    """

    id: str
    description: str
    level: Literal["pixel", "image"]
    metric: str
    aggregation: Literal["per-image mean", "pooled", "data set"]
    function: Callable[..., Any]
    options: Mapping[str, Any] = field(default_factory=dict)

    def accumulator_key(self) -> tuple:
        """Options that decide which :class:`PixelAccumulator` serves this column."""
        o = self.options
        return (
            float(o.get("threshold", 0.5)),
            o.get("border"),
            bool(o.get("include_authentic", False)),
            o.get("empty_truth", "nan"),
        )


_FAKES = "fake images only"
_TRUFOR = (15, 11)


def _pixel(pid, desc, metric, aggregation, function, **options) -> Protocol:
    opts = {"threshold": 0.5, "permute": False, "border": None, "include_authentic": False, "empty_truth": "nan"}
    opts.update(options)
    return Protocol(pid, desc, "pixel", metric, aggregation, function, MappingProxyType(opts))


_PROTOCOL_LIST = [
    _pixel("pixel-F1@0.5", f"pixel F1, heat > 0.5, {_FAKES}, per-image mean; no border band, not permuted "
           "(MVSS-Net / IMDL-BenCo)", "f1", "per-image mean", f1_fixed),
    _pixel("pixel-F1@0.5-pooled", f"pixel F1, heat > 0.5, {_FAKES}, from confusion counts summed over all "
           "images; no border band, not permuted", "f1", "pooled", f1_fixed),
    _pixel("pixel-F1-best", f"pixel F1 at each image's oracle threshold, {_FAKES}, per-image mean; no border "
           "band, not permuted", "f1_best", "per-image mean", f1_best),
    _pixel("pixel-F1-permuted@0.5", f"pixel max(F1(heat > 0.5), F1(heat <= 0.5)), {_FAKES}, per-image mean; "
           "no border band (IMDL-BenCo permute F1)", "f1", "per-image mean", f1_fixed, permute=True),
    _pixel("pixel-F1-fixed-TruFor", f"pixel max(F1(heat > 0.5), F1(heat <= 0.5)), {_FAKES}, per-image mean; "
           "pixels within the TruFor border band ignored (positives eroded 15x15, negatives dilated 11x11)",
           "f1", "per-image mean", f1_fixed, permute=True, border=_TRUFOR),
    _pixel("pixel-F1-best-TruFor", f"pixel F1 at each image's oracle threshold, permuted (max with the "
           f"complement), {_FAKES}, per-image mean; TruFor border band (15x15 / 11x11) ignored",
           "f1_best", "per-image mean", f1_best, permute=True, border=_TRUFOR),
    _pixel("pixel-MCC@0.5", f"pixel MCC, heat > 0.5, {_FAKES}, per-image mean; constant prediction = 0",
           "mcc", "per-image mean", mcc),
    _pixel("pixel-MCC@0.5-pooled", f"pixel MCC, heat > 0.5, {_FAKES}, from summed confusion counts",
           "mcc", "pooled", mcc),
    _pixel("pixel-IoU@0.5", f"pixel IoU, heat > 0.5, {_FAKES}, per-image mean", "iou", "per-image mean", iou),
    _pixel("pixel-IoU@0.5-pooled", f"pixel IoU, heat > 0.5, {_FAKES}, from summed confusion counts",
           "iou", "pooled", iou),
    _pixel("pixel-AUC", f"pixel ROC AUC (ties = 1/2), {_FAKES}, per-image mean (PhotoHolmes mAUROC)",
           "auc", "per-image mean", pixel_auc),
    _pixel("pixel-AUC-pooled", f"pixel ROC AUC over all pixels of all {_FAKES}, heat binned in 10000 equal "
           "bins on [0, 1] (exact for 8-bit maps)", "auc", "pooled", pixel_auc),
    Protocol("image-AUC", "image-level ROC AUC of the detection score, all images, ties = 1/2",
             "image", "auc", "data set", image_auc),
    Protocol("image-AP", "image-level average precision (scikit-learn's step-wise definition), all images",
             "image", "ap", "data set", average_precision),
    Protocol("image-bACC@0.5", "image-level balanced accuracy, manipulated when score > 0.5, all images (TruFor)",
             "image", "bacc", "data set", balanced_accuracy, MappingProxyType({"threshold": 0.5})),
    Protocol("image-TPR@5%FPR", "image-level TPR at the operating point with the largest TPR and FPR <= 0.05, "
             "thresholds from the scores, all images (Zampoglou)",
             "image", "tpr_at_fpr", "data set", tpr_at_fpr, MappingProxyType({"fpr": 0.05})),
]

PROTOCOLS: dict[str, Protocol] = {p.id: p for p in _PROTOCOL_LIST}
"""Every benchmark column by id. Pixel columns score fake images only."""


class MetricSuite:
    """Evaluate a set of protocols over a data set, one image at a time.

    Pixel protocols share one :class:`PixelAccumulator` per distinct
    (threshold, border, include_authentic, empty_truth); image protocols
    collect the scores and labels.

    Parameters
    ----------
    protocols : iterable of str or Protocol, optional
        Columns to compute; all of :data:`PROTOCOLS` when None.
    auc_bins : int
        Bins of the pooled pixel AUC histogram.
    """

    def __init__(self, protocols: Iterable[str | Protocol] | None = None, *, auc_bins: int = 10_000) -> None:
        chosen = PROTOCOLS.values() if protocols is None else protocols
        self.protocols: list[Protocol] = [PROTOCOLS[p] if isinstance(p, str) else p for p in chosen]
        self._acc: dict[tuple, PixelAccumulator] = {}
        for p in self.protocols:
            if p.level != "pixel":
                continue
            key = p.accumulator_key()
            ranks = p.metric in ("f1_best", "auc") and p.aggregation == "per-image mean"
            if key not in self._acc:
                thr, border, incl, empty = key
                self._acc[key] = PixelAccumulator(
                    thr, border=border, include_authentic=incl, empty_truth=empty,
                    auc_bins=auc_bins, rank_metrics=ranks,
                )
            elif ranks:
                self._acc[key].rank_metrics = True
        self._scores: list[float] = []
        self._labels: list[int] = []

    def add(
        self,
        *,
        heat: Any | None = None,
        truth: Any | None = None,
        ignore: Any | None = None,
        score: float | None = None,
        label: int | None = None,
    ) -> None:
        """Add one image: its map and mask, its score and label, or both.

        ``label`` (1 = manipulated) also decides, when given, whether the
        image is fake for the pixel protocols; otherwise ``truth.any()``.
        """
        if (heat is None) != (truth is None):
            raise ValueError("give heat and truth together")
        if heat is not None:
            is_fake = None if label is None else bool(label)
            for acc in self._acc.values():
                acc.add(heat, truth, ignore, is_fake=is_fake)
        if score is not None:
            if label is None:
                raise ValueError("an image score needs its label")
            self._scores.append(float(score))
            self._labels.append(int(label))

    def _acc_for(self, p: Protocol) -> PixelAccumulator:
        return self._acc[p.accumulator_key()]

    def results(self) -> dict[str, float]:
        """Value of every protocol, keyed by id."""
        out: dict[str, float] = {}
        for p in self.protocols:
            if p.level == "pixel":
                acc = self._acc_for(p)
                permute = bool(p.options.get("permute", False))
                if p.aggregation == "pooled":
                    out[p.id] = acc.pooled(p.metric, permute=permute)
                else:
                    out[p.id] = acc.per_image_mean(p.metric, permute=permute)
            else:
                out[p.id] = float(p.function(self._scores, self._labels, **dict(p.options)))
        return out

    def counts(self) -> dict[str, int]:
        """Number of images behind every column (defined values only, per image)."""
        out: dict[str, int] = {}
        for p in self.protocols:
            if p.level == "pixel":
                acc = self._acc_for(p)
                if p.aggregation == "pooled":
                    out[p.id] = acc.n_images
                else:
                    out[p.id] = acc.n_defined(p.metric, permute=bool(p.options.get("permute", False)))
            else:
                out[p.id] = len(self._scores)
        return out
