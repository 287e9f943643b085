"""Malformed and hostile image files, generated: the corpus behind the hardening tests.

Run as a script to write the corpus into a folder (for the CLI, the service or a
scan by hand)::

    python tests/hostile_corpus.py /tmp/hostile

Each case has a name (its file name), its bytes, and what a correct engine does
with it: ``"result"`` (a report, possibly with detectors not applicable) or
``"error"`` (a one-line message and a non-zero exit). No case may crash, hang or
exhaust memory. Every file is built here from generated pixels; nothing is
downloaded or copied.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

RESULT, ERROR = "result", "error"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: str
    why: str


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus texture: a stand-in photo that compresses like one."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / max(width, 1), y / max(height, 1), (x + y) / max(width + height, 1)], axis=-1) * 180 + 40
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _save(image: PILImage.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_bomb(width: int, height: int) -> bytes:
    """A real PNG whose pixels are all zero: a few hundred kB that inflate to width x height bytes."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one grey byte per pixel
    chunks = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(chunks) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _jpeg_with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF header claiming another canvas size."""
    data = bytearray(jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
        at = data.find(marker)
        if at >= 0:
            struct.pack_into(">HH", data, at + 5, height, width)
            return bytes(data)
    raise ValueError("no SOF marker")


def _tiff_with_declared_size(width: int, height: int) -> bytes:
    """A minimal little-endian TIFF header whose only strip cannot hold the declared canvas."""
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after the IFD
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts: 16 bytes for the whole canvas
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16


def _webp_with_declared_size(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L) header declaring a canvas its few bytes cannot fill."""
    bits = (width - 1) | ((height - 1) << 14)  # 14 bits each, then alpha hint and version (0)
    payload = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 16
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _jpeg_with_zero_step(jpeg: bytes) -> bytes:
    """The same JPEG with the first step of its first quantization table set to 0 (forbidden; libjpeg decodes it)."""
    data = bytearray(jpeg)
    at = data.find(b"\xff\xdb")
    data[at + 5] = 0  # marker (2) + length (2) + precision/table id (1), then the 64 steps
    return bytes(data)


def _flip_bits(data: bytes, count: int, seed: int, start: int) -> bytes:
    rng = np.random.default_rng(seed)
    flipped = bytearray(data)
    for position in rng.integers(start, len(data), size=count):
        flipped[position] ^= 1 << int(rng.integers(0, 8))
    return bytes(flipped)


def _exif_with_ifd(entries: bytes, count: int, next_ifd: int) -> bytes:
    """A raw EXIF block (big-endian TIFF) with a hand-built IFD0."""
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", count) + entries + struct.pack(">I", next_ifd)


def _jpeg_with_app1(jpeg: bytes, app1_payload: bytes) -> bytes:
    segment = b"\xff\xe1" + struct.pack(">H", len(app1_payload) + 2) + app1_payload
    return jpeg[:2] + segment + jpeg[2:]


def build() -> list[Case]:
    """Every case of the corpus, deterministic."""
    photo = PILImage.fromarray(_photo(240, 320))
    jpeg = _save(photo, "JPEG", quality=90)
    png = _save(photo, "PNG")
    tiff = _save(photo, "TIFF")
    webp = _save(photo, "WEBP", quality=80)
    cases = [
        Case("zero-size.jpg", b"", ERROR, "an empty file"),
        Case("random-bytes.jpg", np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(), ERROR,
             "noise with an image extension"),
        Case("html-named.jpg", b"<!doctype html><title>x</title><img src=x onerror=alert(1)>", ERROR,
             "markup with an image extension"),
        Case("svg-image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', ERROR,
             "a vector format the engine does not rasterise"),
        Case("png-named.jpg", png, RESULT, "a PNG with a .jpg name: the type comes from the content"),
        Case("jpeg-named.png", jpeg, RESULT, "a JPEG with a .png name"),
        Case("truncated-half.jpg", jpeg[: len(jpeg) // 2], ERROR, "JPEG cut in its entropy-coded data"),
        Case("truncated-header.jpg", jpeg[:200], ERROR, "JPEG cut inside its headers"),
        Case("truncated.png", png[: len(png) // 2], ERROR, "PNG cut in its IDAT"),
        Case("truncated.tiff", tiff[: len(tiff) // 3], ERROR, "TIFF cut in its strips"),
        Case("truncated.webp", webp[: len(webp) // 2], ERROR, "WebP cut in its bitstream"),
        Case("jpeg-soi-only.jpg", b"\xff\xd8\xff", ERROR, "the start-of-image marker and nothing else"),
        Case("1x1.png", _save(PILImage.new("RGB", (1, 1), (10, 20, 30)), "PNG"), RESULT, "one pixel"),
        Case("1x1.jpg", _save(PILImage.new("RGB", (1, 1), (10, 20, 30)), "JPEG"), RESULT, "one pixel, JPEG"),
        Case("2x3.gif", _save(PILImage.new("P", (2, 3)), "GIF"), RESULT, "a tiny palette image"),
        Case("1x50000.png", _save(PILImage.fromarray(_photo(1, 50000)), "PNG"), RESULT, "extreme aspect ratio"),
        Case("50000x1.png", _save(PILImage.fromarray(_photo(50000, 1)), "PNG"), RESULT, "extreme aspect ratio"),
        Case("8x40000.jpg", _save(PILImage.fromarray(_photo(8, 40000)), "JPEG", quality=85), RESULT,
             "one block row of JPEG"),
        Case("16bit-grey.png", _save(PILImage.fromarray((_photo(64, 80)[..., 0].astype(np.uint16) * 257)), "PNG"),
             RESULT, "16-bit greyscale"),
        Case("16bit-grey.tiff", _save(PILImage.fromarray((_photo(64, 80)[..., 1].astype(np.uint16) * 257)), "TIFF"),
             RESULT, "16-bit greyscale TIFF"),
        Case("cmyk.jpg", _save(photo.convert("CMYK"), "JPEG", quality=90), RESULT, "a CMYK JPEG (Adobe)"),
        Case("cmyk.tiff", _save(photo.convert("CMYK"), "TIFF"), RESULT, "a CMYK TIFF"),
        Case("palette.png", _save(photo.convert("P"), "PNG"), RESULT, "a palette image"),
        Case("rgba.png", _save(photo.convert("RGBA"), "PNG"), RESULT, "an image with alpha"),
        Case("greyscale-alpha.png", _save(photo.convert("LA"), "PNG"), RESULT, "greyscale with alpha"),
        Case("bilevel.tiff", _save(photo.convert("1"), "TIFF"), RESULT, "a 1-bit image"),
        Case("greyscale.jpg", _save(photo.convert("L"), "JPEG", quality=85), RESULT, "a one-component JPEG"),
        Case("uniform-white.jpg", _save(PILImage.new("RGB", (640, 480), "white"), "JPEG", quality=90), RESULT,
             "one colour: nothing to measure"),
        Case("uniform-black.png", _save(PILImage.new("RGB", (640, 480), "black"), "PNG"), RESULT, "one colour"),
        Case("uniform-grey.webp", _save(PILImage.new("RGB", (512, 512), (128, 128, 128)), "WEBP"), RESULT,
             "one colour WebP"),
        Case("multi-frame.gif", _multi_frame(photo, "GIF"), RESULT, "an animation: the first frame is analysed"),
        Case("multi-page.tiff", _multi_frame(photo, "TIFF"), RESULT, "several pages: the first is analysed"),
        Case("icc-garbage.jpg", _save(photo, "JPEG", quality=90, icc_profile=bytes(range(256)) * 8), RESULT,
             "an ICC profile that is not one"),
        Case("icc-garbage.png", _save(photo, "PNG", icc_profile=b"\x00" * 1000), RESULT, "a zeroed ICC profile"),
        Case("exif-huge-ifd.jpg", _jpeg_with_app1(jpeg, _exif_with_ifd(b"", 0xFFFF, 0)), RESULT,
             "EXIF IFD declaring 65535 entries it does not hold"),
        Case("exif-recursive-ifd.jpg",
             _jpeg_with_app1(jpeg, _exif_with_ifd(struct.pack(">HHII", 0x8769, 4, 1, 8), 1, 8)), RESULT,
             "EXIF whose IFDs point back at themselves"),
        Case("exif-bad-offsets.jpg",
             _jpeg_with_app1(jpeg, _exif_with_ifd(struct.pack(">HHII", 0x010F, 2, 0x7FFFFFFF, 0x7FFFFFF0), 1, 0)),
             RESULT, "EXIF values pointing far past the end"),
        Case("exif-garbage.jpg", _jpeg_with_app1(jpeg, b"Exif\x00\x00" + bytes(range(256)) * 4), RESULT,
             "an EXIF block of noise"),
        Case("bomb.png", _png_bomb(20_000, 20_000), ERROR, "a 400 MP PNG of zeros in a few hundred kB"),
        Case("bomb-declared.jpg", _jpeg_with_declared_size(jpeg, 65_000, 65_000), ERROR,
             "a small JPEG whose header declares 65000 x 65000"),
        Case("bomb-declared.tiff", _tiff_with_declared_size(60_000, 60_000), ERROR,
             "a TIFF declaring 60000 x 60000 with 16 bytes of pixels"),
        Case("bomb-declared.webp", _webp_with_declared_size(16_383, 16_383), ERROR,
             "a WebP declaring 16383 x 16383 with a few bytes"),
        Case("zero-height.jpg", _jpeg_with_declared_size(jpeg, 320, 0), ERROR, "a JPEG declaring height 0"),
        Case("zero-quant-step.jpg", _jpeg_with_zero_step(jpeg), RESULT,
             "a quantization step of 0 (found by the fuzzer: DCT-domain detectors divided by it)"),
    ]
    for seed in range(4):
        cases.append(Case(f"bitflip-{seed}.jpg", _flip_bits(jpeg, 20, seed, start=700), RESULT + "|" + ERROR,
                          "random bit flips in the entropy-coded data"))
        cases.append(Case(f"bitflip-header-{seed}.jpg", _flip_bits(jpeg, 6, seed, start=2)[:700] + jpeg[700:],
                          RESULT + "|" + ERROR, "random bit flips in the headers"))
        cases.append(Case(f"bitflip-{seed}.png", _flip_bits(png, 10, seed, start=33), RESULT + "|" + ERROR,
                          "bit flips in the PNG chunks (CRC mismatch)"))
        cases.append(Case(f"bitflip-{seed}.webp", _flip_bits(webp, 10, seed, start=30), RESULT + "|" + ERROR,
                          "bit flips in the WebP bitstream"))
        cases.append(Case(f"bitflip-{seed}.tiff", _flip_bits(tiff, 10, seed, start=8), RESULT + "|" + ERROR,
                          "bit flips in the TIFF"))
    return cases


def _multi_frame(photo: PILImage.Image, fmt: str) -> bytes:
    frames = [photo.convert("RGB"), photo.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT).convert("RGB")]
    options = {"save_all": True, "append_images": frames[1:]}
    if fmt == "GIF":
        frames = [frame.convert("P") for frame in frames]
        options = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    return _save(frames[0], fmt, **options)


def write(folder: Path) -> list[Case]:
    """Write every case into ``folder`` under its name; return the cases."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = build()
    for case in cases:
        (folder / case.name).write_bytes(case.data)
    return cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/hostile_corpus.py OUTPUT_FOLDER")
    written = write(Path(sys.argv[1]))
    print(f"{len(written)} files written to {sys.argv[1]}")
