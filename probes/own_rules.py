"""dockwire's own temporary trace rules and tables are not part of the host's firewall.

A probe's trace rules (comment `dockwire-trace-<run id>`) and trace tables (`ip dockwire-trace-<run id>`)
live only while it runs. A read that happens meanwhile leaves them out, and numbers every other rule as if
they were not there, so positions shown to the user never count them, whichever backend holds them.
"""

from __future__ import annotations

from msgspec.structs import replace

from dockwire.model import TRACE_PREFIX, Chain, Table


def is_trace_rule_text(text: str) -> bool:
    return TRACE_PREFIX in text


def without_trace_rules(tables: list[Table]) -> list[Table]:
    """The tables without dockwire's trace tables, and their chains without its trace rules (renumbered)."""
    kept = []
    for table in tables:
        if table.name.startswith(TRACE_PREFIX):
            continue
        if any(is_trace_rule_text(r.text) for c in table.chains for r in c.rules):
            table = replace(table, chains=[_without_trace_rules(c) for c in table.chains])
        kept.append(table)
    return kept


def _without_trace_rules(chain: Chain) -> Chain:
    rules = [r for r in chain.rules if not is_trace_rule_text(r.text)]
    if len(rules) == len(chain.rules):
        return chain
    return replace(chain, rules=[replace(r, position=n) for n, r in enumerate(rules, 1)])
