"""What the synth lacks for a sound: the reason a match stays far, named from what the target has
and the closest patch found does not.

Each finding compares the target with its best re-synthesis, so that it names a property of the
sound the synth did not reproduce rather than a property of the sound alone (a flute is breathy,
but a patch with noise of its own would not lack breath):

- a second note: the pitch jumps and stays (one step makes most of the pitch's range);
- a pitch that glides: the pitch moves steadily over more than ``MOVING_CENTS``;
- inharmonic partials: strong spectral peaks off the fundamental's harmonic series (a bell,
  a struck bar) that the re-synthesis does not have;
- noise or breath: energy between the harmonics well above the re-synthesis's;
- harmonics in other proportions: the levels of the first harmonics differ on average by more
  than ``HARMONICS_DB``;
- a loudness contour the envelope does not follow (a struck note's decay, a swell).

Everything here runs only for a match judged approximate or out of reach (a few FFTs).
"""

from __future__ import annotations

import numpy as np

from inversynth.engine.analysis import loudness_distance
from inversynth.engine.pitch import Pitch, find_pitch, folded_cents

MOVING_CENTS = 100.0  # beyond a player's vibrato: the pitch itself moves
OCTAVE_ERROR_CENTS = 50.0  # a frame this close to an octave of the pitch is read an octave off
JUMP_SHARE = 0.6  # one frame-to-frame step making this share of the range: a new note, not a glide
N_FFT = 8192
LOWEST_PARTIAL_HZ = 20.0
PEAK_DB = -30.0  # spectral peaks this far under the strongest count as partials
OFF_SERIES = 0.15  # a partial this far (in harmonic numbers) from every harmonic is inharmonic
INHARMONIC_SHARE = 0.1  # share of the partials' energy off the series that names them
NOISE_DB = 10.0  # the target's between-harmonics energy this much above the re-synthesis's
NOISE_FLOOR_DB = -35.0  # ... and at least this close to its harmonics' energy
HARMONICS = 8
HARMONICS_DB = 6.0
HARMONICS_RANGE_DB = 60.0  # harmonics further under the strongest count as this far under (absent)
CONTOUR_DB = 6.0


def _mean_spectrum(audio: np.ndarray) -> np.ndarray:
    """Mean power spectrum over frames of N_FFT (the clip zero-padded to one frame if shorter)."""
    x = np.asarray(audio, np.float64)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    hop = N_FFT // 2
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1)) ** 2
    return np.asarray(power.mean(axis=0))


def _harmonic_number(freqs: np.ndarray, f0: float) -> np.ndarray:
    """Each frequency's distance from the nearest harmonic of ``f0``, in harmonic numbers (0..0.5)."""
    ratio = freqs / f0
    return np.asarray(np.abs(ratio - np.maximum(1, np.round(ratio))))


def _peaks(power: np.ndarray) -> np.ndarray:
    """Indices of local maxima within PEAK_DB of the strongest bin."""
    floor = power.max() * 10 ** (PEAK_DB / 10)
    inner = power[1:-1]
    return np.flatnonzero((inner > power[:-2]) & (inner >= power[2:]) & (inner > floor)) + 1


def _moving_pitch(pitch: Pitch, sounding: Pitch) -> str:
    """How the target's pitch moves where the re-synthesis's stays (a pitch heard: an inharmonic
    sound's period jumps about without any note moving)."""
    seconds, hz = pitch.track_seconds, pitch.track_hz
    if not (pitch.pitched and pitch.heard) or sounding.spread_cents > MOVING_CENTS or hz.size < 4:
        return ""
    cents = 1200 * np.log2(hz / pitch.hz)
    octave_off = np.abs(folded_cents(hz, pitch.hz)) < OCTAVE_ERROR_CENTS  # YIN's octave errors are not moves
    cents = np.where(octave_off, folded_cents(hz, pitch.hz), cents)
    low, high = np.percentile(cents, [5, 95])
    if high - low <= MOVING_CENTS:
        return ""
    steps = np.abs(np.diff(cents))
    jump = int(np.argmax(steps))
    if steps[jump] >= JUMP_SHARE * (high - low):
        return f"a second note (the pitch jumps {steps[jump]:.0f} cents at {seconds[jump + 1]:.2f} s)"
    return f"a pitch that glides (over {high - low:.0f} cents)"


def _off_series_share(power: np.ndarray, freqs: np.ndarray, f0: float) -> float:
    peaks = _peaks(power)
    peaks = peaks[freqs[peaks] >= 0.5 * f0]
    if not peaks.size:
        return 0.0
    off = _harmonic_number(freqs[peaks], f0) > OFF_SERIES
    return float(power[peaks][off].sum() / power[peaks].sum())


def _between_harmonics_db(power: np.ndarray, freqs: np.ndarray, f0: float) -> float:
    """Energy between the harmonics over energy at them, in dB."""
    distance = _harmonic_number(freqs, f0)
    usable = freqs >= 0.5 * f0
    at = power[usable & (distance < 0.1)].sum()
    between = power[usable & (distance > 0.3)].sum()
    return float(10 * np.log10((between + 1e-30) / (at + 1e-30)))


def _harmonic_levels(power: np.ndarray, freqs: np.ndarray, f0: float) -> np.ndarray:
    """dB of harmonics 1..HARMONICS below Nyquist (the strongest bin within a quarter of f0 of each)."""
    levels = []
    for k in range(1, HARMONICS + 1):
        near = np.abs(freqs - k * f0) <= f0 / 4
        if not near.any() or k * f0 >= freqs[-1]:
            break
        levels.append(10 * np.log10(power[near].max() + 1e-30))
    levels_db = np.array(levels)
    return np.maximum(levels_db, levels_db.max(initial=0.0) - HARMONICS_RANGE_DB) if levels_db.size else levels_db


def _reference_hz(power: np.ndarray, freqs: np.ndarray, pitch: Pitch) -> float | None:
    """The fundamental the partials are read against: the pitch heard, else the lowest strong partial
    (a bell's pitch is not its period: its partials' common period, if any, is far below them)."""
    if pitch.pitched and pitch.heard:
        return pitch.hz
    peaks = _peaks(power) if power.max() > 0 else np.zeros(0, int)
    peaks = peaks[freqs[peaks] >= LOWEST_PARTIAL_HZ]
    return float(freqs[peaks[0]]) if peaks.size else None


def lacks(
    target: np.ndarray, resynthesis: np.ndarray, sample_rate: int, pitch: Pitch, sounding: Pitch | None = None
) -> list[str]:
    """What the target (whose pitch is ``pitch``) has that its re-synthesis (``sounding``, measured
    here when not given) lacks, the most telling first (empty: nothing found)."""
    found = [_moving_pitch(pitch, sounding or find_pitch(resynthesis, sample_rate))]
    freqs = np.fft.rfftfreq(N_FFT, 1 / sample_rate)
    wanted, made = _mean_spectrum(target), _mean_spectrum(resynthesis)
    f0 = _reference_hz(wanted, freqs, pitch)
    if f0 is not None:
        off = _off_series_share(wanted, freqs, f0)
        if off > INHARMONIC_SHARE and off > 2 * _off_series_share(made, freqs, f0):
            found.append(f"inharmonic partials ({100 * off:.0f} % of its partials' energy is off the harmonic series)")
        noise = _between_harmonics_db(wanted, freqs, f0)
        if noise > NOISE_FLOOR_DB and noise - _between_harmonics_db(made, freqs, f0) > NOISE_DB:
            found.append(f"noise or breath between its harmonics ({noise:.0f} dB under them)")
        levels, ours = _harmonic_levels(wanted, freqs, f0), _harmonic_levels(made, freqs, f0)
        count = min(levels.size, ours.size)
        if count >= 2:
            gap = (levels[:count] - levels[0]) - (ours[:count] - ours[0])  # shape, not level
            if np.mean(np.abs(gap[1:])) > HARMONICS_DB:
                worst = int(np.argmax(np.abs(gap[1:]))) + 2
                found.append(
                    f"harmonics in other proportions (the closest patch's are {np.mean(np.abs(gap[1:])):.0f} dB "
                    f"off on average; harmonic {worst} by {gap[worst - 1]:+.0f} dB)"
                )
    contour = float(loudness_distance(target[None, :], resynthesis[None, :])[0])
    if contour > CONTOUR_DB:
        found.append(f"a loudness contour its envelope does not follow ({contour:.0f} dB apart over time)")
    return [reason for reason in found if reason]
