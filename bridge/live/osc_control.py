"""OSC in and out: the session's control surface for DAWs, controllers and scripts.

Addresses (``<name>`` is any parameter of the synth's spec; the routes are
made from the spec, so a new synth gets its own):

====================================  ===========================================================
``/synth/param/<name> f``             set in real units (reply-free; subscribers hear the change)
``/synth/norm/<name> f``              set in 0..1 along the parameter's scale
``/synth/get/<name>``                 reply ``/synth/param/<name> f``
``/synth/describe``                   reply one ``/synth/describe s f f s f`` (name, min, max,
                                      unit, value) per parameter
``/synth/note_on i i``                key down (note, velocity); ``/synth/note_off i`` key up
``/synth/note i i f``                 fixed-length note (note, velocity, seconds; 0 = whole envelope)
``/synth/bend f``                     pitch bend in semitones
``/synth/panic``                      silence every voice
``/synth/mono i``                     1: one voice, last-note priority, legato; 0: poly
``/synth/glide f``                    portamento in mono mode, ms (0: off)
``/synth/velocity_curve s``           ``linear``, ``soft`` or ``hard``
``/synth/tempo f``                    tempo in BPM for synced rates (MIDI clock sets it too)
``/synth/sync s s``                   rate parameter, division (``1/8``, ``1/8T``, ``1/4.``) or ``off``
``/preset/load s``, ``/preset/save s`` by name, in the server's bank (names never become paths)
``/preset/apply s``                   a whole preset file's JSON: validated, its synth checked, played
``/preset/list``                      reply ``/preset/list s...``
``/match/source s``                   ``output`` or ``input``
``/match/capture f``                  capture that many seconds, match, load, refine, save
``/match/file s``                     match a file inside a folder allowed with ``--allow``
``/match/cancel``                     stop a refinement in progress (its best so far is kept)
``/midi/learn s``                     the next CC moved controls that parameter
``/midi/route s s f``                 modulation: source (``wheel``, ``pressure``, ``note_pressure``,
                                      ``slide``), parameter, amount -1..1 of its range (0 removes)
``/midi/map``                         reply one ``/midi/map/cc i s`` per bound controller and one
                                      ``/midi/map/route s s f`` per modulation route
``/subscribe i`` | ``/subscribe s i`` push to that port (``s``: an IPv4 address or ``localhost``)
                                      every change, ``/match/estimate f s f`` (the network's
                                      distance dB, verdict, ms from the capture's end to it
                                      sounding), ``/match/done s f f s s`` (preset or "" when not
                                      saved, distance and network distance dB, verdict, reason),
                                      ``/match/failed s`` (why) and ``/status`` after the audio
                                      process was restarted
``/unsubscribe i`` | ``… s i``        stop pushing
``/status``                           reply ``/status s i i i i f f i`` (backend, voices sounding,
                                      xruns, bad OSC messages, matches, last match latency ms,
                                      DSP load %, voices computing: the others sleep)
====================================  ===========================================================

A bundle whose timetag lies in the future is played at that time (within
one audio block, in order, like scsynth): the audio process keeps its
``/synth/...`` commands and applies them when their time comes; presets
loaded by a timed bundle are applied then too, while replies and matching
start on arrival. An immediate or past timetag runs at once; one more than
60 s ahead is refused.

Replies go to the sender's address; a query (``/synth/get/<name>``,
``/synth/describe``, ``/preset/list``, ``/midi/map``, ``/status``) may add an ``i``: the port on the
sender's host to answer on instead (``oscsend`` cannot listen; ``oscdump`` can). ``/subscribe``
takes addresses, not host names: resolving a name could stall the OSC thread for seconds. A message
with the wrong types or arity, an unknown address, a value out of range, an unknown preset, a file
outside ``--allow`` or an unparsable packet is answered ``/error s s`` (its address, the reason in
one line; subscribers get it too), counted, and logged once per address; it never stops the server. A handler that fails
with an unexpected exception (a bug) logs its traceback once.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_server import BlockingOSCUDPServer

from inversynth.bridge.live.session import MatchReport, Session
from inversynth.errors import InversynthError
from inversynth.osc_client import widen_receive_buffer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
UNPARSABLE = "<unparsable packet>"
MAX_LOGGED_ADDRESSES = 64  # random garbage can carry endless addresses: log this many, count all

Address = tuple[str, int]


class BadMessage(InversynthError):
    """An OSC message the server cannot take (types, arity, values)."""


@dataclass(frozen=True)
class Route:
    """What an address accepts: one or more type signatures (``i`` int, ``f`` number, ``s`` string).

    A query (``reply_port``) also takes one more ``i``: the port on the sender's host to answer on,
    for senders that cannot listen on the port they send from (liblo's ``oscsend``).
    """

    signatures: tuple[str, ...]
    handler: Callable[..., object]  # what it returns is ignored
    reply_port: bool = False


def query(handler: Callable[..., None]) -> Route:
    return Route(("", "i"), handler, reply_port=True)


def check_args(address: str, signatures: tuple[str, ...], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The args converted to the first signature they fit, or BadMessage."""
    for signature in signatures:
        if len(signature) == len(args) and all(_fits(kind, arg) for kind, arg in zip(signature, args, strict=True)):
            return tuple(
                float(a) if kind == "f" else int(a) if kind == "i" else a
                for kind, a in zip(signature, args, strict=True)
            )
    got = "".join(_type_tag(a) for a in args) or "nothing"
    wanted = " or ".join(s or "no arguments" for s in signatures)
    raise BadMessage(f"{address} takes {wanted}, got {got}")


def _fits(kind: str, arg: Any) -> bool:
    if isinstance(arg, bool):
        return False
    if kind == "f":
        return isinstance(arg, int | float)
    if kind == "i":  # strict: a controller's 1.0 may mean full velocity, not velocity 1
        return isinstance(arg, int)
    return isinstance(arg, str)


def _type_tag(arg: Any) -> str:
    return {bool: "T", int: "i", float: "f", str: "s", bytes: "b"}.get(type(arg), "?")


def _switch(address: str, value: int) -> bool:
    if value not in (0, 1):
        raise BadMessage(f"{address} takes 1 (on) or 0 (off), not {value}")
    return bool(value)


def _port(address: str, port: int) -> int:
    if not 1 <= port <= 65535:
        raise BadMessage(f"{address}: port {port} is outside 1..65535")
    return port


class _Server(BlockingOSCUDPServer):
    def server_bind(self) -> None:
        widen_receive_buffer(self.socket)  # a DAW restoring a session, a fader flood
        super().server_bind()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return True  # let every datagram reach the dispatcher, which counts the ones that are not OSC


class OscControl(Dispatcher):
    """Listens on ``host:port`` in its own thread and drives ``session``."""

    def __init__(self, session: Session, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        super().__init__(strict_timing=False)
        self.session = session
        self.routes = self._routes()
        self.received = 0
        self.bad: Counter[str] = Counter()
        self._subscribers: set[Address] = set()
        self._lock = threading.Lock()
        try:
            self._server = _Server((host, port), self)
        except OSError as exc:
            raise InversynthError(f"cannot listen for OSC on {host}:{port} ({exc.strerror or exc})") from None
        bound_host, bound_port = self._server.server_address[:2]
        self.address: Address = (str(bound_host), int(bound_port))
        self._thread = threading.Thread(target=self._server.serve_forever, name="inversynth-osc", daemon=True)
        session.synth.on_change(self._push_param)
        session.synth.on_restart(lambda _what: self._publish("/status", *self._status_values()))
        session.on_match(self._push_match)
        session.on_match_failed(lambda reason: self._publish("/match/failed", reason))

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- receiving --------------------------------------------------------------------------

    def call_handlers_for_packet(self, data: bytes, client_address: Address) -> list[Any]:
        try:
            messages = osc_packet.OscPacket(data).messages
        except (osc_packet.ParseError, ValueError, IndexError, UnicodeDecodeError):
            self._reject(client_address, UNPARSABLE, f"{len(data)}-byte datagram is not OSC")
            return []
        now, monotonic = time.time(), time.monotonic()
        for timed in messages:
            message = timed.message
            self.received += 1
            route = self.routes.get(message.address)
            if route is None:
                self._reject(client_address, message.address, f"{message.address}: unknown address")
                continue
            try:
                args = check_args(message.address, route.signatures, tuple(message.params))
                client = client_address
                if route.reply_port and args:
                    client, args = (client_address[0], _port(message.address, args[0])), ()
                # A timetag in the future: the audio process applies the synth commands then.
                synth = self.session.synth
                with synth.scheduled(monotonic + timed.time - now) if timed.time > now else nullcontext():
                    route.handler(client, *args)
            except InversynthError as exc:
                self._reject(client_address, message.address, str(exc))
            except Exception as exc:  # a bug must not take the control surface down
                reason = f"{message.address}: {type(exc).__name__}: {exc}"
                self._reject(client_address, message.address, reason, traceback.format_exc())
        return []

    def _reject(self, client: Address, address: str, reason: str, trace: str = "") -> None:
        """Count and log (once per address) a refused message, and tell its sender why: ``/error s s``."""
        with self._lock:
            counted = address
            if counted not in self.bad and len(self.bad) >= MAX_LOGGED_ADDRESSES:
                counted = "<other addresses>"
            self.bad[counted] += 1
            first = self.bad[counted] == 1
        if first:
            self.session.log(f"osc: {reason} (further errors at this address are only counted)")
            if trace:  # not bad input but a bug: its traceback, once
                self.session.log(trace.rstrip())
        self.send(client, "/error", address, reason)
        self._publish("/error", address, reason, besides=client)  # watchers (oscdump) see it too

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    # --- sending ----------------------------------------------------------------------------

    def send(self, target: Address, address: str, *args: Any) -> None:
        try:
            self._server.socket.sendto(build_msg(address, args).dgram, target)
        except OSError as exc:  # a subscriber that cannot be reached must not break the sender, nor flood the log
            with self._lock:
                subscribed = target in self._subscribers
                self._subscribers.discard(target)
            then = "; unsubscribed it" if subscribed else ""
            self.session.log(f"osc: cannot send to {target[0]}:{target[1]} ({exc.strerror or exc}){then}")

    def _publish(self, address: str, *args: Any, besides: Address | None = None) -> None:
        with self._lock:
            targets = [t for t in self._subscribers if t != besides]
        for target in targets:
            self.send(target, address, *args)

    def _push_param(self, name: str, value: float, _source: str) -> None:
        self._publish(f"/synth/param/{name}", value)

    def _push_match(self, report: MatchReport) -> None:
        match = report.match
        if not report.final:
            self._publish("/match/estimate", match.network_distance_db, match.verdict, report.latency_ms)
            return
        for name, candidate in report.candidates:  # before /match/done: a client that sees it has them all
            self._publish("/match/candidate", name, candidate.distance_db, candidate.candidate, candidate.verdict)
        distances = (match.distance_db, match.network_distance_db)
        self._publish("/match/done", report.preset or "", *distances, match.verdict, match.reason)

    # --- routes -----------------------------------------------------------------------------

    def _routes(self) -> dict[str, Route]:
        session, synth = self.session, self.session.synth
        routes = {
            "/synth/describe": query(self._describe),
            "/synth/note_on": Route(("ii",), lambda _c, note, velocity: synth.note_on(note, velocity)),
            "/synth/note_off": Route(("i",), lambda _c, note: synth.note_off(note)),
            "/synth/note": Route(("iif", "ii"), lambda _c, n, v, s=0.0: synth.note(n, v, s)),
            "/synth/bend": Route(("f",), lambda _c, semitones: synth.bend(semitones)),
            "/synth/panic": Route(("",), lambda _c: synth.panic()),
            "/preset/load": Route(("s",), lambda _c, name: session.load_preset(name)),
            "/preset/apply": Route(("s",), lambda _c, text: session.apply_preset(text)),
            "/preset/save": Route(("s",), lambda _c, name: session.save_preset(name)),
            "/preset/list": query(lambda c: self.send(c, "/preset/list", *session.preset_names())),
            "/match/source": Route(("s",), lambda _c, source: session.set_capture_source(source)),
            "/match/capture": Route(("f",), lambda _c, seconds: session.match_capture(seconds)),
            "/match/file": Route(("s",), lambda _c, path: session.match_file(path)),
            "/match/cancel": Route(("",), lambda _c: session.cancel_match()),
            "/synth/mono": Route(("i",), lambda _c, on: synth.set_mono(_switch("/synth/mono", on))),
            "/synth/glide": Route(("f",), lambda _c, ms: synth.set_glide(ms / 1000.0)),
            "/synth/velocity_curve": Route(("s",), lambda _c, curve: synth.set_velocity_curve(curve)),
            "/synth/tempo": Route(("f",), lambda _c, bpm: session.tempo.set_tempo(bpm)),
            "/synth/sync": Route(("ss",), lambda _c, n, d: session.tempo.sync(n, None if d == "off" else d)),
            "/midi/learn": Route(("s",), lambda _c, name: session.cc_map.learn(name)),
            "/midi/route": Route(("ssf",), lambda _c, source, name, amount: session.set_route(source, name, amount)),
            "/midi/map": query(self._midi_map),
            "/subscribe": Route(("i", "si"), self._subscribe),
            "/unsubscribe": Route(("i", "si"), self._unsubscribe),
            "/status": query(self._status),
        }
        for param in session.spec.params:
            name = param.name
            routes[f"/synth/param/{name}"] = Route(("f",), lambda _c, v, n=name: synth.set_param(n, v, "osc"))
            routes[f"/synth/norm/{name}"] = Route(("f",), lambda _c, v, n=name: synth.set_normalised(n, v, "osc"))
            routes[f"/synth/get/{name}"] = query(lambda c, n=name: self.send(c, f"/synth/param/{n}", synth.patch[n]))
        return routes

    def _describe(self, client: Address) -> None:
        for p in self.session.spec.params:
            self.send(client, "/synth/describe", p.name, p.minimum, p.maximum, p.unit, self.session.synth.patch[p.name])

    def _midi_map(self, client: Address) -> None:
        for cc, name in sorted(self.session.cc_map.bindings().items()):
            self.send(client, "/midi/map/cc", cc, name)
        for route in self.session.synth.routes:
            self.send(client, "/midi/map/route", route.source, route.param, float(route.amount))

    def _target(self, client: Address, args: tuple[Any, ...]) -> Address:
        host, port = (client[0], args[0]) if len(args) == 1 else args
        port = _port("/subscribe", port)
        if host == "localhost":
            return "127.0.0.1", port
        try:
            return str(ipaddress.IPv4Address(host)), port
        except ValueError:
            raise BadMessage(f"/subscribe: {host!r} is not an IPv4 address (host names are not resolved)") from None

    def _subscribe(self, client: Address, *args: Any) -> None:
        target = self._target(client, args)
        with self._lock:
            self._subscribers.add(target)

    def _unsubscribe(self, client: Address, *args: Any) -> None:
        target = self._target(client, args)
        with self._lock:
            self._subscribers.discard(target)

    def _status_values(self) -> tuple[Any, ...]:
        session, synth = self.session, self.session.synth
        stats = synth.stats()
        last = session.reports[-1].latency_ms if session.reports else 0.0
        return (
            synth.backend,
            stats.active,
            stats.xruns,
            self.bad_total,
            len(session.reports),
            float(last),
            float(stats.cpu_load),
            stats.awake,
        )

    def _status(self, client: Address) -> None:
        self.send(client, "/status", *self._status_values())
