"""Pitch first: where a take has a steady pitch, its match sounds at it.

The network hears timbre and pitch together; on a sound the synth cannot make (any real instrument)
its pitch heads go wherever the timbre leads them, and a patch an octave or a third off is useless
to the player whatever its distance. So the measured pitch comes first: a network estimate whose
re-synthesis does not sound within ``PITCH_CENTS`` of the take's pitch is moved, all its
oscillators by one ratio (the intervals the network chose kept), so that one of them sits on the
pitch, each also tried with its pitch swings (``Param.swings_pitch``) at their minimum and with the
other oscillators on harmonics of it (:func:`placements`); of these placements the closest that
sounds at the pitch wins (the closest of all when none does). The refinement then keeps that
oscillator where it is, and a refined patch that no longer sounds at the pitch is not taken. The
network's own pitch stands where the take has no steady pitch, or where its re-synthesis already
sounds at it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inversynth.engine.analysis import match_distance
from inversynth.engine.pitch import Pitch, find_pitch
from inversynth.engine.render import Renderer
from inversynth.engine.spec import Param, SynthSpec
from inversynth.engine.synths import get_voice

PITCH_CENTS = 25.0  # a re-synthesis this close to the take's pitch sounds at it
STEADY_CENTS = 100.0  # a take whose pitch ranges wider (10th to 90th percentile) has no one pitch to keep


def steady(pitch: Pitch) -> bool:
    """A pitch the match must keep: periodic through the note and within ``STEADY_CENTS`` (a player's
    vibrato, not a siren's sweep, whose pitch is the sweep: the network hears it, the median does
    not). Its line need not be heard (a plucked string's fundamental may sit well below its
    harmonics: the ear still hears it); a vibrato's period, which YIN also finds, lies below the
    keyboard, where no oscillator is placed."""
    return pitch.pitched and pitch.spread_cents <= STEADY_CENTS


def sounds_at(pitch: Pitch, sounding: Pitch) -> bool:
    """Whether a re-synthesis whose pitch is ``sounding`` sounds at the take's ``pitch``: its median
    within PITCH_CENTS, and steady where the take is (a wide vibrato around the pitch is not it)."""
    wobbles = sounding.spread_cents > STEADY_CENTS >= pitch.spread_cents
    return sounding.pitched and not wobbles and abs(1200 * np.log2(sounding.hz / pitch.hz)) <= PITCH_CENTS


def placements(spec: SynthSpec, values: np.ndarray, hz: float) -> list[tuple[str, np.ndarray]]:
    """The patch moved so that one oscillator sounds at ``hz``: per oscillator that moves with the
    played note (the voice's pitch parameter and those that follow it), its name and four variants of
    the moved values: as they are; with every pitch swing at its minimum (a steady pitch, where the
    network heard a timbre the synth can only make by swinging it); with the other oscillators on the
    nearest whole multiple of the placed one (a harmonic mix, where the network chose intervals that
    beat); and with both. One that would take the pitch parameter outside its range is left out."""
    voice, keyboard = get_voice(spec.name), _keyboard(spec)
    if keyboard is None or not keyboard.minimum <= hz <= keyboard.maximum:
        return []  # no keyboard, or a pitch the synth cannot play: the verdict says so
    patch = spec.from_array(values)
    oscillators = (keyboard.name, *voice.follows_pitch)
    steadied = {p.name: p.minimum for p in spec.params if p.swings_pitch}
    found = []
    for name in oscillators:
        played = patch[keyboard.name] * hz / patch[name]
        if not keyboard.minimum <= played <= keyboard.maximum:
            continue
        moved = voice.played_at(patch, played)
        harmonic = {other: _within(spec, other, hz * max(1, round(moved[other] / hz))) for other in oscillators
                    if other != name}  # fmt: skip
        for variant in (moved, {**moved, **steadied}, {**moved, **harmonic}, {**moved, **harmonic, **steadied}):
            found.append((name, spec.to_array(variant)))
    return found


def _within(spec: SynthSpec, name: str, value: float) -> float:
    param = spec.param(name)
    return min(max(value, param.minimum), param.maximum)


@dataclass(frozen=True)
class Placed:
    """A note's estimate after the pitch rule: its values, their re-synthesis and its pitch, and the
    oscillator placed on the take's pitch (None where the network's own pitch stands)."""

    values: np.ndarray
    resynthesis: np.ndarray
    sounding: Pitch
    placed: str | None
    preset: str | None = None  # the preset played at the take's pitch it starts from (None: the network's)


def place_pitches(
    spec: SynthSpec,
    renderer: Renderer,
    clips: np.ndarray,
    values: np.ndarray,
    pitches: Sequence[Pitch],
    presets: Sequence[tuple[str, Mapping[str, float]]] = (),
) -> list[Placed]:
    """The pitch rule over a batch of notes (``clips`` [n, samples], the network's ``values`` [n, params]);
    every re-synthesis of every placement is rendered in one batch.

    ``presets`` (name, params), each played at a steady take's pitch, compete with the network's
    placements: a sound the network has never heard the like of (a real instrument, for a network
    trained on the synth's own random patches) may be nearer one of them, and the search then starts
    there; the network's own estimate competes too where it already sounds at the pitch."""
    resynthesis = renderer.render(values, spec.clip_samples)
    rate = spec.sample_rate
    kept = [Placed(values[i], resynthesis[i], find_pitch(resynthesis[i], rate), None) for i in range(len(clips))]
    tried: list[tuple[int, str, np.ndarray, str | None]] = []
    for i, pitch in enumerate(pitches):
        if not steady(pitch):
            continue
        if not sounds_at(pitch, kept[i].sounding):
            tried += [(i, name, moved, None) for name, moved in placements(spec, values[i], pitch.hz)]
        tried += [(i, *played, name) for name, params in presets if (played := _played(spec, params, pitch.hz))]
    if not tried:
        return kept
    heard = renderer.render(np.stack([moved for _, _, moved, _ in tried]), spec.clip_samples)
    distances = match_distance(clips[[i for i, _, _, _ in tried]], heard)
    at_pitch = {i: float(d) for i, d in enumerate(match_distance(clips, resynthesis))
                if steady(pitches[i]) and sounds_at(pitches[i], kept[i].sounding)}  # fmt: skip
    best: dict[int, tuple[bool, float, Placed]] = {i: (False, d, kept[i]) for i, d in at_pitch.items()}
    for (i, name, moved, preset), audio, distance in zip(tried, heard, distances, strict=True):
        sounding = find_pitch(audio, rate)
        rank = (not sounds_at(pitches[i], sounding), float(distance))  # at the pitch first, then the closest
        if i not in best or rank < best[i][:2]:
            best[i] = (*rank, Placed(moved, audio, sounding, name, preset))
    return [best[i][2] if i in best else placed for i, placed in enumerate(kept)]


def played_at(spec: SynthSpec, params: Mapping[str, float], hz: float) -> np.ndarray:
    """A preset's values as a live voice plays it at a note of ``hz``."""
    return spec.to_array(spec.patch(get_voice(spec.name).played_at(dict(params), hz)))


def _played(spec: SynthSpec, params: Mapping[str, float], hz: float) -> tuple[str, np.ndarray] | None:
    """A preset played at ``hz`` (the oscillator placed there, the values), or None beyond the keyboard."""
    keyboard = _keyboard(spec)
    if keyboard is None or not keyboard.minimum <= hz <= keyboard.maximum:
        return None
    return keyboard.name, played_at(spec, params, hz)


def _keyboard(spec: SynthSpec) -> Param | None:
    """The parameter the played note sets (None for a synth without one)."""
    name = get_voice(spec.name).pitch_param
    return None if name is None else spec.param(name)
