"""Memory a fit needs against memory the machine has, checked before anything is allocated.

``available_bytes()`` reads MemAvailable from /proc/meminfo (Linux: free memory plus reclaimable
caches), capped by a cgroup v2 limit when one is set (containers), else falls back to
os.sysconf's available physical pages; None when nothing can be read (then nothing is refused).
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import InsufficientMemoryError


def available_bytes() -> Optional[int]:
    """Bytes a new allocation can get without swapping, or None when unknown."""
    found = _meminfo_available()
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = None
    limit = _cgroup_room()
    if limit is not None:
        found = limit if found is None else min(found, limit)
    return found


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> Optional[int]:
    """memory.max - memory.current of this process's cgroup (v2), None without a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            current = int(fh.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PB"


def check_available(needed: int, what: str, hint: str = "") -> None:
    """Raise InsufficientMemoryError when ``needed`` bytes exceed what is available."""
    available = available_bytes()
    if available is not None and needed > available:
        raise InsufficientMemoryError(
            f"{what} needs about {format_bytes(needed)} of memory, but only {format_bytes(available)} "
            f"is available{'; ' + hint if hint else ''}")
