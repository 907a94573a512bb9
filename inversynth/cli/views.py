"""The tables the commands print: a patch, a match, an evaluation, a calibration (benchmarks keep theirs)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from inversynth.console import console, print_table
from inversynth.engine.spec import SynthSpec

if TYPE_CHECKING:
    from inversynth.bridge.matching.match import Match


def patch_table(spec: SynthSpec, patches: Mapping[str, Mapping[str, float]], title: str = "") -> Table:
    """One row per parameter (with its unit), one column per named patch."""
    table = Table(title=title or None)
    table.add_column("param", style="bold")
    table.add_column("unit", style="dim")
    for name in patches:
        table.add_column(name, justify="right")
    for p in spec.params:
        table.add_row(p.name, p.unit, *(f"{patch[p.name]:.4g}" for patch in patches.values()))
    return table


def match_table(spec: SynthSpec, match: Match) -> Table:
    """One match: its span, distance and verdict in the title, one row per parameter."""
    refined = match.refinement
    start = f"preset '{match.started_from}' at its pitch" if match.started_from else "network"
    steps = (
        f"{start} {match.network_distance_db:.2f} dB -> refined {match.distance_db:.2f} dB "
        f"({refined.renders} renders, {refined.elapsed_ms:.0f} ms)"
        if refined is not None and match.candidate == 1
        else f"{match.distance_db:.2f} dB"
    )
    verdict = match.verdict + (f" ({match.reason})" if match.reason else "")
    span = f"{match.span[0]:.2f}-{match.span[1]:.2f} s"
    pitch = f", sounds at {match.sounding.hz:.1f} Hz" if match.sounding is not None and match.sounding.pitched else ""
    rank = f" candidate {match.candidate}:" if match.candidate > 1 else ""
    table = Table(title=f"{escape(match.source)} [{span}]:{rank} {steps}{pitch}: {escape(verdict)}")
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


def print_evaluation(report: dict[str, Any]) -> None:
    """What ``inversynth evaluate`` measured: per parameter, the re-synthesis figures, each decoding."""
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


def print_calibration(report: dict[str, Any], model: Path) -> None:
    """What ``inversynth calibrate`` fitted, and the verdict lines it wrote into ``model``."""
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
        f"written to {model}"
    )
