"""ELA (Krawetz 2007): a map to read, no decision."""

from PIL import Image

from forgeries import box_mask, decode, jpeg_bytes, photo
from tamperscope.detectors import create
from tamperscope.image import load


def test_region_without_the_compression_history_shows_a_higher_error_level(tmp_path):
    original = photo()
    host = decode(jpeg_bytes(original, 90))
    mask = box_mask(host.shape[:2], 200, 300, 256, 256)
    host[mask] = original[mask]  # pasted from an uncompressed source, after the last JPEG save
    Image.fromarray(host).save(tmp_path / "pasted.png")
    evidence = create("ela").run(load(tmp_path / "pasted.png"))
    assert evidence.ok and evidence.score is None  # ELA has no decision statistic
    assert evidence.facts["resave_quality"] == 90 and not evidence.facts["file_tables"]
    heat = evidence.heatmap_full(mask.shape)
    inner = mask.copy()
    inner[:] = False
    inner[210:446, 310:546] = True  # away from the 8x8 smoothing at the border
    assert heat[inner].mean() > 3 * heat[~mask].mean()


def test_jpeg_is_resaved_with_its_own_tables(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo(128, 128), 83))
    evidence = create("ela").run(load(tmp_path / "a.jpg"))
    assert evidence.facts["file_tables"] and evidence.facts["resave_quality"] == 83
    # A single-compressed JPEG is nearly a fixed point of re-saving with its own tables.
    assert evidence.facts["mean_error"] < 1.0
    assert "IJG quality 83" in evidence.notes[0]
