"""Aligned double-JPEG quantization (DQ, "ADQ1").

Z. Lin, J. He, X. Tang, C.-K. Tang, "Fast, automatic and fine-grained tampered
JPEG image detection via DCT coefficient analysis", Pattern Recognition 42(11),
2009.

A JPEG compressed twice on the same grid, first with step q1 and then with q2,
has DCT histograms whose crowded bins sit on the comb round(n q1 / q2); content
that was not quantized by q1 lacks the comb. For each of the first
``frequencies`` AC coefficients in zig-zag order:

1. histogram h of the quantized luminance coefficient over all 8x8 blocks;
2. the single-compression histogram c expected without an earlier
   compression, by calibration: the decoded luminance cropped by 4 pixels
   (which misaligns any earlier grid), block DCT, quantized by q2;
3. the primary step q1 is the candidate whose comb carries the most
   significant excess of h over c, z = sum(h - c) / sqrt(sum c) over the comb
   (zero excluded); a frequency counts as doubly quantized when z >=
   ``min_comb_z``;
4. per block with value v in the comb's period window W(v) (period
   q1 / gcd(q1, q2) bins), P(v | DQ) = e(v) / sum_W e and
   P(v | not DQ) = c(v) / sum_W c, where e = max(h - c, floor) is the comb
   component of the histogram.

The per-frequency likelihoods are multiplied (naive Bayes, as Lin et al.), and
pooled over a ``pool`` x ``pool`` neighbourhood of blocks (neighbours share a
history; a single block's few coefficients land on a comb by chance too often)
into the posterior that a block is *not* doubly quantized, median filtered 3x3.

Departures from the paper, each for a stated reason:

* Lin et al. take the period from the Fourier peak of h and model "not DQ" as
  uniform within a period. That finds periods carried by most of the image
  only; the calibrated histogram (as in Bianchi et al. 2011 and Fridrich's
  calibration) models the single-compression shape and lets the comb of a
  *minority* region stand out, and the comb search recovers q1 itself.
* ``min_comb_z`` = 8 is the per-frequency significance a comb needs. On
  authentic files (``benchmarks/false_alarms.py``, docs/accuracy.md) the
  largest z per image has a median of 4-5 but a 99th percentile of 13-16:
  the real null has heavier tails than the Poisson approximation, so combs
  alone pass by chance on some files, and the region rules of the score
  (size, and agreement with the combs' mixture weight) carry the false-alarm
  control.
* Lin et al. assume the doubly-compressed part is the authentic majority. When
  most blocks are *not* DQ-consistent (a region from a low-quality JPEG pasted
  into an image then saved at the host quality), the DQ-consistent minority
  is the region with the foreign history, so the map is inverted. Either way
  the heatmap marks the minority history; ``facts`` say which way it was read.
* The paper's image-level SVM is replaced by a training-free score: over the
  8-connected regions of cells above 0.5 (at least ``min_region_blocks``
  blocks and 0.1% of the blocks), the best mean heat times mean confidence,
  where a block's confidence is the share of the used frequencies in which
  its coefficient is not zero times the share of its pixels not clipped at 0
  or 255 (flat areas say little, and clipping breaks the comb), 3x3 averaged;
  blocks below ``min_confidence`` are left out of the map, and so are regions
  smaller than the minimum (too small to judge); 0 when no region qualifies
  or no frequency is doubly quantized. The combs' mixture weight (mean over
  the doubly-quantized frequencies, see :class:`PrimaryFit`) implies how much of the image has the minority history; a best region covering less
  than ``min_implied_fraction`` of that share scores 0, since the comb mass
  is then spread over the image, as chance matches are, not held by a region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy import ndimage

from ._jpeg import ZIGZAG, block_dct_at
from .._regions import connected_regions
from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable


@register
@dataclass
class DQ(Detector):
    """Aligned double quantization (Lin et al. 2009).

    Parameters
    ----------
    frequencies : int
        Number of AC frequencies, in zig-zag order (PhotoHolmes: 10).
    min_comb_z : float
        Significance a frequency's comb must reach to count as doubly quantized.
    min_region_blocks : int
        Smallest region, in 8x8 blocks, that can carry the image-level score.
    pool : int
        Side, in blocks, of the neighbourhood whose log-likelihoods are summed.
    min_confidence : float
        Blocks less reliable than this (see the score rule) are left out of the map.
    min_implied_fraction : float
        The scored region must cover at least this fraction of the share of
        blocks that the histograms' comb weight implies (see the score rule).
    """

    frequencies: int = 10
    min_comb_z: float = 8.0
    min_region_blocks: int = 16
    pool: int = 3
    min_confidence: float = 0.25
    min_implied_fraction: float = 0.25

    name: ClassVar[str] = "dq"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "Z. Lin, J. He, X. Tang, C.-K. Tang, 'Fast, automatic and fine-grained tampered JPEG image detection "
        "via DCT coefficient analysis', Pattern Recognition 42(11), 2009"
    )
    summary: ClassVar[str] = "DCT histogram combs left by an earlier, aligned JPEG compression"
    title: ClassVar[str] = "Double JPEG compression (DQ)"
    trace: ClassVar[str] = (
        "carries a different JPEG compression history from the rest of the image, read from its DCT coefficients"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"jpeg"})

    def analyze(self, image: Image) -> Finding:
        rows, cols = image.height // 8, image.width // 8
        if rows < 4 or cols < 4:
            raise NotApplicable(f"{image.width}x{image.height} is too small for DCT histograms (needs 32x32)")
        coefficients = image.jpeg.coefficients["Y"][:rows, :cols]
        table = image.jpeg.quant_tables["Y"]
        frequencies = ZIGZAG[1 : 1 + self.frequencies]
        # AC coefficients only: the level shift of 128 would change the DC coefficient alone.
        calibrated = block_dct_at(image.luminance()[4:, 4:], frequencies)

        log_ratio = np.zeros((rows, cols))  # log P(not DQ) - log P(DQ), summed over frequencies
        primary: dict[str, int] = {}
        dq_shares: list[float] = []
        strongest_z = 0.0
        for u, v in frequencies:
            q2 = int(table[u, v])
            values = coefficients[:, :, u, v].astype(np.int64)
            reference = np.round(calibrated[u, v] / q2).astype(np.int64)
            fit = fit_primary_step(values, reference, q2)
            strongest_z = max(strongest_z, fit.z if fit is not None else 0.0)
            if fit is not None and fit.z >= self.min_comb_z:
                primary[f"{u},{v}"] = fit.q1
                log_ratio += fit.block_log_ratio(values)
                dq_shares.append(fit.share)

        facts: dict = {
            "primary_steps": primary,
            "double_quantized_frequencies": len(primary),
            "max_comb_z": round(strongest_z, 2),
        }
        if not primary:
            notes = [
                f"No DCT histogram comb in the first {self.frequencies} AC frequencies: no trace of an earlier "
                "aligned compression."
            ]
            return Finding(score=0.0, heatmap=np.zeros((rows, cols), np.float32), stride=8, notes=notes, facts=facts)

        # Neighbouring blocks share their history: pool their evidence before deciding.
        pooled = ndimage.uniform_filter(log_ratio, size=self.pool, mode="nearest") * self.pool**2
        # Prior odds from the combs' mixture weight: the share of blocks they say were doubly quantized.
        prior_share = float(np.clip(np.mean(dq_shares), 0.01, 0.99))
        pooled += np.log((1.0 - prior_share) / prior_share)
        not_dq = 1.0 / (1.0 + np.exp(-np.clip(pooled, -50, 50)))
        not_dq = ndimage.median_filter(not_dq, size=3, mode="nearest")
        # Flat blocks (zero in every used frequency) carry no evidence, and clipped pixels
        # (0 or 255 in a channel) break the quantization model itself.
        used = [tuple(int(i) for i in key.split(",")) for key in primary]
        informative = np.mean([coefficients[:, :, u, v] != 0 for u, v in used], axis=0)
        clipped_share = _clipped_share(image.pixels, rows, cols)
        confidence = ndimage.uniform_filter(informative * (1.0 - clipped_share), size=3, mode="nearest")
        reliable = confidence >= self.min_confidence
        if not reliable.any():
            raise NotApplicable("no block has enough non-zero, unclipped coefficients to judge")
        inverted = float((not_dq[reliable] > 0.5).mean()) > 0.5
        heatmap = np.where(reliable, 1.0 - not_dq if inverted else not_dq, 0.0)
        min_blocks = max(self.min_region_blocks, int(0.001 * rows * cols))
        heatmap, score, share = _region_score(heatmap, confidence, min_blocks)
        # The histograms say what share of the image has the minority history; a region holding
        # only a sliver of it is blocks landing on the comb by chance, not a region with that history.
        implied = prior_share if inverted else 1.0 - prior_share
        consistent = share >= self.min_implied_fraction * implied
        if not consistent:
            score = 0.0

        facts.update(
            {"inverted": inverted, "region_share": round(share, 4), "implied_share": round(implied, 4)}
        )
        listed = ", ".join(f"({k}): {q}" for k, q in list(primary.items())[:5])
        notes = [
            f"An earlier compression left combs in {len(primary)} of {self.frequencies} AC frequencies "
            f"(estimated primary steps {listed})."
        ]
        if inverted:
            notes.append("Most blocks lack the comb; the doubly-quantized minority is mapped as the anomaly.")
        else:
            notes.append("Most blocks are doubly quantized; blocks that lack the comb are mapped as the anomaly.")
        if score > 0:
            notes.append(f"The strongest region with the other compression history covers {share:.1%} of the image.")
        elif share > 0 and not consistent:
            notes.append(
                f"The strongest candidate region covers {share:.1%} of the image, far less than the {implied:.0%} "
                "the histograms imply: scattered chance matches, not scored."
            )
        return Finding(score=score, heatmap=heatmap, stride=8, confidence=confidence, notes=notes, facts=facts)


def _clipped_share(pixels: np.ndarray, rows: int, cols: int, strip_blocks: int = 64) -> np.ndarray:
    """Share of the pixels of each 8x8 block with a channel at 0 or 255 (multiples of 1/64, exact)."""
    share = np.empty((rows, cols), dtype=np.float64)
    for top in range(0, rows, strip_blocks):
        count = min(strip_blocks, rows - top)
        strip = pixels[8 * top : 8 * (top + count), : cols * 8]
        unclipped = cv2.inRange(strip, (1, 1, 1), (254, 254, 254)) // 255  # 1 where no channel is clipped
        inside = cv2.resize(unclipped.astype(np.float32), (cols, count), interpolation=cv2.INTER_AREA)
        share[top : top + count] = 1.0 - inside.reshape(count, cols)
    return share


@dataclass
class PrimaryFit:
    """The comb of a primary step ``q1`` fitted to one frequency's histogram.

    ``share`` is the comb's mixture weight: if a share ``a`` of the non-zero
    values was doubly quantized (all on the comb) and the rest follows the
    calibrated histogram, the comb holds ``a + (1 - a) c`` of them, with ``c``
    the calibrated share on the comb; solved for ``a``.
    """

    q1: int
    q2: int
    z: float
    share: float
    limit: int
    histogram: np.ndarray
    reference: np.ndarray

    def block_log_ratio(self, values: np.ndarray) -> np.ndarray:
        """log P(v | not DQ) - log P(v | DQ) for each block's value."""
        L = self.limit
        comb_part = np.maximum(self.histogram - self.reference, 0.05 * self.reference + 0.5)
        single = self.reference + 0.5
        period = self.q1 // math.gcd(self.q1, self.q2)
        window = np.floor((np.arange(-L, L + 1) + period // 2) / period).astype(np.int64)
        window -= window.min()
        p_dq = comb_part / np.bincount(window, weights=comb_part)[window]
        p_single = single / np.bincount(window, weights=single)[window]
        ratio = np.log(p_single) - np.log(p_dq)
        ratio[L] = 0.0  # zero is crowded under both hypotheses
        ratio[[0, -1]] = 0.0  # the clipped tails carry no comb
        return ratio[np.clip(values, -L, L) + L]


def comb(q1: int, q2: int, limit: int) -> np.ndarray:
    """Boolean mask over values -limit..limit: where q1-then-q2 quantization lands."""
    n = np.arange(-(limit * q2 // q1) - 1, limit * q2 // q1 + 2)
    exact = n * q1 / q2
    # A half-way value is split by pixel rounding between both neighbours.
    tie = np.abs(exact - np.floor(exact) - 0.5) < 0.2
    landing = np.concatenate([np.round(exact), np.where(tie, np.floor(exact), np.round(exact)),
                              np.where(tie, np.ceil(exact), np.round(exact))]).astype(np.int64)
    landing = landing[np.abs(landing) <= limit]
    mask = np.zeros(2 * limit + 1, dtype=bool)
    mask[landing + limit] = True
    mask[limit] = False
    return mask


#: Smallest count the calibrated histogram must expect on a comb before its z is trusted: below it, a
#: sparse comb (a large step over a small image) scores high on a handful of chance coefficients.
MIN_EXPECTED_ON_COMB = 25.0


def fit_primary_step(values: np.ndarray, reference: np.ndarray, q2: int) -> PrimaryFit | None:
    """The primary step whose comb best explains the excess of ``values`` over ``reference``.

    Among the candidates within half the best significance, the one whose comb
    holds the largest share wins: a multiple of the true step has a sparser
    comb (a subset of the true one) that can be about as significant but
    explains only part of the doubly-quantized mass.
    """
    limit = int(max(16, np.quantile(np.abs(values), 0.995)))
    histogram = np.bincount((np.clip(values, -limit, limit) + limit).ravel(), minlength=2 * limit + 1).astype(float)
    expected = np.bincount((np.clip(reference, -limit, limit) + limit).ravel(), minlength=2 * limit + 1)
    expected = expected.astype(float)
    histogram[[0, -1]] = expected[[0, -1]] = 0.0
    nonzero = histogram.sum() - histogram[limit]
    expected *= nonzero / max(expected.sum() - expected[limit], 1.0)
    fits: list[PrimaryFit] = []
    for q1 in range(q2 + 1, min(255, q2 * limit // 3) + 1):
        mask = comb(q1, q2, limit)
        if mask.sum() < 2:
            continue
        on_comb, expected_on_comb = histogram[mask].sum(), expected[mask].sum()
        if expected_on_comb < MIN_EXPECTED_ON_COMB:
            continue  # too few expected counts for the normal approximation behind z
        z = float((on_comb - expected_on_comb) / np.sqrt(expected_on_comb + 1.0))
        share = float(np.clip((on_comb - expected_on_comb) / max(nonzero - expected_on_comb, 1.0), 0.0, 1.0))
        fits.append(PrimaryFit(q1, q2, z, share, limit, histogram, expected))
    if not fits:
        return None
    best = max(fits, key=lambda fit: fit.z)
    if best.z <= 0:
        return best
    return max((fit for fit in fits if fit.z >= 0.5 * best.z), key=lambda fit: (fit.share, fit.z))


def _region_score(
    heatmap: np.ndarray, confidence: np.ndarray, min_blocks: int
) -> tuple[np.ndarray, float, float]:
    """Drop regions of heat >= 0.5 smaller than ``min_blocks`` (too small to judge); of the rest,
    the best mean heat x mean confidence and its share. Returns (heatmap, score, share)."""
    regions = connected_regions(heatmap >= 0.5)
    if regions.count == 0:
        return heatmap, 0.0, 0.0
    large = regions.sizes >= min_blocks
    heatmap = np.where(regions.member(~large), 0.0, heatmap)
    strength = np.where(large, regions.mean(heatmap) * regions.mean(confidence), 0.0)
    best = int(np.argmax(strength))
    if strength[best] <= 0:
        return heatmap, 0.0, 0.0
    return heatmap, float(strength[best]), float(regions.sizes[best] / heatmap.size)
