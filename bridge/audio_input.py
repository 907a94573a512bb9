"""Audio from the outside world -> one clip in the spec's format.

Any file soundfile reads (WAV, FLAC, OGG, …), any sample rate (resampled with
soxr), mono or multichannel (averaged), any length: the clip starts at the
onset, the first moment the sound rises above -60 dB of its own peak (the
synth's clips start at their onset), and is cropped or zero-padded to the clip
length. Everything that cannot be a synth sound is refused with one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from inversynth.engine.spec import SynthSpec
from inversynth.errors import InversynthError

ONSET_DB = -60.0
SILENCE_PEAK = 1e-5  # -100 dBFS
MIN_SECONDS = 0.02


class AudioInputError(InversynthError):
    """An audio file or buffer cannot be turned into a clip."""


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Samples [frames, channels] (float64) and sample rate of an audio file."""
    if not Path(path).is_file():
        raise AudioInputError(f"{path}: No such file")
    try:
        audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(exc).rsplit(": ", 1)[-1].strip().rstrip(".")  # libsndfile's words, without the path
        raise AudioInputError(f"{path}: not a readable audio file ({reason})") from None
    except OSError as exc:
        raise AudioInputError(f"{path}: {exc.strerror or exc}") from None
    return audio, rate


def to_clip(audio: np.ndarray, sample_rate: int, spec: SynthSpec, name: str = "audio") -> np.ndarray:
    """Mono float32 [clip_samples] at the spec's rate, starting at the onset."""
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
    mono = resample(mono, sample_rate, spec.sample_rate)
    onset = int(np.argmax(np.abs(mono) >= peak * 10 ** (ONSET_DB / 20)))
    clip = np.zeros(spec.clip_samples, dtype=np.float32)
    body = mono[onset : onset + spec.clip_samples]
    clip[: body.size] = body
    return clip


def resample(mono: np.ndarray, rate: int, target: int) -> np.ndarray:
    return mono if rate == target else soxr.resample(mono, rate, target, quality="HQ")


def load_mono(path: Path, sample_rate: int) -> np.ndarray:
    """A whole audio file, channels averaged, at ``sample_rate`` (float64)."""
    audio, rate = read_audio(path)
    return resample(audio.mean(axis=1), rate, sample_rate)


def load_clip(path: Path, spec: SynthSpec) -> np.ndarray:
    audio, rate = read_audio(path)
    return to_clip(audio, rate, spec, str(path))
