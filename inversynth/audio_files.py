"""Reading audio files (soundfile, soxr) and writing them, always atomically.

Written files' format follows the file's suffix (WAV, FLAC, OGG Vorbis, MP3 where libsndfile has it, AIFF
...); a suffix libsndfile cannot write is refused with the ones it can. WAVs hold 32-bit float
samples, with the 18-byte format chunk that non-PCM WAVs should carry (libsndfile writes 16
bytes, which sox and other strict readers warn about).
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from inversynth.atomic import atomic_open
from inversynth.errors import InversynthError


class AudioFileError(InversynthError):
    """An audio file cannot be read or written."""


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Samples [frames, channels] (float64) and sample rate of an audio file."""
    if not Path(path).is_file():
        raise AudioFileError(f"{path}: No such file")
    try:
        _refuse_truncated(path, sf.info(str(path)))
        audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(exc).rsplit(": ", 1)[-1].strip().rstrip(".")  # libsndfile's words, without the path
        raise AudioFileError(f"{path}: not a readable audio file ({reason})") from None
    except OSError as exc:
        raise AudioFileError(f"{path}: {exc.strerror or exc}") from None
    return audio, rate


_TRUNCATED = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)
_UNFINISHED = (0, 0xFFFFFFFF, 0x7FFFFFFF)  # data sizes a recorder writes before it knows the length


def _refuse_truncated(path: Path, info: Any) -> None:  # soundfile.info(), whose class is private
    """A file cut short (a copy or a download that stopped) says so, rather than matching as a short
    sound: libsndfile reads what is there and notes in its log what the header promised."""
    found = _TRUNCATED.search(info.extra_info)
    if found is None:
        return
    promised, holds = int(found.group(1)), int(found.group(2))
    if holds < promised and promised not in _UNFINISHED:
        seconds = info.duration * promised / max(holds, 1)
        raise AudioFileError(
            f"{path}: truncated: its header promises {seconds:.2f} s of audio, the file holds {info.duration:.2f} s"
        )


def resample(mono: np.ndarray, rate: int, target: int) -> np.ndarray:
    return mono if rate == target else soxr.resample(mono, rate, target, quality="HQ")


def load_mono(path: Path, sample_rate: int) -> np.ndarray:
    """A whole audio file, channels averaged, at ``sample_rate`` (float64)."""
    audio, rate = read_audio(path)
    return resample(audio.mean(axis=1), rate, sample_rate)


_SUFFIXES = {"aif": "AIFF", "aifc": "AIFF", "oga": "OGG", "opus": "OGG"}
_SUBTYPES = {"WAV": "FLOAT", "AIFF": "FLOAT", "OGG": "VORBIS", "FLAC": "PCM_24"}


def audio_format(path: Path) -> tuple[str, str]:
    """(libsndfile format, subtype) for ``path``'s suffix, or InversynthError naming the writable suffixes."""
    suffix = path.suffix.lower().lstrip(".")
    name = _SUFFIXES.get(suffix, suffix.upper())
    formats = sf.available_formats()
    if name not in formats or not sf.check_format(name, _SUBTYPES.get(name, sf.default_subtype(name))):
        writable = ", ".join(f".{f.lower()}" for f in ("WAV", "FLAC", "OGG", "MP3", "AIFF") if f in formats)
        raise AudioFileError(f"{path}: cannot write .{suffix or '(no suffix)'} files; use one of {writable}")
    return name, _SUBTYPES.get(name, sf.default_subtype(name))


def write_audio(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio (shape [samples]) in the format its suffix names, atomically."""
    path = Path(path)
    kind, subtype = audio_format(path)
    buffer = io.BytesIO()
    try:
        sf.write(buffer, np.asarray(audio), sample_rate, subtype=subtype, format=kind)
    except sf.LibsndfileError as exc:  # e.g. MP3 at a rate MPEG does not have
        raise AudioFileError(f"cannot write {path}: {exc.error_string}") from None
    data = _with_extended_format_chunk(buffer.getvalue()) if kind == "WAV" else buffer.getvalue()
    try:
        with atomic_open(path) as handle:
            handle.write(data)
    except OSError as exc:
        raise AudioFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def _with_extended_format_chunk(wav: bytes) -> bytes:
    """A float WAV's 16-byte ``fmt `` chunk grown to 18 bytes (cbSize = 0), as the WAV spec asks of non-PCM data."""
    if wav[12:16] != b"fmt " or struct.unpack("<I", wav[16:20])[0] != 16:
        return wav
    grown = bytearray(wav[:16]) + struct.pack("<I", 18) + wav[20:36] + b"\x00\x00" + wav[36:]
    grown[4:8] = struct.pack("<I", len(grown) - 8)
    return bytes(grown)
