"""Coding-surprise detector (after ZED, Cozzolino et al., ECCV 2024) and its real-photo coder."""

import json

import cv2
import numpy as np

from tamperscope.detectors import available, create
from tamperscope.detectors.zed import (
    CONTEXT_IDS,
    N_CONTEXTS,
    CodingModel,
    contexts_and_residuals,
    count_histograms,
    load_model,
)
from tamperscope.image import load
from test_npr import camera_like


def textured(seed: int, sigma: float, size: int = 256) -> np.ndarray:
    """Smooth random structure plus white noise of ``sigma``: a family with a known noise level."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(128.0, 40.0, (size, size)), (0, 0), 4.0)
    return np.clip(base + rng.normal(0.0, sigma, base.shape), 0, 255).round().astype(np.uint8)


def model_of(planes: list[np.ndarray]) -> CodingModel:
    counts = sum(count_histograms(p) for p in planes)
    return CodingModel.from_counts(np.stack([counts, counts]), 0.05, 0.0, 1.0, "test")


def test_registered_as_ai_evidence():
    cls = available()["zed"]
    assert cls.indicates == "ai-generated" and not cls.decides
    assert "Cozzolino" in cls.citation and "ECCV 2024" in cls.citation


def test_jpeg_ls_contexts_merge_by_sign_into_365():
    assert N_CONTEXTS == 365
    plane = textured(0, 3.0)
    ctx, res = contexts_and_residuals(plane)
    assert ctx.shape == res.shape == (255, 254)
    assert ctx.min() >= 0 and ctx.max() < 365 and res.min() >= 0 and res.max() < 511
    # Negating the image negates predictions, gradients and residuals: sign merging makes it cost the same.
    # Only the flat context (all gradients 0) has no mirror, as in JPEG-LS: there the residual flips.
    ctx2, res2 = contexts_and_residuals(255 - plane)
    flat = ctx == CONTEXT_IDS[4 * 81 + 4 * 9 + 4]
    assert np.array_equal(ctx, ctx2)
    assert np.array_equal(res[~flat], res2[~flat]) and np.array_equal(res[flat], 510 - res2[flat])


def test_surprise_is_zero_on_its_own_kind_and_negative_on_smoother_images():
    # The principle of ZED with a known answer: a coder trained on noise sigma 3 expects sigma 3.
    model = model_of([textured(s, 3.0, 512) for s in range(4)])
    same, _ = model.surprise_map(textured(10, 3.0), 0)
    smoother, _ = model.surprise_map(textured(10, 1.0), 0)
    noisier, _ = model.surprise_map(textured(10, 6.0), 0)
    # Not exactly 0: the additive smoothing of sparse histograms costs a little on unseen data.
    assert abs(same.mean()) < 0.1
    assert smoother.mean() < same.mean() - 0.3
    assert noisier.mean() > same.mean() + 0.3


def test_committed_model_is_small_normalized_and_documented():
    model = load_model()
    for level in range(2):
        assert model.log2p[level].shape == (365, 511)
        np.testing.assert_allclose(np.exp2(model.log2p[level].astype(np.float64)).sum(axis=1), 1.0, atol=1e-4)
    recipe = json.loads(model.recipe)
    assert recipe["calibration_percentile"] == 99.0
    assert set(recipe["train_photos_per_source"]) <= {"exif-camera", "casia1", "micc-f220", "skimage"}
    assert model.scale > 0


def test_blurred_photo_is_more_predictable_than_the_photo():
    photo = camera_like()
    ev_photo = create("zed").run(load(photo))
    ev_blur = create("zed").run(load(cv2.GaussianBlur(photo, (0, 0), 1.5)))
    assert ev_photo.ok and ev_blur.ok and ev_photo.score is None
    assert ev_blur.facts["d0"] < ev_photo.facts["d0"]
    assert ev_blur.facts["ai_score"] > ev_photo.facts["ai_score"]
    # The camera-like photo (native resolution, sensor-like noise) is no surprise to the coder.
    assert ev_photo.facts["ai_score"] < 0.5


def test_smooth_box_is_localized_in_the_block_map():
    photo = camera_like()
    photo[128:384, 128:384] = cv2.GaussianBlur(photo, (0, 0), 3.0)[128:384, 128:384]
    image = load(photo)
    ev = create("zed").run(image)
    heat = ev.heatmap_full(image.shape)
    assert heat[160:352, 160:352].mean() > heat[:96].mean() + 0.3


def test_not_applicable_cases():
    ev = create("zed").run(load(np.full((40, 300, 3), 100, np.uint8)))
    assert ev.status == "not-applicable" and "too small" in ev.reason
    ev = create("zed").run(load(np.full((128, 128, 3), 100, np.uint8)))
    assert ev.status == "not-applicable" and "uniform" in ev.reason


def test_output_contract_on_odd_size():
    image = load(camera_like()[:301, :451])
    ev = create("zed").run(image)
    assert ev.ok and ev.heatmap.shape == (10, 15) and ev.stride == 32
    json.dumps(ev.facts)
