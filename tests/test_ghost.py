"""JPEG ghosts (Farid 2009): a map and a ghost quality, no decision."""

import numpy as np

from forgeries import box_mask, decode, iou, jpeg_bytes, photo
from tamperscope.detectors import available, create
from tamperscope.image import load

BOX = (256, 384, 256, 320)


def spliced(q_region: int, q_host: int):
    """A region of the photo saved at ``q_region`` pasted on the 8x8 grid, the whole saved at ``q_host``;
    with ``q_region == q_host`` the same processing leaves nothing to find."""
    original = photo(768, 1024)
    region = decode(jpeg_bytes(original, q_region))
    mask = box_mask(original.shape[:2], *BOX)
    pixels = original.copy()
    pixels[mask] = region[mask]
    return load(jpeg_bytes(pixels, q_host)), mask


def test_registered_as_a_layer():
    cls = available()["ghost"]
    assert not cls.decides and "Farid" in cls.citation


def test_q60_region_in_a_q85_image():
    image, mask = spliced(60, 85)
    ev = create("ghost").run(image)
    assert ev.ok and ev.score is None
    assert abs(ev.facts["ghost_quality"] - 60) <= 5
    assert ev.facts["file_quality"] == 85
    assert max(ev.facts["qualities"]) < 85  # ghosts are looked for below the final quality
    heat = ev.heatmap_full(image.shape)
    assert iou(heat >= 0.5, mask) >= 0.6


def test_authentic_counterpart_has_no_ghost_region():
    forged, _ = spliced(60, 85)
    authentic, mask = spliced(85, 85)
    ev_forged = create("ghost").run(forged)
    ev = create("ghost").run(authentic)
    assert ev.ok
    assert ev.facts["ghost_share"] < 0.05
    assert ev.facts["ghost_strength"] < 0.5 * ev_forged.facts["ghost_strength"]
    assert np.mean(ev.heatmap_full(authentic.shape)[mask] >= 0.5) < 0.1


def test_not_applicable_cases():
    high = create("ghost").run(load(jpeg_bytes(photo(128, 128), 52)))
    assert high.status == "not-applicable" and "no room below" in high.reason
    small = create("ghost").run(load(photo(40, 300)))
    assert small.status == "not-applicable" and "too small" in small.reason
    flat = create("ghost").run(load(np.full((200, 200, 3), 255, np.uint8)))
    assert flat.status == "not-applicable" and "flat or clipped" in flat.reason
