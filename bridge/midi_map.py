"""Which MIDI controller moves which parameter: the spec's defaults plus what the user taught.

The defaults come from each parameter's ``midi_cc`` in the synth's spec
(General MIDI 2 numbers where one fits: 7 volume, 1 modulation, 73 attack,
75 decay, 72 release, 70 and 79 sound controllers, 76 vibrato rate). MIDI
learn binds the next controller moved to a chosen parameter; learned
bindings are saved atomically to ``$XDG_CONFIG_HOME/inversynth/midi-<synth>.json``
and win over the defaults. CC 120 (all sound off) and 123 (all notes off)
keep their channel-mode meaning and cannot be bound.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from inversynth.atomic import atomic_write_text, ensure_folder
from inversynth.engine.spec import Param, SynthSpec
from inversynth.errors import SpecError

MAP_FORMAT = "inversynth-midi-map"
MAP_VERSION = 1
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123
RESERVED = frozenset(range(120, 128))  # channel mode messages


def config_folder() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "inversynth"


class CcMap:
    """Controller number -> parameter, with MIDI learn and a config file."""

    def __init__(self, spec: SynthSpec, path: Path | None = None) -> None:
        self.spec = spec
        self.path = path or config_folder() / f"midi-{spec.name}.json"
        self._lock = threading.Lock()
        self._learning: Param | None = None
        self.learned: dict[int, str] = self._read()

    def _read(self) -> dict[int, str]:
        """Learned bindings from the config file; a broken file is reported and ignored, never overwritten unread."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != MAP_FORMAT or data.get("synth") != self.spec.name:
                raise ValueError(f"not a MIDI map for synth '{self.spec.name}'")
            bindings = {int(cc): str(name) for cc, name in data["cc"].items()}
            for cc, name in bindings.items():
                self._check(cc, name)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SpecError(f"{self.path}: unusable MIDI map ({exc}); fix or remove it") from None
        return bindings

    def _check(self, cc: int, name: str) -> None:
        self.spec.param(name)
        if not 0 <= cc <= 127 or cc in RESERVED:
            raise SpecError(f"CC {cc} cannot be bound (0..119 only)")

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
            data = {"format": MAP_FORMAT, "version": MAP_VERSION, "synth": self.spec.name, "cc": self.learned}
            ensure_folder(self.path.parent)
            atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return param
