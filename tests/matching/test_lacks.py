"""Verdicts on sounds the synth cannot make name what it lacks (bridge/matching/lacks.py), each from
a sound that has it beside a re-synthesis that does not: a plain sine at the note's pitch."""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.bridge.matching.inference import Calibration
from inversynth.bridge.matching.lacks import lacks
from inversynth.bridge.matching.match import judge
from inversynth.engine.pitch import find_pitch
from inversynth.engine.synths import get_spec

RATE = 16384
T = np.arange(RATE) / RATE
SINE = 0.5 * np.sin(2 * np.pi * 440 * T)


def _glide() -> np.ndarray:
    hz = 300 * 2**T  # an octave up in a second
    return 0.5 * np.sin(2 * np.pi * np.cumsum(hz) / RATE)


def _two_notes() -> np.ndarray:
    hz = np.where(T < 0.5, 440.0, 660.0)
    return 0.5 * np.sin(2 * np.pi * np.cumsum(hz) / RATE)


def _bell() -> np.ndarray:
    ratios, levels = (1.0, 2.7568, 5.4039, 8.9330), (1.0, 0.7, 0.5, 0.3)  # a church bell's partials
    return sum(a * np.sin(2 * np.pi * 440 * r * T) for r, a in zip(ratios, levels, strict=True)) / 3


def _breathy() -> np.ndarray:
    return SINE + 0.1 * np.random.default_rng(0).standard_normal(RATE)


def _square() -> np.ndarray:
    odd = range(1, RATE // 2 // 440, 2)  # band-limited: an aliased square has partials between its harmonics
    return 0.5 * sum(np.sin(2 * np.pi * 440 * k * T) / k for k in odd)


def _struck() -> np.ndarray:
    return SINE * np.exp(-T / 0.08)


@pytest.mark.parametrize(
    ("sound", "made", "named"),
    [
        (_glide, lambda: 0.5 * np.sin(2 * np.pi * 424 * T), "a pitch that glides"),
        (_two_notes, lambda: SINE, "a second note (the pitch jumps 702 cents at 0.50 s)"),
        (_bell, lambda: SINE, "inharmonic partials"),
        (_breathy, lambda: SINE, "noise or breath between its harmonics"),
        (_square, lambda: SINE, "harmonics in other proportions"),
        (_struck, lambda: SINE, "a loudness contour its envelope does not follow"),
    ],
)
def test_what_the_sound_has_and_the_resynthesis_lacks_is_named(sound, made, named):
    target = sound()
    found = lacks(target, made(), RATE, find_pitch(target, RATE))
    assert found and found[0].startswith(named), found


def test_a_resynthesis_that_has_it_too_lacks_nothing():
    for sound in (_bell, _breathy, _square, _struck):
        target = sound()
        assert lacks(target, target, RATE, find_pitch(target, RATE)) == [], sound.__name__


def test_an_out_of_reach_verdict_says_what_the_synth_lacks():
    spec = get_spec("original")
    calibration = Calibration(np.ones(len(spec.params)), exact_db=1.0, reach_db=20.0)
    bell = _bell()
    verdict, reason = judge(spec, calibration, 25.0, find_pitch(bell, RATE), SINE, bell)
    assert verdict == "out of reach"
    assert reason.startswith("the synth lacks inharmonic partials") and reason.endswith("25.0 dB away")
    verdict, reason = judge(spec, calibration, spec.close_db + 1.0, find_pitch(bell, RATE), SINE, bell)
    assert verdict == "approximate" and "; it most lacks inharmonic partials" in reason
