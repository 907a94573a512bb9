"""``inversynth bench match``: the latency of one clip through preprocessing and onnxruntime."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.bridge.matching.audio_input import to_clip
from inversynth.bridge.matching.inference import Estimator
from inversynth.cli.bench import emit
from inversynth.cli.bench.machine import machine
from inversynth.console import console
from inversynth.engine.render import renderer


def bench_inference(model: Path | None = None, runs: int = 1000, synth: str = "original") -> dict[str, Any]:
    """Latency of one 1 s clip through preprocessing and onnxruntime on one thread: p50, p99, mean (ms)."""
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


def report(latency: dict[str, Any]) -> None:
    console.print(
        f"{latency['model_name']} ({latency['model']}), 1 thread, {latency['runs']} clips of 1 s: "
        f"p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms, "
        f"mean {latency['mean_ms']:.2f} ms (preprocessing + onnxruntime)"
    )


def run(args: argparse.Namespace) -> int:
    return emit(bench_inference(args.model, runs=args.runs, synth=args.synth), report, args.json)
