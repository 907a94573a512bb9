"""``inversynth evaluate``: a model on a held-out engine dataset, beside its floors.

Parameter figures (top-k, within one class, MAE, the paper's MPR; also on the
clips where each parameter is audible; a head's bins count for their nearest
class) and audio figures (re-render the estimate with the engine, then
log-spectral distance, multi-resolution STFT distance, the paper's ρ STFT,
ρ FT and F∆) for the model and, in the same run, for a "median class" and a
"random patch" baseline. Audio figures are given per decoding of the heads:
arg-max bin, expectation, and (``refine``, ONNX models, on the first
``refine_clips`` clips) the default decoding refined by analysis-by-synthesis,
with the wall time per match and, for the pitch parameter, the share of clips
within 25 cents. ``through_files`` adds the user's path: every clip written as
a 44.1 kHz WAV file and matched by ``inversynth match``'s own pipeline (file
reading, resampling, the note finder, the network, the undetermined
parameters' fallback), scored against the clean clip; its figures beside the
expectation's say what the front end costs.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine import analysis
from inversynth.engine.render import default_workers, render_batch
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_voice
from inversynth.errors import InversynthError
from inversynth.training.dataset import Dataset
from inversynth.training.metrics import audible_mask, chosen_first, parameter_metrics, summarise

Scorer = Callable[[np.ndarray], np.ndarray]  # audio [n, samples] -> head probabilities [n, params, bins]
PITCH_CENTS = 25.0


def score_in_batches(scorer: Scorer, audio: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The scorer's head probabilities for every clip, ``batch_size`` clips at a time (bounded memory)."""
    return np.concatenate([scorer(audio[s : s + batch_size]) for s in range(0, len(audio), batch_size)])


def onnx_scorer(path: Path, spec: SynthSpec) -> tuple[Scorer, str]:
    from inversynth.bridge.matching.inference import Estimator

    estimator = Estimator(path, threads=default_workers())
    _same_spec(path, estimator.spec, spec)
    return estimator.probabilities, estimator.model_name


def run_scorer(run: Path, spec: SynthSpec) -> tuple[Scorer, str]:
    import torch

    from inversynth.training.train import load_trained, run_spec

    model, config = load_trained(run)
    _same_spec(run, run_spec(config), spec)

    def score(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(audio)).double(), dim=-1).numpy()

    return score, config.model


def _same_spec(model: Path, theirs: SynthSpec, data: SynthSpec) -> None:
    """A model scores only the spec (variant) it was trained for: same grid, clip length and rate."""
    if theirs.fingerprint() != data.fingerprint():
        raise InversynthError(
            f"{model} was trained for synth '{theirs.name}' at {theirs.sample_rate} Hz, {theirs.clip_seconds:g} s, "
            f"{theirs.params[0].n_classes} classes (spec {theirs.fingerprint()}); this dataset is "
            f"{data.sample_rate} Hz, {data.clip_seconds:g} s, {data.params[0].n_classes} classes ({data.fingerprint()})"
        )


def _baseline_scores(kind: str, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    classes = shape[-1]
    if kind == "median":  # the middle class first, then its neighbours
        return np.broadcast_to(-np.abs(np.arange(classes) - (classes - 1) / 2), shape).copy()
    return rng.random(shape)


AUDIO_FIGURES = {
    "log_spectral_distance_db": analysis.log_spectral_distance,
    "mr_stft_distance": analysis.mr_stft_distance,
    "rho_stft": analysis.rho_stft,
    "rho_ft": analysis.rho_ft,
    "frobenius_log_stft": analysis.frobenius_log_stft,
}


def _audio_figures(target: np.ndarray, estimate: np.ndarray, chunk: int = 200) -> dict[str, dict[str, float]]:
    """Mean and median of every audio distance, computed in chunks to bound memory."""
    values: dict[str, list[np.ndarray]] = {name: [] for name in AUDIO_FIGURES}
    for start in range(0, len(target), chunk):
        for name, distance in AUDIO_FIGURES.items():
            values[name].append(distance(target[start : start + chunk], estimate[start : start + chunk]))
    return {name: summarise(np.concatenate(parts)) for name, parts in values.items()}


def class_scores(spec: SynthSpec, probabilities: np.ndarray) -> np.ndarray:
    """Head probabilities [n, params, bins] -> class probabilities [n, params, max_classes] (nearest class)."""
    out = np.zeros((*probabilities.shape[:2], max(p.n_classes for p in spec.params)))
    for j, p in enumerate(spec.params):
        for b, c in enumerate(p.bin_classes()):
            out[:, j, c] += probabilities[:, j, b]
    return out


def pitch_figures(spec: SynthSpec, estimate: np.ndarray, truth: np.ndarray) -> dict[str, float] | None:
    """Cents error of the pitch parameter: median and share within 25 cents (None without one)."""
    name = get_voice(spec.name).pitch_param
    if name is None:
        return None
    j = spec.names.index(name)
    cents = np.abs(1200 * np.log2(estimate[:, j] / truth[:, j]))
    return {"median_cents": float(np.median(cents)), "within_25_cents": float(np.mean(cents <= PITCH_CENTS))}


def _audio(spec: SynthSpec, values: np.ndarray, target: np.ndarray, truth: np.ndarray, workers: int) -> dict[str, Any]:
    estimate = render_batch(spec.name, values, spec.clip_seconds, spec.sample_rate, workers=workers)
    return {"audio": _audio_figures(target, estimate), "pitch": pitch_figures(spec, values, truth)}


def _mpr_overall(spec: SynthSpec, scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([entry["mpr"] for entry in parameter_metrics(spec, scores, labels).values()]))


def _figures(
    data: Dataset, labels: np.ndarray, scores: np.ndarray, values: np.ndarray, target: np.ndarray
) -> dict[str, Any]:
    """Parameter figures of class ``scores`` [n, params, classes]; audio figures of rendering ``values``."""
    spec = data.spec
    params = parameter_metrics(spec, scores, labels)
    audible = audible_mask(spec, labels)
    predicted = scores.argmax(axis=-1)
    for j, name in enumerate(spec.names):
        mask = audible[:, j]
        params[name]["audible_share"] = float(mask.mean())
        params[name]["top1_audible"] = (
            float(np.mean(predicted[mask, j] == labels[mask, j])) if mask.any() else float("nan")
        )
    return {
        "params": params,
        "mpr_overall": float(np.mean([params[n]["mpr"] for n in spec.names])),
        "top1_mean": float(np.mean([params[n]["top1"] for n in spec.names])),
        **_audio(spec, values, target, data.values[: len(target)], default_workers()),
    }


def _refined(model: Path, data: Dataset, target: np.ndarray, scores: np.ndarray, renders: int) -> dict[str, Any]:
    """Audio, pitch and parameter figures of the refined matches of the first ``len(scores)`` clips, with
    their wall time.

    Each search is bounded by ``renders`` alone, not by the clock: the figures do not depend on the
    machine or its load. Parameter figures rank the refined patch's class first, then the network's
    order (``scores``: its class probabilities); ``network_mpr_overall`` is the network's own on the
    same clips.
    """
    from inversynth.bridge.matching.audio_input import Note
    from inversynth.bridge.matching.inference import Estimator
    from inversynth.bridge.matching.match import MatchOptions, estimate_notes, refine_match
    from inversynth.bridge.matching.refine import Budget

    estimator = Estimator(model)
    spec = data.spec
    count = len(scores)
    notes = [Note(clip, 0.0, spec.clip_seconds) for clip in target[:count]]
    matches = estimate_notes(estimator, notes, [f"clip {i}" for i in range(count)], MatchOptions())
    budget = Budget(ms=math.inf, renders=renders)
    refined = [refine_match(estimator, m, budget) for m in matches]
    values = np.array([spec.to_array(m.patch) for m in refined])
    ms = np.array([m.refinement.elapsed_ms for m in refined if m.refinement is not None])
    network = np.array([m.network_distance_db for m in refined])  # match distances (analysis.match_distance)
    labels = data.labels[:count].astype(np.int64)
    return {
        "clips": count,
        "mpr_overall": _mpr_overall(spec, chosen_first(scores, spec.values_to_classes(values)), labels),
        "network_mpr_overall": _mpr_overall(spec, scores, labels),
        "network_match_distance_db": summarise(network),
        "ms_per_match": summarise(ms),
        "renders_per_match": summarise(np.array([m.refinement.renders for m in refined if m.refinement])),
        **_audio(spec, values, target[:count], data.values[:count], 1),
    }


FILE_RATE = 44100  # what a DAW exports


def training_recipe(model: Path) -> dict[str, Any]:
    """What a model (ONNX file or run folder) recorded of its training data (``TrainingSet.describe``)."""
    if Path(model).is_dir():
        from inversynth.training.train import TrainConfig

        return dict(TrainConfig.load(Path(model)).data_info)
    from inversynth.bridge.matching.inference import Estimator

    return Estimator(model).metadata["training_data"]


def _through_files(model: Path, data: Dataset, target: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Figures of ``inversynth match`` (no refinement) on the clips written as WAV files."""
    from inversynth.audio_files import resample, write_audio
    from inversynth.bridge.matching.inference import Estimator
    from inversynth.bridge.matching.match import match_files

    estimator = Estimator(model, threads=default_workers())
    spec = data.spec
    with tempfile.TemporaryDirectory(prefix="inversynth-evaluate-") as folder:
        paths = [Path(folder) / f"{i:06d}.wav" for i in range(len(target))]
        for path, clip in zip(paths, target, strict=True):
            write_audio(path, resample(clip.astype(np.float64), spec.sample_rate, FILE_RATE), FILE_RATE)
        matches, failures = match_files(estimator, paths)
    index = np.array([int(Path(m.source).stem) for m in matches], dtype=np.int64)
    values = np.array([spec.to_array(m.patch) for m in matches])
    scores = class_scores(spec, np.stack([m.probabilities for m in matches]))
    whole = np.array([m.span[1] >= spec.clip_seconds - 1e-3 for m in matches])  # to the file's end: one note
    return {
        "clips": len(matches),
        "refused": [str(reason) for _, reason in failures],
        "whole_note_share": float(whole.mean()),
        "mpr_overall": _mpr_overall(spec, scores, labels[index]),
        **_audio(spec, values, target[index], data.values[index], default_workers()),
    }


def evaluate(
    model: Path,
    data_dir: Path,
    max_clips: int | None = None,
    baselines: bool = True,
    batch_size: int = 256,
    refine: bool = False,
    refine_clips: int = 200,
    refine_renders: int = 400,
    through_files: bool = False,
) -> dict[str, Any]:
    """All figures for ``model`` (ONNX file or training run folder) on ``data_dir``."""
    from inversynth.bridge.matching.inference import Estimate

    data = Dataset(data_dir)
    spec = data.spec
    is_run = Path(model).is_dir()
    if (refine or through_files) and is_run:
        raise InversynthError("matching needs an exported ONNX model, not a run folder (inversynth export)")
    scorer, model_name = run_scorer(model, spec) if is_run else onnx_scorer(model, spec)
    count = min(len(data), max_clips or len(data))
    clips = np.arange(count)
    labels = data.labels[:count].astype(np.int64)
    target = data.audio_batch(clips)
    started = time.perf_counter()
    probabilities = score_in_batches(scorer, target, batch_size)
    inference_seconds = time.perf_counter() - started
    estimate = Estimate.from_probabilities(spec, probabilities, "argmax")
    scores = class_scores(spec, probabilities)
    figures = _figures(data, labels, scores, estimate.argmax, target)
    decodings = {
        "argmax": {k: figures[k] for k in ("audio", "pitch", "mpr_overall")},
        "expected": _audio(spec, estimate.expected, target, data.values[:count], default_workers()),
    }
    if through_files:
        decodings["files"] = _through_files(Path(model), data, target, labels)
    if refine:
        decodings["refined"] = _refined(Path(model), data, target, scores[: min(refine_clips, count)], refine_renders)
    report: dict[str, Any] = {
        "model": str(model),
        "model_name": model_name,
        "data": str(data_dir),
        "trained_on_these_clips": data.info.repeats(training_recipe(Path(model))),
        "clips": count,
        "data_seed": data.info.seed,
        "data_draw": data.info.draw,
        "data_captured": data.info.captured,
        "synth": data.info.synth,
        "inference_ms_per_clip": 1000 * inference_seconds / count,
        "figures": {model_name: figures},
        "decodings": decodings,
    }
    if baselines:
        rng = np.random.default_rng(0)
        for kind in ("median", "random"):
            shape = (count, len(spec.params), max(p.n_classes for p in spec.params))
            scores = _baseline_scores(kind, shape, rng)
            values = spec.classes_to_values(scores.argmax(axis=-1))
            report["figures"][f"{kind}-baseline"] = _figures(data, labels, scores, values, target)
    return report
