"""The sender process: `python -m dockwire.actions.worker`, talked to over stdin/stdout (one JSON line each).

1. read a WorkerRequest line; 2. enter its namespace; 3. import scapy; 4. print WorkerReady;
5. wait for "go"; 6. send, print the WorkerReport, exit. EOF on stdin at any point ends it quietly.
"""

from __future__ import annotations

import sys

import msgspec

from dockwire.actions.netns_exec import WorkerReady, WorkerReport, WorkerRequest, enter_netns


def _write(msg: msgspec.Struct) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(msg) + b"\n")
    sys.stdout.buffer.flush()


def main() -> int:
    line = sys.stdin.buffer.readline()
    if not line:
        return 0
    try:
        request = msgspec.json.decode(line, type=WorkerRequest)
    except msgspec.DecodeError as exc:
        _write(WorkerReady(ready=False, error=f"bad worker request: {exc}"))
        return 2
    if request.netns:
        try:
            enter_netns(request.netns)
        except OSError as exc:
            _write(
                WorkerReady(ready=False, error=f"cannot enter the network namespace: {exc.strerror or exc}")
            )
            return 2
    from dockwire.actions import sender

    try:
        sender.load_scapy()
    except Exception as exc:  # scapy missing or broken: one line, not a traceback
        _write(WorkerReady(ready=False, error=f"cannot load scapy: {exc}"))
        return 2
    _write(WorkerReady(ready=True))
    if sys.stdin.buffer.readline().strip() != b"go":
        return 0
    try:
        report = sender.run(request)
    except Exception as exc:
        report = WorkerReport(error=f"{type(exc).__name__}: {exc}")
    _write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
