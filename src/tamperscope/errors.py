"""Typed errors raised by tamperscope.

Every error a user can cause by handing tamperscope a bad file is an
:class:`InputError`; its ``str()`` is one line meant to be shown as is. The
shells map ``InputError`` to exit code 2 (bad input) and anything else to
exit code 1 (a bug in tamperscope).
"""

from __future__ import annotations


class TamperscopeError(Exception):
    """Base class of every error tamperscope raises on purpose."""


class InputError(TamperscopeError):
    """The input cannot be analysed; the message says why, in one line."""

    #: Short machine-readable kind, kept in JSON error payloads.
    kind = "bad-input"

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class UnreadableImage(InputError):
    """The file does not exist, cannot be opened, or is empty."""

    kind = "unreadable"


class UnsupportedFormat(InputError):
    """The bytes are not an image format tamperscope can decode."""

    kind = "unsupported-format"


class TruncatedImage(InputError):
    """The file is an image whose data ends early or is corrupt."""

    kind = "truncated"


class ImageTooLarge(InputError):
    """The file or its pixel count is above the configured limits."""

    kind = "too-large"


class DecompressionBomb(ImageTooLarge):
    """A small file declares a canvas far larger than its size can justify."""

    kind = "decompression-bomb"


class UnknownDetector(InputError):
    """A detector name that the registry does not know."""

    kind = "unknown-detector"


class OutputError(InputError):
    """The report cannot be written where the user asked (bad usage, exit 2)."""

    kind = "unwritable-output"
