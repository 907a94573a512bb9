"""``inversynth bench matching``: how close matches get, on every kind of target the issue names.

Suites, each matched three ways (the network's arg-max, its expectation, the
expectation refined by analysis-by-synthesis), beside a random-patch floor
computed on the same targets in the same run:

Every suite runs on any synth (``--synth``), the pitch being its voice's pitch parameter.

* ``grid``: patches on the class grid (the paper's kind of clip);
* ``off_grid``: patches drawn anywhere in every range (the pitch at A4..C6);
* ``pitch_sweep``: the same off-grid patches played at a random note of the
  synth's whole range (MIDI 24..108), next to the same patches at A4..C6;
* ``sines``: plain sines at random pitches across the range;
* ``out_of_reach``: white noise, squares and saws, sines below and above the range;
* ``live``: the synth's own notes captured over OSC from ``serve`` on the
  dummy backend, at random notes between MIDI 36 and 96 and at grid notes,
  beside the capture chain's own floor: how far the exact patch, rendered at
  48 kHz, resampled and cut at its onset, lands from its offline clip; and the
  paper's rho STFT of the saved match's re-synthesis against what was captured.

Match distances in dB (``analysis.match_distance``, what verdicts judge), the
paper's rho STFT beside them; pitch errors in cents.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.audio_files import read_audio
from inversynth.bridge.matching.audio_input import Note, notes, to_clip
from inversynth.bridge.matching.inference import DECODINGS, DEFAULT_DECODING, Estimator
from inversynth.bridge.matching.match import Match, MatchOptions, estimate_notes, refine_match
from inversynth.cli.bench import emit
from inversynth.console import console, print_table
from inversynth.engine.analysis import match_distance, rho_stft
from inversynth.engine.render import renderer
from inversynth.engine.spec import SynthSpec, note_frequency
from inversynth.engine.synths import get_voice
from inversynth.osc_client import OscClient
from inversynth.presets.store import Bank
from inversynth.training.metrics import summarise

PITCH_CENTS = 25.0


def _cents(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.abs(1200 * np.log2(estimate / truth))


def _pitch_index(spec: SynthSpec) -> int | None:
    name = get_voice(spec.name).pitch_param
    return None if name is None else spec.names.index(name)


def _pitch_of(spec: SynthSpec, matches: list[Match]) -> np.ndarray:
    name = get_voice(spec.name).pitch_param
    return np.array([m.patch[name] for m in matches]) if name else np.array([])


def match_suite(estimator: Estimator, clips: np.ndarray, pitch: np.ndarray | None = None) -> dict[str, Any]:
    """Distances (arg-max, expectation, refined), verdicts, time per refinement and pitch errors."""
    spec = estimator.spec
    notes = [Note(clip, 0.0, spec.clip_seconds) for clip in clips]
    names = [f"target {i}" for i in range(len(clips))]
    decoded = {d: estimate_notes(estimator, notes, names, MatchOptions(decoding=d)) for d in DECODINGS}
    refined = [refine_match(estimator, m) for m in decoded[DEFAULT_DECODING]]
    floor = renderer(spec.name).render(spec.random_values(np.random.default_rng(0), len(clips)), spec.clip_samples)
    result = {
        "clips": len(clips),
        **{f"{d}_db": summarise(np.array([m.distance_db for m in decoded[d]])) for d in DECODINGS},
        "refined_db": summarise(np.array([m.distance_db for m in refined])),
        "random_patch_db": summarise(match_distance(clips, floor)),
        "expected_rho_stft": summarise(rho_stft(clips, np.stack([m.resynthesis for m in decoded[DEFAULT_DECODING]]))),
        "refined_rho_stft": summarise(rho_stft(clips, np.stack([m.resynthesis for m in refined]))),
        "random_patch_rho_stft": summarise(rho_stft(clips, floor)),
        "refine_ms": summarise(np.array([m.refinement.elapsed_ms for m in refined if m.refinement])),
        "verdicts": dict(Counter(m.verdict for m in refined)),
    }
    if pitch is not None:
        for key, matches in ((DEFAULT_DECODING, decoded[DEFAULT_DECODING]), ("refined", refined)):
            cents = _cents(_pitch_of(spec, matches), pitch)
            result[f"{key}_pitch_within_25_cents"] = float(np.mean(cents <= PITCH_CENTS))
            result[f"{key}_pitch_cents_median"] = float(np.median(cents))
    return result


def _with_pitch(spec: SynthSpec, values: np.ndarray, hz: np.ndarray) -> np.ndarray:
    out = values.copy()
    pitch = _pitch_index(spec)
    if pitch is not None:
        out[:, pitch] = hz
    return out


def _render(spec: SynthSpec, values: np.ndarray) -> np.ndarray:
    return renderer(spec.name).render(values, spec.clip_samples)


def synthetic_suites(estimator: Estimator, clips: int, seed: int) -> dict[str, Any]:
    spec = estimator.spec
    rng = np.random.default_rng(seed)
    grid = spec.classes_to_values(spec.random_classes(rng, clips))
    grid_notes = rng.integers(69, 85, clips)  # A4..C6, the original project's notes
    off_grid = _with_pitch(spec, spec.random_values(rng, clips), note_frequency(grid_notes))
    anywhere = note_frequency(rng.uniform(24, 108, clips))
    sweep = _with_pitch(spec, off_grid, anywhere)
    sine_hz = note_frequency(rng.uniform(24, 108, clips))
    t = np.arange(spec.clip_samples) / spec.sample_rate
    sines = (0.5 * np.sin(2 * np.pi * sine_hz[:, None] * t)).astype(np.float32)
    pitch = _pitch_index(spec)
    known = pitch is not None
    return {
        "grid": match_suite(estimator, _render(spec, grid), grid[:, pitch] if known else None),
        "off_grid": match_suite(estimator, _render(spec, off_grid), off_grid[:, pitch] if known else None),
        "pitch_sweep": match_suite(estimator, _render(spec, sweep), anywhere if known else None),
        "sines": match_suite(estimator, sines, sine_hz if known else None),
        "out_of_reach": match_suite(estimator, _out_of_reach(spec, rng, clips)),
    }


def _out_of_reach(spec: SynthSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """Noise, squares and saws inside the range, sines outside it: nothing the synth can make."""
    t = np.arange(spec.clip_samples) / spec.sample_rate
    out = []
    for i in range(count):
        hz = note_frequency(rng.uniform(36, 84))
        kind = i % 4
        if kind == 0:
            out.append(0.3 * rng.standard_normal(t.size))
        elif kind == 1:
            out.append(0.4 * np.sign(np.sin(2 * np.pi * hz * t)))
        elif kind == 2:
            out.append(0.4 * (2 * ((hz * t) % 1.0) - 1))
        else:
            out.append(0.5 * np.sin(2 * np.pi * rng.choice([16.0, 22.0, 6000.0, 7000.0]) * t))
    return np.array(out, dtype=np.float32)


def audible_patches(spec: SynthSpec, rng: np.random.Generator, count: int, peak: float = 0.05) -> np.ndarray:
    """``count`` patches drawn over every range, each redrawn until its offline clip peaks above ``peak``
    (a capture of silence is refused, not matched)."""
    rows: list[np.ndarray] = []
    while len(rows) < count:
        row = spec.random_values(rng, 1)
        if np.max(np.abs(_render(spec, row)[0])) >= peak:
            rows.append(row[0])
    return np.array(rows)


def live_suite(model: Path | None, patches: int, seed: int, synth: str = "original") -> dict[str, Any]:
    """The synth's own notes captured over OSC from serve on the dummy backend, matched with refinement
    (every match saved, out of reach too, so that its re-synthesis can be scored)."""
    from inversynth.bridge.live.serve import ServeOptions, Studio

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as scratch:
        options = ServeOptions(
            synth=synth, audio="dummy", osc_port=0, midi=False, bank=Path(scratch), model=model, save_out_of_reach=True
        )
        studio = Studio(options, log=lambda _m: None)
        spec = studio.synth.spec
        client = OscClient(*studio.osc.address)
        rows: list[tuple[str, float, float, float, float, float]] = []
        try:
            client.send("/subscribe", client.port)
            for i, values in enumerate(audible_patches(spec, rng, patches)):
                patch = spec.from_array(values)
                note = int(rng.integers(36, 97)) if i % 2 == 0 else int(rng.integers(69, 85))
                played = get_voice(spec.name).played_at(patch, note_frequency(note))
                floor = _capture_chain_floor(spec, spec.to_array(played))
                captured = _capture(client, Bank(Path(scratch)), spec, patch, note)
                rows.append((("any" if i % 2 == 0 else "grid"), *captured, floor))
        finally:
            client.close()
            studio.close()
    result = {}
    for kind in ("any", "grid"):
        picked = [r for r in rows if r[0] == kind]
        result[kind] = {
            "captures": len(picked),
            "network_db": summarise(np.array([r[2] for r in picked])),
            "refined_db": summarise(np.array([r[1] for r in picked])),
            "pitch_within_25_cents": float(np.mean([r[3] <= PITCH_CENTS for r in picked])),
            "rho_stft": summarise(np.array([r[4] for r in picked])),
            "capture_chain_floor_db": summarise(np.array([r[5] for r in picked])),
        }
    return result


def _capture_chain_floor(spec: SynthSpec, values: np.ndarray, rate: int = 48000) -> float:
    """How far the exact patch lands from its own offline clip once captured: rendered at ``rate``,
    resampled and cut at its onset by the matcher's front end. No match of a capture can beat it."""
    offline = _render(spec, values[None])[0]
    live = renderer(spec.name, rate).render(values[None], round(1.2 * rate))[0]
    captured = to_clip(np.concatenate([np.zeros(100), live]), rate, spec)
    return float(match_distance(offline, captured))


def _capture(
    client: OscClient, bank: Bank, spec: SynthSpec, values: dict[str, float], note: int
) -> tuple[float, float, float, float]:
    """(final dB, network dB, pitch error in cents, rho STFT of the saved match against the capture)."""
    client.send("/synth/panic")  # the last note may still ring; the capture should hear this one alone
    for name, value in values.items():
        client.send(f"/synth/param/{name}", float(value))
    client.request("/status")
    time.sleep(0.05)
    client.send("/match/capture", 1.4)
    time.sleep(0.1)
    client.send("/synth/note", note, 127, 0.0)
    name, final, network, _verdict, _reason = client.wait_for("/match/done", timeout=120)[0]
    saved = bank.load(name)
    assert saved.provenance is not None  # a matched preset records its capture
    audio, rate = read_audio(Path(saved.provenance["audio"]))
    heard = notes(audio, rate, spec, "capture", capture=True)[0].clip
    rho = float(rho_stft(heard, _render(spec, spec.to_array(dict(saved.params))[None])[0]))
    pitch = get_voice(spec.name).pitch_param
    cents = float(_cents(np.array(saved.params[pitch]), np.array(note_frequency(note)))) if pitch else float("nan")
    return final, network, cents, rho


def bench_matching(
    model: Path | None,
    clips: int,
    live: int,
    seed: int,
    progress: Callable[[str], None] = lambda _s: None,
    synth: str = "original",
) -> dict[str, Any]:
    estimator = Estimator(model, synth=synth)
    progress("synthetic targets")
    started = time.perf_counter()
    results = {"synth": synth, "model": str(estimator.path), "clips_per_suite": clips, "seed": seed}
    results.update(synthetic_suites(estimator, clips, seed))
    if live:
        progress("live captures over OSC")
        results["live"] = live_suite(model, live, seed, synth)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"'{results['synth']}': match distance dB (mean / median), "
        f"{results['clips_per_suite']} targets per suite, seed {results['seed']}; rho STFT mean"
    )
    for column in (
        "suite",
        "arg-max",
        "expectation",
        "refined",
        "random patch",
        "rho STFT refined",
        "rho random",
        "refine ms",
        "pitch ≤ 25 ct",
        "verdicts",
    ):
        table.add_column(column, justify="left" if column in ("suite", "verdicts") else "right")
    for suite in ("grid", "off_grid", "pitch_sweep", "sines", "out_of_reach"):
        row = results[suite]
        pitch = row.get("refined_pitch_within_25_cents")
        table.add_row(
            suite,
            *(f"{row[k]['mean']:.2f} / {row[k]['median']:.2f}" for k in ("argmax_db", "expected_db", "refined_db")),
            f"{row['random_patch_db']['mean']:.2f} / {row['random_patch_db']['median']:.2f}",
            f"{row['refined_rho_stft']['mean']:.2f}",
            f"{row['random_patch_rho_stft']['mean']:.2f}",
            f"{row['refine_ms']['median']:.0f}",
            "-" if pitch is None else f"{pitch:.3f}",
            ", ".join(f"{k} {v}" for k, v in sorted(row["verdicts"].items())),
        )
    print_table(table)
    for kind, row in (results.get("live") or {}).items():
        console.print(
            f"live ({kind} notes, {row['captures']} captures): network {row['network_db']['mean']:.2f} dB -> "
            f"refined {row['refined_db']['mean']:.2f} dB (the capture chain alone: "
            f"{row['capture_chain_floor_db']['mean']:.2f} dB); pitch within 25 cents "
            f"{row['pitch_within_25_cents']:.2f}; rho STFT {row['rho_stft']['mean']:.2f}"
        )


def run(args: argparse.Namespace) -> int:
    with console.status("matching ...") as status:
        results = bench_matching(args.model, args.targets, args.live, args.seed, status.update, synth=args.synth)
    return emit(results, report, args.json)
