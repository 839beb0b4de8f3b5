"""Large blocks of memory handed back to the system when freed, so that leaving the matrix gives back
what computing it took.

glibc serves a block of 128 KiB or more with a mapping of its own and unmaps it on free, but each time
such a block is freed it raises that threshold to the block's size (up to 32 MiB). After the first
few-megabyte buffer (the model encoded for the matrix's worker processes: 4 MB on the 200-container /
10,000-rule host) every later one comes from a thread's heap arena instead, and stays there once freed:
the dashboard kept 10-17 MB after leaving the 200x200 matrix (with the threshold fixed, 6 MB, most of it
the Python allocator's own arenas). Setting the threshold once turns the adjustment off; the cost
is a mapping per large block (a firewall read of 10,000 rules is one or two a second)."""

from __future__ import annotations

import ctypes

#: glibc's mallopt parameter for the threshold (malloc.h).
M_MMAP_THRESHOLD = -3
#: glibc's default threshold, kept fixed.
THRESHOLD = 128 * 1024


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at its default for this process; False where the C library is not glibc
    (nothing is changed there). The C library is the one already loaded (no search for it at start-up)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
