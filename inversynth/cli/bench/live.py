"""``inversynth bench live``: xruns, CPU, latency and timing of ``inversynth serve`` on JACK.

Starts its own JACK server on the dummy driver (48 kHz, ``period`` frames,
realtime scheduling when the machine allows it), runs a real ``inversynth
serve`` on it (its control process and its audio process) and drives it
like a client, over OSC and JACK MIDI. Phases, all in the same run:

0. the floor: JACK alone (no client but our monitor: the driver's own
   timer) and JACK with one C client (jackd2's ``jack_metro``: what waking
   any client every period costs this machine); then an empty pyo JACK
   server (the CPU floor of any server built on pyo);
1. the server idle (no notes: its voices sleep);
2. ``voices`` held notes: the CPU difference per voice is the cost of a sounding voice;
3. latency, measured by a JACK client of ours in the same graph: MIDI note-on
   (sent on a random frame of a period) -> the first sample of the note in the
   server's output; OSC ``/synth/note_on`` -> onset; a timetagged bundle's
   time -> onset;
4. full load: ``voices`` held notes, an OSC parameter stream at ``osc_rate``
   Hz that the server echoes to us as a subscriber, and a capture -> match ->
   load -> save every ``match_every`` seconds.

Every phase but latency is measured again beside busy processes at normal
priority, one per core (``cpu_hogs``): a musician's machine runs other programs,
and the synth must keep time where the C client does.

xruns are JACK's own count, each blamed (from jackd's log) on the client that
had not finished its period or on the driver, beside the CPU time the
hypervisor stole meanwhile (``/proc/stat``; on a virtual machine a client that
is not scheduled is late whatever it computes). CPU is CPU time over wall time from ``/proc`` (100 %
= one core), for the audio process and for the whole server (control process,
audio process, model worker); the capture latency is the server's, from the
end of the capture to the network's estimate sent to the voices.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from inversynth.cli.bench import emit
from inversynth.cli.bench.machine import machine
from inversynth.cli.bench.served import (
    MIDI_PORT,
    JackXruns,
    OnsetProbe,
    ServeProcess,
    cpu_hogs,
    cpu_seconds,
    floor_client,
    param_stream,
    percentile,
    swept_param,
    xrun_summary,
)
from inversynth.console import console, errors
from inversynth.engine.jack_dummy import RATE, dummy_jack_server
from inversynth.engine.render import default_workers
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec
from inversynth.errors import BackendError
from inversynth.osc_client import OscTimeout

# Per synth: a held, modulated patch (the voices sounding) and a sharp one (an onset on the note's first samples).
HELD = {
    "original": {"D": 0.3, "M": 5.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "A": 0.5, "release": 0.2},
    "paper": {"A_saw": 0.5, "B_saw": 30.0, "v_saw": 5.0, "a": 0.001, "d": 0.001, "s": 1.0, "r": 0.2},
}
SHARP = {
    "original": {"D": 0.0, "A": 1.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "release": 0.0},
    "paper": {"A_sine": 1.0, "B_sine": 0.0, "a": 0.001, "d": 0.001, "s": 1.0, "r": 0.001, "f_cut": 4000.0,
              "f_gate": 0.5},
}  # fmt: skip
PROBE_NOTE = 81  # 880 Hz: the second sample of a note is already well above the threshold


def _summary(frames: list[int], period: int) -> dict[str, float]:
    """Latencies in frames -> ms p50/p99, jitter (standard deviation) and p99 in periods."""
    ms = [1000 * f / RATE for f in frames]
    return {
        "count": len(ms),
        "p50_ms": statistics.median(ms) if ms else float("nan"),
        "p99_ms": percentile(ms, 99),
        "jitter_ms": statistics.pstdev(ms) if ms else float("nan"),
        "p99_periods": percentile([f / period for f in frames], 99),
    }


BARE_PYO = """
import os, time
os.environ["PYO_GUI_WX"] = "0"
import pyo
server = pyo.Server(sr={rate}, nchnls=2, buffersize={period}, duplex=1, audio="jack", verbosity=1)
server.deactivateMidi()
server.boot()
server.start()
time.sleep(3600)
"""


def _pyo_alone(server: str, period: int, seconds: float) -> float:
    """CPU of a pyo JACK server with nothing in it (the floor of any pyo-based server), 100 = one core."""
    process = subprocess.Popen(
        [sys.executable, "-c", BARE_PYO.format(rate=RATE, period=period)],
        env={**os.environ, "JACK_DEFAULT_SERVER": server},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3.0)  # imported and booted
        before, started = cpu_seconds([process.pid]), time.perf_counter()
        time.sleep(seconds)
        return 100 * (cpu_seconds([process.pid]) - before) / (time.perf_counter() - started)
    finally:
        process.kill()
        process.wait()


def _latencies(serve: ServeProcess, synth: str, server: str, period: int, trials: int) -> dict[str, Any]:
    """MIDI note-on, OSC note-on and timetagged bundles -> the note's first sample, in frames."""
    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message_builder import build_msg

    serve.set_patch(SHARP[synth])
    probe = OnsetProbe(server, f"bench-probe-{os.getpid()}", f"inversynth-midi:{MIDI_PORT}")
    midi, osc, bundle = [], [], []
    try:
        for _ in range(trials):
            probe.midi(bytes([0x90, PROBE_NOTE, 127]))
            onset = probe.wait()
            if onset is not None and probe.sent is not None:
                midi.append(onset - probe.sent)
            probe.midi(bytes([0x80, PROBE_NOTE, 0]))
            time.sleep(random.uniform(0.02, 0.04))

            probe.arm(sent := probe.client.frame_time)
            serve.client.send("/synth/note_on", PROBE_NOTE, 127)
            if (onset := probe.wait()) is not None:
                osc.append(onset - sent)
            serve.client.send("/synth/note_off", PROBE_NOTE)
            time.sleep(random.uniform(0.02, 0.04))

            ahead = random.uniform(0.05, 0.1)
            due = probe.client.frame_time + round(ahead * RATE)
            timed = OscBundleBuilder(time.time() + ahead)  # type: ignore[arg-type]  # seconds: python-osc says int
            timed.add_content(build_msg("/synth/note_on", (PROBE_NOTE, 127)))
            probe.arm(due - 4 * period)
            serve.client.send_raw(timed.build().dgram)
            if (onset := probe.wait()) is not None:
                bundle.append(onset - due)
            serve.client.send("/synth/note_off", PROBE_NOTE)
            time.sleep(random.uniform(0.02, 0.04))
    finally:
        probe.close()
    errors = [abs(f) for f in bundle]
    return {
        "midi_note_on_to_onset": _summary(midi, period),
        "osc_note_on_to_onset": _summary(osc, period),
        "bundle_time_to_onset": {
            **_summary(bundle, period),
            "within_one_block": sum(e <= period for e in errors) / len(errors) if errors else float("nan"),
        },
    }


def _full_load(
    serve: ServeProcess, spec: SynthSpec, xruns: JackXruns, seconds: float, osc_rate: float, every: float
) -> dict[str, Any]:
    client = serve.client
    client.send("/subscribe", client.port)
    stop, sent = threading.Event(), list[int]()
    swept = swept_param(spec)
    streamer = threading.Thread(target=param_stream, args=(client, swept, osc_rate, stop, sent), daemon=True)
    everything = serve.pids()
    mark, cpu_before = xruns.mark(), cpu_seconds(everything)
    started = time.perf_counter()
    streamer.start()
    latencies: list[float] = []
    failed: list[str] = []  # why, as the server said
    next_match = started
    while next_match < started + seconds:
        time.sleep(max(0.0, next_match - time.perf_counter()))
        next_match += every
        client.send("/match/capture", 1.0)
        try:
            address, args = client.wait_for_any("/match/estimate", "/match/failed", timeout=30)
            if address == "/match/failed":
                failed.append(str(args[0]))
                continue
            latencies.append(float(args[2]))
            client.wait_for_any("/match/done", "/match/failed", timeout=30)
        except OscTimeout:
            failed.append("no answer within 30 s")
    stop.set()
    streamer.join()
    elapsed = time.perf_counter() - started
    return {
        **xruns.since(mark),
        "cpu_percent": 100 * (cpu_seconds(everything) - cpu_before) / elapsed,
        "osc_messages_per_second": round(sent[0] / elapsed, 1) if sent else 0.0,
        "matches": len(latencies),
        "matches_failed": len(failed),
        "first_failure": failed[0] if failed else None,
        "estimate_latency_ms_p50": statistics.median(latencies) if latencies else float("nan"),
        "estimate_latency_ms_p99": percentile(latencies, 99),
    }


def _floor(xruns: JackXruns, server: str, seconds: float, hogs: int) -> dict[str, Any]:
    """JACK alone and JACK with a C client, quiet and beside ``hogs`` busy processes: the machine's xruns."""
    floor = {"jack_alone": xruns.during(seconds)}
    with cpu_hogs(hogs):
        floor["jack_alone_loaded"] = xruns.during(seconds)
    with floor_client(server):
        floor["c_client"] = xruns.during(seconds)
        with cpu_hogs(hogs):
            floor["c_client_loaded"] = xruns.during(seconds)
    return floor


def bench_live(
    seconds: float = 60.0,
    period: int = 64,
    voices: int = 16,
    osc_rate: float = 1000.0,
    match_every: float = 2.0,
    phase_seconds: float = 15.0,
    trials: int = 200,
    synth: str = "original",
) -> dict[str, Any]:
    spec = get_spec(synth)
    if synth not in HELD:
        raise BackendError(f"bench live has no held and sharp patches for synth '{synth}' yet")
    results: dict[str, Any] = {"machine": machine(), "synth": synth, "voices": voices}
    with (
        tempfile.TemporaryDirectory(prefix="inversynth-bench-") as tmp,
        dummy_jack_server("inversynth-bench", period, try_realtime=True, log=Path(tmp) / "jackd.log") as (
            name,
            realtime,
        ),
    ):
        results["jack"] = {"sample_rate": RATE, "period": period, "driver": "dummy", "realtime": realtime}
        xruns = JackXruns(name, Path(tmp) / "jackd.log")
        hogs = default_workers()
        results["hogs"] = hogs
        try:
            results.update(_floor(xruns, name, phase_seconds, hogs))
            results["pyo_alone_cpu_percent"] = _pyo_alone(name, period, phase_seconds)
            serve = ServeProcess(name, Path(tmp) / "serve", "--synth", synth, "--voices", str(voices))
            try:
                time.sleep(1.0)  # the model worker's warm-up is over
                mark = xruns.mark()
                results["idle"] = {**serve.cpu_percent(phase_seconds), **xruns.since(mark)}
                with cpu_hogs(hogs):
                    results["idle_loaded"] = xruns.during(phase_seconds)
                serve.set_patch(HELD[synth])
                for i in range(voices):
                    serve.client.send("/synth/note_on", 48 + 2 * i, 100)
                time.sleep(0.5)
                mark = xruns.mark()
                cpu = serve.cpu_percent(phase_seconds)
                status = serve.status()
                results["voices_sounding"] = {"count": status[1], **cpu, **xruns.since(mark)}
                results["cpu_percent_per_sounding_voice"] = (cpu["audio"] - results["idle"]["audio"]) / voices
                with cpu_hogs(hogs):
                    results["voices_sounding_loaded"] = xruns.during(phase_seconds)
                results["full_load"] = _full_load(serve, spec, xruns, seconds, osc_rate, match_every)
                with cpu_hogs(hogs):
                    results["full_load_loaded"] = _full_load(serve, spec, xruns, seconds, osc_rate, match_every)
                serve.client.send("/synth/panic")
                mark = xruns.mark()
                results["latency"] = {**_latencies(serve, synth, name, period, trials), **xruns.since(mark)}
            finally:
                serve.close()
        finally:
            xruns.close()
    return results


def report(results: dict[str, Any]) -> None:
    full, jack, idle, held = results["full_load"], results["jack"], results["idle"], results["voices_sounding"]
    latency = results["latency"]
    console.print(
        f"JACK dummy driver {jack['sample_rate']} Hz, {jack['period']}-frame periods"
        f"{' (realtime)' if jack['realtime'] else ''}; {results['voices']} voices"
    )
    table = Table("xruns in", "seconds", "quiet", f"beside {results['hogs']} busy processes")
    rows = [
        ("JACK alone", "jack_alone", "jack_alone_loaded"),
        ("JACK + a C client (jack_metro)", "c_client", "c_client_loaded"),
        ("server idle", "idle", "idle_loaded"),
        (f"{held['count']} voices sounding", "voices_sounding", "voices_sounding_loaded"),
        (f"full load ({full['osc_messages_per_second']:.0f} OSC msgs/s, {full['matches']} matches)", "full_load",
         "full_load_loaded"),
    ]  # fmt: skip
    for label, quiet, loaded in rows:
        row = results[quiet]
        table.add_row(label, f"{row['seconds']:g}", xrun_summary(row), xrun_summary(results[loaded]))
    table.add_row("latency phase", f"{latency['seconds']:g}", xrun_summary(latency), "")
    console.print(table)
    if full["matches_failed"]:
        console.print(f"matches failed under full load: {full['matches_failed']} (first: {full['first_failure']})")
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


def run(args: argparse.Namespace) -> int:
    # No spinner: its refresh thread would compete for the GIL with the bench's own JACK probe.
    errors.print(
        "measuring: JACK alone, a C client, an empty pyo server, the server idle, held voices, full load "
        "(each also beside busy processes), latency ..."
    )
    results = bench_live(
        seconds=args.seconds,
        period=args.period,
        synth=args.synth,
        phase_seconds=args.phase_seconds,
        trials=args.trials,
    )
    return emit(results, report, args.json)
