"""``inversynth demo``: the whole loop on the embedded default (no sound card, no MIDI, no GPU).

Starts the live server on the dummy backend, then, over OSC like any client:
loads a factory preset, plays its note, captures the synth's output, lets the
model (in its worker process) estimate the patch, which the server loads at
once, refines against the capture with the engine in the loop and saves as a
preset; then it captures the estimate sounding, compares the two
and writes both as WAV files. Every step is printed with its timing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from inversynth.atomic import ensure_folder
from inversynth.audio_files import write_audio
from inversynth.bridge.live.serve import ServeOptions, Studio
from inversynth.bridge.matching.audio_input import to_clip
from inversynth.console import console, print_table
from inversynth.engine.analysis import log_spectral_distance
from inversynth.engine.live import audition_note
from inversynth.osc_client import OscClient
from inversynth.presets.store import FACTORY, Bank
from inversynth.training.metrics import audible_mask

PRESETS = ("Vibrato Lead", "Police Siren", "Original Sample")
CAPTURE_SECONDS = 1.5
NOTE_DELAY = 0.1  # seconds between starting a capture and playing the note


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def run(out: Path) -> list[Path]:
    """Run the loop for the demo presets; write captures, matches and the bank into ``out``."""
    ensure_folder(out)
    bank = Bank(out / "bank")
    earlier = len(bank.names())
    started = time.perf_counter()
    studio = Studio(ServeOptions(audio="dummy", osc_port=0, midi=False, bank=bank.folder), log=console.print)
    try:
        console.print(f"1. started the server in {_ms(started)}: {studio.describe()}")
        client = OscClient(*studio.osc.address)
        try:
            rows, files = [], []
            for name in PRESETS:
                row, written = _round_trip(studio, client, name, out)
                rows.append(row)
                files.extend(written)
        finally:
            client.close()
    finally:
        studio.close()
    table = Table(title="the loop, per preset (distances: log-spectral, dB; 0 = identical)")
    columns = (
        "preset",
        "classes exact",
        "exact where heard",
        "network's re-synthesis",
        "refined re-synthesis",
        "verdict",
        "capture vs estimate sounding",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "preset" else "right")
    for row in rows:
        table.add_row(*row)
    print_table(table)
    console.print(f"wrote captures (*.target.wav) and the estimates sounding (*.match.wav) → [bold]{out}/[/]")
    held = len(bank.names())
    console.print(
        f"saved {held - earlier} matches in the bank {bank.folder}/ (it holds {held} presets: "
        "earlier runs' matches stay; delete the folder for a fresh one)"
    )
    return files


def _round_trip(studio: Studio, client: OscClient, name: str, out: Path) -> tuple[list[str], list[Path]]:
    spec, synth = studio.synth.spec, studio.synth
    preset = Bank(FACTORY).load(name)
    console.print(f"[bold]{name}[/]")
    client.send("/synth/panic")  # the last note may still ring; a capture should hear this preset alone
    client.send("/subscribe", client.port)
    started = time.perf_counter()
    client.send("/preset/load", name)
    client.request("/status")
    console.print(f"   2. /preset/load over OSC: {len(spec.params)} parameters glide into the voices ({_ms(started)})")
    time.sleep(0.05)  # the glides (and the panic's fade) are over
    started = time.perf_counter()
    client.send("/match/capture", CAPTURE_SECONDS)
    time.sleep(NOTE_DELAY)
    client.send("/synth/note", audition_note(preset.synth, preset.params), 127, 0.0)
    console.print(f"   3. /match/capture {CAPTURE_SECONDS:g} s while /synth/note plays the preset's note")
    saved, distance, network_distance, verdict, _reason = client.wait_for("/match/done", timeout=60)[0]
    report = studio.session.reports[-1]
    console.print(
        f"   4. captured, estimated in the model worker ({network_distance:.2f} dB, sounding at once), refined "
        f"({distance:.2f} dB, {verdict}), loaded into the synth and saved as '{saved}' "
        f"({_ms(started)} in all; {report.latency_ms:.0f} ms from the end of the capture to the refined patch sounding)"
    )
    client.send("/unsubscribe", client.port)
    sounding = _capture_while_playing(studio, audition_note(preset.synth, preset.params))  # the estimate, loaded
    heard = to_clip(sounding, synth.sample_rate, spec, "re-capture")
    original = report.match.target
    again = log_spectral_distance(original[None], heard[None])[0]
    console.print(f"   5. played the estimate and captured it: {again:.2f} dB from the first capture")
    truth = spec.values_to_classes(spec.to_array(preset.params)[None])
    estimate = spec.values_to_classes(spec.to_array(report.match.patch)[None])
    right, heard_params = (truth == estimate)[0], audible_mask(spec, truth)[0]
    files = [out / f"{_slug(name)}.target.wav", out / f"{_slug(name)}.match.wav"]
    write_audio(files[0], original, spec.sample_rate)
    write_audio(files[1], heard, spec.sample_rate)
    exact = f"{int(right.sum())}/{right.size}"
    where_heard = f"{int(right[heard_params].sum())}/{int(heard_params.sum())}"
    return [name, exact, where_heard, f"{network_distance:.2f}", f"{distance:.2f}", verdict, f"{again:.2f}"], files


def _capture_while_playing(studio: Studio, note: int) -> np.ndarray:
    result: dict[str, np.ndarray] = {}
    thread = threading.Thread(target=lambda: result.setdefault("audio", studio.synth.capture(CAPTURE_SECONDS).audio))
    thread.start()
    time.sleep(NOTE_DELAY)
    studio.synth.note(note, 127)
    thread.join()
    return result["audio"]
