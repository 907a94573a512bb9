"""Declarative parameter specs: the single source of truth about a synth.

A :class:`SynthSpec` is a table of frozen :class:`Param` records. Everything
else — voices, datasets, model heads, presets, OSC addresses, MIDI maps —
reads names, ranges, units and classes from here and nowhere else.

Three views of a value exist and only this module converts between them:

* real units (Hz, seconds, gain), what the voice plays;
* normalised 0..1, linear or logarithmic in the real value by ``scale``;
* class index 0..n-1, the nearest of the param's class values (measured in
  normalised space, so log-scaled params round like a musician's ear).

Models do not predict classes directly: each parameter has a *head* of
``bins`` positions evenly spaced over its whole normalised range (by default
as many as its classes, which then coincide with them). A head's softmax gives
an arg-max value and an expectation; the classes stay for the paper's figures
(probability mass of the bins nearest to each class).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import numpy as np

from inversynth.errors import SpecError

Scale = Literal["linear", "log"]
SCALES: tuple[Scale, ...] = ("linear", "log")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Real values this close outside the range (relative to its width) are rounding, not mistakes.
_RANGE_SLACK = 1e-9


def _format(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True)
class Param:
    """One synth parameter.

    Attributes:
        name: stable identifier; presets, OSC addresses and datasets key on it.
        unit: unit of the real value ("Hz", "s", "" for plain gains).
        minimum, maximum: the playable range in real units (inclusive).
        classes: the values a model chooses among, strictly increasing, inside the range.
        default: real value of a fresh patch.
        description: one line for help texts and UIs.
        scale: "linear" or "log" mapping between real value and 0..1.
        midi_cc: default MIDI continuous controller, or None.
        bins: size of the model head (positions evenly spaced over the normalised range);
            None: one per class (the classes must then be those positions).
        rate: a rate in Hz (an LFO, a gate) that may follow the tempo at a note division.
        jumps: its sound changes in jumps from one bin to the next, not smoothly (a local search cannot
            follow it), so the refinement tries its bins one by one (``bridge/matching/refine.py``).
        swings_pitch: it sets how far a pitch swings (a vibrato's or a frequency modulation's depth);
            at its minimum that pitch is steady, where the pitch rule tries it (``pitch_rule.py``).
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    classes: tuple[float, ...]
    default: float
    description: str
    scale: Scale = "linear"
    midi_cc: int | None = None
    bins: int | None = None
    rate: bool = False
    jumps: bool = False
    swings_pitch: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SpecError(f"parameter name {self.name!r} is not an identifier (letters, digits, _)")
        if self.scale not in SCALES:
            raise SpecError(f"parameter '{self.name}' has scale {self.scale!r}; use one of {SCALES}")
        if not self.minimum < self.maximum:
            raise SpecError(f"parameter '{self.name}' has minimum {self.minimum} >= maximum {self.maximum}")
        if self.scale == "log" and self.minimum <= 0:
            raise SpecError(f"parameter '{self.name}' is log-scaled but its minimum {self.minimum} <= 0")
        if len(self.classes) < 2 or any(b <= a for a, b in zip(self.classes, self.classes[1:], strict=False)):
            raise SpecError(f"parameter '{self.name}' needs at least 2 strictly increasing class values")
        for value in (*self.classes, self.default):
            self.validate(value)
        if self.midi_cc is not None and not 0 <= self.midi_cc <= 127:
            raise SpecError(f"parameter '{self.name}' has MIDI CC {self.midi_cc}, outside 0..127")
        if self.bins is None and not np.allclose(self._class_positions(), np.linspace(0, 1, self.n_classes)):
            raise SpecError(f"parameter '{self.name}': classes do not span the range evenly; give its head 'bins'")
        if self.bins is not None and self.bins < 2:
            raise SpecError(f"parameter '{self.name}' needs at least 2 head bins, got {self.bins}")
        if self.rate and self.unit != "Hz":
            raise SpecError(f"parameter '{self.name}' is marked a rate but its unit is {self.unit!r}, not Hz")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_bins(self) -> int:
        """Size of the model head for this parameter."""
        return self.bins or self.n_classes

    def bin_positions(self) -> np.ndarray:
        """Normalised positions of the head's bins, evenly spaced over 0..1."""
        return np.linspace(0.0, 1.0, self.n_bins)

    def bin_classes(self) -> np.ndarray:
        """For each head bin, the index of its nearest class (in normalised space)."""
        return np.abs(self.bin_positions()[:, None] - self._class_positions()[None, :]).argmin(axis=1)

    def range_text(self) -> str:
        """The range as people read it: "1..30 Hz"."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{_format(self.minimum)}..{_format(self.maximum)}{unit}"

    def validate(self, value: object) -> float:
        """Return ``value`` as a float inside the range, or raise SpecError saying why not."""
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise SpecError(f"parameter '{self.name}' = {value!r} is not a number (expected {self.range_text()})")
        real = float(value)
        if math.isnan(real) or math.isinf(real):
            raise SpecError(f"parameter '{self.name}' = {real} is not finite (expected {self.range_text()})")
        slack = _RANGE_SLACK * (self.maximum - self.minimum)
        if not self.minimum - slack <= real <= self.maximum + slack:
            unit = f" {self.unit}" if self.unit else ""
            raise SpecError(f"parameter '{self.name}' = {_format(real)}{unit} is outside {self.range_text()}")
        return min(max(real, self.minimum), self.maximum)

    def parse(self, text: str) -> float:
        """Validate a value typed by a person (CLI, terminal UI)."""
        try:
            value = float(text)
        except ValueError:
            raise SpecError(
                f"parameter '{self.name}' = {text!r} is not a number (expected {self.range_text()})"
            ) from None
        return self.validate(value)

    def normalise(self, value: float) -> float:
        """Real units -> 0..1 (validated)."""
        real = self.validate(value)
        if self.scale == "log":
            return math.log(real / self.minimum) / math.log(self.maximum / self.minimum)
        return (real - self.minimum) / (self.maximum - self.minimum)

    def denormalise(self, position: float) -> float:
        """0..1 -> real units; outside 0..1 raises SpecError."""
        if isinstance(position, bool) or not isinstance(position, (int, float, np.integer, np.floating)):
            raise SpecError(f"normalised '{self.name}' = {position!r} is not a number (expected 0..1)")
        x = float(position)
        if not 0.0 <= x <= 1.0:  # also rejects NaN
            raise SpecError(f"normalised '{self.name}' = {x} is outside 0..1")
        if self.scale == "log":
            real = self.minimum * (self.maximum / self.minimum) ** x
        else:
            real = self.minimum + x * (self.maximum - self.minimum)
        return min(max(real, self.minimum), self.maximum)

    def class_index(self, value: float) -> int:
        """Index of the class value nearest to ``value`` in normalised space."""
        position = self.normalise(value)
        return int(np.argmin(np.abs(self._class_positions() - position)))

    def _class_positions(self) -> np.ndarray:
        return np.array([self.normalise(v) for v in self.classes])

    def normalise_array(self, values: np.ndarray) -> np.ndarray:
        """Real units -> 0..1 for an array (no validation; values outside the range go outside 0..1)."""
        real = np.asarray(values, dtype=np.float64)
        if self.scale == "log":
            return np.log(real / self.minimum) / math.log(self.maximum / self.minimum)
        return (real - self.minimum) / (self.maximum - self.minimum)

    def denormalise_array(self, positions: np.ndarray) -> np.ndarray:
        """0..1 -> real units for an array, clipped to the range."""
        x = np.clip(np.asarray(positions, dtype=np.float64), 0.0, 1.0)
        if self.scale == "log":
            real = self.minimum * (self.maximum / self.minimum) ** x
        else:
            real = self.minimum + x * (self.maximum - self.minimum)
        return np.clip(real, self.minimum, self.maximum)


Pitch = TypeVar("Pitch", float, np.ndarray)


def note_frequency(note: Pitch) -> Pitch:
    """Equal-tempered pitch of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def nearest_note(frequency: float) -> int:
    return round(69 + 12 * math.log2(frequency / 440.0))


KEYBOARD = (24, 108)  # MIDI notes C1 .. C8: what the synths play, and what their models hear
ORIGINAL_SEMITONES = tuple(440.0 * 2 ** (n / 12) for n in range(16))  # A4 .. C6: the original project's classes


def keyboard_param(name: str, default: float, description: str, **fields: Any) -> Param:
    """A pitch over the whole keyboard (log, one head bin per note of KEYBOARD) whose classes are the
    original project's 16 semitones A4..C6, as both synths' pitches are."""
    low, high = KEYBOARD
    return Param(name, "Hz", note_frequency(low), note_frequency(high), ORIGINAL_SEMITONES, default, description,
                 scale="log", bins=high - low + 1, **fields)  # fmt: skip


def linear_classes(low: float, high: float, count: int) -> tuple[float, ...]:
    """``count`` evenly spaced class values, both ends included (numpy's linspace)."""
    return tuple(float(v) for v in np.linspace(low, high, count))


CHANNEL_SOURCES = ("wheel", "pressure")
NOTE_SOURCES = ("note_pressure", "slide")
MOD_SOURCES = CHANNEL_SOURCES + NOTE_SOURCES
"""Modulation sources, each 0..1: the mod wheel (CC 1) and channel pressure act on every voice; a
note's own pressure (polyphonic key pressure, or an MPE member channel's pressure) and its MPE slide
(CC 74 on a member channel) act on that note's voice."""


@dataclass(frozen=True)
class ModRoute:
    """``source`` (0..1) moves ``param`` by up to ``amount`` of its normalised range (-1..1)."""

    source: str
    param: str
    amount: float

    def __post_init__(self) -> None:
        if self.source not in MOD_SOURCES:
            raise SpecError(f"modulation source {self.source!r} is unknown; use one of {', '.join(MOD_SOURCES)}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int | float) or not -1 <= self.amount <= 1:
            raise SpecError(f"modulation amount {self.amount!r} for {self.source} -> {self.param} is outside -1..1")


ParamsUpgrade = Callable[[Mapping[str, float]], dict[str, float]]
"""Turns a patch (parameter values, possibly partial) of one spec version into the next version's."""

# What a model depends on: changing anything else (descriptions, defaults, MIDI CCs, rate marks,
# modulation routes) leaves models and datasets valid.
_MODEL_FIELDS = ("name", "unit", "minimum", "maximum", "classes", "scale", "bins")


@dataclass(frozen=True)
class SynthSpec:
    """A synth's parameters plus the audio format its models learn from.

    Attributes:
        name: registry name ("original").
        version: bumped whenever a change would make old presets or models sound different.
        description: one line.
        sample_rate: sample rate (Hz) of datasets and model input.
        clip_seconds: length (s) of one dataset clip.
        params: the parameters, in the order of arrays, labels and model heads.
        modulation: the default modulation routes (MIDI learn's config may replace them).
        upgrades: version n -> the function that carries a patch of version n to n + 1, so presets
            saved under an older version load with their sound (models are refused instead).
        close_db: the verdicts' line of "close" (dB of ``analysis.match_distance``): the synth's own
            one-class step, the distance three in four nudges of one parameter by one class stay within
            (measured in docs/BENCHMARKS.md): a close match sounds like its target with a knob a notch off.
    """

    name: str
    version: int
    description: str
    sample_rate: int
    clip_seconds: float
    params: tuple[Param, ...]
    modulation: tuple[ModRoute, ...] = ()
    upgrades: Mapping[int, ParamsUpgrade] = field(default_factory=dict, compare=False)
    close_db: float = 6.0
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {p.name: p for p in self.params}
        if len(by_name) != len(self.params):
            raise SpecError(f"synth '{self.name}' names a parameter twice")
        ccs = [p.midi_cc for p in self.params if p.midi_cc is not None]
        for cc in ccs:
            if ccs.count(cc) > 1:
                raise SpecError(f"synth '{self.name}': MIDI CC {cc} is mapped twice")
        object.__setattr__(self, "_by_name", by_name)
        for route in self.modulation:
            self.param(route.param)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def columns(self) -> dict[str, int]:
        """Each parameter's column in a row of values (spec order)."""
        return {p.name: j for j, p in enumerate(self.params)}

    @property
    def clip_samples(self) -> int:
        return round(self.clip_seconds * self.sample_rate)

    def param(self, name: str) -> Param:
        try:
            return self._by_name[name]
        except KeyError:
            raise SpecError(
                f"unknown parameter {name!r} for synth '{self.name}'; known: {', '.join(self.names)}"
            ) from None

    def upgrade_patch(self, values: Mapping[str, float], version: int) -> dict[str, float]:
        """A patch saved under spec ``version`` (older or current) as this version plays it.

        Raises SpecError for a newer version, or an older one no upgrade reaches."""
        if version > self.version:
            raise SpecError(
                f"made for version {version} of synth '{self.name}', newer than this inversynth's {self.version}"
            )
        patch = dict(values)
        while version < self.version:
            if version not in self.upgrades:
                raise SpecError(f"version {version} of synth '{self.name}' cannot be read (this is {self.version})")
            patch = self.upgrades[version](patch)
            version += 1
        return patch

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def patch(self, values: Mapping[str, object] | None = None) -> dict[str, float]:
        """A complete, validated patch: spec defaults overridden by ``values``."""
        patch = self.defaults()
        for name, value in (values or {}).items():
            patch[name] = self.param(name).validate(value)
        return patch

    def parse_assignments(self, assignments: Iterable[str]) -> dict[str, float]:
        """Parse ``NAME=VALUE`` strings typed by a person into validated real values."""
        values: dict[str, float] = {}
        for item in assignments:
            name, sep, text = item.partition("=")
            if not sep:
                raise SpecError(f"{item!r} is not NAME=VALUE (e.g. M=12.6)")
            if name.strip() in values:
                raise SpecError(f"parameter '{name.strip()}' is given twice ({item!r}); give each once")
            values[name.strip()] = self.param(name.strip()).parse(text.strip())
        return values

    def to_array(self, patch: Mapping[str, float]) -> np.ndarray:
        """A complete patch -> float64 array in spec order."""
        full = self.patch(patch)
        return np.array([full[n] for n in self.names], dtype=np.float64)

    def from_array(self, values: np.ndarray) -> dict[str, float]:
        """Float array in spec order -> validated patch."""
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if row.shape[0] != len(self.params):
            raise SpecError(f"synth '{self.name}' has {len(self.params)} parameters, got {row.shape[0]} values")
        return {p.name: p.validate(float(v)) for p, v in zip(self.params, row, strict=True)}

    def validate_rows(self, rows: np.ndarray) -> np.ndarray:
        """Check many patches at once (real values, shape [n, n_params]) -> float64 copy, clipped.

        Raises SpecError naming the first offending row and parameter.
        """
        values = np.array(rows, dtype=np.float64, ndmin=2)
        if values.ndim != 2 or values.shape[1] != len(self.params):
            raise SpecError(
                f"synth '{self.name}' patches need shape [n, {len(self.params)}], got {list(np.shape(rows))}"
            )
        low = np.array([p.minimum for p in self.params])
        high = np.array([p.maximum for p in self.params])
        slack = _RANGE_SLACK * (high - low)
        bad = ~((values >= low - slack) & (values <= high + slack))  # NaN is bad too
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad)[0])
            try:
                self.params[column].validate(float(values[row, column]))
            except SpecError as exc:
                raise SpecError(f"patch {row}: {exc}") from None
        return np.clip(values, low, high)

    def class_table(self) -> np.ndarray:
        """Class values, shape [n_params, max_classes], NaN where a param has fewer classes."""
        width = max(p.n_classes for p in self.params)
        table = np.full((len(self.params), width), np.nan)
        for i, p in enumerate(self.params):
            table[i, : p.n_classes] = p.classes
        return table

    def classes_to_values(self, indices: np.ndarray) -> np.ndarray:
        """Class indices, shape [..., n_params] -> real values, same shape (float64)."""
        idx = np.asarray(indices)
        if idx.shape[-1] != len(self.params):
            raise SpecError(f"synth '{self.name}' has {len(self.params)} parameters, got {idx.shape[-1]} classes")
        counts = np.array([p.n_classes for p in self.params])
        if (idx < 0).any() or (idx >= counts).any():
            raise SpecError(f"class indices outside 0..n_classes-1 for synth '{self.name}'")
        table = self.class_table()
        return table[np.arange(len(self.params)), idx]

    def values_to_classes(self, values: np.ndarray) -> np.ndarray:
        """Real values, shape [..., n_params] -> nearest class indices (int64)."""
        vals = np.asarray(values, dtype=np.float64)
        out = np.empty(vals.shape, dtype=np.int64)
        for i, p in enumerate(self.params):
            positions = p.normalise_array(vals[..., i])
            out[..., i] = np.abs(positions[..., None] - p._class_positions()).argmin(axis=-1)
        return out

    def normalise_rows(self, values: np.ndarray) -> np.ndarray:
        """Real values [..., n_params] -> normalised positions, same shape."""
        vals = np.asarray(values, dtype=np.float64)
        return np.stack([p.normalise_array(vals[..., i]) for i, p in enumerate(self.params)], axis=-1)

    def denormalise_rows(self, positions: np.ndarray) -> np.ndarray:
        """Normalised positions [..., n_params] -> real values (clipped to the ranges), same shape."""
        pos = np.asarray(positions, dtype=np.float64)
        return np.stack([p.denormalise_array(pos[..., i]) for i, p in enumerate(self.params)], axis=-1)

    @property
    def max_bins(self) -> int:
        """Width of the model output: the largest head (smaller heads are padded)."""
        return max(p.n_bins for p in self.params)

    def two_hot(self, values: np.ndarray) -> np.ndarray:
        """Real values [n, params] -> two-hot weights over each head's bins [n, params, max_bins].

        A value between two bins splits its weight between them by distance, so the expectation
        under it is the value itself: a model trained on it can answer between bins.
        """
        positions = np.clip(self.normalise_rows(values), 0.0, 1.0)
        weights = np.zeros((*positions.shape, self.max_bins))
        rows = np.arange(positions.shape[0])
        for j, p in enumerate(self.params):
            x = positions[:, j] * (p.n_bins - 1)
            low = np.minimum(np.floor(x).astype(np.int64), p.n_bins - 2)
            weights[rows, j, low] = 1.0 - (x - low)
            weights[rows, j, low + 1] += x - low
        return weights

    def random_values(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` patches drawn uniformly over every param's normalised range (log-uniform for log
        params), real values [count, n_params]: off the class grid, the whole playable range."""
        return self.denormalise_rows(rng.random((count, len(self.params))))

    def random_classes(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` patches drawn uniformly over every param's classes, shape [count, n_params]."""
        highs = np.array([p.n_classes for p in self.params])
        return rng.integers(0, highs, size=(count, len(self.params)), dtype=np.int64)

    def variant(
        self, classes: int | None = None, seconds: float | None = None, sample_rate: int | None = None
    ) -> SynthSpec:
        """This synth with another grid, clip length or sample rate (the original generator's --num_classes,
        --length and --sample_rate): its own fingerprint, so datasets and models of a variant match only it.

        ``classes`` gives every parameter that many class values, evenly spaced (along its scale) over the
        span of its own classes: the whole range, or for a pitch whose classes are A4..C6, that octave
        and a third more finely. A parameter's head keeps its ``bins`` when it has its own, else follows.
        """
        params = self.params
        if classes is not None:
            if not 2 <= classes <= 1024:
                raise SpecError(f"a variant needs 2..1024 classes per parameter, not {classes}")
            params = tuple(_regrid(p, classes) for p in self.params)
        if seconds is not None and not 0.05 <= seconds <= 30:
            raise SpecError(f"a variant's clips last 0.05..30 s, not {seconds}")
        if sample_rate is not None and not 4000 <= sample_rate <= 192000:
            raise SpecError(f"a variant's sample rate is 4000..192000 Hz, not {sample_rate}")
        return replace(
            self,
            params=params,
            clip_seconds=float(seconds) if seconds is not None else self.clip_seconds,
            sample_rate=int(sample_rate) if sample_rate is not None else self.sample_rate,
        )

    def fingerprint(self) -> str:
        """A short hash of what models and datasets depend on (they record it): the audio format and
        each parameter's name, unit, range, scale, classes and head."""
        model = {
            "name": self.name,
            "version": self.version,
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "params": [{key: getattr(p, key) for key in _MODEL_FIELDS} for p in self.params],
        }
        canonical = json.dumps(model, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _regrid(param: Param, count: int) -> Param:
    """``param`` with ``count`` classes evenly spaced (along its scale) between its first and last class."""
    if count == param.n_classes:
        return param  # the spec's own grid, to the last bit
    if param.scale == "linear":
        classes = np.linspace(param.classes[0], param.classes[-1], count)
    else:
        classes = param.classes[0] * (param.classes[-1] / param.classes[0]) ** np.linspace(0.0, 1.0, count)
    classes[[0, -1]] = param.classes[0], param.classes[-1]
    return replace(param, classes=tuple(float(v) for v in classes))
