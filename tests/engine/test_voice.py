"""The pyo voice against the batched renderer (float64 inside), and its envelope sample by sample.

Tolerance: pyo's standard build computes in float32. Its phase accumulators
(Phasor) add a float32 increment to a float32 position every sample; over the
16384 samples of a clip the rounding drifts the carrier phase by at most a few
1e-4 rad at the original project's top note (C6), more in proportion to the
increment above it (C8 is four times C6), and the float32 envelope ramp by
~1e-5. So a clip matches the batched renderer to 1e-3 absolute (-60 dBFS)
and its error energy stays below -60 dB of the signal's (both scaled by C / C6
above C6). A wrong formula, a phase that does not start at
0, an envelope off by one sample on a short segment or a left/right Riemann
sum swap all miss that by orders of magnitude (checked below).
"""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.engine.pyo_runtime import pyo_module
from tests.helpers import batched

SR = 16384
N = 16384
MAX_ABS = 1e-3
C6 = 1046.5
MAX_ERROR_DB = -60.0


def _error_db(rendered: np.ndarray, reference: np.ndarray) -> float:
    signal = float(np.sum(reference**2))
    if signal == 0.0:
        return -np.inf if not np.any(rendered) else np.inf
    return 10 * np.log10(max(float(np.sum((rendered - reference) ** 2)), 1e-30) / signal)


def _check_parity(spec, offline, rows: np.ndarray) -> None:
    rendered = offline.render(rows, N)
    for i, row in enumerate(rows):
        reference = batched("original", spec.from_array(row), N, SR)
        worst = float(np.max(np.abs(rendered[i] - reference)))
        above_c6 = max(1.0, spec.from_array(row)["C"] / C6)
        assert worst <= MAX_ABS * above_c6, f"patch {spec.from_array(row)}: max error {worst:.2e}"
        assert _error_db(rendered[i], reference) <= MAX_ERROR_DB + 20 * np.log10(above_c6), f"patch {row}"


def test_sample_patch_matches_reference(spec, offline):
    _check_parity(spec, offline, spec.to_array(spec.defaults())[None, :])


def test_random_class_patches_match_reference(spec, offline, rng):
    rows = spec.classes_to_values(spec.random_classes(rng, 160))
    _check_parity(spec, offline, rows)


def test_continuous_patches_match_reference(spec, offline, rng):
    low = np.array([p.minimum for p in spec.params])
    high = np.array([p.maximum for p in spec.params])
    _check_parity(spec, offline, low + rng.random((64, len(low))) * (high - low))


def test_extreme_patches_match_reference(spec, offline):
    """Through-zero FM at the top of every range, and the bottom of every range."""
    top = spec.to_array({p.name: p.maximum for p in spec.params})
    bottom = spec.to_array(
        {**{p.name: p.minimum for p in spec.params}, "attack": 0.0, "sustain_level": 1.0, "sustain": 1.0}
    )
    fast = spec.to_array(
        {
            "C": 1046.5,
            "M": 30.0,
            "D": 1.5,
            "attack": 0.0,
            "decay": 0.0,
            "sustain": 1.0,
            "sustain_level": 1.0,
            "release": 0.0,
        }
    )
    _check_parity(spec, offline, np.stack([top, bottom, fast]))


def test_the_voice_matches_the_batched_renderer_at_a_sound_cards_rate(spec, rng):
    """At 48 kHz for 2 s (captured training clips are rendered at 44.1-96 kHz): the phase drift bound
    scales with the clip's length in samples (float32 accumulation), the envelope ends inside."""
    from inversynth.engine.render import pyo_renderer, renderer

    rate, n = 48000, 96000
    rows = spec.classes_to_values(spec.random_classes(rng, 8))
    voiced, fast = pyo_renderer("original", rate).render(rows, n), renderer("original", rate).render(rows, n)
    for row, a, b in zip(rows, voiced, fast, strict=True):
        scale = max(1.0, spec.from_array(row)["C"] / C6) * n / N
        assert np.max(np.abs(a - b)) <= MAX_ABS * scale, spec.from_array(row)
        assert _error_db(a, b) <= MAX_ERROR_DB + 20 * np.log10(scale), spec.from_array(row)


def test_tolerance_catches_a_wrong_implementation(spec, offline):
    """The parity bound is tight: a right-Riemann phase or a one-sample envelope shift fail it."""
    patch = spec.patch({"C": 1046.5, "M": 30.0, "D": 1.5, "attack": 0.0, "decay": 0.1})
    rendered = offline.render(spec.to_array(patch)[None, :], N)[0]
    reference = batched("original", patch, N, SR)
    t = np.arange(N) / SR
    right_riemann = np.cumsum(2 * np.pi * patch["C"] * (1 + patch["D"] * np.sin(2 * np.pi * patch["M"] * t)) / SR)
    wrong_phase = patch["A"] * np.sin(right_riemann) * expected_envelope(patch)
    shifted = np.concatenate([[0.0], reference[:-1]])
    assert np.max(np.abs(rendered - reference)) <= MAX_ABS
    assert np.max(np.abs(rendered - wrong_phase)) > 100 * MAX_ABS
    assert np.max(np.abs(rendered - shifted)) > 100 * MAX_ABS


def expected_envelope(params) -> np.ndarray:
    """The original's time-driven envelope from its definition: segments of round(seconds * sr) samples,
    sample i of an n-sample segment at start + (end - start) * i / n, then silence."""
    level = params["sustain_level"]
    plan = [(params["attack"], 0.0, 1.0), (params["decay"], 1.0, level), (params["sustain"], level, level),
            (params["release"], level, 0.0)]  # fmt: skip
    pieces = [start + (end - start) * np.arange(round(s * SR)) / max(round(s * SR), 1) for s, start, end in plan]
    whole = np.concatenate([*pieces, np.zeros(N)])
    return whole[:N]


def _record_envelope(offline, spec, patch) -> np.ndarray:
    """Render ``patch`` on voice 0 while recording that voice's envelope signal."""
    pyo = pyo_module()
    table = pyo.DataTable(size=N)
    recorder = pyo.TableRec(offline.voices[0].envelope, table)
    recorder.play()  # starts with the renderer's own recorder, on the same block
    offline.render(spec.to_array(patch)[None, :], N)
    return np.asarray(table.getBuffer()).astype(np.float64)


def _boundaries(patch) -> list[int]:
    cursor, marks = 0, []
    for name in ("attack", "decay", "sustain", "release"):
        cursor += round(patch[name] * SR)
        marks.append(cursor)
    return marks


@pytest.mark.parametrize(
    "values",
    [
        {},  # the original sample patch
        {"attack": 0.0, "decay": 0.0, "sustain": 0.3, "sustain_level": 0.4, "release": 0.2},
        {"attack": 0.0667, "decay": 0.0, "sustain": 0.0, "sustain_level": 0.7, "release": 0.1333},
        {"attack": 0.5, "decay": 0.4, "sustain": 0.0, "sustain_level": 1.0, "release": 0.0},
        {"attack": 0.01, "decay": 0.02, "sustain": 0.03, "sustain_level": 0.5, "release": 0.04},
    ],
)
def test_envelope_segments_start_on_the_right_sample(spec, offline, values):
    patch = spec.patch({**values, "A": 1.0})
    recorded = _record_envelope(offline, spec, patch)
    expected = expected_envelope(patch)
    np.testing.assert_allclose(recorded, expected, atol=1e-4)
    for mark in _boundaries(patch):
        if 0 < mark < N:
            # the value at each boundary is the next segment's start (±1 sample: within one step)
            window = expected[max(0, mark - 1) : mark + 2]
            assert window.min() - 1e-4 <= recorded[mark] <= window.max() + 1e-4


def test_envelope_release_ends_in_silence(spec, offline):
    patch = spec.patch({"attack": 0.1, "decay": 0.1, "sustain": 0.1, "sustain_level": 0.5, "release": 0.2})
    recorded = _record_envelope(offline, spec, patch)
    end = _boundaries(patch)[-1]
    assert np.all(recorded[end:] == 0.0)
    assert recorded[end - 1] > 0.0


def test_original_sample_patch_rises_falls_and_stays_silent(spec, offline):
    """Acceptance: rises for 0.2667 s, silent by 0.8667 s and stays silent."""
    patch = spec.defaults()
    audio = offline.render(spec.to_array(patch)[None, :], N)[0]
    peak_at, silent_from = round(0.2667 * SR), round(0.8667 * SR)
    frames = np.abs(audio[: (N // 128) * 128]).reshape(-1, 128).max(axis=1)  # 7.8 ms frames
    rising = frames[: peak_at // 128]
    falling = frames[peak_at // 128 + 1 : silent_from // 128]
    assert np.all(np.diff(rising) > 0)
    assert np.all(np.diff(falling) < 0)
    assert np.max(np.abs(audio[silent_from:])) == 0.0
    assert np.max(np.abs(audio[silent_from - 200 : silent_from])) > 0.0
    assert np.max(np.abs(audio)) == pytest.approx(1.0, abs=0.01)


def test_voice_rejects_bad_values_and_keeps_its_patch(spec, offline):
    from inversynth.errors import SpecError

    voice = offline.voices[0]
    voice.set("M", 5.0)
    with pytest.raises(SpecError, match=r"parameter 'M' = 99 Hz is outside 1\.\.30 Hz"):
        voice.set("M", 99.0)
    assert voice.patch["M"] == 5.0
