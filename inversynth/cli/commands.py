"""The command implementations behind ``inversynth``'s subcommands (parsing lives in parser.py).

Each takes the parsed arguments and returns the exit status; heavy modules
are imported inside so that ``inversynth --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from inversynth.atomic import ensure_folder
from inversynth.cli.views import match_table, patch_table, print_calibration, print_evaluation
from inversynth.console import console, errors, print_table
from inversynth.errors import InversynthError

if TYPE_CHECKING:  # heavy modules load inside the commands (see the module docstring)
    pass


def demo(args: argparse.Namespace) -> int:
    from inversynth.cli import demo

    demo.run(args.out)
    return 0


def render(args: argparse.Namespace) -> int:
    import numpy as np

    from inversynth.audio_files import audio_format, write_audio
    from inversynth.engine.render import render
    from inversynth.engine.synths import get_spec

    spec = get_spec(args.synth)
    audio_format(args.output)  # a suffix that cannot be written is refused before rendering
    values = spec.parse_assignments(args.set or [])
    if args.random:
        drawn = spec.classes_to_values(spec.random_classes(np.random.default_rng(args.seed), 1))[0]
        values = {**spec.from_array(drawn), **values}
    patch = spec.patch(values)
    audio = render(spec.name, patch, seconds=args.seconds, sample_rate=args.sample_rate)
    rate = args.sample_rate or spec.sample_rate
    write_audio(args.output, audio, rate)
    print_table(patch_table(spec, {args.output.name: patch}))
    console.print(f"wrote {args.output} ({len(audio) / rate:g} s at {rate} Hz, peak {np.abs(audio).max():.3f})")
    return 0


def dataset(args: argparse.Namespace) -> int:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from inversynth.engine.render import default_workers
    from inversynth.training import dataset

    variant = {"classes": args.classes, "seconds": args.seconds, "sample_rate": args.sample_rate}
    info = dataset.plan(
        args.synth, args.size, args.seed, args.shard_size, args.dtype, args.draw, args.captured, variant
    )
    share = dataset.check_share(args.shards)
    total = dataset.share_clips(info, share)
    workers = args.workers or default_workers()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("clips"),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"rendering '{info.synth}'", total=total)
        rendered = dataset.build(
            args.out,
            info,
            workers=workers,
            wav=args.wav,
            progress=lambda count: progress.advance(task, count),
            share=share,
        )
    elapsed = time.perf_counter() - started
    resumed = total - rendered
    note = f" ({resumed} already there)" if resumed else ""
    rate = f", {rendered / elapsed:,.0f} clips/s" if rendered else ""
    whose = f" (share {share[0]}/{share[1]} of {info.size})" if share != (1, 1) else ""
    console.print(
        f"{total} clips{whose} in {args.out}{note}: rendered {rendered} in {elapsed:.1f} s "
        f"with {workers} worker(s){rate}"
    )
    return 0


def train(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from inversynth.training.train import TrainConfig, train

    config = TrainConfig(
        synth=args.synth,
        model=args.model,
        data=[str(folder) for folder in args.data],
        out=str(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        loss=args.loss,
        val_clips=args.val_clips,
        max_clips=args.max_clips,
        init=str(args.init) if args.init else None,
    )
    columns = (
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}  top-1 {task.fields[accuracy]:.3f}  {task.fields[rate]:.0f} clips/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("train", total=1, epoch=0, loss=0.0, accuracy=0.0, rate=0.0)

        def report(stats: dict[str, Any]) -> None:
            if "epoch_done" in stats:
                accuracy = " ".join(f"{k}={v:.3f}" for k, v in stats.get("val_accuracy", {}).items())
                bar.console.print(f"epoch {stats['epoch_done']}: val loss {stats['val_loss']:.4f} {accuracy}")
                return
            done, steps = stats["step"] + 1, stats["steps"]
            if not bar.console.is_terminal and done * 10 // steps > stats["step"] * 10 // steps:
                # no live bar in a log file: a line every tenth of an epoch instead
                bar.console.print(
                    f"epoch {stats['epoch'] + 1}: step {done}/{steps}, loss {stats['loss']:.4f}, "
                    f"top-1 {stats['accuracy']:.3f}, {stats['clips_per_s']:.0f} clips/s"
                )
            bar.update(
                task,
                total=stats["steps"],
                completed=stats["step"] + 1,
                epoch=stats["epoch"] + 1,
                loss=stats["loss"],
                accuracy=stats["accuracy"],
                rate=stats["clips_per_s"],
            )

        record = train(config, report)
    if record:
        accuracy = " ".join(f"{k}={v:.3f}" for k, v in record.get("val_accuracy", {}).items())
        console.print(f"epoch {record['epoch']}: val loss {record.get('val_loss', float('nan')):.4f} {accuracy}")
    console.print(f"run folder: {args.out}")
    return 0


def export(args: argparse.Namespace) -> int:
    from inversynth.training.export import export

    metadata = export(args.run_dir, args.output)
    size = args.output.stat().st_size / 1e6
    console.print(
        f"wrote {args.output} ({size:.1f} MB): model {metadata['model']} for synth "
        f"'{metadata['synth']}' v{metadata['spec_version']} ({metadata['spec_fingerprint']})"
    )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from inversynth.training.evaluate import evaluate

    report = evaluate(
        args.model,
        args.data,
        max_clips=args.max_clips,
        baselines=not args.no_baselines,
        refine=args.refine,
        refine_clips=args.refine_clips,
        refine_renders=args.refine_renders,
        through_files=args.through_files,
    )
    trained = report["trained_on_these_clips"]
    if trained is not None:
        errors.print(
            f"warning: {args.data} repeats the model's training clips (seed {trained['seed']}, draw "
            f"{trained.get('draw', '?')}): these figures are not held out"
        )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_evaluation(report)
    return 0


def calibrate(args: argparse.Namespace) -> int:
    from inversynth.training.calibrate import calibrate

    with console.status("fitting temperatures, then refining held-out matches ..."):
        report = calibrate(args.model, args.data, args.max_clips, args.refine_clips)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_calibration(report, args.model)
    return 0


def _check_candidates(candidates: int, refine: bool) -> int:
    if candidates > 1 and not refine:
        raise InversynthError("--candidates come from the refinement; drop --no-refine")
    return candidates


def match(args: argparse.Namespace) -> int:
    from inversynth.bridge.matching.inference import Estimator
    from inversynth.bridge.matching.match import (
        MatchOptions,
        expand,
        match_files,
        output_stems,
        save_preset,
        write_outputs,
    )
    from inversynth.bridge.matching.refine import Budget
    from inversynth.presets.preset import PresetError
    from inversynth.presets.store import Bank, user_bank

    estimator = Estimator(args.model, synth=args.synth or "original")
    if args.synth and estimator.spec.name != args.synth:
        raise InversynthError(f"{args.model} estimates synth '{estimator.spec.name}', not '{args.synth}'")
    spec = estimator.spec
    paths = expand(args.inputs)
    if not paths:
        raise InversynthError("no audio files found in " + ", ".join(map(str, args.inputs)))
    _check_candidates(args.candidates, args.refine)
    budget = Budget(args.budget_ms, args.budget_renders, args.seed)
    options = MatchOptions(args.decoding, args.refine, budget, args.candidates)
    matches, failures = match_files(estimator, paths, options, each_note=args.each_note)
    if args.out:
        ensure_folder(args.out)
    bank = Bank(args.bank or user_bank())
    notes_per_file: dict[str, int] = {}
    for match in matches:
        notes_per_file[match.source] = notes_per_file.get(match.source, 0) + (match.candidate == 1)
    seen: dict[str, int] = {}
    stems = output_stems(m.source for m in matches)
    refused: list[str] = []
    for number, match in enumerate(matches, 1):
        seen[match.source] = seen.get(match.source, 0) + (match.candidate == 1)  # candidates share their note
        index = seen[match.source] if notes_per_file[match.source] > 1 else None
        written = list(write_outputs(match, args.out, spec.sample_rate, index, stems[match.source])) if args.out else []
        if args.save_preset and (match.saveable or args.save_out_of_reach):
            name = args.save_preset if len(matches) == 1 else f"{args.save_preset} {number}"
            try:
                written.append(save_preset(match, name, bank))
            except PresetError as exc:
                refused.append(f"{match.source}: not saved: {exc}")
        if args.json:
            print(json.dumps(match.to_json()), flush=True)
            continue
        print_table(match_table(spec, match))
        if args.save_preset and not (match.saveable or args.save_out_of_reach):
            console.print("  not saved: out of reach (--save-out-of-reach saves it anyway)")
        for path in written:
            console.print(f"  wrote {path}")
    for path, reason in failures:
        errors.print(f"error: {escape(reason)}" if str(path) in reason else f"error: {path}: {escape(reason)}")
    for reason in refused:
        errors.print(f"error: {escape(reason)}")
    if failures:
        errors.print(f"{len(failures)} of {len(paths)} files could not be matched")
    return 1 if failures or refused else 0


def bench(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(f"inversynth.cli.bench.{args.benchmark}").run(args))


def presets(args: argparse.Namespace) -> int:
    from inversynth.osc_client import parse_host_port
    from inversynth.presets.manager import run
    from inversynth.presets.store import user_bank

    run(args.bank or user_bank(), parse_host_port(args.connect) if args.connect else None)
    return 0


def serve(args: argparse.Namespace) -> int:
    from inversynth.bridge.live.serve import ServeOptions
    from inversynth.bridge.live.serve import serve as run_server

    options = ServeOptions(
        synth=args.synth,
        audio=args.audio,
        sample_rate=args.sample_rate,
        buffer_size=args.buffer,
        voices=args.voices,
        bend_range=args.bend_range,
        osc_host=args.osc_host,
        osc_port=args.osc_port,
        midi_in=args.midi_in,
        midi_virtual=args.midi_virtual,
        midi_api=args.midi_api,
        midi=not args.no_midi,
        midi_channel=None if args.midi_channel == "omni" else int(args.midi_channel) - 1,
        mpe_members=args.mpe,
        mono=args.mono,
        glide=args.glide / 1000.0,
        velocity_curve=args.velocity_curve,
        model=args.model,
        matching=not args.no_match,
        refine=not args.no_refine,
        refine_budget_ms=args.refine_budget_ms,
        candidates=_check_candidates(args.candidates, not args.no_refine),
        save_out_of_reach=args.save_out_of_reach,
        bank=args.bank,
        allow=tuple(args.allow),
        input_file=args.input_file,
    )
    return run_server(options)
