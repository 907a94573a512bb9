"""Reading and writing audio files (soundfile), always atomically on write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from inversynth.atomic import atomic_open
from inversynth.errors import InversynthError


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write mono float audio (shape [samples]) as a WAV file, atomically."""
    path = Path(path)
    try:
        with atomic_open(path) as handle:
            sf.write(handle, np.asarray(audio), sample_rate, subtype=subtype, format="WAV")
    except OSError as exc:
        raise InversynthError(f"cannot write {path}: {exc.strerror or exc}") from None
