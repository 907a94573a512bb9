"""``inversynth evaluate``: a model on a held-out engine dataset, beside its floors.

Parameter figures (top-k, within one class, MAE, the paper's MPR; also on the
clips where each parameter is audible) and audio figures (re-render the
estimate with the engine, then log-spectral distance, multi-resolution STFT
distance, the paper's ρ STFT, ρ FT and F∆) for the model and, in the same run,
for a "median class" and a "random patch" baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inversynth.engine import analysis
from inversynth.engine.render import default_workers, render_batch
from inversynth.training.dataset import Dataset
from inversynth.training.metrics import audible_mask, parameter_metrics, summarise

Scorer = Callable[[np.ndarray], np.ndarray]  # audio [n, samples] -> class scores [n, params, classes]


def onnx_scorer(path: Path) -> tuple[Scorer, str]:
    from inversynth.bridge.inference import Estimator, softmax

    estimator = Estimator(path, threads=default_workers())
    return (lambda audio: softmax(estimator.logits(audio))), estimator.model_name


def run_scorer(run: Path) -> tuple[Scorer, str]:
    import torch

    from inversynth.training.train import load_trained

    model, config = load_trained(run)

    def score(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(audio)), dim=-1).numpy()

    return score, config.model


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


def _figures(data: Dataset, labels: np.ndarray, scores: np.ndarray, target: np.ndarray, workers: int) -> dict:
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
    estimate = render_batch(spec.name, spec.classes_to_values(predicted), workers=workers)
    return {
        "params": params,
        "mpr_overall": float(np.mean([params[n]["mpr"] for n in spec.names])),
        "top1_mean": float(np.mean([params[n]["top1"] for n in spec.names])),
        "audio": _audio_figures(target, estimate),
    }


def evaluate(
    model: Path, data_dir: Path, max_clips: int | None = None, baselines: bool = True, batch_size: int = 256
) -> dict:
    """All figures for ``model`` (ONNX file or training run folder) on ``data_dir``."""
    data = Dataset(data_dir)
    scorer, model_name = run_scorer(model) if Path(model).is_dir() else onnx_scorer(model)
    count = min(len(data), max_clips or len(data))
    clips = np.arange(count)
    labels = data.labels[:count].astype(np.int64)
    target = data.audio_batch(clips)
    started = time.perf_counter()
    scores = np.concatenate([scorer(target[s : s + batch_size]) for s in range(0, count, batch_size)])
    inference_seconds = time.perf_counter() - started
    workers = default_workers()
    report = {
        "model": str(model),
        "model_name": model_name,
        "data": str(data_dir),
        "clips": count,
        "data_seed": data.info.seed,
        "synth": data.info.synth,
        "inference_ms_per_clip": 1000 * inference_seconds / count,
        "figures": {model_name: _figures(data, labels, scores, target, workers)},
    }
    if baselines:
        rng = np.random.default_rng(0)
        for kind in ("median", "random"):
            shape = (count, len(data.spec.params), max(p.n_classes for p in data.spec.params))
            report["figures"][f"{kind}-baseline"] = _figures(
                data, labels, _baseline_scores(kind, shape, rng), target, workers
            )
    return report
