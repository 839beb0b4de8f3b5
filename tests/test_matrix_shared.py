"""The matrix shares work between pairs; every check must still be exactly the per-pair `evaluate` answer.

* `build_matrix` equals a naive matrix (a per-pair `evaluate` loop written here) cell by cell, on every
  recorded and documented snapshot and on synthetic hosts (three Docker layouts, odd containers, unknown
  rules, a partly read firewall);
* a check's verdict, assembled without path, rule list and fix, is the full verdict less those;
* the rule index changes no verdict: every field of every verdict is the same with every chain indexed and
  with none (and the walk's step limit ends the same walks);
* a rule naming one container address is honoured for that pair only, whatever chain index it sits in;
* a guard never hides a match: wherever the index would skip a rule, the rule's own test answers False.
"""

from __future__ import annotations

import itertools
import random
import re
from functools import cache
from pathlib import Path

import msgspec
import pytest

from benchmarks.synthetic_host import synthetic_host
from dockwire.errors import DockwireError
from dockwire.model import Chain, Container, HostModel, Match
from dockwire.probes.iptables_save import build_rule
from dockwire.snapshot import load
from dockwire.verdict import matrix_pool, ruleindex
from dockwire.verdict.context import context_for
from dockwire.verdict.endpoints import FlowEnd
from dockwire.verdict.matches import compile_match, guard_of
from dockwire.verdict.matrix import Cell, Check, Matrix, StatusGrid, build_matrix, matrix_job, ports_of
from dockwire.verdict.netfilter_eval import MAX_STEPS
from dockwire.verdict.packet import Packet, first_packet, reply_to
from dockwire.verdict.records import ALLOWED, BLOCKED, UNCERTAIN, Verdict
from dockwire.verdict.routing import RoutingTables
from dockwire.verdict.verdict import evaluate, evaluate_in
from dockwire.verdict.where import HostFacts, Where
from tests.verdict_models import with_rule, with_tables

SNAPSHOTS = sorted(
    p
    for p in (Path(__file__).parent / "fixtures" / "snapshots").glob("*.json")
    if p.name.startswith(("engine-", "docs-")) and not p.name.endswith(".observed.json")
)


@cache
def snapshot(path: Path) -> HostModel:
    return load(path)


# --- the naive matrix ------------------------------------------------------------------------------------


def _chain_of(v: Verdict) -> str:
    """What a check names: the culprit's chain, else the first unknown rule's, else the missing piece."""
    if v.culprit is not None:
        return f"{v.culprit.table} {v.culprit.chain}"
    if v.unknown:
        return f"{v.unknown[0].table} {v.unknown[0].chain}"
    return v.missing


def naive_matrix(model: HostModel, include_stopped: bool = False) -> Matrix:
    """One `evaluate` per pair and check, nothing shared."""
    members = [c for c in model.containers if include_stopped or c.state in ("running", "")]
    cells = []
    for src, dst in itertools.product(members, members):
        if src.id == dst.id:
            continue
        owner = model.container(dst.netns_owner) if dst.netns_owner else dst
        checks, error = [], ""
        try:
            for proto, port in [("icmp", None), *ports_of(owner or dst)]:
                v = evaluate(
                    model,
                    FlowEnd("container", src.name, container=src),
                    FlowEnd("container", dst.name, container=dst),
                    proto,
                    port,
                )
                checks.append(
                    Check(proto=proto, port=port, verdict=v.verdict, culprit=_chain_of(v), reason=v.reason)
                )
        except DockwireError as exc:
            error = str(exc)
        cells.append(Cell(src=src.name, dst=dst.name, checks=checks, error=error))
    return Matrix(containers=[c.name for c in members], cells=cells)


def assert_same_matrix(fast: Matrix, naive: Matrix) -> None:
    assert fast.containers == naive.containers
    assert len(fast.cells) == len(naive.cells)
    for got, want in zip(fast.cells, naive.cells, strict=True):
        assert got == want, f"{want.src} -> {want.dst}"


def fresh(model: HostModel) -> HostModel:
    """An equal model that is not the same object (so the engine builds a new context for it)."""
    return msgspec.structs.replace(model)


def unknown_rule_host() -> HostModel:
    """A host where one source address meets a rule dockwire cannot evaluate, and everyone meets another."""
    model = synthetic_host(14, networks=3, user_rules=40, rule_mix="mixed")
    x = model.containers[0].endpoints[0].ip
    model = with_rule(
        model, "filter", "DOCKER-USER", f"-A DOCKER-USER -s {x}/32 -m recent --rcheck -j DROP", 20
    )
    return with_rule(model, "filter", "DOCKER-USER", "-A DOCKER-USER -m statistic --mode random -j LOG", 30)


SYNTHETIC = {
    "28": lambda: synthetic_host(
        22, networks=6, user_rules=300, rule_mix="mixed", extra_ports=True, variety=True
    ),
    "20.10": lambda: synthetic_host(
        22, networks=6, user_rules=300, rule_mix="mixed", extra_ports=True, layout="20.10", variety=True
    ),
    "29-iptables": lambda: synthetic_host(
        22, networks=6, user_rules=300, rule_mix="mixed", extra_ports=True, layout="29-iptables", variety=True
    ),
    "blocklist": lambda: synthetic_host(16, networks=4, user_rules=2000),
    "unknown-rules": unknown_rule_host,
    "stale-firewall": lambda: msgspec.structs.replace(
        synthetic_host(12, networks=3, user_rules=50), stale={"firewall-nft": "nft -j timed out"}
    ),
}


@cache
def synthetic(name: str) -> HostModel:
    return SYNTHETIC[name]()


# --- build_matrix == naive ---------------------------------------------------------------------------------


@pytest.mark.parametrize("snap", SNAPSHOTS, ids=lambda p: p.stem)
def test_matrix_equals_naive_on_snapshots(snap: Path) -> None:
    model = snapshot(snap)
    assert_same_matrix(build_matrix(model), naive_matrix(model))
    assert_same_matrix(build_matrix(model, include_stopped=True), naive_matrix(model, include_stopped=True))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_matrix_equals_naive_on_synthetic_hosts(name: str) -> None:
    model = synthetic(name)
    fast = build_matrix(model, include_stopped=True)
    assert_same_matrix(fast, naive_matrix(model, include_stopped=True))
    verdicts = {c.verdict for cell in fast.cells for c in cell.checks}
    if name == "stale-firewall":  # every answer that met a hook is uncertain
        assert verdicts == {UNCERTAIN}
    else:
        assert {ALLOWED, BLOCKED} <= verdicts
    if name == "unknown-rules":
        assert UNCERTAIN in verdicts


@pytest.mark.parametrize("name", ["28", "unknown-rules", "stale-firewall"])
def test_a_check_without_detail_is_the_full_verdict_less_its_detail(name: str) -> None:
    model = synthetic(name)
    ctx = context_for(model)
    for src, dst in itertools.product(model.containers, model.containers):
        if src.id == dst.id:
            continue
        ends = (
            FlowEnd("container", src.name, container=src),
            FlowEnd("container", dst.name, container=dst),
        )
        for proto, port in [("icmp", None), *ports_of(dst)]:
            try:
                full = evaluate(model, *ends, proto, port)
            except DockwireError:
                continue
            lean = evaluate_in(ctx, *ends, proto, port, detail=False)
            assert lean == msgspec.structs.replace(
                full, path=[], matched=[], unevaluated=[], fix=[], fix_note=""
            )


# --- the index changes no verdict --------------------------------------------------------------------------


def all_verdicts(model: HostModel) -> list[bytes]:
    """Every field of every verdict a matrix asks for (plus host and outside flows), encoded."""
    out = []
    members = model.containers
    for src, dst in itertools.product(members, members):
        if src.id == dst.id:
            continue
        for proto, port in [("icmp", None), ("tcp", 22), *ports_of(dst)]:
            try:
                v = evaluate(
                    model,
                    FlowEnd("container", src.name, container=src),
                    FlowEnd("container", dst.name, container=dst),
                    proto,
                    port,
                )
                out.append(msgspec.json.encode(v))
            except DockwireError as exc:
                out.append(repr(exc).encode())
    for c in members[:6]:
        for there, proto, port in (
            ("host", "tcp", 22),
            ("outside", "icmp", None),
            ("outside:198.51.100.7", "tcp", 443),
        ):
            out.append(msgspec.json.encode(evaluate(model, c.name, there, proto, port)))
    for c in members:
        for b in c.ports:
            if b.host_port:
                out.append(
                    msgspec.json.encode(evaluate(model, "outside", f"192.0.2.2:{b.host_port}", b.proto))
                )
    return out


def verdicts_with(model: HostModel, min_guarded: int, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    with monkeypatch.context() as patch:
        patch.setattr(ruleindex, "MIN_GUARDED", min_guarded)
        return all_verdicts(fresh(model))


@pytest.mark.parametrize(
    "name", ["28", "20.10", "unknown-rules", "docs-29-nftables", "engine-28.5.2-iptables-nft"]
)
def test_index_changes_no_verdict(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    snaps = {p.stem: p for p in SNAPSHOTS}
    model = snapshot(snaps[name]) if name in snaps else synthetic(name)
    indexed = verdicts_with(model, 1, monkeypatch)  # every chain with a guarded rule is indexed
    walked = verdicts_with(model, 10**9, monkeypatch)  # no chain is
    assert len(indexed) == len(walked)
    for got, want in zip(indexed, walked, strict=True):
        assert got == want


def test_step_limit_ends_the_same_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk past MAX_STEPS rules is cut off the same way when the index skips most of those rules."""
    model = synthetic_host(4, networks=1)
    filter_table = next(t for t in model.firewall.tables if t.name == "filter")
    names = {c.name for c in filter_table.chains} | {"DWTEST-BIG"}
    big = Chain(
        name="DWTEST-BIG",
        rules=[
            build_rule("filter", i + 1, f"-A DWTEST-BIG -s 10.99.{i // 250}.{i % 250 + 1}/32 -j DROP", names)
            for i in range(1000)
        ],
    )
    jumps = [
        build_rule("filter", i + 1, "-A DOCKER-USER -j DWTEST-BIG", names)
        for i in range(MAX_STEPS // 1000 + 1)
    ]
    chains = [
        msgspec.structs.replace(c, rules=jumps) if c.name == "DOCKER-USER" else c for c in filter_table.chains
    ]
    tables = [
        msgspec.structs.replace(t, chains=[*chains, big]) if t is filter_table else t
        for t in model.firewall.tables
    ]
    model = with_tables(model, tables)
    a, b = (c.name for c in model.containers[:2])
    results = []
    for min_guarded in (1, 10**9):
        with monkeypatch.context() as patch:
            patch.setattr(ruleindex, "MIN_GUARDED", min_guarded)
            results.append(evaluate(fresh(model), a, b))
    assert results[0] == results[1]
    assert results[0].verdict == UNCERTAIN and "did not finish" in results[0].reason


# --- a rule for one address is honoured for that pair only -----------------------------------------------


def _on_same_network(model: HostModel, count: int) -> list[Container]:
    first = model.containers[0].endpoints[0].network_id
    return [c for c in model.containers if c.endpoints and c.endpoints[0].network_id == first][:count]


@pytest.mark.parametrize("form", ["addresses", "ipset", "wildcard-iface"])
def test_rule_for_one_pair_is_honoured_for_that_pair_only(form: str) -> None:
    base = synthetic_host(18, networks=3, user_rules=400, rule_mix="mixed", extra_ports=True)
    x, y, _ = _on_same_network(base, 3)
    x_ip, y_ip = x.endpoints[0].ip, y.endpoints[0].ip
    new = "-m conntrack --ctstate NEW"  # the request only: Y -> X's reply is not touched
    if form == "addresses":
        text = f"-A DOCKER-USER -s {x_ip}/32 -d {y_ip}/32 {new} -j DROP"
        model = with_rule(base, "filter", "DOCKER-USER", text, 200)
    elif form == "ipset":
        text = f"-A DOCKER-USER -m set --match-set dwtest-src src -d {y_ip}/32 {new} -j DROP"
        model = with_rule(base, "filter", "DOCKER-USER", text, 200)
        sets = {"dwtest-src": [f"{x_ip}"], "dwtest-other": ["10.0.0.1"]}
        model = msgspec.structs.replace(model, firewall=msgspec.structs.replace(model.firewall, ipsets=sets))
    else:
        bridge = base.network(x.endpoints[0].network_id)
        assert bridge is not None
        text = f"-A DOCKER-USER -s {x_ip}/32 -i {bridge.bridge[:5]}+ -d {y_ip}/32 {new} -j DROP"
        model = with_rule(base, "filter", "DOCKER-USER", text, 200)
    before, after = build_matrix(base), build_matrix(model)
    assert_same_matrix(after, naive_matrix(model))
    changed = [(b.src, b.dst) for b, a in zip(before.cells, after.cells, strict=True) if a != b]
    assert changed == [(x.name, y.name)]
    cell = next(c for c in after.cells if (c.src, c.dst) == (x.name, y.name))
    assert cell.checks and all(
        c.verdict == BLOCKED and c.culprit == "filter DOCKER-USER" for c in cell.checks
    )
    assert all("request: dropped at FORWARD by filter DOCKER-USER rule 200" in c.reason for c in cell.checks)


# --- guards never hide a match ---------------------------------------------------------------------------

EXTRA_MATCHES = [
    Match(module="", option="-s", args=["10.1.0.0/16,10.2.0.5"]),
    Match(module="", option="-s", args=["10.1.0.0/16"], negated=True),
    Match(module="", option="-d", args=["10.1.0.1-10.1.0.9"]),
    Match(module="", option="-d", args=["fd00::/8,10.3.0.0/24"]),
    Match(module="", option="-d", args=["fd00::1"]),
    Match(module="", option="-d", args=["not-an-address"]),
    Match(module="", option="-i", args=["veth+,docker0"]),
    Match(module="", option="-i", args=["+"]),
    Match(module="", option="-o", args=['"br-*"']),
    Match(module="", option="-o", args=["eth0"], negated=True),
    Match(module="", option="-p", args=["all"]),
    Match(module="", option="-p", args=["6"]),
    Match(module="tcp", option="--dport", args=["1000:1010"]),
    Match(module="tcp", option="--dport", args=["1000:1100"]),
    Match(module="tcp", option="--dport", args=["1024:"]),
    Match(module="multiport", option="--dports", args=["80,443,8000:8010"]),
    Match(module="comment", option="--dport", args=["80"]),
    Match(module="set", option="--match-set", args=["dwtest", "src"]),
    Match(module="set", option="--match-set", args=["dwtest", "src,dst"]),
    Match(module="set", option="--match-set", args=["missing", "dst"]),
    Match(module="nft", option="ip saddr", args=["{ 10.1.0.1, 10.2.0.0/16 }"]),
    Match(module="nft", option="ip daddr", args=["@dwset"]),
    Match(module="nft", option="ip daddr", args=["@missing"]),
    Match(module="nft", option="ip daddr", args=["10.1.0.1"], op="!="),
    Match(module="nft", option="meta iifname", args=["{ veth*, docker0 }"]),
    Match(module="nft", option="oifname", args=["eth0"], negated=True),
    Match(module="nft", option="tcp dport", args=["{ 22, 80-90 }"]),
    Match(module="nft", option="th dport", args=["53"]),
    Match(module="nft", option="udp dport", args=["53"], op="<"),
    Match(module="nft", option="meta l4proto", args=["{ tcp, udp }"]),
    Match(module="nft", option="ip protocol", args=["icmp"]),
    Match(module="", option="-s", args=["10.9.9.9"], known=False),
]
SETS = {"dwtest": ["10.1.0.7", "10.5.0.0/16"], "dwset": ["10.1.0.1", '"10.4.0.0/16" timeout 30']}
ADDRESS = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def _samples(models: list[HostModel]) -> tuple[list[str], list[str], list[int | None]]:
    addresses = {
        "10.1.0.1",
        "10.1.0.7",
        "10.2.0.5",
        "10.3.0.9",
        "10.4.1.1",
        "10.5.3.3",
        "192.0.2.2",
        "127.0.0.1",
    }
    names = {"", "eth0", "lo", "docker0", "veth123", "br-1234", "ve"}
    ports: set[int | None] = {None, 22, 53, 80, 85, 443, 1000, 1005, 1010, 1011, 1100, 8005, 40000}
    for m in models:
        for c in m.containers:
            addresses.update(e.ip for e in c.endpoints if e.ip)
        names.update(i.name for i in m.host.interfaces)
        for t in m.firewall.tables:
            for ch in t.chains:
                for r in ch.rules:
                    addresses.update(
                        a for a in ADDRESS.findall(r.text) if all(int(o) < 256 for o in a.split("."))
                    )
                    ports.update(int(p) for p in re.findall(r"dport (\d+)", r.text))
    return sorted(addresses), sorted(names), sorted(ports, key=lambda p: -1 if p is None else p)


def test_guards_never_hide_a_match() -> None:
    models = [snapshot(p) for p in SNAPSHOTS] + [synthetic("28"), synthetic("unknown-rules")]
    matches: dict[tuple[object, ...], tuple[Match, dict[str, list[str]]]] = {}
    for model in models:
        for table in model.firewall.tables:
            sets = model.firewall.ipsets if table.source.startswith("iptables") else table.sets
            for chain in table.chains:
                for rule in chain.rules:
                    for m in rule.matches:
                        key = (
                            m.module,
                            m.option,
                            tuple(m.args),
                            m.negated,
                            m.op,
                            m.known,
                            tuple(sorted(sets)),
                        )
                        matches.setdefault(key, (m, sets))
    for m in EXTRA_MATCHES:
        matches[(m.module, m.option, tuple(m.args), m.negated, m.op, m.known, "extra")] = (m, SETS)
    addresses, names, ports = _samples(models)
    facts = HostFacts(RoutingTables([], None, []))
    rng = random.Random(20261201)
    guarded = 0
    for m, sets in matches.values():
        test = compile_match(m, sets)
        guard = guard_of(m, test, sets)
        if guard is None:
            continue
        guarded += 1
        index = ruleindex.RuleIndex([guard])
        for _ in range(400):
            pkt = first_packet(
                rng.choice(addresses),
                rng.choice(addresses),
                rng.choice(("icmp", "tcp", "udp", "sctp")),
                rng.choice(ports),
            )
            if rng.random() < 0.3:
                pkt = reply_to(pkt)
            where = Where(
                rng.choice(("prerouting", "forward", "postrouting")), rng.choice(names), rng.choice(names)
            )
            if not index.candidates(pkt, where):
                assert test(pkt, where, facts) is False, (m, pkt, where)
    assert guarded > 40


def test_candidates_list_the_rules_whose_guards_let_the_packet_through() -> None:
    guards = [
        guard_of(m, compile_match(m, SETS), SETS)
        for m in (
            Match(module="", option="-s", args=["10.1.0.1"]),
            Match(module="", option="-s", args=["10.1.0.0/16"]),
            Match(module="tcp", option="--dport", args=["80"]),
            Match(module="", option="-i", args=["veth+"]),
            Match(module="", option="-p", args=["udp"]),
            Match(module="", option="-s", args=["10.1.0.0/16"], negated=True),
        )
    ]
    assert guards[-1] is None
    index = ruleindex.RuleIndex(guards)

    def at(src: str, proto: str, port: int | None, iif: str) -> tuple[int, ...]:
        pkt: Packet = first_packet(src, "10.9.0.1", proto, port)
        return index.candidates(pkt, Where("forward", iif=iif))

    assert at("10.1.0.1", "tcp", 80, "veth0") == (0, 1, 2, 3, 5)
    assert at("10.1.0.2", "udp", 80, "") == (1, 2, 4, 5)
    assert at("10.2.0.1", "icmp", None, "eth0") == (5,)


def test_the_dashboards_matrix_cells_are_the_full_whys_statuses() -> None:
    """The TUI's grid uses the light verdicts on one shared context; each cell's statuses are what a full
    `why` of that pair and port says."""
    from dockwire.answer import Question
    from dockwire.tui.answers import matrix_cells, matrix_members, why

    model = load(Path(__file__).parent / "fixtures" / "tui" / "lab.json")
    members = matrix_members(model)
    cells = {key: cell for batch in matrix_cells(model, members) for key, cell in batch.items()}
    assert len(cells) == len(members) * (len(members) - 1)
    for src in members:
        for dst in members:
            if src.id == dst.id:
                continue
            cell = cells[(src.id, dst.id)]
            assert cell.icmp == why(model, Question(src.name, dst.name)).status
            for port_text, status in cell.ports:
                port, proto = port_text.split("/")
                assert status == why(model, Question(src.name, dst.name, proto, int(port))).status


def test_rows_split_over_processes_are_the_rows_computed_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked workers (one per core) return exactly the cells, in order, that this process computes."""
    monkeypatch.setattr(matrix_pool, "MIN_PAIRS", 0)
    model = fresh(synthetic("28"))
    job = matrix_job(model, include_stopped=True)
    split = matrix_pool.rows_in_processes(job, workers=3)
    assert split is not None, "the matrix was not split (another thread was running?)"
    assert split == job.rows(0, len(job.containers))
    assert build_matrix(model, include_stopped=True, workers=2) == build_matrix(model, include_stopped=True)


def test_the_dashboards_grid_in_worker_processes_is_the_grid_computed_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`status_rows` (fresh worker interpreters, the model sent as msgpack, a few rows per task) yields the
    rows `StatusGrid` computes in this process, in the members' order, whatever the order asked."""
    monkeypatch.setattr(matrix_pool, "MIN_PAIRS", 0)
    for model in (load(Path(__file__).parent / "fixtures" / "tui" / "lab.json"), fresh(synthetic("28"))):
        members = [c for c in model.containers if c.state == "running"]
        members = members[1::2] + members[0::2]  # not the model's order
        grid = StatusGrid(model, members)
        rows = matrix_pool.status_rows(model, members, workers=2)
        assert rows is not None
        assert list(rows) == [grid.row(c.id) for c in members]


def test_a_failing_grid_worker_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that dies (here: it is sent a model it cannot decode) ends the grid with DockwireError
    naming the worker's last line of stderr, and every worker is gone afterwards."""
    monkeypatch.setattr(matrix_pool, "MIN_PAIRS", 0)
    model = load(Path(__file__).parent / "fixtures" / "tui" / "lab.json")
    members = [c for c in model.containers if c.state == "running"]
    monkeypatch.setattr(matrix_pool.msgspec.msgpack, "encode", _encode_broken_model)
    started: list[matrix_pool._Worker] = []
    real_init = matrix_pool._Worker.__init__

    def recorded(self: matrix_pool._Worker) -> None:
        real_init(self)
        started.append(self)

    monkeypatch.setattr(matrix_pool._Worker, "__init__", recorded)
    rows = matrix_pool.status_rows(model, members, workers=2)
    assert rows is not None
    with pytest.raises(DockwireError, match=r"^a matrix worker failed: .*\S") as caught:
        list(rows)
    assert "\n" not in str(caught.value)
    assert started and all(w.process.poll() is not None for w in started)


_REAL_ENCODE = msgspec.msgpack.encode


def _encode_broken_model(obj: object) -> bytes:
    if isinstance(obj, HostModel):
        return b"\xc1"  # a byte msgpack never uses
    return _REAL_ENCODE(obj)


def test_the_grid_s_explainer_gives_the_verdicts_given_here() -> None:
    """`VerdictWorker` (a fresh interpreter fed the model) gives `evaluate`'s verdicts, and its errors."""
    model = load(Path(__file__).parent / "fixtures" / "tui" / "lab.json")
    worker = matrix_pool.VerdictWorker(model)
    try:
        for src, dst, proto, port in (
            ("dwlab-iso-a", "dwlab-iso-b", "icmp", None),
            ("dwlab-default-a", "dwlab-web", "tcp", 80),
            ("outside", "dwlab-web", "tcp", 80),
        ):
            assert worker.verdict(src, dst, proto, port, None) == evaluate(model, src, dst, proto, port)
        with pytest.raises(DockwireError) as here:
            evaluate(model, "dwlab-nosuch", "dwlab-web", "icmp", None)
        with pytest.raises(DockwireError) as there:
            worker.verdict("dwlab-nosuch", "dwlab-web", "icmp", None, None)
        assert str(there.value) == str(here.value)
    finally:
        worker.close()
    assert worker._worker.process.poll() is not None
