"""``inversynth bench render``: patches per second of every renderer, side by side in one run.

Every figure is the median of ``repeats`` timed runs, and every run is compared
with a baseline (pyo on one core) measured in the same invocation.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.cli.bench import emit
from inversynth.cli.bench.machine import machine, median_rate, print_with_machine
from inversynth.engine.render import (
    default_workers,
    pyo_render_chunk,
    pyo_renderer,
    render_batch,
    renderer,
    worker_pool,
)
from inversynth.engine.synths import get_spec


def bench_render(
    clips: int = 1024, repeats: int = 7, workers: int | None = None, synth: str = "original"
) -> dict[str, Any]:
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
            rates[key].append(median_rate(work, 1))
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

        results[f"pyo_{workers}_workers"] = median_rate(pyo_all, repeats)
    return results


def report(results: dict[str, Any]) -> None:
    baseline, workers = results["pyo_1_worker"], results["workers"]
    table = Table(
        title=f"one-second {results['sample_rate']} Hz patches of '{results['synth']}', "
        f"median of {results['repeats']} runs of {results['clips_per_run']} clips"
    )
    for column in ("renderer", "patches/s", "per core", "ms per clip", "× pyo, 1 worker"):
        table.add_column(column, justify="right" if column != "renderer" else "left")
    for key, label, cores in (
        ("pyo_1_worker", "pyo, 1 worker", 1),
        (f"pyo_{workers}_workers", f"pyo, {workers} worker processes", workers),
        ("batched_1_core", "batched, 1 core", 1),
        (f"batched_{workers}_workers", f"batched, {workers} threads", workers),
    ):
        rate = results[key]
        table.add_row(label, f"{rate:,.0f}", f"{rate / cores:,.0f}", f"{1000 / rate:.3f}", f"{rate / baseline:.2f}")
    print_with_machine(table, results["machine"])


def run(args: argparse.Namespace) -> int:
    results = bench_render(clips=args.clips, repeats=args.repeats, workers=args.workers, synth=args.synth)
    return emit(results, report, args.json)
