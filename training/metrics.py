"""Parameter-domain metrics of class predictions (numpy only).

Inputs: class probabilities or logits [n, params, classes] and true class
indices [n, params]. Ranks count from 0 (the true class has the highest
score); the paper's mean percentile rank is ``100 * (1 - mean rank / (K - 1))``,
50 for random guessing and 100 when the true class always ranks first.
"""

from __future__ import annotations

import numpy as np

from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import audible

TOP_K = (1, 2, 3, 4, 5)


def true_class_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rank of the true class among the classes, [n, params] (0 = best)."""
    true_score = np.take_along_axis(scores, labels[..., None], axis=-1)
    return np.sum(scores > true_score, axis=-1)


def chosen_first(scores: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Probabilities [..., classes] re-ranked so that class ``chosen`` [...] comes first and the others keep
    their order: how a refined patch is ranked (the class it landed on, then the network's order)."""
    return scores + 2.0 * (np.arange(scores.shape[-1]) == chosen[..., None])  # probabilities are <= 1


def parameter_metrics(spec: SynthSpec, scores: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Per parameter: top-k accuracy, within-one-class accuracy, MAE in classes and in real units, MPR."""
    predicted = scores.argmax(axis=-1)
    ranks = true_class_rank(scores, labels)
    real_predicted = spec.classes_to_values(predicted)
    real_true = spec.classes_to_values(labels)
    results: dict[str, dict[str, float]] = {}
    for j, param in enumerate(spec.params):
        entry = {f"top{k}": float(np.mean(ranks[:, j] < k)) for k in TOP_K}
        entry["within_one"] = float(np.mean(np.abs(predicted[:, j] - labels[:, j]) <= 1))
        entry["mae_classes"] = float(np.mean(np.abs(predicted[:, j] - labels[:, j])))
        entry["mae_real"] = float(np.mean(np.abs(real_predicted[:, j] - real_true[:, j])))
        entry["mpr"] = float(100 * (1 - ranks[:, j].mean() / (param.n_classes - 1)))
        results[param.name] = entry
    return results


def audible_mask(spec: SynthSpec, labels: np.ndarray) -> np.ndarray:
    """Whether each parameter can be heard in its clip, bool [n, params], for class labels [n, params]."""
    return audible(spec, spec.classes_to_values(labels))


def summarise(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "median": float(np.median(values))}
