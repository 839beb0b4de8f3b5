"""What does stop a published port's traffic that an INPUT deny was meant to stop: a rule on its real path.

After the DNAT the packet is forwarded, so the stop belongs in the forward hook: Docker's `DOCKER-USER` chain
with the iptables backend (through the binary that reaches that backend), or a drop in a forward-hook nft
chain (the rule's own nft table, a user table that has one, or a new table: Docker 29's nftables backend
has no DOCKER-USER). By then the packet's port is the container's, so the rule matches the connection's
original (published) port: `-m conntrack --ctorigdstport P --ctdir ORIGINAL` / `ct original proto-dst P`.
The deny's own source and interface conditions are kept; without an interface, the flow's own is used.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from dockwire.model import Match, Table
from dockwire.verdict.context import EngineContext
from dockwire.verdict.fixes import Fix, iptables_tool
from dockwire.verdict.netfilter_eval import Hit

NEW_TABLE = ("ip", "user-filter")
FORWARD_CHAIN = "{ type filter hook forward priority filter; policy accept; }"


@dataclass(frozen=True, slots=True)
class Published:
    """The published port a detoured packet was for, and where DNAT sent it."""

    proto: str
    host_addr: str
    host_port: int
    container: str
    container_addr: str
    container_port: int
    # The interface the packet came in on.
    iif: str


@dataclass(frozen=True, slots=True)
class Term:
    """One condition kept from the deny: `what` is "src" or "iif"."""

    what: str
    value: str
    negated: bool = False


def _terms(hit: Hit) -> list[Term]:
    """The deny's source-address and in-interface conditions, backend-neutral."""
    assert hit.rule is not None
    terms = []
    for m in hit.rule.rule.matches:
        term = _term(m)
        if term is not None:
            terms.append(term)
    return terms


def _term(m: Match) -> Term | None:
    if not m.known or not m.args:
        return None
    value = ",".join(m.args)
    if m.module == "nft":
        option = m.option.removeprefix("meta ").strip()
        negated = m.negated or m.op.strip() in ("!=", "ne")
        if option == "ip saddr":
            return Term("src", value, negated)
        if option == "iifname":
            return Term("iif", value, negated)
        return None
    if m.option in ("-s", "--source"):
        return Term("src", value, m.negated)
    if m.option in ("-i", "--in-interface"):
        return Term("iif", value, m.negated)
    return None


def _with_iif(terms: list[Term], pub: Published) -> list[Term]:
    if any(t.what == "iif" for t in terms) or not pub.iif:
        return terms
    return [Term("iif", pub.iif), *terms]


def _verdict(hit: Hit) -> str:
    assert hit.rule is not None
    return "reject" if hit.rule.action.kind == "reject" else "drop"


# --- iptables -----------------------------------------------------------------------------------------------


def _docker_user(ctx: EngineContext, near: Table) -> Table | None:
    """The iptables filter table whose FORWARD jumps to DOCKER-USER (the deny's own backend first); None with
    Docker's nftables backend, which leaves any DOCKER-USER chain unused."""
    engine = ctx.model.engine
    if engine is not None and engine.docker_firewall_backend == "nftables":
        return None
    tables = [
        t
        for t in ctx.ruleset.tables
        if t.source.startswith("iptables") and t.family == "ip" and t.name == "filter" and _jumps_to_user(t)
    ]
    tables.sort(key=lambda t: t.source != near.source)
    return tables[0] if tables else None


def _jumps_to_user(table: Table) -> bool:
    return any(
        r.target is not None and r.target.name == "DOCKER-USER"
        for c in table.chains
        if c.name == "FORWARD"
        for r in c.rules
    )


def _iptables_words(terms: list[Term]) -> list[str]:
    words: list[str] = []
    for t in terms:
        words += [*(["!"] if t.negated else []), "-s" if t.what == "src" else "-i", t.value]
    return words


def _iptables_fix(ctx: EngineContext, hit: Hit, pub: Published, table: Table, chain: str) -> Fix:
    terms = _with_iif(_terms(hit), pub)
    command = [
        iptables_tool(table, ctx.model.firewall),
        "-I",
        chain,
        *_iptables_words(terms),
        "-p",
        pub.proto,
        "-m",
        "conntrack",
        "--ctorigdstport",
        str(pub.host_port),
        "--ctdir",
        "ORIGINAL",
        "-j",
        _verdict(hit).upper(),
    ]
    where = "DOCKER-USER, which FORWARD runs before Docker's own rules" if chain == "DOCKER-USER" else chain
    return Fix(
        [shlex.join(command)],
        f"published traffic is filtered where it is forwarded: in {where}. After the DNAT the packet's "
        f"port is the container's ({pub.container_port}); --ctorigdstport matches the published "
        f"{pub.host_port}. " + _loopback_hint(pub),
    )


# --- nftables -----------------------------------------------------------------------------------------------


def _forward_chain(table: Table) -> str:
    """The name of a filter base chain at the forward hook in `table`, or ""."""
    for c in table.chains:
        if c.hook.lower() == "forward" and c.type in ("filter", ""):
            return c.name
    return ""


def _user_forward(ctx: EngineContext, hit: Hit) -> tuple[Table, str] | None:
    """An nft forward chain of the deny's own table, else of another table that is not Docker's."""
    own = hit.chain.table
    tables = [own] if own.source == "nftables" else []
    tables += [
        t for t in ctx.ruleset.tables if t.source == "nftables" and t is not own and t.owner != "docker"
    ]
    for t in tables:
        if t.family in ("ip", "inet") and (name := _forward_chain(t)):
            return t, name
    return None


def _nft_words(terms: list[Term], pub: Published, verdict: str) -> list[str]:
    words: list[str] = []
    for t in terms:
        value = t.value if "," not in t.value else "{ " + t.value.replace(",", ", ") + " }"
        words += ["ip", "saddr"] if t.what == "src" else ["iifname"]
        words += [*(["!="] if t.negated else []), value]
    words += ["meta", "l4proto", pub.proto, "ct", "original", "proto-dst", str(pub.host_port)]
    return [*words, "ct", "direction", "original", verdict]


def _nft_fix(ctx: EngineContext, hit: Hit, pub: Published) -> Fix:
    rule = _nft_words(_with_iif(_terms(hit), pub), pub, _verdict(hit))
    found = _user_forward(ctx, hit)
    commands: list[list[str]] = []
    if found is not None:
        table, chain = found
        family, name = table.family, table.name
        commands.append(["nft", "insert", "rule", family, name, chain, *rule])
    else:
        own = hit.chain.table
        if own.source == "nftables" and own.family in ("ip", "inet"):
            family, name, names = own.family, own.name, {c.name for c in own.chains}
        else:
            (family, name), names = NEW_TABLE, set()
            commands.append(["nft", "add", "table", family, name])
        chain = "forward" if "forward" not in names else "forward-published"
        commands.append(["nft", "add", "chain", family, name, chain, FORWARD_CHAIN])
        commands.append(["nft", "add", "rule", family, name, chain, *rule])
    return Fix(
        [shlex.join(c) for c in commands],
        f"published traffic is filtered where it is forwarded: a {_verdict(hit)} in any forward-hook chain "
        f"is final, whatever Docker's chains accept. After the DNAT the packet's port is the container's "
        f"({pub.container_port}); `ct original proto-dst` matches the published {pub.host_port}. "
        + _loopback_hint(pub),
    )


# --- either -------------------------------------------------------------------------------------------------


def _loopback_hint(pub: Published) -> str:
    suffix = "" if pub.proto == "tcp" else f"/{pub.proto}"
    who = f" {pub.container}" if pub.container else ""
    return (
        f"If only the host itself should reach it, publish it on loopback instead: recreate{who} with "
        f"-p 127.0.0.1:{pub.host_port}:{pub.container_port}{suffix}."
    )


def forward_fix(ctx: EngineContext, hit: Hit, pub: Published) -> Fix:
    """The command(s) that stop what the input deny `hit` was meant to stop, on the forwarded path."""
    table = hit.chain.table
    if table.source.startswith("iptables"):
        user = _docker_user(ctx, table)
        if user is not None:
            return _iptables_fix(ctx, hit, pub, user, "DOCKER-USER")
        engine = ctx.model.engine
        if engine is None or engine.docker_firewall_backend != "nftables":
            return _iptables_fix(ctx, hit, pub, table, "FORWARD")
    return _nft_fix(ctx, hit, pub)
