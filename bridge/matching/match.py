"""Matching: audio -> an estimated patch, refined, re-synthesised, scored and judged.

The pipeline per clip: the network's heads give each parameter a value
(expectation or arg-max) and a calibrated confidence; parameters the clip
cannot determine (the synth's audibility rule: their part of the sound starts
after the clip, or is silent) keep a fallback value instead of a guess; the
engine re-renders the estimate and its log-spectral distance to the target is
measured; optionally the refinement (:mod:`~inversynth.bridge.matching.refine`)
searches from there; and a verdict says how far the synth got: ``exact``,
``close``, ``approximate`` (within the synth's reach but audibly different:
the search did not get closer) or ``out of reach`` with the likely reason (no
steady pitch, a pitch outside what the synth plays, or a timbre it cannot
make). Verdicts judge ``analysis.match_distance``: the log-spectral distance,
or the loudness distance where larger, so silence is never close to a sound.

The model loads once for any number of files; files that cannot be read or
are not usable audio are collected with their one-line reason and the run goes
on with the others.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from inversynth.bridge.matching.audio_input import AudioInputError, Note, load_notes
from inversynth.bridge.matching.inference import DEFAULT_DECODING, Calibration, Estimate, Estimator
from inversynth.bridge.matching.lacks import lacks
from inversynth.bridge.matching.pitch_rule import place_pitches, sounds_at, steady
from inversynth.bridge.matching.refine import DEFAULT_BUDGET, Budget, Refinement, SearchPlan, refine
from inversynth.engine.analysis import log_spectral_distance, match_distance
from inversynth.engine.pitch import Pitch, find_pitch
from inversynth.engine.render import Renderer, renderer
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import audible, get_voice
from inversynth.errors import InversynthError
from inversynth.presets.preset import Preset
from inversynth.presets.store import FACTORY, Bank

AUDIO_SUFFIXES = {f".{fmt.lower()}" for fmt in sf.available_formats()} | {".aif", ".oga"}
RUNNER_UP_SHARE = 0.15  # a parameter whose second-best bin holds this much is tried there too
SEMITONE = 2 ** (1 / 12)


@dataclass(frozen=True)
class MatchOptions:
    """How to match: which decoding of the heads, whether to refine and with what budget."""

    decoding: str = DEFAULT_DECODING
    refine: bool = False
    budget: Budget = DEFAULT_BUDGET
    candidates: int = 1  # matches per note: the best, then the refinement's distinct runners-up
    preset_starts: bool = True  # the factory presets played at a steady take's pitch compete as starts


@dataclass
class Match:
    """One clip's answer and how far it got.

    ``patch`` is the final patch (refined when refinement ran); ``network_patch`` the network's own.
    ``distance_db`` (what the verdict judges) and ``network_distance_db`` are match distances
    (``analysis.match_distance``); ``spectral_db`` the final patch's log-spectral distance alone.
    ``undetermined`` names the parameters the clip could not tell, which kept their fallback value.
    ``span`` is the part of the source (seconds) that was matched. ``sounding`` is the re-synthesis's
    pitch; ``placed`` the oscillator the pitch rule put on the take's pitch (:mod:`pitch_rule`), which
    the refinement keeps where it is (None: the network's own pitch stands); ``started_from`` the
    factory preset that start came from (None: the network's estimate; ``network_*`` then describe
    that preset at the take's pitch).
    """

    source: str
    synth: str
    model: str
    model_file: str
    patch: dict[str, float]
    network_patch: dict[str, float]
    classes: dict[str, int]
    confidence: dict[str, float]
    undetermined: tuple[str, ...]
    pitch: Pitch
    network_distance_db: float
    distance_db: float
    spectral_db: float
    verdict: str
    reason: str
    span: tuple[float, float]
    refinement: Refinement | None = None
    sounding: Pitch | None = None
    placed: str | None = None
    started_from: str | None = None
    candidate: int = 1  # its rank among the note's candidates (``MatchOptions.candidates``)
    target: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    resynthesis: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # where a refinement may start

    @property
    def saveable(self) -> bool:
        """Whether a preset is made from it without being asked twice."""
        return self.verdict != "out of reach"

    def to_json(self) -> dict[str, object]:
        refined = self.refinement
        return {
            "file": self.source,
            "span_seconds": [round(self.span[0], 4), round(self.span[1], 4)],
            "model": self.model,
            "params": self.patch,
            "classes": self.classes,
            "confidence": self.confidence,
            "undetermined": list(self.undetermined),
            "pitch_hz": None if not self.pitch.pitched else round(self.pitch.hz, 3),
            "periodic_share": round(self.pitch.periodic_share, 3),
            "sounds_at_hz": None if self.sounding is None or not self.sounding.pitched else round(self.sounding.hz, 3),
            "pitch_placed": self.placed,
            "started_from_preset": self.started_from,
            "candidate": self.candidate,
            "distance_db": self.distance_db,
            "log_spectral_distance_db": self.spectral_db,
            "network_distance_db": self.network_distance_db,
            "verdict": self.verdict,
            "reason": self.reason,
            "refinement": None
            if refined is None
            else {
                "network_params": self.network_patch,
                "renders": refined.renders,
                "sweeps": refined.sweeps,
                "generations": refined.generations,
                "ms": round(refined.elapsed_ms, 1),
                "stopped": refined.stopped,
            },
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


def judge(
    spec: SynthSpec,
    calibration: Calibration,
    distance_db: float,
    pitch: Pitch,
    resynthesis: np.ndarray,
    target: np.ndarray,
    sounding: Pitch | None = None,
) -> tuple[str, str]:
    """(verdict, reason): exact and close need no reason; approximate says how far and what differs
    most; out of reach says what the synth lacks (:func:`~inversynth.bridge.matching.lacks.lacks`).
    Exact is within ``calibration.exact_db`` (1 dB), close within the synth's
    own one-class step (``spec.close_db``), approximate within its reach (``calibration.reach_db``).
    ``sounding``: the re-synthesis's pitch, where the caller has measured it already.

    A steady pitch heard as the target's strongest line (not a vibrato's period) more than a
    semitone outside the synth's pitch range is out of reach however close the spectrum gets,
    unless the re-synthesis has that pitch too (through-zero FM can buzz at a few tens of Hz):
    a 6 kHz sine is not a note the synth plays, even if FM smears energy near it.
    """
    pitch_name = get_voice(spec.name).pitch_param
    if pitch_name is not None and pitch.pitched and pitch.heard:
        param = spec.param(pitch_name)
        if not param.minimum / SEMITONE <= pitch.hz <= param.maximum * SEMITONE:
            made = sounding = sounding or find_pitch(resynthesis, spec.sample_rate)
            if not (made.pitched and made.heard and abs(np.log2(made.hz / pitch.hz)) <= 1 / 12):
                return (
                    "out of reach",
                    f"its pitch {pitch.hz:.1f} Hz is outside what the synth plays ({param.range_text()})",
                )
    if distance_db <= calibration.exact_db:
        return "exact", ""
    if distance_db <= min(spec.close_db, calibration.reach_db):
        return "close", ""
    missing = lacks(target, resynthesis, spec.sample_rate, pitch, sounding)
    if distance_db <= calibration.reach_db:
        return "approximate", (
            f"audibly different: the closest patch found is {distance_db:.1f} dB away (close is within "
            f"{spec.close_db:.1f} dB)" + (f"; it most lacks {missing[0]}" if missing else "")
        )
    far = f"the closest patch is {distance_db:.1f} dB away"
    if not pitch.pitched:
        return "out of reach", f"no steady pitch (noise or an unpitched sound): {far}"
    if missing:
        return "out of reach", f"the synth lacks {'; and '.join(missing[:2])}: {far}"
    return "out of reach", f"a waveform or timbre this synth cannot make: {far}"


def undetermined(spec: SynthSpec, values: np.ndarray) -> np.ndarray:
    """bool [n, params]: parameters the clip cannot tell (the synth module's audibility rule)."""
    return ~audible(spec, values)


def _start_candidates(
    spec: SynthSpec,
    estimate: Estimate,
    row: int,
    values: np.ndarray,
    unknown: np.ndarray,
    pitch: Pitch,
    placed: str | None,
) -> np.ndarray:
    """Where the search may start: the chosen values, every decoding, runner-up bins, the measured pitch
    (undetermined parameters keep their fallback in all). Values the pitch rule moved start from there
    alone: the network's own decodings are at another pitch."""
    if placed is not None:
        return values[None, :]
    decodings = (estimate.argmax[row], estimate.expected[row])
    candidates = [values, *(np.where(unknown, values, d) for d in decodings)]
    probabilities = estimate.probabilities[row]
    for j, p in enumerate(spec.params):
        order = np.argsort(probabilities[j, : p.n_bins])[::-1]
        if probabilities[j, order[1]] >= RUNNER_UP_SHARE:
            candidate = values.copy()
            candidate[j] = p.denormalise_array(p.bin_positions()[order[1]])
            candidates.append(candidate)
    pitch_name = get_voice(spec.name).pitch_param
    if pitch_name is not None and pitch.pitched and pitch.heard:
        param = spec.param(pitch_name)
        if param.minimum <= pitch.hz <= param.maximum:
            candidate = values.copy()
            candidate[spec.names.index(pitch_name)] = pitch.hz
            candidates.append(candidate)
    return np.array(candidates)


def estimate_notes(
    estimator: Estimator,
    notes: Sequence[Note],
    sources: Sequence[str],
    options: MatchOptions = MatchOptions(),
    fallback: Mapping[str, float] | None = None,
) -> list[Match]:
    """The network's matches of a batch of notes, re-rendered and judged (no refinement yet).

    ``fallback``: the values undetermined parameters keep (default: the spec's defaults).
    """
    spec = estimator.spec
    clips = np.stack([note.clip for note in notes])
    estimate = Estimate.from_probabilities(
        spec, estimator.probabilities(clips), options.decoding, estimator.calibration.temperatures
    )
    kept = spec.to_array(spec.patch(fallback))
    unknown = undetermined(spec, estimate.values)
    pitches = [find_pitch(clip, spec.sample_rate) for clip in clips]
    presets = factory_presets(spec.name) if options.preset_starts else ()
    network = np.where(unknown, kept[None, :], estimate.values)
    placed = place_pitches(spec, renderer(spec.name, spec.sample_rate), clips, network, pitches, presets)
    values = np.stack([p.values for p in placed])
    resynthesis = np.stack([p.resynthesis for p in placed])
    distances = match_distance(clips, resynthesis)
    spectral = log_spectral_distance(clips, resynthesis)
    matches = []
    for i, (note, source) in enumerate(zip(notes, sources, strict=True)):
        pitch = pitches[i]
        distance = round(float(distances[i]), 3)
        patch = spec.from_array(values[i])
        verdict, reason = judge(
            spec, estimator.calibration, distance, pitch, resynthesis[i], clips[i], placed[i].sounding
        )
        matches.append(
            Match(
                source=source,
                synth=spec.name,
                model=estimator.model_name,
                model_file=estimator.path.name,
                patch=patch,
                network_patch=patch,
                classes={n: int(c) for n, c in zip(spec.names, spec.values_to_classes(values[i]), strict=True)},
                confidence={n: round(float(c), 4) for n, c in zip(spec.names, estimate.confidence[i], strict=True)},
                undetermined=tuple(n for n, u in zip(spec.names, unknown[i], strict=True) if u),
                pitch=pitch,
                network_distance_db=distance,
                distance_db=distance,
                spectral_db=round(float(spectral[i]), 3),
                verdict=verdict,
                reason=reason,
                span=(note.start, note.end),
                sounding=placed[i].sounding,
                placed=placed[i].placed,
                started_from=placed[i].preset,
                target=note.clip,
                resynthesis=resynthesis[i],
                probabilities=estimate.probabilities[i],
                starts=_start_candidates(spec, estimate, i, values[i], unknown[i], pitch, placed[i].placed),
            )
        )
    return matches


@functools.cache
def factory_presets(synth: str) -> tuple[tuple[str, Mapping[str, float]], ...]:
    """(name, params) of the factory presets of ``synth``, read once."""
    presets, _ = Bank(FACTORY).scan()
    return tuple((p.name, p.params) for p in presets if p.synth == synth)


def refine_match(
    estimator: Estimator,
    match: Match,
    budget: Budget = DEFAULT_BUDGET,
    cancelled: Callable[[], bool] = lambda: False,
    search_renderer: Renderer | None = None,
    alternatives: int = 0,
) -> Match:
    """The match after an analysis-by-synthesis search from the network's estimate (never a worse one).

    ``search_renderer`` renders the search's candidates (default: the batched renderer; ``bench refine``
    compares it with pyo's); the result is judged on the batched renderer either way. ``alternatives``:
    how many distinct runners-up the search keeps (:func:`candidate_matches` judges them)."""
    spec = estimator.spec
    free = np.array([name not in match.undetermined and name != match.placed for name in spec.names])
    search = refine(
        spec,
        search_renderer or renderer(spec.name, spec.sample_rate),
        match.target,
        match.starts,
        free,
        SearchPlan.from_probabilities(spec, match.probabilities),
        budget,
        cancelled,
        alternatives,
    )
    refined = _judged(estimator, match, search.values[None, :])[0]
    if refined.distance_db > match.network_distance_db:  # the search's objective is not the distance: never worse
        return replace(match, refinement=search)
    if _at_pitch(match) and not _at_pitch(refined):  # closer, but off the pitch the start had: pitch first
        return replace(match, refinement=search)
    return replace(refined, refinement=search)


def candidate_matches(estimator: Estimator, match: Match, count: int) -> list[Match]:
    """A refined ``match`` and up to ``count - 1`` of its refinement's distinct runners-up, each a match
    of its own, ranked by distance and numbered from 1 (``Match.candidate``); where the take has a
    steady pitch, runners-up off it are left out."""
    found = match.refinement.alternatives if match.refinement is not None else ()
    if not found or count <= 1:
        return [match]
    judged = [m for m in _judged(estimator, match, np.stack(found)) if _at_pitch(m) or not steady(match.pitch)]
    ranked = sorted([match, *judged[: count - 1]], key=lambda m: m.distance_db)
    return [replace(m, candidate=rank) for rank, m in enumerate(ranked, 1)]


def _at_pitch(match: Match) -> bool:
    return steady(match.pitch) and match.sounding is not None and sounds_at(match.pitch, match.sounding)


def _judged(estimator: Estimator, match: Match, values: np.ndarray) -> list[Match]:
    """``match`` with each of ``values`` [k, params] as its patch: re-rendered, measured, judged."""
    spec = estimator.spec
    resynthesis = renderer(spec.name, spec.sample_rate).render(values, spec.clip_samples)
    distances = match_distance(np.broadcast_to(match.target, resynthesis.shape), resynthesis)
    spectral = log_spectral_distance(np.broadcast_to(match.target, resynthesis.shape), resynthesis)
    judged = []
    for row, audio, distance, lsd in zip(values, resynthesis, distances, spectral, strict=True):
        rounded, sounding = round(float(distance), 3), find_pitch(audio, spec.sample_rate)
        verdict, reason = judge(spec, estimator.calibration, rounded, match.pitch, audio, match.target, sounding)
        judged.append(
            replace(
                match,
                patch=spec.from_array(row),
                classes={n: int(c) for n, c in zip(spec.names, spec.values_to_classes(row), strict=True)},
                distance_db=rounded,
                spectral_db=round(float(lsd), 3),
                verdict=verdict,
                reason=reason,
                sounding=sounding,
                resynthesis=audio,
            )
        )
    return judged


def match_files(
    estimator: Estimator, paths: Sequence[Path], options: MatchOptions = MatchOptions(), each_note: bool = False
) -> tuple[list[Match], list[tuple[Path, str]]]:
    """Matches of every usable file (its first note, or each note), and (file, reason) for the others."""
    notes, sources, failures = [], [], []
    for path in paths:
        try:
            found = load_notes(path, estimator.spec, each_note)
        except (AudioInputError, InversynthError) as exc:
            failures.append((path, str(exc)))
            continue
        notes.extend(found)
        sources.extend([str(path)] * len(found))
    if not notes:
        return [], failures
    matches = estimate_notes(estimator, notes, sources, options)
    if options.refine:
        more = 2 * (options.candidates - 1)  # twice over: runners-up off the take's pitch are left out
        refined = [refine_match(estimator, m, options.budget, alternatives=more) for m in matches]
        matches = [c for m in refined for c in candidate_matches(estimator, m, options.candidates)]
    return matches, failures


def save_preset(match: Match, name: str, bank: Bank, audio: Path | None = None) -> Path:
    """Save a match as a preset whose provenance says where it came from, how sure the model was and how
    close it got (before and after refinement). ``audio``: where the matched sound was kept (captures).
    A name the bank already holds is refused (PresetError): a match never replaces a preset."""
    preset = Preset.new(
        match.synth,
        name,
        match.patch,
        tags=("matched",),
        description=f"matched from {Path(match.source).name}",
        provenance={
            "source": match.source,
            "span_seconds": list(match.span),
            "model": match.model,
            "model_file": match.model_file,
            "confidence": match.confidence,
            "undetermined": list(match.undetermined),
            "distance_db": match.distance_db,
            "network_distance_db": match.network_distance_db,
            "refined": match.refinement is not None,
            "verdict": match.verdict,
            **({"reason": match.reason} if match.reason else {}),
            **({"candidate": match.candidate} if match.candidate > 1 else {}),
            **({"audio": str(audio)} if audio is not None else {}),
        },
    )
    return bank.save(preset, overwrite=False)


def output_stems(sources: Iterable[str]) -> dict[str, str]:
    """A file-name stem per source, unique among them: ``x/t.wav`` and ``y/t.wav`` become ``t`` and ``t-2``."""
    stems: dict[str, str] = {}
    for source in dict.fromkeys(sources):
        stem, count = Path(source).stem, 1
        while (stem if count == 1 else f"{stem}-{count}") in stems.values():
            count += 1
        stems[source] = stem if count == 1 else f"{stem}-{count}"
    return stems


def write_outputs(
    match: Match, folder: Path, sample_rate: int, index: int | None = None, stem: str | None = None
) -> tuple[Path, Path]:
    """The re-synthesis as WAV and a PNG of target and match spectrograms, the target above.

    ``index``: the note's number when a file gave several; ``stem``: the name to write under (default:
    the source's own, see :func:`output_stems` when several sources share one).
    """
    from inversynth.audio_files import write_audio
    from inversynth.bridge.matching.plots import spectrogram_pair

    stem = (stem or Path(match.source).stem) + (f".note{index}" if index is not None else "")
    stem += f".candidate{match.candidate}" if match.candidate > 1 else ""
    wav = folder / f"{stem}.match.wav"
    png = folder / f"{stem}.match.png"
    write_audio(wav, match.resynthesis, sample_rate)
    spectrogram_pair(
        match.target,
        match.resynthesis,
        sample_rate,
        png,
        titles=(f"target: {Path(match.source).name}", f"match: {match.distance_db:.2f} dB, {match.verdict}"),
    )
    return wav, png
