"""The model file's description, declared once: the ONNX metadata keys, their types and the format version.

``inversynth export`` writes it, ``inversynth calibrate`` adds ``calibration``, inference reads and checks
it. ONNX stores strings; integers are written in decimal, lists and dicts as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from inversynth.engine.spec import SynthSpec
from inversynth.errors import InversynthError

FORMAT = "inversynth-model"
FORMAT_VERSION = 1

# Every key a model file has, with its type.
REQUIRED: dict[str, type] = {
    "format": str,
    "format_version": int,
    "synth": str,
    "spec_version": int,
    "spec_fingerprint": str,
    "params": list,
    "class_values": dict,
    "head_bins": dict,
    "units": dict,
    "sample_rate": int,
    "clip_samples": int,
    "model": str,
    "loss": str,
    "training_data": dict,
    "training_seed": int,
    "epochs": int,
    "inversynth_version": str,
    "exported": str,
}
# Keys a file may lack, and what their absence means: files exported before variants existed drive the
# synth's own spec; a file not yet calibrated has no temperatures or verdict lines of its own.
OPTIONAL: dict[str, tuple[type, Any]] = {"variant": (dict, {}), "calibration": (dict, {})}


class ModelFileError(InversynthError):
    """A model file that cannot be used: not ONNX, not ours, or made for another synth or version."""


def spec_keys(spec: SynthSpec) -> dict[str, Any]:
    """What a model says about the synth it drives; inference requires the synth's own values."""
    return {
        "synth": spec.name,
        "spec_version": spec.version,
        "spec_fingerprint": spec.fingerprint(),
        "params": list(spec.names),
        "class_values": {p.name: list(p.classes) for p in spec.params},
        "head_bins": {p.name: p.n_bins for p in spec.params},
        "units": {p.name: p.unit for p in spec.params},
        "sample_rate": spec.sample_rate,
        "clip_samples": spec.clip_samples,
    }


def _type_of(key: str) -> type:
    return REQUIRED[key] if key in REQUIRED else OPTIONAL[key][0]


def encode(values: Mapping[str, Any]) -> dict[str, str]:
    """Typed values -> the strings stored in the file; a key that is not declared is a bug (KeyError)."""
    encoded = {}
    for key, value in values.items():
        kind = _type_of(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"model metadata {key!r} must be {kind.__name__}, not {type(value).__name__}")
        encoded[key] = json.dumps(value) if kind in (list, dict) else str(value)
    return encoded


def decode(stored: Mapping[str, str], name: str) -> dict[str, Any]:
    """The strings of a file named ``name`` -> typed values (optional keys filled in); one-line errors."""
    if stored.get("format") != FORMAT:
        raise ModelFileError(f"{name} is not an inversynth model (no '{FORMAT}' metadata)")
    missing = sorted(set(REQUIRED) - set(stored))
    if missing:
        raise ModelFileError(f"{name} lacks model metadata {', '.join(missing)}")
    values: dict[str, Any] = {key: default for key, (_, default) in OPTIONAL.items()}
    for key, text in stored.items():
        if key not in REQUIRED and key not in OPTIONAL:
            continue  # a later version's addition: ignored, as the format version allows
        kind = _type_of(key)
        try:
            value = json.loads(text) if kind in (list, dict) else kind(text)
        except ValueError:
            raise ModelFileError(f"{name} has an unreadable {key} ({text[:40]!r})") from None
        if not isinstance(value, kind):
            raise ModelFileError(f"{name} has {key} of the wrong kind (a {kind.__name__} is needed)")
        values[key] = value
    if values["format_version"] > FORMAT_VERSION:
        raise ModelFileError(
            f"{name} is model format {values['format_version']}; this inversynth reads up to {FORMAT_VERSION}"
        )
    return values
