"""The fundamental of a clip: YIN (de Cheveigné & Kawahara, 2002), in numpy.

Why our own: YIN is about thirty lines on top of numpy's FFT; the libraries that
ship it (librosa's ``yin``/``pyin``, crepe) would bring numba and llvmlite or a
second deep-learning runtime into the server for one function, and we need
only the clip-level answer: the median fundamental of the frames that are
periodic, and how much of the sound is periodic at all (noise is not).

Per frame, the cumulative-mean-normalised difference function d'(tau) is
computed with FFT autocorrelations; the first dip under ``threshold`` (else the
deepest dip) is refined by parabolic interpolation. d' at that lag is the
frame's aperiodicity: about 0 for a clean tone, about 1 for white noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WINDOW_SECONDS = 0.07  # integration window: a period of 15 Hz, several of the lowest note (C1 = 32.7 Hz)
HOP_SECONDS = 0.01
THRESHOLD = 0.15  # YIN's absolute threshold on d'
HIGHEST_HZ = 6500.0  # the search reaches past any synth's range on both sides (see find_pitch)
ANALYSIS_RATE = 32768  # clips at lower rates are upsampled first: 5 samples per period of a 6.5 kHz tone
LOUD_DB = -40.0  # frames this far below the loudest frame are not judged
PITCHED_SHARE = 0.5  # a clip is pitched when at least this share of its loud frames is periodic
LINE_DB = -6.0  # a fundamental is heard when the spectrum near it is about as strong as its strongest line


@dataclass(frozen=True)
class Pitch:
    """A clip's fundamental.

    Attributes:
        hz: median fundamental of the periodic loud frames (NaN when none is periodic).
        periodic_share: share of the loud frames that are periodic (0 for noise, 1 for a steady tone).
        aperiodicity: median d' of the loud frames (0 clean tone .. 1 noise).
        heard: whether the clip's spectrum has a line at ``hz`` (within LINE_DB of its strongest):
            false for a missing fundamental, and for the period of a vibrato, which YIN also finds.
        spread_cents: how far the periodic frames' pitch ranges (10th to 90th percentile, cents, octaves
            folded): a few tens for a player's vibrato, hundreds for a siren or a glide.
        track_seconds, track_hz: the periodic frames' starts and fundamentals, in time order (how the
            pitch moves).
    """

    hz: float
    periodic_share: float
    aperiodicity: float
    heard: bool = False
    spread_cents: float = 0.0
    track_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)
    track_hz: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    @property
    def pitched(self) -> bool:
        return self.periodic_share >= PITCHED_SHARE and np.isfinite(self.hz)


def _frames(audio: np.ndarray, length: int, hop: int) -> np.ndarray:
    if audio.size < length:
        audio = np.pad(audio, (0, length - audio.size))
    return np.lib.stride_tricks.sliding_window_view(audio, length)[::hop]


def difference(frames: np.ndarray, window: int, max_lag: int) -> np.ndarray:
    """YIN's difference d(tau) = sum_j (x_j - x_{j+tau})^2, [n_frames, max_lag + 1], for frames of window + max_lag."""
    size = 1 << int(np.ceil(np.log2(frames.shape[1] + window)))
    spectrum = np.fft.rfft(frames, size)
    head = np.fft.rfft(frames[:, :window], size)
    cross = np.fft.irfft(spectrum * np.conj(head), size)[:, : max_lag + 1]  # r(tau) = sum x_j x_{j+tau}
    energy = np.cumsum(frames**2, axis=1)
    ends = energy[:, window - 1 : window + max_lag]
    starts = np.concatenate([np.zeros((frames.shape[0], 1)), energy[:, :max_lag]], axis=1)
    out = energy[:, window - 1 : window][:, :1] + (ends - starts) - 2 * cross
    out[:, 0] = 0.0
    return np.maximum(out, 0.0)


def cmnd(d: np.ndarray) -> np.ndarray:
    """Cumulative-mean-normalised difference d'(tau) from d(tau)."""
    running = np.cumsum(d[:, 1:], axis=1) / np.arange(1, d.shape[1])
    out = np.ones_like(d)
    out[:, 1:] = d[:, 1:] / np.maximum(running, 1e-12)
    return out


def _pick(curve: np.ndarray, raw: np.ndarray, min_lag: int, threshold: float) -> tuple[float, float]:
    """(lag with sub-sample precision, d' there) for one frame's d' (``curve``) and d (``raw``).

    The dip is chosen on d' and interpolated on d, whose shape near a period is closer to a parabola.
    """
    region = curve[min_lag:-1]
    below = np.flatnonzero(region < threshold)
    if below.size:
        lag = below[0] + min_lag
        while lag + 1 < curve.size - 1 and curve[lag + 1] < curve[lag]:
            lag += 1  # walk down to the bottom of the first dip
    else:
        lag = int(np.argmin(region)) + min_lag
    a, b, c = raw[lag - 1], raw[lag], raw[lag + 1]
    bend = a - 2 * b + c
    shift = 0.5 * (a - c) / bend if bend > 0 else 0.0
    return lag + float(np.clip(shift, -0.5, 0.5)), float(curve[lag])


def find_pitch(audio: np.ndarray, sample_rate: int, low_hz: float = 15.0) -> Pitch:
    """The fundamental of a mono clip between ``low_hz`` and HIGHEST_HZ (see :class:`Pitch`).

    The search reaches past any synth's range on both sides, so that a tone outside it is found
    (and called out of reach) rather than mistaken for noise.
    """
    x = np.asarray(audio, dtype=np.float64)
    if sample_rate < ANALYSIS_RATE:  # a few samples per period cannot place a dip: look at it finer
        import soxr

        x, sample_rate = soxr.resample(x, sample_rate, ANALYSIS_RATE, quality="HQ"), ANALYSIS_RATE
    window = max(8, round(WINDOW_SECONDS * sample_rate))
    max_lag = min(int(np.ceil(sample_rate / low_hz)) + 1, window)
    min_lag = max(2, round(sample_rate / HIGHEST_HZ))
    hop = max(1, round(HOP_SECONDS * sample_rate))
    frames = _frames(x, window + max_lag, hop)
    power = np.mean(frames[:, :window] ** 2, axis=1)
    if not np.any(power > 0):
        return Pitch(float("nan"), 0.0, 1.0)
    loud = 10 * np.log10(power / power.max() + 1e-30) > LOUD_DB
    raw = difference(frames[loud], window, max_lag)
    picks = np.array([_pick(curve, d, min_lag, THRESHOLD) for curve, d in zip(cmnd(raw), raw, strict=True)])
    periodic = picks[:, 1] < THRESHOLD
    if not periodic.any():
        return Pitch(float("nan"), 0.0, float(np.median(picks[:, 1])))
    frame_hz = sample_rate / picks[periodic, 0]
    hz = float(np.median(frame_hz))
    spread = float(np.diff(np.percentile(folded_cents(frame_hz, hz), [10, 90]))[0])
    heard, seconds = _line_at(x, sample_rate, hz), np.flatnonzero(loud)[periodic] * hop / sample_rate
    return Pitch(hz, float(periodic.mean()), float(np.median(picks[:, 1])), heard, spread, seconds, frame_hz)


def folded_cents(hz: np.ndarray, reference: float) -> np.ndarray:
    """Cents from ``reference``, octaves folded into ±600: frames YIN reads an octave off (an organ's
    16-foot stop) are not a pitch moving."""
    return (1200 * np.log2(np.asarray(hz) / reference) + 600) % 1200 - 600


def _line_at(x: np.ndarray, sample_rate: int, hz: float) -> bool:
    """Whether the whole clip's spectrum has a line within a quarter tone of ``hz``, near its strongest."""
    if not np.isfinite(hz):
        return False
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / sample_rate)
    near = (freqs >= hz * 2 ** (-1 / 24) - 1.0) & (freqs <= hz * 2 ** (1 / 24) + 1.0)
    return bool(near.any() and spectrum[near].max() >= spectrum.max() * 10 ** (LINE_DB / 20))
