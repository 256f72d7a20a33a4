"""Imports flow one way: cluster → study → train → analysis → models. Read from the source (every ``import`` and
``from … import`` statement, those inside functions included), so a lazy import counts too."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: package (folder) → top-level modules it must never import
FORBIDDEN = {
    "analysis": {"study", "train", "cluster", "ray"},
    "models": {"study", "train", "analysis", "cluster", "ray", "mlflow", "optuna"},
    "train": {"study", "cluster", "ray", "mlflow", "optuna"},
    os.path.join("analysis", "metrics"): {"ray", "mlflow", "optuna"},
}


def imported_roots(path: str) -> set[tuple[str, int]]:
    """(top-level module, line) of every absolute import in the file."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def python_files(folder: str):
    for base, _dirs, files in os.walk(os.path.join(ROOT, folder)):
        yield from (os.path.join(base, f) for f in files if f.endswith(".py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_what_depends_on_it(package):
    offences = [f"{os.path.relpath(path, ROOT)}:{line} imports {name}"
                for path in python_files(package)
                for name, line in sorted(imported_roots(path)) if name in FORBIDDEN[package]]
    assert not offences, offences


def test_the_reader_sees_lazy_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from study.config import make_config\n    import ray.tune\n")
    assert imported_roots(str(sample)) == {("os", 1), ("study", 4), ("ray", 5)}
