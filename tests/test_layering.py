"""The probes (mapped from probes/, outside import-linter's view) never import Textual or the UI packages."""

import ast
from pathlib import Path

import pytest

PROBES = sorted((Path(__file__).parent.parent / "probes").glob("*.py"))
FORBIDDEN = ("textual", "rich", "dockwire.tui", "dockwire.widgets")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PROBES, ids=[p.name for p in PROBES])
def test_probe_module_does_not_import_the_ui(path):
    bad = {m for m in imported_modules(path) if any(m == f or m.startswith(f"{f}.") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_check_sees_imports():
    """The scanner itself finds both import forms (so a violation cannot slip through unseen)."""
    tree = Path(__file__)
    assert "ast" in imported_modules(tree) and "pathlib" in imported_modules(tree)
