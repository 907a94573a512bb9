"""``inversynth demo``: the main job on the embedded default (no sound card, no MIDI, no GPU).

Today it renders a handful of contrasting patches of the ``original`` synth
with the real engine and writes them as WAV files.
"""

from __future__ import annotations

import time
from pathlib import Path

from inversynth.atomic import ensure_folder
from inversynth.audio_files import write_wav
from inversynth.console import console, patch_table
from inversynth.engine.render import render_batch
from inversynth.engine.synths import get_spec

SYNTH = "original"
# Contrasting patches, keyed by parameter name; unspecified params keep spec defaults.
PATCHES: dict[str, dict[str, float]] = {
    "original-sample": {},
    "pluck": {
        "C": 440.0,
        "M": 1.0,
        "D": 0.0,
        "attack": 0.0,
        "decay": 0.2667,
        "sustain": 0.0,
        "sustain_level": 0.0,
        "release": 0.0,
    },
    "siren": {
        "C": 587.33,
        "M": 1.0,
        "D": 0.5,
        "attack": 0.0,
        "decay": 0.0,
        "sustain": 1.0,
        "sustain_level": 1.0,
        "release": 0.0,
    },
    "vibrato-lead": {
        "C": 880.0,
        "M": 6.8,
        "D": 0.02,
        "A": 0.8,
        "attack": 0.0667,
        "decay": 0.2,
        "sustain": 0.5,
        "sustain_level": 0.7,
        "release": 0.2,
    },
    "swell": {
        "C": 523.25,
        "M": 4.87,
        "D": 0.1,
        "attack": 0.8,
        "decay": 0.0,
        "sustain": 0.2,
        "sustain_level": 1.0,
        "release": 0.0,
    },
    "through-zero-growl": {
        "C": 440.0,
        "M": 30.0,
        "D": 1.5,
        "A": 0.7,
        "attack": 0.0,
        "decay": 0.3,
        "sustain": 0.4,
        "sustain_level": 0.6,
        "release": 0.3,
    },
}


def run(out: Path) -> list[Path]:
    """Render every demo patch into ``out``; return the files written."""
    spec = get_spec(SYNTH)
    patches = {name: spec.patch(values) for name, values in PATCHES.items()}
    started = time.perf_counter()
    audio = render_batch(SYNTH, [spec.to_array(p) for p in patches.values()])
    elapsed = time.perf_counter() - started
    ensure_folder(out)
    files = []
    for name, clip in zip(patches, audio, strict=True):
        path = out / f"{name}.wav"
        write_wav(path, clip, spec.sample_rate)
        files.append(path)
    console.print(patch_table(spec, patches, title=f"synth '{SYNTH}': {len(files)} patches"))
    console.print(
        f"rendered {len(files)} × {spec.clip_seconds:g} s at {spec.sample_rate} Hz with pyo "
        f"in {elapsed * 1000:.0f} ms (server boot included) → [bold]{out}/[/]"
    )
    return files
