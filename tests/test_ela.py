"""ELA (Krawetz 2007) at a fixed quality below the file's own: a map to read, no decision."""

import numpy as np
import pytest
from PIL import Image

from forgeries import box_mask, decode, jpeg_bytes, photo
from tamperscope.detectors import create
from tamperscope.detectors.ela import resave_quality
from tamperscope.image import load

INNER = (slice(210, 446), slice(310, 546))  # the pasted 256x256 box less the 8x8 smoothing band at its border


def pasted(host: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``host`` with a 256x256 box of ``original`` pasted in; the mask of the box."""
    mask = box_mask(host.shape[:2], 200, 300, 256, 256)
    forged = host.copy()
    forged[mask] = original[mask]
    return forged, mask


def away_from(mask: np.ndarray) -> np.ndarray:
    """Pixels at least 16 px from the box (the rest of the photo)."""
    grown = np.zeros_like(mask)
    rows, cols = np.nonzero(mask)
    grown[max(0, rows.min() - 16): rows.max() + 17, max(0, cols.min() - 16): cols.max() + 17] = True
    return ~grown


def test_png_is_resaved_at_90_and_a_region_without_the_compression_history_stands_out(tmp_path):
    original = photo()
    forged, mask = pasted(decode(jpeg_bytes(original, 90)), original)  # pasted after the last JPEG save
    Image.fromarray(forged).save(tmp_path / "pasted.png")
    evidence = create("ela").run(load(tmp_path / "pasted.png"))
    assert evidence.ok and evidence.score is None  # ELA has no decision statistic
    assert evidence.facts["resave_quality"] == 90 and "not a JPEG" in evidence.facts["quality_rule"]
    heat = evidence.heatmap_full(mask.shape)
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    assert heat[INNER].mean() > 3 * heat[away_from(mask)].mean()


@pytest.mark.parametrize("quality, expected", [(95, 90), (90, 85), (75, 70)])
def test_jpeg_is_resaved_below_its_own_quality(tmp_path, quality, expected):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo(128, 128), quality))
    image = load(tmp_path / "a.jpg")
    assert resave_quality(image)[0] == expected
    evidence = create("ela").run(image)
    assert evidence.facts["resave_quality"] == expected
    assert f"the file's quality {quality}" in evidence.facts["quality_rule"]
    assert f"IJG quality {expected}" in evidence.notes[0]


def test_a_stable_jpeg_saved_twice_at_one_quality_shows_an_error_level(tmp_path):
    # Re-saving with the file's own tables (ELA 1.0) gave a near-blank map here: a near fixed point of JPEG.
    twice = jpeg_bytes(decode(jpeg_bytes(photo(), 90)), 90)
    (tmp_path / "twice.jpg").write_bytes(twice)
    evidence = create("ela").run(load(tmp_path / "twice.jpg"))
    assert evidence.facts["resave_quality"] == 85
    assert evidence.facts["mean_error"] > 0.5  # grey levels (about 1.0 on this photo; 0.06 with its own tables)
    heat = evidence.heatmap
    assert heat.mean() > 0.2 and (heat > 0.5).mean() > 0.05  # readable, not a few isolated dots
    own_tables = create("ela", quality=90).run(load(tmp_path / "twice.jpg"))
    assert own_tables.facts["mean_error"] < evidence.facts["mean_error"] / 2


def test_a_region_pasted_into_a_stable_jpeg_then_saved_higher_stands_out(tmp_path):
    # Krawetz's case: the host was saved twice at 90, the pasted region comes from an uncompressed source, and the
    # edit was saved at 95. Re-saved at 90, the host is near its old fixed point; the region is not.
    original = photo()
    host = decode(jpeg_bytes(decode(jpeg_bytes(original, 90)), 90))
    forged, mask = pasted(host, original)
    (tmp_path / "edited.jpg").write_bytes(jpeg_bytes(forged, 95))
    evidence = create("ela").run(load(tmp_path / "edited.jpg"))
    assert evidence.facts["resave_quality"] == 90
    heat = evidence.heatmap_full(mask.shape)
    assert heat[INNER].mean() > 2 * heat[away_from(mask)].mean()


def test_camera_tables_get_the_nearest_ijg_quality(tmp_path):
    # A table that is no IJG scaling (libjpeg's quality-90 table with a few steps changed).
    from tamperscope.image import ijg_table

    table = ijg_table(90).astype(int)
    table[4:, :] += 12
    buffer = tmp_path / "camera.jpg"
    Image.fromarray(photo(128, 128)).save(buffer, format="JPEG", qtables=[table.ravel().tolist()] * 2)
    image = load(buffer)
    assert image.jpeg.quality is None
    quality, rule = resave_quality(image)
    assert 50 <= quality <= 85 and "nearest IJG scaling" in rule
