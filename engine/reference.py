"""Independent numpy renderings of the synths, straight from their formulas.

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


def _polyblep(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Two-point PolyBLEP residual of a unit step at phase 0."""
    out = np.zeros_like(t)
    early, late = t < dt, t > 1.0 - dt
    x = t[early] / dt[early]
    out[early] = 2 * x - x * x - 1
    x = (t[late] - 1.0) / dt[late]
    out[late] = x * x + 2 * x + 1
    return out


def _polyblamp(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Two-point PolyBLAMP residual (the integral of the PolyBLEP) of a unit slope change at phase 0."""
    out = np.zeros_like(t)
    early, late = t < dt, t > 1.0 - dt
    x = t[early] / dt[early] - 1
    out[early] = -(x**3) / 3
    x = (t[late] - 1.0) / dt[late] + 1
    out[late] = x**3 / 3
    return out


def _waveform(wave: str, f: float, deviation: float, rate: float, n_samples: int, sample_rate: int) -> np.ndarray:
    """One frequency-modulated oscillator: x_w(2*pi*f*t + (deviation/rate)*(1 - cos(2*pi*rate*t))),
    band-limited (its frequency is f + deviation*sin(2*pi*rate*t))."""
    n = np.arange(n_samples)
    lfo = 2 * np.pi * ((rate * n / sample_rate) % 1.0)
    t = ((f * n / sample_rate) % 1.0 + deviation / (2 * np.pi * rate) * (1 - np.cos(lfo))) % 1.0
    if wave == "sine":
        return np.sin(2 * np.pi * t)
    dt = np.clip(np.abs(f + deviation * np.sin(lfo)) / sample_rate, 1e-6, 0.5)
    if wave == "saw":
        return 2 * t - 1 - _polyblep(t, dt)
    if wave == "square":
        return np.where(t < 0.5, 1.0, -1.0) + _polyblep(t, dt) - _polyblep((t + 0.5) % 1.0, dt)
    naive = 1 - 4 * np.abs((t + 0.25) % 1.0 - 0.5)
    return naive + 8 * dt * (_polyblamp((t - 0.75) % 1.0, dt) - _polyblamp((t - 0.25) % 1.0, dt))


def _adsr(params: Mapping[str, float], n_samples: int, sample_rate: int, note_seconds: float) -> np.ndarray:
    """Attack 0 -> 1, decay -> s, held; at ``note_seconds`` released over r from wherever it is."""
    rises = [(params["a"], 0.0, 1.0), (params["d"], 1.0, params["s"])]
    curve, cursor = [], 0
    held = round(note_seconds * sample_rate)
    for seconds, start, end in rises:
        count = round(seconds * sample_rate)
        curve.append(start + (end - start) * np.arange(count) / count)
        cursor += count
    shape = np.concatenate([*curve, np.full(max(0, held - cursor), params["s"])])[:held]
    level = shape[-1] if cursor < held else _level_at(rises, note_seconds, sample_rate)
    count = round(params["r"] * sample_rate)
    release = level * (1 - np.arange(count) / count)
    out = np.zeros(n_samples)
    whole = np.concatenate([shape, release])[:n_samples]
    out[: len(whole)] = whole
    return out


def _level_at(rises: list[tuple[float, float, float]], seconds: float, sample_rate: int) -> float:
    """The level a rise-and-fall reaches at ``seconds`` (a key let go before it ends)."""
    left = seconds
    for length, start, end in rises:
        if length >= left:
            return start + (end - start) * (left / length)
        left -= length
    return rises[-1][2]


def _lowpass(x: np.ndarray, cutoff: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ cookbook biquad low-pass (direct form I), float64, its Q floored at 0.1 (as pyo's is)."""
    w0 = 2 * np.pi * cutoff / sample_rate
    alpha = np.sin(w0) / (2 * max(q, 0.1))
    c = np.cos(w0)
    b0, b1, b2 = (1 - c) / 2, 1 - c, (1 - c) / 2
    a0, a1, a2 = 1 + alpha, -2 * c, 1 - alpha
    b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
    y = np.zeros_like(x)
    x1 = x2 = y1 = y2 = 0.0
    for i, sample in enumerate(x):
        out = b0 * sample + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        x2, x1, y2, y1 = x1, sample, y1, out
        y[i] = out
    return y


def render_paper(params: Mapping[str, float], n_samples: int, sample_rate: int, note_seconds: float) -> np.ndarray:
    """The paper's synth, float64 [n_samples]: four oscillators summed / 4, ADSR, low-pass, gater."""
    mix = sum(
        params[f"A_{w}"] * _waveform(w, params[f"f_{w}"], params[f"B_{w}"], params[f"v_{w}"], n_samples, sample_rate)
        for w in ("sine", "saw", "tri", "square")
    )
    shaped = 0.25 * mix * _adsr(params, n_samples, sample_rate, note_seconds)
    gate = ((params["f_gate"] * np.arange(n_samples) / sample_rate) % 1.0 < 0.5).astype(float)
    return _lowpass(shaped, params["f_cut"], params["q"], sample_rate) * gate
