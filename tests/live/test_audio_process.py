"""The two-process server on a real JACK server: timetagged bundles, sleeping voices, a killed audio process."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import build_msg

from tests.helpers import eventually
from tests.live.conftest import PERIOD, RATE, JackRecorder, peak_frequency, rms

GAIN = 0.25  # one voice at full velocity and A = 1 peaks here (engine/live.py)
SHORT = {"D": 0.0, "A": 1.0, "attack": 0.01, "decay": 0.0, "sustain_level": 1.0, "sustain": 0.03, "release": 0.0}


def set_patch(osc, patch: dict[str, float]) -> None:
    for name, value in patch.items():
        osc.send(f"/synth/param/{name}", float(value))
    osc.request("/status")  # a round trip: the sets before it are done


def onsets(audio: np.ndarray, threshold: float = 1e-3, gap: float = 0.05) -> list[int]:
    """Samples where sound starts after at least ``gap`` seconds of silence."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if not loud.size:
        return []
    starts = [int(loud[0])]
    starts += [int(b) for a, b in itertools.pairwise(loud) if b - a > gap * RATE]
    return starts


def timed_bundle(at: float, *messages: tuple[str, tuple]) -> OscBundleBuilder:
    bundle = OscBundleBuilder(at)
    for address, args in messages:
        bundle.add_content(build_msg(address, args))
    return bundle


def audio_pid(served) -> int:
    """The running audio process, from the server's log (its start line or its latest restart)."""
    return int(re.findall(r"(?:audio process|as process) (\d+)", served.stderr())[-1])


def test_a_bundle_of_notes_100_ms_apart_sounds_100_ms_apart_within_a_block(jack_serve, osc, recorder):
    set_patch(osc, {**SHORT, "attack": 0.0})
    for _attempt in range(5):  # measured on a take whose clock kept time (see JackRecorder.steady)
        start = time.time() + 0.3
        outer = OscBundleBuilder(IMMEDIATELY)
        for k in range(4):
            outer.add_content(timed_bundle(start + 0.1 * k, ("/synth/note", (69, 127, 0.03))).build())
        osc.send_raw(outer.build().dgram)
        audio = recorder.record(1.0)
        if recorder.steady:
            break
    assert recorder.steady, "the JACK clock ran late in every take"
    found = onsets(audio)
    assert len(found) == 4, found
    gaps = np.diff(found) / RATE
    assert np.all(np.abs(gaps - 0.1) <= PERIOD / RATE), gaps  # within one audio block of their time


def test_a_past_timetag_runs_at_once_and_a_far_future_one_is_refused(jack_serve, osc, recorder):
    set_patch(osc, SHORT)
    before = osc.request("/status")[3]
    osc.send_raw(timed_bundle(time.time() + 3600, ("/synth/note", (69, 127, 0.03))).build().dgram)
    assert osc.request("/status")[3] == before + 1  # counted as a bad message: more than 60 s ahead
    osc.send_raw(timed_bundle(time.time() - 5, ("/synth/note", (69, 127, 0.03))).build().dgram)
    audio = recorder.record(0.3)
    assert len(onsets(audio)) == 1
    assert "beyond 60 s" in jack_serve.stderr()


def test_finished_voices_sleep_and_wake_without_a_click(jack_serve, osc, recorder):
    set_patch(osc, SHORT)
    osc.send("/synth/note", 69, 127, 0.0)
    assert osc.request("/status")[7] == 1  # one voice computing
    assert eventually(lambda: osc.request("/status")[7], lambda n: n == 0) == 0  # its envelope ended: asleep
    osc.send("/synth/note", 69, 127, 0.0)
    audio = recorder.record(0.3)
    start = onsets(audio, threshold=1e-6)[0]
    assert np.max(np.abs(audio[:start])) < 1e-6  # silence before
    # From silence along the attack: never above the 10 ms ramp (a click would jump above it).
    ramp = GAIN * np.minimum(1.0, np.arange(RATE // 100) / (0.01 * RATE))
    rise = np.abs(audio[start : start + RATE // 100])
    assert np.all(rise <= ramp[: len(rise)] + 2 * GAIN / (0.01 * RATE))
    assert peak_frequency(audio[start : start + RATE // 25]) == pytest.approx(440.0, abs=15.0)


def test_a_cut_fixed_length_note_is_released_inside_its_envelope(jack_serve, osc, recorder):
    set_patch(osc, {**SHORT, "attack": 0.0, "sustain": 1.0, "release": 0.1})
    osc.send("/synth/note", 69, 127, 0.2)
    audio = recorder.record(0.6)
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    assert (loud[-1] - loud[0]) / RATE == pytest.approx(0.3, abs=0.01)  # 0.2 s held, then the 0.1 s release
    held, falling = audio[loud[0] : loud[0] + RATE // 5], audio[loud[0] + RATE // 5 :]
    assert rms(held[RATE // 20 :]) > 2 * rms(falling[RATE // 20 : RATE // 10]) > 0


def test_subscribe_takes_addresses_not_host_names(jack_serve, osc):
    before = osc.request("/status")[3]
    osc.send("/subscribe", "example.com", 9)
    assert osc.request("/status")[3] == before + 1
    assert "is not an IPv4 address" in jack_serve.stderr()


def test_a_killed_audio_process_comes_back_with_its_patch_and_held_keys_and_a_match_in_flight_fails(jack_serve, osc):
    """Last in this module: it replaces the audio process (JACK ports and all)."""
    osc.send("/subscribe", osc.port)
    set_patch(osc, {**SHORT, "A": 0.5, "sustain": 1.0, "M": 7.25})
    osc.send("/synth/note_on", 57, 127)  # a key held through the crash
    osc.send("/match/capture", 3.0)
    time.sleep(0.5)
    killed = time.monotonic()
    os.kill(audio_pid(jack_serve), signal.SIGKILL)
    status = osc.wait_for("/status", timeout=10)[0]  # pushed to subscribers once it is back
    assert time.monotonic() - killed < 10
    assert status[2] >= 0
    reason = osc.wait_for("/match/failed", timeout=10)[0][0]
    assert "audio process stopped during the capture" in reason
    log = jack_serve.stderr()
    assert "killed by signal 9" in log and "restarted on jack" in log
    assert osc.request("/synth/get/M", reply="/synth/param/M")[0] == pytest.approx(7.25)
    osc.send("/unsubscribe", osc.port)
    assert eventually(lambda: osc.request("/status")[1], lambda n: n == 1) == 1  # the held key sounds again
    osc.send("/synth/note_off", 57)
    assert eventually(lambda: osc.request("/status")[1], lambda n: n == 0) == 0

    recorder = JackRecorder()
    try:
        osc.send("/synth/note_on", 69, 127)
        audio = recorder.record(0.5)[RATE // 10 :]
        osc.send("/synth/note_off", 69)
    finally:
        recorder.close()
    assert peak_frequency(audio) == pytest.approx(440.0, abs=2.0)
    assert rms(audio) == pytest.approx(GAIN * 0.5 / np.sqrt(2), rel=0.1)  # A = 0.5 came back with the patch
