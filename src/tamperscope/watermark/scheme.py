"""The watermark's shared parts: working grid, keyed bit stream, block DCT and QIM.

The scheme is dither modulation, the practical form of quantization index
modulation (QIM) of Chen & Wornell, "Quantization index modulation: a class of
provably good methods for digital watermarking and information embedding",
IEEE Trans. Information Theory 47(4), 2001. One bit ``b`` is carried by one
coefficient ``c`` with step ``step`` and a key-dependent dither ``d``::

    embed:  c' = step * round((c - d - b*step/2) / step) + d + b*step/2
    decode: e  = ((c - d - b*step/2) + step/2) mod step - step/2,  agreement = 1 - 4|e|/step

so an unchanged coefficient agrees (+1) and a coefficient that moved by a
quarter step or more, or that belongs to a different key or position, agrees
at random (uniform in [-1, 1]).

The organisation in local blocks that are checked one by one, so that the
blocks whose mark is broken form the tamper mask, follows MaskMark (Jiang et
al., "MaskMark: Robust Neural Watermarking for Real and Synthetic Images",
2025), which extracts its watermark globally (is it there?) and locally
(where is it missing?). Here both come from one classical mark:

* **Working grid.** The luminance is resampled to a working image whose long
  side is one of :data:`WORK_SIDES` and whose short side keeps the aspect
  ratio (a multiple of the block). A block of ``block x block`` working pixels
  is a cell of the grid; because the grid is tied to the image's proportions
  and not to its pixel count, a resized copy maps cells onto cells and verify
  simply resamples to the same grid.
* **Keyed bits and dither.** Every (cell, coefficient) pair gets one bit and
  one dither value from a generator seeded with
  ``HMAC-SHA256(key, "tamperscope-watermark/v1|<grid>")``; the grid position
  is the index into that stream, so a cell copied elsewhere (copy-move) or
  from another image carries the wrong bits for its new place, and a wrong key
  gives bits unrelated to the embedded ones.
* **Coefficients.** A few low-frequency coefficients of the orthonormal 8x8
  DCT of each cell (low frequencies of the working image are lower still in
  the original, so JPEG 75 and resizing leave them near their lattice).
* **Step, adapted to the image.** The QIM step trades robustness against
  visibility, and the visibility of one step depends on the content: the
  same mark that is invisible in texture lowers SSIM in a flat, noiseless sky
  (contrast masking, Watson, "DCT quantization matrices visually optimized
  for individual images", SPIE 1913, 1993). protect therefore picks, per
  image, the largest step of :attr:`Scheme.steps` whose predicted PSNR and
  SSIM meet :attr:`Scheme.psnr_target` / :attr:`Scheme.ssim_target` (see
  :mod:`.embed`). The step is not written anywhere: verify tries each step
  of the small set on the coefficients it has already computed, which costs
  little and only multiplies the number of hypotheses of the presence test
  by ``len(steps)``. One step per image rather than one per cell because a
  per-cell step would have to be re-derived at verify time from the received
  pixels, and a DC coefficient near 1000 with a step of 28 sits about 36
  steps from zero, so an activity measure shifted by JPEG 75 or a resize by
  as little as 1% would put the cell on the wrong lattice and report it
  tampered (a 3-class contrast measure changes class on 1.6% of cells after
  JPEG 75 and 3.8% after a 0.75 resize, up to 23% on one photo:
  ``benchmarks/watermark_percell_step.py``).
* **Black.** Cells mostly clipped to black carry no mark (lifting them to
  make room costs SSIM more than the rest of the mark together); verify does
  not judge them (:func:`dark_cells`).

Versions: the embedder of this module is scheme 2 (adaptive step, black left
unmarked). Marks of scheme 1 (fixed step 28, black lifted) still verify:
the keyed stream is unchanged and 28 is one of the steps tried.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import cv2
import numpy as np

@dataclass(frozen=True)
class Scheme:
    """Parameters of the mark; both ends must agree on them (they are the scheme version).

    Attributes
    ----------
    block : int
        Cell size in working pixels (an 8x8 DCT per cell).
    coefficients : tuple of (int, int)
        The DCT frequencies ``(u, v)`` that carry one bit each.
    version : int
        The embedder's scheme version (see the module docstring).
    steps : tuple of float
        QIM steps (orthonormal-DCT units of the working luminance) protect may
        choose from, largest first; verify tries each.
    psnr_target, ssim_target : float
        Fidelity protect aims for when choosing the step (above the issue's
        bars of 40 dB and 0.98, for the margin between the predicted and the
        measured values and between luma and RGB SSIM).
    work_sides : tuple of int
        Long sides of the working image that protect may choose (verify tries each).
    work_ratio : float
        protect picks the largest working side at most this share of the
        image's long side, so that verify still shrinks a resized copy (a
        working image shrunk from the image is nearly the same whatever the
        resampling it went through; one enlarged from it is not).
    """

    block: int = 8
    coefficients: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0))
    version: int = 2
    steps: tuple[float, ...] = (34.0, 31.0, 28.0, 25.0, 22.0, 19.0, 16.0, 14.0)
    psnr_target: float = 41.5
    ssim_target: float = 0.985
    work_sides: tuple[int, ...] = (256, 384, 512, 768, 1024, 1536, 2048)
    work_ratio: float = 0.6

    @property
    def bits_per_cell(self) -> int:
        return len(self.coefficients)


SCHEME = Scheme()


@dataclass(frozen=True)
class Grid:
    """The working image's size and its grid of cells for one long side."""

    work_height: int
    work_width: int
    block: int

    @property
    def rows(self) -> int:
        return self.work_height // self.block

    @property
    def cols(self) -> int:
        return self.work_width // self.block

    @property
    def label(self) -> str:
        return f"{self.work_width}x{self.work_height}/{self.block}"


def grid_for(shape: tuple[int, int], long_side: int, block: int = 8, shift: int = 0) -> Grid:
    """The working grid of ``long_side`` for an image of ``shape`` (height, width).

    ``shift`` moves the short side by whole blocks: a resized copy whose aspect
    ratio rounds to the neighbouring multiple of the block is still found.
    """
    height, width = shape
    short = min(height, width) * long_side / max(height, width)
    short_side = max(block, int(round(short / block)) * block + shift * block)
    if height >= width:
        return Grid(long_side, short_side, block)
    return Grid(short_side, long_side, block)


def choose_work_side(shape: tuple[int, int], scheme: Scheme) -> int:
    """The largest working long side within ``work_ratio`` of the image's (the smallest for small images)."""
    fitting = [side for side in scheme.work_sides if side <= scheme.work_ratio * max(shape)]
    return max(fitting) if fitting else min(scheme.work_sides)


def keyed_stream(key: bytes, grid: Grid, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Bits (0/1) and dithers in [0, 1) of shape (rows, cols, count) for ``key`` on ``grid``.

    The generator's seed is HMAC-SHA256 of the grid under the key: without the
    key the stream cannot be predicted, and each grid has its own stream.
    """
    message = f"tamperscope-watermark/v1|{grid.label}|{count}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    rng = np.random.Generator(np.random.PCG64(np.frombuffer(digest, dtype=np.uint64)))
    shape = (grid.rows, grid.cols, count)
    bits = rng.integers(0, 2, size=shape, dtype=np.int8)
    dither = rng.random(shape)
    return bits, dither


def to_work(luma: np.ndarray, grid: Grid) -> np.ndarray:
    """Resample luminance to the working image (area averaging when shrinking)."""
    height, width = luma.shape
    shrink = grid.work_height * grid.work_width <= height * width
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(luma, dtype=np.float32), (grid.work_width, grid.work_height),
                      interpolation=method)


def from_work(delta: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bring a working-resolution change back to the image's size (smoothly)."""
    height, width = shape
    shrink = height * width <= delta.shape[0] * delta.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(delta, dtype=np.float32), (width, height), interpolation=method)


def dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II matrix (rows are basis vectors)."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    return matrix


def _bases(scheme: Scheme) -> np.ndarray:
    """(K, block, block) basis images of the scheme's coefficients."""
    d = dct_matrix(scheme.block)
    return np.stack([np.outer(d[u], d[v]) for u, v in scheme.coefficients])


def cells_of(work: np.ndarray, grid: Grid) -> np.ndarray:
    """The working image cut into cells: (rows, cols, block, block)."""
    b = grid.block
    view = work[: grid.rows * b, : grid.cols * b]
    return view.reshape(grid.rows, b, grid.cols, b).transpose(0, 2, 1, 3)


def coefficients(work: np.ndarray, grid: Grid, scheme: Scheme = SCHEME) -> np.ndarray:
    """The carrying DCT coefficients of every cell: (rows, cols, K)."""
    flat = np.ascontiguousarray(cells_of(work, grid), dtype=np.float32).reshape(grid.rows * grid.cols, -1)
    bases = _bases(scheme).reshape(scheme.bits_per_cell, -1).astype(np.float32)
    return (flat @ bases.T).astype(np.float64).reshape(grid.rows, grid.cols, -1)


def synthesize(change: np.ndarray, grid: Grid, scheme: Scheme = SCHEME) -> np.ndarray:
    """Working-resolution image of coefficient changes (rows, cols, K) (the inverse DCT, restricted)."""
    b = grid.block
    bases = _bases(scheme).reshape(scheme.bits_per_cell, -1).astype(np.float32)
    blocks = (change.reshape(-1, scheme.bits_per_cell).astype(np.float32) @ bases).reshape(grid.rows, grid.cols, b, b)
    out = np.zeros((grid.work_height, grid.work_width), dtype=np.float32)
    out[: grid.rows * b, : grid.cols * b] = blocks.transpose(0, 2, 1, 3).reshape(grid.rows * b, grid.cols * b)
    return out


def qim_offset(bits: np.ndarray, dither: np.ndarray, step: float) -> np.ndarray:
    """The lattice offset of each (bit, dither): coefficients of bit b sit at offset + k*step."""
    return (dither + bits * 0.5) * step


def qim_embed(values: np.ndarray, bits: np.ndarray, dither: np.ndarray, step: float) -> np.ndarray:
    """Move each value to the nearest point of its bit's dithered lattice (Chen & Wornell 2001)."""
    offset = qim_offset(bits, dither, step)
    return np.round((values - offset) / step) * step + offset


def qim_agreement(values: np.ndarray, bits: np.ndarray, dither: np.ndarray, step: float) -> np.ndarray:
    """Soft agreement in [-1, 1] of each value with its expected bit (+1 on the lattice, -1 on the other)."""
    offset = qim_offset(bits, dither, step)
    error = np.mod(values - offset + step / 2, step) - step / 2
    return 1.0 - 4.0 * np.abs(error) / step


def luminance(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB (or a grey image), float32.

    OpenCV's fixed-point conversion rounds luma to whole levels; the working
    image averages many pixels, so that rounding is far below the QIM step,
    and it is three times faster than a float transform at 12 MP.
    """
    if pixels.ndim == 2:
        return pixels.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(pixels[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)


def saturation_lift(work: np.ndarray, grid: Grid, high: float = 253.0) -> np.ndarray:
    """Per cell, -1 where the cell is mostly clipped to white, else 0.

    A clipped cell cannot move its coefficients onto the lattice, so protect
    first lowers a white cell a few levels away from the clip (see
    :mod:`.embed`); near white that costs neither PSNR much nor SSIM at all
    (SSIM's luminance term barely moves at a mean of 250). Black is another
    matter: lifting a black area by even 3 levels drops its SSIM below 0.5
    (the luminance term is ``C1 / (C1 + 9)`` at a mean of 0), so black cells
    carry no mark at all (:func:`dark_cells`).
    """
    cells = cells_of(work, grid)
    bright = (cells >= high).mean(axis=(2, 3)) > 0.5
    return -bright.astype(np.float32)


#: protect leaves unmarked the cells whose working pixels are mostly (over half) at most 2.
EMBED_DARK = (2.0, 0.5)
#: verify leaves unjudged the cells with over 40% of their pixels at most 4: a margin over EMBED_DARK
#: so that JPEG noise or a resize never makes an unmarked black cell look judged (after JPEG 75 or a
#: 0.75 resize, the black cells of the development photos with black areas kept at least 58% of
#: their pixels at most 4; see docs/benchmarks.md).
VERIFY_DARK = (4.0, 0.4)


def dark_cells(work: np.ndarray, grid: Grid, level: float, share: float) -> np.ndarray:
    """Per cell, True where more than ``share`` of its working pixels are at most ``level`` (black)."""
    b = grid.block
    below = (work[: grid.rows * b, : grid.cols * b] <= level).astype(np.float32)
    return below.reshape(grid.rows, b, grid.cols, b).mean(axis=(1, 3)) > share
