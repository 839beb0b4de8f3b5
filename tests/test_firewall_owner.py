"""Ownership tags on recorded rulesets, plus invented one-liners for layouts this host does not have
(Docker <=27 FORWARD rules, ufw, firewalld, dockwire's own rules)."""

from __future__ import annotations

from pathlib import Path

from dockwire.model import Table
from dockwire.probes.firewall_owner import assign_owners, is_docker_bridge
from dockwire.probes.iptables_save import parse_iptables_save
from dockwire.probes.nft_ruleset import parse_nft_json

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"


def owners(tables: list[Table]) -> dict[tuple[str, str], str]:
    """(table, rule text) -> owner."""
    return {(t.name, r.text): r.owner for t in tables for c in t.chains for r in c.rules}


def save(text: str, bridges: tuple[str, ...] = ()) -> list[Table]:
    return assign_owners(parse_iptables_save(text, "iptables-nft"), bridges)


def test_recorded_docker_28_ruleset() -> None:
    tables = assign_owners(
        parse_iptables_save((FIXTURES / "iptables-save-c.txt").read_text(), "iptables-nft")
    )
    got = owners(tables)
    for (_table, text), owner in got.items():
        chain = text.split()[1]
        if chain == "DOCKER-USER":
            assert owner == "user", text
        elif chain.startswith("DOCKER") or chain in ("FORWARD", "PREROUTING", "OUTPUT", "POSTROUTING"):
            # On this host every rule outside DOCKER-USER is Docker's own.
            assert owner == "docker", text
    assert (
        got[("raw", "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p udp -m udp --dport 6000 -j DROP")] == "docker"
    )
    assert got[("nat", "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")] == "docker"
    chains = {(t.name, c.name): c.owner for t in tables for c in t.chains}
    assert chains[("filter", "DOCKER-USER")] == "docker"
    assert chains[("filter", "FORWARD")] == "other"
    assert all(t.owner == "other" for t in tables)


def test_native_nft_tables() -> None:
    tables = assign_owners(parse_nft_json((FIXTURES / "nft-ruleset.json").read_text()))
    mine = next(t for t in tables if t.name == "dwtest-fw")
    assert mine.owner == "user"
    assert {r.owner for c in mine.chains for r in c.rules} == {"user"}
    (docker29,) = assign_owners(parse_nft_json((FIXTURES / "docker29-nftables.json").read_text()))
    assert docker29.owner == "docker"
    assert {c.owner for c in docker29.chains} == {"docker"}
    assert {r.owner for c in docker29.chains for r in c.rules} == {"docker"}


def test_docker_27_forward_layout_and_user_rules() -> None:
    """Invented, in the <=27 shape: per-bridge rules straight in FORWARD, next to an admin's own rules."""
    text = """*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j DROP
-A FORWARD -i eth0 -o docker0 -p tcp -m tcp --dport 22 -j DROP
-A FORWARD -i eth0 -j ACCEPT
-A DOCKER-USER -s 10.9.0.0/16 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE
-A POSTROUTING -s 192.168.5.0/24 ! -o mybridge -j MASQUERADE
COMMIT
"""
    got = owners(save(text, bridges=("mybridge",)))
    assert (
        got[("filter", "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")]
        == "docker"
    )
    assert got[("filter", "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT")] == "docker"
    assert got[("filter", "-A FORWARD -i docker0 -o docker0 -j DROP")] == "docker"
    assert got[("filter", "-A FORWARD -i eth0 -o docker0 -p tcp -m tcp --dport 22 -j DROP")] == "other"
    assert got[("filter", "-A FORWARD -i eth0 -j ACCEPT")] == "other"
    assert got[("filter", "-A DOCKER-USER -s 10.9.0.0/16 -j DROP")] == "user"
    assert got[("filter", "-A DOCKER-USER -j RETURN")] == "docker"  # Docker added this tail up to 28.2
    hairpin = "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE"
    assert got[("nat", hairpin)] == "docker"
    assert got[("nat", "-A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE")] == "other"
    assert got[("nat", "-A POSTROUTING -s 192.168.5.0/24 ! -o mybridge -j MASQUERADE")] == "docker"


def test_ufw_firewalld_dockwire() -> None:
    """Invented: chains of other firewall managers, and rules dockwire itself added."""
    text = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:ufw-before-input - [0:0]
:INPUT_direct - [0:0]
:INPUT_ZONES - [0:0]
:IN_public - [0:0]
-A INPUT -j ufw-before-input
-A INPUT -j INPUT_direct
-A INPUT -j INPUT_ZONES
-A INPUT -s 10.1.2.3/32 -m comment --comment "dockwire probe 42" -j ACCEPT
-A ufw-before-input -i lo -j ACCEPT
-A INPUT_ZONES -g IN_public
-A IN_public -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
"""
    tables = save(text)
    got = owners(tables)
    assert got[("filter", "-A INPUT -j ufw-before-input")] == "ufw"
    assert got[("filter", "-A ufw-before-input -i lo -j ACCEPT")] == "ufw"
    assert got[("filter", "-A INPUT -j INPUT_direct")] == "firewalld"
    assert got[("filter", "-A INPUT_ZONES -g IN_public")] == "firewalld"
    assert got[("filter", "-A IN_public -p tcp -m tcp --dport 22 -j ACCEPT")] == "firewalld"
    dockwire = '-A INPUT -s 10.1.2.3/32 -m comment --comment "dockwire probe 42" -j ACCEPT'
    assert got[("filter", dockwire)] == "dockwire"
    firewalld = parse_nft_json(
        {
            "nftables": [
                {"table": {"family": "inet", "name": "firewalld", "handle": 1}},
                {"chain": {"family": "inet", "table": "firewalld", "name": "filter_INPUT", "handle": 1}},
                {"table": {"family": "inet", "name": "libvirt_network", "handle": 2}},
            ]
        }
    )
    assert [t.owner for t in assign_owners(firewalld)] == ["firewalld", "other"]


def test_bridge_names() -> None:
    assert is_docker_bridge("docker0") and is_docker_bridge("br-6cef8cdf2aa6")
    assert not is_docker_bridge("br-lan") and not is_docker_bridge("eth0")
    assert is_docker_bridge("br-lan", {"br-lan"})
