"""Refinement by analysis-by-synthesis: search the patch whose render sounds closest to the target.

The network's answer is a good start but lands between its bins only as well
as it learned to; the engine itself can say how close a patch sounds. From the
best of a few candidates (the network's expectation, its arg-max, each
uncertain parameter's runner-up bin, the measured fundamental) the search runs
in two stages, each rendering a batch at a time with the offline renderer and
scoring it with :class:`~inversynth.engine.analysis.SpectralTarget`:

1. **Sweeps** (at most half the budget) over the parameters whose sound
   ``jumps`` (their spec says so) and which the network cannot place within a
   couple of bins: one parameter at a time, least certain first, each of its
   head's most probable bins is tried with the rest of the patch kept; the
   best becomes the patch. Another pass follows while a pass still cuts the
   distance by ``SWEEP_AGAIN_GAIN``. They jump where a local search cannot: a
   pitch under heavy phase modulation sounds no closer a semitone off than an
   octave off, and exactly right on its semitone.
2. **CMA-ES** (the ``cma`` package) on the rest of the budget, from the sweeps'
   best, in the parameters' normalised ranges, each with a first step as wide
   as the network's uncertainty about it: the values between the bins.

Only the parameters the clip can determine are searched. The search stops at
its budget (milliseconds or renders, whichever comes first, checked between
batches), when it converges, or when ``cancelled()`` says so; it always returns
the best patch seen, never one worse than its start. The same seed and the same
budget in renders give the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inversynth.engine.analysis import SpectralTarget
from inversynth.engine.render import Renderer
from inversynth.engine.spec import SynthSpec

POPULATION = 16  # one batch of the batched renderer; also the bins a sweep tries per parameter
MIN_STEP_BINS, MAX_STEP = 0.5, 0.2  # first step per parameter: >= half a head bin, <= a fifth of the range
SWEEP_SHARE = 0.5  # of the budget (renders and time) the sweeps may spend; CMA-ES gets the rest
SWEEP_SPREAD_BINS = 2.0  # a parameter the network places within this spread is left to CMA-ES
SWEEP_AGAIN_GAIN = 0.05  # another pass only after one that cut the distance by this share
DISTINCT = 0.1  # alternatives differ from each other and the best by this much of some parameter's range


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
        renders, sweeps, generations: what was spent (renders; sweep passes begun; CMA-ES generations);
        elapsed_ms: wall time.
        stopped: "budget", "converged" or "cancelled".
        alternatives: other patches the search found close, best first, each ``DISTINCT`` from the best
            and from one another (as many as asked for and found).
    """

    values: np.ndarray
    start_objective: float
    objective: float
    renders: int
    sweeps: int
    generations: int
    elapsed_ms: float
    stopped: str
    alternatives: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class SearchPlan:
    """Where the network says to look, per parameter.

    Attributes:
        steps: CMA-ES's first step (normalised units): the network's spread, clipped to a sane step.
        candidates: the real values a sweep tries: the head's ``POPULATION`` most probable bins, best first.
        swept: the parameters that ``jumps`` and whose spread exceeds ``SWEEP_SPREAD_BINS`` bins, widest
            first: a sweep's order.
    """

    steps: np.ndarray
    candidates: tuple[np.ndarray, ...]
    swept: np.ndarray

    @classmethod
    def from_probabilities(cls, spec: SynthSpec, probabilities: np.ndarray) -> SearchPlan:
        """The plan for one clip's head probabilities [params, bins]."""
        steps, candidates, spread_bins = [], [], []
        for j, p in enumerate(spec.params):
            positions = p.bin_positions()
            weights = probabilities[j, : p.n_bins]
            mean = float(weights @ positions)
            spread = float(np.sqrt(weights @ (positions - mean) ** 2))
            steps.append(np.clip(spread, MIN_STEP_BINS / (p.n_bins - 1), MAX_STEP))
            likely = np.argsort(weights, kind="stable")[::-1][:POPULATION]
            candidates.append(p.denormalise_array(positions[likely]))
            spread_bins.append(spread * (p.n_bins - 1))
        widest = np.argsort(spread_bins, kind="stable")[::-1]
        jumps = np.array([p.jumps for p in spec.params])
        swept = widest[(np.array(spread_bins)[widest] > SWEEP_SPREAD_BINS) & jumps[widest]]
        return cls(np.array(steps), tuple(candidates), swept)


def refine(
    spec: SynthSpec,
    renderer: Renderer,
    target: np.ndarray,
    starts: np.ndarray,
    free: np.ndarray,
    plan: SearchPlan,
    budget: Budget = DEFAULT_BUDGET,
    cancelled: Callable[[], bool] = lambda: False,
    alternatives: int = 0,
) -> Refinement:
    """Search the ``free`` parameters (bool [params]) from the best of ``starts`` (real values [k, params]);
    ``alternatives``: how many other distinct close patches to keep of all it rendered."""
    import cma  # noqa: F401  # before the clock starts: its first import takes about a second

    search = _Search(spec, renderer, target, budget, cancelled)
    search.score(spec.validate_rows(starts))
    start_objective = search.best
    index = np.flatnonzero(free)
    stopped = "converged"
    if index.size:
        stopped = search.sweep([j for j in plan.swept if free[j]], plan.candidates) or search.evolve(
            index, plan.steps[index]
        )
    return Refinement(
        search.best_values, start_objective, search.best, search.renders, search.sweeps, search.generations,
        _ms(search.began), stopped, search.distinct(alternatives),
    )  # fmt: skip


class _Search:
    """The state both stages share: the best patch so far and what has been spent."""

    def __init__(
        self, spec: SynthSpec, renderer: Renderer, target: np.ndarray, budget: Budget, cancelled: Callable[[], bool]
    ) -> None:
        self.spec, self.renderer, self.budget, self.cancelled = spec, renderer, budget, cancelled
        self.began = time.perf_counter()
        self.scorer = SpectralTarget(target)
        self.n_samples = target.shape[-1]
        self.best, self.best_values = np.inf, np.zeros(len(spec.params))
        self.renders = self.sweeps = self.generations = 0
        self.batch_ms = 0.0
        self._seen: list[tuple[np.ndarray, np.ndarray]] = []  # (scores, values) of every batch

    def score(self, values: np.ndarray) -> np.ndarray:
        """Render and score a batch of patches, keeping the best."""
        started = time.perf_counter()
        scores = self.scorer.distance(self.renderer.render(values, self.n_samples))
        self.renders += len(values)
        self._seen.append((scores, values))
        if scores.min() < self.best:
            self.best, self.best_values = float(scores.min()), values[int(np.argmin(scores))].copy()
        self.batch_ms = _ms(started)
        return scores

    def distinct(self, count: int) -> tuple[np.ndarray, ...]:
        """Up to ``count`` patches of all rendered, closest first, each ``DISTINCT`` (in some parameter's
        normalised range) from the best and from those taken before it."""
        if count <= 0 or not self._seen:
            return ()
        scores = np.concatenate([s for s, _ in self._seen])
        values = np.concatenate([v for _, v in self._seen])
        positions = self.spec.normalise_rows(values)
        taken = [self.spec.normalise_rows(self.best_values)]
        found: list[np.ndarray] = []
        for i in np.argsort(scores, kind="stable"):
            if len(found) == count:
                break
            if all(np.abs(positions[i] - other).max() >= DISTINCT for other in taken):
                taken.append(positions[i])
                found.append(values[i].copy())
        return tuple(found)

    def halt(self, batch: int, share: float = 1.0) -> str | None:
        """Why the next batch of ``batch`` renders must not run ("cancelled", "budget"), or None."""
        if self.cancelled():
            return "cancelled"
        over_renders = self.renders + batch > self.budget.renders * share
        if over_renders or _ms(self.began) + self.batch_ms > self.budget.ms * share:
            return "budget"
        return None

    def sweep(self, order: list[int], candidates: tuple[np.ndarray, ...]) -> str | None:
        """Coordinate passes over the candidates while a pass still gains ``SWEEP_AGAIN_GAIN`` and their share
        of the budget lasts; "cancelled" if told to stop (None otherwise: CMA-ES goes on)."""
        while order:
            before, begun = self.best, False
            for j in order:
                tried = candidates[j][candidates[j] != self.best_values[j]]
                why = self.halt(len(tried), SWEEP_SHARE)
                if why is not None:
                    return "cancelled" if why == "cancelled" else None
                if not len(tried):
                    continue
                rows = np.repeat(self.best_values[None, :], len(tried), axis=0)
                rows[:, j] = tried
                self.score(rows)
                self.sweeps, begun = self.sweeps + (not begun), True
            if self.best > before * (1 - SWEEP_AGAIN_GAIN):
                return None
        return None

    def evolve(self, index: np.ndarray, steps: np.ndarray) -> str:
        """CMA-ES over the parameters ``index`` from the best patch, until the budget, convergence or a cancel."""
        import cma

        origin = self.spec.normalise_rows(self.best_values)
        options = {
            "bounds": [0.0, 1.0],
            "CMA_stds": steps,
            "popsize": POPULATION,
            "seed": self.budget.seed + 1,  # cma draws a random seed for 0
            "verbose": -9,
            "tolfun": 1e-4,
        }
        search = cma.CMAEvolutionStrategy(origin[index], 1.0, options)
        while True:
            why = self.halt(POPULATION)
            if why is not None:
                return why
            if search.stop():
                return "converged"
            points = np.clip(np.array(search.ask()), 0.0, 1.0)
            rows = np.repeat(origin[None, :], len(points), axis=0)
            rows[:, index] = points
            scores = self.score(self.spec.denormalise_rows(rows))
            search.tell(list(points), scores.tolist())
            self.generations += 1


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
