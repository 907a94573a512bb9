"""Every ``inversynth bench`` subcommand runs and reports what it measured (figures are never asserted
as speeds: those belong in docs/BENCHMARKS.md); render, matching and grid are in test_cli.py."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli


@pytest.mark.slow
def test_bench_match_times_every_clip_and_orders_its_percentiles():
    result = run_cli("bench", "match", "--runs", "20", "--json")
    assert result.returncode == 0, result.stderr
    latency = json.loads(result.stdout)
    assert latency["runs"] == 20 and latency["model_name"] == "fmnet"
    assert 0 < latency["p50_ms"] <= latency["p99_ms"]
    table = run_cli("bench", "match", "--runs", "10")
    assert table.returncode == 0 and "p50" in table.stdout and "preprocessing + onnxruntime" in table.stdout


@pytest.mark.slow
def test_bench_refine_gives_each_renderer_the_same_wall_time():
    result = run_cli("bench", "refine", "--clips", "4", "--ms", "150", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clips"] == 4 and report["budget_ms"] == 150
    for name in ("pyo", "batched"):
        row = report[name]
        assert row["renders"] >= 1 and row["elapsed_ms"] == pytest.approx(150, rel=0.8)
        assert row["distance_db"] <= report["network_db"] + 1e-6  # a refinement never ends further away
    assert report["batched"]["renders"] > report["pyo"]["renders"]  # what the batched renderer is for


@pytest.mark.live  # starts its own JACK server and inversynth serve
def test_bench_live_measures_every_phase_on_its_own_jack_server():
    result = run_cli(
        "bench", "live", "--seconds", "3", "--phase-seconds", "1", "--trials", "8", "--period", "256", "--json",
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["jack"]["period"] == 256 and report["voices"] == 16
    phases = ("jack_alone", "c_client", "idle", "voices_sounding", "full_load")
    for phase in (*phases, *(f"{p}_loaded" for p in phases), "latency"):
        row = report[phase]
        assert row["xruns"] >= 0 and row["steal_ms"] >= 0 and row["seconds"] > 0
        assert all(n >= 1 for n in row["late"].values()), row
    assert report["voices_sounding"]["count"] == 16
    assert report["full_load"]["matches"] >= 1 and report["full_load"]["osc_messages_per_second"] > 0
    for kind in ("midi_note_on_to_onset", "osc_note_on_to_onset"):
        row = report["latency"][kind]
        assert row["count"] >= 1 and 0 <= row["p50_ms"] <= row["p99_ms"]
    bundle = report["latency"]["bundle_time_to_onset"]  # scheduled to the block: a little early is on time
    assert bundle["count"] >= 1 and bundle["p50_ms"] <= bundle["p99_ms"] and abs(bundle["p50_ms"]) < 3 * 256 / 48


def test_bench_refuses_an_unknown_benchmark_in_one_line():
    result = run_cli("bench", "nope")
    assert result.returncode == 2 and "invalid choice: 'nope'" in result.stderr


@pytest.mark.slow
def test_bench_instruments_matches_real_notes_beside_both_baselines():
    """fluidsynth's General MIDI notes (installed by .ci/run): each row at its pitch or said otherwise,
    the baselines measured per note, the summary counting what the rows say."""
    from inversynth.presets.store import FACTORY, Bank

    result = run_cli(
        "bench", "instruments", "--synth", "paper", "--instruments", "flute,marimba", "--notes", "60,72",
        "--ms", "50", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows, summary = report["rows"], report["summary"]
    assert [(r["instrument"], r["note"]) for r in rows] == [("flute", 60), ("flute", 72), ("marimba", 60),
                                                            ("marimba", 72)]  # fmt: skip
    factory = {p.name for p in Bank(FACTORY).scan()[0] if p.synth == "paper"}
    assert all(r["preset"] in factory and r["preset_db"] > 0 and r["sine_db"] > 0 for r in rows)
    assert all(abs(r["cents"]) <= 25 for r in rows if r["instrument"] == "flute")  # a sustained note: pitch first
    assert summary["notes"] == 4 and summary["sustained"] == 2
    assert summary["closer_than_preset"] == sum(r["distance_db"] < r["preset_db"] for r in rows)
    unknown = run_cli("bench", "instruments", "--instruments", "kazoo")
    assert unknown.returncode == 2 and "no instrument kazoo" in unknown.stderr


@pytest.mark.live  # starts its own JACK server and inversynth serve
def test_bench_soak_injects_every_fault_and_says_what_the_server_did():
    result = run_cli("bench", "soak", "--minutes", "1", "--fault-every", "10", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    faults = {fault["fault"]: fault for fault in report["faults"]}
    assert set(faults) == {"audio", "worker", "flood", "midi", "disk"}
    for kind, fault in faults.items():
        if fault["said"][0].startswith("not injected"):  # the disk fault needs to mount a tmpfs (root)
            assert kind == "disk" and fault["said"][0].startswith("not injected: cannot mount a tmpfs")
            continue
        assert fault["noticed"] and fault["recovered_s"] is not None and fault["lost"] == [], fault
    assert any("killed by signal 9" in line for line in faults["audio"]["said"])
    assert any("'soak-keyboard:out' is back" in line for line in faults["midi"]["said"])
    matches = report["matches"]
    assert matches["unanswered"] == 0 and matches["answered"] >= 3
    assert report["xruns_outside_faults"] <= report["xruns_total"]
    outside, floor = report["outside_faults"], report["floor_c_client"]
    assert 0 < outside["seconds"] < report["seconds"] and floor["seconds"] >= 5.9
    assert outside["xruns"] >= 0 and all(n >= 1 for n in outside["late"].values())
