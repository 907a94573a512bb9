"""The voice: one note's pyo graph, shared by live playing and offline rendering.

A synth is one :class:`~inversynth.engine.spec.SynthSpec` plus one
:class:`Voice` subclass. The subclass names which params drive the signal
continuously (``signal_params``; each becomes a smoothed ``SigTo``), wires the
graph in :meth:`Voice.build`, and says in :meth:`Voice.envelope` how its
envelope params become segments. The real-time server and the offline
renderer create the very same objects; only the smoothing time differs
(0 offline, so a rendered clip holds its patch from the first sample).

Live voices (given :class:`SharedControls`) also play notes. One patch plays
on every live voice, so they share one smoothed control per signal param
(a parameter change costs one pyo call, not one per voice), which each voice
offsets by its own modulation (pressure, mod wheel: :meth:`Voice.modulate`,
clipped to the param's range); the param named by ``pitch_param`` follows the
voice's own pitch (the note, its MPE bend, a portamento glide) times the shared
pitch-bend ratio instead; the envelope can be gated (held until :meth:`Voice.release`);
a retriggered voice starts from its current level and phase, so
stealing a sounding voice does not click; and a voice whose envelope has
finished can :meth:`Voice.sleep`: every pyo object of its graph stops
computing until its next note wakes it (from silence, so without a click).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from inversynth.engine.envelope import Segment, breakpoints
from inversynth.engine.pyo_runtime import pyo_module
from inversynth.engine.spec import Param, SynthSpec

SILENT_LEVEL = 1e-4  # -80 dB: below this a voice restarts its phase on a new note
STEAL_SECONDS = 0.005  # fade of a voice silenced at once (panic)


class Voice(ABC):
    """Base class of every synth voice.

    Attributes:
        output: the pyo object carrying the voice's mono signal.
    """

    spec: ClassVar[SynthSpec]
    signal_params: ClassVar[tuple[str, ...]]
    pitch_param: ClassVar[str | None] = None
    follows_pitch: ClassVar[tuple[str, ...]] = ()  # live, these keep their interval to the played pitch

    def __init__(self, sample_rate: int, smoothing: float = 0.0, shared: SharedControls | None = None) -> None:
        """Build the graph in the current pyo server.

        Args:
            sample_rate: the server's sample rate (Hz); envelopes snap to its sample grid.
            smoothing: glide time (s) of this voice's own signal params; 0 jumps on the next sample.
            shared: live voices only: the controls every voice shares (then ``smoothing`` is theirs).
        """
        pyo = pyo_module()
        self.sample_rate = sample_rate
        self.patch: dict[str, float] = self.spec.defaults()
        self._note_pitch: Any = None
        self._offsets: dict[str, Any] = {}
        self._offset_values: dict[str, float] = {}  # what each offset was last told: unchanged ones are not touched
        self._shared = shared
        self._ratio: Any = None
        own: list[Any] = []  # this voice's controls (the shared ones belong to every voice)
        if shared is None:
            self._glides: dict[str, Any] = {
                name: pyo.SigTo(self.patch[name], time=smoothing, init=self.patch[name]) for name in self.signal_params
            }
            self.controls: dict[str, Any] = dict(self._glides)
        else:
            self._glides = {}
            self.controls = {}
            for name, glide in shared.glides.items():
                param = self.spec.param(name)
                # The offset's own mul/add carries the shared value: one object fewer per param and voice.
                log = param.scale == "log"
                identity = 1.0 if log else 0.0
                self._offset_values[name] = identity
                offset = self._offsets[name] = pyo.SigTo(
                    identity, time=shared.smoothing, init=identity, mul=glide if log else 1.0, add=0.0 if log else glide
                )
                self.controls[name] = pyo.Clip(offset, min=param.minimum, max=param.maximum)
                own += [offset, self.controls[name]]
            if self.pitch_param is not None:
                # The voice's pitch jumps to a new note (it must not glide from the last one) unless told to glide.
                self._note_pitch = pyo.SigTo(self.patch[self.pitch_param], time=0.0, init=self.patch[self.pitch_param])
                self.controls[self.pitch_param] = self._note_pitch * shared.bend
                own += [self._note_pitch, self.controls[self.pitch_param]]
        self.envelope = pyo.Linseg([(0.0, 0.0), (1.0 / sample_rate, 0.0)])
        self.phase_resets: Sequence[Any] = ()
        self.nodes: Sequence[Any] = ()
        self.output = self.build(self.controls, self.envelope)
        ratio = (self._ratio,) if self._ratio is not None and shared is not None else ()
        self.sleepers = _in_processing_order(_with_arithmetic((*own, *ratio, *self.nodes, self.envelope)))
        self.asleep = False

    @abstractmethod
    def build(self, controls: Mapping[str, Any], envelope: Any) -> Any:
        """Wire the graph from the smoothed controls and the envelope; return the output.

        Set ``self.phase_resets`` to the objects whose phase restarts at 0 on a trigger, and
        ``self.nodes`` to every pyo object created here (arithmetic results included): they
        stop computing while the voice sleeps.
        """

    @abstractmethod
    def envelope_segments(self, gated: bool) -> list[Segment]:
        """The envelope of the current patch: the whole note, or (gated) up to the held level."""

    @abstractmethod
    def release_segments(self, level: float) -> list[Segment]:
        """The envelope after a gated note's key is let go at ``level``."""

    def set(self, name: str, value: float) -> None:
        """Set one param (validated against the spec); signal params glide there."""
        real = self.spec.param(name).validate(value)
        self.apply_validated([real if n == name else self.patch[n] for n in self.spec.names])

    def apply_validated(self, values: Sequence[float]) -> None:
        """Load a whole patch, in spec order, that ``SynthSpec.validate_rows`` has checked."""
        for name, value in zip(self.spec.names, values, strict=True):
            real = float(value)
            self.patch[name] = real
            if name in self._glides:
                self._glides[name].value = real

    def trigger(self, gain: float = 1.0, gated: bool = False) -> None:
        """Start a note from phase 0: the time-driven envelope, or a gated one held until release."""
        for oscillator in self.phase_resets:
            oscillator.reset()
        self._start_envelope(breakpoints(self.envelope_segments(gated), self.sample_rate, gain))

    def level(self) -> float:
        """The envelope's value at the end of the last block computed (velocity included)."""
        return float(self.envelope.get())

    def play(self, pitch: float, gain: float, gated: bool, seconds: float = 0.0, glide: float = 0.0) -> float:
        """Live: start a note at ``pitch`` (Hz) from the current level; return its length in seconds.

        The length is the whole envelope, or (gated) the time to reach the held level. A
        time-driven note with ``seconds`` shorter than its envelope is released from its level
        at that time: the release is part of the breakpoints, sample-accurate, no timer.
        ``glide`` > 0 slides the pitch there from the voice's last one (portamento).
        """
        self.wake()
        level = self.level()
        if abs(level) < SILENT_LEVEL:
            for oscillator in self.phase_resets:
                oscillator.reset()
        self.set_pitch(pitch, glide)
        first, *rest = self.envelope_segments(gated)
        segments = [Segment(first.seconds, level / gain, first.end), *rest]
        if not gated and seconds > 0:
            segments = self._cut(segments, seconds)
        points = breakpoints(segments, self.sample_rate, gain)
        self._start_envelope(points)
        return points[-1][0]

    def set_pitch(self, pitch: float, seconds: float = 0.0) -> None:
        """Live: move the voice's pitch (Hz) without touching its envelope, over ``seconds`` (0 jumps)."""
        if self._note_pitch is not None:
            self._note_pitch.time = float(seconds)
            self._note_pitch.value = float(pitch)

    def modulate(self, offsets: Mapping[str, float], seconds: float) -> None:
        """Live: offset shared params by fractions of their normalised range, reached over ``seconds``.

        Params not named go back to no offset. The result is clipped to each param's range. Only
        offsets that change are touched (each touch is two calls into pyo under the GIL, for every
        voice: a mod wheel's stream must not cost the whole patch).
        """
        for name, control in self._offsets.items():
            value = _offset_value(self.spec.param(name), offsets.get(name, 0.0))
            if value != self._offset_values[name]:
                self._offset_values[name] = value
                control.time = float(seconds)
                control.value = value

    def pitch_ratio(self) -> Any:
        """The played pitch over the patch's pitch param, for graphs whose other frequencies keep their
        interval to it: 1 offline; live, the note (and its bends) over the patch's value."""
        if self._ratio is None:
            pyo = pyo_module()
            if self._shared is None or self.pitch_param is None:
                self._ratio = pyo.Sig(1.0)
            else:
                self._ratio = self.controls[self.pitch_param] / self._shared.pitch
        return self._ratio

    @classmethod
    def played_at(cls, patch: Mapping[str, float], hz: float) -> dict[str, float]:
        """The patch as a live voice plays it at a note of ``hz``: its pitch param at ``hz``, the params
        that follow the pitch at their interval to it (within their ranges)."""
        if cls.pitch_param is None:
            return dict(patch)
        ratio = hz / patch[cls.pitch_param]
        played = {**patch, cls.pitch_param: hz}
        for name in cls.follows_pitch:
            param = cls.spec.param(name)
            played[name] = min(max(patch[name] * ratio, param.minimum), param.maximum)
        return played

    @classmethod
    def modulatable(cls) -> tuple[str, ...]:
        """The params a live voice can modulate: its signal params, but the pitch."""
        return tuple(n for n in cls.signal_params if n != cls.pitch_param)

    def _cut(self, segments: list[Segment], seconds: float) -> list[Segment]:
        """``segments`` up to ``seconds``, then the release from the level reached there."""
        kept: list[Segment] = []
        left = seconds
        for segment in segments:
            if segment.seconds >= left:
                share = left / segment.seconds if segment.seconds else 1.0
                level = segment.start + (segment.end - segment.start) * share
                return [*kept, Segment(left, segment.start, level), *self.release_segments(level)]
            kept.append(segment)
            left -= segment.seconds
        return kept  # the whole envelope ends before the cut

    def sleep(self) -> None:
        """Stop computing (call once the envelope has finished: the voice is silent).

        Live, the audio callback may compute a block between any two of these calls (it takes the
        GIL when due), so the voice stops from its output back and starts again from its inputs on:
        an object never runs on a stopped input's zeros (``Pow(0, -1)`` is inf, and one NaN stays in
        the low-pass filter's state for every later note of the voice).
        """
        if not self.asleep:
            for node in reversed(self.sleepers):
                node.stop()
            self.asleep = True

    def wake(self) -> None:
        if self.asleep:
            for node in self.sleepers:
                node.play()
            self.asleep = False

    def release(self) -> float:
        """Live: let go of a gated note from its current level; return the release time in seconds."""
        points = breakpoints(self.release_segments(self.level()), self.sample_rate)
        self._start_envelope(points)
        return points[-1][0]

    def silence(self, seconds: float = STEAL_SECONDS) -> None:
        """Fade to silence quickly (panic, all sound off) without a click."""
        if self.asleep:
            return
        self._start_envelope(breakpoints([Segment(seconds, self.level(), 0.0)], self.sample_rate))

    def _start_envelope(self, points: list[tuple[float, float]]) -> None:
        self.envelope.setList(points)
        self.envelope.play()


@dataclass(frozen=True)
class SharedControls:
    """The smoothed controls that all live voices of one synth share: one per signal param, and the bend."""

    glides: Mapping[str, Any]
    bend: Any
    smoothing: float
    pitch: Any = None  # the patch's value of the pitch param, for ``Voice.pitch_ratio``
    pitch_name: str | None = None

    @classmethod
    def create(cls, voice: type[Voice], patch: Mapping[str, float], smoothing: float) -> SharedControls:
        pyo = pyo_module()
        glides = {n: pyo.SigTo(patch[n], time=smoothing, init=patch[n]) for n in voice.modulatable()}
        pitch = voice.pitch_param
        own = pyo.SigTo(patch[pitch], time=smoothing, init=patch[pitch]) if pitch is not None else None
        return cls(glides, pyo.SigTo(1.0, time=smoothing, init=1.0), smoothing, own, pitch)

    def set(self, name: str, value: float) -> None:
        if name in self.glides:
            self.glides[name].value = float(value)
        elif name == self.pitch_name:
            self.pitch.value = float(value)


def _with_arithmetic(objects: Sequence[Any]) -> tuple[Any, ...]:
    """The objects, every arithmetic result pyo made from them (``a * b - 1`` makes two objects that no
    list of the voice holds; pyo keeps them in the operand's ``_keep_trace``) and their input stages
    (``_in_fader``): all of them must stop for a voice to sleep. pyo 1.1.0 is pinned, so are these."""
    found: dict[int, Any] = {}
    stack = list(objects)
    while stack:
        item = stack.pop()
        if id(item) not in found:
            found[id(item)] = item
            stack.extend(getattr(item, "_keep_trace", ()))
            fader = getattr(item, "_in_fader", None)  # the input stage pyo gives an object with an input
            if fader is not None:
                stack.append(fader)
    return tuple(found.values())


def _in_processing_order(objects: Sequence[Any]) -> tuple[Any, ...]:
    """The objects in the order pyo computes them: the order they were made (each after its inputs),
    which their streams' ids follow."""
    return tuple(sorted(objects, key=lambda obj: min(base._getStream().getId() for base in obj.getBaseObjects())))


def _offset_value(param: Param, fraction: float) -> float:
    """What a voice's offset control holds for ``fraction`` of ``param``'s normalised range:
    added in real units on a linear scale, a factor on a log scale."""
    if param.scale == "log":
        return float((param.maximum / param.minimum) ** fraction)
    return float(fraction * (param.maximum - param.minimum))
