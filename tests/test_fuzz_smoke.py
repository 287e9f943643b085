"""The fuzzer runs (briefly) and finds nothing: the long run is benchmarks/fuzz.py, see docs/reliability.md."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (test extra, Linux x86-64)")

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_fuzz_run_finds_no_crash(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--seconds", "8", "--crashes", str(tmp_path / "c")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["inputs"] > 0 and summary["crashes"] == []
