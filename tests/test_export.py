"""The shared ONNX export helper (tamperscope.train.export): metadata inside the file, parity, atomic write."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tamperscope.train.export import with_metadata

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="torch's exporter imports onnx (the train extra)", exc_type=ImportError)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))


def test_export_writes_metadata_that_onnxruntime_reads(tmp_path):
    import onnxruntime

    from tamperscope.train.export import export_onnx, onnx_parity

    path = tmp_path / "deep" / "model.onnx"
    recipe = {"steps": 3, "faces": ["utk", "lfw"], "name": "caf\u00e9 " * 100}
    digest = export_onnx(_net(), (torch.zeros(1, 3, 8, 8),), path, input_names=["x"], output_names=["y"],
                         dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}}, metadata={"threshold": "1.25", "recipe": recipe})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no temporary file left behind
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["threshold"] == "1.25"
    import json

    assert json.loads(meta["recipe"]) == recipe
    # Dynamic axes survive: another batch and size run, and torch agrees with onnxruntime.
    feeds = {"x": np.random.default_rng(0).random((2, 3, 12, 10), dtype=np.float32)}
    assert onnx_parity(_net(), path, feeds) < 1e-5


def test_metadata_appended_to_any_model_bytes_parses_as_entries():
    # A ModelProto with nothing but metadata: what is appended is valid protobuf on its own.
    onnx = pytest.importorskip("onnx")
    data = with_metadata(b"", {"a": "1", "b": {"x": [1, 2]}})
    model = onnx.ModelProto()
    model.ParseFromString(data)
    assert {p.key: p.value for p in model.metadata_props} == {"a": "1", "b": '{"x": [1, 2]}'}
