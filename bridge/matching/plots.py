"""Pictures for people: spectrograms of a target and its match, one above the other (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inversynth.atomic import atomic_open
from inversynth.engine.analysis import stft_magnitude


def spectrogram_pair(
    target: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    path: Path,
    titles: tuple[str, str] = ("target", "match"),
) -> None:
    """Write a PNG with the dB spectrograms (n_fft 512, hop 128) of both clips on one colour scale,
    the target above."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    spectra = [20 * np.log10(stft_magnitude(x, 512, 128) / 256 + 1e-6).T for x in (target, estimate)]
    top = max(float(s.max()) for s in spectra)
    figure = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    axes = figure.subplots(2, 1, sharex=True)  # target above, match below: the eye compares down a column
    extent = (0, len(target) / sample_rate, 0, sample_rate / 2 / 1000)
    for ax, spectrum, title in zip(axes, spectra, titles, strict=True):
        image = ax.imshow(spectrum, origin="lower", aspect="auto", extent=extent, vmin=top - 90, vmax=top, cmap="magma")
        ax.set_title(title)
        ax.set_ylabel("frequency (kHz)")
    axes[1].set_xlabel("time (s)")
    figure.colorbar(image, ax=axes, label="dB")
    with atomic_open(path) as handle:
        figure.savefig(handle, format="png")
