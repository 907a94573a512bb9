"""Shared rich output: one console for results, one for errors, and patch tables."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from inversynth.engine.spec import SynthSpec

console = Console(soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def patch_table(spec: SynthSpec, patches: Mapping[str, Mapping[str, float]], title: str = "") -> Table:
    """One row per parameter (with its unit), one column per named patch."""
    table = Table(title=title or None)
    table.add_column("param", style="bold")
    table.add_column("unit", style="dim")
    for name in patches:
        table.add_column(name, justify="right", overflow="fold")
    for p in spec.params:
        table.add_row(p.name, p.unit, *(f"{patch[p.name]:.4g}" for patch in patches.values()))
    return table
