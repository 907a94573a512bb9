"""The playable synth inside the audio process: polyphonic voices on a live pyo server.

:class:`LiveSynth` owns the voices of one synth, the patch they share, the
voice allocator and the capture recorder. It runs in the audio process (see
:mod:`inversynth.engine.audio_process`), on one thread, and takes values that
the control process has already validated: every method is a few pyo calls.
Voices whose envelope has finished are put to sleep by :meth:`sleep_finished`
and woken by their next note.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine.backends import CHANNELS, LiveServer
from inversynth.engine.pyo_runtime import pyo_module
from inversynth.engine.spec import CHANNEL_SOURCES, NOTE_SOURCES, ModRoute, SynthSpec, nearest_note, note_frequency
from inversynth.engine.synths import get_spec, get_voice
from inversynth.engine.voice import SharedControls
from inversynth.errors import SpecError

DEFAULT_VOICES = 16
DEFAULT_SMOOTHING = 0.02  # seconds: parameter glides, short enough to feel instant
DEFAULT_GAIN = 0.25  # output level per voice at full velocity: 4 loud voices reach full scale
CAPTURE_SOURCES = ("output", "input")
MAX_CAPTURE_SECONDS = 30.0
SLEEP_MARGIN = 0.02  # seconds after a voice's envelope ends (a block or two late) before it sleeps
COPY_CHUNK = 16384  # samples copied per GIL hold when a capture is handed over


def audition_note(synth: str, patch: Mapping[str, float]) -> int:
    """The note that plays ``patch`` as rendered: its pitch parameter's nearest note (A4 if it has none)."""
    pitch = get_voice(synth).pitch_param
    return min(127, max(0, nearest_note(patch[pitch]))) if pitch else 69


def check_capture_source(source: str) -> str:
    if source not in CAPTURE_SOURCES:
        raise SpecError(f"capture source {source!r} is unknown; use one of {', '.join(CAPTURE_SOURCES)}")
    return source


BEND = "bend"  # a voice's own pitch-bend ratio (MPE), beside its NOTE_SOURCES
NOTE_BEND_SECONDS = 0.005  # a per-note bend follows this closely: MPE slides are played, not set


def neutral_expression() -> dict[str, float]:
    return {BEND: 1.0, **dict.fromkeys(NOTE_SOURCES, 0.0)}


@dataclass
class VoiceState:
    """What the allocator knows of one voice."""

    key: int | None = None  # who plays it: a note number, or an MPE member channel's key
    note: int = 69
    started: int = 0  # allocation order
    begun: float = -math.inf  # monotonic time of its note's start
    free_at: float = 0.0  # monotonic time from which the voice is silent (inf while a key holds it)
    expression: dict[str, float] = field(default_factory=neutral_expression)


@dataclass(frozen=True)
class MonoKey:
    """A key held in mono mode: the voice returns to it when a later key is let go."""

    key: int
    note: int
    expression: dict[str, float]


class LiveSynth:
    """``voices`` live voices of ``synth`` sounding through ``server``."""

    def __init__(
        self,
        synth: str,
        server: LiveServer,
        voices: int = DEFAULT_VOICES,
        smoothing: float = DEFAULT_SMOOTHING,
        gain: float = DEFAULT_GAIN,
        input_file: Path | None = None,
    ) -> None:
        pyo = pyo_module()
        self.spec: SynthSpec = get_spec(synth)
        self.server = server
        self._lock = server.lock  # held for every pyo call: see engine/backends.py
        self._smoothing = smoothing
        self._block = server.buffer_size / server.sample_rate
        voice_class = get_voice(synth)
        self.shared = SharedControls.create(voice_class, self.spec.defaults(), smoothing)
        self.voices = [voice_class(server.sample_rate, shared=self.shared) for _ in range(voices)]
        self._states = [VoiceState() for _ in self.voices]
        self._clock = itertools.count()
        self._routes: tuple[ModRoute, ...] = self.spec.modulation
        self._sources = dict.fromkeys(CHANNEL_SOURCES, 0.0)
        self._mono = False
        self._glide = 0.0  # seconds of portamento in mono mode; 0: off
        self._mono_keys: list[MonoKey] = []  # held keys in mono mode, the sounding one last
        # The dry sum is what captures hear (a voice at full velocity peaks at A, as in a rendered clip).
        self.dry = pyo.Mix([v.output for v in self.voices], voices=1)
        self._out = pyo.Sig([self.dry] * CHANNELS, mul=gain).out()
        self._input_player: Any = None
        self.input = self._input_signal(input_file)
        # Captures reuse one table and recorder: creating and freeing pyo objects
        # while the server runs costs the audio thread and has crashed pyo.
        self._tap = pyo.Sig(self.dry)
        self._capture_table = pyo.NewTable(length=MAX_CAPTURE_SECONDS, chnls=1)
        self._recorder = pyo.TableRec(self._tap, self._capture_table)
        self._recorded = self._recorder["time"]  # the last sample written: how much a capture holds
        # What computes while any voice does: with every voice asleep and no capture running, these stop too.
        # (Not the shared glides: a note must start from the patch's values, not glide from older ones.)
        self._bus = (self.dry, self._out, self._tap)
        self._capturing = False
        for voice in self.voices:
            voice.sleep()
        self._bus_awake = True
        self._sleep_bus()
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
        from inversynth.audio_files import load_mono  # soundfile + soxr, only for the dummy backend's input

        mono = load_mono(input_file, self.server.sample_rate)
        table = pyo.DataTable(size=len(mono), init=mono.tolist())
        self._input_player = pyo.TableRead(table, freq=table.getRate(), loop=False)
        return self._input_player

    # --- parameters -------------------------------------------------------------------------

    def load_patch(self, values: Mapping[str, float]) -> None:
        """Set validated parameters (real units); sounding voices glide there."""
        with self._lock:
            for name, value in values.items():
                self.shared.set(name, value)
            for voice in self.voices:
                voice.patch.update(values)

    def bend(self, ratio: float) -> None:
        """Pitch bend of every voice, as a frequency ratio."""
        with self._lock:
            self.shared.bend.value = float(ratio)

    # --- playing ----------------------------------------------------------------------------

    def note_on(self, key: int, note: int, gain: float, expression: Mapping[str, float] | None = None) -> None:
        """Key ``key`` down: a gated ``note`` held until :meth:`note_off`; ``expression``: its MPE start."""
        expression = {**neutral_expression(), **(expression or {})}
        with self._lock:
            self._wake_bus()
            if self._mono and self._legato(MonoKey(key, note, expression)):
                return
            held = [i for i, s in enumerate(self._states) if s.key == key and s.free_at == math.inf]
            index = 0 if self._mono else held[0] if held else self._allocate()
            self._play(index, key, note, gain, expression, gated=True)

    def note(self, note: int, gain: float, seconds: float = 0.0) -> None:
        """A fixed-length note: the patch's whole time-driven envelope, or released after ``seconds``."""
        with self._lock:
            self._wake_bus()
            index = 0 if self._mono else self._allocate()
            self._play(index, note, note, gain, neutral_expression(), gated=False, seconds=seconds)

    def note_off(self, key: int) -> None:
        with self._lock:
            if self._mono and self._mono_keys:
                sounding = self._mono_keys[-1].key == key
                self._mono_keys = [k for k in self._mono_keys if k.key != key]
                if sounding and self._mono_keys and self._states[0].free_at == math.inf:
                    self._move_mono(self._mono_keys[-1])  # back to the key still held: legato
                    return
            for index, state in enumerate(self._states):
                if state.key == key and state.free_at == math.inf:
                    self._release(index)

    def all_notes_off(self) -> None:
        """Release every held key (CC 123)."""
        with self._lock:
            self._mono_keys.clear()
            for index, state in enumerate(self._states):
                if state.free_at == math.inf:
                    self._release(index)

    def panic(self) -> None:
        """Silence every voice within a few milliseconds (CC 120, /synth/panic)."""
        with self._lock:
            self._mono_keys.clear()
            now = time.monotonic()
            for voice, state in zip(self.voices, self._states, strict=True):
                voice.silence()
                state.key, state.free_at = None, min(state.free_at, now + 2 * SLEEP_MARGIN)

    def set_mono(self, mono: bool) -> None:
        """Mono (one voice, last-note priority, legato) or poly; held notes are released."""
        self.all_notes_off()
        self._mono = bool(mono)

    def set_glide(self, seconds: float) -> None:
        """Portamento time in mono mode (0: the pitch jumps)."""
        self._glide = float(seconds)

    # --- expression -------------------------------------------------------------------------

    def expression(self, key: int, name: str, value: float) -> None:
        """One note's own bend (a frequency ratio) or modulation source (0..1), by the key that plays it."""
        now = time.monotonic()
        with self._lock:
            for key_held in self._mono_keys:
                if key_held.key == key:
                    key_held.expression[name] = value
            for index, state in enumerate(self._states):
                if state.key != key or self.voices[index].asleep:
                    continue
                state.expression[name] = value
                fresh = now - state.begun < self._block  # nothing sounded yet: jump, do not glide
                if name == BEND:
                    self.voices[index].set_pitch(self._pitch(state), 0.0 if fresh else NOTE_BEND_SECONDS)
                else:
                    self._modulate(index, 0.0 if fresh else self._smoothing)

    def source(self, name: str, value: float) -> None:
        """A modulation source every voice shares (mod wheel, channel pressure), 0..1."""
        self._sources[name] = value
        if any(route.source == name for route in self._routes):  # an unrouted source moves nothing
            self._modulate_all()

    def set_routes(self, routes: tuple[ModRoute, ...]) -> None:
        self._routes = tuple(routes)
        self._modulate_all()

    def _modulate_all(self) -> None:
        with self._lock:
            for index, voice in enumerate(self.voices):
                if not voice.asleep:
                    self._modulate(index, self._smoothing)

    def _modulate(self, index: int, seconds: float) -> None:
        values = {**self._sources, **self._states[index].expression}
        offsets: dict[str, float] = {}
        for route in self._routes:
            offsets[route.param] = offsets.get(route.param, 0.0) + route.amount * values[route.source]
        self.voices[index].modulate(offsets, seconds)

    @staticmethod
    def _pitch(state: VoiceState) -> float:
        return note_frequency(state.note) * state.expression[BEND]

    # --- voices -----------------------------------------------------------------------------

    def active_voices(self) -> int:
        now = time.monotonic()
        return sum(1 for state in self._states if state.free_at > now)

    def awake_voices(self) -> int:
        return sum(1 for voice in self.voices if not voice.asleep)

    def sleep_finished(self) -> float:
        """Put to sleep every voice silent for a while; return when the next one may sleep (or inf)."""
        now, soonest, awake = time.monotonic(), math.inf, False
        with self._lock:
            for voice, state in zip(self.voices, self._states, strict=True):
                if voice.asleep:
                    continue
                if state.free_at + SLEEP_MARGIN <= now:
                    voice.sleep()
                else:
                    awake = True
                    soonest = min(soonest, state.free_at + SLEEP_MARGIN)
            if not awake and not self._capturing:
                self._sleep_bus()
        return soonest

    def _sleep_bus(self) -> None:
        if self._bus_awake:
            for node in self._bus:
                node.stop()
            self._bus_awake = False

    def _wake_bus(self) -> None:
        if not self._bus_awake:
            for node in self._bus:
                node.play()
            self._out.out()
            self._bus_awake = True

    def _play(
        self,
        index: int,
        key: int,
        note: int,
        gain: float,
        expression: dict[str, float],
        gated: bool,
        seconds: float = 0.0,
    ) -> None:
        state = self._states[index]
        state.key, state.note, state.expression = key, note, expression
        state.started, state.begun = next(self._clock), time.monotonic()
        glide = self._glide if self._mono else 0.0  # a mono key's place in the stack: _legato
        length = self.voices[index].play(self._pitch(state), gain, gated, seconds, glide)
        self._modulate(index, 0.0)
        state.free_at = math.inf if gated else state.begun + length

    def _legato(self, pressed: MonoKey) -> bool:
        """Mono: while a key holds the voice, a new key moves its pitch without a new attack."""
        held = bool(self._mono_keys) and self._states[0].free_at == math.inf
        self._mono_keys = [*(k for k in self._mono_keys if k.key != pressed.key), pressed]
        if held:
            self._move_mono(pressed)
        return held

    def _move_mono(self, target: MonoKey) -> None:
        state = self._states[0]
        state.key, state.note, state.expression = target.key, target.note, target.expression
        self.voices[0].set_pitch(self._pitch(state), self._glide)
        self._modulate(0, self._smoothing)

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

    # --- capture ----------------------------------------------------------------------------

    def start_capture(self, source: str) -> None:
        """Start recording the dry output or the audio input (from the next block)."""
        with self._lock:
            self._wake_bus()
            self._capturing = True
            self._tap.value = self.dry if source == "output" else self.input
            if source == "input" and self._input_player is not None:
                self._input_player.reset()
                self._input_player.play()
            self._recorder.play()

    def stop_capture(self, into: np.ndarray) -> int:
        """Stop recording; copy up to ``len(into)`` of the samples recorded into ``into`` (shared memory);
        return how many. Fewer than asked when blocks came late (the dummy clock catching up, JACK after
        an xrun): never audio of an earlier capture, as the table is cleared after each one.

        The copy and the clearing go in chunks, so the audio callback never waits long for the GIL.
        """
        with self._lock:
            written = round(self._recorded.get()) + 1
            self._recorder.stop()
            self._capturing = False
        table = np.frombuffer(self._capture_table.getBuffer(), dtype=np.float32)
        count = min(len(into), written)
        for start in range(0, written, COPY_CHUNK):
            stop = min(written, start + COPY_CHUNK)
            if start < count:
                into[start : min(count, stop)] = table[start : min(count, stop)]
            table[start:stop] = 0.0  # no stale audio: a capture that records nothing reads silence
            time.sleep(0)  # hand the GIL over between chunks
        return count

    def close(self) -> None:
        self.server.close()
