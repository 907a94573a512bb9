"""The audio process: the pyo server, the voices and the capture buffer — and nothing else.

pyo's audio callback takes the GIL every block, so whatever else runs Python
in its process can make it late (an xrun). Like SuperCollider's scsynth, the
synthesis therefore runs in a process of its own whose only Python thread
waits on one command channel: the control process (OSC, MIDI, presets,
matching, the status line) sends each command as one small pickled tuple
over a pipe, and :func:`run` applies it in a few microseconds of GIL.

Why a pipe: it wakes the waiting thread in the kernel (no polling, which
would itself hold the GIL), keeps commands in order, and its end-of-file
tells each side at once that the other has gone. ``inversynth bench live``
measures its round trip. Captured audio does not travel through it: the
audio process copies it into a shared-memory file that the control process
maps.

Messages to the audio process are ``(op, at, *args)`` (requests: ``(op, at,
request_id, *args)``, answered by a reply): ``at`` is 0 (now) or a
``time.monotonic()`` time (a clock every process shares) at which to apply
it — timetagged OSC bundles are kept here and applied in order, within one
audio block of their time. Messages back are ``("ready", info)``,
``("failed", reason)``, ``("reply", request_id, value)`` and ``("log", line)``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import mmap
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine.backends import LiveServer, ServerOptions
from inversynth.engine.live import LiveSynth

SWITCH_INTERVAL = 0.0002  # seconds: a thread holding the GIL hands it to pyo's callback this soon
REQUESTS = ("capture_start", "capture_stop", "stats")  # commands answered with ("reply", id, value)
MAX_SCHEDULED = 10000  # timetagged commands waiting; more are refused (a flood must not grow memory)


@dataclass(frozen=True)
class AudioConfig:
    """Everything the audio process needs to start (and to start again the same way)."""

    synth: str
    server: ServerOptions
    voices: int
    smoothing: float
    gain: float
    input_file: Path | None
    capture_file: Path  # shared memory: float32 samples, written by the audio process
    capture_samples: int


class CommandLoop:
    """Applies commands to ``synth`` as they arrive or when their time comes; sleeps finished voices."""

    def __init__(self, synth: LiveSynth, conn: Connection, capture: np.ndarray) -> None:
        self.synth = synth
        # A command applied during one block sounds from the next: timed ones go one block early,
        # so that their onset falls in the block that holds their time.
        self._lead = synth.server.buffer_size / synth.server.sample_rate
        self.conn = conn
        self.capture = capture
        self._scheduled: list[tuple[float, int, tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._refused = 0
        self.ops: dict[str, Callable[..., Any]] = {
            "patch": synth.load_patch,
            "bend": synth.bend,
            "note_on": synth.note_on,
            "note": synth.note,
            "note_off": synth.note_off,
            "all_notes_off": synth.all_notes_off,
            "panic": synth.panic,
            "expression": synth.expression,
            "source": synth.source,
            "routes": synth.set_routes,
            "mono": synth.set_mono,
            "glide": synth.set_glide,
            "capture_start": synth.start_capture,
            "capture_stop": lambda samples: synth.stop_capture(self.capture[:samples]),
            "stats": self._stats,
        }

    def run(self) -> None:
        next_sleep = math.inf
        while True:
            now = time.monotonic()
            while self._scheduled and self._scheduled[0][0] <= now + self._lead:
                self._apply(heapq.heappop(self._scheduled)[2])
            if next_sleep <= now:
                next_sleep = self.synth.sleep_finished()
            wake = min(next_sleep, self._scheduled[0][0] - self._lead if self._scheduled else math.inf)
            if not self.conn.poll(None if wake == math.inf else max(0.0, wake - time.monotonic())):
                continue
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return  # the control process has gone: so do we
            if message[0] == "close":
                return
            at = message[1]
            if at - self._lead > time.monotonic():
                self._schedule(at, message)
            else:
                self._apply(message)
            next_sleep = min(next_sleep, time.monotonic())  # a note may have ended another voice

    def _schedule(self, at: float, message: tuple[Any, ...]) -> None:
        if len(self._scheduled) >= MAX_SCHEDULED:
            self._refused += 1
            if self._refused == 1:
                self._log(f"more than {MAX_SCHEDULED} timetagged commands are waiting; later ones are dropped")
            return
        heapq.heappush(self._scheduled, (at, next(self._order), message))

    def _apply(self, message: tuple[Any, ...]) -> None:
        op, _at, *args = message
        request = args.pop(0) if op in REQUESTS else None
        try:
            value = self.ops[op](*args)
        except Exception as exc:  # a bad command must not stop the audio
            self._log(f"audio: {op} failed: {type(exc).__name__}: {exc}")
            value = None
        if request is not None:
            self.conn.send(("reply", request, value))

    def _stats(self) -> dict[str, float]:
        server = self.synth.server
        return {
            "active": self.synth.active_voices(),
            "awake": self.synth.awake_voices(),
            "xruns": server.xruns,
            "cpu_load": server.cpu_load,
        }

    def _log(self, line: str) -> None:
        self.conn.send(("log", line))


def map_capture(path: Path, samples: int) -> np.ndarray:
    """The shared capture buffer (created by the control process) as float32 samples (unmapped with the array)."""
    with open(path, "r+b") as file:
        return np.frombuffer(mmap.mmap(file.fileno(), samples * 4), dtype=np.float32, count=samples)


def _realtime_commands(conn: Connection) -> None:
    """Lift the command thread to the lowest realtime priority where the system allows it.

    It holds the GIL for a few microseconds per command; preempted meanwhile by any ordinary
    process, it would keep pyo's realtime callback waiting for the GIL (an xrun). At realtime
    priority 1 nothing ordinary preempts it, and JACK's own threads still come first.
    """
    if not hasattr(os, "sched_setscheduler"):
        return  # not on macOS or Windows: there the OS schedules audio its own way
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except OSError as exc:
        conn.send(("log", f"audio: the command thread runs without realtime priority ({exc.strerror or exc})"))


def run(conn: Connection, config: AudioConfig) -> None:
    """The audio process's main: boot, report ready (or why not), then serve commands until told to stop."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the control process decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        server = LiveServer(config.server)
        synth = LiveSynth(config.synth, server, config.voices, config.smoothing, config.gain, config.input_file)
        capture = map_capture(config.capture_file, config.capture_samples)
    except Exception as exc:
        conn.send(("failed", str(exc) or type(exc).__name__))
        return
    info = {"backend": server.backend, "sample_rate": server.sample_rate, "buffer_size": server.buffer_size}
    conn.send(("ready", info))
    _realtime_commands(conn)
    try:
        CommandLoop(synth, conn, capture).run()
    finally:
        synth.close()
