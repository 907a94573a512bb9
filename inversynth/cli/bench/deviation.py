"""Which of the paper synth's oscillator parameters a model can read, by how far each oscillator's
frequency modulation sweeps it: mean percentile rank per frequency deviation B_w (Hz, spec version 2).

An oscillator's instantaneous frequency swings B_w Hz either side of f_w (up to 1500 Hz); the wider
the swing against the pitch, the less of the pitch is left in the sound. This splits a model's
figures by that swing.

    inversynth bench deviation MODEL.onnx DATA_DIR [--json]
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
from inversynth.engine.synths.paper import WAVES
from inversynth.training.dataset import Dataset
from inversynth.training.evaluate import class_scores, score_in_batches
from inversynth.training.metrics import true_class_rank

BUCKETS_HZ = ((0.0, 1.0), (1.0, 300.0), (300.0, 800.0), (800.0, np.inf))  # B = 0 first


def mpr_by_deviation(model: Path, data_dir: Path) -> dict[str, dict[str, object]]:
    """Per oscillator parameter: MPR over all clips and per deviation bucket, with clip counts."""
    data = Dataset(data_dir)
    spec, estimator = data.spec, Estimator(model)
    audio = data.audio_batch(np.arange(len(data)))
    probabilities = score_in_batches(estimator.probabilities, audio)
    ranks = true_class_rank(class_scores(spec, probabilities), data.labels[: len(audio)].astype(np.int64))
    values, names = data.values[: len(audio)], spec.names
    report: dict[str, dict[str, object]] = {}
    for wave in WAVES:
        deviation = values[:, names.index(f"B_{wave}")]
        masks = [(deviation >= lo) & (deviation < hi) for lo, hi in BUCKETS_HZ]
        for prefix in ("f", "A", "B", "v"):
            j = names.index(f"{prefix}_{wave}")
            top = spec.params[j].n_classes - 1
            mpr = [100 * (1 - ranks[m, j].mean() / top) for m in [np.ones_like(masks[0]), *masks]]
            report[f"{prefix}_{wave}"] = {"mpr": mpr, "clips": [int(m.sum()) for m in masks]}
    return report


def report(results: dict[str, Any]) -> None:
    table = Table(title="MPR by each oscillator's frequency deviation B (its clips in brackets)")
    for head in ("parameter", "all", *(f"{lo:g}..{hi:g} Hz" for lo, hi in BUCKETS_HZ)):
        table.add_column(head, justify="left" if head == "parameter" else "right")
    for name, entry in results.items():
        cells = [f"{m:.1f} ({c})" for m, c in zip(entry["mpr"][1:], entry["clips"], strict=True)]
        table.add_row(name, f"{entry['mpr'][0]:.1f}", *cells)
    print_table(table)


def run(args: argparse.Namespace) -> int:
    return emit(mpr_by_deviation(args.model, args.data), report, args.json)
