"""ONNX inference: audio clips -> estimated patches, with onnxruntime only (no torch).

A pipeline of small steps: model logits -> softmax per parameter -> class
index and confidence -> real values from the spec -> a validated patch. The
model file describes itself (see ``training/export.py``); a file made for
another synth, another version of it, or another audio format is refused with
one line saying what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec
from inversynth.errors import InversynthError, SpecError

MODEL_FORMAT = "inversynth-model"
# The shipped model, installed with the package.
DEFAULT_MODEL = Path(__file__).with_name("models") / "original-fmnet.onnx"


class ModelFileError(InversynthError):
    """A model file is unreadable or does not fit the synth."""


@dataclass(frozen=True)
class Estimate:
    """Estimated patches of a batch of clips.

    Attributes:
        classes: int [n, params], the most likely class per parameter.
        confidence: float [n, params], its softmax probability.
        probabilities: float [n, params, classes].
        values: float [n, params], the class values in real units.
    """

    classes: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    values: np.ndarray

    def patch(self, spec: SynthSpec, row: int) -> dict[str, float]:
        return spec.from_array(self.values[row])


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


class Estimator:
    """An ONNX model bound to its synth; ``estimate(audio)`` for clips in the spec's format."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else DEFAULT_MODEL
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
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.spec = self._check_metadata()

    def _check_metadata(self) -> SynthSpec:
        meta, name = self.metadata, self.path.name
        if meta.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{name} is not an inversynth model (no '{MODEL_FORMAT}' metadata)")
        try:
            spec = get_spec(meta.get("synth", ""))
        except SpecError as exc:
            raise ModelFileError(f"{name} was made for {exc}") from None
        if meta.get("spec_fingerprint") != spec.fingerprint():
            raise ModelFileError(
                f"{name} was trained for another version of synth '{spec.name}' "
                f"(spec {meta.get('spec_fingerprint')}, this one is {spec.fingerprint()})"
            )
        expected = {
            "params": json.dumps(list(spec.names)),
            "sample_rate": str(spec.sample_rate),
            "clip_samples": str(spec.clip_samples),
        }
        for key, value in expected.items():
            if meta.get(key) != value:
                raise ModelFileError(f"{name} has {key} {meta.get(key)}, synth '{spec.name}' needs {value}")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(f"{name} must have one audio input and one logits output")
        return spec

    @property
    def model_name(self) -> str:
        return self.metadata.get("model", "unknown")

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """float32 [n, clip_samples] -> logits [n, params, classes]."""
        batch = np.ascontiguousarray(audio, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] != self.spec.clip_samples:
            raise ModelFileError(f"model input must be [n, {self.spec.clip_samples}], got {list(batch.shape)}")
        return self.session.run(None, {self.session.get_inputs()[0].name: batch})[0]

    def estimate(self, audio: np.ndarray) -> Estimate:
        logits = self.logits(audio).astype(np.float64)
        broken = ~np.isfinite(logits).all(axis=(1, 2))
        if broken.any():
            raise ModelFileError(f"{self.path.name} gave non-finite scores for {int(broken.sum())} clip(s)")
        probabilities = softmax(logits)
        classes = probabilities.argmax(axis=-1)
        confidence = np.take_along_axis(probabilities, classes[..., None], axis=-1)[..., 0]
        return Estimate(classes, confidence, probabilities, self.spec.classes_to_values(classes))
