"""The explanation is grounded: every sentence cites evidence or file facts that exist."""

import numpy as np
import pytest
from PIL import Image

from forgeries import authentic_jpeg, double_jpeg_splice, photo
from tamperscope import analyze
from tamperscope.report.explain import location_words, strength_words, upright_bbox
from tamperscope.image import load


def resolve(report: dict, reference: str) -> bool:
    """Whether an evidence id points at something in the JSON report."""
    if reference.startswith("ev:"):
        return any(item["id"] == reference for item in report["evidence"])
    if reference.startswith("image:"):
        node = report["image"]
        for part in reference[len("image:") :].split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True
    return False


def sentences(report: dict, section: str | None = None):
    for block in report["explanation"]["sections"]:
        if section is None or block["title"] == section:
            yield from block["sentences"]


@pytest.fixture(scope="module")
def spliced_report(tmp_path_factory, plumbing_fusion):
    path = tmp_path_factory.mktemp("e") / "spliced.jpg"
    double_jpeg_splice(path)
    return analyze(path).to_dict()


def test_every_sentence_cites_existing_evidence(spliced_report):
    titles = [block["title"] for block in spliced_report["explanation"]["sections"]]
    assert titles == ["Verdict", "Where", "Why", "Provenance", "Caveats"]
    for sentence in sentences(spliced_report):
        assert all(resolve(spliced_report, ref) for ref in sentence["evidence"]), sentence
    for section in ("Verdict", "Where", "Why", "Provenance"):
        for sentence in sentences(spliced_report, section):
            assert sentence["evidence"], sentence  # only "not checked by this version" may cite nothing


def test_regions_are_described_with_the_detectors_that_saw_them(spliced_report):
    where = list(sentences(spliced_report, "Where"))
    region = spliced_report["regions"][0]
    first = where[0]
    assert first["text"].startswith(f"Region {region['id']}, in the centre of the image")
    assert set(first["evidence"]) == set(region["evidence_ids"])
    assert "Edited" in next(sentences(spliced_report, "Verdict"))["text"]


def test_clean_image_gets_no_region_claim(tmp_path):
    authentic_jpeg(tmp_path / "c.jpg", 90)
    report = analyze(tmp_path / "c.jpg").to_dict()
    assert list(sentences(report, "Where")) == []
    assert not any("Region" in s["text"] for s in sentences(report))
    assert "No evidence of manipulation" in next(sentences(report, "Verdict"))["text"]


def test_png_caveat_says_jpeg_checks_did_not_apply(tmp_path):
    Image.fromarray(photo(256, 256)).save(tmp_path / "p.png")
    report = analyze(tmp_path / "p.png").to_dict()
    caveats = " ".join(s["text"] for s in sentences(report, "Caveats"))
    assert "Double JPEG compression (DQ) did not apply: not a JPEG file (PNG)" in caveats
    assert "The file has no EXIF metadata." in [s["text"] for s in sentences(report, "Provenance")]


def test_exif_facts_are_reported_as_the_file_states_them(tmp_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS 40D", "GIMP 2.10"
    Image.fromarray(photo(128, 128)).save(tmp_path / "e.jpg", quality=90, exif=exif.tobytes())
    report = analyze(tmp_path / "e.jpg").to_dict()
    provenance = [s["text"] for s in sentences(report, "Provenance")]
    assert "The EXIF metadata names a Canon EOS 40D camera and the software 'GIMP 2.10'." in provenance


def test_words():
    assert strength_words(0.95) == "very strong" and strength_words(0.1) == "no"
    assert location_words((0, 0, 10, 10), (90, 90)) == "the top-left part of the image"
    assert location_words((40, 40, 10, 10), (90, 90)) == "the centre of the image"
    assert location_words((80, 40, 10, 10), (90, 90)) == "the right side of the image"
    assert location_words((0, 0, 90, 60), (90, 90)) == "most of the image"


def test_boxes_are_described_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "o.jpg", exif=exif.tobytes())
    image = load(tmp_path / "o.jpg")
    # The stored top-left corner is the upright top-right corner.
    assert upright_bbox((0, 0, 10, 5), image) == (35, 0, 5, 10)


def test_upright_boxes_match_the_turned_pixels_in_every_orientation():
    from dataclasses import replace

    from tamperscope.image import apply_orientation, load as load_array

    stored = load_array(np.zeros((40, 60, 3), np.uint8))
    box = (7, 5, 20, 9)
    for orientation in range(1, 9):
        image = replace(stored, orientation=orientation)
        marker = np.zeros((40, 60), dtype=bool)
        marker[5:14, 7:27] = True
        rows, cols = np.nonzero(apply_orientation(marker, orientation))
        painted = (int(cols.min()), int(rows.min()), int(np.ptp(cols) + 1), int(np.ptp(rows) + 1))
        assert upright_bbox(box, image) == painted, orientation
