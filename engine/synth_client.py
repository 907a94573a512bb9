"""The control process's handle on the audio process: the playable synth as every other part sees it.

:class:`SynthClient` validates what OSC, MIDI, the session and the matcher
ask, keeps the patch (so reads never cross to the audio process), tells its
listeners of every change, and sends each command down the pipe to the audio
process (:mod:`inversynth.engine.audio_process`). Every thread may call it.

It also keeps the audio process alive: a reader thread takes its replies
and log lines, and the moment the pipe closes — the process died, even by
``kill -9`` — it starts a new one with the same settings and patch, fails
the request in flight (a capture) with a clear message, and tells whoever
registered with :meth:`SynthClient.on_restart`.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine import audio_process
from inversynth.engine.audio_process import AudioConfig, map_capture
from inversynth.engine.backends import ServerOptions
from inversynth.engine.live import (
    BEND,
    DEFAULT_GAIN,
    DEFAULT_SMOOTHING,
    DEFAULT_VOICES,
    MAX_CAPTURE_SECONDS,
    check_capture_source,
)
from inversynth.engine.spec import CHANNEL_SOURCES, NOTE_SOURCES, ModRoute, SynthSpec
from inversynth.engine.synths import get_spec, get_voice
from inversynth.errors import BackendError, SpecError

DEFAULT_BEND_RANGE = 2.0  # semitones each way, the General MIDI default
VELOCITY_CURVES = {"linear": 1.0, "soft": 0.5, "hard": 2.0}  # gain = (velocity / 127) ** exponent
MAX_GLIDE = 10.0  # seconds of portamento
START_SECONDS = 60.0  # booting pyo and importing the engine; JACK may take a while to accept a client
REQUEST_SECONDS = 5.0
MAX_CAPTURE_RATE = 192000
MAX_SCHEDULE_AHEAD = 60.0  # seconds: a timetag further ahead is refused
RESTART_ATTEMPTS = 5
MAX_DEATHS, DEATH_WINDOW_S = 3, 60.0  # more deaths than this in the window: the audio stays down
CAPTURE_PREFIX = "inversynth-capture-"

ChangeListener = Callable[[str, float, str], None]
RestartListener = Callable[[str], None]


def velocity_gain(velocity: int, curve: str) -> float:
    """A note's level (0..1] for a MIDI velocity through a velocity curve."""
    return (velocity / 127.0) ** VELOCITY_CURVES[curve]


def check_velocity_curve(curve: str) -> str:
    if curve not in VELOCITY_CURVES:
        raise SpecError(f"velocity curve {curve!r} is unknown; use one of {', '.join(VELOCITY_CURVES)}")
    return curve


def _unit(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SpecError(f"{name} = {value!r} is outside 0..1")
    return float(value)


def check_note(note: object, velocity: object = 64) -> tuple[int, int]:
    if isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127:
        raise SpecError(f"note {note!r} is not a MIDI note number 0..127")
    if isinstance(velocity, bool) or not isinstance(velocity, int) or not 0 <= velocity <= 127:
        raise SpecError(f"velocity {velocity!r} is not 0..127")
    return note, velocity


@dataclass
class Capture:
    """Recorded audio (float32, mono, server rate) and when the recording ended (monotonic seconds)."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    source: str
    ended: float


@dataclass
class HeldKey:
    """A key down, as its note-on started it and its expression has moved since (sent again after a restart)."""

    note: int
    gain: float
    expression: dict[str, float]

    def note_on(self, key: int, at: float) -> tuple[Any, ...]:
        """The audio process's command that starts it."""
        return ("note_on", at, key, self.note, self.gain, dict(self.expression))


@dataclass(frozen=True)
class AudioStats:
    """The audio process's health, asked for on demand (the status line, ``/status``)."""

    active: int  # voices sounding
    awake: int  # voices computing (the others sleep)
    xruns: int
    cpu_load: float  # DSP load in percent
    restarts: int


class SynthClient:
    """``voices`` voices of ``synth`` in an audio process of their own."""

    def __init__(
        self,
        synth: str,
        server: ServerOptions,
        voices: int = DEFAULT_VOICES,
        bend_range: float = DEFAULT_BEND_RANGE,
        smoothing: float = DEFAULT_SMOOTHING,
        gain: float = DEFAULT_GAIN,
        input_file: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        if voices < 1:
            raise SpecError(f"voices = {voices}; use at least 1")
        self.spec: SynthSpec = get_spec(synth)
        self.voices = voices
        self.bend_range = bend_range
        self.patch = self.spec.defaults()
        self.log = log
        self.restarts = 0
        self._deaths = 0
        self._death_times: list[float] = []
        self._xruns = (0, 0)  # (xruns of processes that died, last count of the running one)
        self._bend_ratio = 1.0
        self.velocity_curve = "linear"
        # How it plays, beside the patch: a restarted audio process gets these back too.
        self.playing: dict[str, Any] = {
            "mono": False,
            "glide": 0.0,
            "routes": self.spec.modulation,
            **{f"source:{name}": 0.0 for name in CHANNEL_SOURCES},
        }
        self._listeners: list[ChangeListener] = []
        self._restart_listeners: list[RestartListener] = []
        self._send_lock = threading.Lock()
        self._capture_lock = threading.Lock()
        self._held: dict[int, HeldKey] = {}  # keys down, by key: under _send_lock
        self._pending: dict[int, Future[Any]] = {}  # requests awaiting a reply, by id: under _pending_lock
        self._pending_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._closing = False
        _remove_orphaned_captures(self.log)
        fd, name = tempfile.mkstemp(prefix=f"{CAPTURE_PREFIX}{os.getpid()}-", dir=shared_memory_folder())
        self._capture_path = Path(name)
        samples = round(MAX_CAPTURE_SECONDS * MAX_CAPTURE_RATE)
        os.ftruncate(fd, samples * 4)  # sparse: pages exist once written
        os.close(fd)
        self._config = AudioConfig(synth, server, voices, smoothing, gain, input_file, self._capture_path, samples)
        try:
            self._capture = map_capture(self._capture_path, samples)
            self._start()
        except BaseException:
            self._capture_path.unlink(missing_ok=True)
            raise

    # --- the audio process ------------------------------------------------------------------

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=audio_process.run, args=(theirs, self._config), name="inversynth-audio", daemon=True
        )
        process.start()
        theirs.close()
        deadline = time.monotonic() + START_SECONDS
        while not ours.poll(0.1):
            if not process.is_alive() or time.monotonic() > deadline:
                process.kill()
                raise BackendError(f"the audio process did not start (exit status {process.exitcode})")
        try:
            kind, info = ours.recv()
        except EOFError:
            process.join(5)
            raise BackendError(f"the audio process stopped while starting (exit status {process.exitcode})") from None
        if kind == "failed":
            process.join(5)
            raise BackendError(info)
        self.backend, self.sample_rate, self.buffer_size = info["backend"], info["sample_rate"], info["buffer_size"]
        with self._send_lock:  # a restarted process gets the patch and the bend of the one it replaces
            self._process, self._conn = process, ours
            self._send(("patch", 0.0, dict(self.patch)))
            self._send(("bend", 0.0, self._bend_ratio))
            for setting, value in self.playing.items():
                op, _, name = setting.partition(":")
                self._send((op, 0.0, *([name] if name else []), value))
            for key, held in self._held.items():  # keys still down sound again
                self._send(held.note_on(key, 0.0))
        threading.Thread(target=self._read, args=(ours, process), name="inversynth-audio-reader", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _read(self, conn: Any, process: Any) -> None:
        """Replies and log lines from the audio process; a closed pipe means it died."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "reply":
                with self._pending_lock:
                    future = self._pending.pop(message[1], None)
                if future is not None:
                    future.set_result(message[2])
            elif message[0] == "log":
                self.log(message[1])
        if not self._closing:
            self._restart(process)

    def _restart(self, dead: Any) -> None:
        dead.join(1.0)
        code = dead.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        self._deaths += 1
        now = time.monotonic()
        self._death_times = [t for t in self._death_times if now - t < DEATH_WINDOW_S] + [now]
        recent = len(self._death_times)
        if recent > MAX_DEATHS:
            self._fail_pending("the audio process stopped and stays down")
            self.log(
                f"audio: the audio process stopped ({how}), {recent} times in {DEATH_WINDOW_S:g} s: it stays down "
                "and the synth is silent; see the lines above for why, then restart the server"
            )
            return
        self.log(f"audio: the audio process stopped ({how}); starting a new one with the same patch")
        self._fail_pending("the audio process stopped; it is being restarted")
        time.sleep(2.0 ** (recent - 1) - 1)  # 0, 1, 3 s: a process that dies at once must not spin
        for attempt in range(1, RESTART_ATTEMPTS + 1):
            try:
                self._start()
                break
            except BackendError as exc:
                self.log(f"audio: restart {attempt} of {RESTART_ATTEMPTS} failed: {exc}")
                time.sleep(attempt)
        else:
            self.log("audio: the audio process cannot be restarted; the synth is silent")
            return
        self.restarts += 1
        self._xruns = (sum(self._xruns), 0)
        self.log(f"audio: restarted on {self.describe()} as process {self.pid} (restart {self.restarts})")
        for listener in self._restart_listeners:
            listener("restarted")

    def _fail_pending(self, reason: str) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(BackendError(reason))

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError):
            raise BackendError("the audio process is restarting; try again in a moment") from None

    def _command(self, op: str, *args: Any) -> None:
        with self._send_lock:
            self._send((op, self._at(), *args))

    def _request(self, op: str, *args: Any, timeout: float = REQUEST_SECONDS) -> Any:
        future: Future[Any] = Future()
        with self._send_lock:
            request = next(self._ids)
            with self._pending_lock:
                self._pending[request] = future
            self._send((op, 0.0, request, *args))
        try:
            return future.result(timeout)
        except TimeoutError:
            with self._pending_lock:
                self._pending.pop(request, None)
            raise BackendError(f"the audio process did not answer {op} within {timeout:g} s") from None

    # --- timetags ---------------------------------------------------------------------------

    @contextmanager
    def scheduled(self, at: float) -> Iterator[None]:
        """Commands sent by this thread inside the block sound at monotonic time ``at`` (in order)."""
        if not at <= time.monotonic() + MAX_SCHEDULE_AHEAD:
            raise SpecError(f"a timetag {at - time.monotonic():.0f} s ahead is beyond {MAX_SCHEDULE_AHEAD:g} s")
        self._local.at = at
        try:
            yield
        finally:
            self._local.at = 0.0

    def _at(self) -> float:
        return getattr(self._local, "at", 0.0)

    # --- parameters -------------------------------------------------------------------------

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(name, real_value, source)`` after every parameter change."""
        self._listeners.append(listener)

    def on_restart(self, listener: RestartListener) -> None:
        """Call ``listener(what)`` after the audio process was restarted."""
        self._restart_listeners.append(listener)

    def set_param(self, name: str, value: object, source: str = "") -> float:
        """Set one parameter in real units (validated; sounding voices glide there)."""
        return self.load_patch({name: value}, source)[name]

    def set_normalised(self, name: str, position: object, source: str = "") -> float:
        param = self.spec.param(name)
        if isinstance(position, bool) or not isinstance(position, int | float) or not 0 <= position <= 1:
            raise SpecError(f"normalised value {position!r} for '{name}' is outside 0..1")
        return self.set_param(name, param.denormalise(float(position)), source)

    def load_patch(self, values: Mapping[str, object], source: str = "") -> dict[str, float]:
        """Set several parameters at once (all validated before any changes)."""
        checked = {name: self.spec.param(name).validate(value) for name, value in values.items()}
        with self._send_lock:
            self.patch.update(checked)
            self._send(("patch", self._at(), checked))
        for name, value in checked.items():
            for listener in self._listeners:
                listener(name, value, source)
        return dict(self.patch)

    # --- playing ----------------------------------------------------------------------------

    def note_on(
        self, note: int, velocity: int, key: int | None = None, expression: Mapping[str, float] | None = None
    ) -> None:
        """Key down: a gated note held until :meth:`note_off` (velocity 0 is a note off).

        ``key`` names the note for its note-off and expression (default: the note number; an MPE
        member channel uses its own); ``expression`` is its start (bend ratio, note sources).
        """
        note, velocity = check_note(note, velocity)
        key = note if key is None else key
        if velocity == 0:
            self.note_off(key)
        else:
            gain = velocity_gain(velocity, self.velocity_curve)
            with self._send_lock:
                self._held[key] = held = HeldKey(note, gain, dict(expression or {}))
                self._send(held.note_on(key, self._at()))

    def note(self, note: int, velocity: int, seconds: float = 0.0) -> None:
        """A fixed-length note: the patch's whole time-driven envelope, as in a rendered clip.

        ``seconds`` > 0 cuts it short: the note is released from its level after that time.
        """
        note, velocity = check_note(note, velocity)
        if not math.isfinite(seconds) or not 0 <= seconds <= 600:
            raise SpecError(f"note length {seconds} s is outside 0..600 s")
        if velocity > 0:
            self._command("note", note, velocity_gain(velocity, self.velocity_curve), float(seconds))

    def note_off(self, key: int) -> None:
        """Key up: ``key`` as given to :meth:`note_on` (the note number by default)."""
        with self._send_lock:
            self._held.pop(key, None)
            self._send(("note_off", self._at(), key))

    def note_bend(self, key: int, semitones: float) -> None:
        """One note's own pitch bend (MPE), in semitones."""
        if not math.isfinite(semitones) or abs(semitones) > 96:
            raise SpecError(f"note bend {semitones} semitones is outside ±96")
        self._express(key, BEND, 2.0 ** (semitones / 12.0))

    def note_source(self, key: int, name: str, value: float) -> None:
        """One note's own modulation source (its pressure, its MPE slide), 0..1."""
        if name not in NOTE_SOURCES:
            raise SpecError(f"{name!r} is not a per-note source; use one of {', '.join(NOTE_SOURCES)}")
        self._express(key, name, _unit(name, value))

    def _express(self, key: int, name: str, value: float) -> None:
        with self._send_lock:
            if key in self._held:
                self._held[key].expression[name] = value
            self._send(("expression", self._at(), key, name, value))

    def source(self, name: str, value: float) -> None:
        """A modulation source of every voice (the mod wheel, channel pressure), 0..1."""
        if name not in CHANNEL_SOURCES:
            raise SpecError(f"{name!r} is not a channel source; use one of {', '.join(CHANNEL_SOURCES)}")
        self._set_playing("source", _unit(name, value), name)

    def set_routes(self, routes: Sequence[ModRoute]) -> None:
        """Replace the modulation routes; each must move a param a live voice can modulate."""
        movable = get_voice(self.spec.name).modulatable()
        for route in routes:
            if route.param not in movable:
                raise SpecError(
                    f"'{route.param}' cannot be modulated; synth '{self.spec.name}' modulates {', '.join(movable)}"
                )
        self._set_playing("routes", tuple(routes))

    @property
    def routes(self) -> tuple[ModRoute, ...]:
        return tuple(self.playing["routes"])

    def set_mono(self, mono: bool) -> None:
        """One voice, last-note priority, legato (held notes are released on a switch)."""
        with self._send_lock:
            self._held.clear()
        self._set_playing("mono", bool(mono))

    def set_glide(self, seconds: float) -> None:
        """Portamento time in mono mode, 0 (off) .. 10 s."""
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_GLIDE:
            raise SpecError(f"glide {seconds} s is outside 0..{MAX_GLIDE:g} s")
        self._set_playing("glide", float(seconds))

    def set_velocity_curve(self, curve: str) -> None:
        self.velocity_curve = check_velocity_curve(curve)

    def _set_playing(self, op: str, value: Any, name: str = "") -> None:
        with self._send_lock:
            self.playing[f"{op}:{name}" if name else op] = value
            self._send((op, self._at(), *([name] if name else []), value))

    def all_notes_off(self) -> None:
        """Release every held key (CC 123)."""
        self._release_all("all_notes_off")

    def panic(self) -> None:
        """Silence every voice within a few milliseconds (CC 120, /synth/panic)."""
        self._release_all("panic")

    def _release_all(self, op: str) -> None:
        with self._send_lock:
            self._held.clear()
            self._send((op, self._at()))

    def bend(self, semitones: float) -> None:
        """Pitch bend of every voice, in semitones within ± bend range (beyond it: SpecError, the bend
        stays where it was — a bend clamped without a word would stay on and detune the next capture)."""
        if not math.isfinite(semitones) or abs(semitones) > self.bend_range:
            raise SpecError(f"pitch bend {semitones:g} semitones is outside ±{self.bend_range:g} (the bend range)")
        with self._send_lock:
            self._bend_ratio = 2.0 ** (semitones / 12.0)
            self._send(("bend", self._at(), self._bend_ratio))

    def bend_normalised(self, position: float) -> None:
        """Pitch bend from -1..1 (a MIDI pitch wheel) to ± bend range."""
        self.bend(max(-1.0, min(1.0, position)) * self.bend_range)

    # --- state ------------------------------------------------------------------------------

    def stats(self) -> AudioStats:
        values = self._request("stats")
        self._xruns = (self._xruns[0], values["xruns"])
        return AudioStats(values["active"], values["awake"], sum(self._xruns), values["cpu_load"], self.restarts)

    def active_voices(self) -> int:
        return self.stats().active

    def describe(self) -> str:
        return f"{self.backend} {self.sample_rate} Hz/{self.buffer_size}"

    # --- capture ----------------------------------------------------------------------------

    def capture(self, seconds: float, source: str = "output") -> Capture:
        """Record ``seconds`` of the synth's dry output or of the audio input; blocks until done.

        Call from a worker thread. The capture ends (``Capture.ended``) ``seconds`` after the
        recording started, give or take a block; the audio comes back through shared memory.
        """
        check_capture_source(source)
        if not math.isfinite(seconds) or not 0.05 <= seconds <= MAX_CAPTURE_SECONDS:
            raise SpecError(f"capture length {seconds} s is outside 0.05..{MAX_CAPTURE_SECONDS:g} s")
        samples = min(round(seconds * self.sample_rate), len(self._capture))
        block = self.buffer_size / self.sample_rate
        with self._capture_lock:
            deaths = self._deaths
            self._request("capture_start", source)
            started = time.monotonic()
            time.sleep(seconds + 2 * block)  # the recorder starts on the next block
            if self._deaths != deaths:
                raise BackendError("the audio process stopped during the capture; it was restarted, capture again")
            count = self._request("capture_stop", samples)
            audio = self._capture[:count].copy()
        return Capture(audio, self.sample_rate, source, started + seconds)

    def close(self) -> None:
        self._closing = True
        try:
            with self._send_lock:
                self._conn.send(("close", 0.0))
        except (OSError, ValueError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
        self._capture_path.unlink(missing_ok=True)


def _remove_orphaned_captures(log: Callable[[str], None]) -> None:
    """Capture files of control processes that died without cleaning up (killed: no ``finally`` ran);
    each is named after its process, so a live one's is never touched. Not on Windows, where
    ``os.kill(pid, 0)`` would end the process rather than probe it (and no file outlives its handle)."""
    if os.name == "nt":
        return
    folder = Path(shared_memory_folder() or tempfile.gettempdir())
    for path in folder.glob(f"{CAPTURE_PREFIX}*"):
        owner = path.name[len(CAPTURE_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            path.unlink(missing_ok=True)
            log(f"audio: removed {path}, left by process {owner}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def shared_memory_folder() -> str | None:
    """/dev/shm where it exists (memory, never the disk); else the system's temporary folder."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
