"""Active forensics: a keyed watermark that later shows where an image was changed.

``embed`` marks an image before release; ``verify`` says whether the mark of
a key is present and, when it is, which cells of the image lost it. See
:mod:`.scheme` for the method (Chen & Wornell 2001 dither-modulation QIM,
organised in local blocks after MaskMark 2025).
"""

from .embed import Embedding, embed
from .extract import Verification, VerifyParams, verify
from .scheme import SCHEME, Scheme

__all__ = ["Embedding", "SCHEME", "Scheme", "Verification", "VerifyParams", "embed", "verify"]
