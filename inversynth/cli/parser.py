"""The ``inversynth`` command line.

Every failure the user can cause (unknown synth or parameter, bad value,
unwritable path) ends as one line on stderr and exit status 2; nothing is
left half-written because every file goes through ``inversynth.atomic``.
Heavy modules are imported inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from rich.markup import escape

from inversynth import __version__
from inversynth.bridge.live.performer import MPE_MEMBERS
from inversynth.bridge.live.serve import ServeOptions
from inversynth.cli import commands as cmd
from inversynth.console import errors
from inversynth.engine.backends import BACKENDS
from inversynth.engine.synth_client import VELOCITY_CURVES
from inversynth.errors import InversynthError
from inversynth.presets.store import user_bank
from inversynth.training.dataset import DRAWS

Subcommands: TypeAlias = "argparse._SubParsersAction[Any]"  # no public name in argparse
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def _real(accept: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """An argparse type: a finite number that ``accept`` takes, else one line saying what was ``expected``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not accept(value):
            raise argparse.ArgumentTypeError(f"{value} is not {expected}")
        return value

    return parse


def _int_between(low: int, high: int) -> Callable[[str], int]:
    at_least = _int_at_least(low)

    def parse(text: str) -> int:
        value = at_least(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"{value} is more than {high}")
        return value

    return parse


def _machine_share(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    if not sep or not i.isdigit() or not n.isdigit() or not 1 <= int(i) <= int(n):
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N with 1 <= I <= N (e.g. 2/4)")
    return int(i), int(n)


def _midi_channel(text: str) -> str:
    if text != "omni" and text not in {str(n) for n in range(1, 17)}:
        raise argparse.ArgumentTypeError(f"{text!r} is not a channel 1..16 or omni")
    return text


_positive = _real(lambda v: v > 0, "a positive number")
_share = _real(lambda v: 0.0 <= v <= 1.0, "a share between 0 and 1")


class _Parser(argparse.ArgumentParser):
    """argparse that answers a mistake in one line, with the hint to ask for help, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command(
    commands: Subcommands, name: str, summary: str, description: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """One subcommand: its one-line help, a description with examples, and the function it runs."""
    parser = commands.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(run=run)  # the command to run: no argument may use the name "run"
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="inversynth",
        description="A real-time FM synthesizer that learns to program itself.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"inversynth {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(
        commands,
        "demo",
        "the whole live loop on the dummy backend: play, capture, match, load, save (no sound card needed)",
        "Start the live server on the dummy backend and drive it over OSC like any client: for each of\n"
        "three factory presets, load it, play its note, capture the output, let the shipped model\n"
        "estimate the patch (loaded at once), refine it and save it as a preset; then capture the\n"
        "estimate sounding and compare. Each step is printed with its timing; the captures and the\n"
        "estimates sounding are written as WAV files and the matches saved in DIR/bank (added to what\n"
        "earlier runs saved there).\n\n"
        "example:\n  inversynth demo --out inversynth-demo",
        cmd.demo,
    )
    demo.add_argument("--out", type=Path, default=Path("inversynth-demo"), help="folder for the WAV files and the bank")

    render = _command(
        commands,
        "render",
        "render one patch to a WAV file",
        "Render one patch (spec defaults for what is not set) to a WAV file.\n\nexamples:\n"
        "  inversynth render --set C=783.991 M=12.6 D=0.5 -o sample.wav\n"
        "  inversynth render --random --seed 7 -o random.wav",
        cmd.render,
    )
    render.add_argument("--synth", default="original", help="synth name (default: original)")
    render.add_argument(
        "--set", nargs="+", action="extend", metavar="NAME=VALUE", help="parameter values in real units"
    )
    render.add_argument("--random", action="store_true", help="draw every unset parameter's class at random")
    render.add_argument("--seed", type=_int_at_least(0), default=0, help="seed for --random (default 0)")
    render.add_argument("--seconds", type=float, help="length (default: the synth's clip length)")
    render.add_argument("--sample-rate", type=_int_at_least(1), help="Hz (default: the synth's)")
    render.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="audio file to write: .wav (32-bit float), .flac, .ogg, .mp3, .aiff",
    )

    dataset = _command(
        commands,
        "dataset",
        "render a training set with the engine",
        "Render SIZE random patches into memory-mappable shards plus labels and meta.csv.\n"
        "The same seed gives identical bytes for any --workers; rerun to resume.\n\n"
        "examples:\n  inversynth dataset --size 200000 --seed 1 --out data/train --workers 2\n"
        "  inversynth dataset --size 200000 --seed 1 --draw continuous --captured 0.5 --out data/train-cont",
        cmd.dataset,
    )
    dataset.add_argument("--synth", default="original")
    dataset.add_argument("--size", type=_int_at_least(1), required=True, help="number of clips")
    dataset.add_argument("--seed", type=_int_at_least(0), default=0)
    dataset.add_argument("--out", type=Path, required=True, help="dataset folder (new, empty or resumable)")
    dataset.add_argument("--workers", type=_int_at_least(1), help="processes (default: all cores)")
    dataset.add_argument("--shard-size", type=_int_at_least(1), default=1024, help="clips per shard file")
    dataset.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="audio sample type")
    dataset.add_argument("--wav", action="store_true", help="also write one WAV file per clip")
    variant = dataset.add_argument_group(
        "a variant of the synth's spec (the original generator's --num_classes, --length, --sample_rate)",
        "recorded in the dataset, the run and the exported model, which then matches only that variant",
    )
    variant.add_argument("--classes", type=_int_between(2, 1024), help="classes per parameter (default: the spec's)")
    variant.add_argument(
        "--seconds", type=_real(lambda v: 0.05 <= v <= 30, "0.05..30 s"), help="clip length (default: the spec's)"
    )
    variant.add_argument("--sample-rate", type=_int_between(4000, 192000), help="Hz (default: the spec's)")
    dataset.add_argument(
        "--shards",
        type=_machine_share,
        default=(1, 1),
        metavar="I/N",
        help="render only machine I's share of N (shards I-1, I-1+N, ...) into one shared folder, or into N "
        "folders whose shards/ are then put together: the same bytes as one machine",
    )
    dataset.add_argument(
        "--draw",
        choices=DRAWS,
        default="grid",
        help="patches on the class grid (the paper's sets), anywhere in every range (any pitch, off-grid), or "
        "like an instrument's note (consonant oscillators, a vibrato or none, plucked/struck/bowed/blown/organ "
        "envelopes; its captures are recordings with a room and a level)",
    )
    dataset.add_argument(
        "--captured",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of shards passed through a simulated live capture (44.1/48/96 kHz, noise, 16-bit, onset cut)",
    )

    trainer = _command(
        commands,
        "train",
        "train a model on a dataset (needs the 'training' extra)",
        "Train a model; rerun the same command to resume from RUN_DIR/last.pt.\n"
        "Data-parallel: torchrun --nproc-per-node 2 -m inversynth.cli train ...\n\n"
        "example:\n  inversynth train --model fmnet --data data/train --out runs/fmnet --epochs 8",
        cmd.train,
    )
    trainer.add_argument("--synth", default="original")
    trainer.add_argument(
        "--model",
        default="fmnet",
        help="fmnet (ours); conv6xl, e2e (the original project's); conv6xl-paper, e2e-paper (the paper's)",
    )
    trainer.add_argument(
        "--data", type=Path, nargs="+", required=True, help="dataset folders (one synth and variant), read as one"
    )
    trainer.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, config, history)")
    trainer.add_argument("--epochs", type=_int_at_least(1), default=8)
    trainer.add_argument("--batch-size", type=_int_at_least(1), default=64)
    trainer.add_argument("--lr", type=float, default=2e-3)
    trainer.add_argument("--seed", type=_int_at_least(0), default=0)
    trainer.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    trainer.add_argument("--loss", choices=("ce", "bce"), default="ce", help="ce per parameter, or the original's bce")
    trainer.add_argument(
        "--val-clips", type=_int_at_least(1), default=2000, help="last clips of each folder held for validation"
    )
    trainer.add_argument("--max-clips", type=_int_at_least(2), help="use only the first N clips of each folder")
    trainer.add_argument(
        "--init",
        type=Path,
        metavar="RUN",
        help="start from RUN's best weights, or an exported model's (e.g. the shipped one): fine-tuning",
    )

    exporter = _command(
        commands,
        "export",
        "export a trained run to ONNX with its metadata",
        "example:\n  inversynth export runs/fmnet -o model.onnx",
        cmd.export,
    )
    exporter.add_argument("run_dir", type=Path, metavar="RUN", help="training run folder")
    exporter.add_argument("-o", "--output", type=Path, required=True, help="ONNX file to write")

    evaluator = _command(
        commands,
        "evaluate",
        "score a model on a held-out dataset beside its baselines",
        "MODEL is an ONNX file or a training run folder.\n\n"
        "example:\n  inversynth evaluate model.onnx --data data/test --json",
        cmd.evaluate,
    )
    evaluator.add_argument("model", type=Path)
    evaluator.add_argument("--data", type=Path, required=True)
    evaluator.add_argument("--max-clips", type=_int_at_least(1), help="use only the first N clips")
    evaluator.add_argument("--json", action="store_true")
    evaluator.add_argument("--no-baselines", action="store_true", help="skip the median-class and random-patch floors")
    evaluator.add_argument("--refine", action="store_true", help="also refine the first --refine-clips clips")
    evaluator.add_argument("--refine-clips", type=_int_at_least(1), default=200, help="clips refined (default 200)")
    evaluator.add_argument(
        "--refine-renders", type=_int_at_least(1), default=400, help="renders per refined clip, whatever time they take"
    )
    evaluator.add_argument(
        "--through-files",
        action="store_true",
        help="also match every clip as a 44.1 kHz WAV file through `inversynth match` (the user's path)",
    )

    calibrator = _command(
        commands,
        "calibrate",
        "fit honest confidences and verdict thresholds on held-out clips, into the model file",
        "Fits one softmax temperature per parameter (ECE before and after is printed) and sets the\n"
        "'out of reach' line from refined matches of the synth's own sounds; both are stored in MODEL.\n\n"
        "example:\n  inversynth calibrate model.onnx --data data/val-cont",
        cmd.calibrate,
    )
    calibrator.add_argument("model", type=Path, help="ONNX model file (rewritten atomically)")
    calibrator.add_argument("--data", type=Path, required=True, help="held-out dataset (continuous, captured)")
    calibrator.add_argument("--max-clips", type=_int_at_least(100), default=5000)
    calibrator.add_argument("--refine-clips", type=_int_at_least(10), default=200, help="matches refined for the line")
    calibrator.add_argument("--json", action="store_true")

    matcher = _command(
        commands,
        "match",
        "estimate the patch that made a sound, and re-synthesise it",
        "Reads WAV/FLAC/OGG/... at any rate, mono or stereo, any length (its first note, or each note with\n"
        "--each-note); folders are searched. Each match gets a verdict: exact, close or out of reach (with\n"
        "the reason); an out-of-reach match is not saved as a preset unless --save-out-of-reach.\n\n"
        "examples:\n  inversynth match bell.wav\n  inversynth match samples/ --json --out matches/ --no-refine\n"
        "  inversynth match phrase.flac --each-note --budget-ms 500\n"
        "  inversynth match flute.wav --candidates 4 --budget-ms 2000 --save-preset Flute",
        cmd.match,
    )
    matcher.add_argument("inputs", type=Path, nargs="+", metavar="FILE_OR_DIR")
    matcher.add_argument("--synth", help="the synth to match with (default: the model's, else original)")
    matcher.add_argument("--model", type=Path, help="ONNX model (default: the one shipped for --synth)")
    matcher.add_argument("--json", action="store_true", help="one JSON object per file")
    matcher.add_argument("--out", type=Path, help="folder for re-synthesised WAVs and spectrogram PNGs")
    matcher.add_argument("--save-preset", metavar="NAME", help="save each match as a preset (NAME 1, NAME 2, ...)")
    matcher.add_argument("--bank", type=Path, help="preset bank folder (default: ~/.local/share/inversynth/presets)")
    matcher.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="search from the network's estimate with the engine (default; --no-refine keeps the network's)",
    )
    matcher.add_argument("--budget-ms", type=_positive, default=300.0, help="refinement time per note (default 300)")
    matcher.add_argument("--budget-renders", type=_int_at_least(1), default=400, help="refinement renders per note")
    matcher.add_argument("--seed", type=_int_at_least(0), default=0, help="refinement seed (same seed, same answer)")
    matcher.add_argument(
        "--decoding",
        choices=("expected", "argmax"),
        default="expected",
        help="head decoding: the expectation over each head (default) or its best bin",
    )
    matcher.add_argument("--each-note", action="store_true", help="match every note of a longer file")
    matcher.add_argument(
        "--candidates",
        type=_int_between(1, 8),
        default=1,
        metavar="N",
        help="up to N distinct close patches per note, closest first (the refinement's runners-up; default 1)",
    )
    matcher.add_argument("--save-out-of-reach", action="store_true", help="save presets even for out-of-reach matches")

    server = _command(
        commands,
        "serve",
        "play the synth live: audio server, OSC, MIDI, capture and auto-match",
        "Run the synth on JACK, PortAudio or the dummy clock (no sound card needed), controlled over OSC\n"
        "(see the README for the addresses) and MIDI; /match/capture records the output or the input,\n"
        "estimates its patch with the model, loads it at once, refines it and saves it as a preset.\n\n"
        "examples:\n  inversynth serve\n  inversynth serve --audio jack --midi-api jack --osc-port 9000\n"
        "  inversynth serve --audio dummy --input-file voice.wav --allow ~/samples",
        cmd.serve,
    )
    defaults = ServeOptions()  # the one table of serve's defaults
    server.add_argument("--synth", default=defaults.synth)
    server.add_argument(
        "--audio",
        choices=BACKENDS,
        default=defaults.audio,
        help="auto: JACK if running, else PortAudio if a device exists, else dummy",
    )
    server.add_argument(
        "--sample-rate", type=_int_at_least(8000), default=defaults.sample_rate, help="Hz (JACK imposes its own)"
    )
    server.add_argument(
        "--buffer", type=_int_at_least(16), default=defaults.buffer_size, help="frames per block (JACK imposes its own)"
    )
    server.add_argument(
        "--voices", type=_int_at_least(1), default=defaults.voices, help="polyphony (oldest note stolen first)"
    )
    server.add_argument(
        "--bend-range", type=_positive, default=defaults.bend_range, help="pitch-bend range in semitones"
    )
    server.add_argument("--osc-host", default=defaults.osc_host, help="address to listen on (0.0.0.0 for the network)")
    server.add_argument(
        "--osc-port", type=_int_between(0, 65535), default=defaults.osc_port, help="UDP port (0 picks a free one)"
    )
    midi = server.add_mutually_exclusive_group()
    midi.add_argument("--midi-in", metavar="NAME", help="open this existing MIDI input port")
    midi.add_argument("--midi-virtual", metavar="NAME", help="open a virtual MIDI input port (default: inversynth)")
    midi.add_argument("--no-midi", action="store_true", help="no MIDI input")
    server.add_argument(
        "--midi-api",
        choices=("alsa", "jack", "coremidi", "winmm"),
        help="default: jack on the JACK backend, else the system's (alsa, coremidi on macOS, winmm on Windows)",
    )
    channels = server.add_mutually_exclusive_group()
    channels.add_argument(
        "--midi-channel", type=_midi_channel, default="omni", help="1..16 or omni (default): the channel played"
    )
    channels.add_argument(
        "--mpe",
        type=_int_between(1, MPE_MEMBERS),
        nargs="?",
        const=MPE_MEMBERS,
        default=defaults.mpe_members,
        metavar="N",
        help="MPE lower zone: master channel 1, N member channels 2..N+1 (default 15); also set by MPE's MCM",
    )
    server.add_argument("--mono", action="store_true", help="one voice, last-note priority, legato (CC 126/127)")
    server.add_argument(
        "--glide",
        type=_real(lambda v: 0 <= v <= 10000, "0..10000 ms"),
        default=defaults.glide * 1000,
        metavar="MS",
        help="portamento time in mono mode (CC 65 switches it, CC 5 sets it)",
    )
    server.add_argument(
        "--velocity-curve",
        choices=tuple(VELOCITY_CURVES),
        default=defaults.velocity_curve,
        help="level = (velocity/127)^1, ^0.5 (soft: louder when played gently) or ^2 (hard)",
    )
    server.add_argument("--model", type=Path, help="ONNX model for matching (default: the shipped model)")
    server.add_argument("--no-match", action="store_true", help="run without a model (no auto-matching)")
    server.add_argument("--no-refine", action="store_true", help="keep the network's estimate (no refinement)")
    server.add_argument(
        "--refine-budget-ms", type=_positive, default=defaults.refine_budget_ms, help="refinement time per match"
    )
    server.add_argument(
        "--candidates",
        type=_int_at_least(1),
        default=defaults.candidates,
        help="patches saved per match: the best, then its search's distinct runners-up (NAME (candidate 2), ...)",
    )
    server.add_argument(
        "--save-out-of-reach", action="store_true", help="load and save matches judged out of reach too"
    )
    server.add_argument("--bank", type=Path, help=f"preset bank folder (default: {user_bank()})")
    server.add_argument(
        "--allow",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="folder whose files /match/file may read (repeatable; none by default)",
    )
    server.add_argument(
        "--input-file",
        type=Path,
        help="dummy backend: audio file played from its start as the input whenever a capture of it starts",
    )

    manager = _command(
        commands,
        "presets",
        "manage a preset bank in an interactive terminal UI",
        "Browse, search (tag:bell), rename, tag, duplicate, delete (u undoes), import and export presets;\n"
        "with --connect, load (l), audition (a) and match now (m) on a running 'inversynth serve'.\n\n"
        "examples:\n  inversynth presets --bank ~/my-bank\n  inversynth presets --connect 127.0.0.1:9000",
        cmd.presets,
    )
    manager.add_argument("--bank", type=Path, help="bank folder (default: ~/.local/share/inversynth/presets)")
    manager.add_argument(
        "--connect", metavar="HOST:PORT", help="inversynth serve's OSC address for load, audition and match now"
    )

    bench = _command(
        commands,
        "bench",
        "measure speed, latency and match quality (see docs/BENCHMARKS.md)",
        "examples:\n  inversynth bench render --clips 1024 --repeats 7\n  inversynth bench match --runs 1000\n"
        "  inversynth bench refine --synth paper --clips 20 --ms 300\n"
        "  inversynth bench live --seconds 60 --period 64   (starts its own JACK server on the dummy driver)",
        cmd.bench,
    )
    _add_benchmarks(bench.add_subparsers(dest="what", metavar="WHAT", required=True))
    return parser


def _benchmark(
    what: Subcommands, name: str, summary: str, synth: bool = True, module: str = ""
) -> argparse.ArgumentParser:
    """One ``inversynth bench NAME``, run by ``inversynth.cli.bench.<module or NAME>.run``."""
    parser = what.add_parser(name, help=summary, description=summary)
    parser.set_defaults(benchmark=module or name)
    if synth:
        parser.add_argument("--synth", default="original", help="the synth measured")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def _add_benchmarks(what: Subcommands) -> None:
    model_help = "ONNX model (default: the shipped model of --synth)"
    render = _benchmark(what, "render", "render throughput: pyo and the batched renderer, 1 core and all")
    render.add_argument("--clips", type=_int_at_least(4), default=1024, help="clips per timed run")
    render.add_argument("--repeats", type=_int_at_least(1), default=7, help="timed runs; medians are reported")
    render.add_argument("--workers", type=_int_at_least(1), help="processes or threads for the parallel figure")

    match = _benchmark(
        what, "match", "match latency: one clip through preprocessing and onnxruntime", module="inference"
    )
    match.add_argument("--model", type=Path, help=model_help)
    match.add_argument("--runs", type=_int_at_least(10), default=1000, help="clips timed one by one")

    refine = _benchmark(what, "refine", "the refinement at equal wall time per renderer")
    refine.add_argument("--model", type=Path, help=model_help)
    refine.add_argument("--clips", type=_int_at_least(4), default=20, help="notes refined")
    refine.add_argument("--ms", type=float, default=300.0, help="the wall-time budget per note")
    refine.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the notes")

    matching = _benchmark(what, "matching", "match quality on every kind of target, files and live captures")
    matching.add_argument("--model", type=Path, help=model_help)
    matching.add_argument("--targets", type=_int_at_least(4), default=200, help="targets per suite")
    matching.add_argument("--live", type=_int_at_least(0), default=12, help="live captures over OSC")
    matching.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the targets")

    instruments = _benchmark(what, "instruments", "real instruments (fluidsynth GM notes) matched beside baselines")
    instruments.add_argument("--model", type=Path, help=model_help)
    instruments.add_argument("--ms", type=_positive, default=300.0, help="the refinement's wall-time budget per note")
    instruments.add_argument(
        "--instruments", metavar="A,B,...", help="a comma-separated subset (default: all 16: flute, ..., marimba)"
    )
    instruments.add_argument(
        "--notes", metavar="N,N,...", default="48,60,72", help="MIDI notes played (default 48,60,72)"
    )

    grid = _benchmark(what, "grid", "the quantisation error of 16-, 32- and 64-class grids")
    grid.add_argument("--targets", type=_int_at_least(4), default=200, help="targets between classes")
    grid.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the targets")

    live = _benchmark(what, "live", "xruns, CPU and latency of inversynth serve on a JACK dummy server")
    live.add_argument("--seconds", type=float, default=60.0, help="length of the full-load phase")
    live.add_argument("--phase-seconds", type=float, default=15.0, help="length of each other phase")
    live.add_argument("--trials", type=_int_at_least(1), default=200, help="notes timed per latency figure")
    live.add_argument("--period", type=_int_at_least(16), default=64, help="JACK period in frames")

    soak = _benchmark(what, "soak", "the server under full load while faults are injected on a schedule")
    soak.add_argument("--minutes", type=_positive, default=10.0, help="length of the run")
    soak.add_argument("--fault-every", type=_positive, default=30.0, help="seconds between two faults")
    soak.add_argument("--period", type=_int_at_least(16), default=256, help="JACK period in frames")

    for name, summary in (
        ("blame", "which parameters' errors cost a model's rho STFT, re-rendering its estimates"),
        ("deviation", "a paper-synth model's MPR split by each oscillator's frequency deviation B"),
    ):
        study = _benchmark(what, name, summary, synth=False)
        study.add_argument("model", type=Path, help="ONNX model")
        study.add_argument("data", type=Path, help="dataset folder (its synth must be the model's)")
        if name == "blame":
            study.add_argument("--together", action="append", default=[], metavar="A,B,...",
                               help="parameters blamed as one (repeatable)")  # fmt: skip
            study.add_argument("--max-clips", type=_int_at_least(1), default=500, help="clips re-rendered")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InversynthError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("interrupted; every file written so far is complete")
        return EXIT_INTERRUPTED
