"""Real files from ../shared/data: camera JPEGs, maker-note fixtures, C2PA test files.

Skipped when ../shared/data is absent (a user's clone), so the suite still passes there.
"""

import csv
from pathlib import Path

import pytest

from tamperscope import InputError, analyze, load

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dev"


def manifest(folder: str) -> list[dict]:
    path = DATA / folder / "manifest.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared development data is not beside this clone)")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("folder", ["exif-camera", "exiftool-fixtures"])
def test_camera_files_load_or_give_a_typed_error_and_no_detector_fails(folder):
    analysed = 0
    for row in manifest(folder):
        path = DATA / folder / row["image_path"]
        try:
            report = analyze(path)
        except InputError as exc:
            assert "\n" not in str(exc)
            continue
        analysed += 1
        failed = [(e.detector, e.reason) for e in report.evidence if e.status == "failed"]
        assert not failed, (path.name, failed)
        report.to_json()  # serialisable whatever the metadata
    assert analysed > 0


def test_c2pa_manifest_presence_matches_the_published_outcome():
    checked = 0
    for row in manifest("c2pa-testfiles"):
        notes = row["notes"]
        if "has_c2pa_jumbf=" not in notes:
            continue
        expected = "has_c2pa_jumbf=True" in notes
        try:
            image = load(DATA / "c2pa-testfiles" / row["image_path"])
        except InputError:
            continue
        assert image.metadata.c2pa_present == expected, row["image_path"]
        checked += 1
    assert checked > 0
