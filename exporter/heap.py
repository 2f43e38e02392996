"""Giving freed heap back to the OS (the collector after each cycle, the Admin-API worker after each
answer), and reading a process's resident memory."""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim_heap() -> None:
    """Give the freed heap back to the OS after a cycle (glibc only).

    Each cycle frees the previous exposition (tens of MB at 10k partitions) and ~1M small
    objects; glibc keeps the freed memory mapped, so RSS wandered between 260 and 330 MB
    at 10k partitions / 500 groups; trimmed after each cycle it stays at ~155 MB.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (0 where /proc is not there)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0
