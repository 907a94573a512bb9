"""``match --candidates N``: several distinct near matches of one note, ranked, each at its pitch, each
saved and written on its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from inversynth.engine.synths import get_spec
from inversynth.presets.store import Bank
from tests.helpers import run_cli
from tests.matching.test_pitch_rule import PITCH_CENTS, RATE, cents, square


@pytest.mark.slow
def test_candidates_are_distinct_ranked_at_the_pitch_and_each_saved(tmp_path):
    wav = tmp_path / "square.wav"
    sf.write(wav, square(261.63), RATE)  # no waveform of the paper synth is this band-limited square
    bank, out = tmp_path / "bank", tmp_path / "out"
    result = run_cli(
        "match", str(wav), "--synth", "paper", "--candidates", "3", "--budget-ms", "100000", "--budget-renders",
        "400", "--json", "--save-preset", "Square", "--save-out-of-reach", "--bank", str(bank), "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(found) >= 2 and [f["candidate"] for f in found] == list(range(1, len(found) + 1))
    distances = [f["distance_db"] for f in found]
    assert distances == sorted(distances)
    assert all(cents(f["sounds_at_hz"], 261.63) <= PITCH_CENTS for f in found)
    spec = get_spec("paper")
    positions = [spec.normalise_rows(spec.to_array(f["params"])) for f in found]
    for i in range(len(positions)):
        for j in range(i):
            assert np.abs(positions[i] - positions[j]).max() >= 0.1  # distinct patches, not one twice
    saved = Bank(bank).names()
    assert sorted(saved) == [f"Square {k}" for k in range(1, len(found) + 1)]
    assert (out / "square.match.wav").exists() and (out / "square.candidate2.match.wav").exists()


def test_candidates_need_the_refinement(tmp_path):
    wav = tmp_path / "square.wav"
    sf.write(wav, square(261.63), RATE)
    result = run_cli("match", str(wav), "--candidates", "2", "--no-refine")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "drop --no-refine" in result.stderr
