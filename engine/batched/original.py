"""The original synth, batched: ``A * sin(phase) * envelope`` with ``phase`` the running sum of
``2*pi*C*(1 + D*sin(2*pi*M*t)) / sr`` from 0 (a left Riemann sum, as the original's accumulator).

Three passes per patch — the frequency, its running sum, the output — so that every pass but the
sum vectorises.
"""

from __future__ import annotations

import numba
import numpy as np

from inversynth.engine.batched.kernels import sin_cycles

SEGMENTS = ("attack", "decay", "sustain", "release")


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _render(
    rows: np.ndarray, columns: np.ndarray, counts: np.ndarray, ramp: np.ndarray, sample_rate: float, out: np.ndarray
) -> None:
    """``columns``: C, M, A, D, sustain_level; ``counts``: samples of attack, decay, sustain, release per
    row; ``ramp``: 0, 1, 2, ... as floats (an integer index would not vectorise)."""
    n_samples = out.shape[1]
    inv = 1.0 / sample_rate
    phase = np.empty(n_samples)
    for k in range(rows.shape[0]):
        c, m, a, d, level = (rows[k, columns[0]], rows[k, columns[1]], rows[k, columns[2]],
                             rows[k, columns[3]], rows[k, columns[4]])  # fmt: skip
        lfo = m * inv
        for n in range(n_samples):
            phase[n] = c * (1.0 + d * sin_cycles(lfo * ramp[n])) * inv  # this sample's step, in cycles
        total = 0.0
        for n in range(n_samples):
            step = phase[n]
            phase[n] = total
            total += step
        attack, decay, sustain, release = (float(counts[k, 0]), float(counts[k, 1]), float(counts[k, 2]),
                                           float(counts[k, 3]))  # fmt: skip
        decays, holds, releases = attack, attack + decay, attack + decay + sustain
        attack_slope, decay_slope = 1.0 / max(attack, 1.0), (level - 1.0) / max(decay, 1.0)
        release_slope = level / max(release, 1.0)
        for n in range(n_samples):
            i = ramp[n]
            # Each segment from its first sample (value ``start``) towards ``end`` (never reached).
            envelope = i * attack_slope
            if i >= decays:
                envelope = 1.0 + decay_slope * (i - decays)
            if i >= holds:
                envelope = level
            if i >= releases:
                envelope = level - release_slope * (i - releases)
            if i >= releases + release:
                envelope = 0.0
            out[k, n] = a * sin_cycles(phase[n]) * envelope


def render(rows: np.ndarray, columns: dict[str, int], n_samples: int, sample_rate: int) -> np.ndarray:
    """Rows of real values in spec order [n, params] -> float32 [n, n_samples]."""
    out = np.empty((rows.shape[0], n_samples), dtype=np.float32)
    counts = np.rint(rows[:, [columns[name] for name in SEGMENTS]] * sample_rate).astype(np.int64)  # as round()
    index = np.array([columns[name] for name in ("C", "M", "A", "D", "sustain_level")], dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    _render(rows, index, counts, np.arange(n_samples, dtype=np.float64), float(sample_rate), out)
    return out
