"""YIN pitch: sines across the synth's range (2 cents up to A5, 10 above), harmonic tones, noise refused."""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.engine.pitch import find_pitch
from inversynth.engine.spec import note_frequency

SR = 16384


def _cents(a: float, b: float) -> float:
    return abs(1200 * np.log2(a / b))


@pytest.mark.parametrize("note", [24, 30, 45, 57, 69, 70.5, 81, 93, 100, 108])
def test_sines_anywhere_in_the_range_within_ten_cents(note):
    hz = note_frequency(note)
    t = np.arange(SR) / SR
    pitch = find_pitch(0.3 * np.sin(2 * np.pi * hz * t + 0.7), SR)
    assert pitch.pitched and pitch.periodic_share == 1.0
    assert _cents(pitch.hz, hz) < (2.0 if note <= 81 else 10.0), pitch


@pytest.mark.parametrize("hz", [16.0, 22.0, 6000.0, 6400.0])
def test_tones_beyond_the_synths_range_are_found_not_taken_for_noise(hz):
    t = np.arange(SR) / SR
    pitch = find_pitch(0.5 * np.sin(2 * np.pi * hz * t), SR)
    assert pitch.pitched and pitch.heard and _cents(pitch.hz, hz) < 10, pitch


def test_a_vibratos_period_is_found_but_not_heard(spec):
    from inversynth.engine.render import render

    patch = {"C": 587.33, "M": 28.0, "D": 0.3, "attack": 0.0, "sustain_level": 1.0, "sustain": 1.0}
    pitch = find_pitch(render("original", patch), SR)
    assert not (pitch.pitched and pitch.hz < 32 and pitch.heard), pitch


def test_harmonic_tones_give_their_fundamental_not_a_harmonic():
    t = np.arange(SR) / SR
    square = np.sign(np.sin(2 * np.pi * 220 * t))
    buzzy = sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(2, 8))  # no energy at 110 Hz itself
    assert _cents(find_pitch(square, SR).hz, 220) < 10 and find_pitch(square, SR).heard
    assert _cents(find_pitch(buzzy, SR).hz, 110) < 10 and not find_pitch(buzzy, SR).heard


def test_noise_and_silence_have_no_pitch():
    noise = find_pitch(np.random.default_rng(0).standard_normal(SR), SR)
    assert not noise.pitched and noise.periodic_share < 0.1 and noise.aperiodicity > 0.5
    silence = find_pitch(np.zeros(SR), SR)
    assert not silence.pitched and np.isnan(silence.hz)


def test_quiet_tail_frames_do_not_vote():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 440 * t) * np.where(t < 0.5, 1.0, 1e-4)  # the tail is 80 dB down
    tone[SR // 2 :] += np.random.default_rng(1).standard_normal(SR // 2) * 1e-5
    pitch = find_pitch(tone, SR)
    assert pitch.periodic_share == 1.0 and _cents(pitch.hz, 440) < 5
