"""``inversynth bench live``: xruns, DSP load and match latency of ``inversynth serve`` on JACK.

Starts its own JACK server on the dummy driver (48 kHz, ``period`` frames,
realtime scheduling when the machine allows it), runs real ``inversynth
serve`` processes on it and drives them over OSC like a client. Phases, all
in the same run:

0. JACK alone: no client but our monitor (the machine's own xruns: the
   baseline every other figure is read against);
1. a 1-voice server, idle, then 2. a ``voices``-voice server, idle: every
   voice computes all the time, so the CPU difference is the cost per voice;
3. ``voices`` held notes;
4. full load: the same notes, an OSC parameter stream at ``osc_rate`` Hz
   that the server echoes to us as a subscriber, and a capture -> match ->
   load -> save every ``match_every`` seconds.

xruns are JACK's own count; CPU is the server process's CPU time over wall
time (100 % = one core); the match latency is the server's, from the end of
the capture to the estimated patch loaded into the voices.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from inversynth.bench import machine
from inversynth.bridge.osc_client import OscClient, OscTimeout
from inversynth.errors import BackendError
from inversynth.jack_dummy import RATE, dummy_jack_server

HELD = {"D": 0.3, "M": 5.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "A": 0.5, "release": 0.2}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


class JackXruns:
    """Our own JACK client: counts the server's xruns."""

    def __init__(self, server: str) -> None:
        import jack

        self.count = 0
        self._client = jack.Client(f"bench-monitor-{os.getpid()}", servername=server, no_start_server=True)
        self._client.set_xrun_callback(self._xrun)
        self._client.activate()

    def _xrun(self, _delay: float) -> None:
        self.count += 1

    def during(self, seconds: float) -> int:
        before = self.count
        time.sleep(seconds)
        return self.count - before

    def close(self) -> None:
        self._client.deactivate()
        self._client.close()


class ServeProcess:
    """``inversynth serve --audio jack`` on the bench's JACK server, reachable over OSC."""

    def __init__(self, server: str, folder: Path, *options: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "inversynth.cli", "serve", "--audio", "jack", "--no-midi"]
        self.process = subprocess.Popen(
            [*command, "--osc-port", str(port), "--bank", str(folder / "bank"), *options],
            env={**os.environ, "JACK_DEFAULT_SERVER": server, "XDG_CONFIG_HOME": str(folder / "config")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = OscClient("127.0.0.1", port)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.status()
                return
            except OscTimeout:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise BackendError("inversynth serve did not start on the bench's JACK server") from None

    def status(self) -> tuple[Any, ...]:
        return self.client.request("/status", timeout=2.0)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def cpu_percent(self, seconds: float) -> float:
        """The server's CPU use over the next ``seconds`` (100 = one core)."""
        before, started = self.cpu_seconds(), time.perf_counter()
        time.sleep(seconds)
        return 100 * (self.cpu_seconds() - before) / (time.perf_counter() - started)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.client.close()


def _stream(client: OscClient, rate: float, stop: threading.Event, sent: list[int]) -> None:
    """/synth/param/M sweeping 1..30 Hz at ``rate`` messages per second, on a deadline schedule."""
    period, count, next_at = 1.0 / rate, 0, time.perf_counter()
    while not stop.is_set():
        client.send("/synth/param/M", 1.0 + 29.0 * ((count % 1000) / 999))
        count += 1
        next_at += period
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    sent.append(count)


def _full_load(serve: ServeProcess, xruns: JackXruns, seconds: float, osc_rate: float, every: float) -> dict:
    client = serve.client
    client.send("/subscribe", client.port)
    stop, sent = threading.Event(), []
    streamer = threading.Thread(target=_stream, args=(client, osc_rate, stop, sent), daemon=True)
    before, cpu_before = xruns.count, serve.cpu_seconds()
    started = time.perf_counter()
    streamer.start()
    latencies: list[float] = []
    next_match = started
    while next_match < started + seconds:
        time.sleep(max(0.0, next_match - time.perf_counter()))
        next_match += every
        client.send("/match/capture", 1.0)
        try:
            client.wait_for("/match/done", timeout=30)
        except OscTimeout:
            continue
        latencies.append(float(serve.status()[5]))
    stop.set()
    streamer.join()
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 1),
        "xruns": xruns.count - before,
        "cpu_percent": 100 * (serve.cpu_seconds() - cpu_before) / elapsed,
        "osc_messages_per_second": round(sent[0] / elapsed, 1) if sent else 0.0,
        "matches": len(latencies),
        "match_latency_ms_p50": statistics.median(latencies) if latencies else float("nan"),
        "match_latency_ms_p99": _percentile(latencies, 99),
    }


def bench_live(
    seconds: float = 60.0,
    period: int = 64,
    voices: int = 16,
    osc_rate: float = 1000.0,
    match_every: float = 2.0,
    phase_seconds: float = 15.0,
) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "voices": voices}
    with (
        tempfile.TemporaryDirectory(prefix="inversynth-bench-") as tmp,
        dummy_jack_server("inversynth-bench", period, try_realtime=True) as (name, realtime),
    ):
        results["jack"] = {"sample_rate": RATE, "period": period, "driver": "dummy", "realtime": realtime}
        xruns = JackXruns(name)
        try:
            results["jack_alone"] = {"seconds": phase_seconds, "xruns": xruns.during(phase_seconds)}
            one = ServeProcess(name, Path(tmp) / "one", "--voices", "1", "--no-match")
            try:
                cpu_one = one.cpu_percent(phase_seconds)
            finally:
                one.close()
            serve = ServeProcess(name, Path(tmp) / "many", "--voices", str(voices))
            try:
                before = xruns.count
                cpu_idle = serve.cpu_percent(phase_seconds)
                results["idle"] = {"xruns": xruns.count - before, "cpu_percent": cpu_idle, "cpu_one_voice": cpu_one}
                results["cpu_percent_per_voice"] = (cpu_idle - cpu_one) / max(1, voices - 1)
                for param, value in HELD.items():
                    serve.client.send(f"/synth/param/{param}", value)
                for i in range(voices):
                    serve.client.send("/synth/note_on", 48 + 2 * i, 100)
                time.sleep(0.5)
                before = xruns.count
                results["voices_sounding"] = {
                    "count": serve.status()[1],
                    "cpu_percent": serve.cpu_percent(phase_seconds),
                    "xruns": xruns.count - before,
                }
                results["full_load"] = _full_load(serve, xruns, seconds, osc_rate, match_every)
            finally:
                serve.close()
        finally:
            xruns.close()
    return results
