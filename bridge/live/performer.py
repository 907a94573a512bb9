"""What each MIDI message does to the synth: the instrument a keyboard player expects.

:class:`Performer` turns channel and system messages into synth commands:
notes (velocity through the synth's curve; the soft pedal scales it),
pedals, the pitch wheel, the mod wheel and pressure as modulation sources,
controllers through the CC map, program change, mono/poly switches,
portamento, RPN pitch-bend range, MIDI clock for tempo-synced rates — and
MPE (MIDI Polyphonic Expression, lower zone): channel 1 is the master, the
member channels 2..N+1 each carry one note with its own bend, pressure and
slide (CC 74). The README's MIDI implementation chart lists every message.

Pedals: while the sustain pedal (CC 64) is down, key-ups are kept and sent
when it comes up; the sostenuto pedal (CC 66) keeps only the keys that were
down when it went down; a key struck again while the pedal holds it plays
on its own voice again (LiveSynth retriggers a held key's voice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inversynth.bridge.live.midi_map import (
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    DATA_ENTRY,
    MOD_WHEEL,
    MONO_ON,
    POLY_ON,
    PORTAMENTO,
    PORTAMENTO_TIME,
    RESET_CONTROLLERS,
    RPN_LSB,
    RPN_MSB,
    SLIDE,
    SOFT,
    SOSTENUTO,
    SUSTAIN,
)
from inversynth.bridge.live.session import Session
from inversynth.engine.live import BEND
from inversynth.engine.spec import NOTE_SOURCES
from inversynth.errors import SpecError

PITCH_WHEEL_RANGE = 8192
RPN_BEND_RANGE, RPN_MPE_CONFIGURATION = (0, 0), (0, 6)
SOFT_PEDAL = 2.0 / 3.0  # velocity scale while the soft pedal is down
MAX_GLIDE_CC = 2.0  # seconds of portamento at CC 5 = 127 (quadratic: fine control of short glides)
MPE_BEND_RANGE = 48.0  # semitones: the MPE default for member channels
MPE_MEMBERS = 15  # the whole lower zone
MPE_KEY = 128  # keys of MPE member channels: 128 + channel, apart from note numbers
OMNI = None

Ignore = Callable[[str, str], None]


def is_down(value: int) -> bool:
    return value >= 64


def glide_for_cc(value: int) -> float:
    return MAX_GLIDE_CC * (value / 127.0) ** 2


@dataclass
class MemberChannel:
    """The expression an MPE member channel carries for its note (kept between its notes)."""

    bend: float = 0.0  # semitones
    pressure: float = 0.0
    slide: float = 0.0

    def expression(self) -> dict[str, float]:
        return {BEND: 2.0 ** (self.bend / 12.0), **dict(zip(NOTE_SOURCES, (self.pressure, self.slide), strict=True))}


@dataclass
class Pedals:
    """Sustain and sostenuto: which released keys they keep sounding."""

    sustain: bool = False
    latched: set[int] = field(default_factory=set)  # keys down when the sostenuto pedal went down
    sostenuto: bool = False
    soft: bool = False
    down: set[int] = field(default_factory=set)  # keys held by fingers
    kept: set[int] = field(default_factory=set)  # keys let go, still sounding by a pedal

    def press(self, key: int) -> None:
        self.down.add(key)
        self.kept.discard(key)

    def let_go(self, key: int) -> bool:
        """A key-up: True if it should be released now, False if a pedal keeps it."""
        self.down.discard(key)
        if self.sustain or key in self.latched:
            self.kept.add(key)
            return False
        return True

    def set_sustain(self, down: bool) -> set[int]:
        """Returns the keys to release now."""
        self.sustain = down
        return self._freed()

    def set_sostenuto(self, down: bool) -> set[int]:
        if down and not self.sostenuto:
            self.latched = set(self.down)
        elif not down:
            self.latched = set()
        self.sostenuto = down
        return self._freed()

    def _freed(self) -> set[int]:
        if self.sustain:
            return set()
        freed = self.kept - self.latched
        self.kept -= freed
        return freed


class Performer:
    """Plays ``session``'s synth from MIDI messages of ``channel`` (0-based; None: omni) or an MPE zone."""

    def __init__(
        self,
        session: Session,
        channel: int | None = OMNI,
        mpe_members: int = 0,
        glide: float = 0.0,
    ) -> None:
        if channel is not None and not 0 <= channel <= 15:
            raise SpecError(f"MIDI channel {channel + 1} is outside 1..16")
        if not 0 <= mpe_members <= MPE_MEMBERS:
            raise SpecError(f"an MPE zone has 1..{MPE_MEMBERS} member channels, not {mpe_members}")
        self.session = session
        self.synth = session.synth
        self.channel = channel
        self.mpe_members = mpe_members
        self.member_bend_range = MPE_BEND_RANGE
        self.members = [MemberChannel() for _ in range(16)]
        self.pedals = Pedals()
        self.ignore: Ignore = lambda kind, reason: None  # the MIDI input counts and reports these
        self._rpn: dict[int, tuple[int, int]] = {}
        self._start_glide = glide
        self.glide_time = glide
        self.portamento = glide > 0
        if glide > 0:
            self.synth.set_glide(glide)

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, message: Any) -> None:
        """One mido message; raises InversynthError for values the synth refuses."""
        kind = message.type
        if kind == "clock":
            self.session.tempo.pulse(time.monotonic())
            return
        if kind in ("start", "continue"):
            self.session.tempo.clock.restart()
            return
        channel = getattr(message, "channel", None)
        if channel is None:
            self.ignore(kind, f"{kind} messages are not used")
            return
        if not self._listens(channel):
            self.ignore("other channel", f"channel {channel + 1} is not listened to ({self.describe_channels()})")
            return
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            self.ignore(kind, f"{kind} messages are not used")
            return
        handler(channel, message)

    def _listens(self, channel: int) -> bool:
        if self.mpe_members:
            return channel <= self.mpe_members
        return self.channel is None or channel == self.channel

    def describe_channels(self) -> str:
        if self.mpe_members:
            return f"MPE lower zone: master 1, members 2..{self.mpe_members + 1}"
        return "omni" if self.channel is None else f"channel {self.channel + 1}"

    def _member(self, channel: int) -> bool:
        return 1 <= channel <= self.mpe_members

    def _key(self, channel: int, note: int) -> int:
        return MPE_KEY + channel if self._member(channel) else note

    # --- notes ------------------------------------------------------------------------------

    def _note_on(self, channel: int, message: Any) -> None:
        if message.velocity == 0:
            self._note_off(channel, message)
            return
        key = self._key(channel, message.note)
        velocity = max(1, round(message.velocity * SOFT_PEDAL)) if self.pedals.soft else message.velocity
        expression = self.members[channel].expression() if self._member(channel) else None
        self.pedals.press(key)
        self.synth.note_on(message.note, velocity, key=key, expression=expression)

    def _note_off(self, channel: int, message: Any) -> None:
        key = self._key(channel, message.note)
        if self.pedals.let_go(key):
            self.synth.note_off(key)

    def _release(self, keys: set[int]) -> None:
        for key in sorted(keys):
            self.synth.note_off(key)

    # --- wheels and pressure ----------------------------------------------------------------

    def _pitchwheel(self, channel: int, message: Any) -> None:
        position = message.pitch / PITCH_WHEEL_RANGE
        if self._member(channel):
            self.members[channel].bend = position * self.member_bend_range
            self.synth.note_bend(self._key(channel, 0), self.members[channel].bend)
        else:
            self.synth.bend_normalised(position)

    def _aftertouch(self, channel: int, message: Any) -> None:
        if self._member(channel):
            self.members[channel].pressure = message.value / 127.0
            self.synth.note_source(self._key(channel, 0), "note_pressure", message.value / 127.0)
        else:
            self.synth.source("pressure", message.value / 127.0)

    def _polytouch(self, channel: int, message: Any) -> None:
        self.synth.note_source(self._key(channel, message.note), "note_pressure", message.value / 127.0)

    def _program_change(self, channel: int, message: Any) -> None:
        if self._member(channel):
            self.ignore("member program change", "program change on an MPE member channel is not used")
            return
        self.session.program(message.program)

    # --- controllers ------------------------------------------------------------------------

    def _control_change(self, channel: int, message: Any) -> None:
        cc, value = message.control, message.value
        if cc in (RPN_MSB, RPN_LSB, DATA_ENTRY):
            self._rpn_message(channel, cc, value)
        elif self._member(channel):
            self._member_control(channel, cc, value)
        elif cc == ALL_SOUND_OFF:
            self.synth.panic()
        elif cc == ALL_NOTES_OFF:
            self.synth.all_notes_off()
        elif cc == RESET_CONTROLLERS:
            self.reset_controllers()
        elif cc in (MONO_ON, POLY_ON):
            self.synth.set_mono(cc == MONO_ON)
        elif cc == MOD_WHEEL:
            self.synth.source("wheel", value / 127.0)
        elif cc in (SUSTAIN, SOSTENUTO, SOFT, PORTAMENTO, PORTAMENTO_TIME):
            self._switch(cc, value)
        else:
            self._mapped(cc, value)

    def _member_control(self, channel: int, cc: int, value: int) -> None:
        if cc == SLIDE:
            self.members[channel].slide = value / 127.0
            self.synth.note_source(self._key(channel, 0), "slide", value / 127.0)
        elif cc == RESET_CONTROLLERS:
            self.members[channel] = MemberChannel()
            key = self._key(channel, 0)
            self.synth.note_bend(key, 0.0)
            for name in NOTE_SOURCES:
                self.synth.note_source(key, name, 0.0)
        else:
            self.ignore(f"member cc{cc}", f"CC {cc} on an MPE member channel is not used")

    def _switch(self, cc: int, value: int) -> None:
        down = is_down(value)
        if cc == SUSTAIN:
            self._release(self.pedals.set_sustain(down))
        elif cc == SOSTENUTO:
            self._release(self.pedals.set_sostenuto(down))
        elif cc == SOFT:
            self.pedals.soft = down
        elif cc == PORTAMENTO:
            self.portamento = down
            self.synth.set_glide(self.glide_time if down else 0.0)
        else:  # PORTAMENTO_TIME
            self.glide_time = glide_for_cc(value)
            if self.portamento:
                self.synth.set_glide(self.glide_time)

    def _mapped(self, cc: int, value: int) -> None:
        cc_map = self.session.cc_map
        learned = cc_map.take_learned(cc)
        if learned is not None:
            self.session.log(f"midi: CC {cc} now moves '{learned.name}' (saved to {cc_map.path})")
        param = learned or cc_map.param_for(cc)
        if param is None:
            self.ignore(f"cc{cc}", f"CC {cc} is not bound to a parameter")
            return
        self.synth.set_param(param.name, param.denormalise(value / 127.0), f"midi cc {cc}")

    def _rpn_message(self, channel: int, cc: int, value: int) -> None:
        """Registered parameters: the pitch-bend range (RPN 0) and MPE's configuration message (RPN 6)."""
        msb, lsb = self._rpn.get(channel, (127, 127))
        if cc == RPN_MSB:
            self._rpn[channel] = (value, lsb)
        elif cc == RPN_LSB:
            self._rpn[channel] = (msb, value)
        elif (msb, lsb) == RPN_BEND_RANGE:
            if self._member(channel):
                self.member_bend_range = float(value)  # MPE: one range for every member channel
            elif value > 0:
                self.synth.bend_range = float(value)
        elif (msb, lsb) == RPN_MPE_CONFIGURATION and channel == 0:
            self.configure_mpe(min(value, MPE_MEMBERS))
        else:
            self.ignore(f"rpn{msb}/{lsb}", f"registered parameter {msb}/{lsb} is not used")

    def configure_mpe(self, members: int) -> None:
        """MPE lower zone with ``members`` member channels (0: MPE off); notes are released."""
        self.synth.all_notes_off()
        self.mpe_members = members
        self.member_bend_range = MPE_BEND_RANGE
        self.members = [MemberChannel() for _ in range(16)]
        self.session.log(f"midi: {self.describe_channels() if members else 'MPE off'}")

    def reset_controllers(self) -> None:
        """CC 121 (GM2 RP-015): wheels, pressure, pedals and portamento back to their defaults.

        The patch's own controllers (volume, sound controllers) keep their values, as RP-015 says.
        """
        self._release(self.pedals.set_sustain(False) | self.pedals.set_sostenuto(False))
        self.pedals.soft = False
        self.synth.bend(0.0)
        self.synth.source("wheel", 0.0)
        self.synth.source("pressure", 0.0)
        self.portamento = self._start_glide > 0
        self.synth.set_glide(self._start_glide)
