"""``inversynth demo``: the main job on the embedded default (no sound card, no MIDI, no GPU).

Renders contrasting factory presets of the ``original`` synth with the real
engine, matches each clip with the shipped model (onnxruntime), re-synthesises
the estimates and prints target, estimate and distance side by side.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.table import Table

from inversynth.atomic import ensure_folder
from inversynth.audio_files import write_wav
from inversynth.bridge.inference import Estimator
from inversynth.bridge.match import match_clips
from inversynth.console import console, patch_table
from inversynth.engine.render import render_batch
from inversynth.engine.synths import get_spec
from inversynth.presets.store import FACTORY, Bank
from inversynth.training.metrics import audible_mask

SYNTH = "original"
PRESETS = ("Original Sample", "Pluck", "Police Siren", "Vibrato Lead", "Slow Swell", "Through-zero Growl")


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def run(out: Path) -> list[Path]:
    """Render, match and re-synthesise the demo presets into ``out``; return the files written."""
    spec = get_spec(SYNTH)
    bank = Bank(FACTORY)
    patches = {name: dict(bank.load(name).params) for name in PRESETS}
    started = time.perf_counter()
    audio = render_batch(SYNTH, [spec.to_array(p) for p in patches.values()])
    render_ms = (time.perf_counter() - started) * 1000
    console.print(patch_table(spec, patches, title=f"synth '{SYNTH}': {len(patches)} factory presets"))
    console.print(
        f"1. rendered {len(patches)} × {spec.clip_seconds:g} s at {spec.sample_rate} Hz with pyo "
        f"in {render_ms:.0f} ms (server boot included)"
    )

    started = time.perf_counter()
    estimator = Estimator()
    load_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    matches = match_clips(estimator, audio, list(patches))
    match_ms = (time.perf_counter() - started) * 1000
    console.print(
        f"2. loaded {estimator.path.name} ({estimator.model_name}) in {load_ms:.0f} ms; estimated and "
        f"re-rendered all {len(matches)} in {match_ms:.0f} ms"
    )

    table = Table(title="3. target vs estimate (16 classes per parameter; 'heard': audible in the clip)")
    for column in ("preset", "exact", "exact where heard", "confidence", "distance (LSD)", "largest audible miss"):
        table.add_column(column, justify="left" if column in ("preset", "largest audible miss") else "right")
    ensure_folder(out)
    files = []
    targets = spec.values_to_classes(np.array([spec.to_array(p) for p in patches.values()]))
    heard = audible_mask(spec, targets)
    for i, ((name, patch), clip, match) in enumerate(zip(patches.items(), audio, matches, strict=True)):
        estimate = np.array([match.classes[n] for n in spec.names])
        right = targets[i] == estimate
        misses = np.where(heard[i], np.abs(targets[i] - estimate), 0)
        worst = spec.params[int(np.argmax(misses))]
        largest = (
            "-"
            if not misses.any()
            else (f"{worst.name} {patch[worst.name]:.3g}→{match.patch[worst.name]:.3g}{worst.unit}")
        )
        table.add_row(
            name,
            f"{int(right.sum())}/{len(right)}",
            f"{int(right[heard[i]].sum())}/{int(heard[i].sum())}",
            f"{np.mean(list(match.confidence.values())):.2f}",
            f"{match.distance_db:.2f} dB",
            largest,
        )
        for suffix, samples in (("", clip), (".match", match.resynthesis)):
            path = out / f"{_slug(name)}{suffix}.wav"
            write_wav(path, samples, spec.sample_rate)
            files.append(path)
    console.print(table)
    console.print(f"4. wrote each target and its re-synthesis (*.match.wav) → [bold]{out}/[/]")
    return files
