"""Embedding: dither-modulation QIM on the working grid, pushed back to full resolution.

The mark is computed on the working image (see :mod:`.scheme`) and its change
is resampled to the image's size and added to the luminance of every pixel
(the same amount to R, G and B, which changes BT.601 luma by exactly that
amount and leaves the chroma as it was). Resampling there and back is not an
exact inverse and the result is rounded and clipped to 8 bits, so the
embedding repeats: measure the working image of the current result, quantize
again, add the remaining correction. Two rounds leave nearly every
coefficient on its lattice (``facts["on_lattice"]`` measures it).

The step is chosen per image (see :mod:`.scheme`): one QIM round at the
largest step gives the shape of the change ``w`` the mark makes; a step
``r`` times smaller makes (statistically) the change ``r * w``, whose PSNR
and SSIM follow in closed form from local moments of the image and of ``w``
(SSIM of Wang et al., IEEE Trans. Image Processing 13(4), 2004, with the
7x7 uniform window of scikit-image's default). The largest step whose
prediction meets the scheme's targets is embedded; a photo that is flat
and noiseless gets a small step, a textured one the largest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .scheme import (
    EMBED_DARK,
    SCHEME,
    Grid,
    Scheme,
    choose_work_side,
    coefficients,
    dark_cells,
    from_work,
    grid_for,
    keyed_stream,
    luminance,
    qim_agreement,
    qim_embed,
    saturation_lift,
    synthesize,
    to_work,
)


@dataclass
class Embedding:
    """What :func:`embed` made: the marked pixels, the step chosen and how well the mark took."""

    pixels: np.ndarray
    grid: Grid
    bits: int
    on_lattice: float
    step: float


def embed(pixels: np.ndarray, key: bytes, scheme: Scheme = SCHEME, rounds: int = 2,
          step: float | None = None) -> Embedding:
    """Embed the keyed mark into uint8 RGB ``pixels`` (height, width, 3).

    Parameters
    ----------
    pixels : ndarray
        uint8 RGB (or grey) image, stored orientation.
    key : bytes
        The publisher's secret; never stored anywhere.
    scheme : Scheme
        Block, coefficients and step (must match verify's).
    rounds : int
        Embedding passes (see module docstring).
    step : float, optional
        Force this QIM step (one of ``scheme.steps``, or verify will not find
        it); by default the largest step that meets the fidelity targets.

    Returns
    -------
    Embedding
    """
    if not key:
        raise ValueError("an empty key cannot protect an image")
    shape = pixels.shape[:2]
    grid = grid_for(shape, choose_work_side(shape, scheme), scheme.block)
    bits, dither = keyed_stream(key, grid, scheme.bits_per_cell)
    luma = luminance(pixels)
    work = to_work(luma, grid)
    if step is None:
        step = choose_step(pixels, work, grid, bits, dither, scheme)
    # Rounds run on the luminance alone: R, G and B all receive the same whole-number
    # shift, so the luma of the result is luma + shift wherever nothing clips.
    shift = _saturation_shift(work, grid, shape, step)
    black = dark_cells(work, grid, *EMBED_DARK)
    for _ in range(rounds):
        values = coefficients(to_work(_clipped_sum(luma, shift), grid), grid, scheme)
        change = qim_embed(values, bits, dither, step) - values
        change[black] = 0.0
        shift += from_work(synthesize(change, grid, scheme), shape)
        np.rint(shift, out=shift)
    marked = _apply(pixels, shift)
    values = coefficients(to_work(luminance(marked), grid), grid, scheme)
    agreement = qim_agreement(values, bits, dither, step)[~black]
    on_lattice = float((agreement > 0.5).mean()) if agreement.size else 0.0
    return Embedding(pixels=marked, grid=grid, bits=int(agreement.size), on_lattice=on_lattice, step=float(step))


def choose_step(pixels: np.ndarray, work: np.ndarray, grid: Grid, bits: np.ndarray, dither: np.ndarray,
                scheme: Scheme = SCHEME) -> float:
    """The largest of ``scheme.steps`` whose predicted PSNR and SSIM meet the scheme's targets.

    The change one QIM round makes at the largest step stands for the mark's
    shape; every other step scales it (the quantization error is uniform over
    the step, the saturation lift proportional to it). R, G and B all receive
    the change, so SSIM is predicted per channel and averaged, as
    scikit-image measures a colour image (on luma alone it came out up to
    0.004 too high on a saturated photo). When no step meets the targets (an
    image that cannot hide even the smallest), the smallest.
    """
    reference = max(scheme.steps)
    shape = pixels.shape[:2]
    values = coefficients(work, grid, scheme)
    change = qim_embed(values, bits, dither, reference) - values
    change[dark_cells(work, grid, *EMBED_DARK)] = 0.0
    # The lift is added at the working size so that one resize brings the whole change to the image's.
    working_change = synthesize(change, grid, scheme)
    lift = saturation_lift(work, grid)
    if lift.any():
        working_change += cv2.resize(lift * (SATURATION_LIFT_PER_STEP * reference),
                                     (grid.work_width, grid.work_height), interpolation=cv2.INTER_LINEAR)
    mark = from_work(working_change, shape)
    channels = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(3)]
    moments = [_LocalMoments(channel, mark) for channel in channels]
    energy = float(np.mean(np.square(mark, dtype=np.float32)))
    for step in sorted(scheme.steps, reverse=True):
        scale = step / reference
        psnr = 10 * np.log10(255.0**2 / (scale**2 * energy + _ROUNDING_VARIANCE))
        ssim = float(np.mean([m.ssim(scale) for m in moments]))
        if psnr >= scheme.psnr_target and ssim >= scheme.ssim_target:
            return float(step)
    return float(min(scheme.steps))


#: Variance that rounding the shift to whole grey levels adds (uniform over one level).
_ROUNDING_VARIANCE = 1.0 / 12.0


class _LocalMoments:
    """Local means, variances and covariance of an image ``x`` and a change ``w`` (7x7 windows, every 4th pixel).

    SSIM of ``x`` and ``x + r*w`` is a closed form of these for any ``r``:
    mu_y = mu_x + r mu_w, var_y = var_x + 2r cov_xw + r^2 var_w (+ rounding),
    cov_xy = var_x + r cov_xw. A 4-pixel sampling of the SSIM map is plenty
    for its mean and 16 times cheaper; above :attr:`BUDGET` pixels only
    evenly spread bands of :attr:`BAND` rows are measured (a 12 MP photo is
    measured on a sixth of its rows).
    """

    WINDOW = 7
    SAMPLE = 4
    BAND = 64
    BUDGET = 2_000_000
    C1 = (0.01 * 255) ** 2
    C2 = (0.03 * 255) ** 2

    def __init__(self, x: np.ndarray, w: np.ndarray):
        height = x.shape[0]
        period = max(1, int(np.ceil(x.size / self.BUDGET)))
        halo = self.WINDOW // 2
        parts = []
        for top in range(0, height, self.BAND * period):
            bottom = min(height, top + self.BAND)
            start, stop = max(0, top - halo), min(height, bottom + halo)
            parts.append(self._band(x[start:stop], w[start:stop], top - start, bottom - start))
        self.mu_x, self.mu_w, self.var_x, self.var_w, self.cov_xw = (np.concatenate(v) for v in zip(*parts))

    def _band(self, x: np.ndarray, w: np.ndarray, first: int, last: int) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        w = np.ascontiguousarray(w, dtype=np.float32)
        size = (self.WINDOW, self.WINDOW)
        # scikit-image's default SSIM uses the sample (N-1) covariance of the window.
        unbias = self.WINDOW**2 / (self.WINDOW**2 - 1)

        def local_mean(a):
            blurred = cv2.blur(a, size, borderType=cv2.BORDER_REFLECT)
            return blurred[first:last:self.SAMPLE, :: self.SAMPLE].astype(np.float64).ravel()

        mu_x, mu_w = local_mean(x), local_mean(w)
        var_x = unbias * (local_mean(x * x) - mu_x**2)
        var_w = unbias * (local_mean(w * w) - mu_w**2)
        cov_xw = unbias * (local_mean(x * w) - mu_x * mu_w)
        return mu_x, mu_w, var_x, var_w, cov_xw

    def ssim(self, scale: float) -> float:
        mu_y = self.mu_x + scale * self.mu_w
        var_y = self.var_x + 2 * scale * self.cov_xw + scale**2 * self.var_w + _ROUNDING_VARIANCE
        cov_xy = self.var_x + scale * self.cov_xw
        numerator = (2 * self.mu_x * mu_y + self.C1) * (2 * cov_xy + self.C2)
        denominator = (self.mu_x**2 + mu_y**2 + self.C1) * (self.var_x + var_y + self.C2)
        return float(np.mean(numerator / denominator))


#: Grey levels by which cells clipped to white are lowered so they can hold the mark,
#: per unit of QIM step: half a step of DC plus the two ramps must fit between the lift and the clip.
SATURATION_LIFT_PER_STEP = 6.0 / 28.0


def _saturation_shift(work: np.ndarray, grid: Grid, shape: tuple[int, int], step: float) -> np.ndarray:
    """A smooth lift of clipped cells, upsampled bilinearly so that it leaves no block edges."""
    lift = saturation_lift(work, grid)
    if not lift.any():
        return np.zeros(shape, dtype=np.float32)
    height, width = shape
    smooth = cv2.resize(lift * (SATURATION_LIFT_PER_STEP * step), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.rint(smooth).astype(np.float32)


def _clipped_sum(luma: np.ndarray, shift: np.ndarray) -> np.ndarray:
    total = luma + shift
    np.minimum(total, 255, out=total)
    np.maximum(total, 0, out=total)
    return total


def _apply(pixels: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``clip(pixels + shift)`` per channel for a whole-number shift, with saturating uint8 arithmetic."""
    up = np.minimum(np.maximum(shift, 0), 255).astype(np.uint8)
    down = np.minimum(np.maximum(-shift, 0), 255).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.subtract(cv2.add(pixels, up), down)
    channels = [cv2.subtract(cv2.add(np.ascontiguousarray(pixels[..., c]), up), down) for c in range(3)]
    return np.dstack(channels)
