"""Which MIDI controller moves which parameter, and what modulates what: the spec's defaults plus
what the user taught.

The defaults come from each parameter's ``midi_cc`` in the synth's spec
(General MIDI 2 numbers where one fits: 7 volume, 73 attack, 75 decay, 72
release, 70 and 79 sound controllers, 76 vibrato rate, 77 vibrato depth) and
from the spec's modulation routes (the mod wheel, channel pressure, a note's
pressure and MPE slide, each moving a parameter by an amount). MIDI learn
binds the next controller moved to a chosen parameter; ``/midi/route`` sets a
route. Both are saved atomically to ``$XDG_CONFIG_HOME/inversynth/midi-<synth>.json``
and win over the defaults. The controllers the performer itself reads
(:data:`PERFORMANCE`: the mod wheel, pedals, portamento, RPNs, slide) and
the channel-mode messages 120..127 cannot be bound (CC 74 can, except on MPE member channels).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import platformdirs

from inversynth.atomic import atomic_write_text, ensure_folder
from inversynth.engine.spec import ModRoute, Param, SynthSpec
from inversynth.errors import SpecError

MAP_FORMAT = "inversynth-midi-map"
MAP_VERSION = 2  # 2: modulation routes
ALL_SOUND_OFF, RESET_CONTROLLERS, ALL_NOTES_OFF, MONO_ON, POLY_ON = 120, 121, 123, 126, 127
MOD_WHEEL, PORTAMENTO_TIME, DATA_ENTRY, DATA_ENTRY_LSB = 1, 5, 6, 38
SUSTAIN, PORTAMENTO, SOSTENUTO, SOFT = 64, 65, 66, 67
SLIDE = 74  # MPE: a member channel's third dimension (bindable on other channels)
RPN_LSB, RPN_MSB = 100, 101
# What the performer reads itself: never bound to a parameter.
PERFORMANCE = frozenset(
    {MOD_WHEEL, PORTAMENTO_TIME, DATA_ENTRY, DATA_ENTRY_LSB, SUSTAIN, PORTAMENTO, SOSTENUTO, SOFT, RPN_LSB, RPN_MSB}
)
RESERVED = PERFORMANCE | frozenset(range(120, 128))  # and the channel mode messages


def config_folder() -> Path:
    """The platform's user config folder (platformdirs): ~/.config/inversynth (or $XDG_CONFIG_HOME) on Linux."""
    return platformdirs.user_config_path("inversynth", appauthor=False)


class CcMap:
    """Controller number -> parameter, with MIDI learn and a config file."""

    def __init__(self, spec: SynthSpec, path: Path | None = None) -> None:
        self.spec = spec
        self.path = path or config_folder() / f"midi-{spec.name}.json"
        self._lock = threading.Lock()
        self._learning: Param | None = None
        self.learned: dict[int, str] = {}
        self.routes: tuple[ModRoute, ...] = spec.modulation
        self._read()

    def _read(self) -> None:
        """Bindings and routes from the config file; a broken file is refused, never overwritten unread."""
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != MAP_FORMAT or data.get("synth") != self.spec.name:
                raise ValueError(f"not a MIDI map for synth '{self.spec.name}'")
            bindings = {int(cc): str(name) for cc, name in data["cc"].items()}
            for cc, name in bindings.items():
                self._check(cc, name)
            if "modulation" in data:  # version 1 files have none: the spec's routes stay
                self.routes = tuple(ModRoute(r["source"], r["param"], r["amount"]) for r in data["modulation"])
                for route in self.routes:
                    self.spec.param(route.param)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SpecError(f"{self.path}: unusable MIDI map ({exc}); fix or remove it") from None
        self.learned = bindings

    def _check(self, cc: int, name: str) -> None:
        self.spec.param(name)
        if not 0 <= cc <= 127 or cc in RESERVED:
            free = "0..119 but 1, 5, 6, 38, 64..67, 100, 101"
            raise SpecError(f"CC {cc} cannot be bound: the performer reads it (bindable: {free})")

    def _save(self) -> None:
        """Write bindings and routes (called with the lock held)."""
        data = {
            "format": MAP_FORMAT,
            "version": MAP_VERSION,
            "synth": self.spec.name,
            "cc": self.learned,
            "modulation": [{"source": r.source, "param": r.param, "amount": r.amount} for r in self.routes],
        }
        ensure_folder(self.path.parent)
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def with_route(self, source: str, name: str, amount: float) -> tuple[ModRoute, ...]:
        """The routes with ``source`` -> ``name`` set to ``amount`` (0 removes it); nothing saved yet."""
        route = ModRoute(source, self.spec.param(name).name, amount)
        kept = [r for r in self.routes if (r.source, r.param) != (source, name)]
        return tuple([*kept, route] if amount else kept)

    def save_routes(self, routes: tuple[ModRoute, ...]) -> None:
        with self._lock:
            self.routes = routes
            self._save()

    def bindings(self) -> dict[int, str]:
        """Every binding in force: the spec's defaults, then the learned ones on top."""
        merged = {p.midi_cc: p.name for p in self.spec.params if p.midi_cc is not None}
        with self._lock:
            merged.update(self.learned)
        return merged

    def param_for(self, cc: int) -> Param | None:
        name = self.bindings().get(cc)
        return self.spec.param(name) if name is not None else None

    def learn(self, name: str) -> None:
        """Bind the next controller moved to parameter ``name``."""
        param = self.spec.param(name)
        with self._lock:
            self._learning = param

    @property
    def learning(self) -> str | None:
        return self._learning.name if self._learning is not None else None

    def take_learned(self, cc: int) -> Param | None:
        """If MIDI learn is waiting, bind ``cc`` to its parameter, save, and return that parameter."""
        with self._lock:
            param, self._learning = self._learning, None
            if param is None:
                return None
            self._check(cc, param.name)
            self.learned[cc] = param.name
            self._save()
        return param
