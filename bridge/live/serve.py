"""``inversynth serve``: the live synth with OSC, MIDI and auto-matching around it.

:class:`Studio` assembles the parts in order (audio server, voices, model
worker, session, OSC, MIDI) and takes them down in reverse; :func:`serve`
runs one until Ctrl-C or SIGTERM with a live status line.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

from rich.live import Live
from rich.markup import escape
from rich.text import Text

from inversynth.bridge.live.match_worker import MatchWorker
from inversynth.bridge.live.midi_input import NO_VIRTUAL_PORTS, MidiInput, default_api, input_names
from inversynth.bridge.live.osc_control import DEFAULT_HOST, DEFAULT_PORT, OscControl
from inversynth.bridge.live.performer import Performer
from inversynth.bridge.live.session import Session
from inversynth.bridge.matching.inference import shipped_model
from inversynth.bridge.matching.match import MatchOptions
from inversynth.bridge.matching.model_file import ModelFileError
from inversynth.bridge.matching.refine import DEFAULT_BUDGET
from inversynth.console import errors
from inversynth.engine.audio_process import SWITCH_INTERVAL
from inversynth.engine.backends import DEFAULT_BUFFER, DEFAULT_RATE, ServerOptions
from inversynth.engine.live import DEFAULT_VOICES
from inversynth.engine.synth_client import DEFAULT_BEND_RANGE, SynthClient
from inversynth.errors import BackendError
from inversynth.presets.store import Bank, user_bank

DEFAULT_MIDI_PORT = "inversynth"


@dataclass(frozen=True)
class ServeOptions:
    synth: str = "original"
    audio: str = "auto"
    sample_rate: int = DEFAULT_RATE
    buffer_size: int = DEFAULT_BUFFER
    voices: int = DEFAULT_VOICES
    bend_range: float = DEFAULT_BEND_RANGE
    osc_host: str = DEFAULT_HOST
    osc_port: int = DEFAULT_PORT
    midi_in: str | None = None
    midi_virtual: str | None = None
    midi_api: str | None = None  # default: jack on the JACK backend, else the platform's (midi_input.default_api)
    midi: bool = True
    midi_channel: int | None = None  # 0-based; None: omni
    mpe_members: int = 0  # MPE lower zone member channels; 0: no MPE until an MCM message says so
    mono: bool = False
    glide: float = 0.0  # seconds of portamento (mono)
    velocity_curve: str = "linear"
    model: Path | None = None
    matching: bool = True
    refine: bool = True
    refine_budget_ms: float = DEFAULT_BUDGET.ms
    candidates: int = 1  # patches saved per match: the best and its search's distinct runners-up
    save_out_of_reach: bool = False
    bank: Path | None = None
    allow: Sequence[Path] = field(default_factory=tuple)
    input_file: Path | None = None


def default_log(message: str) -> None:
    errors.print(escape(message), soft_wrap=True)


class Studio:
    """Every running part of a session; ``close()`` stops them in reverse order."""

    def __init__(self, options: ServeOptions, log: Callable[[str], None] = default_log) -> None:
        self.options = options
        self.log = log
        self._closers: list[tuple[str, Callable[[], None]]] = []  # (what, how to stop it)
        self.stopping = ""  # the part being stopped, while close() runs
        try:
            self._build(options)
        except BaseException:
            self.close()
            raise

    def _build(self, options: ServeOptions) -> None:
        bank = Bank(options.bank or user_bank())
        bank.check_writable()  # every match saves there: refuse a bank that cannot be written, before starting
        server = ServerOptions(options.audio, options.sample_rate, options.buffer_size)
        self.synth = SynthClient(
            options.synth, server, options.voices, options.bend_range, input_file=options.input_file, log=self.log
        )
        self._closers.append(("the audio process", self.synth.close))
        self.worker = MatchWorker(self.synth.spec, options.model, self.log) if self._can_match(options) else None
        budget = replace(DEFAULT_BUDGET, ms=options.refine_budget_ms)
        matching = MatchOptions(refine=options.refine, budget=budget, candidates=options.candidates)
        self.session = Session(
            self.synth,
            bank,
            self.worker,
            options.allow,
            log=self.log,
            match_options=matching,
            save_out_of_reach=options.save_out_of_reach,
        )
        self._closers.append(("the matcher (a match in progress)", self.session.close))
        self.synth.set_velocity_curve(options.velocity_curve)
        self.synth.set_mono(options.mono)
        self.performer = Performer(self.session, options.midi_channel, options.mpe_members, options.glide)
        self.osc = OscControl(self.session, options.osc_host, options.osc_port)
        self.midi = self._open_midi(options, self.synth.backend) if options.midi else None
        if self.midi is not None:
            self._closers.append(("the MIDI input", self.midi.close))
        self.osc.start()  # last: a client that gets an answer finds everything else up
        self._closers.append(("the OSC server", self.osc.close))

    def _can_match(self, options: ServeOptions) -> bool:
        """Matching needs a model: the one given, or the one shipped for the synth (else a warning)."""
        if not options.matching or options.model is not None:
            return options.matching
        try:
            shipped_model(self.synth.spec.name)
        except ModelFileError as exc:
            self.log(f"warning: auto-matching is off: {exc}")
            return False
        return True

    def _open_midi(self, options: ServeOptions, backend: str) -> MidiInput | None:
        api = options.midi_api or default_api(backend)
        port, virtual = options.midi_in, None if options.midi_in else (options.midi_virtual or DEFAULT_MIDI_PORT)
        try:
            if api in NO_VIRTUAL_PORTS and port is None:  # Windows: the first keyboard found
                port, virtual = next(iter(input_names(api)), None), None
                if port is None:
                    raise BackendError(f"no MIDI input port to open through {api} (Windows MIDI has no virtual ports)")
            return MidiInput(self.performer, api, port, virtual)
        except BackendError as exc:
            self.log(f"warning: MIDI input is off: {exc}")
            return None

    def describe(self) -> str:
        host, port = self.osc.address
        midi = (
            f"MIDI in '{self.midi.name}' ({self.midi.api}, {self.performer.describe_channels()})"
            if self.midi
            else "no MIDI"
        )
        model = f"model {self.worker.model_file}" if self.worker else "no model"
        return (
            f"synth '{self.synth.spec.name}' × {self.synth.voices} voices on {self.synth.describe()} "
            f"(audio process {self.synth.pid}); "
            f"OSC on {host}:{port}; {midi}; {model}; bank {self.session.bank.folder}"
        )

    def status(self) -> Text:
        session = self.session
        line = Text()
        line.append(f"{self.synth.backend} ", style="bold")
        try:
            stats = self.synth.stats()
        except BackendError as exc:
            line.append(f"audio: {exc}  ", style="red")
        else:
            line.append(f"cpu {stats.cpu_load:4.1f}%  voices {stats.active:2d}/{self.synth.voices}  ")
            line.append(f"xruns {stats.xruns}  ", style="red" if stats.xruns else "")
            if stats.restarts:
                line.append(f"audio restarted {stats.restarts}×  ", style="yellow")
        line.append(f"osc {self.osc.received} ({self.osc.bad_total} bad)  ")
        if self.midi is not None:
            line.append(f"midi {self.midi.received}  ")
        if self.synth.playing["mono"]:
            line.append("mono  ")
        if session.tempo.bpm is not None:
            line.append(f"{session.tempo.bpm:.1f} BPM  ")
        if session.cc_map.learning:
            line.append(f"learning CC for {session.cc_map.learning}  ", style="yellow")
        if session.reports:
            last = session.reports[-1]
            saved = f"'{last.preset}'" if last.preset else "(not saved)"
            line.append(
                f"last match {saved} {last.match.distance_db:.2f} dB, {last.match.verdict}, in {last.latency_ms:.0f} ms"
            )
        return line

    def close(self) -> None:
        while self._closers:
            self.stopping, closer = self._closers.pop()
            try:
                closer()
            except Exception as exc:  # keep closing the rest
                self.log(f"while stopping: {type(exc).__name__}: {exc}")
        self.stopping = ""


STOP_SECONDS = 20.0  # stopping longer than this is stuck: the process says where and exits


def _stop_or_exit(studio: Studio) -> None:
    """``studio.close()``, bounded: a part that hangs (a worker that never answers, a pipe that never
    drains) must not leave a server a service manager cannot stop. Past STOP_SECONDS it says which
    part hung and exits with status 1."""
    closing = threading.Thread(target=studio.close, name="inversynth-stop", daemon=True)
    closing.start()
    closing.join(STOP_SECONDS)
    if closing.is_alive():
        errors.print(f"stopping hung in {studio.stopping} for {STOP_SECONDS:g} s; exiting now", soft_wrap=True)
        errors.file.flush()
        os._exit(1)


def serve(options: ServeOptions) -> int:
    """Run until Ctrl-C or SIGTERM; return the exit status."""
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    # The audio runs in its own process, but MIDI is read here, by a thread of ours that needs the
    # GIL, which Python hands over only every switch interval (5 ms by default): a busy OSC or match
    # thread would make every note late.
    sys.setswitchinterval(SWITCH_INTERVAL)
    studio = Studio(options)
    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        errors.print(f"[bold]inversynth serve[/]: {escape(studio.describe())}", soft_wrap=True)
        errors.print("ready; Ctrl-C stops", soft_wrap=True)
        if errors.is_terminal:
            with Live(studio.status(), console=errors, refresh_per_second=4, transient=True) as live:
                while not stop.wait(0.25):
                    live.update(studio.status())
        else:
            while not stop.wait(0.25):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        errors.print(studio.status(), soft_wrap=True)  # the last status line stays in the log
        started = time.perf_counter()
        _stop_or_exit(studio)
        errors.print(f"stopped cleanly in {(time.perf_counter() - started) * 1000:.0f} ms", soft_wrap=True)
    return 0
