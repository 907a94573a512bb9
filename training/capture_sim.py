"""Simulated captures: engine clips made to look like what a live capture or a recording brings.

A live capture is the synth rendered at the sound card's rate (44.1, 48 or
96 kHz), recorded from some sample inside an audio block, with a little noise,
sometimes stored as 16-bit PCM, then resampled and cut at its onset by the
matcher's own front end (:func:`~inversynth.bridge.matching.audio_input.to_clip`). A
training clip that went through the same chain teaches the model what that
chain does; one that did not is an engine clip as the paper used. A recording
(``recording=True``, the instrument draw's captures) also has a room and a level:
the note through a short reverberation and anywhere from full scale to 30 dB under it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inversynth.bridge.matching.audio_input import SILENCE_PEAK, to_clip
from inversynth.engine.spec import SynthSpec

CAPTURE_RATES = (44100, 48000, 96000)
MAX_LEAD_SECONDS = 256 / 48000  # up to one 256-frame block before the note starts
NOISE_DBFS = (-110.0, -70.0)  # white noise level, log-uniform between these
PCM16_SHARE = 0.5  # captures stored as 16-bit PCM with TPDF dither (the rest stay float32)
ROOM_SHARE = 0.7  # recordings with a room: its reverberation time and how much of it is heard
ROOM_SECONDS = (0.1, 0.8)  # RT60
ROOM_WET = (0.05, 0.35)
GAIN_DB = (-30.0, 0.0)  # a recording's level


@dataclass(frozen=True)
class Recording:
    """What a recording adds to a capture, per clip: a room (RT60 in s, 0: dry; its wet share) and a level."""

    room_seconds: np.ndarray  # float [clips]
    room_wet: np.ndarray  # float [clips]
    gain_db: np.ndarray  # float [clips]


@dataclass(frozen=True)
class CapturePlan:
    """What happens to one shard: rendered at ``rate``, and per clip a lead, a noise level and a format
    (and, for a recording, its room and level)."""

    rate: int
    lead_samples: np.ndarray  # int [clips]
    noise_dbfs: np.ndarray  # float [clips]
    pcm16: np.ndarray  # bool [clips]
    recording: Recording | None = None


def plan_capture(rng: np.random.Generator, clips: int, share: float, recording: bool = False) -> CapturePlan | None:
    """None (clean engine clips) with probability 1 - ``share``, else a capture plan at a random rate
    (``recording``: with a room and a level too, drawn after the rest so a capture's draws stay as they were)."""
    if rng.random() >= share:
        return None
    rate = int(rng.choice(CAPTURE_RATES))
    plan = CapturePlan(
        rate=rate,
        lead_samples=rng.integers(0, int(MAX_LEAD_SECONDS * rate) + 1, clips),
        noise_dbfs=rng.uniform(*NOISE_DBFS, clips),
        pcm16=rng.random(clips) < PCM16_SHARE,
    )
    if not recording:
        return plan
    room_seconds = np.where(rng.random(clips) < ROOM_SHARE, rng.uniform(*ROOM_SECONDS, clips), 0.0)
    room_wet = rng.uniform(*ROOM_WET, clips)
    return replace(plan, recording=Recording(room_seconds, room_wet, rng.uniform(*GAIN_DB, clips)))


def room(note: np.ndarray, rt60: float, wet: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``note`` in a room: mixed with its convolution by exponentially decaying noise (60 dB down at
    ``rt60`` s), the reverberation scaled to the note's energy; as long as the note, float32."""
    import scipy.fft

    n = max(1, round(rt60 * rate))
    response = (rng.standard_normal(n) * np.exp(np.arange(n) * (-3.0 * np.log(10) / n))).astype(np.float32)
    size = scipy.fft.next_fast_len(note.size + n - 1, real=True)
    spectrum = scipy.fft.rfft(note.astype(np.float32), size) * scipy.fft.rfft(response / np.linalg.norm(response), size)
    tail = scipy.fft.irfft(spectrum, size)[: note.size]
    return ((1.0 - wet) * note + wet * tail).astype(np.float32)


def capture(audio: np.ndarray, plan: CapturePlan, spec: SynthSpec, rng: np.random.Generator) -> np.ndarray:
    """Clips rendered at ``plan.rate`` [n, samples] -> float32 [n, clip_samples] as the matcher sees them."""
    out = np.zeros((audio.shape[0], spec.clip_samples), dtype=np.float32)
    for i in range(audio.shape[0]):
        clip = audio[i].astype(np.float64)  # one clip at a time: a 96 kHz shard in float64 would be 0.8 GB
        if np.max(np.abs(clip)) < SILENCE_PEAK:
            continue  # a silent patch stays silent (the matcher refuses such a capture)
        recording = plan.recording
        if recording is not None:
            clip = clip * 10 ** (recording.gain_db[i] / 20)
        take = np.concatenate([np.zeros(plan.lead_samples[i]), clip])
        take = take + rng.standard_normal(take.size) * 10 ** (plan.noise_dbfs[i] / 20)
        if plan.pcm16[i]:
            dither = rng.random(take.size) - rng.random(take.size)  # TPDF, +-1 LSB
            take = np.clip(np.round(take * 32767 + dither), -32768, 32767) / 32767
        out[i] = to_clip(take, plan.rate, spec)
        if recording is not None and recording.room_seconds[i] > 0:
            # At the clip's rate, after the cut: a room and a resampler are both linear, so their order
            # changes nothing below the clip's Nyquist frequency, and this convolution is 6x shorter.
            out[i] = room(out[i], recording.room_seconds[i], recording.room_wet[i], spec.sample_rate, rng)
    return out
