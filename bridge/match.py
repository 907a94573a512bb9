"""Matching: audio files -> estimated patches, re-synthesised and scored.

The model loads once for any number of files; files that cannot be read or
are not usable audio are collected with their one-line reason and the run goes
on with the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from inversynth.bridge.audio_input import AudioInputError, load_clip
from inversynth.bridge.inference import Estimator
from inversynth.engine.analysis import log_spectral_distance
from inversynth.engine.render import renderer
from inversynth.errors import InversynthError
from inversynth.presets.preset import Preset
from inversynth.presets.store import Bank

AUDIO_SUFFIXES = {f".{fmt.lower()}" for fmt in sf.available_formats()} | {".aif", ".oga"}


@dataclass
class Match:
    """One file's estimate: patch in real units, classes, confidences and the re-synthesis."""

    source: str
    synth: str
    model: str
    model_file: str
    patch: dict[str, float]
    classes: dict[str, int]
    confidence: dict[str, float]
    distance_db: float
    target: np.ndarray = field(repr=False)
    resynthesis: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.source,
            "model": self.model,
            "params": self.patch,
            "classes": self.classes,
            "confidence": self.confidence,
            "log_spectral_distance_db": self.distance_db,
        }


def expand(inputs: Iterable[Path]) -> list[Path]:
    """Files as given, and the audio files inside folders (sorted, recursively)."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES))
        else:
            files.append(item)
    return files


def match_clips(estimator: Estimator, clips: np.ndarray, sources: Sequence[str]) -> list[Match]:
    """Estimate, re-render with the engine and score a batch of clips [n, clip_samples]."""
    spec = estimator.spec
    estimate = estimator.estimate(clips)
    resynthesis = renderer(spec.name).render(estimate.values, spec.clip_samples)
    distances = log_spectral_distance(clips, resynthesis)
    matches = []
    for i, source in enumerate(sources):
        matches.append(
            Match(
                source=source,
                synth=spec.name,
                model=estimator.model_name,
                model_file=estimator.path.name,
                patch=estimate.patch(spec, i),
                classes={n: int(c) for n, c in zip(spec.names, estimate.classes[i], strict=True)},
                confidence={n: round(float(c), 4) for n, c in zip(spec.names, estimate.confidence[i], strict=True)},
                distance_db=round(float(distances[i]), 3),
                target=clips[i],
                resynthesis=resynthesis[i],
            )
        )
    return matches


def match_files(estimator: Estimator, paths: Sequence[Path]) -> tuple[list[Match], list[tuple[Path, str]]]:
    """Matches of every usable file, and (file, reason) for the others."""
    clips, sources, failures = [], [], []
    for path in paths:
        try:
            clips.append(load_clip(path, estimator.spec))
            sources.append(str(path))
        except (AudioInputError, InversynthError) as exc:
            failures.append((path, str(exc)))
    if not clips:
        return [], failures
    return match_clips(estimator, np.stack(clips), sources), failures


def save_preset(match: Match, name: str, bank: Bank, audio: Path | None = None) -> Path:
    """Save a match as a preset whose provenance says where it came from and how sure the model was.

    ``audio``: where the matched sound was kept (captures), recorded in the provenance.
    """
    preset = Preset.new(
        match.synth,
        name,
        match.patch,
        tags=("matched",),
        description=f"matched from {Path(match.source).name}",
        provenance={
            "source": match.source,
            "model": match.model,
            "model_file": match.model_file,
            "confidence": match.confidence,
            "distance_db": match.distance_db,
            **({"audio": str(audio)} if audio is not None else {}),
        },
    )
    return bank.save(preset)


def write_outputs(match: Match, folder: Path, sample_rate: int) -> tuple[Path, Path]:
    """The re-synthesis as WAV and a PNG of target and match spectrograms side by side."""
    from inversynth.audio_files import write_wav
    from inversynth.bridge.plots import spectrogram_pair

    stem = Path(match.source).stem
    wav = folder / f"{stem}.match.wav"
    png = folder / f"{stem}.match.png"
    write_wav(wav, match.resynthesis, sample_rate)
    spectrogram_pair(
        match.target,
        match.resynthesis,
        sample_rate,
        png,
        titles=(f"target: {Path(match.source).name}", f"match: {match.distance_db:.2f} dB LSD"),
    )
    return wav, png
