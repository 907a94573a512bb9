"""``inversynth bench refine``: the refinement at equal wall time with each renderer rendering candidates."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.bridge.matching.audio_input import Note
from inversynth.bridge.matching.inference import Estimator
from inversynth.bridge.matching.match import Match, estimate_notes, refine_match
from inversynth.bridge.matching.refine import Budget
from inversynth.cli.bench import emit
from inversynth.cli.bench.machine import machine, print_with_machine
from inversynth.console import console
from inversynth.engine.render import Renderer, pyo_renderer, renderer


def bench_refine(
    model: Path | None = None, clips: int = 20, ms: float = 300.0, seed: int = 0, synth: str = "original"
) -> dict[str, Any]:
    """The refinement at equal wall time with each renderer rendering its candidates: renders spent and
    the match distance reached, from the network's estimate of the same held-out grid notes."""
    estimator = Estimator(model, synth=synth)
    spec = estimator.spec
    values = spec.classes_to_values(spec.random_classes(np.random.default_rng([seed, 1]), clips))
    targets = renderer(synth).render(values, spec.clip_samples)
    notes = [Note(clip, 0.0, spec.clip_seconds) for clip in targets]
    matches = estimate_notes(estimator, notes, [f"target {i}" for i in range(clips)])
    budget = Budget(ms=ms, renders=10**9, seed=seed)  # the clock alone stops it
    searchers: dict[str, Renderer] = {"pyo": pyo_renderer(synth), "batched": renderer(synth)}
    for searcher in searchers.values():
        searcher.render(values[:1], spec.clip_samples)  # boot, compile, warm up
    results: dict[str, Any] = {
        "synth": synth,
        "model": estimator.model_name,
        "clips": clips,
        "budget_ms": ms,
        "network_db": float(np.median([m.distance_db for m in matches])),
        "machine": machine(),
    }
    refined: dict[str, list[Match]] = {name: [] for name in searchers}
    for match in matches:  # interleaved, so a slow spell hits both renderers alike
        for name, searcher in searchers.items():
            refined[name].append(refine_match(estimator, match, budget, search_renderer=searcher))
    for name, done in refined.items():
        searches = [m.refinement for m in done if m.refinement is not None]  # every one: refine_match sets it
        results[name] = {
            "renders": float(np.median([s.renders for s in searches])),
            "elapsed_ms": float(np.median([s.elapsed_ms for s in searches])),
            "distance_db": float(np.median([m.distance_db for m in done])),
            "exact_or_close": float(np.mean([m.verdict in ("exact", "close") for m in done])),
        }
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"refinement of {results['clips']} grid notes of '{results['synth']}' ({results['model']}), "
        f"{results['budget_ms']:g} ms each; network alone: median {results['network_db']:.2f} dB"
    )
    for column in ("candidates rendered by", "renders", "ms", "median distance dB", "exact or close"):
        table.add_column(column, justify="left" if column.startswith("candidates") else "right")
    for name in ("pyo", "batched"):
        row = results[name]
        table.add_row(name, f"{row['renders']:.0f}", f"{row['elapsed_ms']:.0f}", f"{row['distance_db']:.2f}",
                      f"{row['exact_or_close']:.0%}")  # fmt: skip
    print_with_machine(table, results["machine"])


def run(args: argparse.Namespace) -> int:
    with console.status("refining with each renderer ..."):
        results = bench_refine(args.model, clips=args.clips, ms=args.ms, seed=args.seed, synth=args.synth)
    return emit(results, report, args.json)
