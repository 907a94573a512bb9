"""Shared fixtures: a seeded rng, the original synth's spec and this process's renderer."""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec

SEED = 20181215  # the paper's arXiv month; any fixed value works


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def spec() -> SynthSpec:
    return get_spec("original")


@pytest.fixture
def offline():
    """This process's offline renderer for the original synth (pyo allows one server per process,
    so a test that renders at another rate replaces it; asking each time gets the current one)."""
    from inversynth.engine.render import renderer

    return renderer("original")
