"""Face finding, self-blending and the face-swap detector (SBI / Face X-ray)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from forgeries import decode, jpeg_bytes
from tamperscope import analyze
from tamperscope.detectors import create
from tamperscope.faces.blend import boundary, crop_ellipse, self_blend, soft_face_mask
from tamperscope.faces.find import Face, ellipse_mask, find_faces
from tamperscope.image import load


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return data.astronaut()


def _other_photo_of(pixels: np.ndarray) -> np.ndarray:
    """The same scene as a different photo would give it: resampled, warmer, sharper, recompressed."""
    h, w = pixels.shape[:2]
    small = cv2.resize(pixels, (int(w * 0.7), int(h * 0.7)), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    back = back * np.array([1.12, 1.0, 0.85], np.float32) + 6
    back = back + 0.8 * (back - cv2.GaussianBlur(back, (0, 0), 1.5))
    return decode(jpeg_bytes(np.clip(back, 0, 255).astype(np.uint8), 70))


def _paste_face(target: np.ndarray, donor: np.ndarray, face: Face, feather: float) -> tuple[np.ndarray, np.ndarray]:
    """Paste the donor's face into the target through a soft ellipse mask; returns (image, soft mask)."""
    hard = ellipse_mask(target.shape[:2], face).astype(np.float32)
    soft = cv2.GaussianBlur(hard, (0, 0), feather)
    out = soft[..., None] * donor.astype(np.float32) + (1 - soft[..., None]) * target.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), soft


def test_face_found_in_portrait_with_eyes_and_ellipse(portrait):
    faces = find_faces(portrait)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 160 <= x <= 200 and 50 <= y <= 90 and 80 <= w <= 110  # the astronaut's face
    assert face.eyes is not None and face.eyes[0][0] < face.eyes[1][0]
    assert abs(face.roll_deg) < 10 and not face.too_small
    (cx, cy), (ew, eh), _ = face.ellipse
    assert eh > ew and x < cx < x + w


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_in_scenes_without_people(name):
    assert find_faces(getattr(data, name)()) == []


def test_small_face_reported_as_too_small(portrait):
    small = cv2.resize(portrait, (240, 240), interpolation=cv2.INTER_AREA)  # face ~48 px
    faces = find_faces(small)
    assert faces and all(f.too_small for f in faces)
    evidence = create("faceswap").run(load(small))
    assert evidence.status == "not-applicable" and "too small" in evidence.reason


def test_self_blend_boundary_peaks_on_the_seam():
    rng = np.random.default_rng(3)
    mask = soft_face_mask(128, crop_ellipse(128), rng)
    edge = boundary(mask)
    assert edge.max() > 0.9
    assert edge[mask > 0.98].max() < 0.1 and edge[mask < 0.02].max() < 0.1
    face = find_faces(data.astronaut())[0]
    from tamperscope.faces.find import face_crop

    crop = face_crop(data.astronaut(), face)
    first = self_blend(crop, np.random.default_rng(7))
    again = self_blend(crop, np.random.default_rng(7))
    assert np.array_equal(first[0], again[0]) and first[1].shape == (128, 128)


# The shipped model (400 CPU steps, held-apart self-blend AUC 0.86) does not yet separate this paste from the
# real face (swap score 0.36 for both; docs/benchmarks.md, "Face swaps"). The test states the requirement and
# is expected to fail until a longer-trained model meets it; strict, so a model that passes it is noticed.
@pytest.mark.xfail(strict=True, reason="faceswap model v1 is under-trained: this soft-mask paste is not flagged")
def test_pasted_face_is_flagged_with_the_boundary_on_the_seam(portrait):
    face = find_faces(portrait)[0]
    donor = _other_photo_of(portrait)
    forged, soft = _paste_face(portrait, donor, face, feather=4.0)
    evidence = create("faceswap", consistency=False).run(load(jpeg_bytes(forged, 92)))
    assert evidence.ok and evidence.facts["swap_score"] >= 0.5, evidence.facts
    heat = evidence.heatmap_full(portrait.shape[:2])
    seam = (soft > 0.1) & (soft < 0.9)
    core = soft > 0.999
    x0, y0, side = face.crop_square()
    window = np.zeros(seam.shape, bool)
    window[max(0, y0): y0 + side, max(0, x0): x0 + side] = True
    outside = window & (soft < 0.001)
    assert heat[seam].mean() > 2 * heat[core].mean()
    assert heat[seam].mean() > 2 * heat[outside].mean()


def test_real_face_with_the_same_processing_is_not_flagged(portrait):
    evidence = create("faceswap").run(load(jpeg_bytes(portrait, 92)))
    assert evidence.ok and evidence.score is None and evidence.facts["swap_score"] < 0.5, evidence.facts
    face = evidence.facts["faces"][0]
    assert set(face["consistency"]) == {"noise", "dq", "colour"}
    assert "face-swap network" not in face["spoke"]


def test_whole_image_processed_as_the_donor_is_not_flagged(portrait):
    evidence = create("faceswap", consistency=False).run(load(jpeg_bytes(_other_photo_of(portrait), 92)))
    assert evidence.ok and evidence.facts["swap_score"] < 0.5


def test_not_applicable_without_faces():
    for pixels in (data.coffee(), np.full((200, 200, 3), 128, np.uint8)):
        evidence = create("faceswap").run(load(pixels))
        assert evidence.status == "not-applicable" and "no frontal face" in evidence.reason
    for shape in ((16, 16, 3), (1, 5000, 3)):  # too small or too thin to hold a face to judge
        evidence = create("faceswap").run(load(np.zeros(shape, np.uint8)))
        assert evidence.status == "not-applicable" and "cannot hold a face" in evidence.reason


def test_analyze_places_the_boundary_map_over_the_face(portrait):
    face = find_faces(portrait)[0]
    report = analyze(portrait, ["faceswap"])
    evidence = report.evidence_for("faceswap")
    assert evidence.ok and len(evidence.facts["faces"]) == 1
    heat = evidence.heatmap_full(portrait.shape[:2])
    x0, y0, side = face.crop_square()
    inside = np.zeros(heat.shape, bool)
    inside[max(0, y0): y0 + side, max(0, x0): x0 + side] = True
    assert heat[inside].max() > 0 and heat[~inside].max() == 0
    # The face-against-the-rest checks consume noise and dq, which the runner runs first and reports too.
    assert [e["detector"] for e in report.to_dict()["evidence"]] == ["noise", "dq", "faceswap"]
    listed = report.to_dict()["evidence"][2]["facts"]
    assert listed["faces"][0]["box"] == list(face.box) and "spoke" in listed


def test_train_faces_refuses_a_missing_folder(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "tamperscope", "train", "faces", "--faces", str(tmp_path / "absent"),
         "--out", str(tmp_path / "m.onnx")],
        capture_output=True, text=True, cwd=root, env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "not a folder" in done.stderr
    assert not (tmp_path / "m.onnx").exists()
