"""Shared rich output: one console for results, one for errors, and tables that never cut a number."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

console = Console(soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


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
