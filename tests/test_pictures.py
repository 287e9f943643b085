"""The report's pictures and files: one renderer (report/colormap.py), maps at their native resolution, the HTML
page reusing the map files written, and the write step's timings."""

import base64
import io
import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from forgeries import double_jpeg_splice
from tamperscope import analyze, write_report
from tamperscope.evidence import expand_cells
from tamperscope.fusion import grid_shape
from tamperscope.report import colormap


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    path = tmp_path_factory.mktemp("pictures") / "spliced.jpg"
    double_jpeg_splice(path, size=(701, 933), box=(100, 150, 300, 260))
    return path, analyze(path)


def test_expand_cells_repeats_the_last_cells_and_cuts_the_rest():
    cells = np.arange(6, dtype=np.float32).reshape(2, 3)
    full = expand_cells(cells, 4, (10, 9))
    assert full.shape == (10, 9)
    assert (full[:4, :4] == 0).all() and (full[:4, 4:8] == 1).all() and (full[:4, 8:] == 2).all()
    assert (full[4:, :4] == 3).all() and (full[8:, 8:] == 5).all()  # rows 8-9 repeat the last row of cells
    assert (expand_cells(cells, 1, (2, 3)) == cells).all() and expand_cells(cells, 1, (2, 3), copy=True) is not cells
    assert (expand_cells(cells, 4, (3, 9), top=4) == full[4:7]).all()  # a strip of rows
    assert (expand_cells(np.zeros((0, 0), np.float32), 8, (5, 5)) == 0).all()


def test_map_png_holds_the_levels_with_the_inferno_palette():
    heat = np.random.default_rng(0).random((37, 51)).astype(np.float32)
    picture = Image.open(io.BytesIO(colormap.map_png(heat)))
    assert picture.mode == "P" and picture.size == (51, 37)
    assert (np.asarray(picture) == colormap.to_grey(heat)).all()
    assert (np.asarray(picture.convert("RGB")) == colormap.colorize(heat)).all()


def test_transparency_is_added_without_touching_the_pixels():
    heat = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    plain = colormap.map_png(heat)
    clear = colormap.with_transparency(plain)
    picture = Image.open(io.BytesIO(clear))
    picture.load()
    assert "transparency" in picture.info and (np.asarray(picture) == colormap.to_grey(heat)).all()
    alpha = np.asarray(picture.convert("RGBA"))[..., 3]
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 255 and (np.diff(alpha.ravel().astype(int)) >= 0).all()
    with pytest.raises(ValueError):
        colormap.with_transparency(clear)  # already transparent
    with pytest.raises(ValueError):
        colormap.with_transparency(colormap.png_bytes(np.zeros((4, 4), np.uint8)))  # grey, no palette


def test_overlay_in_strips_is_the_overlay_of_the_full_maps(monkeypatch):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (100, 130, 3)).astype(np.uint8)
    heat = rng.random((13, 17)).astype(np.float32)
    mask = np.zeros((13, 17), bool)
    mask[3:6, 4:9] = True
    whole = colormap.overlay(pixels, expand_cells(heat, 8, (100, 130)), expand_cells(mask, 8, (100, 130)))
    monkeypatch.setattr(colormap, "STRIP_ROWS", 16)
    assert (colormap.overlay_picture(pixels, heat, 8, mask) == whole).all()
    # The outline is drawn (cyan) and the heat tints the photo where it is strong.
    assert ((whole == (0, 255, 255)).all(axis=2)).any()
    small = colormap.overlay_picture(pixels, heat, 8, mask, max_side=40)
    assert max(small.shape[:2]) == 40 and small.shape[2] == 3


def test_fit_cells_at_the_image_size_is_exact_and_previews_keep_their_cells():
    cells = np.random.default_rng(2).random((20, 30)).astype(np.float32)
    assert (colormap.fit_cells(cells, 8, (157, 233), (157, 233)) == expand_cells(cells, 8, (157, 233))).all()
    preview = colormap.fit_cells(cells, 8, (157, 233), (79, 117), nearest=True)
    assert preview.shape == (79, 117) and set(np.unique(preview)) <= set(np.unique(cells))
    # A per-pixel map larger than the picture is area-averaged, as a one-step area resize does.
    import cv2

    fine = cv2.GaussianBlur(np.random.default_rng(6).random((900, 1300)).astype(np.float32), (0, 0), 3)
    small = colormap.fit_cells(fine, 1, (900, 1300), (277, 400))
    reference = cv2.resize(fine, (400, 277), interpolation=cv2.INTER_AREA)
    assert small.shape == (277, 400) and np.abs(small - reference).mean() < 0.01


def test_jpeg_bytes_in_place_gives_the_same_file():
    pixels = np.random.default_rng(3).integers(0, 256, (40, 56, 3)).astype(np.uint8)
    kept = pixels.copy()
    assert colormap.jpeg_bytes(kept) == colormap.jpeg_bytes(pixels, consume=True)
    assert Image.open(io.BytesIO(colormap.jpeg_bytes(kept))).size == (56, 40)


def test_report_files_at_native_resolution_and_their_scale(spliced, tmp_path):
    path, report = spliced
    artifacts = write_report(report, tmp_path / "out", formats=["html"])
    out = tmp_path / "out"
    scales = artifacts["map_scale"]
    fusion = report.fusion
    assert artifacts["overlay"] == "overlay.jpg" and Image.open(out / "overlay.jpg").format == "JPEG"
    assert Image.open(out / "overlay.jpg").size == (933, 701)
    mask = np.asarray(Image.open(out / "mask.png"))
    assert mask.shape == (701, 933) and (mask == 255).sum() == fusion.mask.sum()
    # The fused map's cell: the gcd of the deciding maps' (DQ's and BLK's 8, noise's 16, copymove_sift's 1 on a photo
    # under 8 MP, which it analyses at full size).
    deciding = [e.stride for e in report.evidence if e.ok and e.score is not None and e.heatmap is not None]
    assert scales["heatmap"] == fusion.stride == math.gcd(*deciding)
    cells = grid_shape((701, 933), fusion.stride)
    heat = Image.open(out / "heatmap.png")
    assert heat.mode == "P" and heat.size[::-1] == cells
    # The file's levels are the fused map's, cell for cell (a program reads them directly).
    assert (np.asarray(heat) == colormap.to_grey(expand_cells(fusion.heatmap_cells, 1, cells))).all()
    for item in report.evidence:
        if item.heatmap is not None:
            name = artifacts[f"layer:{item.detector}"]
            assert scales[f"layer:{item.detector}"] == item.stride
            assert Image.open(out / name).size[::-1] == grid_shape((701, 933), item.stride)
    saved = json.loads((out / "report.json").read_text())
    assert saved["artifacts"]["map_scale"] == scales
    assert {"write", "write:pictures", "write:html", "fuse", "explain", "load", "total"} <= set(saved["timings_s"])
    assert saved["timings_s"]["write"] >= saved["timings_s"]["write:pictures"]


def test_the_html_page_embeds_the_map_files_written(spliced, tmp_path):
    _, report = spliced
    write_report(report, tmp_path / "out", formats=["html"])
    page = (tmp_path / "out" / "report.html").read_text()
    written = Image.open(tmp_path / "out" / "layers" / "dq.png")
    embedded = [Image.open(io.BytesIO(base64.b64decode(data)))
                for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]
    same = [im for im in embedded if im.size == written.size and (np.asarray(im) == np.asarray(written)).all()]
    assert same and all("transparency" in im.info for im in same)


def test_full_size_maps_when_asked(spliced, tmp_path):
    _, report = spliced
    artifacts = write_report(report, tmp_path / "out", full_size_maps=True)
    assert set(artifacts["map_scale"].values()) == {1}
    assert Image.open(tmp_path / "out" / "heatmap.png").size == (933, 701)
    assert Image.open(tmp_path / "out" / "layers" / "noise.png").size == (933, 701)


def test_maps_of_an_upright_turned_photo_are_turned_too(tmp_path):
    plain = tmp_path / "plain.jpg"
    double_jpeg_splice(plain, size=(301, 517), box=(60, 100, 120, 160))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    turned = tmp_path / "turned.jpg"
    with Image.open(plain) as source:
        source.save(turned, exif=exif.tobytes(), qtables=source.quantization, subsampling="4:2:0")
    report = analyze(turned)
    write_report(report, tmp_path / "out")
    assert Image.open(tmp_path / "out" / "overlay.jpg").size == (301, 517)
    assert Image.open(tmp_path / "out" / "mask.png").size == (301, 517)
    rows, cols = grid_shape((301, 517), report.fusion.stride)
    assert Image.open(tmp_path / "out" / "heatmap.png").size == (rows, cols)


def test_a_per_pixel_map_larger_than_the_preview_is_shrunk_for_the_page(tmp_path):
    from forgeries import jpeg_bytes, photo
    from tamperscope.report.html import PREVIEW_MAX_SIDE

    (tmp_path / "wide.jpg").write_bytes(jpeg_bytes(photo(900, 1800), 90))
    report = analyze(tmp_path / "wide.jpg", "ela,dq")
    write_report(report, tmp_path / "out", formats=["html"])
    assert Image.open(tmp_path / "out" / "layers" / "ela.png").size == (1800, 900)  # the file: per pixel
    page = (tmp_path / "out" / "report.html").read_text()
    sizes = [Image.open(io.BytesIO(base64.b64decode(data))).size
             for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]
    assert (PREVIEW_MAX_SIDE, 800) in sizes and max(max(size) for size in sizes) == PREVIEW_MAX_SIDE
