"""Invisible watermarks that image generators embed: Stable Diffusion's dwtDct and RivaGAN.

**Stable Diffusion reference watermark** ("sdwm"). The reference scripts of
Stable Diffusion 1.x/2.x (CompVis and Stability AI ``txt2img.py``) embed the
17 bytes ``StableDiffusionV1`` and SDXL (Stability AI ``generative-models``,
diffusers ``StableDiffusionXLWatermarker``) a fixed 48-bit message with the
``dwtDct`` method of invisible-watermark 0.2 (ShieldMnt): the image is turned
to YUV, the U channel is split by a one-level Haar DWT, and in every 4x4 block
of the approximation band the largest-magnitude non-DC value is quantized
with step 36 so that its remainder falls in the upper half (bit 1) or the
lower half (bit 0) of the step; bit ``k`` is repeated in every block ``n`` with
``n mod L == k``. Decoding averages the votes of a bit's blocks.

This module re-implements that decoder with array operations (the package
loops in Python, seconds per megapixel) and checks it bit for bit against the
package in the tests. The decoded bits are compared with each known payload;
the **bit agreement** ``k`` of ``L`` is judged by its binomial tail
``p = P(X >= k)`` for ``X ~ Binomial(L, 1/2)``, the chance that an unmarked
image agrees that well. The score is ``-log10(p) / 12`` clipped to [0, 1]:
0.5 means ``p = 1e-6``, a false-alarm rate that stays negligible over the four
payload/colour-order tests made per image. dwtDct does not survive JPEG
re-compression or resizing: a missing watermark says nothing.

**RivaGAN** ("rivagan"; Zhang et al., "Robust Invisible Video Watermarking
with Attention", arXiv:1909.01285, 2019) is a learned 32-bit watermark whose
ONNX encoder/decoder ship in the invisible-watermark wheel. It has no public
reference payload, so the detector decodes the 32 bits and, when the caller
gives an expected payload, scores its bit agreement the same way; without one
it reports the bits and its decoder's per-bit confidence and does not decide.
It needs the optional extra ``tamperscope[watermarks]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

#: Stable Diffusion 1.x/2.x reference scripts: ``WatermarkEncoder().set_watermark("bytes", b"StableDiffusionV1")``.
SD_V1_PAYLOAD = np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8))
#: SDXL (generative-models ``WATERMARK_MESSAGE``): 48 bits.
SDXL_PAYLOAD = np.array([int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]], dtype=np.uint8)
PAYLOADS = {"StableDiffusionV1": SD_V1_PAYLOAD, "SDXL": SDXL_PAYLOAD}

DWT_DCT_SCALE = 36.0  # invisible-watermark 0.2 default step for dwtDct
DWT_DCT_BLOCK = 4
#: Pixels of the top band decoded (full width); the rest of the image only repeats the same votes.
BAND_PIXELS = 500_000
#: -log10 of the binomial tail at which the score reaches 1.
LOG10_P_FULL = 12.0


def binomial_tail(agree: int, length: int) -> float:
    """P(X >= agree) for X ~ Binomial(length, 1/2): the chance agreement of an unmarked image."""
    return sum(math.comb(length, k) for k in range(agree, length + 1)) / 2.0**length


def agreement_score(agree: int, length: int) -> float:
    tail = max(binomial_tail(agree, length), 1e-300)
    return float(np.clip(-math.log10(tail) / LOG10_P_FULL, 0.0, 1.0))


def decode_dwt_dct(bgr: np.ndarray, length: int) -> np.ndarray:
    """Decode ``length`` bits embedded with invisible-watermark's dwtDct (uint8 BGR in).

    Same arithmetic as ``imwatermark.maxDct.EmbedMaxDct.decode`` (which, with
    its default scales ``[0, 36, 36]`` and ``range(2)`` loop, reads only the U
    channel), vectorised over blocks.
    """
    return bits_from_votes(dwt_dct_votes(bgr), length)


def dwt_dct_votes(bgr: np.ndarray) -> np.ndarray:
    """Each 4x4 block's bit vote, in the embedder's row-major block order (independent of the payload)."""
    import cv2
    import pywt

    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    approx, _ = pywt.dwt2(yuv[:rows, :cols, 1], "haar")
    b = DWT_DCT_BLOCK
    nr, nc = approx.shape[0] // b, approx.shape[1] // b
    blocks = approx[: nr * b, : nc * b].reshape(nr, b, nc, b).swapaxes(1, 2).reshape(nr * nc, b * b)
    position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    value = np.abs(blocks[np.arange(blocks.shape[0]), position])
    return (np.mod(value, DWT_DCT_SCALE) > 0.5 * DWT_DCT_SCALE).astype(np.float64)


def bits_from_votes(votes: np.ndarray, length: int) -> np.ndarray:
    """Bit ``k`` is the majority of the votes of blocks ``n`` with ``n mod length == k``."""
    index = np.arange(votes.size) % length
    means = np.bincount(index, weights=votes, minlength=length) / np.maximum(np.bincount(index, minlength=length), 1)
    return (means * 255 > 127).astype(np.uint8)


@register
@dataclass
class StableDiffusionWatermark(Detector):
    """Stable Diffusion / SDXL reference invisible watermark (dwtDct) and its bit agreement.

    Notes
    -----
    ``score`` = ``-log10(p) / 12`` of the best payload's bit agreement (see the
    module docstring); >= 0.5 (p <= 1e-6) decides "ai-generated".
    """

    name: ClassVar[str] = "sdwm"
    version: ClassVar[str] = "2"
    citation: ClassVar[str] = (
        "Rombach et al., High-Resolution Image Synthesis with Latent Diffusion Models, CVPR 2022 (reference "
        "scripts' invisible-watermark dwtDct); Podell et al., SDXL, arXiv:2307.01952, 2023"
    )
    summary: ClassVar[str] = "Decodes the Stable Diffusion / SDXL invisible watermark (dwtDct) and its bit agreement"
    title: ClassVar[str] = "Stable Diffusion invisible watermark"
    trace: ClassVar[str] = "carries the Stable Diffusion invisible watermark"
    indicates: ClassVar[str] = "ai-generated"
    kind: ClassVar[str] = "provenance"

    def analyze(self, image: Image) -> Finding:
        if image.height * image.width < 256 * 256 or min(image.shape) < 2 * 2 * DWT_DCT_BLOCK:
            # dwtDct votes in 4x4 blocks of the half-resolution band: fewer than 16 pixels across hold no block.
            raise NotApplicable(f"{image.width}x{image.height} is below the 256x256 (and 16 pixels a side) the "
                                "dwtDct watermark needs")
        results = []
        # Bits are laid out in the embedder's row-major block order, so a full-width band from the top keeps
        # every block's index: half a megapixel holds thousands of votes per bit at a fixed cost per image.
        band_rows = min(image.height, max(64, BAND_PIXELS // image.width) // 8 * 8)
        rgb = image.pixels[:band_rows]
        # The SD scripts hand imwatermark BGR; diffusers' SDXL watermarker hands it RGB: try both orders.
        for order, pixels in (("BGR", rgb[..., ::-1]), ("RGB", rgb)):
            votes = dwt_dct_votes(pixels)
            for payload_name, payload in PAYLOADS.items():
                bits = bits_from_votes(votes, payload.size)
                agree = int((bits == payload).sum())
                results.append((agreement_score(agree, payload.size), payload_name, order, agree, payload.size, bits))
        score, payload_name, order, agree, length, bits = max(results, key=lambda r: r[0])
        tail = binomial_tail(agree, length)
        note = (f"Best match: the {payload_name} watermark payload, {agree} of {length} bits agree "
                f"({agree / length:.0%}; chance of this agreement without a watermark p = {tail:.1e}).")
        facts = {
            "payload": payload_name,
            "channel_order": order,
            "bits_agree": agree,
            "bits": length,
            "bit_agreement": round(agree / length, 4),
            "p_value": tail,
            "decoded_hex": np.packbits(bits).tobytes().hex(),
            "rows_read": band_rows,
        }
        if payload_name == "StableDiffusionV1":
            facts["decoded_text"] = np.packbits(bits).tobytes().decode("latin-1")
        notes = [note] if score >= 0.5 else [
            "No Stable Diffusion watermark found. " + note + " JPEG re-compression or resizing removes it, so its "
            "absence is not evidence."]
        if score >= 0.5:
            notes.insert(0, "The image carries the Stable Diffusion reference invisible watermark: it was made by a "
                            "Stable Diffusion pipeline.")
        return Finding(score=score, notes=notes, facts=facts)


@register
@dataclass
class RivaGanWatermark(Detector):
    """RivaGAN 32-bit learned watermark, decoded with the ONNX decoder shipped by invisible-watermark.

    Parameters
    ----------
    expected : str or None
        The 32-bit payload to look for, as 8 hex digits. Without it the
        detector reports the decoded bits and does not decide (score None).
    """

    name: ClassVar[str] = "rivagan"
    version: ClassVar[str] = "1"
    citation: ClassVar[str] = "Zhang et al., Robust Invisible Video Watermarking with Attention, arXiv:1909.01285, 2019"
    summary: ClassVar[str] = "Decodes a RivaGAN 32-bit watermark and its agreement with an expected payload"
    title: ClassVar[str] = "RivaGAN invisible watermark"
    trace: ClassVar[str] = "carries the RivaGAN watermark"
    indicates: ClassVar[str] = "ai-generated"
    kind: ClassVar[str] = "provenance"

    expected: str | None = None

    def analyze(self, image: Image) -> Finding:
        session = _rivagan_decoder()
        frame = image.pixels[..., ::-1].astype(np.float32) / 127.5 - 1.0  # the package feeds BGR in [-1, 1]
        tensor = np.ascontiguousarray(frame.transpose(2, 0, 1)[None, :, None, :, :])
        out = np.asarray(session.run(None, {"frame": tensor})[0][0], dtype=np.float64)
        bits = (out > 0.52).astype(np.uint8)  # the package's decision threshold
        facts = {
            "decoded_hex": np.packbits(bits).tobytes().hex(),
            "mean_bit_margin": round(float(np.mean(np.abs(out - 0.5))), 4),
        }
        if not self.expected:
            return Finding(score=None, notes=[f"Decoded RivaGAN payload {facts['decoded_hex']} (no expected payload "
                                              "given, so no decision)."], facts=facts)
        expected = np.unpackbits(np.frombuffer(bytes.fromhex(self.expected), dtype=np.uint8))[: bits.size]
        agree = int((bits == expected).sum())
        facts.update({"bits_agree": agree, "bits": int(bits.size), "p_value": binomial_tail(agree, bits.size)})
        return Finding(score=agreement_score(agree, bits.size), notes=[
            f"RivaGAN payload {facts['decoded_hex']}: {agree} of {bits.size} bits agree with the expected "
            f"{self.expected} (p = {facts['p_value']:.1e})."], facts=facts)


_RIVAGAN_SESSION = None


def _rivagan_decoder():
    global _RIVAGAN_SESSION
    if _RIVAGAN_SESSION is None:
        try:
            import importlib.util
            from pathlib import Path

            import onnxruntime

            # Located without importing imwatermark, whose RivaGAN wrapper imports torch.
            spec = importlib.util.find_spec("imwatermark")
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError("invisible-watermark is not installed")
            model = Path(list(spec.submodule_search_locations)[0]) / "rivagan_decoder.onnx"
            _RIVAGAN_SESSION = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        except (ImportError, FileNotFoundError, OSError) as exc:
            raise NotApplicable(f"RivaGAN needs tamperscope[watermarks] (invisible-watermark, onnxruntime): {exc}") from None
    return _RIVAGAN_SESSION
