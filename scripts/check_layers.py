"""Run the import contracts (pyproject.toml's [tool.importlinter]) on dockwire as it is installed.

The source tree maps probes/, tui/ and widgets/ into the `dockwire` package (setuptools' package-dir), which
import-linter cannot follow. This lays out the tree a wheel would hold (every package of `packages`, from its
mapped folder) in a temporary directory and runs lint-imports there, so each contract sees every package.
It also fails when a folder with an __init__.py is missing from `packages` (a wheel would lack it).

Usage: python scripts/check_layers.py [--keep DIR]   (exit status: lint-imports', or 2 for a layout error)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_folders(root: Path = ROOT) -> dict[str, Path]:
    """Every package of pyproject's `packages`, with the folder it comes from."""
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = setup.get("package-dir", {})
    folders: dict[str, Path] = {}
    for package in setup["packages"]:
        parts = package.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in mapping:
                folders[package] = root / mapping[prefix] / Path(*parts[cut:])
                break
        else:
            folders[package] = root / Path(*parts)
    return folders


def missing_packages(folders: dict[str, Path]) -> list[str]:
    """Folders holding an __init__.py below a listed package that `packages` does not list."""
    listed = set(folders.values())
    missing = []
    for folder in folders.values():
        for init in folder.rglob("__init__.py"):
            if init.parent not in listed and "__pycache__" not in init.parts:
                missing.append(str(init.parent.relative_to(ROOT)))
    return sorted(set(missing))


def lay_out(dest: Path, root: Path = ROOT) -> Path:
    """Copy every listed package's modules into dest as the installed tree; returns dest."""
    for package, folder in package_folders(root).items():
        target = dest / Path(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in folder.glob("*.py"):
            shutil.copy2(module, target / module.name)
    return dest


def run_contracts(tree: Path, *ids: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """lint-imports on the laid-out tree (found first on the path, ahead of any editable install);
    `ids` limits it to those contract ids (each given as `--contract ID`)."""
    lint = Path(sys.executable).with_name("lint-imports")
    contracts = tuple(arg for c in ids for arg in ("--contract", c))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(lint), str(root / "pyproject.toml"), "--no-cache", *contracts],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="lay the tree out in DIR and keep it")
    args = parser.parse_args()
    missing = missing_packages(package_folders())
    if missing:
        print(f"check-layers: pyproject.toml's packages misses: {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dockwire-layers-") as tmp:
        tree = lay_out(Path(args.keep or tmp))
        proc = run_contracts(tree)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
