"""The ``inversynth`` command as a user runs it: results, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import batched, run_cli

SAMPLE_PATCH = [
    "C=783.991",
    "M=12.6",
    "A=1.0",
    "D=0.5",
    "attack=0.2667",
    "decay=0.6",
    "sustain=0.2667",
    "sustain_level=0.0",
    "release=0.8",
]


def test_render_the_original_sample_patch(tmp_path, spec):
    out = tmp_path / "sample.wav"
    result = run_cli("render", "--synth", "original", "--set", *SAMPLE_PATCH, "-o", str(out))
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out, dtype="float64")
    assert rate == 16384 and audio.shape == (16384,)
    patch = spec.parse_assignments(SAMPLE_PATCH)
    assert np.max(np.abs(audio - batched("original", patch, 16384, 16384))) < 1e-3
    assert np.max(np.abs(audio[round(0.8667 * 16384) :])) == 0.0
    assert str(out) in result.stdout


@pytest.mark.slow
def test_render_random_is_reproducible_and_set_wins(tmp_path):
    paths = [tmp_path / f"{i}.wav" for i in range(3)]
    run_cli("render", "--random", "--seed", "5", "--set", "A=1", "attack=0", "-o", str(paths[0]))
    run_cli("render", "--random", "--seed", "5", "--set", "A=1", "attack=0", "-o", str(paths[1]))
    run_cli("render", "--random", "--seed", "6", "--set", "A=1", "attack=0", "-o", str(paths[2]))
    a, b, c = (sf.read(p)[0] for p in paths)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.max(np.abs(a)) > 0.5  # the A=1 override beat the random draw


@pytest.mark.slow
def test_render_length_and_rate(tmp_path):
    out = tmp_path / "long.wav"
    assert run_cli("render", "--seconds", "2.5", "--sample-rate", "48000", "-o", str(out)).returncode == 0
    info = sf.info(out)
    assert (info.samplerate, info.frames) == (48000, 120000)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--synth", "nope"], "error: unknown synth 'nope'; known: original"),
        (["--set", "Q=1"], "error: unknown parameter 'Q' for synth 'original'"),
        (["--set", "M=45"], "error: parameter 'M' = 45 Hz is outside 1..30 Hz"),
        (["--set", "M=fast"], "error: parameter 'M' = 'fast' is not a number"),
        (["--set", "D=nan"], "error: parameter 'D' = nan is not finite"),
        (["--set", "M"], "error: 'M' is not NAME=VALUE"),
        (["--seconds", "0"], "error: clip length 0.0 s is outside"),
    ],
)
def test_render_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "x.wav"
    result = run_cli("render", *args, "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
    assert result.stderr.startswith(message)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_one_line(tmp_path):
    result = run_cli("render", "-o", str(tmp_path / "missing" / "x.wav"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot write") and "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_existing_file_is_replaced_whole(tmp_path):
    out = tmp_path / "x.wav"
    out.write_bytes(b"old")
    assert run_cli("render", "--set", "M=2", "-o", str(out)).returncode == 0
    assert sf.info(out).frames == 16384
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]  # no temporary left behind


@pytest.mark.live
def test_demo_runs_the_whole_loop_on_the_dummy_backend(tmp_path):
    from inversynth.cli.demo import PRESETS
    from inversynth.presets.store import Bank

    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "on dummy 48000 Hz" in result.stdout
    saved = Bank(out / "bank").scan()[0]
    assert len(saved) == len(PRESETS)
    assert all(p.provenance["source"] == "capture of the output" and p.tags == ("matched",) for p in saved)
    for name in PRESETS:
        slug = name.lower().replace(" ", "-")
        target, match = (sf.read(out / f"{slug}.{kind}.wav")[0] for kind in ("target", "match"))
        assert len(target) == len(match) == 16384
        assert np.max(np.abs(target)) > 0.05 and np.max(np.abs(match)) > 0.05
        assert name in result.stdout
    assert result.stdout.count("from the end of the capture to the refined patch sounding") == len(PRESETS)


@pytest.mark.live
def test_bench_matching_reports_every_suite_with_its_floor():
    result = run_cli("bench", "matching", "--targets", "4", "--live", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for suite in ("grid", "off_grid", "pitch_sweep", "sines", "out_of_reach"):
        row = report[suite]
        assert row["clips"] == 4 and sum(row["verdicts"].values()) == 4
        assert row["refined_db"]["mean"] <= row["expected_db"]["mean"] + 1e-6  # never worse, per match
        assert row["random_patch_db"]["mean"] > row["refined_db"]["mean"]
    assert report["out_of_reach"]["verdicts"].get("out of reach", 0) >= 3
    assert report["live"]["any"]["captures"] == 1 and report["live"]["grid"]["captures"] == 1
    assert report["live"]["any"]["capture_chain_floor_db"]["mean"] > 0


@pytest.mark.slow
def test_dataset_command_and_its_errors(tmp_path):
    out = tmp_path / "d"
    ok = run_cli("dataset", "--size", "40", "--seed", "2", "--out", str(out), "--shard-size", "16", "--workers", "2")
    assert ok.returncode == 0, ok.stderr
    assert "40 clips" in ok.stdout
    assert json.loads((out / "dataset.json").read_text())["size"] == 40
    clash = run_cli("dataset", "--size", "40", "--seed", "3", "--out", str(out))
    assert clash.returncode == 2 and clash.stderr.startswith("error: ") and "different dataset" in clash.stderr
    bad = run_cli("dataset", "--size", "0", "--out", str(tmp_path / "e"))
    assert bad.returncode == 2 and "less than 1" in bad.stderr


@pytest.mark.slow
def test_bench_runs_and_reports_every_figure():
    result = run_cli("bench", "render", "--clips", "32", "--repeats", "1", "--workers", "2", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("pyo_1_worker", "pyo_2_workers", "batched_1_core", "batched_2_workers"):
        assert figures[key] > 0
    assert figures["machine"]["cores"] >= 1


def test_help_lists_every_command():
    result = run_cli("--help")
    for command in ("demo", "render", "dataset", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--midi-channel", "17"), "'17' is not a channel 1..16 or omni"),
        (("--mpe", "16"), "16 is more than 15"),
        (("--mpe", "--midi-channel", "3"), "not allowed with argument"),
        (("--glide", "-5"), "-5.0 is not 0..10000 ms"),
        (("--velocity-curve", "steep"), "invalid choice: 'steep'"),
    ],
)
def test_serve_refuses_bad_playing_options_before_starting(args, message):
    result = run_cli("serve", "--audio", "dummy", *args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "--osc-port", "99999"), "argument --osc-port: 99999 is more than 65535"),
        (("serve", "--bend-range", "0"), "argument --bend-range: 0.0 is not a positive number"),
        (("render", "-o", "x.wav", "--set", "M=3", "--set", "M=4"), "parameter 'M' is given twice"),
        (("render", "-o", "x.xyz"), "cannot write .xyz files; use one of .wav, .flac, .ogg"),
        (("render", "-o", "x.mp3"), "MPEG-1/2/2.5 only supports sample rates"),
        (("serve", "--no-such-option"), "unrecognized arguments: --no-such-option"),
        (("bogus",), "invalid choice: 'bogus'"),
    ],
)
def test_command_line_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_serve_refuses_an_unwritable_bank_before_starting(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("serve", "--audio", "dummy", "--no-midi", "--bank", str(blocker / "bank"), timeout=60)
    assert result.returncode == 2
    assert f"cannot create folder {blocker / 'bank'}: Not a directory" in result.stderr
    assert "audio process" not in result.stderr  # refused before anything started


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".aiff"])
def test_render_writes_the_format_its_suffix_names(tmp_path, suffix):
    out = tmp_path / f"note{suffix}"
    assert run_cli("render", "-o", str(out), timeout=60).returncode == 0
    info = sf.info(str(out))
    assert info.format == {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF"}[suffix]
    assert info.frames == 16384


@pytest.mark.slow
def test_float_wavs_have_a_header_sox_reads_without_a_warning(tmp_path):
    out = tmp_path / "note.wav"
    assert run_cli("render", "-o", str(out), timeout=60).returncode == 0
    soxi = subprocess.run(["soxi", str(out)], capture_output=True, text=True, check=True)
    assert "WARN" not in soxi.stderr and "32-bit Floating Point PCM" in soxi.stdout
    from inversynth.engine.render import render

    audio, _ = sf.read(str(out), dtype="float32")
    np.testing.assert_array_equal(audio, render("original", {}))  # 32-bit float: every sample kept


def test_demo_help_says_what_it_does():
    result = run_cli("demo", "--help")
    assert "live server on the dummy backend" in result.stdout and "DIR/bank" in result.stdout


@pytest.mark.slow
def test_bench_grid_measures_the_quantisation_error_of_each_grid():
    result = run_cli("bench", "grid", "--targets", "40", "--json")
    assert result.returncode == 0, result.stderr
    grid = json.loads(result.stdout)
    means = [grid[f"{n}_classes"]["lsd_mean_db"] for n in (16, 32, 64)]
    assert means[0] > means[1] > means[2] > 0  # a finer grid lands closer to a sound between classes


@pytest.mark.training
def test_every_command_takes_the_paper_synth(tmp_path):
    """render, dataset, train, export, evaluate, match and bench: the paper's synth goes through each."""
    assert run_cli("render", "--synth", "paper", "-o", str(tmp_path / "note.wav")).returncode == 0
    data = tmp_path / "data"
    made = run_cli("dataset", "--synth", "paper", "--size", "64", "--shard-size", "32", "--out", str(data))
    assert made.returncode == 0, made.stderr
    run = tmp_path / "run"
    trained = run_cli(
        "train", "--synth", "paper", "--model", "conv6xl", "--data", str(data), "--out", str(run),
        "--epochs", "1", "--batch-size", "16", "--val-clips", "16",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    model = tmp_path / "paper.onnx"
    assert run_cli("export", str(run), "-o", str(model)).returncode == 0
    report = json.loads(run_cli("evaluate", str(model), "--data", str(data), "--json").stdout)
    assert report["synth"] == "paper" and len(report["figures"]["conv6xl"]["params"]) == 23
    matched = run_cli("match", str(tmp_path / "note.wav"), "--synth", "paper", "--model", str(model), "--json")
    assert matched.returncode == 0 and len(json.loads(matched.stdout.splitlines()[0])["params"]) == 23
    shipped = run_cli("match", str(tmp_path / "note.wav"), "--synth", "paper", "--json")  # models/paper-*.onnx
    assert shipped.returncode == 0 and len(json.loads(shipped.stdout.splitlines()[0])["params"]) == 23
    bench = run_cli(
        "bench", "render", "--synth", "paper", "--clips", "16", "--repeats", "1", "--workers", "2", "--json"
    )
    assert bench.returncode == 0 and json.loads(bench.stdout)["synth"] == "paper"


@pytest.mark.live
def test_bench_matching_measures_the_paper_synth_too():
    """Its suites and a live capture, with the paper's rho STFT beside the distances."""
    result = run_cli("bench", "matching", "--synth", "paper", "--targets", "4", "--live", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["synth"] == "paper" and report["model"].endswith("paper-fmnet.onnx")
    for suite in ("grid", "off_grid", "pitch_sweep", "sines", "out_of_reach"):
        row = report[suite]
        assert row["clips"] == 4 and sum(row["verdicts"].values()) == 4
        assert row["refined_rho_stft"]["mean"] > row["random_patch_rho_stft"]["mean"]
    assert report["grid"]["refined_pitch_within_25_cents"] >= 0
    live = report["live"]["any"]
    assert live["captures"] == 1 and -100 <= live["rho_stft"]["mean"] <= 100


def test_a_synth_without_a_shipped_model_is_said_in_one_line(tmp_path, monkeypatch):
    from inversynth.bridge.matching import inference

    monkeypatch.setattr(inference, "SHIPPED", tmp_path)
    with pytest.raises(inference.ModelFileError, match="no model is shipped for synth 'paper'"):
        inference.shipped_model("paper")
