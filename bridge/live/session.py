"""One running studio session: the live synth, its preset bank and the auto-matcher.

OSC and MIDI are two ways in to the same :class:`Session`; whatever either
asks, the session does it the same way, counts it for the status line and
tells its listeners. Slow work (capture, inference, refinement, preset files)
runs on the session's matcher thread and in the model worker, never on the
thread that asked or on the audio thread.

A match comes in two steps: the network's estimate sounds at once (its
listeners hear it as an ``estimate``), then the refinement's result follows
and is saved as a preset with the distance before and after — unless the
verdict is ``out of reach``, which loads and saves nothing unless the session
was told to keep such matches. Undetermined parameters keep the patch's
current values.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from inversynth.atomic import ensure_folder
from inversynth.audio_files import write_audio
from inversynth.bridge.live.match_worker import MatchWorker
from inversynth.bridge.live.midi_map import CcMap
from inversynth.bridge.live.tempo_sync import TempoSync
from inversynth.bridge.matching.audio_input import Note, load_notes, notes
from inversynth.bridge.matching.match import Match, MatchOptions, save_preset
from inversynth.engine.live import check_capture_source
from inversynth.engine.synth_client import Capture, SynthClient
from inversynth.errors import InversynthError, SpecError
from inversynth.presets.preset import Preset, PresetError
from inversynth.presets.store import FACTORY, Bank, BankIndex, BrokenFile, file_name

CAPTURES = "captures"  # subfolder of the bank keeping the audio of each captured match
LIVE_MATCH = MatchOptions(refine=True)


@dataclass(frozen=True)
class MatchReport:
    """An auto-match: the saved preset (None when not saved) and how long each step took.

    ``final`` is False for the network's estimate, reported before its refinement.
    """

    preset: str | None
    path: Path | None
    match: Match
    capture_seconds: float
    latency_ms: float  # end of the capture (or of reading the file) -> this estimate sounding
    final: bool = True
    candidates: tuple[tuple[str, Match], ...] = ()  # runners-up saved beside the preset, to audition


MatchListener = Callable[[MatchReport], None]


def _instant(stamp: str) -> datetime:
    """A preset's creation time as an instant (any ISO offset); one that does not parse sorts first."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Session:
    """The synth plus everything that OSC and MIDI may ask of it."""

    def __init__(
        self,
        synth: SynthClient,
        bank: Bank,
        worker: MatchWorker | None,
        allowed_folders: Sequence[Path] = (),
        cc_map: CcMap | None = None,
        log: Callable[[str], None] = print,
        match_options: MatchOptions = LIVE_MATCH,
        save_out_of_reach: bool = False,
    ) -> None:
        self.synth = synth
        self.spec = synth.spec
        self.cc_map = cc_map or CcMap(synth.spec)
        synth.set_routes(self.cc_map.routes)
        self.tempo = TempoSync(synth, log)
        self.bank = bank
        self.index = BankIndex(bank, on_broken=lambda b: log(f"bank: {b.path.name} is not a valid preset: {b.reason}"))
        self.factory = BankIndex(Bank(FACTORY))
        self.worker = worker
        self.allowed = [Path(folder).resolve() for folder in allowed_folders]
        self.log = log
        self.capture_source = "output"
        self.match_options = match_options
        self.save_out_of_reach = save_out_of_reach
        self.reports: list[MatchReport] = []
        self._match_listeners: list[MatchListener] = []
        self._failure_listeners: list[Callable[[str], None]] = []
        self._matcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inversynth-match")
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)  # one per match request, in order
        self._issued = self._cancelled_through = 0  # requests up to this one refine no further
        self._capturing = False  # a capture is waiting or recording: a second one is refused

    # --- presets ---------------------------------------------------------------------------

    def load_preset(self, name: str) -> Preset:
        """Load a preset by name (the bank, then the factory bank) into the synth; a file that claims
        the name but is not a valid preset is refused with what is wrong with it."""
        for index in (self.index, self.factory):
            found = index.find(name)
            if found is not None:
                break
        if found is None:
            raise PresetError(f"no preset named {name!r} in {self.bank.folder} or the factory bank")
        if isinstance(found, BrokenFile):
            raise PresetError(f"preset {name!r} cannot be loaded: {found.path.name}: {found.reason}")
        self._play(found)
        return found

    def apply_preset(self, text: str) -> Preset:
        """Load a preset sent whole (a preset file's JSON, as the preset manager sends one from a bank
        that may not be the server's): validated and upgraded as a file is, refused if it is for
        another synth, then played at once with its synced rates."""
        preset = Preset.loads(text)
        self._play(preset)
        return preset

    def _play(self, preset: Preset) -> None:
        """Load ``preset``'s patch, then let its synced rates follow the tempo (another synth's: refused)."""
        if preset.synth != self.spec.name:
            name, synth = preset.name, preset.synth
            raise PresetError(f"preset {name!r} is for synth '{synth}', this server plays '{self.spec.name}'")
        self.synth.load_patch(preset.params, source=f"preset {preset.name}")
        self.tempo.load(preset.sync)

    def save_preset(self, name: str) -> Path:
        """Save the current patch and synced rates as a preset in the bank (overwriting one of that name)."""
        try:
            existing = self.bank.load(name) if self.bank.locate(name) is not None else None
        except PresetError as exc:  # the store leaves unreadable files alone: so does saving over one
            raise PresetError(f"not saved: {exc}; rename or remove that file first") from None
        params, sync = dict(self.synth.patch), dict(self.tempo.divisions)
        preset = (
            existing.changed(params=params, sync=sync)
            if existing is not None and existing.synth == self.spec.name
            else Preset.new(self.spec.name, name, params=params, sync=sync)
        )
        return self.bank.save(preset)

    def set_route(self, source: str, name: str, amount: float) -> None:
        """Route modulation ``source`` to parameter ``name`` by ``amount`` (0 removes it); saved with MIDI learn."""
        routes = self.cc_map.with_route(source, name, amount)
        self.synth.set_routes(routes)  # refuses a parameter the voice cannot modulate, before anything is saved
        self.cc_map.save_routes(routes)

    def _programs(self) -> list[Preset]:
        """This synth's presets in program-change order, from in-memory indexes, so that saving never
        moves another preset's number: the factory's (by name; a bank preset of the same name plays in
        its slot), then the bank's own in the order they were created."""
        own = {p.name: p for p in self.index.presets() if p.synth == self.spec.name}
        factory = [own.pop(p.name, p) for p in self.factory.presets() if p.synth == self.spec.name]
        return factory + sorted(own.values(), key=lambda p: (_instant(p.created), p.name))

    def preset_names(self) -> list[str]:
        return [p.name for p in self._programs()]

    def program(self, number: int) -> Preset:
        """Load slot ``number`` (0-based, MIDI program change): the factory's presets, then the bank's."""
        presets = self._programs()
        if not 0 <= number < len(presets):
            raise PresetError(f"program {number} is empty: the bank and the factory hold {len(presets)} presets")
        self._play(presets[number])
        return presets[number]

    # --- matching --------------------------------------------------------------------------

    def on_match(self, listener: MatchListener) -> None:
        self._match_listeners.append(listener)

    def set_capture_source(self, source: str) -> None:
        self.capture_source = check_capture_source(source)

    def match_capture(self, seconds: float) -> Future[MatchReport]:
        """Start capturing now; match, load and save when done (on the matcher thread).

        A refinement still running for an earlier match stops there, with its best patch so far;
        while an earlier capture is still recording, this one is refused (the note being played
        belongs to that one).
        """
        self._require_worker()
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise SpecError(f"capture length {seconds!r} is not a number of seconds")
        with self._lock:
            if self._capturing:
                raise SpecError("a capture is already recording; this one is refused (/match/cancel stops matching)")
            self._capturing = True
        self.cancel_match()
        try:
            return self._submit(self._capture_and_match, float(seconds), self.capture_source)
        except BaseException:
            self._capturing = False
            raise

    def match_file(self, path: str) -> Future[MatchReport]:
        """Match an audio file inside one of the allowed folders."""
        self._require_worker()
        return self._submit(self._file_and_match, self._allowed_file(path))

    def _allowed_file(self, text: str) -> Path:
        if not self.allowed:
            raise SpecError("matching files is off: start the server with --allow DIR to allow a folder")
        path = Path(text).expanduser().resolve()
        if not any(path.is_relative_to(folder) for folder in self.allowed):
            raise SpecError(f"{text} is outside the allowed folders ({', '.join(map(str, self.allowed))})")
        return path

    def _require_worker(self) -> None:
        if self.worker is None:
            raise SpecError("matching is off: the server runs without a model")

    def _submit(self, fn: Callable[..., MatchReport], *args: object) -> Future[MatchReport]:
        with self._lock:
            self._issued = ticket = next(self._tickets)
        future = self._matcher.submit(fn, *args, ticket)
        future.add_done_callback(self._report_failure)
        return future

    def on_match_failed(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` when a match fails (a bad file, a capture cut by the audio process dying)."""
        self._failure_listeners.append(listener)

    def _report_failure(self, future: Future[MatchReport]) -> None:
        if future.cancelled():  # at shutdown
            return
        exc = future.exception()
        if exc is None:
            return
        reason = str(exc) if isinstance(exc, InversynthError) else f"{type(exc).__name__}: {exc}"
        self.log(f"match failed: {reason}")
        for listener in self._failure_listeners:
            listener(reason)

    def cancel_match(self) -> None:
        """Stop every match requested so far at its refinement (one still capturing or estimating
        skips it): its best patch so far is used."""
        with self._lock:
            self._cancelled_through = self._issued
            if self.worker is not None:
                self.worker.cancel()

    def _capture_and_match(self, seconds: float, source: str, ticket: int) -> MatchReport:
        try:
            capture = self.synth.capture(seconds, source)
        finally:
            self._capturing = False
        label = f"capture of the {source}"
        note = notes(capture.audio, capture.sample_rate, self.spec, label, capture=True)[0]
        return self._finish(note, label, capture.ended, seconds, ticket, capture)

    def _file_and_match(self, path: Path, ticket: int) -> MatchReport:
        note = load_notes(path, self.spec)[0]
        return self._finish(note, str(path), time.monotonic(), 0.0, ticket)

    def _finish(
        self, note: Note, source: str, ended: float, seconds: float, ticket: int, capture: Capture | None = None
    ) -> MatchReport:
        assert self.worker is not None
        match = self.worker.estimate(note, source, self.match_options, dict(self.synth.patch))
        if self._keeps(match):
            self._load_match(match)
        if self.match_options.refine and self._arm(ticket):
            self._tell(MatchReport(None, None, match, seconds, (time.monotonic() - ended) * 1000, final=False))
            options = self.match_options
            match, *runners_up = self.worker.refine(match, options.budget, options.candidates)
            if self._keeps(match):  # refinement may bring an out-of-reach estimate within reach
                self._load_match(match)
        else:
            runners_up = []
        latency_ms = (time.monotonic() - ended) * 1000
        keep = self._keeps(match)
        name, path, candidates = None, None, list[tuple[str, Match]]()
        if keep:
            name = self._new_preset_name()
            audio = None
            if capture is not None:  # keep what was heard next to the preset it became
                audio = ensure_folder(self.bank.folder / CAPTURES) / Path(file_name(name)).with_suffix(".wav").name
                write_audio(audio, capture.audio, capture.sample_rate)
            try:
                path = save_preset(match, name, self.bank, audio)
            except InversynthError:
                if audio is not None:  # no capture without its preset
                    audio.unlink(missing_ok=True)
                raise
            for other in filter(self._keeps, runners_up):  # to audition: load them from the bank
                saved = f"{name} (candidate {other.candidate})"
                save_preset(other, saved, self.bank, audio)
                candidates.append((saved, other))
        else:
            self.log(f"match of {source}: out of reach ({match.reason}); nothing loaded or saved")
        report = MatchReport(name, path, match, seconds, latency_ms, candidates=tuple(candidates))
        with self._lock:
            self.reports.append(report)
        self._tell(report)
        return report

    def _arm(self, ticket: int) -> bool:
        """Whether request ``ticket`` may refine (no cancel since it was made); if so, clear the cancels
        of earlier requests. Under the lock that cancels take, so that none falls between the two."""
        with self._lock:
            if ticket <= self._cancelled_through:
                return False
            assert self.worker is not None
            self.worker.arm()
            return True

    def _load_match(self, match: Match) -> None:
        self.tempo.load({})  # a matched sound has its rates in Hz: the tempo must not move them
        self.synth.load_patch(match.patch, source="match")

    def _keeps(self, match: Match) -> bool:
        return match.saveable or self.save_out_of_reach

    def _tell(self, report: MatchReport) -> None:
        for listener in self._match_listeners:
            listener(report)

    def _new_preset_name(self) -> str:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        name, number = f"Match {stamp}", 2
        while self.bank.path_for(name).exists():  # not a scan: that parses every preset in the bank
            name, number = f"Match {stamp} ({number})", number + 1
        return name

    def close(self) -> None:
        self.cancel_match()
        self._matcher.shutdown(wait=True, cancel_futures=True)
        if self.worker is not None:
            self.worker.close()
