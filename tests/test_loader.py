"""The loader: formats, JPEG internals, metadata, limits and typed errors."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from forgeries import jpeg_bytes, photo
from tamperscope.errors import DecompressionBomb, ImageTooLarge, TruncatedImage, UnreadableImage, UnsupportedFormat
from tamperscope.image import Limits, apply_orientation, estimate_jpeg_quality, ijg_table, load


@pytest.fixture(scope="module")
def small_photo():
    return photo(96, 128)


def png_with_canvas(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR that declare ``width`` x ``height``, with one tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_jpeg_internals_match_libjpeg_and_pixels(tmp_path, small_photo):
    path = tmp_path / "q75.jpg"
    path.write_bytes(jpeg_bytes(small_photo, 75))
    image = load(path)
    assert image.format == "JPEG" and image.shape == (96, 128)
    jpeg = image.jpeg
    assert jpeg is not None and not jpeg.progressive
    assert jpeg.quality == 75 and jpeg.quality_exact
    np.testing.assert_array_equal(jpeg.quant_tables["Y"], ijg_table(75))
    assert jpeg.coefficients["Y"].shape == (12, 16, 8, 8)
    assert jpeg.coefficients["Cb"].shape == (6, 8, 8, 8)
    assert jpeg.subsampling == "4:2:0"
    # The DC coefficient times its step is the block mean of the level-shifted luminance, times 8.
    luma = image.luminance()[:8, :8] - 128
    dc = jpeg.coefficients["Y"][0, 0, 0, 0] * jpeg.quant_tables["Y"][0, 0]
    assert abs(dc / 8 - luma.mean()) < 2.5


def test_progressive_and_444(tmp_path, small_photo):
    path = tmp_path / "p.jpg"
    PILImage.fromarray(small_photo).save(path, quality=90, progressive=True, subsampling=0)
    jpeg = load(path).jpeg
    assert jpeg.progressive and jpeg.subsampling == "4:4:4"


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP", "BMP"])
def test_other_formats_decode_without_jpeg_internals(tmp_path, small_photo, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    options = {"lossless": True} if fmt == "WEBP" else {}
    PILImage.fromarray(small_photo).save(path, format=fmt, **options)
    image = load(path)
    assert image.format == fmt and image.jpeg is None
    np.testing.assert_array_equal(image.pixels, small_photo)


def test_metadata_and_orientation_are_kept(tmp_path, small_photo):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    exif[0x0131] = "tamperscope-test"
    path = tmp_path / "o.jpg"
    PILImage.fromarray(small_photo).save(path, quality=90, exif=exif.tobytes(), icc_profile=b"fake-icc")
    image = load(path)
    assert image.orientation == 6 and image.shape == (96, 128)  # stored pixels are not rotated
    assert image.metadata.exif and b"tamperscope-test" in image.metadata.exif
    assert image.metadata.icc_profile == b"fake-icc"
    assert image.upright(image.pixels).shape[:2] == (128, 96)


def test_png_text_chunks(tmp_path, small_photo):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a prompt, Steps: 20")
    path = tmp_path / "t.png"
    PILImage.fromarray(small_photo).save(path, pnginfo=info)
    assert load(path).metadata.text == {"parameters": "a prompt, Steps: 20"}


def test_sixteen_bit_and_palette_and_cmyk(tmp_path, small_photo):
    grey16 = (small_photo[..., 0].astype(np.uint16) * 257)
    path = tmp_path / "g16.png"
    PILImage.fromarray(grey16).save(path)
    image = load(path)
    assert image.pixels.dtype == np.uint8 and abs(int(image.pixels[..., 0].max()) - int(small_photo[..., 0].max())) <= 1
    PILImage.fromarray(small_photo).convert("P").save(tmp_path / "p.png")
    assert load(tmp_path / "p.png").mode == "P"
    PILImage.fromarray(small_photo).convert("CMYK").save(tmp_path / "c.jpg")
    cmyk = load(tmp_path / "c.jpg")
    assert cmyk.mode == "CMYK" and cmyk.pixels.shape == (96, 128, 3)


def test_arrays_are_accepted():
    image = load(np.zeros((16, 24), np.uint8))
    assert image.format == "ARRAY" and image.pixels.shape == (16, 24, 3)


def test_quality_estimate_on_non_ijg_table():
    camera_like = ijg_table(92) + np.eye(8) * 3
    quality, exact = estimate_jpeg_quality(camera_like)
    assert quality is not None and abs(quality - 92) <= 2 and not exact


def test_apply_orientation_round_trip():
    a = np.arange(12).reshape(3, 4)
    assert apply_orientation(a, 3).tolist() == a[::-1, ::-1].tolist()
    assert apply_orientation(a, 6).shape == (4, 3)
    assert apply_orientation(a, 6)[0, 0] == a[2, 0]  # the bottom-left pixel comes to the top-left


@pytest.mark.parametrize(
    "content, error, words",
    [
        (b"", UnreadableImage, "empty"),
        (b"hello, I am not an image\n" * 4, UnsupportedFormat, "looks like text"),
        (png_with_canvas(40000, 40000), DecompressionBomb, "decompression bomb"),
    ],
)
def test_bad_inputs_raise_typed_one_line_errors(tmp_path, content, error, words):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert words in message and "\n" not in message and str(path) in message


def test_truncated_jpeg(tmp_path, small_photo):
    data = jpeg_bytes(photo(256, 256), 90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedImage, match="truncated"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableImage, match="no such file"):
        load(tmp_path / "nope.jpg")


def test_limits_are_user_settable(tmp_path, small_photo):
    path = tmp_path / "x.png"
    PILImage.fromarray(small_photo).save(path)
    with pytest.raises(ImageTooLarge, match="limit"):
        load(path, Limits(max_pixels=1000))
    with pytest.raises(ImageTooLarge, match="byte limit"):
        load(path, Limits(max_file_bytes=100))
    # A canvas over the pixel limit but honestly sized is "too large", not a bomb.
    with pytest.raises(ImageTooLarge) as info:
        load(path, Limits(max_pixels=1000))
    assert not isinstance(info.value, DecompressionBomb)


def test_bytes_source_reads_jpeg_internals(small_photo):
    image = load(jpeg_bytes(small_photo, 80))
    assert image.jpeg is not None and image.jpeg.quality == 80
