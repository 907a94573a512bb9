"""A live voice stops and starts again object by object, and the audio callback may compute a block
between any two of those calls (it takes the GIL whenever it is due). A block computed halfway must
never poison the voice: a stopped input reads zeros, ``Pow(0, -1)`` is inf, and one NaN stays in the
low-pass filter's state for every later note. Here a block is computed after every single call, on a
dummy server of its own in a spawned process (pyo runs one server per process)."""

from __future__ import annotations

import multiprocessing
from typing import Any

import numpy as np
import pytest

BLOCK = 256


def _finite_after_halfway_blocks(synth_name: str, patch: dict[str, float]) -> list[bool]:
    from inversynth.engine.backends import LiveServer, ServerOptions
    from inversynth.engine.live import LiveSynth

    server = LiveServer(ServerOptions(backend="dummy", sample_rate=48000, buffer_size=BLOCK))
    synth = LiveSynth(synth_name, server, voices=1)
    synth.load_patch(patch)
    voice = synth.voices[0]

    def then_a_block(method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            done = method(*args, **kwargs)
            server.server.process()
            return done

        return call

    for node in voice.sleepers:  # each play() and stop() is followed by a block, as the callback may
        for name in ("play", "stop"):
            setattr(node, name, then_a_block(getattr(node, name)))
    into = np.zeros(48000, dtype=np.float32)
    finite = []
    with server.lock:  # the dummy clock waits: these blocks are ours
        for _ in range(3):
            synth.note_on(0, 60, 0.8)  # wakes the voice
            synth.start_capture("output")
            for _ in range(20):
                server.server.process()
            synth.note_off(0)
            for _ in range(40):  # the release ends
                server.server.process()
            voice.sleep()
            got = synth.stop_capture(into)
            finite.append(bool(got > 0 and np.isfinite(into[:got]).all() and np.abs(into[:got]).max() > 1e-3))
    return finite


@pytest.mark.parametrize(
    ("synth", "patch"),
    [
        ("paper", {"A_saw": 0.5, "B_saw": 30.0, "v_saw": 5.0, "a": 0.001, "d": 0.001, "s": 1.0, "r": 0.01}),
        ("original", {"D": 0.3, "M": 5.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "release": 0.01}),
    ],
)
def test_a_block_computed_halfway_through_waking_or_sleeping_leaves_the_voice_sounding(synth, patch):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        finite = pool.apply(_finite_after_halfway_blocks, (synth, patch))
    assert finite == [True, True, True]  # every note sounds, finite, after halfway wakes and sleeps
