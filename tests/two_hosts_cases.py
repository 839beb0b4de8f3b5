"""The two-host lab's cases: (source host, source, destination host, destination, proto, port)."""

from __future__ import annotations

from dockwire.lab import second_host as hb

A_WEB = "dwlab-default-b"  # serves tcp/80 on A's default bridge
B_WEB = hb.CONTAINERS[0].name
#: (source host, source, destination host, destination, proto, port)
Case = tuple[str, str, str, str, str, int | None]
CASES: list[Case] = [
    ("a", A_WEB, "b", B_WEB, "icmp", None),
    ("a", A_WEB, "b", B_WEB, "tcp", 80),
    ("b", B_WEB, "a", A_WEB, "icmp", None),
    ("b", B_WEB, "a", A_WEB, "tcp", 80),
]


def case_id(case: Case) -> str:
    return f"{case[1]}@{case[0]}-{case[3]}@{case[2]}-{case[4]}"
