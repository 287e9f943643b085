"""Neighbouring-pixel relationships left by 2x up-sampling (in the spirit of NPR).

C. Tan, Y. Zhao, S. Wei, G. Gu, P. Liu, Y. Wei, "Rethinking the Up-Sampling
Operations in CNN-based Generative Network for Generalizable Deepfake
Detection", CVPR 2024.

Method
------
NPR is the residual ``x - up2(down2(x))`` with nearest-neighbour resampling:
inside every 2x2 block it is the difference between each pixel and the block's
top-left pixel. A generator's up-sampling layers (nearest or bilinear
up-sampling followed by convolutions, transposed convolutions) make the pixels
of one 2x2 block more alike, or differently alike, than pixels of neighbouring
blocks. The paper feeds the residual to a ResNet trained on ProGAN images; we
ship no weights from any hub and train nothing on generated images, so we keep
the trace and replace the classifier by a one-class statistic of it:

*NPR contrast.* The horizontal NPR residual at grid phase 0 is the difference
``y[:, 2j+1] - y[:, 2j]`` (inside a block); shifting the grid by one pixel gives
``y[:, 2j+2] - y[:, 2j+1]`` (across blocks). In a natural image both have the
same distribution; after 2x up-sampling they do not. With ``m_k`` the mean
absolute horizontal difference of luma over the columns ``j = k mod 8``, the
contrast is ``log(mean of m_k, k even) - log(mean of m_k, k odd)``, and the same
for rows. The grid's phase is unknown and may differ between the axes, so each
axis is signed by its image-wide contrast before the two are averaged. The residue with the largest ``m_k``
(the 8x8 block boundary of a JPEG file, or the boundary of an 8x up-sampled
latent) is left out of both means, so a JPEG grid alone gives no contrast.

*Decision.* The contrast is measured on tiles of ``tile x tile`` pixels; ``c``
is its mean over the tiles and ``se`` the standard error of that mean. The
statistic is the lower confidence bound ``c - 2 se``, which is about the same
for a small and a large authentic image. ``facts["ai_score"]`` is a logistic of it with
0.5 at the 99th percentile of the statistic on authentic photos held out for
calibration (see ``benchmarks/ai_signal_eval.py --calibrate``), so about 1 % of
authentic photos score >= 0.5. The heatmap is the per-tile contrast
mapped through the same logistic (an illustration: one tile has no standard
error of its own).

*Not deciding.* At matched size and format (central 256x256 crops of generated
and real images re-saved alike) this statistic separated generated images from
real photos no better than chance, and real portraits scored *higher* than
StyleGAN2 faces (docs/benchmarks.md, "AI-image signal detectors"). So the
detector gives its map and ``facts["ai_score"]`` for a reader and for the
verdict-class layer, and no score (``decides = False``).

Limits
------
Only factor-2 relationships are seen (other factors: the ``spectral``
detector). Resizing the image, or JPEG at ordinary qualities, rewrites these
relationships; odd crops are harmless (both phases are tested). The
calibration rests on a few hundred JPEG photos (camera, CASIA v1, MICC-F220),
not on every camera and processing pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..image import Image
from .registry import register
from ._crop import central_crop, crop_origin, logistic
from .base import Detector, Finding, NotApplicable

#: 99th percentile of ``c - 2 se`` on the calibration split of authentic photos, and the logistic's scale
#: (median absolute deviation of the statistic there): ``benchmarks/ai_signal_eval.py --calibrate``.
THRESHOLD = 0.7353
SCALE = 0.0256


def _residue_means(diff: np.ndarray, tile: int) -> np.ndarray:
    """Mean ``|diff|`` per tile and per column residue mod 8: shape ``(ny, nx, 8)``.

    ``diff`` holds horizontal differences, column ``j`` between pixels ``j`` and
    ``j + 1``; rows and columns beyond whole tiles are dropped.
    """
    ny, nx = diff.shape[0] // tile, diff.shape[1] // tile
    blocks = np.abs(diff[: ny * tile, : nx * tile]).reshape(ny, tile, nx, tile // 8, 8)
    return blocks.mean(axis=(1, 3))


def _contrast(means: np.ndarray, skip: int) -> np.ndarray:
    keep = np.ones(8, dtype=bool)
    keep[skip] = False
    even = means[..., keep & (np.arange(8) % 2 == 0)].mean(axis=-1)
    odd = means[..., keep & (np.arange(8) % 2 == 1)].mean(axis=-1)
    return np.log(np.maximum(even, 1e-3)) - np.log(np.maximum(odd, 1e-3))


def npr_contrast(luma: np.ndarray, tile: int = 32) -> tuple[np.ndarray, dict[str, float]]:
    """Per-tile NPR contrast (mean of horizontal and vertical) and global facts.

    Parameters
    ----------
    luma : ndarray
        2-D float image.
    tile : int
        Tile side in pixels, a multiple of 8.

    Returns
    -------
    contrast : ndarray
        ``(ny, nx)`` contrast per tile: the mean of the horizontal and vertical
        contrasts, each signed so that its image-wide value is positive.
    facts : dict
        ``skipped_h``/``skipped_v``: the residues left out; ``contrast_h``/``contrast_v``:
        global contrasts per axis.
    """
    y = np.asarray(luma, dtype=np.float32)
    dh = np.diff(y, axis=1)[:-1]
    dv = np.diff(y, axis=0)[:, :-1].T
    mh, mv = _residue_means(dh, tile), _residue_means(dv, tile)
    skip_h = int(np.argmax(mh.mean(axis=(0, 1))))
    skip_v = int(np.argmax(mv.mean(axis=(0, 1))))
    global_h = float(_contrast(mh.mean(axis=(0, 1)), skip_h))
    global_v = float(_contrast(mv.mean(axis=(0, 1)), skip_v))
    # The 2x2 grid may sit at a different phase in each axis: orient each axis by its global sign.
    ch = _contrast(mh, skip_h) * (1.0 if global_h >= 0 else -1.0)
    cv = _contrast(mv, skip_v).T * (1.0 if global_v >= 0 else -1.0)
    facts = {"skipped_h": skip_h, "skipped_v": skip_v, "contrast_h": global_h, "contrast_v": global_v}
    return 0.5 * (ch + cv), facts



@register
@dataclass
class NeighbouringPixels(Detector):
    """Factor-2 up-sampling trace in neighbouring-pixel relationships (after Tan et al. 2024).

    Parameters
    ----------
    tile : int
        Tile side in pixels (a multiple of 8); the image needs at least four tiles.
    max_side : int
        Larger images are analysed on their central ``max_side x max_side``
        crop (never resized: resizing erases the trace).
    """

    tile: int = 32
    max_side: int = 2048

    name: ClassVar[str] = "npr"
    version: ClassVar[str] = "1.0"
    citation: ClassVar[str] = (
        "C. Tan et al., 'Rethinking the Up-Sampling Operations in CNN-based Generative Network "
        "for Generalizable Deepfake Detection', CVPR 2024"
    )
    summary: ClassVar[str] = "pixels inside 2x2 blocks related differently than across blocks, as up-sampling leaves"
    title: ClassVar[str] = "Up-sampling pixel relationships (AI generation)"
    trace: ClassVar[str] = "has the 2x2 pixel relationships that a generator's up-sampling layers leave"
    indicates: ClassVar[str] = "ai-generated"
    #: Measured near chance at matched format (docs/benchmarks.md, "AI-image signal detectors"): no decision.
    decides: ClassVar[bool] = False

    def analyze(self, image: Image) -> Finding:
        if self.tile < 16 or self.tile % 8:
            raise ValueError(f"tile must be a multiple of 8 >= 16, not {self.tile}")
        h, w = image.shape
        if (h - 1) // self.tile * ((w - 1) // self.tile) < 4:
            raise NotApplicable(
                f"the image ({w}x{h}) is too small: the NPR contrast needs at least four {self.tile}x{self.tile} tiles"
            )
        luma, notes = central_crop(image.luminance(), self.max_side)
        if float(luma.std()) < 0.5:
            raise NotApplicable("the image is uniform: there are no pixel relationships to measure")
        contrast, facts = npr_contrast(luma, self.tile)
        mean = float(contrast.mean())
        se = float(contrast.std(ddof=1) / np.sqrt(contrast.size))
        statistic = mean - 2.0 * se
        score = float(logistic(statistic, THRESHOLD, SCALE))
        heat = logistic(contrast, THRESHOLD, SCALE).astype(np.float32)
        heatmap = np.zeros((-(-h // self.tile), -(-w // self.tile)), dtype=np.float32)
        top, left = (o // self.tile for o in crop_origin((h, w), luma.shape))
        heatmap[top : top + heat.shape[0], left : left + heat.shape[1]] = heat
        facts.update(
            {
                "contrast": round(mean, 4),
                "standard_error": round(se, 4),
                "statistic": round(statistic, 4),
                "threshold": THRESHOLD,
                "ai_score": round(score, 4),
                "tiles": int(contrast.size),
            }
        )
        notes.append(
            f"Differences between neighbouring pixels at even and odd positions differ by {abs(mean):.1%} "
            f"(+/- {se:.1%} over {contrast.size} tiles), as if pixels were paired in 2x2 blocks; "
            f"in 99% of authentic photos this, less two standard errors, stays below {THRESHOLD:.1%}."
        )
        if image.format == "JPEG":
            notes.append("JPEG compression weakens this trace: a negative result on a JPEG says little.")
        return Finding(score=None, heatmap=heatmap, stride=self.tile, notes=notes, facts=facts)
