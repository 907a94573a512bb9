"""Piecewise-linear envelopes, placed on the sample grid.

The original synth's envelope is time-driven: each segment lasts a whole
number of samples and sample ``i`` of an ``n``-sample segment has the value
``start + (end - start) * i / n``; zero-length segments vanish. pyo's Linseg
interpolates between breakpoints sample by sample, so giving it the first and
last sample of every segment reproduces that grid exactly, jumps included
(a zero-length ramp in Linseg would otherwise cost one sample).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """A linear ramp from ``start`` to ``end`` over ``seconds``."""

    seconds: float
    start: float
    end: float


def segment_samples(segment: Segment, sample_rate: int) -> int:
    return max(0, round(segment.seconds * sample_rate))


def breakpoints(segments: Sequence[Segment], sample_rate: int, gain: float = 1.0) -> list[tuple[float, float]]:
    """Linseg ``(seconds, value)`` points that render ``segments`` sample-exactly.

    After the last segment the envelope holds that segment's end value (0 after
    a release, the sustain level for a gated note). ``gain`` scales every value
    (velocity).
    """
    points: list[tuple[int, float]] = []
    cursor = 0
    for segment in segments:
        n = segment_samples(segment, sample_rate)
        if n == 0:
            continue
        points.append((cursor, segment.start))
        if n > 1:
            points.append((cursor + n - 1, segment.start + (segment.end - segment.start) * (n - 1) / n))
        cursor += n
    final = segments[-1].end if segments else 0.0
    points.append((cursor, final))
    if len(points) == 1:
        points.append((points[0][0] + 1, final))
    return [(i / sample_rate, v * gain) for i, v in points]
