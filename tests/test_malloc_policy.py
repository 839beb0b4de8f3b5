"""The dashboard's malloc policy: with it, a few-megabyte buffer freed in a worker thread goes back to the
system; without it, glibc keeps it in the thread's arena (why the matrix left its memory behind). Each
case in a fresh interpreter, so that this test process keeps glibc's own settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import sys, threading
from dockwire.tui.malloc_policy import return_large_blocks

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "policy":
    assert return_large_blocks()
before = rss()

def work():
    kept = []
    for size in (4, 3, 4, 2, 4):
        buffer = bytes(size * 2**20)
        del buffer
        kept.append([bytes(200) for _ in range(100)])  # small blocks in between, as a worker makes

thread = threading.Thread(target=work)
thread.start()
thread.join()
print(rss() - before)
"""


def kept_mb(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_large_blocks_go_back_to_the_system_with_the_policy_only() -> None:
    with_policy, without = kept_mb("policy"), kept_mb("glibc")
    assert with_policy < 1.0, f"{with_policy:.1f} MB kept with the policy"
    assert without - with_policy > 2.0, f"glibc alone kept {without:.1f} MB, the policy {with_policy:.1f} MB"
