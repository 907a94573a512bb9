"""The paper's synth, batched: four band-limited FM oscillators summed / 4, ADSR, RBJ low-pass, gater.

Each oscillator's phase is ``f*t + (B/(2*pi*v))*(1 - cos(2*pi*v*t))`` cycles and its instantaneous
frequency ``f + B*sin(2*pi*v*t)`` sets the width of its PolyBLEP/PolyBLAMP corrections
(engine/synths/paper.py says why each choice).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from inversynth.engine.batched.kernels import TAU, frac, lowpass_coefficients, polyblamp, polyblep, sin_cycles

WAVE_COLUMNS = ("f", "A", "B", "v")  # per oscillator, in the order sine, saw, tri, square


ANCHOR = 4096  # samples between exact values of the rotated LFOs (their rounding never accumulates)


@numba.njit(inline="always")
def _lfos(rates: np.ndarray, inv: float, cos_out: np.ndarray, sin_out: np.ndarray) -> None:
    """cos and sin of 2*pi*v*t of every oscillator's LFO, by rotating a unit vector one sample at a time
    (the four rates side by side), set exactly every ANCHOR samples: a fraction of the cost of eight
    sines per sample, and as exact as they are to 1e-12."""
    n_samples = cos_out.shape[1]
    for start in range(0, n_samples, ANCHOR):
        for j in range(4):
            angle = TAU * frac(rates[j] * start * inv)
            c, s = math.cos(angle), math.sin(angle)
            turn_c, turn_s = math.cos(TAU * rates[j] * inv), math.sin(TAU * rates[j] * inv)
            for n in range(start, min(start + ANCHOR, n_samples)):
                cos_out[j, n], sin_out[j, n] = c, s
                c, s = c * turn_c - s * turn_s, s * turn_c + c * turn_s


@numba.njit(inline="always")
def _phase(
    f: float, deviation: float, rate: float, time: float, lfo_cos: float, lfo_sin: float, inv: float
) -> tuple[float, float, float]:
    """(phase in [0, 1), phase step, its reciprocal) of one oscillator ``time`` seconds into the note
    (``inv``: 1 / the sample rate)."""
    t = frac(frac(f * time) + deviation / (TAU * rate) * (1.0 - lfo_cos))
    dt = min(max(abs(f + deviation * lfo_sin) * inv, 1e-6), 0.5)
    return t, dt, 1.0 / dt


@numba.njit(inline="always")
def _level_at(a: float, d: float, s: float, seconds: float) -> float:
    """Where attack (0 -> 1 over a) then decay (1 -> s over d) are at ``seconds`` (a key let go early)."""
    if a >= seconds:
        return seconds / a
    if d >= seconds - a:
        return 1.0 + (s - 1.0) * ((seconds - a) / d)
    return s


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _render(
    rows: np.ndarray, waves: np.ndarray, shape: np.ndarray, counts: np.ndarray, note_seconds: float,
    ramp: np.ndarray, sample_rate: float, out: np.ndarray,
) -> None:  # fmt: skip
    """``waves`` [4, 4]: the columns of f, A, B, v of sine, saw, tri, square; ``shape``: the columns of
    a, d, s, r, f_cut, q, f_gate; ``counts`` [n, 4]: samples of the attack, the decay, the held note and
    the release per row; ``ramp``: 0, 1, 2, ... as floats (an integer index would not vectorise).

    Two passes per patch: the oscillators and the envelope while the note sounds (every sample on its
    own: vectorised), then the filter and the gate (a recursion)."""
    n_samples = out.shape[1]
    inv = 1.0 / sample_rate
    shaped = np.empty(n_samples)
    lfo_cos, lfo_sin = np.empty((4, n_samples)), np.empty((4, n_samples))
    for k in range(rows.shape[0]):
        f0, a0, b0, v0 = rows[k, waves[0, 0]], rows[k, waves[0, 1]], rows[k, waves[0, 2]], rows[k, waves[0, 3]]
        f1, a1, b1, v1 = rows[k, waves[1, 0]], rows[k, waves[1, 1]], rows[k, waves[1, 2]], rows[k, waves[1, 3]]
        f2, a2, b2, v2 = rows[k, waves[2, 0]], rows[k, waves[2, 1]], rows[k, waves[2, 2]], rows[k, waves[2, 3]]
        f3, a3, b3, v3 = rows[k, waves[3, 0]], rows[k, waves[3, 1]], rows[k, waves[3, 2]], rows[k, waves[3, 3]]
        attack, decay, sustain = rows[k, shape[0]], rows[k, shape[1]], rows[k, shape[2]]
        ca, cd, held, cr = float(counts[k, 0]), float(counts[k, 1]), float(counts[k, 2]), float(counts[k, 3])
        released_from = sustain if ca + cd < held else _level_at(attack, decay, sustain, note_seconds)
        _lfos(np.array([v0, v1, v2, v3]), inv, lfo_cos, lfo_sin)
        attack_slope, decay_slope = 1.0 / max(ca, 1.0), (sustain - 1.0) / max(cd, 1.0)
        release_slope = released_from / max(cr, 1.0)
        sounding = min(n_samples, counts[k, 2] + counts[k, 3])  # after the release, only the filter rings
        for n in range(sounding):
            i = ramp[n]
            envelope = sustain
            if i < ca + cd:
                envelope = 1.0 + decay_slope * (i - ca)
            if i < ca:
                envelope = i * attack_slope
            if i >= held:
                envelope = released_from - release_slope * (i - held)
            time = i * inv
            t, _, _ = _phase(f0, b0, v0, time, lfo_cos[0, n], lfo_sin[0, n], inv)
            mix = a0 * sin_cycles(t)
            t, dt, r = _phase(f1, b1, v1, time, lfo_cos[1, n], lfo_sin[1, n], inv)
            mix += a1 * (2.0 * t - 1.0 - polyblep(t, dt, r))
            t, dt, r = _phase(f2, b2, v2, time, lfo_cos[2, n], lfo_sin[2, n], inv)
            naive = 1.0 - 4.0 * abs(frac(t + 0.25) - 0.5)
            mix += a2 * (naive + 8.0 * dt * (polyblamp(frac(t - 0.75), dt, r) - polyblamp(frac(t - 0.25), dt, r)))
            t, dt, r = _phase(f3, b3, v3, time, lfo_cos[3, n], lfo_sin[3, n], inv)
            naive = 1.0 if t < 0.5 else -1.0
            mix += a3 * (naive + polyblep(t, dt, r) - polyblep(frac(t + 0.5), dt, r))
            shaped[n] = 0.25 * mix * envelope
        shaped[sounding:] = 0.0
        c0, c1, c2, g1, g2 = lowpass_coefficients(rows[k, shape[4]], rows[k, shape[5]], sample_rate)
        gate = rows[k, shape[6]] * inv
        x1 = x2 = y1 = y2 = 0.0
        for n in range(n_samples):
            x = shaped[n]
            y = c0 * x + c1 * x1 + c2 * x2 - g1 * y1 - g2 * y2
            x2, x1, y2, y1 = x1, x, y1, y
            out[k, n] = y if frac(gate * ramp[n]) < 0.5 else 0.0


def render(rows: np.ndarray, columns: dict[str, int], sample_rate: int, note_seconds: float, out: np.ndarray) -> None:
    """Rows of real values in spec order [n, params] into float32 ``out`` [n, n_samples]."""
    n_samples = out.shape[1]
    waves = np.array(
        [[columns[f"{p}_{w}"] for p in WAVE_COLUMNS] for w in ("sine", "saw", "tri", "square")], dtype=np.int64
    )
    shape = np.array([columns[name] for name in ("a", "d", "s", "r", "f_cut", "q", "f_gate")], dtype=np.int64)
    seconds = np.column_stack(
        [rows[:, shape[0]], rows[:, shape[1]], np.full(len(rows), note_seconds), rows[:, shape[3]]]
    )
    counts = np.rint(seconds * sample_rate).astype(np.int64)  # Python's round(): half to even
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    _render(rows, waves, shape, counts, note_seconds, np.arange(n_samples, dtype=np.float64), float(sample_rate), out)
