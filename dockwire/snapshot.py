"""Write a HostModel as versioned JSON and read it back, with clear errors for bad files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import msgspec

from dockwire.model import SCHEMA_VERSION, HostModel

DEMO_RESOURCE = "demo.json"


class SnapshotError(Exception):
    """A snapshot file cannot be used; the message says why, in one line."""


def dumps(model: HostModel) -> bytes:
    """Stable JSON: struct fields in declaration order, dict keys sorted, two-space indent."""
    raw = msgspec.json.encode(model, order="deterministic")
    return msgspec.json.format(raw, indent=2) + b"\n"


def loads(data: bytes | str, origin: str = "snapshot") -> HostModel:
    try:
        header = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"{origin}: not valid JSON ({exc})") from None
    if not isinstance(header, dict) or "schema_version" not in header:
        raise SnapshotError(f"{origin}: not a dockwire snapshot (no schema_version field)")
    version = header["schema_version"]
    if version != SCHEMA_VERSION:
        raise SnapshotError(
            f"{origin}: schema version {version!r} is not supported (this dockwire reads {SCHEMA_VERSION})"
        )
    try:
        return msgspec.json.decode(data, type=HostModel)
    except msgspec.ValidationError as exc:
        raise SnapshotError(f"{origin}: invalid snapshot: {exc}") from None


def load(path: str | Path) -> HostModel:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return loads(data, origin=str(path))


def save(model: HostModel, path: str | Path) -> None:
    try:
        Path(path).write_bytes(dumps(model))
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot write ({exc.strerror or exc})") from None


def load_demo() -> HostModel:
    """The recorded snapshot bundled with the package, for `dockwire --demo`."""
    data = resources.files("dockwire").joinpath("data", DEMO_RESOURCE).read_bytes()
    return loads(data, origin="bundled demo snapshot")
