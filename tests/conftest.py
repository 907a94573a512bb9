"""Shared fixtures: a seeded rng, the spec, this process's renderer, small datasets and a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec
from inversynth.training.dataset import build, plan

SEED = 20181215  # the paper's arXiv month; any fixed value works

# What `make test-fast` leaves out is marked here, from what a test needs, so no test can forget it:
LIVE_FIXTURES = {"jack_server"}  # a JACK server on its dummy driver (tests/live/conftest.py)
# tests/live/ is the live floor's: a running server, its audio process, the match worker's process.
TRAINING_FIXTURES = {"trained_run", "exported_model"}  # a torch model trained for the session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        if needs & LIVE_FIXTURES or item.path.parent.name == "live":
            item.add_marker(pytest.mark.live)
        if needs & TRAINING_FIXTURES or item.path.parent.name == "training":
            item.add_marker(pytest.mark.training)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def spec() -> SynthSpec:
    return get_spec("original")


@pytest.fixture
def offline():
    """This process's pyo renderer for the original synth (pyo allows one server per process,
    so a test that renders at another rate replaces it; asking each time gets the current one)."""
    from inversynth.engine.render import pyo_renderer

    return pyo_renderer("original")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """400 clips of the original synth (seed 7), rendered by the engine."""
    folder = tmp_path_factory.mktemp("data") / "small"
    build(folder, plan("original", size=400, seed=7, shard_size=128), workers=1)
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, small_dataset) -> Path:
    """fmnet trained for one short epoch on the small dataset."""
    from inversynth.training.train import TrainConfig, train

    run = tmp_path_factory.mktemp("runs") / "fmnet"
    train(
        TrainConfig(
            synth="original",
            model="fmnet",
            data=str(small_dataset),
            out=str(run),
            epochs=1,
            batch_size=32,
            val_clips=64,
        )
    )
    return run


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory, trained_run) -> Path:
    from inversynth.training.export import export

    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    export(trained_run, path)
    return path
