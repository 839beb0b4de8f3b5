"""Read the host firewall into a Firewall record: iptables and ip6tables (nft or legacy backend), native
nftables tables, and the ipsets rules refer to.

Which source owns which table:
- `iptables-save -c` / `ip6tables-save -c` of the active backend own the xtables tables (filter, nat, ...).
- With the nft backend, those tables also show up in `nft list ruleset` (as `ip filter`, `ip6 nat`, ... with
  xt compat expressions); they are read from iptables-save only. Every other nftables table (Docker 29's
  `ip docker-bridges`, firewalld's `inet firewalld`, hand-written tables) is read from `nft -j`.
- Legacy tables that exist next to the nft backend (or nft tables next to the legacy one) are read too, and a
  warning says so: the kernel runs both sets of rules, but `iptables` shows only one.

Commands run with asyncio subprocesses and a timeout; anything that cannot be read is reported in the
returned stale dict (part -> reason) instead of raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dockwire.model import Firewall, Table

from .firewall_owner import assign_owners
from .iptables_save import IptablesSaveError, parse_iptables_save
from .nft_ruleset import NftJsonError, parse_nft_json
from .own_rules import without_trace_rules

DEFAULT_TIMEOUT = 10.0
_PROC = Path("/proc/net")
_ENV = {**os.environ, "LC_ALL": "C"}
_MATCH_SET = re.compile(r"--match-set\s+(\S+)")
_FAMILY_TOOL = {"ip": "iptables", "ip6": "ip6tables"}
#: Seconds a killed command is given to end (its pipes closed) before a cancelled read goes on.
KILLED_WAIT = 1.0
#: What gives a listing of the nf_tables tables read elsewhere (`nft -j list tables` JSON), or None.
TablesListing = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class CommandResult:
    """One finished (or failed) command."""

    argv: tuple[str, ...]
    stdout: str = ""
    # Why it failed ("" when it worked): tool missing, timed out, permission denied, exit status.
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


async def run_command(argv: Iterable[str], timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
    """Run a command without a shell, C locale, with a timeout; never raises."""
    args = tuple(argv)
    tool = os.path.basename(args[0])
    if shutil.which(args[0]) is None and not os.path.isabs(args[0]):
        return CommandResult(args, error=f"{tool}: tool missing")
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_ENV,
        )
    except OSError as exc:
        return CommandResult(args, error=f"{tool}: {exc.strerror or exc}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.CancelledError:
        # Stopped from outside (the dashboard closing): kill it and wait a moment for it to end, so its
        # pipes are closed while the loop still runs (else closing them later reports "Event loop is
        # closed"). Bounded: waiting without end could keep a closing event loop from ever finishing.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(proc.wait(), KILLED_WAIT)
        raise
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 2.0)
        return CommandResult(args, error=f"{tool}: timed out after {timeout:g} s")
    stdout = out.decode(errors="replace")
    if proc.returncode != 0:
        message = next((ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()), "")
        if "ermission denied" in message or "must be root" in message:
            return CommandResult(args, stdout, f"{tool}: permission denied (needs root / CAP_NET_ADMIN)")
        return CommandResult(args, stdout, f"{tool}: exit {proc.returncode}: {message}"[:300])
    return CommandResult(args, stdout)


def _backend_from_version(text: str) -> str:
    """The backend from `iptables -V` ("iptables v1.8.9 (nf_tables)" -> "nft"); older releases are legacy."""
    if "nf_tables" in text:
        return "nft"
    return "legacy" if text.strip() else ""


def _legacy_table_names(family: str) -> list[str] | None:
    """Legacy (x_tables) tables the kernel has in this namespace, from /proc/net/ip[6]_tables_names.

    [] when the module is not loaded (no file); None when the file cannot be read (not root).
    """
    path = _PROC / ("ip_tables_names" if family == "ip" else "ip6_tables_names")
    try:
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        return []
    except OSError:
        return None


def _save_tables(text: str) -> list[str]:
    return [ln[1:].strip() for ln in text.split("\n") if ln.startswith("*")]


def _first(*names: str) -> str | None:
    return next((n for n in names if shutil.which(n)), None)


@dataclass
class RawFirewall:
    """Everything the firewall commands printed, before parsing (kept for the cheap change check)."""

    backend: str = ""
    # key -> result; keys: "iptables-nft:ip", "iptables-legacy:ip6", "nft:tables", "nft:<family> <table>",
    # "nft:ruleset", "ipset".
    outputs: dict[str, CommandResult] = field(default_factory=dict)
    # Legacy table names per family as /proc lists them.
    legacy_names: dict[str, list[str]] = field(default_factory=dict)
    # Parts that could not be read -> reason, known before parsing.
    stale: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A hash of every output: equal fingerprints mean nothing changed, counters included."""
        h = hashlib.blake2b(digest_size=16)
        h.update(self.backend.encode())
        for key in sorted(self.outputs):
            res = self.outputs[key]
            text = res.stdout
            # iptables-save's "# Generated by ... on <time>" lines change every second: leave them out.
            if key.startswith("iptables") and "#" in text:
                text = "\n".join(ln for ln in text.split("\n") if not ln.startswith("#"))
            h.update(b"\0" + key.encode() + b"\0" + res.error.encode() + b"\0" + text.encode())
        return h.hexdigest()


async def _read_legacy(family: str, names: list[str], backend: str, timeout: float) -> CommandResult:
    """Legacy tables: the save binary if there is one; libiptc in a child process only on a legacy host."""
    tool = _FAMILY_TOOL[family]
    save = _first(f"{tool}-legacy-save") or (_first(f"{tool}-save") if backend == "legacy" else None)
    if save is not None:
        return await run_command([save, "-c"], timeout)
    if backend != "legacy":
        return CommandResult((f"{tool}-legacy-save",), error=f"{tool}-legacy-save: tool missing")
    return await run_command(
        [sys.executable, "-m", "dockwire.probes.iptables_legacy", family, *names], timeout
    )


async def collect_raw(
    timeout: float = DEFAULT_TIMEOUT, nft_tables: TablesListing | None = None
) -> RawFirewall:
    """Run the firewall commands (concurrently where possible) and keep their output. `nft_tables` gives a
    listing of the nf_tables tables read elsewhere (a one-time read's reader process), when it has one."""
    raw = RawFirewall()
    if shutil.which("iptables"):
        version = await run_command(["iptables", "-V"], timeout)
        raw.backend = _backend_from_version(version.stdout)
        if not version.ok:
            raw.stale["firewall:iptables"] = version.error
    for fam, tool in _FAMILY_TOOL.items():
        names = _legacy_table_names(fam)
        if names is None and raw.backend == "legacy":
            raw.stale[f"firewall:{tool}"] = "cannot read /proc/net legacy table names (needs root)"
        raw.legacy_names[fam] = names or []

    jobs: dict[str, Awaitable[CommandResult]] = {}
    for fam, tool in _FAMILY_TOOL.items():
        nft_save = _nft_save(tool, raw.backend)
        if nft_save is not None:
            jobs[f"iptables-nft:{fam}"] = run_command([nft_save, "-c"], timeout)
        elif raw.backend == "nft":
            raw.stale[f"firewall:{tool}"] = f"{tool}-save: tool missing"
        # Legacy rules: only where the kernel has legacy tables (listing them has no side effects).
        names = raw.legacy_names[fam]
        if names:
            jobs[f"iptables-legacy:{fam}"] = _read_legacy(fam, names, raw.backend, timeout)
    nft_tool = shutil.which("nft")
    if nft_tool:
        jobs["nft:tables"] = list_nft_tables(nft_tool, timeout, nft_tables)
    if jobs:
        results = await asyncio.gather(*jobs.values())
        raw.outputs.update(zip(jobs, results, strict=True))

    if nft_tool:
        await _collect_native_nft(raw, nft_tool, timeout)
    elif raw.backend == "nft":
        raw.stale["firewall:nftables"] = "nft: tool missing; native nftables tables not read"
    await _collect_ipsets(raw, timeout)
    return raw


def _nft_save(tool: str, backend: str) -> str | None:
    """The command that prints iptables-nft rules: on the nft backend, and on a legacy host where the nft
    tools exist too."""
    return _first(f"{tool}-nft-save") or (_first(f"{tool}-save") if backend == "nft" else None)


async def reread_raw(
    previous: RawFirewall, families: Collection[str], timeout: float = DEFAULT_TIMEOUT
) -> RawFirewall:
    """`previous` with the iptables-nft rules of these families ("ip", "ip6") read again, the rest as it was.

    What an nf_tables notification about iptables' own tables changed: one command, where a full read runs
    seven (and with 10,000 rules the others slow the one that matters)."""
    raw = RawFirewall(
        previous.backend, dict(previous.outputs), dict(previous.legacy_names), dict(previous.stale)
    )
    keys = [f"iptables-nft:{fam}" for fam in families if f"iptables-nft:{fam}" in previous.outputs]
    commands = [previous.outputs[key].argv for key in keys]
    results = await asyncio.gather(*(run_command(argv, timeout) for argv in commands))
    raw.outputs.update(zip(keys, results, strict=True))
    return raw


def iptables_tables(raw: RawFirewall) -> set[tuple[str, str]]:
    """(family, table) pairs that iptables-nft-save printed, i.e. compat tables owned by iptables."""
    owned: set[tuple[str, str]] = set()
    for fam in _FAMILY_TOOL:
        res = raw.outputs.get(f"iptables-nft:{fam}")
        if res is not None and res.ok:
            owned.update((fam, name) for name in _save_tables(res.stdout))
    return owned


#: nf_tables' address families (nfgen_family) by the names nft prints.
_NFT_FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


def nft_tables_over_netlink() -> str:
    """`nft -j list tables` output, from one netlink dump of the kernel's nf_tables tables. Blocking."""
    from pyroute2.nftables.main import NFTables

    nft = NFTables(nfgen_family=0)  # every family
    try:
        tables = [
            {"table": {"family": _NFT_FAMILIES.get(m["nfgen_family"], str(m["nfgen_family"])),
                       "name": m.get_attr("NFTA_TABLE_NAME")}}
            for m in nft.get_tables()
        ]  # fmt: skip
    finally:
        nft.close()
    return json.dumps({"nftables": tables})


async def list_nft_tables(
    nft_tool: str, timeout: float, listed: TablesListing | None = None
) -> CommandResult:
    """The nf_tables tables, as `nft -j list tables` prints them: `listed`'s listing when it gives one, else
    a netlink dump, which takes milliseconds where `nft list tables` fetches the whole ruleset first (half a
    second with 10,000 iptables-nft rules); the command stands in when the dump fails."""
    argv = ("netlink", "nf_tables", "tables")
    if listed is not None:
        with contextlib.suppress(Exception):
            if (text := await listed()) is not None:
                return CommandResult(argv, text)
    try:
        return CommandResult(argv, await asyncio.to_thread(nft_tables_over_netlink))
    except Exception:
        return await run_command([nft_tool, "-j", "list", "tables"], timeout)


async def _collect_native_nft(raw: RawFirewall, nft_tool: str, timeout: float) -> None:
    listing = raw.outputs.get("nft:tables")
    if listing is None or not listing.ok:
        return
    try:
        objects = json.loads(listing.stdout).get("nftables", [])
        all_tables = [
            (str(o["table"]["family"]), str(o["table"]["name"]))
            for o in objects
            if isinstance(o, dict) and "table" in o
        ]
    except (ValueError, AttributeError, KeyError, TypeError, RecursionError):
        raw.stale["firewall:nftables"] = "nft -j list tables: unreadable output"
        return
    owned = iptables_tables(raw)
    native = [t for t in all_tables if t not in owned]
    if not native:
        return
    if len(native) == len(all_tables):
        raw.outputs["nft:ruleset"] = await run_command([nft_tool, "-j", "list", "ruleset"], timeout)
        return
    # Listing table by table skips the (often huge) iptables-nft compat tables.
    results = await asyncio.gather(
        *(run_command([nft_tool, "-j", "list", "table", fam, name], timeout) for fam, name in native)
    )
    for (fam, name), res in zip(native, results, strict=True):
        raw.outputs[f"nft:{fam} {name}"] = res


def referenced_ipsets(texts: Iterable[str]) -> list[str]:
    """Names of ipsets that `-m set --match-set NAME` rules refer to, in order of appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for m in _MATCH_SET.finditer(text):
            seen.setdefault(m.group(1).strip('"'), None)
    return list(seen)


async def _collect_ipsets(raw: RawFirewall, timeout: float) -> None:
    names = referenced_ipsets(r.stdout for k, r in raw.outputs.items() if k.startswith("iptables"))
    if not names:
        return
    if shutil.which("ipset") is None:
        raw.stale["firewall:ipset"] = f"ipset: tool missing; members of {', '.join(names)} not read"
        return
    raw.outputs["ipset"] = await run_command(["ipset", "save"], timeout)


def parse_ipset_save(text: str, names: Collection[str] | None = None) -> dict[str, list[str]]:
    """Members per set from `ipset save` ("create NAME type ..." / "add NAME MEMBER [options]")."""
    sets: dict[str, list[str]] = {}
    for line in text.split("\n"):
        words = line.split()
        if len(words) < 2 or (names is not None and words[1] not in names):
            continue
        if words[0] == "create":
            sets.setdefault(words[1], [])
        elif words[0] == "add" and len(words) >= 3:
            sets.setdefault(words[1], []).append(words[2])
    return sets


def _has_rules(tables: Iterable[Table]) -> bool:
    """True when a table holds any rule or a non-ACCEPT policy."""
    return any(c.rules or c.policy not in (None, "ACCEPT") for t in tables for c in t.chains)


def build_firewall(raw: RawFirewall, docker_bridges: Collection[str] = ()) -> tuple[Firewall, dict[str, str]]:
    """Parse collected output into a Firewall record, plus stale parts (part -> reason)."""
    stale = dict(raw.stale)
    tables: list[Table] = []
    by_source: dict[str, list[Table]] = {"iptables-nft": [], "iptables-legacy": []}
    primary = "iptables-legacy" if raw.backend == "legacy" else "iptables-nft"
    for source in by_source:
        for fam, tool in _FAMILY_TOOL.items():
            res = raw.outputs.get(f"{source}:{fam}")
            if res is None:
                continue
            # The active backend's tables are "firewall:iptables"; the other backend's get their own part.
            part = f"firewall:{tool}" if source == primary else f"firewall:{source}:{fam}"
            if not res.ok:
                stale[part] = res.error
                continue
            try:
                by_source[source] += parse_iptables_save(res.stdout, source, fam)
            except IptablesSaveError as exc:
                stale[part] = f"{tool}-save: {exc}"
    owned = {(t.family, t.name) for t in by_source["iptables-nft"]}
    secondary = "iptables-nft" if primary == "iptables-legacy" else "iptables-legacy"
    tables += by_source[primary] + by_source[secondary]

    for key, res in raw.outputs.items():
        if not key.startswith("nft:") or key == "nft:tables":
            continue
        if not res.ok:
            stale[f"firewall:nftables:{key[4:]}" if key != "nft:ruleset" else "firewall:nftables"] = res.error
            continue
        try:
            parsed = parse_nft_json(res.stdout)
        except NftJsonError as exc:
            stale["firewall:nftables"] = f"nft -j: {exc}"
            continue
        tables += [t for t in parsed if (t.family, t.name) not in owned]
    listing = raw.outputs.get("nft:tables")
    if listing is not None and not listing.ok:
        stale["firewall:nftables"] = listing.error

    warnings: list[str] = []
    if _has_rules(by_source["iptables-nft"]) and _has_rules(by_source["iptables-legacy"]):
        active = {"nft": "nf_tables", "legacy": "legacy"}.get(raw.backend, "neither")
        warnings.append(
            "iptables rules exist in both the legacy and the nf_tables backend; the kernel applies both, "
            f"but `iptables` shows only the {active} ones"
        )

    ipsets: dict[str, list[str]] = {}
    ipset_out = raw.outputs.get("ipset")
    if ipset_out is not None:
        if ipset_out.ok:
            names = referenced_ipsets(r.stdout for k, r in raw.outputs.items() if k.startswith("iptables"))
            ipsets = parse_ipset_save(ipset_out.stdout, set(names))
        else:
            stale["firewall:ipset"] = ipset_out.error

    firewall = Firewall(
        iptables_backend=raw.backend,
        tables=assign_owners(without_trace_rules(tables), docker_bridges),
        warnings=warnings,
        ipsets=ipsets,
    )
    return firewall, stale


async def read_firewall(
    *, docker_bridges: Collection[str] = (), timeout: float = DEFAULT_TIMEOUT
) -> tuple[Firewall, dict[str, str]]:
    """Read the whole host firewall. Returns the Firewall and the stale parts (part -> reason).

    `docker_bridges` names Docker bridges beyond docker0/br-<id12> (custom com.docker.network.bridge.name),
    for the ownership tags.
    """
    raw = await collect_raw(timeout)
    return build_firewall(raw, docker_bridges)
