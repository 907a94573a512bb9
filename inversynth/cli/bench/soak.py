"""``inversynth bench soak``: the server under full load for minutes while faults are injected on a schedule.

The bench starts its own JACK server on the dummy driver and a real
``inversynth serve`` on it, whose MIDI input is a named JACK port of the bench
(a keyboard that can be unplugged) and whose bank lies on a small tmpfs (a disk
that can fill up). Load all along: ``held`` notes, an OSC parameter stream at
``osc_rate`` messages/s, and a capture -> match -> save every ``match_every``
seconds (``--save-out-of-reach``: every match writes a preset and its capture).
Every ``fault_every`` seconds one fault, in turn:

- ``audio``: the audio process killed (SIGKILL);
- ``worker``: the match worker killed (SIGKILL);
- ``flood``: malformed datagrams and OSC messages of the wrong types, as fast as
  the bench sends them, for ``FLOOD_SECONDS``;
- ``midi``: the keyboard unplugged (its JACK client closed) and plugged in again
  ``UNPLUGGED_SECONDS`` later;
- ``disk``: the bank's disk filled up until a match has failed to save, then freed.

Per fault: *noticed* (the server said so: the lines it logged since), *recovered
in* (from the end of the fault to the server doing again what the fault stopped:
every held note sounding, a match answered, ``/status`` answered, a key of the
keyboard playing, a match saved), and *lost*: presets of the bank changed or
gone, held notes not sounding again, matches never answered (a match in flight
may fail, with its reason: that is the capture in flight). xruns are JACK's
count outside the audio process's restarts, each blamed on the client JACK
found late (or its driver), beside those of a C client alone measured first.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from inversynth.cli.bench import emit
from inversynth.cli.bench.live import HELD
from inversynth.cli.bench.machine import machine
from inversynth.cli.bench.served import (
    JackXruns,
    ServeProcess,
    floor_client,
    param_stream,
    process_tree,
    swept_param,
    xrun_summary,
)
from inversynth.console import console, errors, print_table
from inversynth.engine.jack_dummy import dummy_jack_server
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec
from inversynth.errors import BackendError
from inversynth.osc_client import OscClient, OscTimeout

KEYBOARD = "soak-keyboard"
FLOOD_SECONDS = 2.0
UNPLUGGED_SECONDS = 2.0
RECOVERY_TIMEOUT = 30.0
DISK_SIZE = "64m"
FLOOR_SECONDS = 30.0  # at most; a tenth of the run
SOUNDING = 1e-3  # peak level of the server's output that counts as sound
ANSWERS = ("/match/done", "/match/failed", "/error")


@dataclass
class FaultResult:
    fault: str
    at_s: float  # since the load started
    noticed: bool
    recovered_s: float | None  # None: not within RECOVERY_TIMEOUT
    said: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    xruns: int = 0  # from the injection to recovery (a restart's xruns are expected)
    window: tuple[float, float] = (0.0, 0.0)  # seconds since the load started: injected .. recovered


class Listener:
    """A JACK client hearing the server's left output: the peak level of its latest blocks.

    Opened only while a fault is being recovered from: its process callback takes this process's GIL
    every period, and the bench's own threads would make it, and so the whole graph, late."""

    def __init__(self, server: str) -> None:
        import jack

        self._client = jack.Client(f"soak-ears-{os.getpid()}", servername=server, no_start_server=True)
        self._in = self._client.inports.register("in")
        self.peak = 0.0
        self._client.set_process_callback(self._process)
        self._client.activate()

    def _process(self, _frames: int) -> None:
        self.peak = float(np.max(np.abs(self._in.get_array())))

    def sounding(self) -> bool:
        """Whether the server sounds, connecting to its output first (a restarted audio process has new ports)."""
        if not self._in.connections:
            with contextlib.suppress(Exception):  # not there yet: the audio process is starting
                self._client.connect("inversynth:output_1", self._in)
            return False
        return self.peak > SOUNDING

    def close(self) -> None:
        self._client.deactivate()
        self._client.close()


def _keyboard() -> Any:
    """A JACK MIDI output of the bench, ``soak-keyboard:out`` (mido through rtmidi, as a device would be)."""
    import mido

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    return backend.open_output("out", virtual=True, client_name=KEYBOARD)


class SmallDisk:
    """A tmpfs mounted on ``folder`` (mounting needs root: else ``reason`` says why there is none)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "inversynth-soak", str(folder)],
            capture_output=True,
            text=True,
        )
        self.reason = "" if done.returncode == 0 else f"cannot mount a tmpfs ({done.stderr.strip() or 'needs root'})"
        self._filler = folder / "filler"

    def fill(self) -> None:
        with self._filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(bytes(1 << 16))

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def close(self) -> None:
        if not self.reason:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True)


class Load:
    """The parameter stream and the matches, on threads of their own; counts every match's answer."""

    def __init__(self, serve: ServeProcess, spec: SynthSpec, osc_rate: float, match_every: float) -> None:
        self.port = serve.client.server[1]
        self.answers: list[tuple[float, str, tuple[Any, ...]]] = []  # (when, address, args)
        self.requested = 0
        self.unanswered = 0
        self._stop = threading.Event()
        self._streamer = OscClient("127.0.0.1", self.port)
        stream = (self._streamer, swept_param(spec), osc_rate, self._stop, list[int]())
        self._threads = [
            threading.Thread(target=param_stream, args=stream, daemon=True),
            threading.Thread(target=self._match, args=(match_every,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _match(self, every: float) -> None:
        client = OscClient("127.0.0.1", self.port)
        client.send("/subscribe", client.port)
        while not self._stop.wait(every):
            client.drain()
            client.send("/match/capture", 1.0)
            self.requested += 1
            answer = _next_answer(client, RECOVERY_TIMEOUT)
            if answer is None:
                self.unanswered += 1
            else:
                self.answers.append((time.monotonic(), *answer))
        client.close()

    def saved_since(self, since: float) -> float | None:
        """When a match answered after ``since`` saved a preset, or None."""
        saved = (t for t, address, args in self.answers if t > since and address == "/match/done" and args[0])
        return next(saved, None)

    def answered_since(self, since: float) -> float | None:
        return next((t for t, address, _args in self.answers if t > since and address == "/match/done"), None)

    def failed_since(self, since: float) -> list[str]:
        return [str(args[0]) for t, address, args in self.answers if t > since and address != "/match/done"]

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=RECOVERY_TIMEOUT + 5)
        self._streamer.close()


def _next_answer(client: OscClient, timeout: float) -> tuple[str, tuple[Any, ...]] | None:
    """The next answer to a match (done, failed or refused) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for address, args in client.drain():
            if address in ANSWERS:
                return address, args
        time.sleep(min(0.02, left))
    return None


def _until(condition: Callable[[], Any], timeout: float = RECOVERY_TIMEOUT) -> float | None:
    """Seconds until ``condition()`` holds (polled every 20 ms), or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


class Soak:
    """The running parts and one method per fault (see ``METHODS``); each returns (noticed, recovered in s)."""

    def __init__(self, server: str, folder: Path, synth: str, voices: int, held: int) -> None:
        self.disk = SmallDisk(folder / "serve" / "bank")
        self.keyboard = _keyboard()
        self.serve = ServeProcess(
            server,
            folder / "serve",
            "--synth",
            synth,
            "--voices",
            str(voices),
            "--save-out-of-reach",
            midi=("--midi-in", f"{KEYBOARD}:out"),
        )
        self.jack_server = server
        self.held = list(range(48, 48 + 3 * held, 3))
        self.serve.set_patch(HELD[synth])
        for note in self.held:
            self.serve.client.send("/synth/note_on", note, 100)
        self._log_offset, self._seen = 0, list[str]()

    # --- what the server keeps -----------------------------------------------------------------

    def bank(self) -> dict[str, bytes]:
        folder = self.disk.folder
        return {p.name: p.read_bytes() for p in folder.glob("*.json")} if folder.is_dir() else {}

    def sounding(self) -> int:
        try:
            return int(self.serve.client.request("/status", timeout=1.0)[1])
        except OscTimeout:
            return -1

    def lost(self, bank_before: dict[str, bytes]) -> list[str]:
        after = self.bank()
        changed = [name for name, data in bank_before.items() if after.get(name) != data]
        lost = [f"preset file {name} changed or gone" for name in changed]
        if (sounding := self.sounding()) < len(self.held):
            lost.append(f"{len(self.held) - sounding} of {len(self.held)} held notes silent")
        return lost

    # --- the faults ---------------------------------------------------------------------------

    def audio(self, load: Load) -> tuple[bool, float | None]:
        ears = Listener(self.jack_server)
        try:
            os.kill(self.serve.current_audio_pid(), signal.SIGKILL)
            recovered = _until(lambda: self.sounding() >= len(self.held) and ears.sounding())
        finally:
            ears.close()
        return self._noticed("the audio process stopped"), recovered

    def worker(self, load: Load) -> tuple[bool, float | None]:
        os.kill(self._worker_pid(), signal.SIGKILL)
        started = time.monotonic()
        recovered = _until(lambda: load.answered_since(started) is not None, 2 * RECOVERY_TIMEOUT)
        return self._noticed("match worker died"), recovered

    def flood(self, load: Load) -> tuple[bool, float | None]:
        before = self.serve.client.request("/status")[3]
        sent = _flood(self.serve.client.server, FLOOD_SECONDS)
        recovered = _until(lambda: self.sounding() >= 0)
        counted = self.serve.client.request("/status")[3] - before
        self._seen.append(f"the server counted {counted} of {sent} bad datagrams sent")
        return counted > 0, recovered

    def midi(self, load: Load) -> tuple[bool, float | None]:
        self.keyboard.close()
        time.sleep(UNPLUGGED_SECONDS)
        noticed = self._noticed("is gone", wait=False)
        self.keyboard = _keyboard()
        held = len(self.held)

        def plays() -> bool:
            import mido

            self.keyboard.send(mido.Message("note_on", note=100, velocity=100))
            playing = self.sounding() > held
            self.keyboard.send(mido.Message("note_off", note=100))
            return playing

        recovered = _until(plays)
        return noticed and self._noticed("is back"), recovered

    def disk_full(self, load: Load) -> tuple[bool, float | None]:
        started = time.monotonic()
        self.disk.fill()
        failed = _until(lambda: any("No space left" in r for r in load.failed_since(started)), 2 * RECOVERY_TIMEOUT)
        self.disk.free()
        freed = time.monotonic()
        recovered = _until(lambda: load.saved_since(freed) is not None, 2 * RECOVERY_TIMEOUT)
        return failed is not None and self._noticed("No space left"), recovered

    def mark(self) -> None:
        """Where the log stands before a fault: what the server says (and shows) after it counts."""
        self._log_offset, self._seen = len(self._log()), []

    def said(self) -> list[str]:
        """The server's log lines since :meth:`mark`, then what it showed otherwise (a count it keeps)."""
        return [line for line in self._log()[self._log_offset :].splitlines() if line.strip()] + self._seen

    def _log(self) -> str:
        return self.serve.log.read_text(encoding="utf-8", errors="replace")

    def _noticed(self, text: str, wait: bool = True) -> bool:
        """Whether the server said ``text`` since :meth:`mark` (waiting up to 5 s for it)."""

        def said() -> bool:
            return text in self._log()[self._log_offset :]

        return said() if not wait else _until(said, 5.0) is not None

    def _worker_pid(self) -> int:
        audio = self.serve.current_audio_pid()
        for pid in process_tree(self.serve.process.pid)[1:]:
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                if pid != audio and b"spawn_main" in command:
                    return pid
        raise BackendError("no match worker process found")

    def close(self) -> int:
        """Stop everything; the server's exit status (0: it stopped cleanly on SIGTERM)."""
        with contextlib.suppress(Exception):
            self.keyboard.close()
        try:
            return self.serve.close()
        finally:
            self.disk.close()


def _flood(server: tuple[str, int], seconds: float) -> int:
    """Bad datagrams (random bytes, OSC of the wrong types) at ``server`` for ``seconds``; how many."""
    from pythonosc.osc_message_builder import build_msg

    rng = np.random.default_rng(0)
    bad = [build_msg("/synth/param/M", ("not a number",)).dgram, build_msg("/synth/note_on", (1.5, 2.5)).dgram]
    bad += [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 200, 62)]
    sent, ended = 0, time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while time.monotonic() < ended:
            sock.sendto(bad[sent % len(bad)], server)
            sent += 1
            if sent % 200 == 0:
                time.sleep(0.001)  # the kernel's buffer, not the server, would drop the rest
    return sent


METHODS = {"audio": Soak.audio, "worker": Soak.worker, "flood": Soak.flood, "midi": Soak.midi, "disk": Soak.disk_full}
FAULTS = tuple(METHODS)  # injected in this order, in turn


@contextlib.contextmanager
def _default_jack_server(name: str) -> Iterator[None]:
    """The bench's JACK server for rtmidi (the keyboard), which reads it from the environment."""
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = previous


def bench_soak(
    minutes: float = 10.0,
    period: int = 256,
    synth: str = "original",
    voices: int = 16,
    held: int = 8,
    osc_rate: float = 200.0,
    match_every: float = 4.0,
    fault_every: float = 30.0,
) -> dict[str, Any]:
    spec = get_spec(synth)
    if synth not in HELD:
        raise BackendError(f"bench soak has no held patch for synth '{synth}' yet")
    results: dict[str, Any] = {"machine": machine(), "synth": synth, "voices": voices, "held": held}
    faults: list[FaultResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="inversynth-soak-") as tmp,
        dummy_jack_server("inversynth-soak", period, try_realtime=True, log=Path(tmp) / "jackd.log") as (
            name,
            realtime,
        ),
        _default_jack_server(name),
    ):
        results["jack"] = {"period": period, "driver": "dummy", "realtime": realtime}
        xruns = JackXruns(name, Path(tmp) / "jackd.log")
        with floor_client(name):  # what any JACK client costs this machine, measured before the server runs
            results["floor_c_client"] = xruns.during(min(FLOOR_SECONDS, 6 * minutes))
        soak = Soak(name, Path(tmp), synth, voices, held)
        try:
            load = Load(soak.serve, spec, osc_rate, match_every)
            started = time.monotonic()
            xruns_before, between = xruns.count, xruns.mark()
            outside: list[dict[str, Any]] = []  # the stretches between faults
            end, next_fault = started + 60 * minutes, started + fault_every
            for count in itertools.count():
                if next_fault > end:
                    time.sleep(max(0.0, end - time.monotonic()))  # the load runs to the end
                    break
                time.sleep(max(0.0, next_fault - time.monotonic()))
                next_fault += fault_every
                kind = FAULTS[count % len(FAULTS)]
                at = time.monotonic() - started
                if kind == "disk" and soak.disk.reason:
                    faults.append(FaultResult(kind, at, False, None, [f"not injected: {soak.disk.reason}"]))
                    continue
                outside.append(xruns.since(between))
                bank, x0 = soak.bank(), xruns.count
                soak.mark()
                noticed, recovered = METHODS[kind](soak, load)
                time.sleep(1.0)  # what it says after recovering counts too
                window = (at, time.monotonic() - started)
                lost = soak.lost(bank)
                faults.append(FaultResult(kind, at, noticed, recovered, soak.said(), lost, xruns.count - x0, window))
                between = xruns.mark()
            outside.append(xruns.since(between))
            load.close()
            elapsed = time.monotonic() - started
            total = xruns.count - xruns_before
        finally:
            results["serve_exit_status"] = soak.close()
            results["serve_last_lines"] = soak.said()[-3:]
            xruns.close()
    minute = [0] * (int(elapsed // 60) + 1)  # xruns outside the faults, per minute of the run
    for when in xruns.times:
        if started <= when and not any(f.window[0] <= when - started <= f.window[1] for f in faults):
            minute[int((when - started) // 60)] += 1
    answers = [address for _t, address, _args in load.answers]
    results.update(
        seconds=round(elapsed, 1),
        faults=[asdict(f) for f in faults],
        xruns_total=total,
        xruns_outside_faults=sum(minute),
        xruns_outside_faults_per_minute=minute,
        outside_faults=_summed(outside),
        matches={
            "requested": load.requested,
            "answered": answers.count("/match/done"),
            "failed_with_reason": answers.count("/match/failed") + answers.count("/error"),
            "unanswered": load.unanswered,
        },
    )
    return results


def _summed(stretches: list[dict[str, Any]]) -> dict[str, Any]:
    """The stretches between faults as one: seconds, xruns, who JACK found late, CPU time stolen."""
    late: dict[str, int] = {}
    for stretch in stretches:
        for who, count in stretch["late"].items():
            late[who] = late.get(who, 0) + count
    return {
        "seconds": round(sum(s["seconds"] for s in stretches), 1),
        "xruns": sum(s["xruns"] for s in stretches),
        "late": late,
        "steal_ms": sum(s["steal_ms"] for s in stretches),
    }


def report(results: dict[str, Any]) -> None:
    jack, matches = results["jack"], results["matches"]
    console.print(
        f"soak: synth {results['synth']}, {results['held']} held notes of {results['voices']} voices, "
        f"{jack['period']}-frame periods{' (realtime)' if jack['realtime'] else ''}, {results['seconds']:g} s"
    )
    table = Table("fault", "at s", "noticed", "recovered in", "xruns", "lost")
    for fault in results["faults"]:
        recovered = "—" if fault["recovered_s"] is None else f"{fault['recovered_s']:.2f} s"
        noticed = "yes" if fault["noticed"] else "NO"
        lost = "; ".join(fault["lost"]) or "nothing"
        table.add_row(fault["fault"], f"{fault['at_s']:.0f}", noticed, recovered, str(fault["xruns"]), lost)
    print_table(table)
    floor, outside = results["floor_c_client"], results["outside_faults"]
    console.print(
        f"xruns: {results['xruns_total']} in all, {results['xruns_outside_faults']} outside the faults "
        f"(per minute: {' '.join(map(str, results['xruns_outside_faults_per_minute']))}; "
        f"{xrun_summary(outside)} in {outside['seconds']:g} s), against {xrun_summary(floor)} for a C client "
        f"alone in {floor['seconds']:g} s before the server started; "
        f"server stopped with status {results['serve_exit_status']}; matches: "
        f"{matches['requested']} requested, {matches['answered']} answered, {matches['failed_with_reason']} failed "
        f"with a reason, {matches['unanswered']} unanswered"
    )
    console.print("what the server said, the first time each fault came:")
    for kind in FAULTS:
        first = next((f for f in results["faults"] if f["fault"] == kind), None)
        if first is not None:
            console.print(f"  {kind}: " + " | ".join(first["said"][:4]), soft_wrap=True, markup=False)


def run(args: argparse.Namespace) -> int:
    errors.print(f"soaking for {args.minutes:g} min, a fault every {args.fault_every:g} s ...")
    results = bench_soak(minutes=args.minutes, period=args.period, synth=args.synth, fault_every=args.fault_every)
    return emit(results, report, args.json)
