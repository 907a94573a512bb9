"""Audio from the outside world -> clips in the spec's format.

Any file soundfile reads (WAV, FLAC, OGG, …), any sample rate (resampled with
soxr), mono or multichannel (averaged), any length: a clip starts at a note's
onset (the synth's clips start at theirs) and is cropped or zero-padded to the
clip length. One note: its onset is the first moment the sound rises above
-60 dB of its own peak. A longer take holds several notes:
:mod:`~inversynth.bridge.matching.note_finder` finds where each starts (a gate or a
tremolo re-opening a note is not a new one; a legato change of note at the
same level is not found either), and a note's span ends at the next note or
after one clip length. Everything that cannot be a synth sound is refused
with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inversynth.audio_files import AudioFileError, read_audio, resample
from inversynth.bridge.matching.note_finder import FLOOR_DB, FRAME_SECONDS, ONSET_DB, find_onsets
from inversynth.engine.spec import SynthSpec

SILENCE_PEAK = 1e-5  # -100 dBFS
MIN_SECONDS = 0.02


class AudioInputError(AudioFileError):
    """An audio file or buffer cannot be turned into a clip."""


def _mono(audio: np.ndarray, sample_rate: int, name: str) -> np.ndarray:
    """Checked mono float64 samples (channels averaged)."""
    samples = np.asarray(audio, dtype=np.float64)
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if mono.size == 0:
        raise AudioInputError(f"{name}: holds no samples")
    if not np.all(np.isfinite(mono)):
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise AudioInputError(f"{name}: {bad} samples are NaN or infinite")
    if mono.size < MIN_SECONDS * sample_rate:
        raise AudioInputError(
            f"{name}: {mono.size / sample_rate * 1000:.1f} ms is too short (at least {MIN_SECONDS * 1000:.0f} ms)"
        )
    peak = float(np.max(np.abs(mono)))
    if peak < SILENCE_PEAK:
        raise AudioInputError(f"{name}: is silent (peak below {20 * np.log10(SILENCE_PEAK):.0f} dBFS)")
    return mono


def to_clip(audio: np.ndarray, sample_rate: int, spec: SynthSpec, name: str = "audio") -> np.ndarray:
    """Mono float32 [clip_samples] at the spec's rate, starting at the onset."""
    mono = resample(_mono(audio, sample_rate, name), sample_rate, spec.sample_rate)
    onset = int(np.argmax(np.abs(mono) >= np.max(np.abs(mono)) * 10 ** (ONSET_DB / 20)))
    return _cut(mono, onset, onset + spec.clip_samples, spec)


def _cut(mono: np.ndarray, start: int, stop: int, spec: SynthSpec) -> np.ndarray:
    clip = np.zeros(spec.clip_samples, dtype=np.float32)
    body = mono[start : min(stop, start + spec.clip_samples)]
    clip[: body.size] = body
    return clip


@dataclass(frozen=True)
class Note:
    """One note of a take: its clip and the span of the take it came from (seconds)."""

    clip: np.ndarray
    start: float
    end: float


def notes(
    audio: np.ndarray, sample_rate: int, spec: SynthSpec, name: str = "audio", capture: bool = False
) -> list[Note]:
    """Every note of a take, each cut at the next one's onset, at the spec's rate.

    ``capture``: the take began at an arbitrary moment (a live capture), so a sound already ringing
    at its first sample is the tail of an earlier note, not a note, when another one starts later.
    """
    mono = resample(_mono(audio, sample_rate, name), sample_rate, spec.sample_rate)
    onsets = find_onsets(mono, spec.sample_rate)
    frame = round(FRAME_SECONDS * spec.sample_rate)
    ringing = np.max(np.abs(mono[:frame])) >= np.max(np.abs(mono)) * 10 ** (FLOOR_DB / 20)
    if capture and ringing and len(onsets) > 1:
        onsets = onsets[1:]
    ends = [*onsets[1:], mono.size]
    rate = spec.sample_rate
    return [
        Note(_cut(mono, start, stop, spec), start / rate, min(stop, start + spec.clip_samples) / rate)
        for start, stop in zip(onsets, ends, strict=True)
    ]


def load_notes(path: Path, spec: SynthSpec, each_note: bool = False) -> list[Note]:
    """The first note of an audio file (its span ends at the next note), or with ``each_note`` all of them."""
    audio, rate = read_audio(path)
    found = notes(audio, rate, spec, str(path))
    return found if each_note else found[:1]
