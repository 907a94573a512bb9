"""``inversynth demo``: the main job on the embedded default (no sound card, no MIDI, no GPU).

Renders contrasting factory presets of the ``original`` synth with the real
engine and writes them as WAV files.
"""

from __future__ import annotations

import time
from pathlib import Path

from inversynth.atomic import ensure_folder
from inversynth.audio_files import write_wav
from inversynth.console import console, patch_table
from inversynth.engine.render import render_batch
from inversynth.engine.synths import get_spec
from inversynth.presets.store import FACTORY, Bank

SYNTH = "original"
PRESETS = ("Original Sample", "Pluck", "Police Siren", "Vibrato Lead", "Slow Swell", "Through-zero Growl")


def run(out: Path) -> list[Path]:
    """Render the demo presets into ``out``; return the files written."""
    spec = get_spec(SYNTH)
    bank = Bank(FACTORY)
    patches = {name: dict(bank.load(name).params) for name in PRESETS}
    started = time.perf_counter()
    audio = render_batch(SYNTH, [spec.to_array(p) for p in patches.values()])
    elapsed = time.perf_counter() - started
    ensure_folder(out)
    files = []
    for name, clip in zip(patches, audio, strict=True):
        path = out / f"{name.lower().replace(' ', '-')}.wav"
        write_wav(path, clip, spec.sample_rate)
        files.append(path)
    console.print(patch_table(spec, patches, title=f"synth '{SYNTH}': {len(files)} factory presets"))
    console.print(
        f"rendered {len(files)} × {spec.clip_seconds:g} s at {spec.sample_rate} Hz with pyo "
        f"in {elapsed * 1000:.0f} ms (server boot included) → [bold]{out}/[/]"
    )
    return files
