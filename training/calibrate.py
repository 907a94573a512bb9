"""``inversynth calibrate``: honest confidences and verdict thresholds, measured on held-out clips.

* Confidence: a parameter's confidence is the probability its head gives to
  the bins within one bin of the estimate. A network trained with
  cross-entropy is usually over- or under-confident; one temperature per
  parameter (Guo et al. 2017, "temperature scaling"), fitted to minimise the
  held-out cross-entropy against the two-hot truth, fixes most of it without
  changing any estimate. The temperatures are fitted on the first half of the
  clips; the expected calibration error (ECE, 10 equal-width confidence bins)
  of the event "the truth lies within one bin of the estimate" is reported
  before and after on the other half, which the fit never saw.
* Verdicts: the synth's own sounds, matched with refinement, set the line:
  ``reach_db`` is the 99th percentile of their final match distances
  (``analysis.match_distance``; each search bounded by REACH_RENDERS renders, not
  the clock, so the line does not depend on the machine or its load; at most
  1 % of what the synth can make is called out of reach);
  ``exact_db`` stays 1 dB (the live round-trip target), or that 99th
  percentile if lower.

Both are written into the model file's metadata (``calibration``), where the
estimator reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from inversynth.atomic import atomic_write_bytes
from inversynth.bridge.matching.audio_input import Note
from inversynth.bridge.matching.inference import Calibration, Estimate, Estimator, softmax
from inversynth.bridge.matching.match import MatchOptions, estimate_notes, refine_match
from inversynth.bridge.matching.model_file import encode
from inversynth.bridge.matching.refine import Budget
from inversynth.engine.spec import SynthSpec
from inversynth.errors import InversynthError
from inversynth.training.dataset import Dataset
from inversynth.training.export import set_metadata

TEMPERATURES = np.geomspace(0.25, 8.0, 61)
ECE_BINS = 10
EXACT_DB = 1.0
REACH_RENDERS = 400  # the default live budget's renders, whatever time they take here


def within_one_bin(spec: SynthSpec, estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """bool [n, params]: the estimate lies within one head bin of the truth (normalised space)."""
    spacing = np.array([1.0 / (p.n_bins - 1) for p in spec.params])
    return np.abs(spec.normalise_rows(estimate) - spec.normalise_rows(truth)) <= spacing * (1 + 1e-9)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    """|accuracy - confidence| averaged over equal-width confidence bins, weighted by their counts."""
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, ECE_BINS - 1)
    total = 0.0
    for b in range(ECE_BINS):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising the cross-entropy of softmax(logits / T) against ``targets`` [n, bins]."""
    losses = [-(targets * np.log(softmax(logits / t) + 1e-12)).sum(axis=-1).mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def calibrate(model: Path, data_dir: Path, max_clips: int = 5000, refine_clips: int = 200) -> dict[str, Any]:
    """Measure temperatures, ECE and verdict thresholds for ``model`` on ``data_dir``; return the report."""
    estimator = Estimator(model)
    spec = estimator.spec
    data = Dataset(data_dir)
    if data.info.synth != spec.name:
        raise InversynthError(f"{data_dir} holds synth '{data.info.synth}', the model estimates '{spec.name}'")
    trained = data.info.repeats(estimator.metadata["training_data"])
    if trained is not None:
        raise InversynthError(
            f"{data_dir} repeats clips {Path(model).name} was trained on (seed {data.info.seed}, draw "
            f"{data.info.draw}): calibrate on a held-out set (inversynth dataset --seed N with another N)"
        )
    count = min(len(data), max_clips)
    audio = data.audio_batch(np.arange(count))
    truth = data.values[:count]
    logits = np.concatenate([estimator.logits(audio[s : s + 256]) for s in range(0, count, 256)]).astype(np.float64)
    targets = spec.two_hot(truth)
    fit, held = slice(0, count // 2), slice(count // 2, count)
    temperatures = np.array([fit_temperature(logits[fit, j], targets[fit, j]) for j in range(len(spec.params))])
    report: dict[str, Any] = {"data": str(data_dir), "data_seed": data.info.seed, "clips": count, "params": {}}
    report["fitted_on_clips"], report["ece_on_clips"] = count // 2, count - count // 2
    for name, scale in (("before", np.ones(len(spec.params))), ("after", temperatures)):
        estimate = Estimate.from_probabilities(spec, softmax(logits[held]), "expected", scale)
        correct = within_one_bin(spec, estimate.values, truth[held])
        for j, p in enumerate(spec.params):
            entry = report["params"].setdefault(p.name, {"temperature": float(temperatures[j])})
            entry[f"ece_{name}"] = expected_calibration_error(estimate.confidence[:, j], correct[:, j])
            entry[f"mean_confidence_{name}"] = float(estimate.confidence[:, j].mean())
            entry["within_one_bin"] = float(correct[:, j].mean())
        report[f"ece_mean_{name}"] = float(np.mean([report["params"][n][f"ece_{name}"] for n in spec.names]))
    estimator.calibration = Calibration(temperatures)
    chosen = np.arange(min(refine_clips, count))
    notes = [Note(audio[i], 0.0, spec.clip_seconds) for i in chosen]
    matches = estimate_notes(estimator, notes, [f"clip {i}" for i in chosen], MatchOptions())
    budget = Budget(ms=float("inf"), renders=REACH_RENDERS)
    final = np.array([refine_match(estimator, m, budget).distance_db for m in matches])
    reach = float(np.percentile(final, 99))
    report["refined_distance_db"] = {"mean": float(final.mean()), "median": float(np.median(final)), "p99": reach}
    report["exact_db"], report["reach_db"] = min(EXACT_DB, reach), reach
    stored = {
        "temperature": {n: float(t) for n, t in zip(spec.names, temperatures, strict=True)},
        "exact_db": report["exact_db"],
        "reach_db": report["reach_db"],
        "measured_on": {"data": Path(data_dir).name, "seed": data.info.seed, "clips": count},
    }
    proto = onnx.load(str(model))
    set_metadata(proto, encode({"calibration": stored}))
    atomic_write_bytes(Path(model), proto.SerializeToString())
    return report
