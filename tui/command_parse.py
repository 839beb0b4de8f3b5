"""The `:` command line's language, as pure functions: a line in, a typed command (or a one-line error) out,
and the words that can complete the one being typed. The question commands take the CLI's own words
(`why SRC DST [tcp/80|udp/53|icmp]`, `--proto X --port N`); no Textual here.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

from dockwire.answer import Question
from dockwire.fleet import Fleet
from dockwire.model import HostModel, Network
from dockwire.tui.questions import PROTOCOLS, QuestionError, Scope, ask, resolve

#: How a DNS question names its destination (as `dockwire why SRC name:OTHER`).
NAME_PREFIX = "name:"


class CommandError(ValueError):
    """The line is not a command; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    usage: str
    help: str
    #: Sends real packets (the command line says so, and refuses when probes are off).
    active: bool = False
    aliases: tuple[str, ...] = ()


VERBS: tuple[Verb, ...] = (
    Verb("why", "why SRC DST [tcp/80|udp/53|icmp] [-6]",
         "The static verdict, as `dockwire why`: what lets the packet through or stops it, and the fix"),
    Verb("probe", "probe SRC DST [tcp/80|udp/53|icmp] [-6]", "What the kernel did with real packets",
         active=True),
    Verb("trace", "trace SRC DST [tcp/80] [-6]", "The path hop by hop, with real packets", active=True),
    Verb("dns", "dns SRC NAME", "Does NAME resolve from SRC? (the static verdict of DST name:NAME)"),
    Verb("matrix", "matrix [NETWORK] [-6]",
         "The reachability matrix; of one network's containers when named; -6: over IPv6"),
    Verb("filter", "filter [TEXT]", "Filter the pane the command line was opened from (no text: clear)"),
    Verb("host", "host NAME", "Show host NAME (with several: its firewall, sysctls, containers)"),
    Verb("help", "help", "Every key and command", aliases=("?",)),
    Verb("quit", "quit", "Quit dockwire", aliases=("q",)),
)  # fmt: skip
_BY_NAME = {name: verb for verb in VERBS for name in (verb.name, *verb.aliases)}


# --- commands -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """A why (static) or a probe or trace (`active`: real packets)."""

    verb: str
    question: Question
    active: bool


@dataclass(frozen=True, slots=True)
class OpenMatrix:
    network: str | None = None
    family: int = 4


@dataclass(frozen=True, slots=True)
class SetFilter:
    text: str


@dataclass(frozen=True, slots=True)
class PickHost:
    name: str


@dataclass(frozen=True, slots=True)
class ShowHelp:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = Ask | OpenMatrix | SetFilter | PickHost | ShowHelp | Quit


def markdown_commands() -> str:
    """The README's table of the command line's commands (a test keeps the README in step)."""
    lines = ["**Command line (`:`)**", "", "| command | what it does |", "| --- | --- |"]
    for verb in VERBS:
        also = f" (also `:{'`, `:'.join(verb.aliases)}`)" if verb.aliases else ""
        packets = " (sends real packets)" if verb.active else ""
        usage = verb.usage.replace("|", "\\|")
        lines.append(f"| `:{usage}` | {verb.help}{packets}{also} |")
    return "\n".join(lines) + "\n"


def find_verb(word: str) -> Verb:
    """The verb a word names: itself, an alias or a unique prefix."""
    if word in _BY_NAME:
        return _BY_NAME[word]
    starting = [v for v in VERBS if v.name.startswith(word)]
    if len(starting) == 1:
        return starting[0]
    if starting:
        raise CommandError(f"{word!r} is ambiguous: {', '.join(v.name for v in starting)}")
    close = difflib.get_close_matches(word, [v.name for v in VERBS], n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "type :help for the commands"
    raise CommandError(f"unknown command {word!r}; {hint}")


def parse_protocol(words: Sequence[str]) -> tuple[str | None, int | None]:
    """`tcp/80`, `80/tcp`, `udp/53`, `icmp`, `tcp`, a bare port (tcp), `--proto X`, `--port N` (also with
    `=`): the protocol (None: the CLI's default) and the port."""
    proto: str | None = None
    port: int | None = None
    rest = list(words)
    while rest:
        word = rest.pop(0)
        flag, eq, value = word.partition("=")
        if flag in ("--proto", "--port"):
            if not eq:
                if not rest:
                    raise CommandError(f"{flag} needs a value")
                value = rest.pop(0)
            if flag == "--proto":
                proto = _protocol_name(value)
            else:
                port = _port(value)
            continue
        head, slash, tail = word.partition("/")
        if slash and head.isdigit():
            head, tail = tail, head
        if head.isdigit() and not slash:
            port = _port(head)
        elif slash:
            proto, port = _protocol_name(head), _port(tail)
        else:
            proto = _protocol_name(head)
    return proto, port


def parse_family(words: Sequence[str]) -> tuple[int | None, list[str]]:
    """`-4`/`-6` (also `--family 4|6`) among the words: the family (None when not given), and the rest."""
    family: int | None = None
    rest: list[str] = []
    items = list(words)
    while items:
        word = items.pop(0)
        if word in ("-4", "-6"):
            family = int(word[1])
        elif word.partition("=")[0] == "--family":
            value = word.partition("=")[2] or (items.pop(0) if items else "")
            if value not in ("4", "6"):
                raise CommandError(f"--family takes 4 or 6, not {value!r}")
            family = int(value)
        else:
            rest.append(word)
    return family, rest


def _protocol_name(word: str) -> str:
    name = word.lower()
    if name not in PROTOCOLS:
        raise CommandError(f"{word!r} is not a protocol: use tcp/PORT, udp/PORT or icmp")
    return name


def _port(word: str) -> int:
    if not word.isdigit() or not 0 < int(word) < 65536:
        raise CommandError(f"{word!r} is not a port (1-65535)")
    return int(word)


def parse(line: str, model: Scope, hosts: Sequence[str] = ()) -> Command:
    """The command a line names (a leading `:` is optional). CommandError (one line) when it is none."""
    text = line.strip().removeprefix(":").strip()
    if not text:
        raise CommandError("type a command: " + ", ".join(v.name for v in VERBS))
    word, _, rest = text.partition(" ")
    verb = find_verb(word)
    args = rest.split()
    try:
        return _command(verb, args, rest.strip(), model, hosts)
    except QuestionError as exc:
        raise CommandError(f"{verb.name}: {exc}") from None


def _command(verb: Verb, args: list[str], rest: str, model: Scope, hosts: Sequence[str]) -> Command:
    usage = f"usage: {verb.usage}"
    if verb.name in ("why", "probe", "trace"):
        if len(args) < 2:
            raise CommandError(usage)
        family, words = parse_family(args[2:])
        proto, port = parse_protocol(words)
        question = ask(model, args[0], args[1], proto, port, trace=verb.name == "trace", family=family)
        return Ask(verb.name, question, verb.active)
    if verb.name == "dns":
        if len(args) != 2:
            raise CommandError(usage)
        name = args[1].removeprefix(NAME_PREFIX)
        if not name:
            raise CommandError(usage)
        return Ask("dns", ask(model, args[0], NAME_PREFIX + name), active=False)
    if verb.name == "matrix":
        family, words = parse_family(args)
        if len(words) > 1:
            raise CommandError(usage)
        return OpenMatrix(network_named(model, words[0]) if words else None, family or 4)
    if verb.name == "filter":
        return SetFilter(rest)
    if verb.name == "host":
        if len(args) != 1:
            raise CommandError(f"{usage} (known: {', '.join(hosts) or 'none'})")
        return PickHost(host_named(args[0], hosts))
    if args:
        raise CommandError(f"{verb.name} takes no arguments")
    return ShowHelp() if verb.name == "help" else Quit()


def _hosts(scope: Scope) -> list[tuple[str, HostModel]]:
    """(`@HOST` suffix, model) per host: one host's words carry no suffix."""
    if isinstance(scope, Fleet):
        if not scope.several:
            return [("", scope.first()[1])]
        return [(f"@{name}", model) for name, model in scope]
    return [("", scope)]


def _networks(scope: Scope) -> list[Network]:
    return [n for _, model in _hosts(scope) for n in model.networks]


def network_named(model: Scope, name: str) -> str:
    """A network of the model by its name (or a unique id prefix); CommandError naming the known ones."""
    networks = _networks(model)
    names = sorted({n.name for n in networks})
    if name in names:
        return name
    by_id = [n.name for n in networks if len(name) >= 3 and n.id.startswith(name)]
    if len(by_id) == 1:
        return by_id[0]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"networks: {', '.join(names) or 'none'}"
    raise CommandError(f"{name!r} is not a network; {hint}")


def host_named(name: str, hosts: Sequence[str]) -> str:
    """One of the known hosts by name; CommandError naming them."""
    if name in hosts:
        return name
    known = ", ".join(hosts) if hosts else "none"
    raise CommandError(f"{name!r} is not a known host (known: {known})")


# --- completion -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completion:
    """The words that can stand where the last word of a line is typed."""

    #: Where that word starts in the line.
    start: int
    words: tuple[str, ...]
    #: The verb being typed (its usage is worth showing), or None.
    verb: Verb | None = None

    def line_with(self, line: str, word: str) -> str:
        return line[: self.start] + word


def complete(line: str, model: Scope, hosts: Sequence[str] = ()) -> Completion:
    """The candidates for the word at the end of `line` (command names first, then that slot's words)."""
    lead = len(line) - len(line.lstrip())
    lead += line[lead:].startswith(":")
    body = line[lead:]
    words = body.split()
    if body.endswith(" ") or not body:
        words.append("")
    typed = words[-1]
    start = len(line) - len(typed)
    if len(words) == 1:
        names = [v.name for v in VERBS if v.name.startswith(typed)]
        return Completion(start, tuple(names))
    try:
        verb = find_verb(words[0])
    except CommandError:
        return Completion(start, ())
    slot = len(words) - 1
    pool = _slot_words(verb, slot, words, model, hosts)
    return Completion(start, tuple(w for w in pool if w.startswith(typed) and w != typed), verb)


def _slot_words(verb: Verb, slot: int, words: list[str], model: Scope, hosts: Sequence[str]) -> list[str]:
    if verb.name in ("why", "probe", "trace"):
        if slot == 1:
            return source_words(model)
        if slot == 2:
            return [w for w in destination_words(model) if w != words[1]]
        if slot == 3:
            return protocol_words(model, words[2])
        return []
    if verb.name == "dns":
        return source_words(model) if slot == 1 else (dns_names(model) if slot == 2 else [])
    if verb.name == "matrix" and slot == 1:
        return sorted({n.name for n in _networks(model)})
    if verb.name == "host" and slot == 1:
        return list(hosts)
    return []


def container_names(model: Scope) -> list[str]:
    """Running containers first, each group in name order (`NAME@HOST` on several hosts)."""
    return [
        c.name + suffix
        for suffix, one in _hosts(model)
        for c in sorted(one.containers, key=lambda c: (c.state != "running", c.name))
    ]


def _host_words(model: Scope) -> list[str]:
    return [f"host{suffix}" for suffix, _ in _hosts(model) if suffix]


def source_words(model: Scope) -> list[str]:
    return [*container_names(model), "host", *_host_words(model), "outside", "outside:"]


def published_words(model: Scope) -> list[str]:
    """Every published port as a destination: `HOSTIP:PORT` when bound to one address, else `host:PORT`
    (`host@HOST:PORT` on several hosts) and each of the host's own IPv4 addresses with the port."""
    found: list[str] = []
    for suffix, one in _hosts(model):
        addresses = [
            a.address
            for i in one.host.interfaces
            for a in i.addresses
            if a.family == 4 and not IPv4Address(a.address).is_loopback
        ]
        for c in one.containers:
            for p in c.ports:
                if p.host_port is None or ":" in (p.host_ip or ""):
                    continue
                if p.host_ip and p.host_ip != "0.0.0.0":
                    found.append(f"{p.host_ip}:{p.host_port}")
                else:
                    found += [f"host{suffix}:{p.host_port}", *(f"{a}:{p.host_port}" for a in addresses)]
    return list(dict.fromkeys(found))


def dns_names(model: Scope) -> list[str]:
    """Names a container may look up: container names and their network aliases and DNS names."""
    hosts = _hosts(model)
    names = [
        c.name
        for _, one in hosts
        for c in sorted(one.containers, key=lambda c: (c.state != "running", c.name))
    ]
    for _, one in hosts:
        for c in one.containers:
            for ep in c.endpoints:
                names += [*ep.aliases, *ep.dns_names]
    return list(dict.fromkeys(n for n in names if n))


def destination_words(model: Scope) -> list[str]:
    return [
        *container_names(model),
        "host",
        *_host_words(model),
        "outside",
        "outside:",
        *published_words(model),
        *(NAME_PREFIX + n for n in dns_names(model)),
    ]


def protocol_words(model: Scope, dst: str) -> list[str]:
    """The destination's own ports first (published or exposed), then tcp/80, udp/53 and icmp."""
    ports: list[str] = []
    try:
        end = resolve(model, dst, "dst")
    except QuestionError:
        end = None
    if end is not None and end.container is not None:
        ports += [f"{p.proto}/{p.container_port}" for p in end.container.ports if p.proto in PROTOCOLS]
        for exposed in end.container.exposed:
            number, _, proto = exposed.partition("/")
            ports.append(f"{proto or 'tcp'}/{number}")
    return list(dict.fromkeys([*ports, "tcp/80", "udp/53", "icmp"]))
