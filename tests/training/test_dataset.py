"""Datasets rendered by the engine: round trip, determinism across workers, resume, refusal."""

from __future__ import annotations

import csv
import hashlib
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from inversynth.errors import DatasetError
from inversynth.training import dataset
from inversynth.training.dataset import Dataset, build, plan, shard_path


def _digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in a dataset folder, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_round_trip_labels_meta_and_audio(tmp_path, spec, offline):
    info = plan("original", size=50, seed=3, shard_size=16, dtype="float32")
    assert build(tmp_path / "d", info) == 50
    data = Dataset(tmp_path / "d")
    assert len(data) == 50 and data.info.n_shards == 4
    assert data.labels.shape == (50, 9) and data.labels.dtype == np.int16
    np.testing.assert_array_equal(data.labels, spec.values_to_classes(dataset.draw_values(spec, 50, 3)))
    with open(tmp_path / "d" / "meta.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50
    for clip in (0, 17, 49):
        row = rows[clip]
        assert int(row["id"]) == clip
        for j, name in enumerate(spec.names):
            assert int(row[f"{name}_class"]) == data.labels[clip, j]
            assert float(row[name]) == pytest.approx(spec.params[j].classes[data.labels[clip, j]], rel=1e-8)
        live = offline.render(data.values[clip][None, :], spec.clip_samples)[0]  # the pyo voice
        assert np.max(np.abs(data.audio(clip) - live)) < 1e-3
    assert data.audio_batch(np.array([3, 4])).shape == (2, 16384)


def test_float16_shards_are_half_the_size_and_close(tmp_path):
    build(tmp_path / "a", plan("original", 20, 9, 20, "float32"))
    build(tmp_path / "b", plan("original", 20, 9, 20, "float16"))
    a, b = Dataset(tmp_path / "a"), Dataset(tmp_path / "b")
    assert shard_path(b.folder, 0).stat().st_size < 0.51 * shard_path(a.folder, 0).stat().st_size
    np.testing.assert_allclose(b.audio(5), a.audio(5), atol=1e-3)


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    info = plan("original", size=90, seed=11, shard_size=20)
    build(tmp_path / "one", info, workers=1)
    build(tmp_path / "two", info, workers=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    other = plan("original", size=90, seed=12, shard_size=20)
    build(tmp_path / "other", other)
    assert _digest(tmp_path / "other")["labels.npy"] != _digest(tmp_path / "one")["labels.npy"]


def test_missing_shards_are_rendered_again_and_nothing_else(tmp_path):
    info = plan("original", size=60, seed=1, shard_size=20)
    folder = tmp_path / "d"
    build(folder, info)
    before = _digest(folder)
    shard_path(folder, 1).unlink()
    with pytest.raises(DatasetError, match=r"incomplete \(1 of 3 shards missing\)"):
        Dataset(folder)
    seen: list[int] = []
    assert build(folder, info, progress=seen.append) == 20
    assert sorted(seen) == [20, 20, 20]  # resumed shards are reported too
    assert _digest(folder) == before


def test_wav_files_are_written_per_clip(tmp_path):
    import soundfile as sf

    build(tmp_path / "d", plan("original", 5, 2, 5), wav=True)
    files = sorted((tmp_path / "d" / "wav").glob("*.wav"))
    assert [f.name for f in files] == [f"{i:06d}.wav" for i in range(5)]
    audio, rate = sf.read(files[3], dtype="float32")
    assert rate == 16384
    np.testing.assert_allclose(audio, Dataset(tmp_path / "d").audio(3), atol=1e-3)


def test_a_different_request_never_touches_an_existing_dataset(tmp_path):
    folder = tmp_path / "d"
    build(folder, plan("original", 10, 1, 5))
    before = _digest(folder)
    with pytest.raises(DatasetError, match=r"already holds a different dataset \(synth original, size 10, seed 1"):
        build(folder, plan("original", 10, 2, 5))
    assert _digest(folder) == before


def test_a_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"not empty and holds no dataset\.json"):
        build(tmp_path, plan("original", 4, 1, 4))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_corrupt_description_is_reported(tmp_path):
    (tmp_path / "dataset.json").write_text("{ not json")
    with pytest.raises(DatasetError, match="is not a readable dataset description"):
        Dataset(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "dataset size 0 is outside"),
        ({"shard_size": 0}, "shard size 0 is outside"),
        ({"dtype": "int8"}, "dtype 'int8' is not one of"),
        ({"seed": -1}, "seed -1 is outside"),
    ],
)
def test_bad_requests(kwargs, message):
    with pytest.raises(DatasetError, match=message):
        plan("original", **{"size": 10, "seed": 0, **kwargs})


def test_killed_run_resumes_to_identical_bytes(tmp_path):
    """SIGKILL a real `inversynth dataset` mid-run; the rerun finishes it, byte for byte."""
    args = ["--size", "1200", "--seed", "4", "--shard-size", "50", "--workers", "1"]
    command = [sys.executable, "-m", "inversynth.cli", "dataset", *args]
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((killed / "shards").glob("audio-*.npy"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "shards").glob("audio-*.npy")))
    assert 3 <= done_before < 24, "the run should have been killed part way"
    for leftover in (killed / "shards").glob("audio-*.npy"):
        np.load(leftover)  # every shard on disk is whole
    finish = subprocess.run([*command, "--out", str(killed)], capture_output=True, text=True, check=False)
    assert finish.returncode == 0, finish.stderr
    assert "already there" in finish.stdout
    clean = tmp_path / "clean"
    build(clean, plan("original", 1200, 4, 50))
    digest_killed = {k: v for k, v in _digest(killed).items() if "/.tmp-" not in k and not k.startswith(".tmp-")}
    assert digest_killed == _digest(clean)


def test_machines_rendering_their_shares_make_the_same_bytes(tmp_path):
    info = plan("original", size=40, seed=5, shard_size=8)  # 5 shards
    build(tmp_path / "one", info, workers=1)
    shared = tmp_path / "shared"
    assert build(shared, info, share=(2, 3)) == 16  # shards 1 and 4
    with pytest.raises(DatasetError, match=r"incomplete \(3 of 5 shards missing\)"):
        Dataset(shared)
    assert build(shared, info, share=(1, 3)) + build(shared, info, share=(3, 3)) == 24
    assert _digest(shared) == _digest(tmp_path / "one")
    assert np.array_equal(
        Dataset(shared).audio_batch(np.arange(40)), Dataset(tmp_path / "one").audio_batch(np.arange(40))
    )
    with pytest.raises(DatasetError, match="need 1 <= I <= N"):
        build(shared, info, share=(4, 3))


def test_shards_on_the_command_line(tmp_path):
    from tests.helpers import run_cli

    result = run_cli("dataset", "--size", "40", "--shard-size", "8", "--shards", "2/3", "--out", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert "16 clips (share 2/3 of 40)" in result.stdout
    bad = run_cli("dataset", "--size", "40", "--shards", "4/3", "--out", str(tmp_path / "e"))
    assert bad.returncode == 2 and "'4/3' is not I/N with 1 <= I <= N" in bad.stderr


def test_several_folders_train_as_one(small_dataset, tmp_path):
    from inversynth.training.dataset import TrainingSet
    from inversynth.training.train import TrainConfig, train

    other = tmp_path / "continuous"
    build(other, plan("original", size=96, seed=8, shard_size=32, draw="continuous"), workers=1)
    joined = TrainingSet([small_dataset, other], val_clips=16)
    first, second = Dataset(small_dataset), Dataset(other)
    assert len(joined.train_clips) == 384 + 80 and len(joined.val_clips) == 32
    assert joined.val_clips.tolist() == [*range(384, 400), *range(480, 496)]  # the last 16 of each folder
    picked = np.array([3, 401, 399, 495])
    expected = np.stack([first.audio(3), second.audio(1), first.audio(399), second.audio(95)])
    assert np.array_equal(joined.audio_batch(picked), expected)
    assert np.array_equal(joined.values[picked], np.stack([first.values[3], second.values[1], first.values[399],
                                                           second.values[95]]))  # fmt: skip
    capped = TrainingSet([small_dataset, other], val_clips=16, max_clips=64)  # the first 64 of each folder
    assert capped.train_clips.tolist() == [*range(48), *range(400, 448)]

    record = train(TrainConfig(synth="original", model="fmnet", data=[str(small_dataset), str(other)],
                               out=str(tmp_path / "run"), epochs=1, batch_size=32, val_clips=16))  # fmt: skip
    assert record["steps_per_rank"] == math.ceil(464 / 32)
    sets = TrainConfig.load(tmp_path / "run").data_info["sets"]
    assert [(s["seed"], s["draw"]) for s in sets] == [(7, "grid"), (8, "continuous")]


def test_folders_of_different_specs_do_not_train_together(small_dataset, tmp_path):
    from inversynth.training.dataset import TrainingSet

    variant = tmp_path / "variant"
    build(variant, plan("original", size=64, seed=9, shard_size=32, variant={"classes": 24}), workers=1)
    with pytest.raises(DatasetError, match="one training run reads one spec"):
        TrainingSet([small_dataset, variant], val_clips=16)
    with pytest.raises(DatasetError, match="has 400 clips; need more than the 400 held for validation"):
        TrainingSet([small_dataset], val_clips=400)
