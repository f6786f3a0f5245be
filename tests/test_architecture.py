"""The package's layering, checked on its source: one sub-package per pipeline stage, no import cycle,
no stage importing a later one, no private name imported across modules, and a grid stage that
never imports NumPy or Numba (a grid can be read, checked and explained without them).

Imports are read with :mod:`ast` from every module, those inside functions included (an import at
call time is still a dependency); only those under ``if TYPE_CHECKING:`` are left out.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cotation"

#: Each stage sub-package and its place in the pipeline; a module may import its own stage and
#: earlier ones. Top-level modules: utilities (0) every stage may use, interfaces (99) above all.
STAGES = {"grid": 1, "data": 2, "codegen": 3, "scoring": 4, "match": 5, "explain": 6, "experiment": 7}
UTILITIES = {"errors", "source", "dates", "threads", "cachedir", "markup", "version"}
INTERFACES = {"", "__main__", "api", "cli", "inout", "serve", "testcases"}  # "" is the package's __init__


@dataclass(frozen=True)
class Import:
    importer: str  # dotted name relative to the package ("grid.check"; "" for __init__)
    target: str  # the imported module, same form
    names: tuple[str, ...]  # the names taken from it (from-imports)
    line: int


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _resolve(importer: str, node: ast.ImportFrom, is_package: bool) -> str | None:
    """The module a relative or absolute from-import names, relative to the package (None: outside)."""
    if node.level == 0:
        name = node.module or ""
        if name != "cotation" and not name.startswith("cotation."):
            return None
        return name.removeprefix("cotation").removeprefix(".")
    base = importer.split(".") if importer else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports() -> list[Import]:
    out = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, path.name == "__init__.py")
                if target is None:
                    continue
                for alias in node.names:  # ``from . import ir``: the module ir itself
                    sub = f"{target}.{alias.name}".lstrip(".")
                    out.append(
                        Import(name, sub, (), node.lineno)
                        if sub in MODULES
                        else Import(name, target, (alias.name,), node.lineno)
                    )
            elif isinstance(node, ast.Import):
                out += [
                    Import(name, a.name.removeprefix("cotation."), (), node.lineno)
                    for a in node.names
                    if a.name.startswith("cotation.")
                ]
    return [i for i in out if i.target != i.importer]


IMPORTS = _imports()


def _stage(module: str) -> int:
    head = module.split(".")[0]
    if head in STAGES:
        return STAGES[head]
    if module in UTILITIES:
        return 0
    assert module in INTERFACES, (
        f"cotation/{module}.py is in no stage: add it to a sub-package or to this test"
    )
    return 99


def test_every_module_has_a_stage() -> None:
    for module in MODULES:
        _stage(module)


def test_the_package_shows_the_pipeline() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(STAGES)


def test_no_stage_imports_a_later_one() -> None:
    late = [
        f"cotation/{i.importer}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _stage(i.target) > _stage(i.importer)
    ]
    assert not late, "\n".join(late)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target in MODULES and i.target != "":  # the package's __init__ only re-exports lazily
            edges.setdefault(i.importer, set()).add(i.target)
    assert _cycles(edges) == []


def test_no_private_name_is_imported_across_modules() -> None:
    private = [
        f"cotation/{i.importer}:{i.line} imports {n} from {i.target}"
        for i in IMPORTS
        for n in i.names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("heavy", ["numpy", "numba"])
def test_the_grid_stage_never_imports(heavy: str) -> None:
    grid_modules = sorted(f"cotation.{m}" for m in MODULES if m.split(".")[0] == "grid")
    code = (
        f"import importlib, sys\nfor m in {grid_modules!r}:\n    importlib.import_module(m)\n"
        f"print({heavy!r} in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"importing cotation.grid imports {heavy}"


def _docstring(module: str) -> str:
    return ast.get_docstring(ast.parse(MODULES[module].read_text(encoding="utf-8"))) or ""


def test_every_stage_module_says_its_stage() -> None:
    wrong = [
        f"cotation/{m}: {_docstring(m)[:60]!r}"
        for m in MODULES
        if m.split(".")[0] in STAGES
        and not _docstring(m).startswith(f"Stage {STAGES[m.split('.')[0]]} ({m.split('.')[0]}): ")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_architecture_document_lists_every_module_in_its_stage() -> None:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) \| `(\w+)/` \|[^|]*\|(.*)\|$", text, flags=re.M)
    assert {pkg: int(n) for n, pkg, _ in rows} == STAGES
    for _, pkg, cell in rows:
        listed = set(re.findall(r"`(\w+)` \(", cell))
        actual = {m.split(".")[1] for m in MODULES if m.startswith(f"{pkg}.")}
        assert listed == actual, (
            f"docs/architecture.md, {pkg}/: listed {sorted(listed)}, modules {sorted(actual)}"
        )


def test_both_back_ends_implement_every_function() -> None:
    """One record per function in the front end (``grid.functions.FUNCTIONS``); each back end
    implements exactly those, under their names."""
    from cotation.codegen.emit import Emitter
    from cotation.codegen.pair_source import PairEmitter
    from cotation.grid.functions import FUNCTIONS
    from cotation.scoring.reference import FUNCTION_VALUES

    expected = set(FUNCTIONS) - {"date"}  # date("...") is folded into a constant by the checker

    def emitted(cls: type) -> set[str]:
        return {n.removeprefix("_call_") for n in dir(cls) if n.startswith("_call_")}

    assert set(FUNCTION_VALUES) == expected
    assert emitted(PairEmitter) == expected
    assert emitted(Emitter) == {f for f in expected if not FUNCTIONS[f].pair_level}


def test_the_benchmarks_import_no_private_name() -> None:
    """``make test`` does not run the benchmarks: a private name they import would break unseen."""
    found = []
    for path in sorted((PACKAGE.parent / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cotation"):
                found += [f"{path.name}:{node.lineno} {a.name}" for a in node.names if a.name.startswith("_")]
    assert not found, found
