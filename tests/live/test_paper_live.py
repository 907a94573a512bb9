"""The paper's synth played live on JACK: the note sets the first oscillator, the others keep their
interval; its parameters, routes and CCs come from its spec like any synth's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from inversynth.osc_client import OscClient
from tests.helpers import eventually
from tests.live.conftest import JackRecorder, jack_ports, start_serve, stop_serve


@pytest.fixture(scope="module")
def paper(jack_server, tmp_path_factory) -> Iterator[tuple[OscClient, str, str]]:
    tmp = tmp_path_factory.mktemp("serve-paper")
    outputs = jack_ports(r"^inversynth.*:output_1$")
    served = start_serve(tmp, "--synth", "paper", "--audio", "jack", "--no-midi", "--voices", "4")
    (output,) = jack_ports(r"^inversynth.*:output_1$") - outputs
    client = served.client()
    yield client, output, served.stderr()
    client.close()
    stop_serve(served)


def _strongest(audio: np.ndarray, rate: int, count: int) -> list[float]:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    hz = np.fft.rfftfreq(len(audio), 1 / rate)
    peaks = [i for i in range(1, len(spectrum) - 1) if spectrum[i - 1] < spectrum[i] >= spectrum[i + 1]]
    return sorted(float(hz[i]) for i in sorted(peaks, key=lambda i: spectrum[i], reverse=True)[:count])


def test_the_note_sets_the_first_oscillator_and_the_others_keep_their_interval(paper):
    osc, output, log = paper
    assert "model paper-fmnet.onnx" in log  # the model shipped for this synth
    patch = {"A_sine": 1.0, "A_square": 0.001, "A_tri": 0.001, "A_saw": 0.001, "f_sine": 440.0, "f_tri": 659.255,
             "a": 0.001, "d": 0.001, "s": 1.0, "r": 0.05, "f_cut": 4000.0, "q": 0.7071, "f_gate": 0.5}  # fmt: skip
    for name, value in patch.items():
        osc.send(f"/synth/param/{name}", value)
    osc.send("/synth/param/A_tri", 1.0)
    osc.request("/status")
    recorder = JackRecorder(source=output)
    try:
        osc.send("/synth/note_on", 57, 100)  # A3: the sine at 220 Hz, the triangle a fifth above
        time.sleep(0.1)
        audio = recorder.record(0.5)
        osc.send("/synth/note_off", 57)
        time.sleep(0.2)  # its release, and the audio already on its way out
        after = recorder.record(0.2)
    finally:
        recorder.close()
    assert _strongest(audio, recorder.sample_rate, 2) == pytest.approx([220.0, 220.0 * 659.255 / 440.0], abs=2.0)
    assert np.max(np.abs(after)) < 1e-4


def test_its_routes_and_ranges_come_from_its_spec(paper):
    osc, _, _ = paper
    osc.drain()
    osc.send("/midi/map")
    replies: list = []
    expected = [("/midi/map/route", ("wheel", "f_cut", 0.5)), ("/midi/map/cc", (74, "f_cut"))]
    eventually(lambda: replies.extend(osc.drain()) or replies, lambda got: all(e in got for e in expected))
    assert ("/midi/map/route", ("wheel", "f_cut", 0.5)) in replies
    assert ("/midi/map/cc", (74, "f_cut")) in replies
    address, reason = osc.request("/synth/param/B_saw", 2000.0, reply="/error")
    assert address == "/synth/param/B_saw" and "outside 0..1500" in reason
