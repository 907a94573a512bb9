"""``inversynth bench grid``: how far a sound between classes is from the nearest patch of a class grid."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.cli.bench import emit
from inversynth.cli.bench.machine import machine
from inversynth.console import print_table
from inversynth.engine.analysis import log_spectral_distance
from inversynth.engine.render import renderer
from inversynth.engine.synths import get_spec

GRIDS = (16, 32, 64)


def bench_grid(clips: int = 200, seed: int = 0, synth: str = "original") -> dict[str, Any]:
    """The quantisation error of a class grid: how far (log-spectral distance, dB) a sound between
    classes is from its nearest patch on a 16-, 32- and 64-class grid — the floor of any match whose
    answer is a class, before refinement. Targets are drawn on a 1024-class grid (as good as continuous)
    over the span of every parameter's classes."""
    spec = get_spec(synth)
    fine = spec.variant(classes=1024)
    targets = fine.classes_to_values(fine.random_classes(np.random.default_rng(seed), clips))
    render = renderer(synth, spec.sample_rate)
    heard = render.render(targets, spec.clip_samples)
    results: dict[str, Any] = {"machine": machine(), "synth": synth, "clips": clips, "seed": seed}
    for count in GRIDS:
        grid = spec.variant(classes=count)
        snapped = grid.classes_to_values(grid.values_to_classes(targets))
        distance = log_spectral_distance(heard, render.render(snapped, spec.clip_samples))
        results[f"{count}_classes"] = {
            "lsd_mean_db": float(distance.mean()),
            "lsd_median_db": float(np.median(distance)),
            "exact_share": float(np.mean(distance <= 1.0)),  # the verdict line of "exact"
        }
    return results


def report(grid: dict[str, Any]) -> None:
    table = Table(title=f"quantisation error of a class grid, {grid['clips']} targets between classes")
    for column in ("grid", "LSD mean dB", "LSD median dB", "within 1 dB (exact)"):
        table.add_column(column, justify="right")
    for key, row in grid.items():
        if key.endswith("_classes"):
            cells = (f"{row['lsd_mean_db']:.2f}", f"{row['lsd_median_db']:.2f}", f"{row['exact_share']:.0%}")
            table.add_row(key.replace("_", " "), *cells)
    print_table(table)


def run(args: argparse.Namespace) -> int:
    return emit(bench_grid(clips=args.targets, seed=args.seed, synth=args.synth), report, args.json)
