"""inversynth bench deviation: its split adds up, and its overall figures are evaluate's."""

from __future__ import annotations

import json

import pytest

from inversynth.bridge.matching.inference import shipped_model
from inversynth.training.dataset import build, plan
from inversynth.training.evaluate import evaluate
from tests.helpers import run_cli


@pytest.mark.slow
def test_the_split_covers_every_clip_and_agrees_with_evaluate(tmp_path):
    data = tmp_path / "data"
    build(data, plan("paper", size=64, seed=5, shard_size=32), workers=2)
    model = shipped_model("paper")
    result = run_cli("bench", "deviation", str(model), str(data), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report) == 16 and report["f_sine"]["mpr"][0] >= 0
    figures = evaluate(model, data, baselines=False)["figures"]["fmnet"]["params"]
    for name, entry in report.items():
        assert sum(entry["clips"]) == 64
        assert entry["mpr"][0] == pytest.approx(figures[name]["mpr"])
