"""inversynth bench blame: its extremes are what they must be (the truth re-rendered, the estimate with
every parameter set right) and its random column costs more than knowing the truth."""

from __future__ import annotations

import json
import subprocess

import pytest

from inversynth.bridge.matching.inference import shipped_model
from inversynth.engine.synths import get_spec
from inversynth.training.dataset import build, plan
from tests.helpers import run_cli


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("bench", "blame", *args)


@pytest.mark.slow
def test_blame_rows_bracket_the_model_and_the_truth(tmp_path):
    data = tmp_path / "data"
    build(data, plan("original", size=48, seed=7, shard_size=48), workers=1)
    names = get_spec("original").names
    result = _run(str(shipped_model("original")), str(data), "--together", ",".join(names), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clips"] == 48 and report["truth"] == pytest.approx(100.0, abs=0.1)  # float16 storage only
    assert set(report["rows"]) == {*names, "+".join(names)}
    model_value, random_value, set_right = report["rows"]["+".join(names)]
    assert model_value == pytest.approx(report["model"])  # every parameter from the model: the estimate
    assert set_right == pytest.approx(report["truth"])  # every parameter set right: the truth
    assert random_value < model_value  # a random patch is further than the shipped model's


@pytest.mark.slow
def test_an_unknown_parameter_is_refused_in_one_line(tmp_path):
    data = tmp_path / "data"
    build(data, plan("original", size=8, seed=7, shard_size=8), workers=1)
    result = _run(str(shipped_model("original")), str(data), "--together", "C,nope")
    assert result.returncode != 0 and "synth 'original' has no parameter nope" in result.stderr
