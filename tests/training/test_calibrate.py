"""Calibration: temperatures fitted on held-out clips make confidences honest and travel in the model file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from inversynth.bridge.matching.inference import Estimator, softmax
from inversynth.training.calibrate import expected_calibration_error, fit_temperature
from inversynth.training.dataset import build, plan
from tests.helpers import run_cli


def test_fit_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 16))
    truth = softmax(logits / 2.0)
    labels = np.array([rng.choice(16, p=p) for p in truth])
    targets = np.eye(16)[labels]
    assert fit_temperature(logits, targets) == pytest.approx(2.0, rel=0.15)


def test_ece_is_small_when_confidence_is_the_hit_rate_and_large_when_not():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0, 1, 20000)
    honest = rng.uniform(0, 1, confidence.size) < confidence
    assert expected_calibration_error(confidence, honest) < 0.02
    assert expected_calibration_error(np.full(confidence.size, 0.95), honest) > 0.4


def test_calibrate_writes_temperatures_and_thresholds_into_the_model(exported_model, tmp_path):
    held_out = tmp_path / "held-out"
    build(held_out, plan("original", 240, 11, 120, draw="continuous", captured=0.5))
    model = tmp_path / "m.onnx"
    shutil.copy(exported_model, model)
    before = Estimator(model)
    assert np.all(before.calibration.temperatures == 1.0)
    result = run_cli(
        "calibrate", str(model), "--data", str(held_out), "--max-clips", "240", "--refine-clips", "12", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clips"] == 240 and set(report["params"]) == set(before.spec.names)
    for row in report["params"].values():
        assert 0 <= row["ece_before"] <= 1 and 0 <= row["ece_after"] <= 1 and row["temperature"] > 0
    assert report["fitted_on_clips"] == report["ece_on_clips"] == 120  # scored on the half the fit never saw
    assert report["ece_mean_after"] <= report["ece_mean_before"] + 0.03
    after = Estimator(model)
    stored = after.metadata["calibration"]
    np.testing.assert_allclose(after.calibration.temperatures, [stored["temperature"][n] for n in after.spec.names])
    assert after.calibration.reach_db == pytest.approx(report["reach_db"]) and after.calibration.exact_db <= 1.0
    audio = np.random.default_rng(2).standard_normal((3, after.spec.clip_samples)).astype(np.float32) * 0.1
    np.testing.assert_array_equal(  # a temperature changes how sure the model is, not what it answers
        before.estimate(audio, "argmax").values, after.estimate(audio, "argmax").values
    )


def test_calibrating_on_the_training_clips_is_refused_and_evaluating_on_them_is_said(exported_model, small_dataset):
    """The tiny model was trained on small_dataset (seed 7, grid): its figures there are not held out."""
    refused = run_cli("calibrate", str(exported_model), "--data", str(small_dataset))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "trained on (seed 7, draw grid)" in refused.stderr
    said = run_cli("evaluate", str(exported_model), "--data", str(small_dataset), "--max-clips", "8", "--json")
    assert said.returncode == 0 and "are not held out" in said.stderr
    assert json.loads(said.stdout)["trained_on_these_clips"]["seed"] == 7
