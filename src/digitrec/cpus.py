"""How many CPU cores this process may use, on every operating system."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on: its affinity mask where the OS has one (Linux, so a
    container's limit is honoured), else every core (macOS and Windows lack the call)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
