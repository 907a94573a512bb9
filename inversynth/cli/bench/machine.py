"""The machine a benchmark ran on, and the median rate of a piece of work."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from rich.table import Table

from inversynth.console import console, print_table
from inversynth.engine.render import default_workers


def median_rate(work: Callable[[], int], repeats: int) -> float:
    """Median items per second of ``work`` (which returns how many items it did)."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def machine() -> dict[str, Any]:
    """CPU model, usable cores, Python and platform."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": default_workers(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_with_machine(table: Table, machine: dict[str, Any]) -> None:
    """A benchmark's table, then the machine it was measured on."""
    print_table(table)
    console.print(f"[dim]{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}[/]")
