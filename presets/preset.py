"""The preset: an immutable, validated patch with its name, tags and provenance.

On disk a preset is one JSON object::

    {"format": "inversynth-preset", "schema_version": 2,
     "synth": "original", "spec_version": 1,
     "name": "Glass bell", "author": "", "tags": ["bell"], "description": "",
     "created": "2026-11-24T17:00:00+00:00", "modified": "...",
     "params": {"C": 783.99, ...},                       # real units, keyed by spec names
     "sync": {"M": "1/8"},                               # rates that follow the tempo, at a division
     "provenance": null | {"source": ..., "model": ..., "confidence": {...}, "distance_db": ...}}

Every check raises PresetError with one line naming the file or field.

A preset saved under an older version of its synth's spec is carried over by the spec's own
upgrades (:meth:`SynthSpec.upgrade_patch`: the paper synth's v1 -> v2 keeps each oscillator's
peak frequency deviation) and written in the current version on the next save.

Older schema versions are upgraded in memory when read (:data:`UPGRADES`,
one step per version) and written back in the current version on the next
save; a file from a newer inversynth is refused, never rewritten. Version 0
is the hand-written form: an object with ``synth``, ``name`` and ``params``
and nothing else required.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from inversynth.engine.synths import get_spec
from inversynth.engine.tempo import check_divisions
from inversynth.errors import InversynthError, SpecError

FORMAT = "inversynth-preset"
SCHEMA_VERSION = 2
MAX_NAME = 200


class PresetError(InversynthError):
    """A preset or bank file is invalid, or a bank operation cannot be done."""


def _from_v0(data: dict[str, Any]) -> dict[str, Any]:
    """Hand-written presets: fill in the envelope of the format around synth, name and params."""
    synth = data.get("synth")
    try:
        spec_version = get_spec(synth).version if isinstance(synth, str) else None
    except SpecError as exc:
        raise PresetError(str(exc)) from None
    return {"tags": [], **data, "format": FORMAT, "schema_version": 1, "spec_version": spec_version}


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added tempo-synced rates: a version-1 preset syncs none."""
    return {**data, "schema_version": 2, "sync": {}}


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_v0, 1: _from_v1}
"""schema version n -> the function that turns a version-n object into version n + 1."""


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A preset object of any supported schema version, brought to the current one."""
    version = data.get("schema_version", 0 if "format" not in data else None)
    if isinstance(version, bool) or not isinstance(version, int):
        raise PresetError(f"schema version {version!r} is not a whole number")
    if version > SCHEMA_VERSION:
        raise PresetError(
            f"schema version {version} is newer than this inversynth reads ({SCHEMA_VERSION}); upgrade it"
        )
    while version < SCHEMA_VERSION:
        if version not in UPGRADES:
            raise PresetError(f"schema version {version} is not supported (this inversynth reads {SCHEMA_VERSION})")
        data = UPGRADES[version](data)
        version = data["schema_version"]
    return data


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")  # orders presets saved within a second


def _text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise PresetError(f"field '{key}' = {value!r} is not text")
    return value


@dataclass(frozen=True)
class Preset:
    """A named patch of one synth. Edits go through :meth:`changed`, which validates the copy."""

    synth: str
    name: str
    params: MappingProxyType[str, float]
    author: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    created: str = field(default_factory=now)
    modified: str = field(default_factory=now)
    provenance: MappingProxyType[str, Any] | None = None
    sync: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        name = self.name.strip()
        if not name or len(name) > MAX_NAME or any(ch in name for ch in "\x00\n\r"):
            raise PresetError(f"preset name {self.name!r} must be 1..{MAX_NAME} characters on one line")
        try:
            spec = get_spec(self.synth)
            patch = spec.patch(dict(self.params))
            missing = set(spec.names) - set(self.params)
            if missing:
                raise PresetError(f"preset '{name}' lacks parameters {', '.join(sorted(missing))}")
            sync = check_divisions(spec, dict(self.sync))
        except SpecError as exc:
            raise PresetError(f"preset '{name}': {exc}") from None
        tags = tuple(dict.fromkeys(t.strip().lower() for t in self.tags if t.strip()))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", MappingProxyType(patch))
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "sync", MappingProxyType(sync))
        if self.provenance is not None:
            object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    @classmethod
    def new(cls, synth: str, name: str, params: dict[str, float], **fields: Any) -> Preset:
        return cls(synth=synth, name=name, params=MappingProxyType(dict(params)), **fields)

    def changed(self, **fields: Any) -> Preset:
        """A validated copy with ``fields`` replaced and ``modified`` set to now."""
        if "params" in fields:
            fields["params"] = MappingProxyType({**self.params, **fields["params"]})
        return replace(self, **fields, modified=now())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "synth": self.synth,
            "spec_version": get_spec(self.synth).version,
            "name": self.name,
            "author": self.author,
            "tags": list(self.tags),
            "description": self.description,
            "created": self.created,
            "modified": self.modified,
            "params": dict(self.params),
            "sync": dict(self.sync),
            "provenance": dict(self.provenance) if self.provenance is not None else None,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, data: object) -> Preset:
        if not isinstance(data, dict):
            raise PresetError("a preset must be a JSON object")
        if "format" in data and data["format"] != FORMAT:
            raise PresetError(f"not an inversynth preset (format {data.get('format')!r})")
        data = upgrade(data)
        synth = _text(data, "synth")
        try:
            spec = get_spec(synth)
        except SpecError as exc:
            raise PresetError(str(exc)) from None
        spec_version = data.get("spec_version")
        if isinstance(spec_version, bool) or not isinstance(spec_version, int):
            raise PresetError(f"spec version {spec_version!r} of synth '{synth}' is not a whole number")
        params = data.get("params")
        if not isinstance(params, dict):
            raise PresetError("field 'params' is not an object of parameter values")
        for key, value in params.items():
            if isinstance(value, float) and math.isnan(value):
                raise PresetError(f"parameter '{key}' is NaN")
        try:
            params = spec.upgrade_patch(params, spec_version)
        except SpecError as exc:
            raise PresetError(str(exc)) from None
        tags = data.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise PresetError("field 'tags' is not a list of text")
        provenance = data.get("provenance")
        if provenance is not None and not isinstance(provenance, dict):
            raise PresetError("field 'provenance' is not an object")
        sync = data.get("sync", {})
        if not isinstance(sync, dict):
            raise PresetError("field 'sync' is not an object of divisions")
        return cls(
            synth=synth,
            name=_text(data, "name"),
            params=MappingProxyType(dict(params)),
            author=_text(data, "author"),
            tags=tuple(tags),
            description=_text(data, "description"),
            created=_text(data, "created", now()),
            modified=_text(data, "modified", now()),
            provenance=MappingProxyType(provenance) if provenance is not None else None,
            sync=MappingProxyType(sync),
        )

    @classmethod
    def loads(cls, text: str) -> Preset:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PresetError(f"not valid JSON ({exc.args[0] if exc.args else exc})") from None
        return cls.from_json(data)
