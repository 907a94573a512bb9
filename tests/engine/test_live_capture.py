"""A live capture holds what was recorded, never audio of an earlier capture (a late block, the dummy
clock catching up or JACK after an xrun, stops a capture short). The blocks are run by hand here, on
a dummy server of its own in a spawned process (pyo runs one server per process)."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

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


def test_a_capture_file_left_by_a_killed_server_is_removed_and_a_live_ones_kept(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from inversynth.engine.backends import ServerOptions
    from inversynth.engine.synth_client import CAPTURE_PREFIX, SynthClient, shared_memory_folder

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = Path(shared_memory_folder() or tmp_path)
    orphan = folder / f"{CAPTURE_PREFIX}{int(gone.stdout)}-abc123"
    kept = folder / f"{CAPTURE_PREFIX}{os.getppid()}-def456"  # a live process's (pytest's parent)
    for path in (orphan, kept):
        path.write_bytes(b"\0" * 16)
    lines: list[str] = []
    try:
        synth = SynthClient("original", ServerOptions("dummy"), voices=1, log=lines.append)
        synth.close()
        assert not orphan.exists() and kept.exists()
        assert any(str(orphan) in line for line in lines)
    finally:
        kept.unlink(missing_ok=True)
        orphan.unlink(missing_ok=True)


@pytest.mark.slow
def test_an_audio_process_that_keeps_dying_stays_down_and_says_why():
    import signal
    import time

    from inversynth.engine.backends import ServerOptions
    from inversynth.engine.synth_client import MAX_DEATHS, SynthClient

    lines: list[str] = []
    synth = SynthClient("original", ServerOptions("dummy"), voices=1, log=lines.append)
    try:
        for death in range(MAX_DEATHS + 1):
            pid = synth.pid
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while synth.restarts == death and time.monotonic() < deadline and not any("stays down" in x for x in lines):
                time.sleep(0.1)
        assert synth.restarts == MAX_DEATHS  # restarted after each of the first three deaths, with a back-off
        assert any("4 times in 60 s: it stays down" in line for line in lines), lines
    finally:
        synth.close()
