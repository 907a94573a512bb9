"""Captured live, a note is one note: the front end the capture-and-match loop uses (``notes`` with
``capture=True``) on the real audio process's captures, for every factory preset (dummy clock: the
captures go through the same shared memory and block timing as on JACK)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from inversynth.bridge.matching.audio_input import notes
from inversynth.engine.backends import ServerOptions
from inversynth.engine.live import audition_note
from inversynth.engine.synth_client import SynthClient
from inversynth.engine.synths import get_spec
from inversynth.presets.store import FACTORY, Bank

CAPTURE_SECONDS = 1.3


@pytest.mark.parametrize("synth", ["original", "paper"])
def test_every_factory_preset_captured_live_comes_back_as_one_whole_note(synth):
    spec = get_spec(synth)
    client = SynthClient(synth, ServerOptions(backend="dummy"), log=lambda _m: None)
    cut = []
    try:
        with ThreadPoolExecutor(1) as pool:
            for preset in (p for p in Bank(FACTORY).scan()[0] if p.synth == synth):
                client.panic()
                client.load_patch(dict(preset.params))
                client.stats()  # the patch is in the audio process
                capture = pool.submit(client.capture, CAPTURE_SECONDS)
                time.sleep(0.1)
                client.note(audition_note(synth, preset.params), 127)
                taken = capture.result(timeout=30)
                found = notes(taken.audio, taken.sample_rate, spec, preset.name, capture=True)
                whole = found[0].end >= min(found[0].start + spec.clip_seconds, CAPTURE_SECONDS) - 0.02
                if len(found) != 1 or not whole:
                    cut.append((preset.name, [(round(n.start, 3), round(n.end, 3)) for n in found]))
    finally:
        client.close()
    assert cut == []
