"""Live pyo servers on JACK, PortAudio, or the dummy clock.

``auto`` picks JACK when a JACK server runs, PortAudio when the machine has a
sound device, else ``dummy``: pyo's manual mode advanced in real time by a
thread of ours, which needs no sound card (captures and matches work the
same; only nobody hears it). PortAudio is never booted without a device,
because pyo segfaults there.

pyo's manual mode lets go of the GIL while it computes a block, so on the
dummy clock another thread creating, deleting or re-listing pyo objects
would race the computation (and crash). :attr:`LiveServer.lock` is held by
the clock for each block; everything that touches pyo objects while the
server runs takes it too. (pyo's JACK and PortAudio callbacks hold the GIL
for the block, so there the lock is only ever contended by our threads.)

On JACK a small monitor client (JACK-Client) counts the server's xruns and
reads its DSP load; on the dummy clock a block computed later than its
deadline counts as an xrun and the load is the share of each block's time
spent computing it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inversynth.engine.pyo_runtime import PYO_ERRORS_ONLY, boot_manual_server, pyo_module
from inversynth.errors import BackendError
from inversynth.native_output import native_stderr_silenced

BACKENDS = ("auto", "jack", "portaudio", "dummy")
DEFAULT_RATE = 48000
DEFAULT_BUFFER = 256
CHANNELS = 2


@dataclass(frozen=True)
class ServerOptions:
    """What the user asked for; JACK imposes its own rate and block size."""

    backend: str = "auto"
    sample_rate: int = DEFAULT_RATE
    buffer_size: int = DEFAULT_BUFFER
    client_name: str = "inversynth"


def jack_server_running() -> bool:
    """Whether a JACK server (``$JACK_DEFAULT_SERVER`` or the default) accepts clients, without starting one."""
    return _jack_client("inversynth-probe") is not None


def _jack_client(name: str) -> Any:
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        import jack
    except OSError:  # libjack missing: no JACK on this machine
        return None
    try:
        with native_stderr_silenced():  # libjack explains at length that no server runs
            return jack.Client(name, no_start_server=True)
    except jack.JackError:
        return None


def sound_device_present() -> bool:
    """Whether PortAudio has an output device to boot a server on (booting pyo on none would crash it).

    PortAudio itself answers, on every system (CoreAudio, WASAPI/MME, ALSA), without a server:
    no device counts 0 and has no default output (-1). Its JACK host API must not start a server.
    """
    pyo = pyo_module()
    previous = os.environ.get("JACK_NO_START_SERVER")
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        with native_stderr_silenced():  # ALSA lists every card it does not find
            return pyo.pa_count_devices() > 0 and pyo.pa_get_default_output() >= 0
    finally:
        if previous is None:
            os.environ.pop("JACK_NO_START_SERVER", None)


def resolve_backend(requested: str) -> str:
    if requested not in BACKENDS:
        raise BackendError(f"audio backend {requested!r} is unknown; use one of {', '.join(BACKENDS)}")
    if requested != "auto":
        return requested
    if jack_server_running():
        return "jack"
    if sound_device_present():
        return "portaudio"
    return "dummy"


class LiveServer:
    """A booted, running pyo server plus what we know of its health (xruns, load)."""

    def __init__(self, options: ServerOptions) -> None:
        self.backend = resolve_backend(options.backend)
        self.sample_rate = options.sample_rate
        self.buffer_size = options.buffer_size
        self._monitor: Any = None
        self._xruns = 0
        self._clock: DummyClock | None = None
        self.lock = threading.RLock()
        if self.backend == "jack":
            self.server = self._boot_jack(options.client_name)
        elif self.backend == "portaudio":
            self.server = self._boot_portaudio()
        else:
            self.server = boot_manual_server(self.sample_rate, self.buffer_size, CHANNELS)
            self._clock = DummyClock(self.server.process, self.lock, self.sample_rate, self.buffer_size)

    def _boot_jack(self, client_name: str) -> Any:
        monitor = _jack_client(f"{client_name}-monitor")
        if monitor is None:
            raise BackendError("no JACK server is running (start one, e.g. 'jackd -d dummy', or use --audio dummy)")
        self.sample_rate, self.buffer_size = monitor.samplerate, monitor.blocksize
        monitor.set_xrun_callback(self._count_xrun)
        monitor.activate()
        self._monitor = monitor
        return self._start("jack", "JACK", jackname=client_name)

    def _boot_portaudio(self) -> Any:
        if not sound_device_present():
            raise BackendError("no sound device found for PortAudio; use --audio jack or --audio dummy")
        return self._start("portaudio", "PortAudio")

    def _start(self, audio: str, what: str, **options: Any) -> Any:
        """Boot and start a duplex pyo server on a device backend."""
        server = pyo_module().Server(
            sr=self.sample_rate,
            nchnls=CHANNELS,
            buffersize=self.buffer_size,
            duplex=1,
            audio=audio,
            verbosity=PYO_ERRORS_ONLY,
            **options,
        )
        server.deactivateMidi()  # MIDI comes in through mido, not pyo's PortMidi
        server.boot()
        if not server.getIsBooted():
            raise BackendError(f"pyo could not boot its {what} server")
        server.start()
        return server

    def _count_xrun(self, _delay_usecs: float) -> None:
        self._xruns += 1

    def start_clock(self) -> None:
        """Start the dummy backend's clock (after the graph exists); no-op elsewhere."""
        if self._clock is not None:
            self._clock.start()

    @property
    def xruns(self) -> int:
        return self._clock.late_blocks if self._clock is not None else self._xruns

    @property
    def cpu_load(self) -> float:
        """DSP load in percent (JACK's own figure on JACK)."""
        if self._monitor is not None:
            return float(self._monitor.cpu_load())
        if self._clock is not None:
            return self._clock.load * 100.0
        return 0.0

    def describe(self) -> str:
        return f"{self.backend} {self.sample_rate} Hz/{self.buffer_size}"

    def close(self) -> None:
        if self._clock is not None:
            self._clock.stop()
        self.server.stop()
        time.sleep(2 * self.buffer_size / self.sample_rate)  # let the last callback return
        self.server.shutdown()
        if self._monitor is not None:
            self._monitor.deactivate()
            self._monitor.close()


class DummyClock:
    """Calls ``process`` once per block at the block rate of real time, in its own thread."""

    def __init__(self, process: Callable[[], None], lock: threading.RLock, sample_rate: int, buffer_size: int) -> None:
        self._process = process
        self._lock = lock
        self._period = buffer_size / sample_rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inversynth-dummy-clock", daemon=True)
        self.late_blocks = 0
        self.load = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        deadline = time.perf_counter()
        while not self._stop.is_set():
            started = time.perf_counter()
            with self._lock:
                self._process()
            busy = time.perf_counter() - started
            self.load += 0.05 * (busy / self._period - self.load)
            deadline += self._period
            lag = time.perf_counter() - deadline
            if lag > self._period:  # a whole block late: a real device would have dropped out
                self.late_blocks += 1
                deadline = time.perf_counter()
            elif lag < 0:
                time.sleep(-lag)
