"""Where the notes of a take start: rises of the frame energy, less those the note's own pattern explains.

Every rise of the energy of 10 ms frames by 12 dB (re)opens the sound. An opening out of silence
continues the note when it keeps the note's period (gates, tremolos and pulsing LFOs are periodic;
10 ms frames miss some openings of a fast gate, so whole multiples count) or, for the second
opening, when the silence lasted as long as the sound before it (the paper synth's gater is open
half of each cycle). An opening out of a dip that never fell silent (a filter swept by FM)
continues it unless the sound rises well above its recent peak, as a note struck over a ringing
one does. A steady pitch changing by a semitone across an opening is a new note whatever the
rhythm. So a gated note is one note, and notes with gaps no pattern explains stay separate.
"""

from __future__ import annotations

import numpy as np

from inversynth.engine.pitch import find_pitch

ONSET_DB = -60.0  # a take's own onset: the first sample this far under its peak

FRAME_SECONDS = 0.01
RISE_DB = 12.0  # a sound (re)starts where the frame energy jumps this much above the last 50 ms
FLOOR_DB = -50.0  # ... and is within this of the take's loudest frame
MIN_GAP_SECONDS = 0.1
LEAD_DB = 20.0  # a rise starts at its first frame within this of its loudest (not a resampler's pre-ringing)
SHUT_DB = -30.0  # the sound is shut where its 2 ms peak is this far below the loudest 2 ms of the last 0.1 s
SHUT_FRAME_SECONDS = 0.002  # fine enough for a 30 Hz gate's 17 ms shut halves; a C1 period's peak is in every one
SAME_SPAN = (0.015, 0.2)  # two spans are alike within 15 ms or 20 % of the longer
STRIKE_DB, RECENT_SECONDS = 6.0, 0.25  # a note struck over a ringing one rises this far above its recent peak
EDGE_FRAMES = 2  # the silence before an opening may end this many shut-frames early
MAX_MULTIPLE = 4  # a periodic pattern may skip up to this many openings the frames missed


def find_onsets(mono: np.ndarray, sample_rate: int) -> list[int]:
    """Sample indices where notes start; the first is the take's own onset (ONSET_DB under its peak)."""
    hop = max(1, round(FRAME_SECONDS * sample_rate))
    frames = mono[: mono.size // hop * hop].reshape(-1, hop)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    first = int(np.argmax(np.abs(mono) >= np.max(np.abs(mono)) * 10 ** (ONSET_DB / 20)))
    openings, look_back, was_rising = [first], max(1, round(0.05 / FRAME_SECONDS)), False
    for i in range(1, energy.size):
        recent = energy[max(0, i - look_back) : i].min()
        rising = energy[i] - recent >= RISE_DB and energy[i] >= energy.max() + FLOOR_DB
        if rising and not was_rising:  # the first frame of a rise, or of its loud part (resampling rings ahead)
            ahead = energy[i : i + look_back]
            i_loud = i + int(np.argmax(ahead >= ahead.max() - LEAD_DB))
            start = _first_loud_sample(mono, (i_loud - 1) * hop, (i_loud + 1) * hop, sample_rate)
            if start > openings[-1] + hop:
                openings.append(start)
        was_rising = rising
    shut = _shut(mono, sample_rate)
    onsets = [first]
    for k in range(1, len(openings)):
        note = [o for o in openings[:k] if o >= onsets[-1]]
        if _reopens(mono, shut, sample_rate, note, openings[k], openings[k + 1 : k + 2]):
            continue
        if openings[k] - onsets[-1] >= MIN_GAP_SECONDS * sample_rate:
            onsets.append(openings[k])
    return onsets


def _shut(mono: np.ndarray, rate: int) -> np.ndarray:
    """bool per SHUT_FRAME_SECONDS frame: the sound is shut there (silent against its last 0.1 s, or
    below the take's floor: a long silence's noise is not a sound)."""
    width = max(1, round(SHUT_FRAME_SECONDS * rate))
    peaks = np.abs(mono[: mono.size // width * width]).reshape(-1, width).max(axis=1)
    span = max(1, round(0.1 / SHUT_FRAME_SECONDS))
    padded = np.concatenate([np.zeros(span - 1), peaks])
    loudest = np.lib.stride_tricks.sliding_window_view(padded, span).max(axis=1)
    return peaks <= np.maximum(loudest * 10 ** (SHUT_DB / 20), peaks.max() * 10 ** (FLOOR_DB / 20))


def _alike(a: float, b: float) -> bool:
    return abs(a - b) <= max(SAME_SPAN[0], SAME_SPAN[1] * max(a, b))


def _multiples(a: float, b: float) -> bool:
    """Whether the longer of two intervals is a whole number (up to MAX_MULTIPLE) of the shorter."""
    short, long = sorted((a, b))
    count = round(long / short) if short > 0 else 0
    return 1 <= count <= MAX_MULTIPLE and _alike(long, count * short)


def _run_before(mask: np.ndarray, stop: int, value: bool, floor: int) -> int:
    """How many frames before ``stop`` (not before ``floor``) in a row have ``mask == value``."""
    count = 0
    while stop - count - 1 >= floor and mask[stop - count - 1] == value:
        count += 1
    return count


def _reopens(mono: np.ndarray, shut: np.ndarray, rate: int, note: list[int], opening: int, after: list[int]) -> bool:
    """Whether ``opening`` re-opens the note whose openings so far are ``note`` rather than starting one.

    It does when the note's own pattern explains it, and the pitch does not change across it:
    - out of a silence (a gate shut): the openings out of silence come at the pattern's period (the
      interval from the last one and the one before it, or for the second opening the one after it,
      are whole multiples of one period: openings too brief for 10 ms frames are missed), or the
      silence lasted as long as the sound before it (the paper synth's gater is open half of each
      cycle: a slow gate's second opening);
    - out of a dip that never fell silent (a tremolo, a filter swept by FM): the sound comes back to
      within STRIKE_DB of its loudest in the last RECENT_SECONDS, where a new note strikes above it.
    A steady pitch before and a different steady pitch after is a new note whatever the rhythm.
    """
    width = max(1, round(SHUT_FRAME_SECONDS * rate))
    first = note[0] // width
    frame = max(first, opening // width - EDGE_FRAMES)  # a resampler rings a few ms ahead of an edge
    silence = _run_before(shut, frame, True, first)
    if silence == 0:
        recent = np.max(np.abs(mono[max(note[0], opening - round(RECENT_SECONDS * rate)) : opening]))
        explained = np.max(np.abs(mono[opening : opening + round(0.05 * rate)])) <= recent * 10 ** (STRIKE_DB / 20)
        return explained and not _pitch_changes(mono[note[0] : opening], mono[opening:], rate)
    sounded = _run_before(shut, frame - silence, False, first)
    out_of_silence = [o for o in note if o == note[0] or shut[max(0, o // width - 1)]]
    last = out_of_silence[-1]
    interval = (opening - last) / rate
    if len(out_of_silence) > 1:  # the note's period is known: the opening keeps it
        periodic = _multiples(interval, (last - out_of_silence[-2]) / rate)
    else:  # the second opening: the next one may confirm the period
        periodic = bool(after) and _multiples(interval, (after[0] - opening) / rate)
    half_open = sounded > 0 and _alike(silence * width / rate, sounded * width / rate)
    if not (periodic or half_open):
        return False
    closed = (frame - silence) * width
    return not _pitch_changes(mono[note[0] : closed], mono[opening:], rate)


STEADY_SECONDS = 0.07  # a pitch is steady when two windows of this length agree


def _pitch_changes(before: np.ndarray, after: np.ndarray, rate: int) -> bool:
    """Whether a steady pitch at the end of ``before`` and one at the start of ``after`` differ by a semitone
    (each side's last or first two windows agree within half a semitone: an FM sweep is not steady)."""
    window = round(STEADY_SECONDS * rate)
    if min(before.size, after.size) < 2 * window:
        return False  # too short to tell: the rhythm decides
    pitches = [find_pitch(part, rate) for part in (before[-2 * window : -window], before[-window:],
                                                   after[:window], after[window : 2 * window])]  # fmt: skip
    if not all(p.pitched for p in pitches):
        return False
    semitones = 12 * np.log2(np.array([p.hz for p in pitches]))
    steady = abs(semitones[0] - semitones[1]) < 0.5 and abs(semitones[2] - semitones[3]) < 0.5
    return bool(steady and abs(semitones[1] - semitones[2]) >= 1.0)


def _first_loud_sample(mono: np.ndarray, start: int, stop: int, sample_rate: int) -> int:
    """Within [start, stop), the first sample above -40 dB of the next 100 ms's peak (the attack begins)."""
    peak = np.max(np.abs(mono[start : start + round(0.1 * sample_rate)]))
    loud = np.flatnonzero(np.abs(mono[start:stop]) >= peak * 10 ** (-40 / 20))
    return start + int(loud[0]) if loud.size else start
