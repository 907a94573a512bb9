"""A live capture holds what was recorded, never audio of an earlier capture (a late block, the dummy
clock catching up or JACK after an xrun, stops a capture short). The blocks are run by hand here, on
a dummy server of its own in a spawned process (pyo runs one server per process)."""

from __future__ import annotations

import multiprocessing

import numpy as np

BLOCK = 256


def _captures(blocks: list[int]) -> list[tuple[int, float]]:
    from inversynth.engine.backends import LiveServer, ServerOptions
    from inversynth.engine.live import LiveSynth

    server = LiveServer(ServerOptions(backend="dummy", sample_rate=48000, buffer_size=BLOCK))
    synth = LiveSynth("original", server)
    into = np.zeros(48000 * 2, dtype=np.float32)
    out = []
    synth.note(69, 1.0, 0.0)  # sounds through every capture
    for count in blocks:
        into[:] = 0.5  # what the shared memory held before
        synth.start_capture("output")
        for _ in range(count):
            server.server.process()
        got = synth.stop_capture(into)
        out.append((got, float(np.max(np.abs(into[:got])))))
    return out


def test_a_capture_cut_short_holds_what_was_recorded_and_nothing_older():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        long, short, none = pool.apply(_captures, ([40, 10, 0],))
    assert long[0] == 40 * BLOCK and 0.1 < long[1] <= 1.0
    assert short[0] == 10 * BLOCK  # not the 40 blocks the table held from the capture before
    assert none[1] == 0.0  # no block recorded: silence (refused as such), not the last capture's audio
