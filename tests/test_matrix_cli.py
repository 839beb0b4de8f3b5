"""`dockwire matrix` as text: one symbol a cell with a legend, rows grouped by network, --proto/--port.

On the recorded Docker 28.5.2 lab: the isolated pair is a raw drop, icc=false a `✗c`, the internal network
`·` (no route out) or `✗i` (isolation in), network none `·`; `--json` keeps its format whatever the filter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from dockwire.cli import main
from dockwire.snapshot import load
from dockwire.verdict.matrix import build_matrix, cell_symbol, render_matrix

SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"


def _grid(text: str) -> dict[str, list[str]]:
    """Row name -> the symbols of its cells, read back from the printed grid."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s*\d+\. (\S+)\s+(.*)", line)
        if m:
            rows[m.group(1)] = m.group(2).split()
    return rows


def test_each_cell_is_one_symbol_that_says_what_stops_it() -> None:
    model = load(SNAPSHOT)
    cells = {(c.src, c.dst): c for c in build_matrix(model).cells}
    assert cell_symbol(cells[("dwlab-default-a", "dwlab-default-b")]) == "✓"
    assert cell_symbol(cells[("dwlab-iso-a", "dwlab-iso-b")]) == "✗r"
    assert cell_symbol(cells[("dwlab-noicc-a", "dwlab-noicc-b")]) == "✗c"
    assert cell_symbol(cells[("dwlab-default-a", "dwlab-internal-a")]) == "✗i"
    assert cell_symbol(cells[("dwlab-internal-a", "dwlab-default-a")]) == "·"
    assert cell_symbol(cells[("dwlab-none", "dwlab-web")]) == "·"


def test_rows_are_grouped_by_network_and_the_legend_explains_every_symbol() -> None:
    model = load(SNAPSHOT)
    text = render_matrix(build_matrix(model), model)
    lines = text.splitlines()
    headings = [line.strip() for line in lines if re.fullmatch(r"  \S+:", line)]
    assert headings[:2] == ["bridge:", "dwlab-custom:"] and "dwlab-noicc:" in headings
    noicc = lines.index("  dwlab-noicc:")
    assert "dwlab-noicc-a" in lines[noicc + 1] and "dwlab-noicc-b" in lines[noicc + 2]
    grid = _grid(text)
    used = {symbol.lstrip("~") for row in grid.values() for symbol in row if symbol != "-"}
    legend = {line.split()[0] for line in lines if line.startswith("  ") and len(line.split()) > 1}
    assert used <= legend
    assert max(len(line) for line in lines if re.match(r"\s*\d+\. ", line)) < 120


def test_filters_keep_only_those_checks_and_json_keeps_its_format() -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["matrix", "--snapshot", str(SNAPSHOT), "--proto", "tcp", "--port", "80"])
    assert text.exit_code == 0, text.output
    web_column = _grid(text.output)
    assert web_column  # rows are printed
    raw = runner.invoke(
        main, ["matrix", "--json", "--snapshot", str(SNAPSHOT), "--proto", "tcp", "--port", "80"]
    )
    data = json.loads(raw.output)
    assert set(data) == {"schema_version", "containers", "cells"}
    checks = [c for cell in data["cells"] for c in cell["checks"]]
    assert checks and all((c["proto"], c["port"]) == ("tcp", 80) for c in checks)
    assert {"proto", "port", "verdict", "culprit", "reason"} == set(checks[0])
