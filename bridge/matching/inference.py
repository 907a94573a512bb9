"""ONNX inference: audio clips -> estimated patches, with onnxruntime only (no torch).

A pipeline of small steps: model logits -> softmax per parameter -> class
index and confidence -> real values from the spec -> a validated patch. The
model file describes itself (``model_file``); a file made for
another synth, another version of it, or another audio format is refused with
one line saying what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.bridge.matching.model_file import ModelFileError, decode, spec_keys
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec
from inversynth.errors import SpecError

# The shipped model, installed with the package.
SHIPPED = Path(__file__).with_name("models")  # <synth>-<model>.onnx, one per synth, with its model card


def shipped_model(synth: str) -> Path:
    """The model shipped for ``synth``; ModelFileError when none is (yet)."""
    get_spec(synth)  # an unknown synth is said as such
    found = sorted(SHIPPED.glob(f"{synth}-*.onnx"))
    if not found:
        raise ModelFileError(
            f"no model is shipped for synth '{synth}'; train and export one (inversynth train, export) "
            "and pass it with --model"
        )
    return found[0]


DECODINGS = ("expected", "argmax")
DEFAULT_DECODING = "expected"  # closer in audio distance on continuous and captured clips (docs/BENCHMARKS.md)


@dataclass(frozen=True)
class Estimate:
    """Estimated patches of a batch of clips.

    Attributes:
        probabilities: float [n, params, bins], each head's softmax (calibrated when the model says how).
        argmax: float [n, params], real value of the most likely bin.
        expected: float [n, params], real value of the expectation over the whole head; for a parameter
            whose sound jumps from bin to bin (``Param.jumps``: a pitch, where between two notes every
            partial is off) the most likely bin instead.
        confidence: float [n, params], the probability that the truth lies within one bin of ``values``.
        values: float [n, params], the estimate chosen by the decoding.
        classes: int [n, params], the class nearest to ``values`` (the paper's grid).
    """

    probabilities: np.ndarray
    argmax: np.ndarray
    expected: np.ndarray
    confidence: np.ndarray
    values: np.ndarray
    classes: np.ndarray

    @classmethod
    def from_probabilities(
        cls, spec: SynthSpec, probabilities: np.ndarray, decoding: str, temperatures: np.ndarray | None = None
    ) -> Estimate:
        """Decode the model's own softmax ``probabilities``; ``temperatures`` (calibration) scale the
        confidences and the probabilities kept, never the values: a temperature above 1 would pull every
        expectation towards the middle of its range."""
        if decoding not in DECODINGS:
            raise SpecError(f"decoding {decoding!r} is not one of {', '.join(DECODINGS)}")
        positions = np.zeros((len(spec.params), probabilities.shape[2]))
        for j, p in enumerate(spec.params):
            positions[j, : p.n_bins] = p.bin_positions()
        best = probabilities.argmax(axis=-1)
        argmax = spec.denormalise_rows(np.take_along_axis(positions[None], best[..., None], axis=-1)[..., 0])
        expected = spec.denormalise_rows(np.einsum("npk,pk->np", probabilities, positions))
        jumps = np.array([p.jumps for p in spec.params])
        expected = np.where(jumps[None, :], argmax, expected)
        values = expected if decoding == "expected" else argmax
        if temperatures is not None:
            probabilities = softmax(np.log(probabilities + 1e-300) / temperatures[None, :, None])
        chosen = spec.normalise_rows(values)
        spacing = np.array([1.0 / (p.n_bins - 1) for p in spec.params])
        near = np.abs(positions[None] - chosen[..., None]) <= spacing[None, :, None] * (1 + 1e-9)
        confidence = np.where(near, probabilities, 0.0).sum(axis=-1)
        return cls(probabilities, argmax, expected, confidence, values, spec.values_to_classes(values))

    def patch(self, spec: SynthSpec, row: int) -> dict[str, float]:
        return spec.from_array(self.values[row])


@dataclass(frozen=True)
class Calibration:
    """What ``inversynth calibrate`` measured on held-out clips and stored in the model file.

    Attributes:
        temperatures: per parameter, the softmax temperature that makes confidences honest.
        exact_db, reach_db: verdict thresholds on the log-spectral distance of the final match.
    """

    temperatures: np.ndarray
    exact_db: float = 1.0
    reach_db: float = 6.0

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], spec: SynthSpec) -> Calibration:
        data = metadata["calibration"]
        temperatures = data.get("temperature", {})
        return cls(
            np.array([float(temperatures.get(name, 1.0)) for name in spec.names]),
            float(data.get("exact_db", cls.exact_db)),
            float(data.get("reach_db", cls.reach_db)),
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


class Estimator:
    """An ONNX model bound to its synth; ``estimate(audio)`` for clips in the spec's format."""

    def __init__(self, path: Path | None = None, threads: int = 1, synth: str = "original") -> None:
        """``path``: an ONNX model file; None: the model shipped for ``synth``."""
        import onnxruntime as ort

        self.path = Path(path) if path is not None else shipped_model(synth)
        if not self.path.is_file():
            raise ModelFileError(f"model file {self.path} does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelFileError(f"{self.path} is not a loadable ONNX model ({type(exc).__name__})") from None
        self.metadata = decode(self.session.get_modelmeta().custom_metadata_map, self.path.name)
        self.spec = self._check_metadata()
        self.calibration = Calibration.from_metadata(self.metadata, self.spec)

    def _check_metadata(self) -> SynthSpec:
        """The synth this file drives; ModelFileError where it was made for another (version, format)."""
        meta, name = self.metadata, self.path.name
        try:
            spec = get_spec(meta["synth"], meta["variant"])
        except (SpecError, ValueError, TypeError) as exc:  # unknown synth, or a variant this version cannot make
            raise ModelFileError(f"{name} was made for {exc}") from None
        needed = spec_keys(spec)
        if meta["spec_fingerprint"] != needed["spec_fingerprint"]:
            raise ModelFileError(
                f"{name} was trained for another version of synth '{spec.name}' "
                f"(spec {meta['spec_fingerprint']}, this one is {needed['spec_fingerprint']})"
            )
        for key in ("params", "sample_rate", "clip_samples"):
            if meta[key] != needed[key]:
                raise ModelFileError(f"{name} has {key} {meta[key]}, synth '{spec.name}' needs {needed[key]}")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(f"{name} must have one audio input and one logits output")
        return spec

    @property
    def model_name(self) -> str:
        return str(self.metadata["model"])

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """float32 [n, clip_samples] -> logits [n, params, max_bins]."""
        batch = np.ascontiguousarray(audio, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] != self.spec.clip_samples:
            raise ModelFileError(f"model input must be [n, {self.spec.clip_samples}], got {list(batch.shape)}")
        return self.session.run(None, {self.session.get_inputs()[0].name: batch})[0]

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """float32 [n, clip_samples] -> each head's softmax [n, params, max_bins], the model's own (the
        calibration's temperatures scale confidences: :meth:`estimate`)."""
        logits = self.logits(audio).astype(np.float64)
        broken = ~np.isfinite(logits).all(axis=(1, 2))
        if broken.any():
            raise ModelFileError(f"{self.path.name} gave non-finite scores for {int(broken.sum())} clip(s)")
        return softmax(logits)

    def estimate(self, audio: np.ndarray, decoding: str = DEFAULT_DECODING) -> Estimate:
        probabilities = self.probabilities(audio)
        return Estimate.from_probabilities(self.spec, probabilities, decoding, self.calibration.temperatures)
