"""A named MIDI input (``serve --midi-in``): connected at start, and again after it vanished and came back."""

from __future__ import annotations

import mido

from tests.helpers import eventually
from tests.live.conftest import open_midi_out, start_serve, stop_serve

KEYBOARD = "midi-test-keyboard:keyboard"


def _sounding(osc) -> int:
    return int(osc.request("/status")[1])


def test_a_keyboard_unplugged_and_plugged_in_again_plays_again(jack_server, tmp_path):
    keyboard = open_midi_out("keyboard", None)
    served = start_serve(tmp_path, "--audio", "jack", "--midi-api", "jack", "--midi-in", KEYBOARD, "--no-match")
    osc = served.client()
    try:
        keyboard.send(mido.Message("note_on", note=60, velocity=100))
        assert eventually(lambda: _sounding(osc), lambda n: n == 1) == 1
        keyboard.send(mido.Message("note_off", note=60))
        assert eventually(lambda: _sounding(osc), lambda n: n == 0) == 0

        keyboard.close()  # unplugged: its port is gone from the graph
        gone = f"midi: '{KEYBOARD}' is gone"
        assert eventually(served.stderr, lambda log: gone in log), served.stderr()

        keyboard = open_midi_out("keyboard", None)  # plugged in again: a new port of the same name
        back = f"midi: '{KEYBOARD}' is back and connected again"
        assert eventually(served.stderr, lambda log: back in log), served.stderr()
        keyboard.send(mido.Message("note_on", note=62, velocity=100))
        assert eventually(lambda: _sounding(osc), lambda n: n == 1) == 1
        assert served.stderr().count(gone) == 1  # said once, not once per look
    finally:
        keyboard.close()
        osc.close()
        stop_serve(served)
