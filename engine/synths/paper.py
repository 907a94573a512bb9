"""The InverSynth paper's synth (arXiv 1812.06349, section III): 23 parameters, 16 classes each.

Four oscillators, one per waveform w in (sine, saw, tri, square), each frequency-modulated:
``y_w = A_w * x_w(2*pi * integral of (f_w + B_w*sin(2*pi*v_w*t)) dt)``, i.e. the phase
``2*pi*f_w*t + (B_w/v_w)*(1 - cos(2*pi*v_w*t))``, summed and scaled by 1/4 (four full-scale
oscillators peak at 1); then an ADSR amplitude envelope, a resonant low-pass filter (RBJ biquad,
cut-off ``f_cut``, resonance ``q``) and a gater ``(1 + sgn(sin(2*pi*f_gate*t))) / 2`` (open for the
first half of each cycle). Every phase starts at 0 with the note.

B is a frequency deviation in Hz (spec version 2). The paper's Eq. (1) writes
``x_w(2*pi*f*t + B*sin(2*pi*v*t))``, but its section III defines it as the order-1 case of
``y = psi0 * x(2*pi * integral of gamma0 dt)`` with ``gamma0 = omega0 + psi1 * x(...)``: the modulator
is added to the carrier's *frequency* (as JSyn patches wire a modulator into an oscillator's
frequency port), and its Table 3 reads every pitch at MPR 78-86, impossible under swings of tens of
kHz. Version 1 read B as a phase-modulation index in radians (peak deviation B*v);
:func:`_from_v1` carries old presets over keeping each oscillator's peak deviation. The
integration constant is chosen so the deviation starts at 0 with the note and rises first: the
frequency is ``f_w`` at the note's start.

Choices the paper leaves open, fixed here:
- Classes are linearly spaced with the first and last at the range limits (the paper's wording),
  except the pitches, the paper's 16 semitones A4..C6; their heads span C1..C8 like ``original``'s
  carrier, so the synth plays the whole keyboard.
- The note is released at 0.5 s of the 1 s clip (``NOTE_SECONDS``): attack, decay and sustain
  share the first half, the release the second; an attack and decay longer than that are cut and
  released from the level they reached, as a key let go early would.
- Saw, square and triangle are band-limited with two-point polynomial corrections of their
  discontinuities (PolyBLEP) and corners (PolyBLAMP), computed from the instantaneous frequency,
  so that phase modulation moves them too; ``inversynth bench grid`` and the tests measure what is
  left of aliasing.
- The filter is pyo's RBJ biquad, whose Q is floored at 0.1: the lowest class of ``q`` (0.01, the
  paper's range limit) filters as 0.1 does, still far from the next class (0.676).
- Live, ``f_sine`` follows the played note and the other oscillators keep their interval to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

import numpy as np

from inversynth.engine.envelope import Segment
from inversynth.engine.pyo_runtime import pyo_module
from inversynth.engine.spec import ModRoute, Param, SynthSpec, keyboard_param, linear_classes
from inversynth.engine.synths._instrument import draw_notes
from inversynth.engine.voice import Voice

WAVES = ("sine", "saw", "tri", "square")
NOTE_SECONDS = 0.5  # the note is released here, in every clip
MIX = 0.25  # four full-scale oscillators peak at 1


def _oscillator_params(wave: str, cc: int | None) -> tuple[Param, ...]:
    """An oscillator's four parameters. Only its pitch ``jumps``: a semitone off, every partial is off
    (an octave sounds closer), while a level, a deviation or a rate a class off sounds a little off."""
    return (
        keyboard_param(f"f_{wave}", 440.0, f"{wave} oscillator frequency", jumps=True),
        Param(f"A_{wave}", "", 0.001, 1.0, linear_classes(0.001, 1.0, 16), 1.0 if wave == "sine" else 0.001,
              f"{wave} oscillator level", midi_cc=cc),
        Param(f"B_{wave}", "Hz", 0.0, 1500.0, linear_classes(0.0, 1500.0, 16), 0.0,
              f"{wave} frequency-modulation deviation", swings_pitch=True),
        Param(f"v_{wave}", "Hz", 1.0, 30.0, linear_classes(1.0, 30.0, 16), 5.0,
              f"{wave} frequency-modulation rate", rate=True),
    )  # fmt: skip


_UNIT = linear_classes(0.001, 1.0, 16)


# fmt: off
def _from_v1(params: Mapping[str, float]) -> dict[str, float]:
    """Version 1 read B as a phase-modulation index (rad), a peak deviation of B*v Hz: keep that deviation."""
    out = dict(params)
    for wave in WAVES:
        index, rate = out.get(f"B_{wave}"), out.get(f"v_{wave}", 5.0)
        if _number(index) and _number(rate):  # anything else is refused by the validation that follows
            out[f"B_{wave}"] = min(1500.0, float(index) * float(rate))
    return out


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


SPEC = SynthSpec(
    name="paper",
    version=2,
    description="The InverSynth paper's synth: four frequency-modulated oscillators, ADSR, resonant low-pass, gater",
    sample_rate=16384,
    clip_seconds=1.0,
    params=(
        *_oscillator_params("sine", 16),
        *_oscillator_params("saw", 17),
        *_oscillator_params("tri", 18),
        *_oscillator_params("square", 19),
        Param("a", "s", 0.001, 1.0, _UNIT, 0.01, "attack time", midi_cc=73),
        Param("d", "s", 0.001, 1.0, _UNIT, 0.2, "decay time", midi_cc=75),
        Param("s", "", 0.001, 1.0, _UNIT, 0.7, "sustain level", midi_cc=70),
        Param("r", "s", 0.001, 1.0, _UNIT, 0.3, "release time", midi_cc=72),
        Param("f_cut", "Hz", 200.0, 4000.0, linear_classes(200.0, 4000.0, 16), 4000.0, "low-pass cut-off",
              midi_cc=74),
        Param("q", "", 0.01, 10.0, linear_classes(0.01, 10.0, 16), 0.7, "low-pass resonance", midi_cc=71),
        Param("f_gate", "Hz", 0.5, 30.0, linear_classes(0.5, 30.0, 16), 0.5, "gater rate", rate=True),
    ),
    # The mod wheel and pressure open the filter, as on most analogue-style synths; an MPE slide too.
    modulation=(
        ModRoute("wheel", "f_cut", 0.5),
        ModRoute("pressure", "f_cut", 0.5),
        ModRoute("note_pressure", "f_cut", 0.5),
        ModRoute("slide", "q", 0.5),
    ),
    upgrades={1: _from_v1},
    close_db=5.0,  # p75 of one-class nudges (docs/BENCHMARKS.md)
)
# fmt: on


def _blep(pyo: Any, t: Any, dt: Any, inverse: Any) -> list[Any]:
    """Two-point PolyBLEP residual of a unit step at phase 0 (``t`` in [0, 1), ``dt`` the phase step)."""
    x1 = t * inverse
    near_start = pyo.Compare(t, dt, "<")
    early = (x1 * 2 - x1 * x1 - 1) * near_start
    x2 = (t - 1) * inverse
    near_end = pyo.Compare(t, 1 - dt, ">")
    late = (x2 * x2 + x2 * 2 + 1) * near_end
    return [x1, near_start, early, x2, near_end, late, early + late]


def _blamp(pyo: Any, t: Any, dt: Any, inverse: Any) -> list[Any]:
    """Two-point PolyBLAMP residual (the PolyBLEP's integral) of a unit slope change at phase 0."""
    x1 = t * inverse - 1
    near_start = pyo.Compare(t, dt, "<")
    early = x1 * x1 * x1 * (-1.0 / 3.0) * near_start
    x2 = (t - 1) * inverse + 1
    near_end = pyo.Compare(t, 1 - dt, ">")
    late = x2 * x2 * x2 * (1.0 / 3.0) * near_end
    return [x1, near_start, early, x2, near_end, late, early + late]


class PaperVoice(Voice):
    """Four band-limited frequency-modulated oscillators, an envelope, a biquad low-pass and a gate."""

    spec = SPEC
    signal_params = tuple(n for n in SPEC.names if n not in ("a", "d", "s", "r"))
    pitch_param = "f_sine"
    follows_pitch = ("f_saw", "f_tri", "f_square")

    def build(self, controls: Mapping[str, Any], envelope: Any) -> Any:
        pyo = pyo_module()
        nodes: list[Any] = []
        resets: list[Any] = []
        ratio = self.pitch_ratio()
        mix: Any = None
        for wave in WAVES:
            follows = f"f_{wave}" in self.follows_pitch
            frequency = controls[f"f_{wave}"] * ratio if follows else controls[f"f_{wave}"]
            if follows:
                nodes.append(frequency)
            made, phasors, signal = self._oscillator(wave, frequency, controls[f"B_{wave}"], controls[f"v_{wave}"])
            level = signal * controls[f"A_{wave}"]
            nodes += [*made, level]
            resets += phasors
            mix = level if mix is None else mix + level
            if wave != "sine":
                nodes.append(mix)
        shaped = mix * envelope * MIX
        self._shaped = shaped
        self._filter = pyo.Biquad(shaped, freq=controls["f_cut"], q=controls["q"], type=0)
        gate_phase = pyo.Phasor(freq=controls["f_gate"])
        gate = pyo.Compare(gate_phase, 0.5, "<")  # open for the first half of each cycle
        self._gated = self._filter * gate
        output = pyo.Sig(self._gated)
        self._gate = gate
        self.phase_resets = (*resets, gate_phase)
        self.nodes = (*nodes, shaped, self._filter, gate_phase, gate, self._gated, output)
        return output

    def _oscillator(self, wave: str, frequency: Any, deviation: Any, rate: Any) -> tuple[list[Any], list[Any], Any]:
        """(every object made, the phasors a note resets, the signal) of one frequency-modulated oscillator."""
        pyo = pyo_module()
        carrier = pyo.Phasor(freq=frequency)
        lfo = pyo.Phasor(freq=rate, mul=math.tau)
        period = pyo.Pow(rate, -1.0)
        depth = deviation * period * (1.0 / math.tau)  # B / (2 pi v): the swing's phase, in cycles
        bend = pyo.Cos(lfo, mul=depth * -1.0, add=depth)  # (B / v) (1 - cos 2 pi v t), in cycles
        t = pyo.Wrap(carrier + bend, 0.0, 1.0)
        made = [carrier, lfo, period, depth, bend, t]  # every object, so that a sleeping voice stops all
        if wave == "sine":
            angle = t * math.tau
            signal = pyo.Sin(angle)
            return [*made, angle, signal], [carrier, lfo], signal
        swing = pyo.Sin(lfo, mul=deviation)  # the instantaneous frequency deviation, Hz
        speed = pyo.Abs(frequency + swing)
        step = pyo.Clip(speed * (1.0 / self.sample_rate), 1e-6, 0.5)
        inverse = pyo.Pow(step, -1.0)
        made += [swing, speed, step, inverse]
        if wave == "saw":
            residual = _blep(pyo, t, step, inverse)
            signal = t * 2 - 1 - residual[-1]
            return [*made, *residual, signal], [carrier, lfo], signal
        half = pyo.Wrap(t + 0.5, 0.0, 1.0)
        if wave == "square":
            high = pyo.Compare(t, 0.5, "<")
            naive = high * 2 - 1
            rise, fall = _blep(pyo, t, step, inverse), _blep(pyo, half, step, inverse)
            signal = naive + rise[-1] - fall[-1]
            return [*made, half, high, naive, *rise, *fall, signal], [carrier, lfo], signal
        # Triangle: 0 at phase 0, rising to 1 at 1/4, -1 at 3/4; corners at 1/4 (slope -8) and 3/4 (+8).
        shifted = pyo.Wrap(t + 0.25, 0.0, 1.0)
        distance = pyo.Abs(shifted - 0.5)
        naive = 1 - distance * 4
        top = pyo.Wrap(t - 0.25, 0.0, 1.0)
        bottom = pyo.Wrap(t - 0.75, 0.0, 1.0)
        down, up = _blamp(pyo, top, step, inverse), _blamp(pyo, bottom, step, inverse)
        signal = naive + (up[-1] - down[-1]) * step * 8
        return [*made, half, shifted, distance, naive, top, bottom, *down, *up, signal], [carrier, lfo], signal

    def trigger(self, gain: float = 1.0, gated: bool = False) -> None:
        """Offline: a fresh filter (and output) for every clip. pyo's biquad keeps its state through
        stop/play and has no reset, and a clip must not depend on the one rendered before it."""
        pyo = pyo_module()
        self._filter = pyo.Biquad(self._shaped, freq=self.controls["f_cut"], q=self.controls["q"], type=0)
        self._gated = self._filter * self._gate
        self.output = pyo.Sig(self._gated)  # newest: the renderer's recorder, made after, reads it in time
        super().trigger(gain, gated)

    def envelope_segments(self, gated: bool) -> list[Segment]:
        p = self.patch
        rise_and_fall = [Segment(p["a"], 0.0, 1.0), Segment(p["d"], 1.0, p["s"])]
        if gated:
            return rise_and_fall
        return self._cut([*rise_and_fall, Segment(NOTE_SECONDS, p["s"], p["s"])], NOTE_SECONDS)

    def release_segments(self, level: float) -> list[Segment]:
        return [Segment(self.patch["r"], level, 0.0)]


def audible(values: Mapping[str, Any], clip_seconds: float) -> dict[str, Any]:
    """Which parameters can be heard in each clip (arrays of real values in, bool arrays out).

    A rate v_w only with some modulation (B_w > 0); decay and sustain only if the attack ends before
    the note is released, decay only towards a sustain below full level. The others always count.
    """
    decay_starts = values["a"] < min(NOTE_SECONDS, clip_seconds)
    return {
        **{f"v_{wave}": values[f"B_{wave}"] > 0 for wave in WAVES},
        "d": decay_starts & (values["s"] < 1),
        "s": decay_starts,
    }


# Instrument-like patches: the sine sounds the note's fundamental, the others sit at these intervals
# (semitones) over it: unison, octaves, an octave and a fifth (the third harmonic). Never a plain fifth
# or below the sine, whose sum would sound an octave under the sine (the pitch rule places the sine).
INTERVALS = (0, 12, 19, 24)
INTERVAL_WEIGHTS = (0.35, 0.3, 0.2, 0.15)
DETUNE_CENTS = 12.0  # at most, each way
SOUNDING = 0.5  # chance each of saw, tri and square is in the mix (the sine always is)
GROWL_SHARE = 0.15  # notes where one overtone is frequency-modulated hard (an FM bell's or brass's edge)


def instrument_like(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """``count`` patches that sound like an instrument's note (real values): the sine at the note's
    pitch, the others in unison, octaves or the third harmonic with small detunes, one to four in the
    mix, one vibrato or none (and now and then an overtone modulated hard), the filter a few harmonics
    above the pitch, the gate open, and the envelope of a plucked, struck, bowed, blown or organ note
    (engine/synths/_instrument.py)."""
    notes = draw_notes(rng, count)
    sounding = rng.random((count, len(WAVES))) < SOUNDING
    sounding[:, 0] = True
    growl = np.where(rng.random(count) < GROWL_SHARE, rng.integers(1, len(WAVES), count), -1)  # not the sine
    out: dict[str, np.ndarray] = {}
    top = SPEC.param("f_sine").maximum
    level = rng.uniform(0.5, 1.0, count)  # the sine's; the others' are at most it (the fundamental is heard)
    for j, wave in enumerate(WAVES):
        interval = np.zeros(count) if wave == "sine" else rng.choice(INTERVALS, count, p=INTERVAL_WEIGHTS)
        detune = np.zeros(count) if wave == "sine" else rng.uniform(-DETUNE_CENTS, DETUNE_CENTS, count)
        f = notes.pitch_hz * 2 ** ((interval + detune / 100) / 12)
        f = np.where(f > top, notes.pitch_hz * 2 ** (detune / 1200), f)  # no room above: unison
        out[f"f_{wave}"] = f
        out[f"A_{wave}"] = np.where(
            sounding[:, j], level * (1.0 if wave == "sine" else rng.uniform(0.15, 1.0, count)), 0.001
        )
        depth = np.where(growl == j, rng.uniform(0.02, 0.1, count), notes.vibrato_depth)
        out[f"B_{wave}"] = depth * f
        out[f"v_{wave}"] = np.where(growl == j, rng.uniform(5.0, 30.0, count), notes.vibrato_hz)
    out |= {"a": notes.attack, "d": notes.decay, "s": notes.sustain, "r": notes.release}
    out["f_cut"] = notes.pitch_hz * np.exp(rng.uniform(np.log(1.5), np.log(16.0), count))
    out["q"] = np.exp(rng.uniform(np.log(0.3), np.log(3.0), count))
    out["f_gate"] = np.full(count, 0.5)  # open for the whole clip
    return out


VOICE = PaperVoice


def render_rows(rows: Any, sample_rate: int, out: Any) -> None:
    """The batched renderer (engine/batched/paper.py): rows of real values [n, params] into float32 ``out``."""
    from inversynth.engine.batched import paper

    paper.render(rows, SPEC.columns, sample_rate, NOTE_SECONDS, out)
