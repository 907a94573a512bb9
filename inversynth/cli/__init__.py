"""The top floor: the ``inversynth`` command line, its commands, their views, the demo and every benchmark.

Imports anything below it; nothing imports it (see tests/test_layering.py).
"""

from inversynth.cli.parser import main

__all__ = ["main"]
