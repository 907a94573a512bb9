"""What an instrument's note is made of, for the synths' instrument-like draws (``instrument_like``).

A uniform draw over every parameter almost never sounds like what a user brings to the matcher:
four unrelated pitches, random modulation, a filter anywhere. These are the pieces of a played
note a synth module maps onto its own parameters: a pitch over the range instruments play, a
vibrato or none, and an amplitude envelope of one of the ways instruments are played.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inversynth.engine.spec import note_frequency

PITCH_NOTES = (36, 96)  # MIDI C2..C7: where the instrument suites' notes lie
VIBRATO_SHARE = 0.4  # notes with a vibrato (bowed, blown and sung notes often have one)
VIBRATO_HZ = (4.0, 7.0)
VIBRATO_CENTS = (5.0, 40.0)  # peak pitch deviation


@dataclass(frozen=True)
class Envelope:
    """Ranges (low, high) of an envelope: seconds of attack, decay and release, and a sustain level."""

    attack: tuple[float, float]
    decay: tuple[float, float]
    sustain: tuple[float, float]
    release: tuple[float, float]


ENVELOPES = {
    "plucked": Envelope(attack=(0.001, 0.01), decay=(0.15, 1.0), sustain=(0.0, 0.25), release=(0.05, 0.6)),
    "struck": Envelope(attack=(0.001, 0.005), decay=(0.05, 0.4), sustain=(0.0, 0.1), release=(0.02, 0.3)),
    "bowed": Envelope(attack=(0.05, 0.3), decay=(0.05, 0.4), sustain=(0.6, 1.0), release=(0.1, 0.5)),
    "blown": Envelope(attack=(0.02, 0.12), decay=(0.02, 0.3), sustain=(0.65, 1.0), release=(0.03, 0.3)),
    "organ": Envelope(attack=(0.001, 0.02), decay=(0.001, 0.1), sustain=(0.85, 1.0), release=(0.01, 0.15)),
}


@dataclass(frozen=True)
class Notes:
    """``count`` drawn notes, arrays of [count]: pitch in Hz, vibrato rate in Hz and depth as a fraction of
    the pitch (0: none), and the values of an envelope of one of the ENVELOPES kinds."""

    pitch_hz: np.ndarray
    vibrato_hz: np.ndarray
    vibrato_depth: np.ndarray
    attack: np.ndarray
    decay: np.ndarray
    sustain: np.ndarray
    release: np.ndarray


def draw_notes(rng: np.random.Generator, count: int) -> Notes:
    low, high = PITCH_NOTES
    pitch = note_frequency(rng.uniform(low, high, count))
    vibrato = rng.random(count) < VIBRATO_SHARE
    cents = rng.uniform(*VIBRATO_CENTS, count)
    kinds = np.array(sorted(ENVELOPES))[rng.integers(0, len(ENVELOPES), count)]
    ranges = [ENVELOPES[str(kind)] for kind in kinds]
    return Notes(
        pitch_hz=pitch,
        vibrato_hz=rng.uniform(*VIBRATO_HZ, count),
        vibrato_depth=np.where(vibrato, 2 ** (cents / 1200) - 1, 0.0),
        attack=np.array([rng.uniform(*r.attack) for r in ranges]),
        decay=np.array([rng.uniform(*r.decay) for r in ranges]),
        sustain=np.array([rng.uniform(*r.sustain) for r in ranges]),
        release=np.array([rng.uniform(*r.release) for r in ranges]),
    )
