"""Shared rich output: one console for results, one for errors, and tables that never cut a number."""

from __future__ import annotations

from collections.abc import Mapping

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
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
        table.add_column(name, justify="right")
    for p in spec.params:
        table.add_row(p.name, p.unit, *(f"{patch[p.name]:.4g}" for patch in patches.values()))
    return table


WHOLE_CELL = 24  # cells up to this long (numbers, parameter names) are never cut; longer text wraps


def print_table(table: Table, to: Console = console) -> None:
    """Print ``table`` with every short cell whole: headers may wrap, digits and names never turn into "…".

    Where the console is narrower than that needs (80 columns, or output piped to a file), the table
    is printed wider than the console rather than cut.
    """
    for column in table.columns:
        widths = [cell_len(cell) for cell in column.cells if isinstance(cell, str) and cell_len(cell) <= WHOLE_CELL]
        column.min_width = max(widths, default=column.min_width)
    needed = Measurement.get(to, to.options, table).minimum
    to.print(table, width=max(to.width, needed))
