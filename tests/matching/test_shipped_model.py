"""The shipped model: it fits the synth and recovers patches the engine renders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from inversynth.bridge.matching.inference import Estimator, shipped_model
from inversynth.engine.render import render_batch
from inversynth.presets.store import FACTORY, Bank
from inversynth.training.metrics import audible_mask
from tests.helpers import run_cli


def test_shipped_model_is_small_and_describes_itself(spec):
    assert shipped_model("original").stat().st_size <= 20 * 1024 * 1024
    estimator = Estimator()
    assert estimator.spec == spec and estimator.model_name == "fmnet"
    data = estimator.metadata["training_data"]
    assert data["size"] >= 100_000


def test_shipped_model_recovers_engine_patches(spec):
    """200 fresh random class patches (seed unseen in training): the easy parameters come back."""
    rng = np.random.default_rng(99)
    labels = spec.random_classes(rng, 200)
    audio = render_batch("original", spec.classes_to_values(labels))
    estimate = Estimator().estimate(audio)
    audible = audible_mask(spec, labels)
    for name, floor in {"C": 0.95, "M": 0.8, "A": 0.8, "D": 0.9, "attack": 0.8}.items():
        j = spec.names.index(name)
        mask = audible[:, j]
        accuracy = float(np.mean(estimate.classes[mask, j] == labels[mask, j]))
        assert accuracy >= floor, f"{name}: {accuracy:.3f} < {floor}"


@pytest.mark.slow
def test_match_cli_recovers_a_factory_preset(spec, tmp_path):
    preset = Bank(FACTORY).load("Vibrato Lead")
    clip = render_batch("original", spec.to_array(dict(preset.params))[None, :])[0]
    path = tmp_path / "lead.wav"
    sf.write(path, clip, 16384, subtype="FLOAT")
    result = run_cli("match", str(path), "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["classes"]["C"] == spec.param("C").class_index(preset.params["C"])
    assert abs(found["params"]["C"] - preset.params["C"]) < 1.0
    assert found["log_spectral_distance_db"] < 6.0
