"""``inversynth bench``: throughput measured, never asserted in tests.

Every figure is the median of ``repeats`` timed runs, and every run is
compared with a baseline measured in the same invocation.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.engine.render import (
    default_workers,
    pyo_render_chunk,
    pyo_renderer,
    render_batch,
    renderer,
    worker_pool,
)
from inversynth.engine.synths import get_spec

SYNTH = "original"


def _median_rate(work: Callable[[], int], repeats: int) -> float:
    """Median items per second of ``work`` (which returns how many items it did)."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": default_workers(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def bench_render(clips: int = 1024, repeats: int = 7, workers: int | None = None, synth: str = SYNTH) -> dict[str, Any]:
    """Patches per second of every renderer side by side: pyo (the baseline) and the batched renderer,
    each on 1 core and on ``workers`` (pyo: processes; batched: threads)."""
    spec = get_spec(synth)
    n_samples, rate = spec.clip_samples, spec.sample_rate
    patches = spec.classes_to_values(spec.random_classes(np.random.default_rng(0), clips))
    workers = workers or default_workers()
    local, batched = pyo_renderer(synth, rate), renderer(synth, rate)
    local.render(patches[: local.polyphony], n_samples)  # boot and warm up outside the timing
    batched.render(patches[:1], n_samples)  # load the compiled kernel

    def pyo_one() -> int:
        local.render(patches, n_samples)
        return clips

    def batched_one() -> int:
        batched.render(patches, n_samples)
        return clips

    def batched_all() -> int:
        render_batch(synth, np.concatenate([patches] * workers), workers=workers, chunk=max(1, clips // 4))
        return clips * workers

    results: dict[str, Any] = {
        "synth": synth,
        "clip_seconds": spec.clip_seconds,
        "sample_rate": rate,
        "clips_per_run": clips,
        "repeats": repeats,
        "workers": workers,
        "machine": machine(),
    }
    # Interleaved, so a slow spell of a shared machine hits baseline and engine alike.
    rates: dict[str, list[float]] = {"pyo_1_worker": [], "batched_1_core": [], f"batched_{workers}_workers": []}
    for _ in range(repeats):
        for key, work in zip(rates, (pyo_one, batched_one, batched_all), strict=True):
            rates[key].append(_median_rate(work, 1))
    results.update({key: statistics.median(values) for key, values in rates.items()})
    with worker_pool(synth, rate, workers, pyo=True) as pool:
        chunk = max(1, clips // 4)
        warm_up = [pool.submit(pyo_render_chunk, synth, rate, patches[:chunk], n_samples) for _ in range(workers)]
        for job in warm_up:
            job.result()

        def pyo_all() -> int:
            jobs = [
                pool.submit(pyo_render_chunk, synth, rate, patches[s : s + chunk], n_samples)
                for _ in range(workers)
                for s in range(0, clips, chunk)
            ]
            for job in jobs:
                job.result()
            return clips * workers

        results[f"pyo_{workers}_workers"] = _median_rate(pyo_all, repeats)
    return results


def bench_inference(model: Path | None = None, runs: int = 1000, synth: str = SYNTH) -> dict[str, Any]:
    """Latency of one 1 s clip through preprocessing and onnxruntime on one thread: p50, p99, mean (ms)."""
    from inversynth.bridge.audio_input import to_clip
    from inversynth.bridge.inference import Estimator

    estimator = Estimator(model, threads=1, synth=synth)
    spec = estimator.spec
    rng = np.random.default_rng(0)
    patches = spec.classes_to_values(spec.random_classes(rng, 64))
    clips = renderer(spec.name).render(patches, spec.clip_samples).astype(np.float64)
    for clip in clips[:10]:  # warm-up
        estimator.estimate(to_clip(clip, spec.sample_rate, spec)[None, :])
    latencies = []
    for i in range(runs):
        clip = clips[i % len(clips)]
        started = time.perf_counter()
        estimator.estimate(to_clip(clip, spec.sample_rate, spec)[None, :])
        latencies.append((time.perf_counter() - started) * 1000)
    ordered = np.sort(latencies)
    return {
        "model": str(estimator.path),
        "model_name": estimator.model_name,
        "runs": runs,
        "threads": 1,
        "p50_ms": float(np.percentile(ordered, 50)),
        "p99_ms": float(np.percentile(ordered, 99)),
        "mean_ms": float(np.mean(ordered)),
        "machine": machine(),
    }


GRIDS = (16, 32, 64)


def bench_grid(clips: int = 200, seed: int = 0, synth: str = SYNTH) -> dict[str, Any]:
    """The quantisation error of a class grid: how far (log-spectral distance, dB) a sound between
    classes is from its nearest patch on a 16-, 32- and 64-class grid — the floor of any match whose
    answer is a class, before refinement. Targets are drawn on a 1024-class grid (as good as continuous)
    over the span of every parameter's classes."""
    from inversynth.engine.analysis import log_spectral_distance

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


def bench_refine(
    model: Path | None = None, clips: int = 20, ms: float = 300.0, seed: int = 0, synth: str = SYNTH
) -> dict[str, Any]:
    """The refinement at equal wall time with each renderer rendering its candidates: renders spent and
    the match distance reached, from the network's estimate of the same held-out grid notes."""
    from inversynth.bridge.audio_input import Note
    from inversynth.bridge.inference import Estimator
    from inversynth.bridge.match import estimate_notes, refine_match
    from inversynth.bridge.refine import Budget

    estimator = Estimator(model, synth=synth)
    spec = estimator.spec
    values = spec.classes_to_values(spec.random_classes(np.random.default_rng([seed, 1]), clips))
    targets = renderer(synth).render(values, spec.clip_samples)
    notes = [Note(clip, 0.0, spec.clip_seconds) for clip in targets]
    matches = estimate_notes(estimator, notes, [f"target {i}" for i in range(clips)])
    budget = Budget(ms=ms, renders=10**9, seed=seed)  # the clock alone stops it
    searchers = {"pyo": pyo_renderer(synth), "batched": renderer(synth)}
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
    refined: dict[str, list] = {name: [] for name in searchers}
    for match in matches:  # interleaved, so a slow spell hits both renderers alike
        for name, searcher in searchers.items():
            refined[name].append(refine_match(estimator, match, budget, search_renderer=searcher))
    for name, done in refined.items():
        results[name] = {
            "renders": float(np.median([m.refinement.renders for m in done])),
            "elapsed_ms": float(np.median([m.refinement.elapsed_ms for m in done])),
            "distance_db": float(np.median([m.distance_db for m in done])),
            "exact_or_close": float(np.mean([m.verdict in ("exact", "close") for m in done])),
        }
    return results
