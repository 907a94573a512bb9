"""Note divisions of a tempo: the rates a tempo-synced parameter can take.

A division names one cycle's length as a fraction of a 4/4 bar: ``1/4`` a
quarter note, ``1/8T`` an eighth-note triplet, ``1/8.`` a dotted eighth,
``2/1`` two bars. Presets keep a synced parameter's division (``sync``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from inversynth.engine.spec import SynthSpec
from inversynth.errors import SpecError

_DIVISION = re.compile(r"^(\d{1,2})/(\d{1,2})([T.]?)$")
DIVISION_HELP = "n/d with d a power of two up to 64, T for triplet or . for dotted: 1/4, 1/8T, 1/8., 2/1"


def quarters(division: str) -> float:
    """How many quarter notes one cycle of ``division`` lasts ("1/8" -> 0.5, "1/8T" -> 1/3)."""
    match = _DIVISION.match(division)
    if match is None:
        raise SpecError(f"division {division!r} is not {DIVISION_HELP}")
    count, size, kind = int(match[1]), int(match[2]), match[3]
    if count < 1 or size not in (1, 2, 4, 8, 16, 32, 64):
        raise SpecError(f"division {division!r} is not {DIVISION_HELP}")
    length = 4.0 * count / size
    return length * 2.0 / 3.0 if kind == "T" else length * 1.5 if kind == "." else length


def synced_rate(bpm: float, division: str) -> float:
    """Cycles per second of ``division`` at ``bpm`` quarter notes per minute."""
    return bpm / 60.0 / quarters(division)


def check_divisions(spec: SynthSpec, divisions: Mapping[str, str]) -> dict[str, str]:
    """``{param: division}`` checked: rate params of ``spec`` and divisions that parse."""
    for name, division in divisions.items():
        if not spec.param(name).rate:
            rates = ", ".join(p.name for p in spec.params if p.rate) or "none"
            raise SpecError(f"'{name}' is not a rate and cannot follow the tempo (rates: {rates})")
        if not isinstance(division, str):
            raise SpecError(f"division {division!r} for '{name}' is not text")
        quarters(division)
    return dict(divisions)
