"""Variants of a synth's spec (classes, clip length, sample rate): from the dataset through training and
export to matching, each recognised by its own fingerprint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inversynth.bridge.matching.inference import Estimator
from inversynth.engine.synths import get_spec
from inversynth.errors import InversynthError, SpecError
from inversynth.training.dataset import Dataset, build, plan


def test_a_variant_regrids_every_parameter_over_its_own_classes():
    spec = get_spec("original")
    finer = spec.variant(classes=31, seconds=0.5, sample_rate=22050)
    c, m = finer.param("C"), finer.param("M")
    assert c.classes[0] == 440.0 and c.classes[-1] == spec.param("C").classes[-1]
    assert c.classes[2] == pytest.approx(440.0 * 2 ** (1 / 12))  # quarter tones: every other is a semitone
    assert c.n_bins == spec.param("C").n_bins  # a pitch head of its own keeps its bins
    assert m.classes == pytest.approx(tuple(np.linspace(1, 30, 31))) and m.n_bins == 31
    assert finer.clip_samples == 11025 and finer.fingerprint() != spec.fingerprint()
    assert spec.variant(classes=16).fingerprint() == spec.fingerprint()
    assert get_spec("original", {"classes": 31, "seconds": 0.5, "sample_rate": 22050}) == finer
    with pytest.raises(SpecError, match="not shape"):
        get_spec("original", {"shape": 3})
    with pytest.raises(SpecError, match=r"2\.\.1024 classes"):
        spec.variant(classes=1)


@pytest.fixture(scope="module")
def variant_model(tmp_path_factory):
    from inversynth.training.export import export
    from inversynth.training.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("variant")
    info = plan(
        "original", size=96, seed=3, shard_size=32, variant={"classes": 24, "seconds": 0.5, "sample_rate": 8192}
    )
    build(folder / "data", info)
    train(TrainConfig(synth="original", model="fmnet", data=str(folder / "data"), out=str(folder / "run"), epochs=1,
                      batch_size=16, val_clips=16))  # fmt: skip
    export(folder / "run", folder / "model.onnx")
    return folder


def test_a_variant_travels_from_dataset_to_run_to_model(variant_model):
    data = Dataset(variant_model / "data")
    assert data.spec.sample_rate == 8192 and data.spec.clip_samples == 4096 and data.spec.param("A").n_classes == 24
    assert data.audio(0).shape == (4096,)
    config = json.loads((variant_model / "run" / "config.json").read_text())
    assert config["data_info"]["variant"] == {"classes": 24, "seconds": 0.5, "sample_rate": 8192}
    estimator = Estimator(variant_model / "model.onnx")
    assert estimator.spec.fingerprint() == data.spec.fingerprint()
    assert estimator.metadata["variant"] == {"classes": 24, "seconds": 0.5, "sample_rate": 8192}
    assert estimator.estimate(data.audio_batch(np.arange(4))).argmax.shape == (4, 9)


def test_a_model_scores_only_its_own_variant(variant_model, small_dataset):
    from inversynth.training.evaluate import evaluate

    report = evaluate(variant_model / "model.onnx", variant_model / "data", baselines=False)
    assert report["clips"] == 96
    with pytest.raises(InversynthError, match=r"was trained for synth .original. at 8192 Hz, 0\.5 s, 24 classes"):
        evaluate(variant_model / "model.onnx", small_dataset, baselines=False)
