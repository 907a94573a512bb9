"""``inversynth bench instruments``: real recordings, matched as a user matches a file, beside baselines.

Single notes of sampled General MIDI instruments (fluidsynth with the FluidR3 GM soundfont: Debian's
``fluidsynth`` and ``fluid-soundfont-gm``), sustained and struck, at several pitches, written as 44.1 kHz
WAVs and matched through ``match``'s own path (note finding, the network, the pitch rule, the
refinement). Per note: the pitch the re-synthesis sounds at, its distance and verdict, and two
baselines measured in the same run: the best factory preset of the synth transposed to the played
note (chosen with hindsight, per note) and a plain sine at the played pitch with the note's loudness
envelope.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.bridge.matching.inference import Estimator
from inversynth.bridge.matching.match import MatchOptions, factory_presets, match_files
from inversynth.bridge.matching.pitch_rule import PITCH_CENTS, played_at
from inversynth.bridge.matching.refine import Budget
from inversynth.cli.bench import emit
from inversynth.cli.bench.machine import machine, print_with_machine
from inversynth.console import console
from inversynth.engine.analysis import match_distance
from inversynth.engine.render import renderer
from inversynth.engine.spec import SynthSpec, note_frequency
from inversynth.errors import BackendError, InversynthError

GM_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# name: (General MIDI program, whether the note sustains: pitch figures count sustained notes)
INSTRUMENTS = {
    "flute": (73, True), "clarinet": (71, True), "oboe": (68, True), "trumpet": (56, True),
    "violin": (40, True), "cello": (42, True), "organ": (19, True), "accordion": (21, True),
    "square lead": (80, True), "saw lead": (81, True), "choir": (52, True), "warm pad": (89, True),
    "piano": (0, False), "guitar": (24, False), "vibraphone": (11, False), "marimba": (12, False),
}  # fmt: skip
NOTES = (48, 60, 72)
FAR_DB = 6.0  # a match this far is never "exact" or "close"


def render_note(program: int, note: int, path: Path) -> Path:
    """One two-beat note of a General MIDI program, rendered by fluidsynth to a 44.1 kHz WAV."""
    import mido

    song = mido.MidiFile()
    track = mido.MidiTrack()
    song.tracks.append(track)
    track += [
        mido.Message("program_change", program=program),
        mido.Message("note_on", note=note, velocity=100),
        mido.Message("note_off", note=note, time=song.ticks_per_beat * 2),
    ]
    midi = path.with_suffix(".mid")
    song.save(midi)
    command = ["fluidsynth", "-ni", "-g", "0.8", "-r", "44100", "-F", str(path), str(GM_SOUNDFONT), str(midi)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def sine_like(clip: np.ndarray, hz: float, rate: int, frame: int = 256) -> np.ndarray:
    """A sine at ``hz`` following ``clip``'s loudness (the RMS of each frame, interpolated)."""
    frames = clip[: len(clip) // frame * frame].reshape(-1, frame)
    centres = (np.arange(len(frames)) + 0.5) * frame
    envelope = np.interp(np.arange(len(clip)), centres, np.sqrt(np.mean(frames**2, axis=1)))
    return np.sqrt(2) * envelope * np.sin(2 * np.pi * hz * np.arange(len(clip)) / rate)


def best_transposed_preset(
    spec: SynthSpec, presets: Sequence[tuple[str, Mapping[str, float]]], clip: np.ndarray, hz: float
) -> tuple[str, float]:
    """Of ``presets`` (``spec``'s synth's (name, params)), the one that, played at ``hz``, is closest to
    ``clip``, and its distance."""
    rows = np.stack([played_at(spec, params, hz) for _, params in presets])
    audio = renderer(spec.name, spec.sample_rate).render(rows, spec.clip_samples)
    distances = match_distance(np.broadcast_to(clip, audio.shape), audio)
    best = int(np.argmin(distances))
    return presets[best][0], float(distances[best])


def bench_instruments(
    model: Path | None = None,
    synth: str = "paper",
    budget_ms: float = 300.0,
    notes: tuple[int, ...] = NOTES,
    instruments: tuple[str, ...] = tuple(INSTRUMENTS),
) -> dict[str, Any]:
    unknown = sorted(set(instruments) - set(INSTRUMENTS))
    if unknown:
        raise InversynthError(f"no instrument {', '.join(unknown)}; known: {', '.join(INSTRUMENTS)}")
    if shutil.which("fluidsynth") is None or not GM_SOUNDFONT.exists():
        raise BackendError(
            "bench instruments needs fluidsynth and the FluidR3 GM soundfont "
            "(apt-get install --no-install-recommends fluidsynth fluid-soundfont-gm)"
        )
    estimator = Estimator(model, synth=synth)
    spec = estimator.spec
    with tempfile.TemporaryDirectory(prefix="inversynth-gm-") as scratch:
        played = [(name, *INSTRUMENTS[name], note) for name in instruments for note in notes]
        wavs = [render_note(program, note, Path(scratch) / f"{i:03d}.wav") for i, (_, program, _, note) in
                enumerate(played)]  # fmt: skip
        options = MatchOptions(refine=True, budget=Budget(ms=budget_ms, renders=10**6))
        matches, failures = match_files(estimator, wavs, options)
    if failures:
        raise BackendError(f"{len(failures)} notes could not be matched: {failures[0][1]}")
    factory = factory_presets(spec.name)
    rows = []
    for (name, _, sustains, note), match in zip(played, matches, strict=True):
        hz = note_frequency(note)
        sounding = match.sounding
        preset, preset_db = best_transposed_preset(spec, factory, match.target, hz)
        sine = sine_like(match.target, hz, spec.sample_rate)
        rows.append(
            {
                "instrument": name,
                "note": note,
                "sustained": sustains,
                "played_hz": hz,
                "sounds_at_hz": sounding.hz if sounding is not None and sounding.pitched else None,
                "cents": float(1200 * np.log2(sounding.hz / hz)) if sounding is not None and sounding.pitched else None,
                "distance_db": match.distance_db,
                "verdict": match.verdict,
                "reason": match.reason,
                "preset": preset,
                "preset_db": preset_db,
                "sine_db": float(match_distance(match.target, sine)),
            }
        )
    return {"synth": synth, "model": estimator.model_name, "budget_ms": budget_ms, "machine": machine(),
            "rows": rows, "summary": summarise_rows(rows)}  # fmt: skip


def summarise_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The targets' figures: sustained notes at their pitch, distances against each baseline, far matches
    called close."""
    sustained = [r for r in rows if r["sustained"]]
    distance = np.array([r["distance_db"] for r in rows])
    preset = np.array([r["preset_db"] for r in rows])
    return {
        "notes": len(rows),
        "sustained_at_pitch": sum(r["cents"] is not None and abs(r["cents"]) <= PITCH_CENTS for r in sustained),
        "sustained": len(sustained),
        "distance_db_mean": float(distance.mean()),
        "preset_db_mean": float(preset.mean()),
        "sine_db_mean": float(np.mean([r["sine_db"] for r in rows])),
        "closer_than_preset": int(np.sum(distance < preset)),
        "far_but_close": sum(r["distance_db"] > FAR_DB and r["verdict"] in ("exact", "close") for r in rows),
    }


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"'{results['synth']}' ({results['model']}) on General MIDI notes, {results['budget_ms']:g} ms "
        "refinement each: match distance dB beside the best transposed factory preset and a sine"
    )
    for column in ("instrument", "note", "sounds at", "cents", "match dB", "preset dB", "sine dB", "verdict"):
        table.add_column(column, justify="left" if column in ("instrument", "verdict") else "right")
    for r in results["rows"]:
        table.add_row(
            r["instrument"],
            str(r["note"]),
            "-" if r["sounds_at_hz"] is None else f"{r['sounds_at_hz']:.1f}",
            "-" if r["cents"] is None else f"{r['cents']:+.0f}",
            f"{r['distance_db']:.2f}",
            f"{r['preset_db']:.2f}",
            f"{r['sine_db']:.2f}",
            r["verdict"],
        )
    print_with_machine(table, results["machine"])
    s = results["summary"]
    console.print(
        f"sustained notes at their pitch (±{PITCH_CENTS:g} cents): {s['sustained_at_pitch']} of {s['sustained']}; "
        f"mean distance {s['distance_db_mean']:.2f} dB (best transposed preset {s['preset_db_mean']:.2f}, "
        f"sine {s['sine_db_mean']:.2f}); closer than the preset on {s['closer_than_preset']} of {s['notes']}; "
        f"more than {FAR_DB:g} dB away yet called exact or close: {s['far_but_close']}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        notes = tuple(int(n) for n in args.notes.split(","))
    except ValueError:
        raise InversynthError(f"--notes {args.notes!r} is not MIDI note numbers separated by commas") from None
    chosen = tuple(args.instruments.split(",")) if args.instruments else tuple(INSTRUMENTS)
    with console.status("rendering and matching General MIDI notes ..."):
        results = bench_instruments(args.model, args.synth, args.ms, notes, chosen)
    return emit(results, report, args.json)
