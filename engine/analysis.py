"""Audio-domain distances between a target clip and its re-synthesis (numpy only).

All take float arrays [..., samples] (a batch or one clip) and return one value
per clip. Spectra use Hann windows; the paper's figures use 512-sample windows
with hop 256.

* ``log_spectral_distance``: dB, mean over frames of the RMS over bins of the
  difference of the power spectra in dB, each floored at -100 dB below full
  scale (or 80 dB under a quiet target's loudest bin) so silence on both sides
  counts as equal, not as infinitely far.
* ``loudness_distance``: dB, mean level difference of the frames where either
  clip sounds; ``match_distance``, the larger of the two, is what verdicts judge.
Log magnitudes elsewhere are floored 100 dB below a full-scale sine.

* ``mr_stft_distance``: spectral convergence + mean |log magnitude difference|,
  averaged over FFT sizes 512, 1024 and 2048 (hop = size / 4).
* ``rho_stft`` / ``rho_ft``: the paper's Pearson correlations x100 between the
  log-STFTs and between the whole-clip Fourier magnitudes.
* ``frobenius_log_stft``: the paper's F∆, the Frobenius norm of the difference
  of the natural-log STFT magnitudes.
"""

from __future__ import annotations

import numpy as np

_DB_FLOOR = -100.0  # dB below a full-scale sine: float16 storage noise and true silence both sit under it
RELATIVE_FLOOR_DB = -80.0  # ... lowered for a quiet target to this far under its loudest bin
LOUDNESS_RANGE_DB = 60.0  # the loudness distance looks this far under the target's loudest frame


def _rfft(frames: np.ndarray) -> np.ndarray:
    """scipy's real FFT over the last axis (single precision stays single); scipy is imported on first
    use, so that importing the analysis (every command line start does) costs no 0.3 s."""
    import scipy.fft

    return scipy.fft.rfft(frames, axis=-1)


def stft_magnitude(audio: np.ndarray, n_fft: int = 512, hop: int = 256) -> np.ndarray:
    """|STFT|, shape [..., frames, n_fft // 2 + 1], centred frames (reflect padding), Hann window."""
    x = np.asarray(audio, dtype=np.float64)
    pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    x = np.pad(x, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    return np.abs(_rfft(frames * np.hanning(n_fft + 1)[:-1]))


def _log_magnitude(magnitude: np.ndarray, n_fft: int) -> np.ndarray:
    """Natural log of |STFT|, floored at _DB_FLOOR below a full-scale sine."""
    return np.log(np.maximum(magnitude, (n_fft / 2) * 10 ** (_DB_FLOOR / 20)))


def _power_db(magnitude: np.ndarray, n_fft: int) -> np.ndarray:
    full_scale = (n_fft / 2) ** 2  # power of a unit sine's peak bin under a Hann window
    return 10 * np.log10(magnitude**2 / full_scale + 1e-30)


def _floor_db(target_db: np.ndarray) -> np.ndarray:
    """Per clip [..., 1, 1]: _DB_FLOOR, or lower for a quiet target (RELATIVE_FLOOR_DB under its loudest bin),
    so that a quiet sound's bins stay far from silence instead of sinking under a fixed floor."""
    return np.minimum(_DB_FLOOR, target_db.max(axis=(-2, -1), keepdims=True) + RELATIVE_FLOOR_DB)


def log_spectral_distance(target: np.ndarray, estimate: np.ndarray, n_fft: int = 512, hop: int = 256) -> np.ndarray:
    a = _power_db(stft_magnitude(target, n_fft, hop), n_fft)
    b = _power_db(stft_magnitude(estimate, n_fft, hop), n_fft)
    floor = _floor_db(a)
    a, b = np.maximum(a, floor), np.maximum(b, floor)
    return np.sqrt(np.mean((a - b) ** 2, axis=-1)).mean(axis=-1)


def loudness_distance(target: np.ndarray, estimate: np.ndarray, frame: int = 512, hop: int = 256) -> np.ndarray:
    """dB: mean |level difference| of frames (RMS) where either clip sounds, each floored LOUDNESS_RANGE_DB
    under the target's loudest frame: silence against a sound is that range away, however few its frames."""
    levels = []
    for audio in (target, estimate):
        x = np.asarray(audio, dtype=np.float64)
        frames = np.lib.stride_tricks.sliding_window_view(x, frame, axis=-1)[..., ::hop, :]
        levels.append(10 * np.log10(np.mean(frames**2, axis=-1) + 1e-30))
    a, b = levels
    floor = a.max(axis=-1, keepdims=True) - LOUDNESS_RANGE_DB
    a, b = np.maximum(a, floor), np.maximum(b, floor)
    sounding = (a > floor) | (b > floor)
    return np.sum(np.abs(a - b) * sounding, axis=-1) / np.maximum(np.sum(sounding, axis=-1), 1)


def match_distance(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """What verdicts judge (dB): the log-spectral distance, or the loudness distance where that is larger
    (a quiet or silent re-synthesis of a sound is never close to it, nor a short blip's silence)."""
    return np.maximum(log_spectral_distance(target, estimate), loudness_distance(target, estimate))


def mr_stft_distance(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    total = np.zeros(np.broadcast_shapes(np.shape(target)[:-1], np.shape(estimate)[:-1]))
    sizes = (512, 1024, 2048)
    for n_fft in sizes:
        floor = (n_fft / 2) * 10 ** (_DB_FLOOR / 20)  # a silent target must not divide by ~0
        a = np.maximum(stft_magnitude(target, n_fft, n_fft // 4), floor)
        b = np.maximum(stft_magnitude(estimate, n_fft, n_fft // 4), floor)
        convergence = np.linalg.norm(a - b, axis=(-2, -1)) / np.linalg.norm(a, axis=(-2, -1))
        log_l1 = np.mean(np.abs(np.log(a) - np.log(b)), axis=(-2, -1))
        total = total + convergence + log_l1
    return total / len(sizes)


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation over the last axis."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    return np.sum(a * b, axis=-1) / (np.sqrt(np.sum(a**2, axis=-1) * np.sum(b**2, axis=-1)) + 1e-30)


def rho_stft(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    a = _log_magnitude(stft_magnitude(target), 512)
    b = _log_magnitude(stft_magnitude(estimate), 512)
    return 100 * _pearson(a.reshape(*a.shape[:-2], -1), b.reshape(*b.shape[:-2], -1))


def rho_ft(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    a = np.abs(np.fft.rfft(np.asarray(target, dtype=np.float64), axis=-1))
    b = np.abs(np.fft.rfft(np.asarray(estimate, dtype=np.float64), axis=-1))
    return 100 * _pearson(a, b)


def frobenius_log_stft(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    a = _log_magnitude(stft_magnitude(target), 512)
    b = _log_magnitude(stft_magnitude(estimate), 512)
    return np.linalg.norm(a - b, axis=(-2, -1))


class SpectralTarget:
    """A target clip's spectra at several resolutions, kept for scoring many candidates against it.

    ``distance(batch)`` is a multi-resolution spectral distance: per FFT size (Hann window, hop =
    size / 2, float32 throughout: scipy's FFT keeps single precision, numpy's costs 2-10x more),
    spectral convergence plus mean |log-magnitude difference|, averaged over the sizes; the last
    "size" is the whole clip in one frame, whose 1 Hz lines tell the lowest notes apart (C1's
    semitones are 2 Hz apart). It is what the refinement minimises; reports use ``log_spectral_distance``.
    """

    SIZES = (256, 1024, 4096)

    def __init__(self, target: np.ndarray) -> None:
        target = np.asarray(target, np.float32)[None, :]
        self._sizes = (*self.SIZES, target.shape[-1])
        self._windows = {n: np.hanning(n + 1)[:-1].astype(np.float32) for n in self._sizes}
        self._floors: dict[int, np.float32] = {}
        for n in self._sizes:  # as log_spectral_distance: a quiet target's floor sits under its own level
            peak = float(self._magnitude(target, n).max())
            self._floors[n] = np.float32(min((n / 2) * 10 ** (_DB_FLOOR / 20), peak * 10 ** (RELATIVE_FLOOR_DB / 20)))
        self._targets = [self._log_magnitude(target, n) for n in self._sizes]

    def _magnitude(self, audio: np.ndarray, n_fft: int) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=-1)[..., :: max(1, n_fft // 2), :]
        return np.abs(_rfft(frames * self._windows[n_fft]))  # float32 in, complex64 out

    def _log_magnitude(self, audio: np.ndarray, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
        magnitude = np.maximum(self._magnitude(audio, n_fft), self._floors[n_fft])
        return magnitude, np.log(magnitude)

    def distance(self, batch: np.ndarray) -> np.ndarray:
        total = np.zeros(len(batch))
        audio = np.asarray(batch, np.float32)
        for n_fft, (target, log_target) in zip(self._sizes, self._targets, strict=True):
            magnitude, log_magnitude = self._log_magnitude(audio, n_fft)
            convergence = np.linalg.norm(magnitude - target, axis=(-2, -1)) / np.linalg.norm(target)
            total += convergence + np.mean(np.abs(log_magnitude - log_target), axis=(-2, -1))
        return total / len(self._sizes)
