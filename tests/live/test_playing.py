"""Playing it like an instrument, through real JACK MIDI ports, judged by the recorded audio:
pedals, channels, pressure and the mod wheel, MPE, mono/legato with glide, tempo-synced rates,
velocity curves."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import mido
import numpy as np
import pytest

from tests.live.conftest import (
    SUSTAINED,
    JackRecorder,
    cycle_frequencies,
    jack_ports,
    open_midi_out,
    peak_frequency,
    rms,
    start_serve,
    stop_serve,
)

A4, E5 = 440.0, 440.0 * 2 ** (7 / 12)
C4, E4 = 440.0 * 2 ** (-9 / 12), 440.0 * 2 ** (-5 / 12)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def note_on(note: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def note_off(note: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, channel=channel)


def sounding(osc) -> int:
    return osc.request("/status")[1]


def vibrato_depth(audio: np.ndarray) -> float:
    """Relative frequency swing of a vibrato: (max - min) / (max + min) of the per-cycle frequency."""
    _, frequencies = cycle_frequencies(audio)
    low, high = np.percentile(frequencies, [2, 98])
    return float((high - low) / (high + low))


def set_patch(osc, **values: float) -> None:
    for name, value in values.items():
        osc.send(f"/synth/param/{name}", value)
    osc.request("/status")


# --- pedals ---------------------------------------------------------------------------------


def test_sustain_pedal_holds_released_notes_until_it_comes_up(midi_out, sustained, osc, recorder):
    midi_out.send(cc(64, 127))
    midi_out.send(note_on(69))
    time.sleep(0.1)
    midi_out.send(note_off(69))
    time.sleep(0.3)  # six release times after the key came up
    held = recorder.record(0.3)
    # Struck again while the pedal holds it: the same voice plays it again, not a second one.
    midi_out.send(note_on(69))
    midi_out.send(note_off(69))
    time.sleep(0.1)
    voices_after_restrike = sounding(osc)
    midi_out.send(cc(64, 0))
    time.sleep(0.2)  # the release, and the audio already on its way out
    after = recorder.record(0.2)

    assert peak_frequency(held) == pytest.approx(A4, abs=2.0)
    assert rms(held) == pytest.approx(0.25 * (100 / 127) / np.sqrt(2), rel=0.05)
    assert voices_after_restrike == 1
    assert np.max(np.abs(after)) < 1e-4


def test_sostenuto_keeps_only_the_keys_down_when_it_went_down(midi_out, sustained, osc, recorder):
    midi_out.send(note_on(60))
    time.sleep(0.05)
    midi_out.send(cc(66, 127))
    midi_out.send(note_on(64))  # struck after the pedal: not kept
    time.sleep(0.05)
    midi_out.send(note_off(60))
    midi_out.send(note_off(64))
    time.sleep(0.3)
    kept = recorder.record(0.3)
    midi_out.send(cc(66, 0))
    time.sleep(0.2)
    after = recorder.record(0.2)

    assert peak_frequency(kept) == pytest.approx(C4, abs=2.0)
    spectrum = np.abs(np.fft.rfft(kept * np.hanning(len(kept))))  # windowed: C4's leakage stays off E4
    bin_hz = recorder.sample_rate / len(kept)
    assert spectrum[round(E4 / bin_hz)] < 0.01 * spectrum[round(C4 / bin_hz)]  # the later key was let go
    assert np.max(np.abs(after)) < 1e-4


def test_soft_pedal_scales_velocity_by_two_thirds(midi_out, sustained, recorder):
    levels = []
    for pedal in (0, 127):
        midi_out.send(cc(67, pedal))
        midi_out.send(note_on(69, 120))
        time.sleep(0.1)
        levels.append(rms(recorder.record(0.2)))
        midi_out.send(note_off(69))
        time.sleep(0.15)
    midi_out.send(cc(67, 0))
    assert levels[1] / levels[0] == pytest.approx(round(120 * 2 / 3) / 120, rel=0.03)


def test_reset_all_controllers_lifts_the_pedal_and_recentres_the_wheels(midi_out, sustained, osc, recorder):
    midi_out.send(cc(64, 127))
    midi_out.send(mido.Message("pitchwheel", pitch=8191))
    midi_out.send(note_on(69))
    time.sleep(0.1)
    midi_out.send(note_off(69))
    time.sleep(0.1)
    midi_out.send(cc(121, 0))
    time.sleep(0.2)
    released = recorder.record(0.2)
    midi_out.send(note_on(69))
    time.sleep(0.1)
    centred = recorder.record(0.3)
    midi_out.send(note_off(69))

    assert np.max(np.abs(released)) < 1e-4  # the pedal came up: the held note was released
    assert peak_frequency(centred) == pytest.approx(A4, abs=2.0)  # no bend left


# --- pressure, mod wheel, routes ------------------------------------------------------------


def test_channel_pressure_deepens_the_vibrato(midi_out, sustained, osc, recorder):
    set_patch(osc, M=6.0, D=0.0)
    midi_out.send(note_on(69))
    time.sleep(0.1)
    depths = []
    for pressure in (0, 64, 127):
        midi_out.send(mido.Message("aftertouch", value=pressure))
        time.sleep(0.1)
        depths.append(vibrato_depth(recorder.record(0.5)))
    midi_out.send(mido.Message("aftertouch", value=0))
    midi_out.send(note_off(69))

    # The default route: pressure -> D by half its range (0..1.5): D 0, 0.378, 0.75.
    assert depths[0] < 0.01
    assert depths[1] == pytest.approx(0.5 * 1.5 * 64 / 127, rel=0.1)
    assert depths[2] == pytest.approx(0.75, rel=0.1)


def test_poly_pressure_moves_only_its_own_note(midi_out, sustained, osc, recorder):
    set_patch(osc, M=6.0, D=0.0)
    midi_out.send(note_on(69))
    time.sleep(0.1)
    midi_out.send(mido.Message("polytouch", note=72, value=127))  # another key: nothing moves
    time.sleep(0.1)
    other = vibrato_depth(recorder.record(0.4))
    midi_out.send(mido.Message("polytouch", note=69, value=127))
    time.sleep(0.1)
    own = vibrato_depth(recorder.record(0.4))
    midi_out.send(note_off(69))

    assert other < 0.01
    assert own == pytest.approx(0.75, rel=0.1)


def test_routes_are_data_saved_with_midi_learn_and_shown_by_midi_map(jack_serve, midi_out, sustained, osc, recorder):
    osc.send("/midi/route", "wheel", "A", -0.5)  # the mod wheel now also turns the level down
    osc.send("/midi/route", "wheel", "D", 0.0)  # ... and no longer deepens the vibrato
    osc.request("/status")
    midi_out.send(note_on(69))
    time.sleep(0.1)
    full = rms(recorder.record(0.2))
    midi_out.send(cc(1, 127))
    time.sleep(0.1)
    wheeled = recorder.record(0.3)
    midi_out.send(cc(1, 0))
    midi_out.send(note_off(69))
    osc.drain()
    osc.send("/midi/map")
    time.sleep(0.3)
    replies = osc.drain()
    saved = json.loads((jack_serve.config / "inversynth" / "midi-original.json").read_text())
    osc.send("/midi/route", "wheel", "A", 0.0)
    osc.send("/midi/route", "wheel", "D", 0.5)

    assert rms(wheeled) / full == pytest.approx(0.5, rel=0.05)  # A 1.0 - 0.5 x (1 - 0.001)
    assert vibrato_depth(wheeled) < 0.01
    assert ("/midi/map/route", ("wheel", "A", -0.5)) in replies
    assert ("/midi/map/cc", (77, "D")) in replies
    assert {"source": "wheel", "param": "A", "amount": -0.5} in saved["modulation"]
    assert not any(r["source"] == "wheel" and r["param"] == "D" for r in saved["modulation"])


# --- MPE ------------------------------------------------------------------------------------


@pytest.fixture
def mpe(midi_out) -> Iterator[None]:
    """MPE lower zone, 15 member channels, switched on by the MCM message (RPN 6 on channel 1)."""
    for message in (cc(101, 0), cc(100, 6), cc(6, 15)):
        midi_out.send(message)
    time.sleep(0.1)
    yield
    for message in (cc(101, 0), cc(100, 6), cc(6, 0)):
        midi_out.send(message)
    time.sleep(0.1)


def test_mpe_bends_two_notes_of_one_key_apart(midi_out, sustained, mpe, osc, recorder):
    # Each note's bend comes before its note-on on its own member channel (48 semitones each way).
    midi_out.send(mido.Message("pitchwheel", pitch=round(8192 * 12 / 48), channel=1))
    midi_out.send(mido.Message("pitchwheel", pitch=round(-8192 * 12 / 48), channel=2))
    midi_out.send(note_on(60, channel=1))
    midi_out.send(note_on(60, channel=2))
    time.sleep(0.1)
    apart = recorder.record(0.5)
    midi_out.send(mido.Message("pitchwheel", pitch=round(8192 * 7 / 48), channel=2))  # slide one while held
    time.sleep(0.1)
    moved = recorder.record(0.5)
    for channel in (1, 2):
        midi_out.send(note_off(60, channel=channel))
        midi_out.send(mido.Message("pitchwheel", pitch=0, channel=channel))

    def strongest(audio: np.ndarray) -> list[float]:
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        hz = np.fft.rfftfreq(len(audio), 1 / recorder.sample_rate)
        peaks = [i for i in range(1, len(spectrum) - 1) if spectrum[i - 1] < spectrum[i] >= spectrum[i + 1]]
        top = sorted(peaks, key=lambda i: spectrum[i], reverse=True)[:2]
        return sorted(float(hz[i]) for i in top)

    assert strongest(apart) == pytest.approx([C4 / 2, C4 * 2], abs=3.0)
    assert strongest(moved) == pytest.approx([C4 * 2 ** (7 / 12), C4 * 2], abs=3.0)


def test_mpe_pressure_belongs_to_its_member_channel(midi_out, sustained, mpe, osc, recorder):
    set_patch(osc, M=6.0, D=0.0)
    midi_out.send(note_on(69, channel=3))
    time.sleep(0.1)
    midi_out.send(mido.Message("aftertouch", value=127, channel=4))  # another member: not this note
    time.sleep(0.1)
    other = vibrato_depth(recorder.record(0.4))
    midi_out.send(mido.Message("aftertouch", value=127, channel=3))
    time.sleep(0.1)
    own = vibrato_depth(recorder.record(0.4))
    midi_out.send(note_off(69, channel=3))
    midi_out.send(mido.Message("aftertouch", value=0, channel=3))
    midi_out.send(mido.Message("aftertouch", value=0, channel=4))

    assert other < 0.01
    assert own == pytest.approx(0.75, rel=0.1)


# --- mono, legato, glide --------------------------------------------------------------------


def test_mono_legato_line_glides_without_new_attacks(midi_out, osc, recorder):
    set_patch(osc, D=0.0, attack=0.2, decay=0.0, sustain_level=1.0, release=0.05)
    midi_out.send(cc(126, 0))  # mono mode on
    midi_out.send(cc(65, 127))  # portamento on
    midi_out.send(cc(5, 50))  # glide time: 2 s x (50/127)^2 = 310 ms
    time.sleep(0.1)
    capture: dict[str, np.ndarray] = {}
    thread = threading.Thread(target=lambda: capture.update(audio=recorder.record(1.6)))
    thread.start()
    time.sleep(0.05)
    midi_out.send(note_on(60))
    time.sleep(0.5)  # attack done: full level
    midi_out.send(note_on(64))  # legato: 60 still held
    time.sleep(0.5)
    midi_out.send(note_off(64))  # back to the key still held
    time.sleep(0.5)
    thread.join()
    midi_out.send(note_off(60))
    time.sleep(0.1)
    voices = osc.request("/status")[7]
    midi_out.send(cc(65, 0))
    midi_out.send(cc(127, 0))  # poly again

    audio = capture["audio"]
    rate = recorder.sample_rate
    times, frequencies = cycle_frequencies(audio)
    onset = times[0]
    # Level: after the one attack the envelope never dips (no retrigger of the 200 ms attack).
    block = rate // 100
    levels = np.array([np.max(np.abs(audio[i : i + block])) for i in range(0, len(audio) - block, block)])
    after_attack = levels[int((onset + 0.25) * 100) : int((onset + 1.45) * 100)]
    assert after_attack.min() > 0.95 * after_attack.max()
    # Pitch: 60 -> 64 glides over the glide time (a linear ramp in Hz), then back.
    up = (times > onset + 0.5) & (times < onset + 1.0)
    t_up, f_up = times[up], frequencies[up]
    start = t_up[np.argmax(f_up > C4 + 0.1 * (E4 - C4))]
    end = t_up[np.argmax(f_up > C4 + 0.9 * (E4 - C4))]
    assert end - start == pytest.approx(0.8 * 2.0 * (50 / 127) ** 2, abs=0.03)
    assert np.median(frequencies[(times > onset + 0.9) & (times < onset + 1.0)]) == pytest.approx(E4, abs=1.0)
    assert np.median(frequencies[(times > onset + 1.4) & (times < onset + 1.5)]) == pytest.approx(C4, abs=1.0)
    assert voices <= 1  # one voice computed the whole line


# --- tempo ----------------------------------------------------------------------------------


def send_clock(port: mido.ports.BaseOutput, bpm: float, seconds: float) -> None:
    """MIDI clock (24 pulses per quarter note), scheduled on absolute times so errors do not add up."""
    interval = 60.0 / bpm / 24
    start = time.monotonic()
    for pulse in range(round(seconds / interval)):
        delay = start + pulse * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        port.send(mido.Message("clock"))


def lfo_rate(audio: np.ndarray, low: float, high: float) -> float:
    """The vibrato's rate (Hz): the strongest frequency of the per-cycle pitch between ``low`` and ``high``."""
    times, frequencies = cycle_frequencies(audio)
    grid = np.arange(times[0], times[-1], 1 / 1000)
    pitch = np.interp(grid, times, frequencies)
    pitch -= pitch.mean()
    candidates = np.arange(low, high, 0.001)
    power = np.abs(np.exp(-2j * np.pi * candidates[:, None] * grid[None, :]) @ pitch)
    return float(candidates[np.argmax(power)])


def test_lfo_locks_to_midi_clock_at_an_eighth_note(midi_out, sustained, osc, recorder):
    set_patch(osc, D=0.2, M=12.6)
    osc.send("/synth/sync", "M", "1/8")
    clock = threading.Thread(target=send_clock, args=(midi_out, 120.0, 6.0))
    clock.start()
    time.sleep(3.0)  # four beats to fit the tempo, and then some
    midi_out.send(note_on(69))
    time.sleep(0.1)
    audio = recorder.record(2.5)
    midi_out.send(note_off(69))
    clock.join()
    m = osc.request("/synth/get/M", reply="/synth/param/M")[0]
    osc.send("/synth/sync", "M", "off")

    assert m == pytest.approx(4.0, rel=0.01)
    assert lfo_rate(audio, 2.0, 8.0) == pytest.approx(4.0, rel=0.01)


def test_osc_tempo_and_a_dotted_division_set_the_rate(osc):
    osc.send("/synth/sync", "M", "1/4.")
    osc.send("/synth/tempo", 150.0)
    m = osc.request("/synth/get/M", reply="/synth/param/M")[0]
    osc.send("/synth/tempo", 40.0)  # 1/4. at 40 BPM is 0.44 Hz: below M's range, clamped
    low = osc.request("/synth/get/M", reply="/synth/param/M")[0]
    osc.send("/synth/sync", "M", "off")
    assert m == pytest.approx(150 / 60 / 1.5)
    assert low == pytest.approx(1.0)


def test_a_preset_keeps_its_division(jack_serve, osc):
    osc.send("/synth/sync", "M", "1/16")
    osc.send("/preset/save", "Synced")
    osc.send("/synth/sync", "M", "off")
    osc.send("/synth/tempo", 60.0)
    osc.send("/preset/load", "Synced")
    m = osc.request("/synth/get/M", reply="/synth/param/M")[0]
    saved = json.loads(next(jack_serve.bank.glob("Synced*.json")).read_text())
    osc.send("/synth/sync", "M", "off")
    assert saved["sync"] == {"M": "1/16"} and saved["schema_version"] == 2
    assert m == pytest.approx(4.0)


# --- velocity curve -------------------------------------------------------------------------


@pytest.mark.parametrize(("curve", "exponent"), [("hard", 2.0), ("soft", 0.5)])
def test_velocity_curves(midi_out, sustained, osc, recorder, curve, exponent):
    osc.send("/synth/velocity_curve", curve)
    levels = []
    for velocity in (127, 64):
        midi_out.send(note_on(69, velocity))
        time.sleep(0.1)
        levels.append(rms(recorder.record(0.2)))
        midi_out.send(note_off(69))
        time.sleep(0.15)
    osc.send("/synth/velocity_curve", "linear")
    assert levels[1] / levels[0] == pytest.approx((64 / 127) ** exponent, rel=0.03)


# --- channels -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def channel_two(jack_serve, tmp_path_factory) -> Iterator:
    """A second server beside the first that listens to MIDI channel 2 only: its output, OSC and MIDI port."""
    tmp = tmp_path_factory.mktemp("serve-channel")
    outputs = jack_ports(r"^inversynth.*:output_1$")
    served = start_serve(
        tmp,
        *("--audio", "jack", "--midi-api", "jack", "--midi-virtual", "channel-in", "--midi-channel", "2"),
        *("--no-match", "--voices", "4"),
    )
    (output,) = jack_ports(r"^inversynth.*:output_1$") - outputs
    (midi_in,) = jack_ports(r":channel-in$")
    port = open_midi_out("channel-keys", midi_in)
    yield served, output, port
    port.close()
    stop_serve(served)


def test_a_midi_channel_filters_the_others(channel_two):
    served, output, port = channel_two
    client = served.client()
    recorder = JackRecorder(source=output)
    try:
        for name, value in SUSTAINED.items():
            client.send(f"/synth/param/{name}", value)
        port.send(note_on(69, channel=0))  # channel 1: not ours
        port.send(cc(7, 0, channel=0))  # neither is its volume
        time.sleep(0.1)
        other = recorder.record(0.2)
        port.send(note_off(69, channel=0))
        port.send(note_on(69, channel=1))  # channel 2
        time.sleep(0.1)
        ours = recorder.record(0.2)
        port.send(note_off(69, channel=1))
        amplitude = client.request("/synth/get/A", reply="/synth/param/A")[0]
    finally:
        recorder.close()
        client.close()
    assert np.max(np.abs(other)) < 1e-4
    assert peak_frequency(ours) == pytest.approx(A4, abs=2.0)
    assert amplitude == pytest.approx(1.0)
    assert "channel 1 is not listened to (channel 2)" in served.stderr()
