"""Compiled building blocks the batched renderers share: a sine, band-limiting corrections, a biquad.

Everything is scalar and ``inline``d into the synths' per-sample loops, so that one patch is one
pass over its samples with no temporary arrays.
"""

from __future__ import annotations

import math

import numba
import numpy as np

TAU = 2.0 * math.pi


@numba.njit(inline="always")
def frac(x: float) -> float:
    """x mod 1 in [0, 1) (Python's ``x % 1.0``, for any sign). ``np.floor``, not ``math.floor``: numba's
    ``math.floor`` returns an integer, and AVX2 has no vector conversion back to double (twice slower)."""
    return x - np.floor(x)


@numba.njit(inline="always")
def sin_cycles(x: float) -> float:
    """sin(2*pi*x) for any x, to 7e-10: folded to a quarter cycle, then its Taylor polynomial to z**13.
    Branch-free, so that loops over samples vectorise; libm's sine does not, and costs five times more."""
    r = x - np.floor(x + 0.5)  # [-0.5, 0.5)
    r = min(r, 0.5 - r)  # (0.25, 0.5) mirrored about 0.25
    r = max(r, -0.5 - r)  # [-0.5, -0.25) mirrored about -0.25
    z = TAU * r
    z2 = z * z
    taylor = 1.0 / 362880.0 + z2 * (-1.0 / 39916800.0 + z2 / 6227020800.0)
    return z * (1.0 + z2 * (-1.0 / 6.0 + z2 * (1.0 / 120.0 + z2 * (-1.0 / 5040.0 + z2 * taylor))))


@numba.njit(inline="always")
def polyblep(t: float, dt: float, inverse: float) -> float:
    """Two-point PolyBLEP residual of a unit step at phase 0 (``t`` in [0, 1), ``dt`` the phase step,
    ``inverse`` its reciprocal). Both sides computed, then selected: no branch in the sample loop."""
    x = t * inverse
    y = (t - 1.0) * inverse
    early = 2.0 * x - x * x - 1.0
    late = y * y + 2.0 * y + 1.0
    return early if t < dt else (late if t > 1.0 - dt else 0.0)


@numba.njit(inline="always")
def polyblamp(t: float, dt: float, inverse: float) -> float:
    """Two-point PolyBLAMP residual (the PolyBLEP's integral) of a unit slope change at phase 0."""
    x = t * inverse - 1.0
    y = (t - 1.0) * inverse + 1.0
    early = -(x * x * x) / 3.0
    late = y * y * y / 3.0
    return early if t < dt else (late if t > 1.0 - dt else 0.0)


@numba.njit(inline="always")
def lowpass_coefficients(cutoff: float, q: float, sample_rate: float) -> tuple[float, float, float, float, float]:
    """RBJ cookbook biquad low-pass (b0, b1, b2, a1, a2), normalised by a0; Q floored at 0.1 as pyo's is."""
    w0 = TAU * cutoff / sample_rate
    alpha = math.sin(w0) / (2.0 * max(q, 0.1))
    c = math.cos(w0)
    a0 = 1.0 + alpha
    return (1.0 - c) / 2.0 / a0, (1.0 - c) / a0, (1.0 - c) / 2.0 / a0, -2.0 * c / a0, (1.0 - alpha) / a0
