"""The original synth, batched: ``A * sin(phase) * envelope`` with ``phase`` the running sum of
``2*pi*C*(1 + D*sin(2*pi*M*t)) / sr`` from 0 (a left Riemann sum, as the original's accumulator).

The sum has a closed form, so no pass carries a recursion and both vectorise: the phase, then the
output with its envelope.
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
        # sum_{j<n} sin(j*theta) = (cos(theta/2) - cos((2n-1)*theta/2)) / (2*sin(theta/2)), theta/2 in
        # cycles ``half``; M is at least 1 Hz (the spec's range), the guard is for a degenerate M of 0.
        step, half = c * inv, 0.5 * m * inv
        swing = step * d / (2.0 * sin_cycles(half)) if m > 0.0 else 0.0
        base = sin_cycles(half + 0.25)
        for n in range(n_samples):
            i = ramp[n]
            phase[n] = step * i + swing * (base - sin_cycles((2.0 * i - 1.0) * half + 0.25))  # in cycles
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


def render(rows: np.ndarray, columns: dict[str, int], sample_rate: int, out: np.ndarray) -> None:
    """Rows of real values in spec order [n, params] into float32 ``out`` [n, n_samples]."""
    n_samples = out.shape[1]
    counts = np.rint(rows[:, [columns[name] for name in SEGMENTS]] * sample_rate).astype(np.int64)  # as round()
    index = np.array([columns[name] for name in ("C", "M", "A", "D", "sustain_level")], dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    _render(rows, index, counts, np.arange(n_samples, dtype=np.float64), float(sample_rate), out)
