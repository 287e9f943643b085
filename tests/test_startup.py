"""Start-up: the command and ``import tamperscope`` load only what the chosen profile needs."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from forgeries import double_jpeg_splice
from tamperscope.detectors import MODULES, PROFILES, available, create
from tamperscope.errors import UnknownDetector

SOURCE = Path(__file__).resolve().parent.parent / "src" / "tamperscope"

#: Never loaded by an analysis with the default profile: other commands', other profiles', training's.
HEAVY = ("torch", "onnxruntime", "ray", "playwright", "sklearn", "matplotlib", "fastapi", "scipy.stats",
         "tamperscope.detectors.zero", "tamperscope.detectors.localizer", "tamperscope.train",
         "tamperscope.serve", "tamperscope.scan")


def loaded_after(code: str) -> set[str]:
    run = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, timeout=300)
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


def test_import_tamperscope_loads_no_numpy_until_a_name_is_used():
    modules = loaded_after("import tamperscope")
    assert "numpy" not in modules and "tamperscope.api" not in modules
    assert "analyze" in dir(__import__("tamperscope"))


def test_default_analysis_loads_only_its_own_detectors(tmp_path):
    double_jpeg_splice(tmp_path / "s.jpg")
    modules = loaded_after(f"import tamperscope; tamperscope.analyze({str(tmp_path / 's.jpg')!r})")
    assert not [name for name in HEAVY if name in modules]
    loaded = {name.rsplit(".", 1)[1] for name in modules if name.startswith("tamperscope.detectors.")
              and not name.rsplit(".", 1)[1].startswith("_") and name.rsplit(".", 1)[1] not in ("base", "registry")}
    assert loaded == {MODULES[name] for name in PROFILES["default"]}


def test_every_registered_detector_is_in_the_module_table():
    registered = {}
    for path in (SOURCE / "detectors").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(getattr(d, "id", None) == "register" for d in node.decorator_list):
                for statement in node.body:
                    targets = ([statement.target] if isinstance(statement, ast.AnnAssign)
                               else statement.targets if isinstance(statement, ast.Assign) else [])
                    if (any(getattr(t, "id", "") == "name" for t in targets)
                            and isinstance(statement.value, ast.Constant)):
                        registered[statement.value.value] = path.stem
    assert registered == MODULES
    assert list(available())[: len(MODULES)] == list(MODULES)


def test_an_unknown_detector_is_one_line_naming_the_known_ones():
    with pytest.raises(UnknownDetector, match="unknown detector 'nope'; known: adq2, aigen, blk"):
        create("nope")


def test_the_command_reports_its_startup_and_writing(tmp_path):
    double_jpeg_splice(tmp_path / "s.jpg")
    run = subprocess.run([sys.executable, "-m", "tamperscope", "analyze", str(tmp_path / "s.jpg"), "-o",
                          str(tmp_path / "out"), "--report", "html"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    timings = json.loads((tmp_path / "out" / "report.json").read_text())["timings_s"]
    assert list(timings)[0] == "startup" and 0 < timings["startup"] < 60
    assert timings["write"] > 0 and timings["write:html"] > 0


def test_full_size_maps_needs_an_output_folder(tmp_path):
    double_jpeg_splice(tmp_path / "s.jpg")
    run = subprocess.run([sys.executable, "-m", "tamperscope", "analyze", str(tmp_path / "s.jpg"), "--full-size-maps"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "needs -o/--out" in run.stderr
    run = subprocess.run([sys.executable, "-m", "tamperscope", "analyze", str(tmp_path / "s.jpg"), "-o",
                          str(tmp_path / "out"), "--full-size-maps"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    scales = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"]["map_scale"]
    assert set(scales.values()) == {1}
