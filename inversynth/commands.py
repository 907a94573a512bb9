"""The command implementations behind ``inversynth``'s subcommands (parsing lives in cli.py).

Each takes the parsed arguments and returns the exit status; heavy modules
are imported inside so that ``inversynth --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from inversynth.atomic import ensure_folder
from inversynth.console import console, errors, print_table
from inversynth.errors import InversynthError

if TYPE_CHECKING:  # heavy modules load inside the commands (see the module docstring)
    from rich.table import Table

    from inversynth.bridge.match import Match
    from inversynth.engine.spec import SynthSpec


def demo(args: argparse.Namespace) -> int:
    from inversynth import demo

    demo.run(args.out)
    return 0


def render(args: argparse.Namespace) -> int:
    import numpy as np

    from inversynth.audio_files import audio_format, write_audio
    from inversynth.console import patch_table
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

        def report(stats: dict) -> None:
            if "epoch_done" in stats:
                accuracy = " ".join(f"{k}={v:.3f}" for k, v in stats.get("val_accuracy", {}).items())
                bar.console.print(f"epoch {stats['epoch_done']}: val loss {stats['val_loss']:.4f} {accuracy}")
                return
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
    _print_evaluation(report)
    return 0


def _print_evaluation(report: dict) -> None:
    from rich.table import Table

    figures = report["figures"]
    model = report["model_name"]
    params = figures[model]["params"]
    table = Table(title=f"{model} on {report['clips']} clips of {report['data']}")
    for column in (
        "param",
        "top1",
        "top5",
        "within 1",
        "MAE (classes)",
        "MAE (real)",
        "MPR",
        "top1 audible",
        "audible",
        "MPR median",
        "MPR random",
    ):
        table.add_column(column, justify="right")
    for name, row in params.items():
        table.add_row(
            name,
            f"{row['top1']:.3f}",
            f"{row['top5']:.3f}",
            f"{row['within_one']:.3f}",
            f"{row['mae_classes']:.2f}",
            f"{row['mae_real']:.4g}",
            f"{row['mpr']:.1f}",
            f"{row['top1_audible']:.3f}",
            f"{row['audible_share']:.2f}",
            *(
                f"{figures[b]['params'][name]['mpr']:.1f}" if b in figures else "-"
                for b in ("median-baseline", "random-baseline")
            ),
        )
    print_table(table)
    audio = Table(title="re-synthesis (mean / median)")
    audio.add_column("figure")
    for key in figures:
        audio.add_column(key, justify="right")
    for figure in figures[model]["audio"]:
        audio.add_row(
            figure,
            *(
                f"{figures[k]['audio'][figure]['mean']:.2f} / {figures[k]['audio'][figure]['median']:.2f}"
                for k in figures
            ),
        )
    audio.add_row("MPR overall", *(f"{figures[k]['mpr_overall']:.2f}" for k in figures))
    print_table(audio)
    decodings = Table(title=f"{model}: decodings of the heads (mean / median; MPR: refined class first)")
    for column in ("decoding", "clips", "LSD dB", "rho STFT", "MPR", "pitch within 25 cents", "ms per match"):
        decodings.add_column(column, justify="right" if column != "decoding" else "left")
    for name, entry in report["decodings"].items():
        lsd, rho = entry["audio"]["log_spectral_distance_db"], entry["audio"]["rho_stft"]
        pitch = entry["pitch"]
        mpr = entry.get("mpr_overall")
        network = f" ({entry['network_mpr_overall']:.2f})" if "network_mpr_overall" in entry else ""
        decodings.add_row(
            name,
            str(entry.get("clips", report["clips"])),
            f"{lsd['mean']:.2f} / {lsd['median']:.2f}",
            f"{rho['mean']:.2f} / {rho['median']:.2f}",
            "-" if mpr is None else f"{mpr:.2f}{network}",
            f"{pitch['within_25_cents']:.3f}" if pitch else "-",
            f"{entry['ms_per_match']['median']:.0f}" if "ms_per_match" in entry else "-",
        )
    print_table(decodings)
    if "files" in report["decodings"]:
        files = report["decodings"]["files"]
        console.print(
            f"files: {files['whole_note_share']:.1%} of the matched notes span the whole clip; "
            f"{len(files['refused'])} files refused ({', '.join(sorted(set(files['refused'])))[:200] or 'none'})"
        )
    console.print(f"inference {report['inference_ms_per_clip']:.2f} ms per clip (batched)")


def calibrate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from inversynth.training.calibrate import calibrate

    with console.status("fitting temperatures, then refining held-out matches ..."):
        report = calibrate(args.model, args.data, args.max_clips, args.refine_clips)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    table = Table(title=f"calibration on {report['clips']} clips of {report['data']}")
    for column in ("param", "temperature", "ECE before", "ECE after", "confidence after", "within one bin"):
        table.add_column(column, justify="right" if column != "param" else "left")
    for name, row in report["params"].items():
        table.add_row(
            name,
            f"{row['temperature']:.2f}",
            f"{row['ece_before']:.3f}",
            f"{row['ece_after']:.3f}",
            f"{row['mean_confidence_after']:.3f}",
            f"{row['within_one_bin']:.3f}",
        )
    print_table(table)
    console.print(
        f"mean ECE {report['ece_mean_before']:.3f} -> {report['ece_mean_after']:.3f} (fitted on "
        f"{report['fitted_on_clips']} clips, scored on the other {report['ece_on_clips']}); verdicts: exact <= "
        f"{report['exact_db']:.2f} dB, out of reach > {report['reach_db']:.2f} dB (p99 of refined matches); "
        f"written to {args.model}"
    )
    return 0


def match(args: argparse.Namespace) -> int:
    from inversynth.bridge.inference import Estimator
    from inversynth.bridge.match import MatchOptions, expand, match_files, output_stems, save_preset, write_outputs
    from inversynth.bridge.refine import Budget
    from inversynth.presets.preset import PresetError
    from inversynth.presets.store import Bank, user_bank

    estimator = Estimator(args.model, synth=args.synth or "original")
    if args.synth and estimator.spec.name != args.synth:
        raise InversynthError(f"{args.model} estimates synth '{estimator.spec.name}', not '{args.synth}'")
    spec = estimator.spec
    paths = expand(args.inputs)
    if not paths:
        raise InversynthError("no audio files found in " + ", ".join(map(str, args.inputs)))
    options = MatchOptions(args.decoding, args.refine, Budget(args.budget_ms, args.budget_renders, args.seed))
    matches, failures = match_files(estimator, paths, options, each_note=args.each_note)
    if args.out:
        ensure_folder(args.out)
    bank = Bank(args.bank or user_bank())
    notes_per_file: dict[str, int] = {}
    for match in matches:
        notes_per_file[match.source] = notes_per_file.get(match.source, 0) + 1
    seen: dict[str, int] = {}
    stems = output_stems(m.source for m in matches)
    refused: list[str] = []
    for number, match in enumerate(matches, 1):
        seen[match.source] = seen.get(match.source, 0) + 1
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
        print_table(_match_table(spec, match))
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


def _match_table(spec: SynthSpec, match: Match) -> Table:
    from rich.table import Table

    refined = match.refinement
    steps = (
        f"network {match.network_distance_db:.2f} dB -> refined {match.distance_db:.2f} dB "
        f"({refined.renders} renders, {refined.elapsed_ms:.0f} ms)"
        if refined is not None
        else f"{match.distance_db:.2f} dB"
    )
    verdict = match.verdict + (f" ({match.reason})" if match.reason else "")
    span = f"{match.span[0]:.2f}-{match.span[1]:.2f} s"
    table = Table(title=f"{escape(match.source)} [{span}]: {steps}: {escape(verdict)}")
    for column in ("param", "value", "unit", "class", "confidence", "note"):
        table.add_column(column, justify="left" if column in ("param", "unit", "note") else "right")
    for p in spec.params:
        note = "undetermined: kept the default" if p.name in match.undetermined else ""
        table.add_row(
            p.name,
            f"{match.patch[p.name]:.5g}",
            p.unit,
            str(match.classes[p.name]),
            f"{match.confidence[p.name]:.2f}",
            note,
        )
    return table


def bench(args: argparse.Namespace) -> int:
    from rich.table import Table

    from inversynth.bench import bench_inference, bench_render

    if args.what == "live":
        return _bench_live(args)
    if args.what == "refine":
        return _bench_refine(args)
    if args.what == "matching":
        return _bench_matching(args)
    if args.what == "grid":
        from inversynth.bench import bench_grid

        grid = bench_grid(clips=args.targets, seed=args.seed, synth=args.synth)
        if args.json:
            print(json.dumps(grid, indent=2))
            return 0
        table = Table(title=f"quantisation error of a class grid, {grid['clips']} targets between classes")
        for column in ("grid", "LSD mean dB", "LSD median dB", "within 1 dB (exact)"):
            table.add_column(column, justify="right")
        for key, row in grid.items():
            if key.endswith("_classes"):
                cells = (f"{row['lsd_mean_db']:.2f}", f"{row['lsd_median_db']:.2f}", f"{row['exact_share']:.0%}")
                table.add_row(key.replace("_", " "), *cells)
        print_table(table)
        return 0
    if args.what == "match":
        latency = bench_inference(args.model, runs=args.runs, synth=args.synth)
        if args.json:
            print(json.dumps(latency, indent=2))
        else:
            console.print(
                f"{latency['model_name']} ({latency['model']}), 1 thread, {latency['runs']} clips of 1 s: "
                f"p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms, "
                f"mean {latency['mean_ms']:.2f} ms (preprocessing + onnxruntime)"
            )
        return 0
    results = bench_render(clips=args.clips, repeats=args.repeats, workers=args.workers, synth=args.synth)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
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
    _print_with_machine(table, results["machine"])
    return 0


def _print_with_machine(table: Any, machine: dict[str, Any]) -> None:
    """A benchmark's table, then the machine it was measured on."""
    print_table(table)
    console.print(f"[dim]{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}[/]")


def _bench_refine(args: argparse.Namespace) -> int:
    from rich.table import Table

    from inversynth.bench import bench_refine

    with console.status("refining with each renderer ..."):
        results = bench_refine(args.model, clips=args.clips, ms=args.ms, seed=args.seed, synth=args.synth)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    table = Table(
        title=f"refinement of {results['clips']} grid notes of '{results['synth']}' ({results['model']}), "
        f"{results['budget_ms']:g} ms each; network alone: median {results['network_db']:.2f} dB"
    )
    for column in ("candidates rendered by", "renders", "ms", "median distance dB", "exact or close"):
        table.add_column(column, justify="left" if column.startswith("candidates") else "right")
    for name in ("pyo", "batched"):
        row = results[name]
        table.add_row(name, f"{row['renders']:.0f}", f"{row['elapsed_ms']:.0f}", f"{row['distance_db']:.2f}",
                      f"{row['exact_or_close']:.0%}")  # fmt: skip
    _print_with_machine(table, results["machine"])
    return 0


def _bench_matching(args: argparse.Namespace) -> int:
    from rich.table import Table

    from inversynth.bench_matching import bench_matching

    with console.status("matching ...") as status:
        results = bench_matching(
            args.model, args.targets, args.live, args.seed, lambda s: status.update(s), synth=args.synth
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    table = Table(
        title=f"'{results['synth']}': match distance dB (mean / median), {args.targets} targets per suite, "
        f"seed {args.seed}; rho STFT mean"
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
    for name, row in (results.get("real") or {}).items():
        console.print(
            f"real {name}: {row['network_db']:.2f} -> {row['refined_db']:.2f} dB, {row['verdict']} {row['reason']}"
        )
    for kind, row in (results.get("live") or {}).items():
        console.print(
            f"live ({kind} notes, {row['captures']} captures): network {row['network_db']['mean']:.2f} dB -> "
            f"refined {row['refined_db']['mean']:.2f} dB (the capture chain alone: "
            f"{row['capture_chain_floor_db']['mean']:.2f} dB); pitch within 25 cents "
            f"{row['pitch_within_25_cents']:.2f}; rho STFT {row['rho_stft']['mean']:.2f}"
        )
    return 0


def _bench_live(args: argparse.Namespace) -> int:
    from inversynth.bench_live import bench_live

    # No spinner: its refresh thread would compete for the GIL with the bench's own JACK probe.
    errors.print(
        "measuring: JACK alone, an empty pyo server, the server idle, held voices (each also beside busy "
        "processes), full load, latency ..."
    )
    results = bench_live(seconds=args.seconds, period=args.period, synth=args.synth)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    full, jack, idle, held = results["full_load"], results["jack"], results["idle"], results["voices_sounding"]
    latency = results["latency"]
    console.print(
        f"JACK dummy driver {jack['sample_rate']} Hz, {jack['period']}-frame periods"
        f"{' (realtime)' if jack['realtime'] else ''}; {results['voices']} voices"
    )
    console.print(
        f"xruns: JACK alone {results['jack_alone']['xruns']} in {results['jack_alone']['seconds']:g} s; "
        f"server idle {idle['xruns']}; {held['count']} voices sounding {held['xruns']}; "
        f"full load {full['xruns']} in {full['seconds']} s "
        f"({full['osc_messages_per_second']:.0f} OSC msgs/s, {full['matches']} matches); "
        f"latency phase {latency['xruns']}"
    )
    console.print(
        f"xruns beside {results['jack_alone_loaded']['hogs']} busy processes at normal priority, "
        f"{results['jack_alone']['seconds']:g} s each: JACK alone {results['jack_alone_loaded']['xruns']}; "
        f"server idle {results['idle_loaded']['xruns']}; {held['count']} voices sounding "
        f"{results['voices_loaded']['xruns']}"
    )
    console.print(
        f"CPU (100% = one core): an empty pyo JACK server {results['pyo_alone_cpu_percent']:.2f}%; "
        f"audio process / whole server: idle {idle['audio']:.2f}% / {idle['server']:.2f}%, "
        f"{held['count']} voices sounding {held['audio']:.2f}% / {held['server']:.2f}%, "
        f"full load (whole server) {full['cpu_percent']:.1f}%; "
        f"{results['cpu_percent_per_sounding_voice']:.3f}% per sounding voice"
    )
    for kind in ("midi_note_on_to_onset", "osc_note_on_to_onset", "bundle_time_to_onset"):
        row = latency[kind]
        console.print(
            f"{kind.replace('_', ' ')}: p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms "
            f"({row['p99_periods']:.2f} periods), jitter {row['jitter_ms']:.2f} ms over {row['count']}"
            + (f"; within one block {row['within_one_block']:.1%}" if "within_one_block" in row else "")
        )
    console.print(
        f"capture end -> estimate sounding: p50 {full['estimate_latency_ms_p50']:.1f} ms, "
        f"p99 {full['estimate_latency_ms_p99']:.1f} ms"
    )
    return 0


def presets(args: argparse.Namespace) -> int:
    from inversynth.bridge.osc_client import parse_host_port
    from inversynth.presets.manager import run
    from inversynth.presets.store import user_bank

    run(args.bank or user_bank(), parse_host_port(args.connect) if args.connect else None)
    return 0


def serve(args: argparse.Namespace) -> int:
    from inversynth.bridge.serve import ServeOptions
    from inversynth.bridge.serve import serve as run_server

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
        save_out_of_reach=args.save_out_of_reach,
        bank=args.bank,
        allow=tuple(args.allow),
        input_file=args.input_file,
    )
    return run_server(options)
