"""Named perturbation chains for the robustness table.

A chain is a ``+``-joined list of steps, each ``NAME`` or ``NAME:PARAM``:

=============  ===========================================================
``clean``      nothing: the original file, byte for byte (alone only)
``jpeg:Q``     JPEG at IJG quality Q (1-100), 4:2:0, baseline
``webp:Q``     lossy WebP at quality Q (1-100)
``resize:F``   scale both sides by F (0 < F <= 8): area filter down, bicubic up
``blur:S``     Gaussian blur, sigma S pixels (0 < S <= 50)
``noise:S``    additive Gaussian noise, sigma S grey levels (0 < S <= 100), seeded
``crop:N``     remove N pixels from the top and the left (moves the JPEG grid)
``social``     the social-media chain: long side down to 2048 when larger,
               then JPEG 80, twice
=============  ===========================================================

:func:`apply` returns a real file: the bytes of the last encoding step (JPEG or
WebP), or a PNG when the last step works on pixels, so the analysis sees real
compression. Steps in between also go through their codec: ``jpeg:75+resize:0.5``
resizes the decoded JPEG. Geometric steps (resize, crop) carry the mask along
(nearest neighbour); the others leave it as is. Everything is deterministic
given the seed: noise draws from a generator seeded with ``(seed, step index)``.

The social chain is a stand-in for what platforms do (downscale, recompress,
often more than once), not a model of any platform's exact pipeline.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import Union

import cv2
import numpy as np
from PIL import Image as PILImage

from ..errors import InputError
from ..image import load

__all__ = [
    "STANDARD_CONDITIONS",
    "BadPerturbation",
    "Chain",
    "MaskShapeMismatch",
    "Step",
    "apply",
    "parse_chain",
]

#: The conditions of the robustness table, in column order.
STANDARD_CONDITIONS = [
    "clean",
    "jpeg:95",
    "jpeg:85",
    "jpeg:75",
    "jpeg:65",
    "jpeg:50",
    "resize:0.5",
    "resize:0.75",
    "resize:1.5",
    "blur:1.0",
    "noise:3",
    "crop:4",
    "webp:80",
    "social",
]

#: Long side the social chain brings larger images down to, and its JPEG quality.
SOCIAL_LONG_SIDE = 2048
SOCIAL_QUALITY = 80
SOCIAL_ROUNDS = 2

_VALID = (
    "clean, jpeg:Q (Q 1-100), webp:Q (Q 1-100), resize:F (0<F<=8), blur:SIGMA (0<SIGMA<=50), "
    "noise:SIGMA (0<SIGMA<=100), crop:N (N>=1), social; join steps with '+', e.g. resize:0.75+jpeg:85"
)

ImageInput = Union[bytes, bytearray, memoryview, str, os.PathLike]


class BadPerturbation(InputError):
    """A perturbation name that is unknown or malformed."""

    kind = "bad-perturbation"


class MaskShapeMismatch(InputError):
    """The mask given with an image does not have the image's height and width."""

    kind = "mask-shape-mismatch"


@dataclass(frozen=True)
class Step:
    """One step of a chain: its name and parameter (None for ``clean`` and ``social``)."""

    name: str
    param: float | int | None = None

    def __str__(self) -> str:
        if self.param is None:
            return self.name
        if isinstance(self.param, float):
            return f"{self.name}:{self.param:g}"
        return f"{self.name}:{self.param}"


@dataclass(frozen=True)
class Chain:
    """A parsed chain; ``str(chain)`` is its canonical name."""

    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return "+".join(str(step) for step in self.steps)

    @property
    def is_clean(self) -> bool:
        return len(self.steps) == 1 and self.steps[0].name == "clean"

    @property
    def geometric(self) -> bool:
        """Whether the chain changes the pixel grid (and so the mask)."""
        return any(step.name in ("resize", "crop", "social") for step in self.steps)


def _number(text: str, integer: bool, whole: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise BadPerturbation(f"perturbation {whole!r}: {text!r} is not a number; valid: {_VALID}") from None
    if not math.isfinite(value):
        raise BadPerturbation(f"perturbation {whole!r}: {text!r} is not a finite number; valid: {_VALID}")
    if integer:
        if value != int(value):
            raise BadPerturbation(f"perturbation {whole!r}: {text!r} must be a whole number; valid: {_VALID}")
        return int(value)
    return value


# name -> (needs a parameter, integer, lower bound (exclusive unless listed inclusive), upper bound inclusive)
_SPECS: dict[str, tuple[bool, bool, float, float, bool]] = {
    "clean": (False, False, 0, 0, False),
    "social": (False, False, 0, 0, False),
    "jpeg": (True, True, 1, 100, True),
    "webp": (True, True, 1, 100, True),
    "resize": (True, False, 0, 8, False),
    "blur": (True, False, 0, 50, False),
    "noise": (True, False, 0, 100, False),
    "crop": (True, True, 1, math.inf, True),
}


def _parse_step(text: str, whole: str) -> Step:
    name, sep, param_text = text.partition(":")
    name = name.strip().lower()
    param_text = param_text.strip()
    if name not in _SPECS:
        shown = name or text
        raise BadPerturbation(f"unknown perturbation {shown!r} in {whole!r}; valid: {_VALID}")
    needs, integer, low, high, low_inclusive = _SPECS[name]
    if not needs:
        if sep:
            raise BadPerturbation(f"perturbation {name!r} takes no parameter (got {text!r}); valid: {_VALID}")
        return Step(name)
    if not sep or not param_text:
        raise BadPerturbation(f"perturbation {name!r} needs a parameter, e.g. {name}:{_EXAMPLE[name]}; valid: {_VALID}")
    value = _number(param_text, integer, whole)
    if value > high or value < low or (value == low and not low_inclusive):
        bound = f"{'[' if low_inclusive else '('}{low:g}, {high:g}]"
        raise BadPerturbation(f"perturbation {text!r}: {param_text} is outside {bound}; valid: {_VALID}")
    return Step(name, value)


_EXAMPLE = {"jpeg": "75", "webp": "80", "resize": "0.5", "blur": "1.0", "noise": "3", "crop": "4"}


def parse_chain(text: str | Chain) -> Chain:
    """Parse ``"resize:0.75+jpeg:85"`` into a :class:`Chain`.

    Raises
    ------
    BadPerturbation
        Unknown name, missing or out-of-range parameter, empty step, or
        ``clean`` combined with other steps; the message lists the valid names.
    """
    if isinstance(text, Chain):
        return text
    if not isinstance(text, str) or not text.strip():
        raise BadPerturbation(f"empty perturbation {text!r}; valid: {_VALID}")
    parts = text.split("+")
    if any(not part.strip() for part in parts):
        raise BadPerturbation(f"empty step in perturbation {text!r}; valid: {_VALID}")
    steps = tuple(_parse_step(part.strip(), text) for part in parts)
    if len(steps) > 1 and any(step.name == "clean" for step in steps):
        raise BadPerturbation(f"'clean' cannot be combined with other steps in {text!r}; valid: {_VALID}")
    return Chain(steps)


# ----------------------------------------------------------------------------------------------
# The steps


def _encode(pixels: np.ndarray, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    picture = PILImage.fromarray(pixels)
    if fmt == "JPEG":
        picture.save(buffer, format="JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)
    elif fmt == "WEBP":
        picture.save(buffer, format="WEBP", quality=quality, method=4, lossless=False)
    else:
        picture.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as picture:
        return np.asarray(picture.convert("RGB")).copy()


def _resize(pixels: np.ndarray, mask: np.ndarray | None, height: int, width: int):
    if (height, width) == pixels.shape[:2]:
        return pixels, mask
    shrinking = height * width < pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(pixels, (width, height), interpolation=interpolation)
    if mask is not None:
        mask = _resize_mask(mask, height, width)
    return out, mask


def _resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize that keeps the dtype (bool included) and extra axes."""
    rows = np.minimum((np.arange(height) + 0.5) * mask.shape[0] / height, mask.shape[0] - 1).astype(np.intp)
    cols = np.minimum((np.arange(width) + 0.5) * mask.shape[1] / width, mask.shape[1] - 1).astype(np.intp)
    return np.ascontiguousarray(mask[rows][:, cols])


def _scaled(size: int, factor: float) -> int:
    return max(1, int(math.floor(size * factor + 0.5)))


@dataclass
class _State:
    pixels: np.ndarray
    mask: np.ndarray | None
    data: bytes | None = None  # bytes of the last encoding step, while no pixel step followed
    fmt: str | None = None


def _run_step(state: _State, step: Step, index: int, seed: int) -> None:
    name, param = step.name, step.param
    if name in ("jpeg", "webp"):
        fmt = "JPEG" if name == "jpeg" else "WEBP"
        state.data = _encode(state.pixels, fmt, int(param))
        state.fmt = fmt
        state.pixels = _decode(state.data)
        return
    if name == "social":
        for _ in range(SOCIAL_ROUNDS):
            height, width = state.pixels.shape[:2]
            long_side = max(height, width)
            if long_side > SOCIAL_LONG_SIDE:
                factor = SOCIAL_LONG_SIDE / long_side
                new_h = SOCIAL_LONG_SIDE if height >= width else _scaled(height, factor)
                new_w = SOCIAL_LONG_SIDE if width > height else _scaled(width, factor)
                state.pixels, state.mask = _resize(state.pixels, state.mask, new_h, new_w)
            state.data = _encode(state.pixels, "JPEG", SOCIAL_QUALITY)
            state.fmt = "JPEG"
            state.pixels = _decode(state.data)
        return
    state.data, state.fmt = None, None
    pixels = state.pixels
    if name == "resize":
        height, width = pixels.shape[:2]
        state.pixels, state.mask = _resize(pixels, state.mask, _scaled(height, param), _scaled(width, param))
    elif name == "blur":
        state.pixels = cv2.GaussianBlur(pixels, (0, 0), sigmaX=float(param), sigmaY=float(param),
                                        borderType=cv2.BORDER_REFLECT_101)
    elif name == "noise":
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, index])
        noisy = pixels.astype(np.float64) + rng.normal(0.0, float(param), pixels.shape)
        state.pixels = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    elif name == "crop":
        n = int(param)
        height, width = pixels.shape[:2]
        if n >= height or n >= width:
            raise BadPerturbation(f"crop:{n} needs an image larger than {n}x{n} pixels (got {width}x{height})")
        state.pixels = np.ascontiguousarray(pixels[n:, n:])
        if state.mask is not None:
            state.mask = np.ascontiguousarray(state.mask[n:, n:])
    else:  # pragma: no cover - parse_chain admits no other name
        raise BadPerturbation(f"unknown perturbation {name!r}; valid: {_VALID}")


def apply(
    chain: str | Chain,
    image: ImageInput,
    mask: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[bytes, np.ndarray | None, str]:
    """Apply a perturbation chain to an image file and its mask.

    Parameters
    ----------
    chain : str or Chain
        E.g. ``"jpeg:75"``, ``"resize:0.75+jpeg:85"``, ``"social"``.
    image : bytes or path
        The image file (any format :func:`tamperscope.image.load` reads).
        Pixels are taken as stored (EXIF orientation is not applied), alpha is dropped.
    mask : ndarray, optional
        ``(H, W)`` or ``(H, W, C)`` array at the image's stored resolution, any
        dtype; resized with nearest neighbour and cropped along with the image.
    seed : int
        Seeds the noise steps.

    Returns
    -------
    (bytes, mask, fmt)
        The perturbed file, the mask on its pixel grid (a new array, or None),
        and the file's format: "JPEG", "WEBP" or "PNG" (for ``clean``, the
        original file's own format).

    Raises
    ------
    BadPerturbation
        The chain is not valid, or a crop is larger than the image.
    MaskShapeMismatch
        The mask's height and width are not the image's.
    InputError
        The image cannot be read (as raised by :func:`tamperscope.image.load`).
    """
    parsed = parse_chain(chain)
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    else:
        data = None
    decoded = load(data if data is not None else image)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim < 2 or mask.shape[:2] != decoded.shape:
            raise MaskShapeMismatch(
                f"{decoded.source}: mask shape {tuple(mask.shape)} does not match the image's "
                f"{decoded.height}x{decoded.width} (height x width)"
            )
        mask = mask.copy()
    if parsed.is_clean:
        if data is None:
            data = _read(image)
        return data, mask, decoded.format
    state = _State(pixels=np.ascontiguousarray(decoded.pixels), mask=mask)
    for index, step in enumerate(parsed.steps):
        _run_step(state, step, index, seed)
    if state.data is not None and state.fmt is not None:
        return state.data, state.mask, state.fmt
    return _encode(state.pixels, "PNG", 0), state.mask, "PNG"


def _read(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
