"""Resampling traces (Kirchner 2008 fixed-predictor p-map, a-contrario windows)."""

import cv2
import numpy as np

from forgeries import box_mask, iou, jpeg_bytes, photo
from tamperscope.detectors import available, create
from tamperscope.detectors.resampling import ratio_tail
from tamperscope.image import load

BOX = (160, 192, 192, 192)  # top, left, height, width of the pasted region


def pasted(factor: float | None):
    """The photo with a 192 px square pasted into it: taken from elsewhere in the photo and up-sampled by
    ``factor`` (bilinear), or copied as is (``None``), the same processing without resampling."""
    host = photo(512, 512)
    top, left, height, width = BOX
    if factor is None:
        patch = host[40 : 40 + height, 300 : 300 + width]
    else:
        small = host[40 : 40 + round(height / factor), 300 : 300 + round(width / factor)]
        patch = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    out = host.copy()
    out[top : top + height, left : left + width] = patch
    return out, box_mask(host.shape[:2], *BOX)


def test_registered():
    cls = available()["resampling"]
    assert cls.decides and "Kirchner" in cls.citation and cls.requires == frozenset()


def test_upsampled_region_is_found_where_it_is():
    pixels, mask = pasted(1.5)
    image = load(pixels)
    ev = create("resampling").run(image)
    assert ev.ok, ev.reason
    assert ev.score >= 0.9
    y, x = ev.facts["peak_window"]
    assert mask[y + 32, x + 32]  # the strongest window's centre is inside the pasted region
    # Up-sampling by 3/2 repeats every 3 pixels.
    assert any(p is not None and abs(p - 3.0) < 0.2 for p in ev.facts["peak_period"])
    heat = ev.heatmap_full(image.shape)
    assert iou(heat >= 0.5, mask) >= 0.4
    assert heat[mask].mean() > 5 * heat[~mask].mean()


def test_same_paste_without_resampling_is_not_flagged():
    pixels, _ = pasted(None)
    ev = create("resampling").run(load(pixels))
    assert ev.ok and ev.score < 0.5
    assert not ev.facts["jpeg_frequencies_excluded"]


def test_jpeg_grid_is_not_taken_for_resampling():
    pixels, _ = pasted(None)
    ev = create("resampling").run(load(jpeg_bytes(pixels, 85)))
    assert ev.ok and ev.score < 0.5
    assert ev.facts["jpeg_frequencies_excluded"]
    # The grid is there, image-wide, at periods dividing 8; it was set aside, not tested.
    periods = {p for pair in ev.facts["image_wide_periods"] for p in pair if p is not None}
    assert periods & {2.0, 2.67, 4.0, 8.0}


def test_null_tail_is_a_probability():
    tail = ratio_tail(np.array([0.0, 1.0, 10.0, 100.0]))
    assert tail[0] == 1.0 and np.all(np.diff(tail) < 0) and tail[-1] > 0


def test_not_applicable_when_small_or_flat():
    small = create("resampling").run(load(photo(100, 300)))
    assert small.status == "not-applicable" and "too small" in small.reason
    flat = create("resampling").run(load(np.full((256, 256, 3), 90, np.uint8)))
    assert flat.status == "not-applicable" and "flat" in flat.reason
