"""The original INVERSYNTH project's synth: 9 parameters, 16 classes each.

The carrier C plays from C1 to C8 (MIDI 24..108) like the live synth; its 16
classes stay the original project's A4..C6 semitones (the paper's figures), and
its model head has one bin per MIDI note of the whole range.

A sine carrier whose instantaneous frequency is ``C * (1 + D * sin(2*pi*M*t))``
(through-zero when D > 1), phase integrated sample by sample from 0, times A,
times a time-driven linear envelope: attack (0 -> 1), decay (1 ->
sustain_level), ``sustain`` seconds held at sustain_level, release (-> 0),
then silence. Clips are 1.0 s at 16384 Hz.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from inversynth.engine.envelope import Segment
from inversynth.engine.pyo_runtime import pyo_module
from inversynth.engine.spec import ORIGINAL_SEMITONES, ModRoute, Param, SynthSpec, keyboard_param, linear_classes
from inversynth.engine.synths._instrument import draw_notes
from inversynth.engine.voice import Voice

_SECONDS = linear_classes(0.0, 1.0, 16)

# fmt: off
SPEC = SynthSpec(
    name="original",
    version=1,
    description="The original INVERSYNTH project's FM synth: sine carrier, sine LFO, linear envelope",
    sample_rate=16384,
    clip_seconds=1.0,
    params=(
        #     name             unit  min    max             classes                           default
        keyboard_param("C", ORIGINAL_SEMITONES[10], "carrier frequency"),
        Param("M",             "Hz", 1.0,   30.0,           linear_classes(1.0, 30.0, 16),    12.6,
              "modulator (LFO) frequency", midi_cc=76, rate=True),
        Param("A",             "",   0.001, 1.0,            linear_classes(0.001, 1.0, 16),   1.0,
              "carrier amplitude", midi_cc=7),
        Param("D",             "",   0.0,   1.5,            linear_classes(0.0, 1.5, 16),     0.5,
              "modulation depth relative to C (above 1 the frequency goes through zero)", midi_cc=77,
              swings_pitch=True),
        Param("attack",        "s",  0.0,   1.0,            _SECONDS,                         0.2667,
              "linear rise 0 -> 1", midi_cc=73),
        Param("decay",         "s",  0.0,   1.0,            _SECONDS,                         0.6,
              "linear fall 1 -> sustain_level", midi_cc=75),
        Param("sustain",       "s",  0.0,   1.0,            _SECONDS,                         0.2667,
              "time held at sustain_level (a duration, not a level)", midi_cc=79),
        Param("sustain_level", "",   0.0,   1.0,            _SECONDS,                         0.0,
              "level held during sustain", midi_cc=70),
        Param("release",       "s",  0.0,   1.0,            _SECONDS,                         0.8,
              "linear fall sustain_level -> 0", midi_cc=72),
    ),
    # Pressure and the mod wheel deepen the vibrato, as on most keyboards; an MPE slide speeds it up.
    modulation=(
        ModRoute("wheel", "D", 0.5),
        ModRoute("pressure", "D", 0.5),
        ModRoute("note_pressure", "D", 0.5),
        ModRoute("slide", "M", 0.5),
    ),
    close_db=3.0,  # p75 of one-class nudges (docs/BENCHMARKS.md)
)
# fmt: on


class OriginalVoice(Voice):
    """Two phase accumulators, two sines and a breakpoint envelope."""

    spec = SPEC
    signal_params = ("C", "M", "D", "A")
    pitch_param = "C"

    def build(self, controls: Mapping[str, Any], envelope: Any) -> Any:
        pyo = pyo_module()
        # Phasor + Sin (libm) rather than pyo's 512-point table Sine: the table's
        # interpolation error, integrated into the carrier phase, reaches -58 dBFS.
        lfo_phase = pyo.Phasor(freq=controls["M"], mul=math.tau)
        lfo = pyo.Sin(lfo_phase, mul=controls["D"], add=1.0)
        frequency = lfo * controls["C"]
        carrier_phase = pyo.Phasor(freq=frequency, mul=math.tau)
        level = envelope * controls["A"]
        output = pyo.Sin(carrier_phase, mul=level)
        self.phase_resets = (lfo_phase, carrier_phase)
        self.nodes = (lfo_phase, lfo, frequency, carrier_phase, level, output)
        return output

    def envelope_segments(self, gated: bool) -> list[Segment]:
        p = self.patch
        level = p["sustain_level"]
        rise_and_fall = [Segment(p["attack"], 0.0, 1.0), Segment(p["decay"], 1.0, level)]
        if gated:
            return rise_and_fall
        return [*rise_and_fall, Segment(p["sustain"], level, level), Segment(p["release"], level, 0.0)]

    def release_segments(self, level: float) -> list[Segment]:
        return [Segment(self.patch["release"], level, 0.0)]


def audible(values: Mapping[str, np.ndarray], clip_seconds: float) -> dict[str, np.ndarray]:
    """Which parameters can be heard in each clip (arrays of real values in, bool arrays out).

    A parameter counts when its part of the sound happens inside the clip: M only
    with some modulation (D > 0); decay only if it starts before the clip ends and
    falls somewhere (sustain_level < 1); sustain_level once the decay starts;
    sustain and release only if they start inside the clip above level 0. The
    others always do.
    """
    decay_starts = values["attack"] < clip_seconds
    hold_starts = values["attack"] + values["decay"] < clip_seconds
    release_starts = hold_starts & (values["attack"] + values["decay"] + values["sustain"] < clip_seconds)
    above_zero = values["sustain_level"] > 0
    return {
        "M": values["D"] > 0,
        "decay": decay_starts & (values["sustain_level"] < 1),
        "sustain_level": decay_starts,
        "sustain": hold_starts & above_zero,
        "release": release_starts & above_zero,
    }


def instrument_like(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """``count`` patches that sound like an instrument's note (real values): the carrier at the note's
    pitch, a vibrato or none (D 0), the envelope of a plucked, struck, bowed, blown or organ note
    held until 0.3-0.8 s (engine/synths/_instrument.py)."""
    notes = draw_notes(rng, count)
    held_until = rng.uniform(0.3, 0.8, count)
    return {
        "C": notes.pitch_hz,
        "M": np.where(notes.vibrato_depth > 0, notes.vibrato_hz, rng.uniform(1.0, 30.0, count)),
        "A": rng.uniform(0.3, 1.0, count),
        "D": notes.vibrato_depth,
        "attack": notes.attack,
        "decay": notes.decay,
        "sustain": np.maximum(held_until - notes.attack - notes.decay, 0.0),
        "sustain_level": notes.sustain,
        "release": notes.release,
    }


VOICE = OriginalVoice


def render_rows(rows: np.ndarray, sample_rate: int, out: np.ndarray) -> None:
    """The batched renderer (engine/batched/original.py): rows of real values [n, params] into float32 ``out``."""
    from inversynth.engine.batched import original

    original.render(rows, SPEC.columns, sample_rate, out)
