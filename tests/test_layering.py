"""The layering holds, and the checks that say so can fail.

The import contracts (pyproject.toml) run on the installed layout of the package; each one is shown to break
when a module imports what it must not. Every module imports on its own in a fresh interpreter (no cycles).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _check_layers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_layers = _check_layers()

# (contract id, module that gets the bad import, what it imports)
VIOLATIONS = [
    ("core-no-ui", "dockwire/model.py", "import textual"),
    ("verdict-pure", "dockwire/verdict/matches.py", "import click"),
    ("verdict-pure", "dockwire/verdict/fixes.py", "import dockwire.actions.runner"),
    ("verdict-pure", "dockwire/verdict/routing.py", "import dockwire.probes.netlink"),
    ("readers-read", "dockwire/probes/netlink.py", "import dockwire.verdict.verdict"),
    ("readers-read", "dockwire/probes/firewall.py", "from dockwire.widgets import firewall"),
    ("widgets-show", "dockwire/widgets/detail.py", "import dockwire.probes.docker_api"),
    ("widgets-show", "dockwire/widgets/topology.py", "import dockwire.actions.runner"),
    ("cli-only-click", "dockwire/collect.py", "import click"),
    ("no-lab", "dockwire/actions/endpoints.py", "from dockwire.lab import scenarios"),
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return check_layers.lay_out(tmp_path_factory.mktemp("installed"))


def test_every_package_folder_is_in_pyproject() -> None:
    assert check_layers.missing_packages(check_layers.package_folders()) == []


def test_the_contracts_hold_on_the_installed_layout(tree: Path) -> None:
    proc = check_layers.run_contracts(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
    # The mapped folders are really in view: the contracts name them and grimp found their modules.
    assert (tree / "dockwire" / "probes" / "netlink.py").exists()
    assert (tree / "dockwire" / "widgets" / "firewall.py").exists()


@pytest.mark.parametrize(
    ("contract", "module", "line"), VIOLATIONS, ids=[f"{c}:{m}" for c, m, _ in VIOLATIONS]
)
def test_a_bad_import_breaks_its_contract(
    tree: Path, tmp_path: Path, contract: str, module: str, line: str
) -> None:
    bad = check_layers.lay_out(tmp_path / "bad")
    path = bad / module
    path.write_text(path.read_text() + f"\n{line}  # deliberate violation\n")
    proc = check_layers.run_contracts(bad, contract)
    assert proc.returncode != 0, proc.stdout
    assert "BROKEN" in proc.stdout
    assert module.removesuffix(".py").replace("/", ".") in proc.stdout


def _modules() -> list[str]:
    names = []
    for package, folder in check_layers.package_folders().items():
        names.append(package)
        names.extend(
            f"{package}.{p.stem}"
            for p in sorted(folder.glob("*.py"))
            if p.stem not in ("__init__", "__main__")
        )
    return sorted(names)


def test_every_module_imports_on_its_own() -> None:
    """Each module, first of dockwire's in a clean module table, imports without a cycle error."""
    code = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'dockwire' or m.startswith('dockwire.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    modules = _modules()
    assert len(modules) > 80
    proc = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", proc.stdout
