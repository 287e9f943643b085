"""Embedding: dither-modulation QIM on the working grid, pushed back to full resolution.

The mark is computed on the working image (see :mod:`.scheme`) and its change
is resampled to the image's size and added to the luminance of every pixel
(the same amount to R, G and B, which changes BT.601 luma by exactly that
amount and leaves the chroma as it was). Resampling there and back is not an
exact inverse and the result is rounded and clipped to 8 bits, so the
embedding repeats: measure the working image of the current result, quantize
again, add the remaining correction. Two rounds leave nearly every
coefficient on its lattice (``facts["on_lattice"]`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .scheme import (
    SCHEME,
    Grid,
    Scheme,
    choose_work_side,
    coefficients,
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
    """What :func:`embed` made: the marked pixels and how well the mark took."""

    pixels: np.ndarray
    grid: Grid
    bits: int
    on_lattice: float


def embed(pixels: np.ndarray, key: bytes, scheme: Scheme = SCHEME, rounds: int = 2) -> Embedding:
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
    # Rounds run on the luminance alone: R, G and B all receive the same whole-number
    # shift, so the luma of the result is luma + shift wherever nothing clips.
    shift = _saturation_shift(to_work(luma, grid), grid, shape)
    for _ in range(rounds):
        values = coefficients(to_work(_clipped_sum(luma, shift), grid), grid, scheme)
        change = qim_embed(values, bits, dither, scheme.step) - values
        shift += from_work(synthesize(change, grid, scheme), shape)
        np.rint(shift, out=shift)
    marked = _apply(pixels, shift)
    values = coefficients(to_work(luminance(marked), grid), grid, scheme)
    agreement = qim_agreement(values, bits, dither, scheme.step)
    on_lattice = float((agreement > 0.5).mean())
    return Embedding(pixels=marked, grid=grid, bits=int(agreement.size), on_lattice=on_lattice)


#: Grey levels by which cells clipped to black (white) are lifted (lowered) so they can hold the mark.
SATURATION_LIFT = 6.0


def _saturation_shift(work: np.ndarray, grid: Grid, shape: tuple[int, int]) -> np.ndarray:
    """A smooth lift of clipped cells, upsampled bilinearly so that it leaves no block edges."""
    lift = saturation_lift(work, grid)
    if not lift.any():
        return np.zeros(shape, dtype=np.float32)
    height, width = shape
    smooth = cv2.resize(lift * SATURATION_LIFT, (width, height), interpolation=cv2.INTER_LINEAR)
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
