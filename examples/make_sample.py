"""Make examples/spliced.jpg, the bundled sample forgery, and its true mask.

Source photo: scikit-image's ``coffee`` (courtesy of Pikolo Espresso Bar, CC0
by the photographer Rachel Michetti). The forgery covers part of the table top
(upper right) with a patch of table cut from the lower right of a quality-60
JPEG copy of the same photo (as a forger does with a picture saved from the
web), pasted into the quality-90 original, and the result saved at quality 90.
The patch moves by multiples of 8 pixels, so it stays on the JPEG grid; its
quality-60 history is what tamperscope's DQ detector reads from the DCT
coefficients.

Run from the repository root (needs scikit-image, in the ``test`` extra)::

    python examples/make_sample.py
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

#: (top, left) of the patch's source and destination, and its (height, width).
SOURCE, DESTINATION, SIZE = (264, 448), (24, 448), (128, 144)


def _jpeg_round_trip(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer).convert("RGB"))


def make(out_dir: Path) -> None:
    from skimage import data

    photo = data.coffee()
    original = _jpeg_round_trip(photo, 90)
    web_copy = _jpeg_round_trip(photo, 60)
    (sy, sx), (dy, dx), (h, w) = SOURCE, DESTINATION, SIZE
    forged = original.copy()
    forged[dy : dy + h, dx : dx + w] = web_copy[sy : sy + h, sx : sx + w]
    mask = np.zeros(photo.shape[:2], dtype=np.uint8)
    mask[dy : dy + h, dx : dx + w] = 255

    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(forged).save(out_dir / "spliced.jpg", format="JPEG", quality=90)
    Image.fromarray(mask).save(out_dir / "spliced-mask.png")


if __name__ == "__main__":
    make(Path(__file__).resolve().parent)
