"""What an nf_tables notification names: the tables a ruleset change touched.

Every change to nf_tables (iptables-nft, nft, Docker's nftables backend) is announced on a netlink group;
a socket joined to it (`open_monitor`) receives one message per table, chain, rule or set added or removed,
and one "new generation" message per transaction. pyroute2 decodes them (`changed_tables`); the rules'
expressions are never decoded, only the message's family and table name are read.
"""

from __future__ import annotations

import socket
from typing import Any

from pyroute2.netlink import NETLINK_NETFILTER
from pyroute2.netlink.marshal import Marshal
from pyroute2.netlink.nfnetlink import NFNL_SUBSYS_NFTABLES
from pyroute2.netlink.nfnetlink.nftsocket import NFT_MSG_NEWGEN, AsyncNFTSocket

#: nf_tables' multicast group (what `nft monitor` reads).
NFNLGRP_NFTABLES = 7
#: The attribute that names the table, by message: NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, ...
_TABLE_ATTRS = (
    "NFTA_RULE_TABLE",
    "NFTA_CHAIN_TABLE",
    "NFTA_SET_TABLE",
    "NFTA_TABLE_NAME",
    "NFTA_SET_ELEM_LIST_TABLE",
)
#: A change whose table is not known: (family, None).
Change = tuple[int, str | None]
#: The most one `recv` of a monitoring socket returns.
RECV_SIZE = 1 << 20


def open_monitor() -> socket.socket:
    """A netlink socket joined to nf_tables' notifications (OSError without nf_tables or permission)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.bind((0, 1 << (NFNLGRP_NFTABLES - 1)))
    except OSError:
        sock.close()
        raise
    return sock


def _marshal() -> Marshal:
    marshal = Marshal()
    marshal.msg_map = {kind | (NFNL_SUBSYS_NFTABLES << 8): cls for kind, cls in AsyncNFTSocket.policy.items()}
    return marshal


_MARSHAL = _marshal()


def changed_tables(data: bytes) -> set[Change]:
    """(nfgen family, table name) of each change in what one `recv` returned; the name is None for a message
    that names no table (one pyroute2 does not know, say). Transaction ends are left out."""
    changes: set[Change] = set()
    for msg in _MARSHAL.parse(data):
        if msg["header"]["type"] & 0xFF == NFT_MSG_NEWGEN:
            continue
        changes.add((int(msg.get("nfgen_family") or 0), _table_name(msg)))
    return changes


def _table_name(msg: Any) -> str | None:
    for attr in _TABLE_ATTRS:
        try:
            name = msg.get_attr(attr)
        except (KeyError, AttributeError):
            continue
        if name:
            return str(name)
    return None


def waiting_changes(sock: socket.socket) -> set[Change]:
    """The changes waiting on a monitoring socket, read without blocking. A change that cannot be told
    (messages lost to a full buffer, one that does not decode) is (0, None): the whole firewall. Empty when
    only a transaction's end was waiting."""
    changes: set[Change] = set()
    while True:
        try:
            data = sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return changes
        except OSError:  # ENOBUFS: the kernel dropped messages
            changes.add((0, None))
            return changes
        if not data:
            return changes
        try:
            changes |= changed_tables(data)
        except Exception:
            changes.add((0, None))
