"""The rules behind playing, without a sound card: pedals, note divisions, the MIDI clock fit,
modulation routes saved with MIDI learn, and what a model's fingerprint covers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from inversynth.bridge.live.midi_map import PERFORMANCE, CcMap
from inversynth.bridge.live.performer import Pedals
from inversynth.bridge.live.tempo_sync import MidiClock
from inversynth.engine.spec import ModRoute
from inversynth.engine.synths import get_spec, get_voice, synth_names
from inversynth.engine.tempo import quarters, synced_rate
from inversynth.errors import SpecError


def test_sustain_keeps_released_keys_until_it_comes_up():
    pedals = Pedals()
    pedals.press(60)
    assert pedals.let_go(60)  # no pedal: released at once
    pedals.set_sustain(True)
    pedals.press(62)
    pedals.press(64)
    assert not pedals.let_go(62)
    pedals.press(62)  # struck again while kept: a finger holds it again
    assert not pedals.let_go(64)
    assert pedals.set_sustain(False) == {64}
    assert pedals.let_go(62)


def test_sostenuto_latches_only_the_keys_down_when_pressed():
    pedals = Pedals()
    pedals.press(60)
    assert pedals.set_sostenuto(True) == set()
    pedals.press(64)
    assert not pedals.let_go(60)
    assert pedals.let_go(64)
    pedals.set_sustain(True)
    assert pedals.set_sostenuto(False) == set()  # sustain still holds it
    assert pedals.set_sustain(False) == {60}


@pytest.mark.parametrize(
    ("division", "hz_at_120"), [("1/4", 2.0), ("1/8", 4.0), ("1/8T", 6.0), ("1/8.", 8 / 3), ("2/1", 0.25)]
)
def test_divisions(division, hz_at_120):
    assert synced_rate(120.0, division) == pytest.approx(hz_at_120)


@pytest.mark.parametrize("division", ["1/3", "0/4", "1/128", "eighth", "1/8x", ""])
def test_bad_divisions_say_what_a_division_is(division):
    with pytest.raises(SpecError, match="power of two"):
        quarters(division)


def test_midi_clock_fit_averages_out_the_jitter_of_single_pulses():
    rng = np.random.default_rng(0)
    clock = MidiClock()
    interval = 60.0 / 120.0 / 24
    estimates = [clock.pulse(i * interval + rng.uniform(0, 0.0053)) for i in range(200)]  # a 256-frame period
    assert all(e is None for e in estimates[:24])  # a beat first
    assert estimates[-1] == pytest.approx(120.0, rel=0.002)
    assert clock.pulse(200 * interval + 1.0) is None  # after a stop, a new fit starts


def test_routes_are_saved_with_midi_learn_and_refused_when_broken(tmp_path):
    spec = get_spec("original")
    path = tmp_path / "midi-original.json"
    cc_map = CcMap(spec, path)
    assert cc_map.routes == spec.modulation
    cc_map.save_routes(cc_map.with_route("wheel", "A", -0.25))
    cc_map.save_routes(cc_map.with_route("wheel", "D", 0.0))
    again = CcMap(spec, path)
    assert ModRoute("wheel", "A", -0.25) in again.routes
    assert not any(r.source == "wheel" and r.param == "D" for r in again.routes)

    version_1 = {"format": "inversynth-midi-map", "version": 1, "synth": "original", "cc": {"21": "release"}}
    path.write_text(json.dumps(version_1))
    assert CcMap(spec, path).routes == spec.modulation  # older files keep the spec's routes
    path.write_text(json.dumps({**version_1, "modulation": [{"source": "knee", "param": "A", "amount": 1}]}))
    with pytest.raises(SpecError, match=r"unusable MIDI map.*modulation source .knee."):
        CcMap(spec, path)


def test_performance_controllers_cannot_be_learned(tmp_path):
    cc_map = CcMap(get_spec("original"), tmp_path / "map.json")
    for cc in (1, 64, 66, 101):
        cc_map.learn("release")
        with pytest.raises(SpecError, match="the performer reads it"):
            cc_map.take_learned(cc)


@pytest.mark.parametrize("name", synth_names())
def test_every_synth_routes_only_what_its_voice_can_modulate(name):
    spec, voice = get_spec(name), get_voice(name)
    assert {r.param for r in spec.modulation} <= set(voice.modulatable())
    bound = {p.midi_cc for p in spec.params if p.midi_cc is not None}
    assert not bound & PERFORMANCE  # the pedals and wheels stay the performer's


def test_fingerprint_covers_what_models_depend_on_only():
    spec = get_spec("original")
    played = dataclasses.replace(
        spec,
        params=tuple(dataclasses.replace(p, midi_cc=None, rate=False, description="x") for p in spec.params),
        modulation=(),
    )
    assert played.fingerprint() == spec.fingerprint()
    in_decibels = dataclasses.replace(spec.params[2], unit="dB")
    other = dataclasses.replace(spec, params=(*spec.params[:2], in_decibels, *spec.params[3:]))
    assert other.fingerprint() != spec.fingerprint()


def test_mod_routes_are_checked():
    with pytest.raises(SpecError, match=r"outside -1\.\.1"):
        ModRoute("wheel", "D", 1.5)
    with pytest.raises(SpecError, match="unknown parameter"):
        dataclasses.replace(get_spec("original"), modulation=(ModRoute("wheel", "Q", 0.5),))
