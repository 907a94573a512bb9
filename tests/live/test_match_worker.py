"""The match worker under faults, with its real parts: a spawned worker process holding the shipped
model, the session, the audio process on the dummy backend, audio files in an allowed folder."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inversynth.audio_files import write_audio
from inversynth.bridge.live.match_worker import MatchWorker, MatchWorkerDied
from inversynth.bridge.live.session import Session
from inversynth.bridge.matching.match import MatchOptions
from inversynth.bridge.matching.refine import DEFAULT_BUDGET
from inversynth.engine.backends import ServerOptions
from inversynth.engine.render import renderer
from inversynth.engine.spec import SpecError
from inversynth.engine.synth_client import SynthClient
from inversynth.engine.synths import get_spec
from inversynth.errors import InversynthError
from inversynth.presets.store import Bank
from tests.helpers import eventually

SPEC = get_spec("original")
LONG = MatchOptions(refine=True, budget=replace(DEFAULT_BUDGET, ms=60_000, renders=100_000))


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Iterator[tuple[Session, MatchWorker, list[str], object]]:
    lines: list[str] = []
    folder = tmp_path_factory.mktemp("allowed")
    clip = renderer("original").render(SPEC.to_array(SPEC.defaults())[None, :], SPEC.clip_samples)[0]
    write_audio(folder / "note.wav", clip, SPEC.sample_rate)
    synth = SynthClient("original", ServerOptions("dummy"), voices=2, log=lines.append)
    worker = MatchWorker(SPEC, log=lines.append)
    session = Session(
        synth, Bank(tmp_path_factory.mktemp("bank")), worker, [folder], log=lines.append, match_options=LONG
    )
    yield session, worker, lines, folder / "note.wav"
    session.close()
    synth.close()


def test_a_worker_killed_while_idle_is_replaced_and_the_next_match_goes_on(parts):
    session, worker, lines, note = parts
    dead = worker.pid()
    os.kill(dead, signal.SIGKILL)
    assert eventually(lambda: Path(f"/proc/{dead}").exists(), lambda alive: not alive) is False  # reaped
    future = session.match_file(str(note))
    session.cancel_match()  # no refinement needed here: only that the new worker answers
    assert future.result(timeout=120).match.distance_db < 3.0
    assert worker.pid() != dead and worker.restarts == 1
    assert any("match worker died while idle and was started again" in line for line in lines)


def test_a_worker_killed_while_matching_fails_that_request_with_the_reason_and_the_next_works(parts):
    session, worker, lines, note = parts
    refining = threading.Event()
    session.on_match(lambda report: None if report.final else refining.set())
    dead = worker.pid()
    future = session.match_file(str(note))  # refines for up to 60 s
    assert refining.wait(60)
    os.kill(dead, signal.SIGKILL)
    with pytest.raises(MatchWorkerDied, match="started again"):
        future.result(timeout=120)
    assert any("match worker died while matching and was started again" in line for line in lines)
    again = session.match_file(str(note))
    session.cancel_match()
    assert again.result(timeout=120).match.distance_db < 3.0


def test_a_cancel_while_a_match_is_estimating_is_not_lost(parts):
    """The request is cancelled before its refinement starts: it must skip it (it would otherwise
    refine for its 60 s budget), answering with the network's estimate at once."""
    session, _, _, note = parts
    started = time.monotonic()
    future = session.match_file(str(note))
    session.cancel_match()
    report = future.result(timeout=30)
    assert report.match.refinement is None and time.monotonic() - started < 30
    again = session.match_file(str(note))  # a later request refines again: the cancel was that one's
    time.sleep(1.0)
    session.cancel_match()
    refined = again.result(timeout=30).match.refinement
    assert refined is not None and refined.stopped == "cancelled"


def test_a_second_capture_while_one_records_is_refused_with_its_reason(parts):
    session, _, _, _ = parts
    first = session.match_capture(1.0)
    with pytest.raises(SpecError, match="already recording"):
        session.match_capture(1.0)
    session.cancel_match()
    with pytest.raises(InversynthError):  # a capture of silence cannot be matched; it is over, though
        first.result(timeout=30)
    session.match_capture(0.2).exception(timeout=30)  # the next capture is accepted
    assert np.isfinite(session.synth.stats().cpu_load)
