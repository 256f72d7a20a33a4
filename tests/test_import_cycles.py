"""No import circles between the modules of a package, and no private name imported from another
module. Read from the source like tests/test_import_direction.py: every import counts, those inside
functions and under ``TYPE_CHECKING`` too (a circle there is still two modules that each need the
other). Importing ``a.b.c`` is an arrow to ``a.b.c`` only, not to the packages it passes through."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("models", "train", "study", "analysis", "cluster")


def modules(root: str, package: str) -> dict[str, str]:
    """Dotted module name → file, for every module of ``package`` under ``root``."""
    found = {}
    for base, _dirs, files in os.walk(os.path.join(root, package)):
        for name in files:
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(base, name), root)[:-3].split(os.sep)
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(base, name)
    return found


def imported(path: str, module: str, known: set[str]) -> set[str]:
    """The known modules that ``module`` (at ``path``) imports: ``from a import b`` names the module
    ``a.b`` when there is one, else ``a``; relative imports are resolved."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != module:
            resolved.add(target)
    return resolved


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(root: str, package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports."""
    files = modules(root, package)
    return {name: imported(path, name, set(files)) for name, path in files.items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_inside_a_package(package):
    graph = package_graph(ROOT, package)
    assert graph, f"{package}: no modules found"
    found = circles(graph)
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def private_imports(root: str, package: str, ours: tuple[str, ...] = PACKAGES) -> list[str]:
    """``file:line name`` of every ``_name`` a module of ``package`` imports from a package of ``ours``."""
    found = []
    for path in modules(root, package).values():
        with open(path) as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in ours):
                found += [f"{os.path.relpath(path, root)}:{node.lineno} {alias.name}" for alias in node.names
                          if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_names_used_across_modules_are_public(package):
    assert not private_imports(ROOT, package)


def test_a_circle_is_found_lazy_relative_or_under_type_checking(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\nA = 1\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from ..sub import d\n")
    (pkg / "sub" / "d.py").write_text("import os\nimport pkg.sub.c\n")
    (pkg / "e.py").write_text("from pkg import a\n")  # a module of the package, not the package itself
    graph = package_graph(str(tmp_path), "pkg")
    assert graph["pkg.e"] == {"pkg.a"} and graph["pkg"] == {"pkg.a"}
    assert circles(graph) == [["pkg.a", "pkg.b"], ["pkg.sub.c", "pkg.sub.d"]]
    (pkg / "f.py").write_text("from pkg.a import _hidden, __version__\n")
    assert private_imports(str(tmp_path), "pkg", ("pkg",)) == [f"pkg{os.sep}f.py:1 _hidden"]
