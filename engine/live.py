"""The playable synth: polyphonic voices on a live pyo server.

One :class:`LiveSynth` owns the voices of one synth, the patch they share and
the voice allocator. Every thread may call it (OSC, MIDI, matching, the UI):
a lock keeps the allocator consistent and nothing here waits on the audio
thread except :meth:`LiveSynth.capture`, which is meant for worker threads.
Whoever registers with :meth:`LiveSynth.on_change` hears every parameter
change, whatever caused it.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine.backends import CHANNELS, LiveServer
from inversynth.engine.pyo_runtime import pyo_module
from inversynth.engine.spec import SynthSpec, nearest_note, note_frequency
from inversynth.engine.synths import get_spec, get_voice
from inversynth.engine.voice import SharedControls
from inversynth.errors import SpecError

DEFAULT_VOICES = 16
DEFAULT_BEND_RANGE = 2.0  # semitones each way, the General MIDI default
DEFAULT_SMOOTHING = 0.02  # seconds: parameter glides, short enough to feel instant
DEFAULT_GAIN = 0.25  # output level per voice at full velocity: 4 loud voices reach full scale
CAPTURE_SOURCES = ("output", "input")
MAX_CAPTURE_SECONDS = 30.0

ChangeListener = Callable[[str, float, str], None]


def audition_note(synth: str, patch: Mapping[str, float]) -> int:
    """The note that plays ``patch`` as rendered: its pitch parameter's nearest note (A4 if it has none)."""
    pitch = get_voice(synth).pitch_param
    return min(127, max(0, nearest_note(patch[pitch]))) if pitch else 69


def check_capture_source(source: str) -> str:
    if source not in CAPTURE_SOURCES:
        raise SpecError(f"capture source {source!r} is unknown; use one of {', '.join(CAPTURE_SOURCES)}")
    return source


def check_note(note: object, velocity: object = 64) -> tuple[int, int]:
    if isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127:
        raise SpecError(f"note {note!r} is not a MIDI note number 0..127")
    if isinstance(velocity, bool) or not isinstance(velocity, int) or not 0 <= velocity <= 127:
        raise SpecError(f"velocity {velocity!r} is not 0..127")
    return note, velocity


@dataclass
class VoiceState:
    """What the allocator knows of one voice."""

    note: int | None = None
    started: float = 0.0
    free_at: float = 0.0  # monotonic time from which the voice is silent (inf while a key holds it)
    generation: int = 0  # bumps on every start, so a late timer never releases a newer note


@dataclass
class Capture:
    """Recorded audio (float32, mono, server rate) and when the recording ended (monotonic seconds)."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    source: str
    ended: float


class LiveSynth:
    """``voices`` live voices of ``synth`` sounding through ``server``."""

    def __init__(
        self,
        synth: str,
        server: LiveServer,
        voices: int = DEFAULT_VOICES,
        bend_range: float = DEFAULT_BEND_RANGE,
        smoothing: float = DEFAULT_SMOOTHING,
        gain: float = DEFAULT_GAIN,
        input_file: Path | None = None,
    ) -> None:
        if voices < 1:
            raise SpecError(f"voices = {voices}; use at least 1")
        pyo = pyo_module()
        self.spec: SynthSpec = get_spec(synth)
        self.server = server
        self.bend_range = bend_range
        self.patch = self.spec.defaults()
        self._lock = server.lock  # held for every pyo call: see engine/backends.py
        self._listeners: list[ChangeListener] = []
        voice_class = get_voice(synth)
        self.shared = SharedControls.create(voice_class, self.patch, smoothing)
        self.voices = [voice_class(server.sample_rate, shared=self.shared) for _ in range(voices)]
        self._states = [VoiceState() for _ in self.voices]
        self._counter = itertools.count(1)
        # The dry sum is what captures hear (a voice at full velocity peaks at A, as in a rendered clip).
        self.dry = pyo.Mix([v.output for v in self.voices], voices=1)
        self._out = pyo.Sig([self.dry] * CHANNELS, mul=gain).out()
        self._input_player: Any = None
        self.input = self._input_signal(input_file)
        # Captures reuse one table and recorder: creating and freeing pyo objects
        # while the server runs costs the audio thread and has crashed pyo.
        self._capture_lock = threading.Lock()
        self._tap = pyo.Sig(self.dry)
        self._capture_table = pyo.NewTable(length=MAX_CAPTURE_SECONDS, chnls=1)
        self._recorder = pyo.TableRec(self._tap, self._capture_table)
        server.start_clock()

    def _input_signal(self, input_file: Path | None) -> Any:
        """The audio input: the device's first input, or on the dummy backend a file.

        The file plays once from its start whenever a capture of the input
        starts, like a sound played into a microphone after pressing record.
        """
        pyo = pyo_module()
        if self.server.backend != "dummy":
            return pyo.Input(chnl=0)
        if input_file is None:
            return pyo.Sig(0.0)
        from inversynth.bridge.audio_input import load_mono  # soundfile + soxr, no pyo

        mono = load_mono(input_file, self.server.sample_rate)
        table = pyo.DataTable(size=len(mono), init=mono.tolist())
        self._input_player = pyo.TableRead(table, freq=table.getRate(), loop=False)
        return self._input_player

    # --- parameters -------------------------------------------------------------------------

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(name, real_value, source)`` after every parameter change."""
        self._listeners.append(listener)

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
        with self._lock:
            self.patch.update(checked)
            for name, value in checked.items():
                self.shared.set(name, value)
            for voice in self.voices:
                voice.patch.update(checked)
        self._notify(checked, source)
        return dict(self.patch)

    def _notify(self, changes: Mapping[str, float], source: str) -> None:
        for name, value in changes.items():
            for listener in self._listeners:
                listener(name, value, source)

    # --- playing ----------------------------------------------------------------------------

    def note_on(self, note: int, velocity: int) -> None:
        """Key down: a gated note held until :meth:`note_off` (velocity 0 is a note off)."""
        note, velocity = check_note(note, velocity)
        if velocity == 0:
            self.note_off(note)
            return
        self._start(note, velocity, gated=True)

    def note(self, note: int, velocity: int, seconds: float = 0.0) -> None:
        """A fixed-length note: the patch's whole time-driven envelope, as in a rendered clip.

        ``seconds`` > 0 cuts it short: the note is released from its level after that time.
        """
        note, velocity = check_note(note, velocity)
        if not math.isfinite(seconds) or not 0 <= seconds <= 600:
            raise SpecError(f"note length {seconds} s is outside 0..600 s")
        if velocity == 0:
            return
        index, generation, length = self._start(note, velocity, gated=False)
        if 0 < seconds < length:
            timer = threading.Timer(seconds, self._release_if_current, (index, generation))
            timer.daemon = True
            timer.start()

    def note_off(self, note: int) -> None:
        check_note(note)
        with self._lock:
            for index, state in enumerate(self._states):
                if state.note == note and state.free_at == math.inf:
                    self._release(index)

    def all_notes_off(self) -> None:
        """Release every held key (CC 123)."""
        with self._lock:
            for index, state in enumerate(self._states):
                if state.free_at == math.inf:
                    self._release(index)

    def panic(self) -> None:
        """Silence every voice within a few milliseconds (CC 120, /synth/panic)."""
        with self._lock:
            now = time.monotonic()
            for voice, state in zip(self.voices, self._states, strict=True):
                voice.silence()
                state.note, state.free_at = None, now
                state.generation += 1

    def bend(self, semitones: float) -> None:
        """Pitch bend of every voice, in semitones (clamped to ± bend range)."""
        if not math.isfinite(semitones):
            raise SpecError(f"pitch bend {semitones} is not a number")
        clamped = max(-self.bend_range, min(self.bend_range, semitones))
        with self._lock:
            self.shared.bend.value = 2.0 ** (clamped / 12.0)

    def bend_normalised(self, position: float) -> None:
        """Pitch bend from -1..1 (a MIDI pitch wheel) to ± bend range."""
        self.bend(max(-1.0, min(1.0, position)) * self.bend_range)

    def active_voices(self) -> int:
        now = time.monotonic()
        return sum(1 for state in self._states if state.free_at > now)

    def _start(self, note: int, velocity: int, gated: bool) -> tuple[int, int, float]:
        with self._lock:
            index = self._allocate()
            state = self._states[index]
            length = self.voices[index].play(note_frequency(note), velocity / 127.0, gated)
            now = time.monotonic()
            state.note, state.started = note, now
            state.free_at = math.inf if gated else now + length
            state.generation = next(self._counter)
            return index, state.generation, length

    def _allocate(self) -> int:
        """A silent voice (silent longest first), else steal the oldest note."""
        now = time.monotonic()
        silent = [i for i, s in enumerate(self._states) if s.free_at <= now]
        if silent:
            return min(silent, key=lambda i: self._states[i].free_at)
        return min(range(len(self._states)), key=lambda i: self._states[i].started)

    def _release(self, index: int) -> None:
        state = self._states[index]
        state.free_at = time.monotonic() + self.voices[index].release()

    def _release_if_current(self, index: int, generation: int) -> None:
        with self._lock:
            if self._states[index].generation == generation and self._states[index].free_at > time.monotonic():
                self._release(index)

    # --- capture ----------------------------------------------------------------------------

    def capture(self, seconds: float, source: str = "output") -> Capture:
        """Record ``seconds`` of the synth's dry output or of the audio input; blocks until done.

        Call from a worker thread: the audio thread only fills a table. The
        capture ends (``Capture.ended``) ``seconds`` after the request, give or take a block.
        """
        check_capture_source(source)
        if not math.isfinite(seconds) or not 0.05 <= seconds <= MAX_CAPTURE_SECONDS:
            raise SpecError(f"capture length {seconds} s is outside 0.05..{MAX_CAPTURE_SECONDS:g} s")
        n_samples = round(seconds * self.server.sample_rate)
        block = self.server.buffer_size / self.server.sample_rate
        with self._capture_lock:
            with self._lock:
                self._tap.value = self.dry if source == "output" else self.input
                if source == "input" and self._input_player is not None:
                    self._input_player.reset()
                    self._input_player.play()
                self._recorder.play()
            started = time.monotonic()
            time.sleep(seconds + 2 * block)  # the recorder starts on the next block
            with self._lock:
                self._recorder.stop()
                audio = np.asarray(self._capture_table.getBuffer(), dtype=np.float32)[:n_samples].copy()
            ended = started + seconds
        return Capture(audio, self.server.sample_rate, source, ended)

    def close(self) -> None:
        self.server.close()
