"""Pitch first: a sine, a square and a plucked string at several pitches come back at their pitch, on
both synths, through the file path a user takes; the network's own pitch stands where it is right."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from inversynth.bridge.matching.inference import Estimator
from inversynth.bridge.matching.match import MatchOptions, match_files, refine_match
from inversynth.bridge.matching.pitch_rule import PITCH_CENTS, placements
from inversynth.bridge.matching.refine import Budget
from inversynth.engine.pitch import find_pitch
from inversynth.engine.spec import note_frequency
from inversynth.engine.synths import get_spec

RATE = 44100


def sine(hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return 0.5 * np.sin(2 * np.pi * hz * t) * np.minimum(1.0, t / 0.02)


def square(hz: float, seconds: float = 1.0) -> np.ndarray:
    """Band-limited: odd harmonics up to 8 kHz."""
    t = np.arange(int(RATE * seconds)) / RATE
    odd = np.arange(1, int(8000 / hz) + 1, 2)
    return 0.4 * (np.sin(2 * np.pi * hz * np.outer(odd, t)) / odd[:, None]).sum(axis=0) * np.minimum(1.0, t / 0.02)


def plucked(hz: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A Karplus-Strong string: a burst of noise through a delay line that averages as it recirculates
    (harmonics that decay at their own rates, slightly flat upper partials, no synth's waveform)."""
    rng = np.random.default_rng(seed)
    period = round(RATE / hz)
    line = rng.uniform(-1, 1, period)
    out = np.empty(int(RATE * seconds))
    for i in range(out.size):
        out[i] = line[i % period]
        line[i % period] = 0.996 * 0.5 * (line[i % period] + line[(i + 1) % period])
    return 0.5 * out / np.abs(out).max()


def cents(a: float, b: float) -> float:
    return float(abs(1200 * np.log2(a / b)))


@pytest.mark.slow
@pytest.mark.parametrize("synth", ["original", "paper"])
def test_tones_the_synth_cannot_make_come_back_at_their_pitch(synth, tmp_path):
    estimator = Estimator(synth=synth)
    files, played = [], []
    for kind, make in (("sine", sine), ("square", square), ("plucked", plucked)):
        for note in (45, 60, 76):
            hz = RATE / round(RATE / note_frequency(note)) if kind == "plucked" else note_frequency(note)
            path = tmp_path / f"{kind}-{note}.wav"
            sf.write(path, make(hz), RATE)
            files.append(path)
            played.append(hz)
    matches, failures = match_files(estimator, files, MatchOptions())
    assert not failures and len(matches) == len(files)
    budget = Budget(ms=float("inf"), renders=48)
    for match, hz in zip(matches, played, strict=True):
        refined = refine_match(estimator, match, budget)
        for stage in (match, refined):
            sounding = find_pitch(stage.resynthesis, estimator.spec.sample_rate)
            assert sounding.pitched and cents(sounding.hz, hz) <= PITCH_CENTS, (match.source, sounding, hz)
        assert refined.distance_db <= match.distance_db  # pitch first, then as close as the search gets


def test_the_networks_own_pitch_stands_where_it_is_right():
    """A clip of the synth itself: no placement, the estimate is the network's (what evaluate scores)."""
    estimator = Estimator(synth="original")
    spec = estimator.spec
    from inversynth.engine.render import renderer

    patch = {**spec.defaults(), "C": 392.0, "D": 0.05, "sustain_level": 0.8, "sustain": 0.6}
    clip = renderer("original").render(spec.to_array(patch)[None, :], spec.clip_samples)[0]
    from inversynth.bridge.matching.audio_input import Note
    from inversynth.bridge.matching.match import estimate_notes

    (match,) = estimate_notes(estimator, [Note(clip, 0.0, 1.0)], ["self"])
    assert match.placed is None and match.patch == match.network_patch
    assert cents(match.patch["C"], 392.0) <= PITCH_CENTS


def test_placements_move_every_oscillator_by_one_ratio_and_offer_harmonic_and_steady_mixes():
    spec = get_spec("paper")
    patch = {**spec.defaults(), "f_sine": 200.0, "f_saw": 310.0, "f_tri": 650.0, "f_square": 100.0,
             "B_sine": 300.0, "B_tri": 40.0}  # fmt: skip
    found = placements(spec, spec.to_array(patch), 440.0)
    by_name: dict[str, list[dict[str, float]]] = {}
    for name, values in found:
        by_name.setdefault(name, []).append(spec.from_array(values))
    assert set(by_name) == {"f_sine", "f_saw", "f_tri", "f_square"}
    for name, (moved, steady, harmonic, both) in by_name.items():
        ratio = 440.0 / patch[name]
        for other in by_name:  # as moved: the network's intervals, each within its range
            assert moved[other] == pytest.approx(min(patch[other] * ratio, spec.param(other).maximum))
        assert moved[name] == pytest.approx(440.0) and steady[name] == pytest.approx(440.0)
        assert steady["B_sine"] == steady["B_tri"] == 0.0 and moved["B_sine"] == pytest.approx(300.0)
        for other in by_name:
            multiple = harmonic[other] / 440.0
            assert multiple == pytest.approx(round(multiple)) and round(multiple) >= 1
        assert both["B_sine"] == 0.0 and both["f_saw"] == harmonic["f_saw"]


def test_a_factory_preset_played_at_the_takes_pitch_competes_as_the_start():
    """A take that is a factory preset at another note than its own: the network's estimate (here a
    poor one, the spec's defaults) loses to that preset played at the take's pitch."""
    from inversynth.bridge.matching.match import factory_presets
    from inversynth.bridge.matching.pitch_rule import place_pitches
    from inversynth.engine.render import renderer
    from inversynth.engine.synths import get_voice

    spec = get_spec("paper")
    render = renderer("paper")
    name, params = next(p for p in factory_presets("paper") if p[0] == "Saw Lead")
    take = render.render(spec.to_array(spec.patch(get_voice("paper").played_at(dict(params), 330.0)))[None, :],
                         spec.clip_samples)  # fmt: skip
    pitch = find_pitch(take[0], spec.sample_rate)
    network = spec.to_array(spec.defaults())[None, :]
    (alone,) = place_pitches(spec, render, take, network, [pitch])
    (placed,) = place_pitches(spec, render, take, network, [pitch], factory_presets("paper"))
    assert alone.preset is None and placed.preset == name and placed.placed == "f_sine"
    assert placed.values == pytest.approx(
        spec.to_array(spec.patch(get_voice("paper").played_at(dict(params), pitch.hz)))
    )
