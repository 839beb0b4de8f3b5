"""The sysctl bar: the kernel switches that decide whether container traffic flows, always on screen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from dockwire.model import HostModel
from dockwire.text import safe


def sysctl_chips(model: HostModel) -> tuple[Text, bool]:
    """The bar's text and whether anything in it is alarming."""
    s = model.sysctls
    text = Text()
    alarm = False

    def chip(label: str, value: str, state: str) -> None:
        style = {"ok": "green", "bad": "bold white on red", "warn": "bold black on yellow", "unknown": "dim"}[
            state
        ]
        text.append(f" {label}=", style="dim" if state == "ok" else "")
        text.append(f"{safe(value)} ", style=style)
        text.append(" ")

    if "sysctls" in model.stale:
        chip("sysctls", "not read", "unknown")
    else:
        fwd = s.ip_forward
        chip(
            "ip_forward",
            "?" if fwd is None else str(fwd),
            "unknown" if fwd is None else "ok" if fwd else "bad",
        )
        alarm |= fwd == 0
        if not s.br_netfilter_loaded:
            chip("br_netfilter", "not loaded", "warn")
            alarm = True
        else:
            nf = s.bridge_nf_call_iptables
            chip("bridge-nf-call-iptables", "?" if nf is None else str(nf), "ok" if nf == 1 else "bad")
            alarm |= nf != 1
        if s.ipv6_forwarding is not None:
            # Off only matters when some network carries IPv6.
            v6_networks = any(n.enable_ipv6 for n in model.networks)
            off_style = "bad" if v6_networks else "ok"
            chip("ipv6 fwd", str(s.ipv6_forwarding), "ok" if s.ipv6_forwarding else off_style)
            alarm |= v6_networks and s.ipv6_forwarding == 0
            if s.disable_ipv6.get("all") == 1:
                chip("disable_ipv6", "1 (all)", off_style)
                alarm |= v6_networks
    fw = model.firewall
    backend = fw.iptables_backend or ("none" if "firewall" not in model.stale else "not read")
    if len(fw.iptables_sources_with_rules()) > 1:
        # The kernel applies both; `iptables` shows one: say which, so a fix goes to the right one.
        shown = "nf_tables" if fw.iptables_backend == "nft" else "legacy"
        chip("iptables", f"legacy + nf_tables hold rules (`iptables` is {shown})", "warn")
        alarm = True
    else:
        chip("iptables", backend, "ok" if fw.iptables_backend else "unknown")
    if fw.warnings:
        chip("fw", fw.warnings[0], "warn")
    return text, alarm


class SysctlBar(Static):
    """One line: ip_forward, br_netfilter/bridge-nf-call-iptables, backend; red when traffic cannot flow."""

    DEFAULT_CSS = """
    SysctlBar { height: 1; background: $panel; }
    SysctlBar.-alarm { background: $error 30%; }
    """

    def show(self, model: HostModel, host: str = "") -> None:
        """The chips of `model`; after `host`'s name when there are several hosts."""
        text, alarm = sysctl_chips(model)
        if host:
            text = Text.assemble((f" host {safe(host)} ", "bold reverse"), " ", text)
        self.update(text)
        self.set_class(alarm, "-alarm")
