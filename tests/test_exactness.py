"""The fast paths compute what the straightforward computation does: fusion on cells, the strips of large images,
the DCT of a few frequencies, and the computations detectors share (``Image.shared``)."""

import numpy as np
import pytest
from scipy import ndimage

from forgeries import double_jpeg_splice, jpeg_bytes, photo
from tamperscope._regions import connected_regions
from tamperscope.detectors import create, run_detectors
from tamperscope.detectors._grid import grid_profile
from tamperscope.detectors._jpeg import ZIGZAG, block_dct, block_dct_at, recompress, recompressed_strips
from tamperscope.evidence import Evidence
from tamperscope.fusion import FusionParams, fuse
from tamperscope.image import load


def per_pixel_fusion(evidence, shape, params=FusionParams()):
    """The rule of fusion v1 computed on full-resolution maps (the definition the cell version must equal)."""
    deciding = [e for e in evidence if e.ok and e.score is not None and e.heatmap is not None]
    heatmap = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    own = {}
    for item in deciding:
        full = item.heatmap_full(shape)
        np.maximum(heatmap, full * np.float32(item.score), out=heatmap)
        own[item.detector] = full >= params.threshold
        if item.score >= params.threshold:
            mask |= own[item.detector]
    regions = connected_regions(mask)
    found = []
    slices = ndimage.find_objects(regions.labels)
    for index in np.argsort(-regions.sizes)[: params.max_regions]:
        if regions.sizes[index] < max(64, int(np.ceil(params.min_region_share * mask.size))):
            break
        box = slices[index]
        local = regions.labels[box] == index + 1
        found.append(((box[1].start, box[0].start, box[1].stop - box[1].start, box[0].stop - box[0].start),
                      regions.sizes[index] / mask.size, float(heatmap[box][local].mean()),
                      [n for n, o in own.items() if o[box][local].mean() >= params.support_share], local))
    return heatmap, found


@pytest.mark.parametrize("shape", [(203, 317), (256, 256), (131, 64)])
def test_fusion_on_cells_equals_fusion_per_pixel(shape):
    rng = np.random.default_rng(sum(shape))
    evidence = []
    for name, stride, score in (("a", 8, 0.9), ("b", 16, 0.7), ("c", 8, 0.3)):
        cells = (-(-shape[0] // stride) + (name == "c"), shape[1] // stride)  # one grid too long, one too short
        heat = (rng.random(cells) > 0.7).astype(np.float32) * rng.random(cells).astype(np.float32)
        heat[2:6, 3:8] = 0.95
        evidence.append(Evidence(name, "1", score=score, heatmap=heat, stride=stride,
                                 confidence=rng.random(cells).astype(np.float32)))
    fused = fuse(evidence, shape)
    assert fused.stride == 8
    heatmap, regions = per_pixel_fusion(evidence, shape)
    np.testing.assert_array_equal(fused.heatmap, heatmap)
    assert len(fused.regions) == len(regions) > 0
    for region, (bbox, share, mean, supporters, local) in zip(fused.regions, regions):
        assert region.bbox == bbox and region.share == pytest.approx(share, abs=1e-12)
        assert region.mean_score == pytest.approx(mean, abs=1e-5) and region.detectors == supporters
        np.testing.assert_array_equal(region.local_mask, local)
    assert fused.mask_share == pytest.approx(fused.mask.mean(), abs=1e-12)
    assert fused.mask.shape == shape and fused.confidence.shape == shape


def test_a_per_pixel_map_makes_the_fusion_per_pixel():
    fine = Evidence("a", "1", score=0.8, heatmap=np.ones((40, 50), np.float32))
    coarse = Evidence("b", "1", score=0.6, heatmap=np.ones((5, 7), np.float32), stride=8)
    assert fuse([fine, coarse], (40, 50)).stride == 1
    assert fuse([coarse], (40, 50)).stride == 8


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    path = tmp_path_factory.mktemp("exact") / "spliced.jpg"
    double_jpeg_splice(path, size=(515, 779), box=(100, 150, 200, 260))
    return load(path)


def test_resaving_in_strips_gives_the_whole_image_resave(spliced):
    whole = recompress(spliced.pixels, 90, spliced.jpeg)
    for rows in (32, 48, 1024):
        for first, start, stop, resaved in recompressed_strips(spliced.pixels, 90, spliced.jpeg, rows):
            np.testing.assert_array_equal(resaved[start - first : stop - first], whole[start:stop])
    with pytest.raises(ValueError):
        next(recompressed_strips(spliced.pixels, 90, None, rows=40))


@pytest.mark.parametrize("rows", [48, 1024])  # several strips, one
def test_ela_in_strips_from_its_histograms_is_its_definition(spliced, monkeypatch, rows):
    # ELA's map definition (the localizer reads it), computed on the whole image as the module docstring states it.
    import functools

    import cv2

    from tamperscope.detectors import ela

    monkeypatch.setattr(ela, "recompressed_strips", functools.partial(recompressed_strips, rows=rows))
    evidence = create("ela").run(spliced)
    quality = evidence.facts["resave_quality"]
    error = cv2.absdiff(spliced.pixels, recompress(spliced.pixels, quality)).astype(np.float64).mean(axis=2)
    assert evidence.facts["mean_error"] == pytest.approx(round(error.mean(), 3), abs=1e-3)
    assert evidence.facts["p99_error"] == pytest.approx(round(float(np.percentile(error, 99)), 3), abs=1e-3)
    smoothed = cv2.blur(error.astype(np.float32), (8, 8), borderType=cv2.BORDER_REFLECT)
    scale = max(float(np.percentile(smoothed, 99)), 1.0)
    assert evidence.facts["scale"] == pytest.approx(round(scale, 3), abs=1e-3)
    np.testing.assert_allclose(evidence.heatmap, np.clip(smoothed / scale, 0, 1), atol=1e-5)
    assert 0.005 < (evidence.heatmap == 1.0).mean() <= 0.011  # the top 1 % reads 1


def test_dct_of_a_few_frequencies_equals_the_block_dct():
    plane = np.random.default_rng(4).random((203, 317)).astype(np.float32) * 255
    full = block_dct(plane - 128.0)
    some = block_dct_at(plane, ZIGZAG[1:11], strip_blocks=5)
    for (u, v), values in some.items():
        np.testing.assert_allclose(values, full[:, :, u, v], atol=2e-4)


def test_block_grid_in_strips_equals_the_whole_image(spliced):
    y = spliced.luminance()
    whole, strips = grid_profile(y, strip_rows=100_000), grid_profile(y, strip_rows=40)
    for name in ("bag_h", "bag_v", "texture_h", "texture_v"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(strips, name))


def test_noise_first_level_in_strips_equals_the_whole_wavelet_level():
    from tamperscope.detectors import noise

    y = np.random.default_rng(5).random((517, 771)).astype(np.float32) * 255
    level = noise.wavelet_level(y, "LL,HH")
    sigma = noise._median_last(noise._tiles(level["HH"], 8)) / noise._MAD_TO_SIGMA
    for strip in (1, 3, 32):
        strip_sigma, low = noise._first_level(y, 8, strip)
        np.testing.assert_array_equal(strip_sigma, sigma)
        np.testing.assert_array_equal(low, level["LL"])


def test_dq_clipping_share_is_the_share_of_clipped_pixels(spliced):
    from tamperscope.detectors.dq import _clipped_share

    pixels = spliced.pixels.copy()
    pixels[::7, ::5] = 255
    pixels[3::11, 1::3, 1] = 0
    rows, cols = pixels.shape[0] // 8, pixels.shape[1] // 8
    clipped = ((pixels == 0) | (pixels == 255)).any(axis=2)[: rows * 8, : cols * 8]
    np.testing.assert_array_equal(_clipped_share(pixels, rows, cols, strip_blocks=7),
                                  clipped.reshape(rows, 8, cols, 8).mean(axis=(1, 3)))


def test_shared_computations_run_once_are_read_only_and_released(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo(200, 264), 85))
    image = load(tmp_path / "a.jpg")
    calls = []
    first = image.shared(("x", 1), lambda: calls.append(1) or np.zeros(3))
    assert image.shared(("x", 1), lambda: calls.append(1) or np.ones(3)) is first and calls == [1]
    assert not first.flags.writeable
    image.luminance()
    image.release_shared()
    assert image._shared == {} and image._luminance is None
    # BLK and CAGI read one grid profile; the runner releases it when the detectors are done.
    computed = []
    import tamperscope.detectors._grid as grid

    original = grid.grid_profile
    grid.grid_profile = lambda *a, **k: computed.append(1) or original(*a, **k)
    try:
        run_detectors(image, [create("blk"), create("cagi")])
    finally:
        grid.grid_profile = original
    assert computed == [1] and image._shared == {}
