"""Record the two-host lab for the unit tests: both hosts' snapshots and what real traffic did, in the seed's
broken state and after the fix `why` suggests on host B (undone afterwards).

    python -m tests.two_hosts_record OUTDIR      (run by scripts/record-two-host-fixtures)

Writes OUTDIR/{a,b}.json and observed.json, then (where A -> B is blocked) OUTDIR/fixed-{a,b}.json and
fixed-observed.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from dockwire.snapshot import dumps
from tests.two_hosts_env import (
    CASES,
    apply_fix_on_b,
    ask,
    case_id,
    client_b,
    fleet_now,
    reaches,
    undo_fix_on_b,
)


def _record(out: Path, prefix: str, clients: dict[str, object]) -> None:
    fleet = fleet_now()
    for name, model in fleet:
        (out / f"{prefix}{name}.json").write_bytes(dumps(model))
    observed = {case_id(case): reaches(clients, case) for case in CASES}
    (out / f"{prefix}observed.json").write_bytes(msgspec.json.format(msgspec.json.encode(observed)) + b"\n")
    print(f"{prefix or 'seed '}: {observed}")


def main(out: Path) -> None:
    from dockwire.docker_client import connect

    out.mkdir(parents=True, exist_ok=True)
    clients = {"a": connect(), "b": client_b()}
    _record(out, "", clients)
    verdict = ask(fleet_now(), CASES[0])
    if verdict.verdict == "allowed":
        print("A -> B passes on this engine: nothing to fix, no fixed-* files")
        return
    applied: list[list[str]] = []
    try:
        applied = apply_fix_on_b(verdict, clients["b"])
        _record(out, "fixed-", clients)
    finally:
        undo_fix_on_b(applied, clients["a"])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
