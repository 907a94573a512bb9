"""Which parameters of a model's estimates cost the paper's audio figure, ρ STFT.

For each parameter (and each ``--together`` group) three re-renders of every clip:
* the truth with that parameter taken from the model's arg-max estimate: what the model's error in it
  costs when all else is right;
* the truth with that parameter drawn at random: what not knowing it at all costs;
* the model's estimate with that parameter set right: what knowing it would give back.
A parameter whose random draw costs little is one the figure hardly sees; one whose model value costs
as much as a random draw is one the model has not learned to hear.

    inversynth bench blame MODEL.onnx DATA_DIR [--together A,B,...] [--max-clips N] [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.bridge.matching.inference import Estimator
from inversynth.cli.bench import emit
from inversynth.console import print_table
from inversynth.engine.analysis import rho_stft
from inversynth.engine.render import default_workers, render_batch
from inversynth.errors import SpecError
from inversynth.training.dataset import Dataset
from inversynth.training.evaluate import class_scores, score_in_batches

COLUMNS = ("model's value", "random value", "model, this right")


def blame(model: Path, data_dir: Path, together: list[list[str]], max_clips: int, seed: int = 0) -> dict[str, Any]:
    """{"model": ρ of the estimate, "truth": ρ of the re-rendered truth, "rows": {group: [3 ρ means]}}."""
    data = Dataset(data_dir)
    spec = data.spec
    unknown = sorted({n for g in together for n in g} - set(spec.names))
    if unknown:
        raise SpecError(f"synth '{spec.name}' has no parameter {', '.join(unknown)}")
    count = min(len(data), max_clips)
    audio = data.audio_batch(np.arange(count))
    truth = data.labels[:count].astype(np.int64)
    estimator = Estimator(model)
    estimate = class_scores(spec, score_in_batches(estimator.probabilities, audio)).argmax(axis=-1)
    random = np.random.default_rng(seed).integers(0, [p.n_classes for p in spec.params], size=truth.shape)

    def rho(classes: np.ndarray) -> float:
        clips = render_batch(spec.name, spec.classes_to_values(classes), spec.clip_seconds, spec.sample_rate,
                             workers=default_workers())  # fmt: skip
        return float(rho_stft(audio, clips).mean())

    groups = {name: [name] for name in spec.names} | {"+".join(g): g for g in together}
    rows = {}
    for label, names in groups.items():
        j = [spec.names.index(n) for n in names]
        cells = []
        for base, source in ((truth, estimate), (truth, random), (estimate, truth)):
            classes = base.copy()
            classes[:, j] = source[:, j]
            cells.append(rho(classes))
        rows[label] = cells
    return {"clips": count, "model": rho(estimate), "truth": rho(truth), "rows": rows}


def report(results: dict[str, Any]) -> None:
    clips, model, truth = results["clips"], results["model"], results["truth"]
    table = Table(title=f"ρ STFT mean on {clips} clips: the model {model:.2f}, the truth {truth:.2f}")
    for head in ("parameter", *COLUMNS):
        table.add_column(head, justify="left" if head == "parameter" else "right")
    for label, cells in results["rows"].items():
        table.add_row(label, *(f"{c:.2f}" for c in cells))
    print_table(table)


def run(args: argparse.Namespace) -> int:
    return emit(blame(args.model, args.data, [g.split(",") for g in args.together], args.max_clips), report, args.json)
