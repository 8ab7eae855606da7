"""What machine a benchmark ran on, for its printed header."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def memory_gb() -> float | None:
    try:
        return int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return None


def describe() -> str:
    """One line: CPU, cores, memory, Python and OS, as every benchmark prints it."""
    memory = memory_gb()
    ram = f", {memory:.0f} GB RAM" if memory is not None else ""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores{ram}; "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"{platform.system()} {platform.release()}"
    )
