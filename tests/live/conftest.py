"""Real parts for the live tests: a JACK server on its dummy driver, ``inversynth serve`` on it, a JACK recorder.

pyo allows one server per process and the test process already renders
offline, so the live server always runs as a real ``inversynth serve``
subprocess, driven from here over OSC (UDP on 127.0.0.1) and JACK MIDI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from inversynth.engine.jack_dummy import RATE, dummy_jack_server
from inversynth.osc_client import OscClient, OscTimeout
from tests.helpers import eventually, free_port, udp_port_taken

PERIOD = 256
STARTUP_SECONDS = 60.0


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """A JACK server on the dummy driver (48 kHz, 256-frame periods), named uniquely; stopped afterwards."""
    with dummy_jack_server("inversynth-test", PERIOD) as (name, _realtime):
        previous = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = name
        os.environ["JACK_NO_START_SERVER"] = "1"
        yield name
    if previous is None:
        os.environ.pop("JACK_DEFAULT_SERVER", None)
    else:
        os.environ["JACK_DEFAULT_SERVER"] = previous


@dataclass
class Served:
    """A running ``inversynth serve`` and what the tests need to reach it."""

    process: subprocess.Popen[str]
    port: int
    bank: Path
    config: Path
    midi_port: str
    log: Path

    def client(self) -> OscClient:
        return OscClient("127.0.0.1", self.port)

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches the server as it does from a terminal, even when pytest itself was started in the
    background by a shell without job control (which starts it with SIGINT ignored, and Python keeps
    an ignored SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_serve(tmp: Path, *args: str, midi_port: str = "", port: int = 0) -> Served:
    """Start ``inversynth serve`` (on ``port``, or a free one) and wait until it answers ``/status``."""
    port = port or free_port()
    bank, config, log = tmp / "bank", tmp / "config", tmp / "serve.log"
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "XDG_DATA_HOME": str(tmp / "data"), "COLUMNS": "200"}
    command = [sys.executable, "-m", "inversynth.cli", "serve", "--osc-port", str(port), "--bank", str(bank), *args]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env, text=True, preexec_fn=_as_from_a_terminal
    )
    served = Served(process, port, bank, config, midi_port, log)
    client = served.client()
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"inversynth serve exited with {process.returncode}: {served.stderr()}")
            try:
                client.request("/status", timeout=0.5)
                break
            except OscTimeout:
                if time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"inversynth serve did not answer within {STARTUP_SECONDS:g} s: {served.stderr()}")
    finally:
        client.close()
    return served


def stop_serve(served: Served, how: signal.Signals = signal.SIGTERM) -> str:
    """SIGTERM as a service manager would (or SIGINT, Ctrl-C); the server must stop cleanly with status 0."""
    from inversynth.bridge.live.serve import STOP_SECONDS

    served.process.send_signal(how)
    try:  # past STOP_SECONDS a hung server says which part hung and exits: give it the time to say so
        code = served.process.wait(timeout=STOP_SECONDS + 10)
    except subprocess.TimeoutExpired:
        served.process.kill()
        pytest.fail(f"inversynth serve ignored {how.name} for {STOP_SECONDS + 10:g} s: {served.stderr()[-2000:]}")
    log = served.stderr()
    assert code == 0, log
    assert "stopped cleanly" in log
    assert "voices " in log and "xruns " in log and "osc " in log  # the final status line
    return log


@pytest.fixture(scope="module")
def jack_serve(jack_server, tmp_path_factory) -> Iterator[Served]:
    """``inversynth serve`` on the test JACK server with a virtual JACK MIDI input."""
    tmp = tmp_path_factory.mktemp("serve-jack")
    allowed = tmp / "allowed"
    allowed.mkdir()
    served = start_serve(
        tmp,
        "--audio",
        "jack",
        "--midi-api",
        "jack",
        "--midi-virtual",
        "synth-in",
        "--allow",
        str(allowed),
        # Refinement stops at its render count, not at the clock: match quality must not hang on how
        # busy the test machine is (a 300 ms budget on a loaded CI run once ended at 1.85 dB).
        "--refine-budget-ms",
        "5000",
        midi_port="inversynth-midi:synth-in",
    )
    yield served
    if served.process.poll() is None:
        stop_serve(served)


class JackRecorder:
    """A separate JACK client that records the server's left output into memory."""

    def __init__(self, source: str = "inversynth:output_1") -> None:
        import jack

        self._client = jack.Client(f"recorder-{os.getpid()}", no_start_server=True)
        self._port = self._client.inports.register("in")
        self._blocks: list[np.ndarray] = []
        self._arrivals: list[float] = []  # monotonic time of each block's process callback
        self._recording = threading.Event()
        self.xruns = 0  # JACK xruns while recording: a lost block is the machine's gap, not the synth's click
        self._client.set_process_callback(self._process)
        self._client.set_xrun_callback(self._xrun)
        self._client.activate()
        self._client.connect(source, self._port)
        self.sample_rate = self._client.samplerate

    def _process(self, _frames: int) -> None:
        if self._recording.is_set():
            self._blocks.append(np.array(self._port.get_array(), dtype=np.float32))
            self._arrivals.append(time.monotonic())

    def _xrun(self, _delay: float) -> None:
        if self._recording.is_set():
            self.xruns += 1

    @property
    def steady(self) -> bool:
        """Whether the last recording's clock kept time: no xrun, and no block more than one period
        late against the sample clock. The dummy driver is paced by a timer, so on a busy machine
        it runs late and catches up — what was timed in wall time then lands off by the delay."""
        if self.xruns or len(self._arrivals) < 2:
            return not self.xruns
        arrivals = np.asarray(self._arrivals)
        period = len(self._blocks[0]) / self.sample_rate
        lag = arrivals - arrivals[0] - period * np.arange(len(arrivals))
        return float(lag.max() - lag.min()) <= period

    def record(self, seconds: float) -> np.ndarray:
        self._blocks = []
        self._arrivals = []
        self.xruns = 0
        self._recording.set()
        time.sleep(seconds)
        self._recording.clear()
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)

    def close(self) -> None:
        self._client.deactivate()
        self._client.close()


@pytest.fixture
def recorder(jack_serve) -> Iterator[JackRecorder]:
    rec = JackRecorder()
    yield rec
    rec.close()


@pytest.fixture
def osc(jack_serve) -> Iterator[OscClient]:
    client = jack_serve.client()
    yield client
    client.send("/synth/panic")
    client.close()


def peak_frequency(audio: np.ndarray, sample_rate: int = RATE) -> float:
    """The strongest frequency of a clip (Hz), interpolated between FFT bins."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n=8 * len(audio)))
    return float(np.argmax(spectrum) * sample_rate / (8 * len(audio)))


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def open_midi_out(name: str, target: str | None):
    """A virtual JACK MIDI output of the test (``midi-test-<name>:<name>``), connected to ``target`` if given."""
    import mido

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    port = backend.open_output(name, virtual=True, client_name=f"midi-test-{name}")
    source = f"midi-test-{name}:{name}"
    if target is None:
        return port
    subprocess.run(["jack_connect", source, target], check=True, timeout=10)
    assert eventually(lambda: target in jack_connections(source), bool), f"{source} never reached {target}"
    return port


@pytest.fixture(scope="module")
def midi_out(jack_serve) -> Iterator:
    """The test's JACK MIDI output, connected to the server's virtual input."""
    port = open_midi_out("keys", jack_serve.midi_port)
    yield port
    port.close()


SUSTAINED = {"D": 0.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "release": 0.05}


@pytest.fixture
def sustained(osc) -> None:
    """A steady sine while a key is held, released in 50 ms."""
    for name, value in SUSTAINED.items():
        osc.send(f"/synth/param/{name}", value)
    osc.request("/status")


def cycle_frequencies(audio: np.ndarray, sample_rate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """The frequency of each cycle of a tone (Hz) and when it happened (s): rising zero crossings,
    interpolated between samples. Follows vibrato and glides that a spectrum would smear."""
    below = np.signbit(audio)
    rising = np.flatnonzero(below[:-1] & ~below[1:])
    a, b = audio[rising].astype(np.float64), audio[rising + 1].astype(np.float64)
    crossings = (rising + a / (a - b)) / sample_rate
    periods = np.diff(crossings)
    return crossings[:-1] + periods / 2, 1.0 / periods


def oscsend(port: int, address: str, types: str = "", *args: object) -> None:
    """liblo's ``oscsend`` to the server on 127.0.0.1:``port``."""
    subprocess.run(["oscsend", "127.0.0.1", str(port), address, types, *map(str, args)], check=True, timeout=10)


@contextmanager
def oscdump() -> Iterator[tuple[int, list[str]]]:
    """liblo's ``oscdump`` on a free port: yields the port and the list of what it prints, filled as it
    arrives (one ``<address> <types> <args>`` per message; ``-L``: a line at a time)."""
    listen = free_port()
    dump = subprocess.Popen(["oscdump", "-L", str(listen)], stdout=subprocess.PIPE, text=True)
    messages: list[str] = []

    def read() -> None:
        assert dump.stdout is not None
        for line in dump.stdout:
            messages.append(line.rstrip("\n").split(" ", 1)[1])  # after its "<timetag> "

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert eventually(lambda: udp_port_taken(listen), bool), f"oscdump never listened on {listen}"
        yield listen, messages
    finally:
        dump.terminate()
        dump.wait(timeout=5)
        reader.join(timeout=5)


def jack_connections(port: str) -> set[str]:
    """The ports ``port`` is connected to, as the test JACK server says now."""
    import jack

    client = jack.Client("connection-finder", no_start_server=True)
    try:
        return {other.name for other in client.get_all_connections(port)}
    finally:
        client.close()


def jack_ports(pattern: str) -> set[str]:
    """Names of the test JACK server's ports matching ``pattern`` (a regular expression)."""
    import jack

    client = jack.Client("port-finder", no_start_server=True)
    try:
        return {port.name for port in client.get_ports(name_pattern=pattern)}
    finally:
        client.close()
