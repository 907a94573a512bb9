"""``inversynth bench live``: xruns, DSP load and match latency of ``inversynth serve`` on JACK.

Starts its own JACK server on the dummy driver (48 kHz, ``period`` frames),
runs a real ``inversynth serve`` on it and drives it over OSC like a client,
in three phases measured in the same run:

1. idle: nothing sounding (the baseline);
2. voices: ``voices`` held notes, nothing else (DSP load per voice);
3. full load: the same voices, an OSC parameter stream at ``osc_rate`` Hz
   that the server echoes to us as a subscriber, and a capture -> match ->
   load -> save every ``match_every`` seconds.

xruns are JACK's own count (the server's monitor client); the match
latency is the server's: end of the capture to the estimated patch loaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from inversynth.bench import machine
from inversynth.bridge.osc_client import OscClient, OscTimeout
from inversynth.errors import BackendError

RATE = 48000
HELD = {"D": 0.3, "M": 5.0, "attack": 0.0, "decay": 0.0, "sustain_level": 1.0, "A": 0.5, "release": 0.2}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


class _Rig:
    """jackd + inversynth serve, started and stopped together."""

    def __init__(self, period: int, voices: int, folder: Path) -> None:
        if shutil.which("jackd") is None:
            raise BackendError("jackd is not installed (apt-get install --no-install-recommends jackd2)")
        self.name = f"inversynth-bench-{os.getpid()}"
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}
        self.jackd = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", str(RATE), "-p", str(period)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.serve: subprocess.Popen[bytes] | None = None
        deadline = time.monotonic() + 10
        while subprocess.run(["jack_lsp"], env=self.env, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline or self.jackd.poll() is not None:
                self.close()
                raise BackendError("jackd did not start")
            time.sleep(0.1)
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "inversynth.cli", "serve", "--audio", "jack", "--no-midi"]
        options = ["--voices", str(voices), "--osc-port", str(self.port), "--bank", str(folder / "bank")]
        self.serve = subprocess.Popen(
            [*command, *options],
            env={**self.env, "XDG_CONFIG_HOME": str(folder / "config")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = OscClient("127.0.0.1", self.port)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.request("/status", timeout=0.5)
                return
            except OscTimeout:
                if time.monotonic() > deadline or self.serve.poll() is not None:
                    self.close()
                    raise BackendError("inversynth serve did not start on the bench's JACK server") from None

    def status(self) -> tuple[Any, ...]:
        return self.client.request("/status")

    def close(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            self.serve.wait(timeout=30)
        if hasattr(self, "client"):
            self.client.close()
        self.jackd.terminate()
        self.jackd.wait(timeout=10)


def _sample_load(rig: _Rig, seconds: float) -> tuple[list[float], int]:
    """DSP load samples (every 0.5 s) and the xruns during ``seconds``."""
    xruns = rig.status()[2]
    loads = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.5)
        loads.append(float(rig.status()[6]))
    return loads, rig.status()[2] - xruns


def _stream(rig: _Rig, rate: float, stop: threading.Event, sent: list[int]) -> None:
    """/synth/param/M sweeping 1..30 Hz at ``rate`` messages per second, on a deadline schedule."""
    period, count, next_at = 1.0 / rate, 0, time.perf_counter()
    while not stop.is_set():
        rig.client.send("/synth/param/M", 1.0 + 29.0 * ((count % 1000) / 999))
        count += 1
        next_at += period
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    sent.append(count)


def bench_live(
    seconds: float = 60.0,
    period: int = 64,
    voices: int = 16,
    osc_rate: float = 1000.0,
    match_every: float = 2.0,
    phase_seconds: float = 15.0,
    folder: Path | None = None,
) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="inversynth-bench-") as tmp:
        rig = _Rig(period, voices, Path(folder or tmp))
        try:
            idle_load, idle_xruns = _sample_load(rig, phase_seconds)
            for name, value in HELD.items():
                rig.client.send(f"/synth/param/{name}", value)
            for i in range(voices):
                rig.client.send("/synth/note_on", 48 + 2 * i, 100)
            time.sleep(0.5)
            sounding = rig.status()[1]
            voice_load, voice_xruns = _sample_load(rig, phase_seconds)

            rig.client.send("/subscribe", rig.client.port)
            stop, sent = threading.Event(), []
            streamer = threading.Thread(target=_stream, args=(rig, osc_rate, stop, sent), daemon=True)
            xruns_before = rig.status()[2]
            started = time.perf_counter()
            streamer.start()
            latencies, loads, count = [], [], 0
            while time.perf_counter() - started < seconds:
                time.sleep(max(0.0, started + count * match_every - time.perf_counter()))
                count += 1
                rig.client.send("/match/capture", 1.0)
                try:
                    rig.client.wait_for("/match/done", timeout=30)
                except OscTimeout:
                    continue
                status = rig.status()
                latencies.append(float(status[5]))
                loads.append(float(status[6]))
            stop.set()
            streamer.join()
            elapsed = time.perf_counter() - started
            full_xruns = rig.status()[2] - xruns_before
        finally:
            rig.close()
    idle, held = statistics.median(idle_load), statistics.median(voice_load)
    return {
        "machine": machine(),
        "jack": {"sample_rate": RATE, "period": period, "driver": "dummy", "realtime": False},
        "voices": voices,
        "voices_sounding": sounding,
        "idle": {"seconds": phase_seconds, "xruns": idle_xruns, "dsp_load_percent": idle},
        "voices_only": {"seconds": phase_seconds, "xruns": voice_xruns, "dsp_load_percent": held},
        "dsp_load_per_voice_percent": (held - idle) / max(1, voices),
        "full_load": {
            "seconds": round(elapsed, 1),
            "xruns": full_xruns,
            "osc_messages_per_second": round(sent[0] / elapsed, 1) if sent else 0.0,
            "matches": len(latencies),
            "match_latency_ms_p50": statistics.median(latencies) if latencies else float("nan"),
            "match_latency_ms_p99": _percentile(latencies, 99),
            "dsp_load_percent": statistics.median(loads) if loads else float("nan"),
        },
    }
