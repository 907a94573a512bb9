"""``inversynth bench ...``: every benchmark, each a subcommand (docs/BENCHMARKS.md records their figures).

Each module measures (a function returning a JSON-able dict) and reports (a table of that dict);
``run`` prints one or the other. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def emit(results: dict[str, Any], report: Callable[[dict[str, Any]], None], as_json: bool) -> int:
    """Print ``results`` as JSON or through ``report``; the exit status."""
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0
