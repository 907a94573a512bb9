"""A real ``inversynth serve`` on the bench's JACK server, and the JACK clients that watch it.

Shared by ``bench live`` and ``bench soak``: an xrun counter, an onset probe
(a JACK client that sends MIDI and hears the server's output), the server
process with its CPU time from ``/proc``, and busy processes standing for a
musician's other programs.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine.spec import Param, SynthSpec
from inversynth.errors import BackendError
from inversynth.osc_client import OscClient, OscTimeout

ONSET_THRESHOLD = 1e-3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIDI_PORT = "bench-in"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


LATE_CLIENT = re.compile(r"JackEngine::XRun: client (?:= )?(\S+) (?:was not finished|finished after)")
LATE_DRIVER = "JackTimedDriver::Process XRun"
FLOOR_CLIENT = "bench-floor"  # jack_metro: a JACK client written in C, with no Python and no GIL


def steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests, summed over this machine's CPUs (0 on bare metal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / CLOCK_TICKS if len(fields) > 8 else 0.0


@dataclass(frozen=True)
class XrunMark:
    count: int
    log_offset: int
    steal: float
    time: float


class JackXruns:
    """Our own JACK client: counts the server's xruns; from jackd's log, which client was late at each.

    JACK blames a client that had not finished its period ("Triggered": not even woken yet;
    "Running": still computing) or the driver itself, woken too late by its timer. The steal time
    beside it says how much CPU the hypervisor took away meanwhile: on a virtual machine a client
    that is not scheduled for a few milliseconds is late whatever it computes.
    """

    def __init__(self, server: str, jackd_log: Path | None = None) -> None:
        import jack

        self.count = 0
        self.times: list[float] = []  # monotonic time of each
        self._log = jackd_log
        self._client = jack.Client(f"bench-monitor-{os.getpid()}", servername=server, no_start_server=True)
        self._client.set_xrun_callback(self._xrun)
        self._client.activate()

    def _xrun(self, _delay: float) -> None:
        self.count += 1
        self.times.append(time.monotonic())

    def mark(self) -> XrunMark:
        offset = self._log.stat().st_size if self._log is not None else 0
        return XrunMark(self.count, offset, steal_seconds(), time.monotonic())

    def since(self, mark: XrunMark) -> dict[str, Any]:
        """xruns since ``mark``, the clients JACK found late (and the driver), the CPU time stolen."""
        late: dict[str, int] = {}
        if self._log is not None:
            with self._log.open("rb") as file:
                file.seek(mark.log_offset)
                said = file.read().decode(errors="replace")
            for line in said.splitlines():
                found = LATE_CLIENT.search(line)
                who = found.group(1) if found else "driver" if LATE_DRIVER in line else None
                if who is not None:
                    late[who] = late.get(who, 0) + 1
        return {
            "seconds": round(time.monotonic() - mark.time, 2),
            "xruns": self.count - mark.count,
            "late": late,
            "steal_ms": round(1000 * (steal_seconds() - mark.steal)),
        }

    def during(self, seconds: float) -> dict[str, Any]:
        mark = self.mark()
        time.sleep(seconds)
        return self.since(mark)

    def close(self) -> None:
        self._client.deactivate()
        self._client.close()


def xrun_summary(phase: dict[str, Any]) -> str:
    """``3 (late: inversynth 2, driver 1; 40 ms stolen)``."""
    late = ", ".join(f"{who} {n}" for who, n in sorted(phase["late"].items(), key=lambda item: -item[1]))
    return f"{phase['xruns']} ({'late: ' + late + '; ' if late else ''}{phase['steal_ms']} ms stolen)"


@contextlib.contextmanager
def floor_client(server: str) -> Any:
    """jackd2's example client ``jack_metro`` in the graph: what any client costs this machine in xruns."""
    process = subprocess.Popen(
        ["jack_metro", "-n", FLOOR_CLIENT, "-b", "120"],
        env={**os.environ, "JACK_DEFAULT_SERVER": server},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while FLOOR_CLIENT not in _clients(server):
            if process.poll() is not None or time.monotonic() > deadline:
                raise BackendError("jack_metro did not join the bench's JACK server")
            time.sleep(0.1)
        yield
    finally:
        process.kill()
        process.wait()


def _clients(server: str) -> str:
    env = {**os.environ, "JACK_DEFAULT_SERVER": server}
    return subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, check=False).stdout


class OnsetProbe:
    """A JACK client in the server's graph: sends MIDI, hears the server's output, finds note onsets in frames."""

    def __init__(self, server: str, name: str, midi_target: str | None = None) -> None:
        import jack

        self.client = jack.Client(name, servername=server, no_start_server=True)
        self._midi = self.client.midi_outports.register("out")
        self._audio = self.client.inports.register("in")
        self._outgoing: list[bytes] = []
        self._offset = 0
        self._from: int | None = None  # frame time from which an onset counts
        self.sent: int | None = None
        self.onset: int | None = None
        self._found = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.client.connect("inversynth:output_1", self._audio)
        self.midi_port = self._midi.name
        if midi_target is not None:  # else the server connects to us (serve --midi-in)
            self.client.connect(self._midi, midi_target)

    def _process(self, frames: int) -> None:
        self._midi.clear_buffer()
        start = self.client.last_frame_time
        if self._outgoing:
            for data in self._outgoing:
                self._midi.write_midi_event(self._offset, data)
            self._outgoing = []
            self.sent = self._from = start + self._offset
        if self._from is not None:
            loud = np.flatnonzero(np.abs(self._audio.get_array()) > ONSET_THRESHOLD)
            loud = loud[start + loud >= self._from]
            if loud.size:
                self.onset, self._from = start + int(loud[0]), None
                self._found.set()

    def midi(self, *data: bytes) -> None:
        """Send MIDI messages in the next period, on a random frame of it."""
        self._found.clear()
        self._offset = random.randrange(self.client.blocksize)
        self._outgoing = list(data)

    def arm(self, from_frame: int) -> None:
        self._found.clear()
        self._from = from_frame

    def wait(self, timeout: float = 1.0) -> int | None:
        """The onset frame, or None when nothing sounded in time."""
        return self.onset if self._found.wait(timeout) else None

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (children of every thread: a process restarted by a
    thread of the server is that thread's child, not its main thread's)."""
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                queue += [int(c) for c in children.read_text().split()]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (those still running), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


class ServeProcess:
    """``inversynth serve --audio jack`` on the bench's JACK server, reachable over OSC and JACK MIDI."""

    def __init__(
        self, server: str, folder: Path, *options: str, midi: tuple[str, ...] = ("--midi-virtual", MIDI_PORT)
    ) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "serve.log"
        command = [sys.executable, "-m", "inversynth.cli", "serve", "--audio", "jack", "--midi-api", "jack"]
        self.process = subprocess.Popen(
            [*command, *midi, "--osc-port", str(port), "--bank", str(folder / "bank"), *options],
            env={**os.environ, "JACK_DEFAULT_SERVER": server, "XDG_CONFIG_HOME": str(folder / "config")},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        self.client = OscClient("127.0.0.1", port)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.status()
                break
            except OscTimeout:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise BackendError("inversynth serve did not start on the bench's JACK server") from None
        while (audio_pid := self._audio_pid_said()) is None:  # OSC answers before the start line is out
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise BackendError("inversynth serve answered but never said which process runs its audio")
            time.sleep(0.05)
        self.audio_pid = audio_pid

    def current_audio_pid(self) -> int:
        """The running audio process, from the server's log (its start line or its latest restart)."""
        pid = self._audio_pid_said()
        if pid is None:
            raise BackendError("the server's log names no audio process")
        return pid

    def _audio_pid_said(self) -> int | None:
        found = re.findall(r"(?:audio process|as process) (\d+)", self.log.read_text())
        return int(found[-1]) if found else None

    def status(self) -> tuple[Any, ...]:
        return self.client.request("/status", timeout=2.0)

    def set_patch(self, patch: dict[str, float]) -> None:
        for name, value in patch.items():
            self.client.send(f"/synth/param/{name}", value)
        self.status()

    def pids(self) -> list[int]:
        """The control process and everything it started (audio process, model worker)."""
        return process_tree(self.process.pid)

    def cpu_percent(self, seconds: float) -> dict[str, float]:
        """CPU use of the audio process and of the whole server over the next ``seconds`` (100 = one core)."""
        everything = self.pids()
        before = cpu_seconds([self.audio_pid]), cpu_seconds(everything)
        started = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - started
        after = cpu_seconds([self.audio_pid]), cpu_seconds(everything)
        return {"audio": 100 * (after[0] - before[0]) / elapsed, "server": 100 * (after[1] - before[1]) / elapsed}

    def close(self) -> int:
        """Stop the server as a service manager would; its exit status (-9: it did not stop within
        30 s of SIGTERM and was killed, with everything it started)."""
        if self.process.poll() is None:
            tree = self.pids()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in tree:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.client.close()
        return self.process.returncode


HOG = "while True: pass"


@contextlib.contextmanager
def cpu_hogs(count: int) -> Any:
    """``count`` busy processes at normal priority (other programs of a musician's machine), stopped after."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(5)


def swept_param(spec: SynthSpec) -> Param:
    """The parameter a load streams: an LFO's rate, which every sounding voice hears change."""
    return next(p for p in spec.params if p.rate)


def param_stream(client: OscClient, param: Param, rate: float, stop: threading.Event, sent: list[int]) -> None:
    """/synth/param/<param> sweeping its range at ``rate`` messages per second, on a deadline schedule."""
    period, count, next_at = 1.0 / rate, 0, time.perf_counter()
    while not stop.is_set():
        client.send(f"/synth/param/{param.name}", param.denormalise((count % 1000) / 999))
        count += 1
        next_at += period
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    sent.append(count)
