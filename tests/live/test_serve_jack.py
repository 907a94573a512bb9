"""``inversynth serve`` on a real JACK server: audio, OSC (python-osc, oscsend, oscdump) and replies."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from inversynth.engine.synths import get_spec
from tests.helpers import eventually
from tests.live.conftest import RATE, oscdump, oscsend, peak_frequency, rms

SPEC = get_spec("original")
SUSTAINED = {"D": 0.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "release": 0.4, "A": 1.0}


def set_patch(osc, patch: dict[str, float]) -> None:
    for name, value in patch.items():
        osc.send(f"/synth/param/{name}", float(value))
    osc.request("/synth/get/release", reply="/synth/param/release")  # a round trip: the sets before it are done


def test_describe_lists_every_parameter_of_the_spec(osc):
    osc.send("/synth/describe")
    replies = osc.wait_for("/synth/describe", count=len(SPEC.params))
    assert [r[0] for r in replies] == list(SPEC.names)
    for (_name, low, high, unit, value), param in zip(replies, SPEC.params, strict=True):
        assert (low, high) == pytest.approx((param.minimum, param.maximum), rel=1e-6)
        assert unit == param.unit
        assert param.minimum <= value <= param.maximum


def test_param_norm_and_get_round_trip(osc):
    osc.send("/synth/param/M", 3.5)
    assert osc.request("/synth/get/M", reply="/synth/param/M")[0] == pytest.approx(3.5)
    osc.send("/synth/norm/D", 1.0)
    assert osc.request("/synth/get/D", reply="/synth/param/D")[0] == pytest.approx(SPEC.param("D").maximum)
    osc.send("/synth/param/M", 99.0)  # out of range: refused, value kept
    assert osc.request("/synth/get/M", reply="/synth/param/M")[0] == pytest.approx(3.5)


def test_oscsend_note_sounds_at_its_pitch_then_releases_to_silence(jack_serve, osc, recorder):
    set_patch(osc, SUSTAINED)
    before = recorder.record(0.3)
    oscsend(jack_serve.port, "/synth/note_on", "ii", 81, 127)
    held = recorder.record(0.6)
    oscsend(jack_serve.port, "/synth/note_off", "i", 81)
    tail = recorder.record(0.3)
    time.sleep(0.3)
    after = recorder.record(0.3)

    assert np.max(np.abs(before)) == 0.0
    sounding = held[RATE // 10 :]
    assert peak_frequency(sounding) == pytest.approx(880.0, abs=2.0)
    assert rms(sounding) > 0.1
    # The release: falling, not cut (the first 100 ms of the tail are louder than the last).
    assert rms(tail[: RATE // 10]) > 2 * rms(tail[-RATE // 20 :]) > 0
    assert np.max(np.abs(after)) < 1e-4


def test_fixed_length_note_follows_the_time_driven_envelope(jack_serve, osc, recorder):
    set_patch(osc, {**SUSTAINED, "sustain": 0.2, "release": 0.0, "sustain_level": 1.0})
    osc.send("/synth/note", 69, 127, 0.0)
    audio = recorder.record(0.8)
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    assert loud.size
    assert (loud[-1] - loud[0]) / RATE == pytest.approx(0.2, abs=0.02)
    assert peak_frequency(audio[loud[0] : loud[-1]]) == pytest.approx(440.0, abs=3.0)


def _glide_recording(osc, recorder) -> np.ndarray:
    set_patch(osc, SUSTAINED)
    osc.send("/synth/note_on", 69, 127)
    time.sleep(0.1)
    result: dict[str, np.ndarray] = {}
    thread = threading.Thread(target=lambda: result.setdefault("audio", recorder.record(0.6)))
    thread.start()
    for level in (0.1, 1.0, 0.1, 1.0):
        time.sleep(0.12)
        osc.send("/synth/param/A", level)
    thread.join()
    osc.send("/synth/note_off", 69)
    return result["audio"]


def test_parameter_jumps_are_smoothed_into_glides(osc, recorder):
    """A (level) jumping between 1.0 and 0.1 on a sounding 440 Hz note: no step in the waveform."""
    for _attempt in range(3):  # a recording with a JACK xrun has gaps of its own: measure again
        audio = _glide_recording(osc, recorder)
        if recorder.xruns == 0:
            break
    assert recorder.xruns == 0, "every recording had an xrun"
    peaks = np.abs(audio[: len(audio) // 480 * 480]).reshape(-1, 480).max(axis=1)  # 10 ms frames
    assert peaks.min() < 0.2 * peaks.max()  # the level really moved (the output gain scales it all)
    slope = 2 * np.pi * 440 / RATE * peaks.max()  # the largest sample-to-sample change of the loud sine
    assert np.max(np.abs(np.diff(audio))) < 1.1 * slope  # but never stepped


def test_pitch_bend_over_osc_moves_the_pitch(osc, recorder):
    set_patch(osc, SUSTAINED)
    osc.send("/synth/bend", 2.0)
    osc.send("/synth/note_on", 69, 100)
    time.sleep(0.1)
    audio = recorder.record(0.5)
    osc.send("/synth/bend", 0.0)
    osc.send("/synth/note_off", 69)
    assert peak_frequency(audio) == pytest.approx(440.0 * 2 ** (2 / 12), abs=2.0)


def test_polyphony_steals_the_oldest_note(osc, recorder):
    set_patch(osc, SUSTAINED)
    notes = list(range(60, 77))  # 17 notes on 16 voices
    for note in notes:
        osc.send("/synth/note_on", note, 100)
        time.sleep(0.01)  # in this order: the first is the oldest
    status = eventually(lambda: osc.request("/status"), lambda s: s[1] == 16)
    audio = recorder.record(0.5)
    osc.send("/synth/panic")
    assert status[1] == 16
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    level = {note: spectrum[round(440 * 2 ** ((note - 69) / 12) * len(audio) / RATE)] for note in notes}
    assert level[60] < 1e-2 * level[76]  # its voice now plays note 76
    assert all(level[n] > 0.1 * level[76] for n in notes[1:])


def test_subscribers_hear_every_change_via_oscdump(jack_serve, osc):
    with oscdump() as (listen, messages):
        oscsend(jack_serve.port, "/subscribe", "i", listen)
        oscsend(jack_serve.port, "/synth/param/M", "f", 7.25)
        osc.send("/preset/load", "Police Siren")  # a preset load pushes every parameter
        eventually(lambda: len(messages), lambda n: n >= 1 + len(SPEC.names))
        oscsend(jack_serve.port, "/unsubscribe", "i", listen)
    assert messages[0] == "/synth/param/M f 7.250000", messages
    assert sorted(m.split()[0] for m in messages[1:]) == sorted(f"/synth/param/{n}" for n in SPEC.names)


def test_presets_save_list_and_load_stay_inside_the_bank(jack_serve, osc):
    osc.send("/synth/param/M", 4.0)
    osc.send("/preset/save", "../../escape attempt")
    osc.send("/synth/param/M", 9.0)
    names = osc.request("/preset/list")
    assert "../../escape attempt" in names
    files = list(jack_serve.bank.glob("*.json"))
    assert files and all(f.parent == jack_serve.bank for f in files)
    assert not list(jack_serve.bank.parent.parent.glob("escape*"))
    osc.send("/preset/load", "../../escape attempt")
    assert osc.request("/synth/get/M", reply="/synth/param/M")[0] == pytest.approx(4.0)


def test_match_file_only_inside_allowed_folders(jack_serve, osc, tmp_path):
    from inversynth.audio_files import write_audio
    from inversynth.engine.render import render

    outside = tmp_path / "outside.wav"
    write_audio(outside, render("original", {"M": 5.0}), SPEC.sample_rate)
    bad_before = osc.request("/status")[3]
    address, reason = osc.request("/match/file", str(outside), reply="/error")
    assert address == "/match/file" and "outside the allowed folders" in reason
    assert osc.request("/status")[3] == bad_before + 1
    assert "outside the allowed folders" in jack_serve.stderr()

    osc.send("/subscribe", osc.port)
    inside = jack_serve.bank.parent / "allowed" / "target.wav"
    write_audio(inside, render("original", {"C": 659.255, "M": 5.0, "D": 0.5, "attack": 0.1}), SPEC.sample_rate)
    osc.send("/match/file", str(inside))
    name, distance, _, verdict, _ = osc.wait_for("/match/done", timeout=20)[0]
    assert name.startswith("Match ") and verdict in ("exact", "close", "approximate")  # matched, saved
    assert distance < 6.0  # the match distance (loudness too); a random patch is about 18 dB away
    sounding = osc.request("/synth/get/C", reply="/synth/param/C")[0]
    assert abs(1200 * np.log2(sounding / 659.255)) < 25
    osc.send("/unsubscribe", osc.port)


@pytest.mark.parametrize(
    ("address", "args", "reason"),
    [
        ("/synth/param/M", (99.0,), "parameter 'M' = 99 Hz is outside 1..30 Hz"),
        ("/synth/nope", (), "/synth/nope: unknown address"),
        ("/synth/note_on", ("x", 1), "/synth/note_on takes ii, got si"),
        ("/preset/load", ("No such preset",), "no preset named 'No such preset'"),
        ("/synth/sync", ("A", "1/8"), "'A' is not a rate"),
    ],
)
def test_refused_messages_are_answered_with_the_reason(osc, address, args, reason):
    failed_address, why = osc.request(address, *args, reply="/error")
    assert failed_address == address
    assert reason in why and "\n" not in why


def test_liblo_tools_read_replies_and_errors(jack_serve):
    with oscdump() as (listen, messages):
        oscsend(jack_serve.port, "/synth/get/M", "i", listen)  # a query naming its reply port
        oscsend(jack_serve.port, "/status", "i", listen)
        oscsend(jack_serve.port, "/subscribe", "i", listen)
        oscsend(jack_serve.port, "/synth/param/A", "f", 7.0)  # refused: oscdump hears why as a subscriber
        eventually(lambda: len(messages), lambda n: n >= 3)
        oscsend(jack_serve.port, "/unsubscribe", "i", listen)
    assert messages[0].startswith("/synth/param/M f "), messages
    assert messages[1].startswith("/status siiiiffi "), messages
    refused = '/error ss "/synth/param/A" "parameter \'A\' = 7 is outside 0.001..1"'
    assert any(m.startswith(refused) for m in messages), messages


def test_saving_over_an_unreadable_preset_file_leaves_it_alone(jack_serve, osc):
    from inversynth.presets.store import Bank

    path = Bank(jack_serve.bank).path_for("Torn")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": "inversynth-preset", "schema_version": 2, "synth": "orig')
    address, reason = osc.request("/preset/save", "Torn", reply="/error")
    assert address == "/preset/save" and reason.startswith("not saved: ")
    assert path.read_text() == '{"format": "inversynth-preset", "schema_version": 2, "synth": "orig'
