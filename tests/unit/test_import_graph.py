"""The modules of toolchain/ import each other without a circle.

The graph has one node per file of toolchain/ and an edge for every import of an `edgec` module, read with `ast`
(nothing is imported to build it), wherever the import statement sits: at module level, under
`if TYPE_CHECKING:`, and inside a function. A function-level ("lazy") import is counted too: it only moves the
circle to run time, where the module met half-initialised fails on first use, and a reader following the imports
meets the same loop either way. Beside the written imports, the graph holds what Python does implicitly:
importing `edgec.ops.relu` from outside the `ops` package runs `ops/__init__.py` first (an edge to it), and a
package `__init__.py` that walks its folder with `pkgutil.iter_modules` and `importlib.import_module` (the
operator registry) imports every module beside it (an edge to each). Imports from within a package to its own
`__init__.py` come only from what is written (Python initialises the package before its modules).

The graph is sorted topologically by the standard library (`graphlib`), whose CycleError names a circle; the test
prints it file by file with the line of each import. The cycle finder and the import reader are checked on tiny
synthetic graphs and packages first, so a test that passes is one that could fail.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

TOOLCHAIN = Path(__file__).resolve().parents[2] / "toolchain"

Graph = dict[str, dict[str, int]]  # file -> {imported file: line of the (first) import}


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `root`, the folder of package `package`."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package, *parts])] = path
    return names


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, package: str,
              modules: dict[str, Path]) -> list[str]:
    """The modules of `package` an import statement in `module` names (a `from X import name` names X, or the
    submodule X.name when there is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == package or a.name.startswith(package + ".")]
    if node.level:
        base_parts = module.split(".") if is_package else module.split(".")[:-1]
        if node.level - 1 >= len(base_parts):
            raise AssertionError(f"{module}: relative import above the package (level {node.level})")
        base = ".".join(base_parts[:len(base_parts) - (node.level - 1)] + ([node.module] if node.module else []))
    elif node.module is not None and (node.module == package or node.module.startswith(package + ".")):
        base = node.module
    else:
        return []  # another library
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def _walks_its_folder(tree: ast.Module) -> bool:
    """A package __init__ that imports every module beside it (pkgutil.iter_modules + importlib.import_module)."""
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {"pkgutil.iter_modules", "importlib.import_module"} <= calls


def import_graph(root: Path, package: str) -> Graph:
    """Every file of the package (as a path relative to root's parent) -> the files it imports, see the module
    doc for what counts. An import of the package that matches no file is an error (the reader must understand
    every import, or it could miss an edge)."""
    modules = module_names(root, package)
    label = {m: str(p.relative_to(root.parent)) for m, p in modules.items()}
    graph: Graph = {label[m]: {} for m in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph[label[module]]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported(node, module, is_package, package, modules):
                if target not in modules:
                    raise AssertionError(f"{label[module]}:{node.lineno}: {target} is no file of {root}")
                parts = target.split(".")
                # the enclosing packages run first: an edge to each one the importer is not inside
                outer = [".".join(parts[:k]) for k in range(1, len(parts))]
                for t in [*(p for p in outer if not module.startswith(p + ".") and module != p), target]:
                    if t != module:
                        edges.setdefault(label[t], node.lineno)
        if is_package and _walks_its_folder(tree):
            for sibling in (m for m in modules if m.rpartition(".")[0] == module):
                edges.setdefault(label[sibling], 0)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of the graph (its first node repeated at the end), or None when the graph is acyclic."""
    try:
        graphlib.TopologicalSorter({node: set(edges) for node, edges in graph.items()}).prepare()
    except graphlib.CycleError as e:
        return list(reversed(e.args[1]))  # graphlib lists the circle against the edges' direction
    return None


def describe(graph: Graph, cycle: list[str]) -> str:
    """`a.py:12 imports b.py`, one line per edge of the circle (line 0: the package's own module walk)."""
    return "\n".join(f"  {a}:{graph[a][b]} imports {b}" for a, b in zip(cycle, cycle[1:]))


# ---- the checker checked on synthetic graphs ---------------------------------------------------------------------

def test_find_cycle_names_the_circle():
    graph: Graph = {"a.py": {"b.py": 1}, "b.py": {"c.py": 2}, "c.py": {"a.py": 3, "d.py": 4}, "d.py": {}}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a.py", "b.py", "c.py"}
    assert all(b in graph[a] for a, b in zip(cycle, cycle[1:]))  # each step is an import, in its direction
    assert "c.py:3 imports a.py" in describe(graph, cycle)
    del graph["c.py"]["a.py"]
    assert find_cycle(graph) is None


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_reader_counts_type_checking_lazy_and_implicit_imports(tmp_path):
    root = tmp_path / "pkg"
    _write(root, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "b.py": "def f():\n    from . import a\n",
        "c.py": "import numpy\nfrom pkg.sub.leaf import x\n",
        "sub/__init__.py": "import importlib, pkgutil\nfor m in pkgutil.iter_modules(__path__):\n"
                           "    importlib.import_module(f'{__name__}.{m.name}')\n",
        "sub/leaf.py": "from .. import c\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg/a.py"] == {"pkg/b.py": 3}  # under TYPE_CHECKING
    assert graph["pkg/b.py"] == {"pkg/a.py": 2}  # inside a function
    assert graph["pkg/c.py"] == {"pkg/sub/__init__.py": 2, "pkg/sub/leaf.py": 2}  # the package runs first
    assert graph["pkg/sub/__init__.py"] == {"pkg/sub/leaf.py": 0}  # its walk of its folder
    cycles = [find_cycle(graph)]
    del graph["pkg/a.py"]["pkg/b.py"]
    cycles.append(find_cycle(graph))
    assert cycles[0] is not None and set(cycles[0]) == {"pkg/a.py", "pkg/b.py"}
    assert cycles[1] is not None and {"pkg/c.py", "pkg/sub/leaf.py"} <= set(cycles[1])
    del graph["pkg/sub/leaf.py"]["pkg/c.py"]
    assert find_cycle(graph) is None


def test_reader_refuses_an_import_it_cannot_place(tmp_path):
    _write(tmp_path / "pkg", {"__init__.py": "", "a.py": "from .missing import x\n"})
    with pytest.raises(AssertionError, match="pkg.missing is no file"):
        import_graph(tmp_path / "pkg", "pkg")


# ---- the real package ----------------------------------------------------------------------------------------------

def test_toolchain_imports_have_no_cycle():
    graph = import_graph(TOOLCHAIN, "edgec")
    assert len(graph) > 50 and sum(map(len, graph.values())) > 150  # the reader saw the package's imports
    cycle = find_cycle(graph)
    assert cycle is None, "toolchain/ imports itself in a circle:\n" + describe(graph, cycle or [])
