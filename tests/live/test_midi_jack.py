"""MIDI into ``inversynth serve`` through real JACK MIDI ports (mido on python-rtmidi's JACK API)."""

from __future__ import annotations

import json
import time

import mido
import numpy as np
import pytest

from inversynth.engine.synths import get_spec
from tests.helpers import eventually
from tests.live.conftest import peak_frequency, rms

SPEC = get_spec("original")


def _param_becomes(osc, name: str, value: float) -> float:
    """The server's value of ``name`` once it is ``value`` (or the last one asked, after 5 s)."""
    ask = lambda: osc.request(f"/synth/get/{name}", reply=f"/synth/param/{name}")[0]  # noqa: E731
    return eventually(ask, lambda got: got == pytest.approx(value, rel=1e-6))


def test_note_on_velocity_and_note_off(midi_out, sustained, recorder):
    midi_out.send(mido.Message("note_on", note=76, velocity=127))
    loud = recorder.record(0.4)[4800:]
    midi_out.send(mido.Message("note_on", note=76, velocity=0))  # running-status style note off
    time.sleep(0.2)
    midi_out.send(mido.Message("note_on", note=76, velocity=32))
    soft = recorder.record(0.4)[4800:]
    midi_out.send(mido.Message("note_off", note=76))
    time.sleep(0.2)
    silent = recorder.record(0.2)

    assert peak_frequency(loud) == pytest.approx(440 * 2 ** (7 / 12), abs=2.0)
    assert rms(soft) / rms(loud) == pytest.approx(32 / 127, rel=0.05)
    assert np.max(np.abs(silent)) < 1e-4


def test_pitch_wheel_bends_two_semitones(midi_out, sustained, recorder):
    midi_out.send(mido.Message("pitchwheel", pitch=-8192))
    midi_out.send(mido.Message("note_on", note=69, velocity=100))
    time.sleep(0.1)
    audio = recorder.record(0.5)
    midi_out.send(mido.Message("pitchwheel", pitch=0))
    midi_out.send(mido.Message("note_off", note=69))
    assert peak_frequency(audio) == pytest.approx(440 * 2 ** (-2 / 12), abs=2.0)


def test_default_cc_map_comes_from_the_spec_and_pushes_to_subscribers(midi_out, osc):
    osc.send("/subscribe", osc.port)
    osc.request("/status")
    for param in SPEC.params:
        if param.midi_cc is None:
            continue
        midi_out.send(mido.Message("control_change", control=param.midi_cc, value=127))
        (value,) = osc.wait_for(f"/synth/param/{param.name}")[0]
        assert value == pytest.approx(param.maximum)
    osc.send("/unsubscribe", osc.port)


def test_cc_123_releases_and_cc_120_silences(midi_out, sustained, osc, recorder):
    for note in (60, 64, 67):
        midi_out.send(mido.Message("note_on", note=note, velocity=100))
    assert eventually(lambda: osc.request("/status")[1], lambda n: n == 3) == 3
    midi_out.send(mido.Message("control_change", control=123, value=0))
    assert eventually(lambda: osc.request("/status")[1], lambda n: n == 0) == 0
    assert np.max(np.abs(recorder.record(0.1))) < 1e-4
    midi_out.send(mido.Message("note_on", note=60, velocity=100))
    time.sleep(0.1)
    midi_out.send(mido.Message("control_change", control=120, value=0))
    time.sleep(0.1)
    assert np.max(np.abs(recorder.record(0.1))) < 1e-4


def test_program_change_loads_that_slot_of_the_bank(jack_serve, midi_out, osc):
    for name, m in (("Slot A", 2.0), ("Slot B", 20.0)):
        osc.send("/synth/param/M", m)
        osc.send("/preset/save", name)
    names = osc.request("/preset/list")
    for slot, m in (("Slot A", 2.0), ("Slot B", 20.0)):
        midi_out.send(mido.Message("program_change", program=names.index(slot)))
        assert _param_becomes(osc, "M", m) == pytest.approx(m)


def test_midi_learn_binds_the_next_cc_and_persists_it(jack_serve, midi_out, osc):
    osc.send("/midi/learn", "release")
    osc.request("/status")
    midi_out.send(mido.Message("control_change", control=21, value=0))
    eventually(jack_serve.stderr, lambda log: "CC 21 now moves 'release'" in log)
    midi_out.send(mido.Message("control_change", control=21, value=127))
    assert _param_becomes(osc, "release", 1.0) == pytest.approx(1.0)
    saved = json.loads((jack_serve.config / "inversynth" / "midi-original.json").read_text())
    assert saved["cc"] == {"21": "release"}
    assert "CC 21 now moves 'release'" in jack_serve.stderr()


def test_garbage_and_unused_midi_never_stop_the_server(midi_out, osc):
    midi_out.send(mido.Message("sysex", data=[1, 2, 3]))
    midi_out.send(mido.Message("quarter_frame", frame_type=1, frame_value=3))
    midi_out.send(mido.Message("control_change", control=3, value=10))  # unbound
    midi_out.send(mido.Message("program_change", program=127))  # empty slot
    midi_out.send(mido.Message("note_on", note=60, velocity=100))
    assert eventually(lambda: osc.request("/status")[1], lambda n: n == 1) == 1  # still playing what makes sense


def test_program_change_reaches_the_factory_presets_then_the_bank_and_saving_moves_none(midi_out, osc):
    from inversynth.presets.store import FACTORY, Bank

    factory = {p.name: p for p in Bank(FACTORY).scan()[0] if p.synth == "original"}
    before = osc.request("/preset/list")
    osc.send("/preset/save", "Aa mine")  # first by name, yet it takes the next free number
    names = osc.request("/preset/list")
    assert list(names[: len(before)]) == list(before) and names[len(before)] == "Aa mine"
    assert list(names[: len(factory)]) == sorted(factory, key=str.casefold)  # the factory first
    midi_out.send(mido.Message("program_change", program=names.index("Glass Bell")))
    for name in ("M", "D", "attack"):
        wanted = factory["Glass Bell"].params[name]
        assert _param_becomes(osc, name, wanted) == pytest.approx(wanted, rel=1e-6)
