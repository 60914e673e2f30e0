"""The shipped packages stay readable: small modules, short functions, no import cycle.

The limits are the house style's: a module under 300 lines, a function or method under
40 (from its `def` line to its last, decorators excluded). The import graph is built
from the module-level imports of project modules: what runs when a module is imported.
Imports under `if TYPE_CHECKING:` and inside functions are left out, since they take
no part in a cycle at import time. A package's `__init__` that re-exports names
imports the modules it takes them from, like any other module.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "projections", "workers", "web", "runledger")
MODULE_LINES = 300  # every module has fewer lines than this
FUNCTION_LINES = 40  # every function or method has fewer lines than this
# The write path from a worker to its store: at most half of the 692 lines of the modules
# the committer package replaced (workers/commit_channel.py, workers/commit_process.py and
# ledger/group_commit.py; the batching and resending that workers/tracking.py held went too).
COMMITTER_LINES = 346


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "projections.queries"
    path: Path
    tree: ast.Module
    lines: int

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def load_modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=str(path))
            name = ".".join(parts)
            modules[name] = Module(name, path.relative_to(root), tree, len(text.splitlines()))
    return modules


# -- sizes ----------------------------------------------------------------------------------


def long_modules(modules: dict[str, Module]) -> list[str]:
    return [
        f"{m.path}: {m.lines} lines (limit: under {MODULE_LINES})"
        for m in modules.values()
        if m.lines >= MODULE_LINES
    ]


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """Every function and method defined in `node`, nested ones too, by qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{prefix}{child.name}", child
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def long_functions(modules: dict[str, Module]) -> list[str]:
    found = []
    for module in modules.values():
        for name, node in _functions(module.tree):
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1  # `lineno` is the `def`, not a decorator
            if length >= FUNCTION_LINES:
                found.append((str(module.path), node.lineno, name, length))
    return [
        f"{path}:{line} {name}: {length} lines (limit: under {FUNCTION_LINES})"
        for path, line, name, length in sorted(found)
    ]


# -- import cycles --------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(body: Sequence[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_time_imports(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    yield from _import_time_imports([b for b in block if isinstance(b, ast.AST)])


def _imported(module: Module, node: ast.Import | ast.ImportFrom, names: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in names}
    base = node.module or ""
    if node.level:  # relative: from the package this module is in (or is)
        package = module.name.split(".")
        package = package if module.is_package else package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([base] if base else [])])
    found = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in names:
            found.add(submodule)  # `from pkg import module`
        elif base in names:
            found.add(base)  # `from module import name`
    return found


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    names = set(modules)
    graph: dict[str, set[str]] = {}
    for module in modules.values():
        targets: set[str] = set()
        for node in _import_time_imports(module.tree.body):
            targets |= _imported(module, node, names)
        graph[module.name] = targets - {module.name}
    return graph


def _shortest_cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest path from `start` back to itself, as module names (start repeated)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node]):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in came_from:
                came_from[target] = node
                queue.append(target)
    return None


def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """One shortest cycle through each module that is on a cycle, without repeats."""
    graph = import_graph(modules)
    cycles: dict[frozenset[str], list[str]] = {}
    for name in sorted(graph):
        cycle = _shortest_cycle(graph, name)
        if cycle is not None:
            cycles.setdefault(frozenset(cycle), cycle)
    return list(cycles.values())


# -- the code base --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> dict[str, Module]:
    return load_modules(ROOT)


def test_every_module_is_under_300_lines(shipped: dict[str, Module]) -> None:
    too_long = long_modules(shipped)
    assert not too_long, "modules to split:\n" + "\n".join(too_long)


def test_every_function_is_under_40_lines(shipped: dict[str, Module]) -> None:
    too_long = long_functions(shipped)
    assert not too_long, "functions to split:\n" + "\n".join(too_long)


def test_the_committer_package_is_at_most_half_the_write_path_it_replaced(
    shipped: dict[str, Module],
) -> None:
    folder = Path("workers/committer")
    package = {m.name: m.lines for m in shipped.values() if m.path.parent == folder}
    assert set(package) >= {"workers.committer.client", "workers.committer.server"}
    assert sum(package.values()) <= COMMITTER_LINES, f"the committer package: {package}"


def test_no_module_imports_itself_through_others(shipped: dict[str, Module]) -> None:
    cycles = [" -> ".join(cycle) for cycle in import_cycles(shipped)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# -- the checks themselves, on a small tree -------------------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def body(lines: int, indent: int = 4) -> str:
    return "".join(f"{' ' * indent}x{n} = {n}\n" for n in range(lines))


def test_a_long_function_is_named_with_its_file_line_and_length(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": (
            "import functools\n\n"
            f"def short():\n{body(38)}\n"  # 39 lines: fine
            f"@functools.cache\ndef long():\n{body(39)}\n"  # 40 lines, the decorator aside
            f"class Box:\n    async def method(self):\n{body(40, 8)}"
            f"        def inner():\n{body(40, 12)}"
        ),
    })  # fmt: skip
    found = long_functions(load_modules(tmp_path, ("pkg",)))
    assert found == [
        "pkg/a.py:44 long: 40 lines (limit: under 40)",
        "pkg/a.py:86 Box.method: 82 lines (limit: under 40)",
        "pkg/a.py:127 Box.method.inner: 41 lines (limit: under 40)",
    ]


def test_a_long_module_is_named_with_its_length(tmp_path: Path) -> None:
    write(
        tmp_path, {"pkg/__init__.py": "", "pkg/big.py": "x = 1\n" * 300, "pkg/ok.py": "x\n" * 299}
    )
    assert long_modules(load_modules(tmp_path, ("pkg",))) == [
        f"{Path('pkg/big.py')}: 300 lines (limit: under 300)"
    ]


def test_a_cycle_is_found_through_imports_of_every_form(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "from pkg.a import A\n",  # a re-export: pkg imports pkg.a
        "pkg/a.py": "import pkg.b\nA = 1\n",
        "pkg/b.py": "from . import c\n",
        "pkg/c.py": "try:\n    from pkg import A\nexcept ImportError:\n    pass\n",
        "pkg/d.py": "from pkg.a import A\n",  # imports into the cycle, is not on it
    })  # fmt: skip
    cycles = import_cycles(load_modules(tmp_path, ("pkg",)))
    assert cycles == [["pkg", "pkg.a", "pkg.b", "pkg.c", "pkg"]]


def test_imports_that_run_only_later_or_never_make_no_cycle(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.b import B\n",
        "pkg/b.py": "B = 1\ndef f():\n    from pkg import a\n",
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
        "else:\n    from pkg.d import D\n",
        "pkg/d.py": "from pkg.c import *\nD = 1\n",
    })  # fmt: skip
    cycles = import_cycles(load_modules(tmp_path, ("pkg",)))
    assert cycles == [["pkg.c", "pkg.d", "pkg.c"]]  # the `else` of TYPE_CHECKING does run
