"""The face-swap trainer's data path: cached faces, self-blended pairs by step, resumable-run checks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from skimage import data

from tamperscope.errors import InputError
from tamperscope.faces import find

pytestmark = pytest.mark.skipif(
    not find.available(), reason=f"MediaPipe's face models are not installed ({find.INSTALL}, as the README says)"
)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """A cache of one face (the astronaut, mirrored for a second): the same arrays the trainer builds."""
    from tamperscope.faces.find import find_faces, square_crop
    from tamperscope.train.faces import CACHE_MARGIN, CACHE_SIZE, CROP_SIZE, FaceSet

    portraits = [data.astronaut(), np.ascontiguousarray(data.astronaut()[:, ::-1])]
    wide, marks = [], []
    for pixels in portraits:
        face = find_faces(pixels)[0]
        x0, y0, side = face.crop_square(CACHE_MARGIN)
        wide.append(square_crop(pixels, x0, y0, side, CACHE_SIZE))
        marks.append((face.landmarks - np.array([x0, y0], np.float32)) * (CACHE_SIZE / side))
    cache = tmp_path_factory.mktemp("faces")
    FaceSet(np.stack(wide), np.stack(marks), np.array(["train", "test"]), np.array(["a", "b"]),
            np.zeros((1, CROP_SIZE, CROP_SIZE, 3), np.uint8), np.array([-1, 0]), {"x": 2}).save(cache, "sig")
    return cache


def test_batches_are_a_function_of_seed_and_step(faces):
    from tamperscope.train.faces import BOUNDARY_SIZE, CROP_SIZE, FaceSet, make_batch

    stored = FaceSet.open(faces, "sig")
    assert stored is not None and FaceSet.open(faces, "other") is None
    index = stored.indices("train")
    x, y, edge = make_batch(stored, index, 3, seed=0, step=5)
    again = make_batch(stored, index, 3, seed=0, step=5)
    other = make_batch(stored, index, 3, seed=0, step=6)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, edge), again))
    assert not np.array_equal(x, other[0])
    assert x.shape == (6, 3, CROP_SIZE, CROP_SIZE) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert list(y) == [0, 0, 0, 1, 1, 1] and edge.shape == (6, BOUNDARY_SIZE, BOUNDARY_SIZE)
    assert edge[:3].max() == 0 and all(edge[i].max() > 0.1 for i in range(3, 6))  # blends carry their seam


def test_batches_pickle_without_the_face_arrays(faces):
    from tamperscope.train.faces import PairBatches

    batches = PairBatches(faces, np.array([0]), 2, 0, 10)
    first = batches[3]
    assert batches._faces is not None
    state = pickle.loads(pickle.dumps(batches))
    assert state._faces is None and np.array_equal(state[3][0], first[0])


def test_train_refuses_to_overwrite_a_run_and_odd_batches(faces, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx", exc_type=ImportError)
    from tamperscope.train.faces import train

    work = tmp_path / "work"
    work.mkdir()
    (work / "checkpoint.pt").write_bytes(b"an earlier run")
    with pytest.raises(InputError, match="--resume"):
        train([tmp_path], tmp_path / "m.onnx", work, cache=faces)
    with pytest.raises(InputError, match="even number"):
        train([tmp_path], tmp_path / "m.onnx", tmp_path / "other", batch=3, cache=faces)
    assert not (tmp_path / "m.onnx").exists()


def test_a_run_resumes_with_another_step_count_but_not_other_settings(tmp_path):
    from tamperscope.train.faces import _config, check_resumable

    earlier = _config(1200, 16, 0, 2e-3)
    check_resumable(earlier, 350, _config(400, 16, 0, 2e-3), tmp_path)  # a shorter schedule from step 350 on
    check_resumable(earlier, 400, _config(400, 16, 0, 2e-3), tmp_path)  # at the end: only calibrate and export
    with pytest.raises(InputError, match="only --steps may change"):
        check_resumable(earlier, 350, _config(400, 32, 0, 2e-3), tmp_path)
    with pytest.raises(InputError, match="already past it"):
        check_resumable(earlier, 350, _config(300, 16, 0, 2e-3), tmp_path)
