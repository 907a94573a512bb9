"""MIDI in: python-rtmidi, through ALSA or JACK, parsed by mido, into the session.

This module opens the port; what each message does is the
:class:`~inversynth.bridge.live.performer.Performer`'s. No Python runs on
rtmidi's thread: with JACK MIDI that thread is JACK's realtime process
callback, where taking the GIL (as any callback must) would let any busy
Python thread of this process stall the whole JACK graph. rtmidi queues
the bytes itself and a reader thread of ours takes them, every
``POLL_SECONDS`` at most; a message that cannot be used is counted and
reported once per kind. A named JACK port that vanishes (a keyboard
unplugged) is said once and connected again when it comes back.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from inversynth.bridge.live.performer import Performer
from inversynth.errors import BackendError, InversynthError
from inversynth.native_output import native_stderr_silenced

APIS = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE", "winmm": "WINDOWS_MM"}
PLATFORM_APIS = {"linux": "alsa", "darwin": "coremidi", "win32": "winmm"}
NO_VIRTUAL_PORTS = frozenset({"winmm"})  # Windows MIDI cannot offer a port of its own: open an existing one


def default_api(audio_backend: str, platform: str = sys.platform) -> str:
    """JACK MIDI beside JACK audio (one graph, one clock); else the platform's own MIDI system."""
    return "jack" if audio_backend == "jack" else PLATFORM_APIS.get(platform, "alsa")


CLIENT_NAME = "inversynth-midi"  # ports appear as inversynth-midi:<port name> (JACK) / in ALSA's client list
POLL_SECONDS = 0.0005  # the reader's longest sleep with nothing queued: at most half a millisecond of latency
WATCH_SECONDS = 0.5  # how often a named JACK port is looked for after it vanished (a keyboard plugged in again)


def open_backend(api: str) -> Any:
    import mido

    if api not in APIS:
        raise BackendError(f"MIDI API {api!r} is unknown; use one of {', '.join(APIS)}")
    return mido.Backend(f"mido.backends.rtmidi/{APIS[api]}", load=True)


def input_names(api: str) -> list[str]:
    try:
        return list(open_backend(api).get_input_names())
    except Exception as exc:  # rtmidi raises its own errors when the MIDI system is missing
        raise BackendError(f"no {api.upper()} MIDI system ({exc})") from None


class JackSource:
    """Keeps the JACK MIDI port ``source`` connected to our input port ``own_port``.

    A keyboard unplugged and plugged in again (or a program restarted) comes back
    as a new port of the same name, which JACK does not connect: :meth:`check`
    notices the port gone and connects it again when it is back. A connection
    the user removed while the port stayed is left removed. The JACK client
    used here is never activated: it has no process thread in the graph.
    """

    def __init__(self, source: str, own_port: str, log: Callable[[str], None]) -> None:
        import jack

        self.source = source
        self._log = log
        self._client = jack.Client(f"{CLIENT_NAME}-watch", no_start_server=True)
        try:
            ours = self._client.get_ports(name_pattern=f":{re.escape(own_port)}$", is_midi=True, is_input=True)
            if not ours:
                raise BackendError(f"cannot find our JACK MIDI port {own_port!r}")
            self._own = ours[0]
            self._connect()
        except jack.JackError as exc:
            self.close()
            raise BackendError(f"cannot connect JACK MIDI port {source!r} ({exc})") from None
        except BaseException:
            self.close()
            raise
        self._present = True

    def _connect(self) -> None:
        self._client.connect(self.source, self._own)

    def check(self) -> None:
        """Say a vanished source once; connect it again when it is back."""
        present = any(port.name == self.source for port in self._client.get_ports(is_midi=True, is_output=True))
        if present == self._present:
            return
        self._present = present
        if not present:
            self._log(f"midi: {self.source!r} is gone; it is connected again when it comes back")
            return
        if self.source not in {port.name for port in self._client.get_all_connections(self._own)}:
            self._connect()
        self._log(f"midi: {self.source!r} is back and connected again")

    def close(self) -> None:
        self._client.close()


class MidiInput:
    """One open MIDI input port (a named existing port or a virtual one) driving ``performer``."""

    def __init__(self, performer: Performer, api: str, port: str | None = None, virtual: str | None = None) -> None:
        self.performer = performer
        self.log = performer.session.log
        self.api = api
        self.received = 0
        self.ignored: Counter[str] = Counter()
        self.source: JackSource | None = None  # a named JACK port, kept connected
        performer.ignore = self._ignore
        if api not in APIS:
            raise BackendError(f"MIDI API {api!r} is unknown; use one of {', '.join(APIS)}")
        try:
            with native_stderr_silenced():  # alsa-lib and libjack print their own failures
                self.port = self._open(port, virtual)
        except BackendError:
            raise
        except Exception as exc:  # rtmidi: no ALSA sequencer, no JACK server, ...
            raise BackendError(f"cannot open MIDI input through {api.upper()} ({exc})") from None
        self.name = virtual if virtual is not None else port
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="inversynth-midi-in", daemon=True)
        self._reader.start()
        self._watcher = None
        if self.source is not None:
            self._watcher = threading.Thread(target=self._watch, args=(self.source,), name="inversynth-midi-watch")
            self._watcher.start()

    def _open(self, port: str | None, virtual: str | None) -> Any:
        import rtmidi

        midi_in = rtmidi.MidiIn(getattr(rtmidi, f"API_{APIS[self.api]}"), name=CLIENT_NAME)
        midi_in.ignore_types(sysex=False, timing=False, active_sense=True)  # clock drives tempo sync
        if virtual is not None:
            midi_in.open_virtual_port(virtual)
            return midi_in
        names = midi_in.get_ports()
        if port is None or port not in names:
            raise BackendError(f"no MIDI input named {port!r}; {self.api} has: {', '.join(names) or 'none'}")
        if self.api != "jack":
            midi_in.open_port(names.index(port))
            return midi_in
        # rtmidi's JACK API creates the port but does not connect it: open our own and connect it with JACK.
        own = f"in-{os.getpid()}"
        midi_in.open_virtual_port(own)
        self.source = JackSource(port, own, self.log)
        return midi_in

    def _watch(self, source: JackSource) -> None:
        """Look for the named JACK port every ``WATCH_SECONDS`` (see :class:`JackSource`)."""
        failing = False
        while not self._closed.wait(WATCH_SECONDS):
            try:
                source.check()
                failing = False
            except Exception as exc:  # the JACK server went away, a connect refused, ...
                if not failing:
                    self.log(f"midi: cannot look for {source.source!r} ({type(exc).__name__}: {exc})")
                failing = True

    def _read(self) -> None:
        """Take what rtmidi queued, on this (ordinary) thread, until closed."""
        import mido

        while not self._closed.is_set():
            event = self.port.get_message()
            if event is None:
                time.sleep(POLL_SECONDS)
                continue
            try:
                message = mido.Message.from_bytes(event[0])
            except ValueError as exc:
                self.received += 1
                self._ignore("garbage", f"{len(event[0])} bytes that are not a MIDI message ({exc})")
                continue
            self.handle(message)

    def handle(self, message: Any) -> None:
        """One MIDI message, on the reader thread."""
        self.received += 1
        try:
            self.performer.handle(message)
        except InversynthError as exc:
            self._ignore(getattr(message, "type", "?"), str(exc))
        except Exception as exc:  # a bug must not silence the MIDI thread
            self._ignore("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def _ignore(self, kind: str, reason: str, trace: str = "") -> None:
        self.ignored[kind] += 1
        if self.ignored[kind] == 1:
            self.log(f"midi: {reason} (further ones are only counted)")
            if trace:  # a bug, not a bad message: its traceback, once
                self.log(trace.rstrip())

    def close(self) -> None:
        self._closed.set()
        self._reader.join(timeout=1.0)
        if self._watcher is not None and self.source is not None:
            self._watcher.join(timeout=2.0)
            self.source.close()
        self.port.close_port()
        self.port.delete()
