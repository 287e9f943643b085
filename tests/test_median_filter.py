"""Median filtering (Kirchner & Fridrich 2010): streaking map, no decision."""

import cv2
import numpy as np

from forgeries import box_mask, iou, photo
from tamperscope.detectors import available, create
from tamperscope.image import load

BOX = (256, 384, 256, 320)


def test_registered_as_a_layer():
    cls = available()["median_filter"]
    assert not cls.decides and "Kirchner" in cls.citation


def test_median_filtered_region_is_localized():
    original = photo()
    mask = box_mask(original.shape[:2], *BOX)
    pixels = original.copy()
    pixels[mask] = cv2.medianBlur(original, 3)[mask]
    image = load(pixels)
    ev = create("median_filter").run(image)
    assert ev.ok and ev.score is None
    assert iou(ev.heatmap_full(image.shape) >= 0.5, mask) >= 0.5


def test_global_streaking_statistic_separates_filtered_from_authentic():
    original = photo()
    authentic = create("median_filter").run(load(original))
    filtered = create("median_filter").run(load(cv2.medianBlur(original, 3)))
    # The map is relative to the image: an authentic photo has no streaking region.
    assert authentic.facts["streaking_window_share"] < 0.03
    assert filtered.facts["gamma"] > 2 * authentic.facts["gamma"]


def test_not_applicable_cases():
    small = create("median_filter").run(load(photo(100, 300)))
    assert small.status == "not-applicable" and "too small" in small.reason
    flat = create("median_filter").run(load(np.full((256, 256, 3), 77, np.uint8)))
    assert flat.status == "not-applicable" and "too flat" in flat.reason
