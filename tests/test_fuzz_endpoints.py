"""The command line's endpoint and port parsing on any input: an answer or one of dockwire's own errors.

`why`, `matrix` and `probe` read SRC/DST text (`NAME`, `ID`, `IP`, `host`, `outside[:ADDR]`, `HOSTIP:PORT`,
`NAME:PORT`, `name:OTHER`) and ports; whatever a user (or a script) types, the engine resolves it or raises
EndpointError/VerdictError/ProbeError (DockwireError: one line, exit 2) — never another exception.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwire.actions.endpoints import ProbeError, resolve_destination, resolve_source
from dockwire.actions.runner import check_args, split_destination
from dockwire.errors import DockwireError
from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.text import safe
from dockwire.verdict.endpoints import resolve_endpoint
from dockwire.verdict.verdict import evaluate
from tests import fuzz_stats

SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"
FUZZ = settings(max_examples=250, deadline=3000, database=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def model() -> HostModel:
    return load(SNAPSHOT)


def _names() -> list[str]:
    m = model()
    return (
        [c.name for c in m.containers]
        + [c.id[:12] for c in m.containers]
        + [ep.ip for c in m.containers for ep in c.endpoints if ep.ip]
    )


PIECES = [
    "host", "outside", "name", ":", "::", "/", "%", " ", "\t", "\x00", "\x1b", "é", "-1", "0", "65536",
    "99999999999999999999", "1.2.3.4", "172.17.0.2", "fd00::3", "[::1]", "198.51.100.2", "netns:", "@",
    "a" * 300,
]  # fmt: skip
endpoint_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(PIECES + _names()), min_size=1, max_size=5).map("".join),
    st.tuples(
        st.sampled_from([*_names(), "host", "outside"]), st.sampled_from([":", "@", "/"]), st.text(max_size=8)
    ).map("".join),
)
protos = st.sampled_from(["icmp", "tcp", "udp", "dns", "trace", "sctp", "", "ICMP"])
ports = st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70))


@FUZZ
@given(src=endpoint_text, dst=endpoint_text, proto=protos, port=ports)
def test_why_resolves_or_says_why_not(src: str, dst: str, proto: str, port: int | None) -> None:
    fuzz_stats.count("endpoint")
    m = model()
    try:
        src_ep = resolve_endpoint(m, src, "src")
        dst_ep = resolve_endpoint(m, dst, "dst")
        evaluate(m, src_ep, dst_ep, proto or "icmp", port)
    except DockwireError as exc:
        assert "\n" not in safe(str(exc))  # as the CLI prints it: one line


@FUZZ
@given(src=endpoint_text, dst=endpoint_text, proto=protos, port=ports)
def test_probe_arguments_resolve_or_say_why_not(src: str, dst: str, proto: str, port: int | None) -> None:
    """All a probe checks before it sends anything (no packet leaves: no namespace is entered)."""
    fuzz_stats.count("probe-endpoint")
    m = model()
    try:
        dst, proto, port = split_destination(dst, proto, port)
        check_args(proto, port, 1, 1.0, 8)
        source = resolve_source(m, src, outside=src.rpartition(":")[2] or None)
        if proto != "dns":
            resolve_destination(m, source, dst)
    except (ProbeError, DockwireError) as exc:
        assert "\n" not in safe(str(exc))  # as the CLI prints it: one line
