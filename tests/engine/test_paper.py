"""The paper's synth: its spec, its voice against an independent numpy implementation of the formulas,
what is left of aliasing, and clips that never depend on the clip rendered before.

Rendered in worker processes (pyo holds one server per process, and this one renders ``original``).
"""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.engine.render import render_batch
from inversynth.engine.synths import get_spec, get_voice
from inversynth.engine.synths.paper import WAVES
from tests.helpers import batched

SPEC = get_spec("paper")
SR = N = 16384
C6 = 440.0 * 2 ** (15 / 12)
MAX_ERROR_DB = -45.0  # float32 pyo against float64 numpy, resonant filter included


def _render(rows: np.ndarray) -> np.ndarray:
    return render_batch("paper", rows, workers=2, chunk=8, pyo=True)


def _error_db(rendered: np.ndarray, reference: np.ndarray) -> float:
    return 10 * np.log10(max(float(np.sum((rendered - reference) ** 2)), 1e-30) / float(np.sum(reference**2)))


def _alone(wave: str, frequency: float, **more: float) -> np.ndarray:
    patch = {**SPEC.defaults(), "A_sine": 0.001, f"A_{wave}": 1.0, "f_sine": frequency, f"f_{wave}": frequency}
    patch.update(a=0.001, d=0.001, s=1.0, r=0.001, f_cut=4000.0, q=0.7071, **more)
    return SPEC.to_array(patch)


def test_the_spec_is_the_papers():
    assert len(SPEC.params) == 23 and SPEC.sample_rate == 16384 and SPEC.clip_seconds == 1.0
    for param in SPEC.params:
        assert param.n_classes == 16
        if not param.name.startswith("f_") or param.name in ("f_cut", "f_gate"):
            assert (param.classes[0], param.classes[-1]) == (param.minimum, param.maximum)  # the range's limits
    assert SPEC.param("f_saw").classes == pytest.approx(tuple(440 * 2 ** (n / 12) for n in range(16)))
    assert {p.name for p in SPEC.params if p.rate} == {*(f"v_{w}" for w in WAVES), "f_gate"}
    assert {r.param for r in SPEC.modulation} <= set(get_voice("paper").modulatable())


def _away_from_gate_edges(f_gate: float, rate: int = SR, n: int = N) -> np.ndarray:
    """Samples more than 2 from an edge of the gate: there the formula's sgn() jumps, and float32 and
    float64 phases may put the edge one sample apart (a full-scale difference in one sample)."""
    edges = np.round(np.arange(1, int(2 * f_gate * n / rate) + 2) * rate / (2 * f_gate)).astype(int)
    near = (np.abs(np.arange(n)[:, None] - edges[None, :]) <= 2).any(axis=1)
    return ~near


def test_what_a_clip_lets_be_heard():
    from inversynth.engine.synths import audible

    rows = np.array([SPEC.to_array({**SPEC.defaults(), **row}) for row in (
        {"B_saw": 0.0, "a": 0.2, "s": 0.5},  # no modulation: v_saw unheard
        {"B_saw": 300.0, "a": 0.6, "s": 0.5},  # the note is released during the attack: no decay, no sustain
        {"B_saw": 300.0, "a": 0.2, "s": 1.0},  # a decay towards full level is flat
    )])  # fmt: skip
    mask = dict(zip(SPEC.names, audible(SPEC, rows).T, strict=True))
    assert mask["v_saw"].tolist() == [False, True, True]
    assert mask["d"].tolist() == [True, False, False] and mask["s"].tolist() == [True, False, True]
    assert mask["f_saw"].all() and mask["r"].all()


@pytest.mark.slow
def test_the_voice_matches_the_formulas(rng):
    """pyo (float32) against numpy (float64), away from the gate's edges, over the whole grid: every
    deviation up to 1500 Hz at every rate, and each oscillator alone at its deepest, slowest swing."""
    rows = np.concatenate(
        [
            SPEC.to_array(SPEC.defaults())[None, :],
            np.stack([_alone(w, 523.25, **{f"B_{w}": 1500.0, f"v_{w}": 1.0}) for w in WAVES]),
            np.stack([_alone(w, 110.0, **{f"B_{w}": 100.0, f"v_{w}": 30.0}) for w in WAVES]),
            SPEC.classes_to_values(SPEC.random_classes(rng, 24)),
        ]
    )
    for row, clip in zip(rows, _render(rows), strict=True):
        patch = SPEC.from_array(row)
        keep = _away_from_gate_edges(patch["f_gate"])
        reference = batched("paper", patch, N, SR)
        assert _error_db(clip[keep], reference[keep]) <= MAX_ERROR_DB, patch


@pytest.mark.slow
def test_the_voice_matches_the_batched_renderer_at_a_sound_cards_rate(rng):
    """At 48 kHz for 1.5 s, as captured training clips are rendered: every release ends in the clip."""
    rate, seconds = 48000, 1.5
    rows = SPEC.classes_to_values(SPEC.random_classes(rng, 8))
    voiced = render_batch("paper", rows, seconds, rate, workers=2, chunk=4, pyo=True)
    fast = render_batch("paper", rows, seconds, rate)
    for row, a, b in zip(rows, voiced, fast, strict=True):
        keep = _away_from_gate_edges(SPEC.from_array(row)["f_gate"], rate, a.size)
        assert _error_db(a[keep], b[keep]) <= MAX_ERROR_DB, SPEC.from_array(row)


def test_b_is_a_frequency_deviation_in_hz():
    """A sine at 1000 Hz with B = 300 Hz at v = 2 Hz: its instantaneous frequency (from the analytic
    signal's phase) is 1000 + 300 sin(2 pi 2 t), starting at the carrier and rising first."""
    patch = {**SPEC.defaults(), "f_sine": 1000.0, "B_sine": 300.0, "v_sine": 2.0, "a": 0.001, "s": 1.0}
    clip = batched("paper", {**patch, "r": 1.0}, N, SR)
    spectrum = np.fft.fft(clip)
    spectrum[N // 2 + 1 :], spectrum[1 : N // 2] = 0, 2 * spectrum[1 : N // 2]  # the analytic signal
    phase = np.unwrap(np.angle(np.fft.ifft(spectrum)))
    frequency = np.diff(phase) * SR / (2 * np.pi)
    t = np.arange(N - 1) / SR
    inside = slice(400, 7800)  # away from the clip's edges and the release
    expected = 1000.0 + 300.0 * np.sin(2 * np.pi * 2.0 * t)
    assert np.median(np.abs(frequency[inside] - expected[inside])) < 3.0
    pyo_clip = _render(SPEC.to_array({**patch, "r": 1.0})[None, :])[0]
    assert _error_db(pyo_clip, clip) <= MAX_ERROR_DB


def test_a_version_1_patch_keeps_its_peak_deviation():
    upgraded = SPEC.upgrade_patch({**SPEC.defaults(), "B_square": 200.0, "v_square": 5.0, "B_saw": 300.0,
                                   "v_saw": 30.0}, 1)  # fmt: skip
    assert upgraded["B_square"] == 1000.0 and upgraded["B_saw"] == 1500.0  # 9000 Hz is beyond the range
    assert upgraded["v_square"] == 5.0 and upgraded["B_sine"] == 0.0


@pytest.mark.parametrize("wave", ["saw", "tri", "square"])
def test_band_limited_waveforms_leave_little_aliasing(wave):
    """At C6, the paper's top note: energy off the harmonics (aliases), after the synth's own 4 kHz filter."""
    clip = _render(_alone(wave, C6)[None, :])[0][256:8192]
    power = np.abs(np.fft.rfft(clip * np.blackman(len(clip)))) ** 2
    hz = np.fft.rfftfreq(len(clip), 1 / SR)
    harmonic = (np.abs(hz[:, None] - C6 * np.arange(1, int(SR / 2 / C6) + 1)[None, :]) < 6).any(axis=1) | (hz < 6)
    assert 10 * np.log10(power[~harmonic].sum() / power.sum()) < -40.0


@pytest.mark.slow
@pytest.mark.parametrize("pyo", [True, False], ids=["pyo", "batched"])
def test_a_clip_never_depends_on_the_one_before(pyo):
    loud = {**SPEC.defaults(), "A_saw": 1.0, "s": 1.0, "r": 1.0, "q": 10.0, "f_cut": 300.0}  # rings past the clip
    quiet = SPEC.to_array({**SPEC.defaults(), "a": 0.5})
    alone = render_batch("paper", quiet[None, :], workers=2, pyo=pyo)[0]
    after = render_batch("paper", np.stack([SPEC.to_array(loud), quiet]), workers=2, chunk=2, pyo=pyo)[1]
    assert np.array_equal(alone, after)
