"""Refinement by analysis-by-synthesis: search the patch whose render sounds closest to the target.

The network's answer is a good start but lands between its bins only as well
as it learned to; the engine itself can say how close a patch sounds. Starting
from the best of a few candidates (the network's expectation, its arg-max, each
uncertain parameter's runner-up bin, the measured fundamental), CMA-ES (the
``cma`` package) searches the parameters the clip can determine, in their
normalised ranges, each with a first step as wide as the network's
uncertainty about it. Every generation is rendered in one batch by the
offline renderer and scored with :class:`~inversynth.engine.analysis.SpectralTarget`.

The search stops at its budget (milliseconds or renders, whichever comes
first, checked between generations), when it converges, or when ``cancelled()``
says so; it always returns the best patch seen, never one worse than its start.
The same seed and the same number of generations give the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inversynth.engine.analysis import SpectralTarget
from inversynth.engine.render import OfflineRenderer
from inversynth.engine.spec import SynthSpec

POPULATION = 16  # one render group of the offline renderer
MIN_STEP_BINS, MAX_STEP = 0.5, 0.2  # first step per parameter: >= half a head bin, <= a fifth of the range


@dataclass(frozen=True)
class Budget:
    """How much a refinement may spend; ``seed`` makes it repeatable."""

    ms: float = 300.0
    renders: int = 400
    seed: int = 0


DEFAULT_BUDGET = Budget()


@dataclass(frozen=True)
class Refinement:
    """The outcome of one search.

    Attributes:
        values: the best patch, real values in spec order.
        start_objective, objective: the spectral distance of the best start candidate and of the result.
        renders, generations: what was spent; elapsed_ms: wall time.
        stopped: "budget", "converged" or "cancelled".
    """

    values: np.ndarray
    start_objective: float
    objective: float
    renders: int
    generations: int
    elapsed_ms: float
    stopped: str


def first_steps(spec: SynthSpec, probabilities: np.ndarray) -> np.ndarray:
    """Per parameter, the network's spread (std over its head, normalised units), clipped to a sane step."""
    steps = np.empty(len(spec.params))
    for j, p in enumerate(spec.params):
        positions = p.bin_positions()
        weights = probabilities[j, : p.n_bins]
        mean = float(weights @ positions)
        spread = float(np.sqrt(weights @ (positions - mean) ** 2))
        steps[j] = np.clip(spread, MIN_STEP_BINS / (p.n_bins - 1), MAX_STEP)
    return steps


def refine(
    spec: SynthSpec,
    renderer: OfflineRenderer,
    target: np.ndarray,
    starts: np.ndarray,
    free: np.ndarray,
    steps: np.ndarray,
    budget: Budget = DEFAULT_BUDGET,
    cancelled: Callable[[], bool] = lambda: False,
) -> Refinement:
    """Search the ``free`` parameters (bool [params]) from the best of ``starts`` (real values [k, params]).

    ``steps``: first CMA step per parameter in normalised units (see :func:`first_steps`).
    """
    import cma

    began = time.perf_counter()
    scorer = SpectralTarget(target)
    n = target.shape[-1]
    starts = spec.validate_rows(starts)
    scores = scorer.distance(renderer.render(starts, n))
    best_values, best = starts[int(np.argmin(scores))].copy(), float(scores.min())
    start_objective, renders, generations, stopped = best, len(starts), 0, "budget"
    index = np.flatnonzero(free)
    if index.size == 0:
        return Refinement(best_values, best, best, renders, 0, _ms(began), "converged")
    origin = spec.normalise_rows(best_values)
    options = {
        "bounds": [0.0, 1.0],
        "CMA_stds": steps[index],
        "popsize": POPULATION,
        "seed": budget.seed + 1,  # cma draws a random seed for 0
        "verbose": -9,
        "tolfun": 1e-4,
    }
    search = cma.CMAEvolutionStrategy(origin[index], 1.0, options)
    generation_ms = 0.0
    while True:
        if cancelled():
            stopped = "cancelled"
            break
        if renders + POPULATION > budget.renders or _ms(began) + generation_ms > budget.ms:
            break
        if search.stop():
            stopped = "converged"
            break
        started = time.perf_counter()
        points = np.clip(np.array(search.ask()), 0.0, 1.0)
        rows = np.repeat(origin[None, :], len(points), axis=0)
        rows[:, index] = points
        values = spec.denormalise_rows(rows)
        scores = scorer.distance(renderer.render(values, n))
        search.tell(list(points), scores.tolist())
        renders, generations = renders + len(points), generations + 1
        if scores.min() < best:
            best, best_values = float(scores.min()), values[int(np.argmin(scores))].copy()
        generation_ms = _ms(started)
    return Refinement(best_values, start_objective, best, renders, generations, _ms(began), stopped)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
