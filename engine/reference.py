"""An independent numpy rendering of the original synth, straight from its formula.

It shares no code with the pyo voice (not even the envelope helper), so the
parity test compares two implementations, and the render benchmark uses it as
the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def envelope(params: Mapping[str, float], n_samples: int, sample_rate: int) -> np.ndarray:
    """The time-driven envelope, float64 [n_samples]: segments of round(seconds * sr) samples."""
    level = params["sustain_level"]
    plan = [
        (params["attack"], 0.0, 1.0),
        (params["decay"], 1.0, level),
        (params["sustain"], level, level),
        (params["release"], level, 0.0),
    ]
    out = np.zeros(n_samples)
    cursor = 0
    for seconds, start, end in plan:
        n = round(seconds * sample_rate)
        if cursor >= n_samples:
            break
        ramp = start + (end - start) * np.arange(n) / n
        stop = min(cursor + n, n_samples)
        out[cursor:stop] = ramp[: stop - cursor]
        cursor += n
    return out


def render_original(params: Mapping[str, float], n_samples: int, sample_rate: int) -> np.ndarray:
    """The original synth's clip, float64 [n_samples]: phase is the running sum of 2*pi*f/sr from 0."""
    t = np.arange(n_samples) / sample_rate
    frequency = params["C"] * (1.0 + params["D"] * np.sin(2.0 * np.pi * params["M"] * t))
    phase = np.empty(n_samples)
    phase[0] = 0.0
    np.cumsum(2.0 * np.pi * frequency[:-1] / sample_rate, out=phase[1:])
    return params["A"] * np.sin(phase) * envelope(params, n_samples, sample_rate)
