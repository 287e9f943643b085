"""The package's import graph: no circles, and no module imports from a layer above its own.

Both tests read the source with :mod:`ast` (nothing is imported), so they take well under a second.
docs/architecture.md draws the same layers.

What counts as an import: every ``import`` and ``from ... import`` statement inside ``src/tamperscope``, at
module level and inside functions (a lazy import is still a dependency, only a later one), resolved to the module
it names: ``from .detectors import ela`` is an edge to ``tamperscope.detectors.ela`` when that is a module, and
``from . import __version__`` an edge to the package ``tamperscope`` itself. Two kinds of statement are left out:

- imports under ``if TYPE_CHECKING:``, which never run: they only name types for annotations (written as
  strings or postponed with ``from __future__ import annotations``), so they cannot form a circle at run time;
- the parent packages Python imports implicitly on the way to a submodule (``import a.b.c`` first runs
  ``a/__init__`` and ``a/b/__init__``): every module would otherwise depend on ``tamperscope/__init__``, which
  re-exports the public API. A package ``__init__`` that imports its own submodules is fine; a submodule that
  imports names from its own package's ``__init__`` is a circle and is caught.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "tamperscope"

#: Layers, lowest first. A module may import from its own layer and the layers below it, never above.
#: Matched by the longest listed prefix of the module's dotted name (``tamperscope.`` left out).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Types every part shares (the decoded Image, Evidence, typed errors) and small shared helpers.
    ("core", ("errors", "evidence", "image", "_regions", "_version")),
    # Building blocks detectors and tools share: the keyed watermark scheme, face finding, pretrained weights.
    ("building blocks", ("watermark", "faces", "models")),
    # One module per method, each returning Evidence; the registry, profiles and the runner.
    ("detectors", ("detectors",)),
    # Evidence -> verdict, fused map and regions.
    ("fusion", ("fusion",)),
    # Fused result -> words and files: schema, explanation, narrative, JSON/PNG/HTML/Markdown writers.
    ("report", ("report",)),
    # The one Python API: load -> detect -> fuse -> explain; videos are analysed on top of it; two versions of a
    # picture are compared beside it (comparison/: align, discount the benign, decide, describe).
    ("api", ("api", "__init__", "faces.video", "comparison")),
    # Tools that drive the engine at scale: forgery generator, benchmark harness, training (and any future tool built
    # on the API, such as comparing two analyses).
    ("tools", ("synth", "bench", "train")),
    # Shells: argument parsing, HTTP, job queues and progress; nothing forensic.
    ("shells", ("cli", "serve", "scan", "__main__")),
]


def _module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Import statements anywhere in ``tree`` except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


@lru_cache(maxsize=1)
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the package modules it imports (see the module docstring for what counts); read once."""
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                # ``from pkg import sub`` names the submodule when there is one, else an attribute of ``pkg``.
                targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # ``import a.b.c`` where c is an attribute
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return {name: frozenset(targets) for name, targets in graph.items()}


def find_cycle(graph) -> list[str] | None:
    """One import circle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def layer_of(module: str) -> int:
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else "__init__"
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = relative == prefix or relative.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py")
    return best


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, ("import circle: " + " -> ".join(cycle) + "\n(move what both sides need into a module "
                           "below them; a detector takes `register` from .registry; see docs/architecture.md)")


def test_no_module_imports_from_a_layer_above():
    graph = import_graph()
    upward = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                              f"({LAYERS[layer_of(target)][0]})")
    assert not upward, "imports from a layer above:\n" + "\n".join(upward)


def test_find_cycle_prints_the_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]


def test_graph_sees_lazy_and_relative_imports():
    """The walk itself: a function-level import and a ``from . import name`` of a package attribute count."""
    graph = import_graph()
    assert "tamperscope.detectors" in graph["tamperscope.api"]
    assert any(target.startswith("tamperscope.faces") for target in graph["tamperscope.api"])  # lazy, in a function
    assert "tamperscope.detectors.registry" in graph["tamperscope.detectors.ela"]  # ``from .registry import``
    assert "tamperscope.report.present" in graph["tamperscope.report.html"]  # ``from . import present``
