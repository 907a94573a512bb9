"""Models: heads follow the spec, real training lowers the loss, DDP runs, ONNX export matches torch."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from inversynth.engine.spec import Param, SynthSpec, linear_classes
from inversynth.engine.synths import get_spec
from inversynth.training.models import MODELS, ModelError, build_model
from inversynth.training.train import TrainConfig, batches, loss_fn, train
from tests.helpers import free_port, run_cli


@pytest.mark.parametrize("name", sorted(MODELS))
def test_heads_follow_the_spec(spec, name):
    model = build_model(name, spec).eval()
    with torch.no_grad():
        logits = model(torch.zeros(3, spec.clip_samples))
    assert logits.shape == (3, len(spec.params), spec.max_bins)
    assert model.heads.linear.out_features == len(spec.params) * spec.max_bins
    for j, p in enumerate(spec.params):  # a head smaller than the widest is padded with logits nobody picks
        assert torch.all(logits[:, j, p.n_bins :] < -1e3) and torch.all(logits[:, j, : p.n_bins] > -1e3)


def test_the_papers_models_are_its_description():
    paper = get_spec("paper")
    e2e = build_model("e2e-paper", paper)
    assert e2e.front(torch.zeros(1, 1, paper.clip_samples)).shape == (1, 257, 64)  # the paper's 64 x 257 map
    assert build_model("e2e", paper).front(torch.zeros(1, 1, paper.clip_samples)).shape == (1, 257, 61)  # 'valid'
    for name, last in (("conv6xl-paper", 256), ("e2e-paper", 128)):
        convs = [m for m in build_model(name, paper).convs if isinstance(m, torch.nn.Conv2d)]
        assert [c.kernel_size for c in convs[-2:]] == [(3, 3), (3, 3)] and convs[-1].out_channels == last
    assert sum(isinstance(m, torch.nn.ReLU) for m in e2e.modules()) == 4 + 6 + 1  # every convolution, and FC-512
    assert not any(isinstance(m, torch.nn.ReLU) for m in build_model("e2e", paper).convs)


def test_heads_follow_another_spec():
    params = tuple(Param(f"p{i}", "", 0.0, 1.0, linear_classes(0, 1, 8), 0.0, "test") for i in range(3))
    other = SynthSpec("tiny", 1, "test", 8000, 0.5, params)
    logits = build_model("fmnet", other).eval()(torch.zeros(2, other.clip_samples))
    assert logits.shape == (2, 3, 8)


def test_unknown_model_and_loss_are_refused(spec):
    known = "fmnet, conv6xl, e2e, conv6xl-paper, e2e-paper"
    with pytest.raises(ModelError, match=f"unknown model 'resnet'; known: {known}"):
        build_model("resnet", spec)
    with pytest.raises(ModelError, match="unknown loss 'mse'"):
        loss_fn("mse")


def test_bce_matches_the_original_formulation():
    logits = torch.randn(4, 9, 16)
    labels = torch.randint(0, 16, (4, 9))
    targets = torch.nn.functional.one_hot(labels, 16).float()
    manual = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits).flatten(1), targets.flatten(1))
    assert float(loss_fn("bce")(logits, targets)) == pytest.approx(float(manual), rel=1e-5)


def test_ce_on_two_hot_targets_is_lowest_where_the_expectation_is_the_value(spec):
    values = spec.random_values(np.random.default_rng(0), 4)
    targets = torch.from_numpy(spec.two_hot(values)).float()
    right = torch.log(targets.clamp(min=1e-9))  # logits whose softmax is the target
    wrong = torch.log(torch.roll(targets, 1, dims=-1).clamp(min=1e-9))
    assert float(loss_fn("ce")(right, targets)) < float(loss_fn("ce")(wrong, targets))


def test_training_lowers_the_loss(spec, small_dataset, tmp_path):
    from inversynth.training.dataset import Dataset

    data = Dataset(small_dataset)
    torch.manual_seed(0)
    model = build_model("fmnet", spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss = loss_fn("ce")
    clips = np.arange(64)
    audio, labels = next(batches(data, clips, 64))
    with torch.no_grad():
        before = float(loss(model(audio), labels))
    for _ in range(25):
        optimizer.zero_grad()
        value = loss(model(audio), labels)
        value.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = float(loss(model(audio), labels))
    assert after < 0.5 * before


def test_train_writes_a_resumable_run(trained_run, small_dataset, tmp_path):
    history = [json.loads(line) for line in (trained_run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1]
    assert set(history[0]["val_accuracy"]) == {
        "C",
        "M",
        "A",
        "D",
        "attack",
        "decay",
        "sustain",
        "sustain_level",
        "release",
    }
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"] == "fmnet" and config["data_info"]["train_clips"] == 336
    assert (trained_run / "best.pt").exists() and (trained_run / "last.pt").exists()
    # asking for one more epoch resumes at epoch 2 instead of starting again (on a copy: the run is shared)
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    record = train(TrainConfig(**{**config, "epochs": 2, "out": str(copy)}))
    assert record["epoch"] == 2
    history = [json.loads(line) for line in (copy / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]


def test_init_starts_from_another_runs_weights(trained_run, small_dataset, tmp_path):
    from inversynth.training.train import load_trained

    source, _ = load_trained(trained_run)
    config = json.loads((trained_run / "config.json").read_text())
    fine = tmp_path / "fine"
    # lr 0: the one-cycle schedule never moves the weights (batch-norm statistics still follow the data)
    train(TrainConfig(**{**config, "out": str(fine), "init": str(trained_run), "lr": 0.0, "data_info": {}}))
    tuned, tuned_config = load_trained(fine)
    assert tuned_config.init == str(trained_run)
    tuned_weights = dict(tuned.named_parameters())
    for name, tensor in source.named_parameters():
        assert torch.equal(tensor, tuned_weights[name]), name
    with pytest.raises(ModelError, match=r"--init .* trained 'fmnet' for 'original' .*; this run needs 'conv6xl'"):
        train(TrainConfig(**{**config, "model": "conv6xl", "out": str(tmp_path / "other"), "init": str(trained_run)}))


def test_an_exported_model_is_read_back_as_the_network_it_was(exported_model, trained_run, small_dataset, tmp_path):
    """--init MODEL.onnx: the file's weights (its folded batch norms unfolded) compute what onnxruntime does,
    so a shipped model can be trained further when its run folder is gone; another model is refused."""
    from inversynth.bridge.matching.inference import Estimator
    from inversynth.engine.synths import get_spec
    from inversynth.training.dataset import Dataset
    from inversynth.training.export import weights_from_onnx
    from inversynth.training.models import build_model

    model = build_model("fmnet", get_spec("original"))
    model.load_state_dict(weights_from_onnx(exported_model, model))
    audio = Dataset(small_dataset).audio_batch(np.arange(16))
    with torch.no_grad():
        ours = model.eval()(torch.from_numpy(audio)).numpy()
    np.testing.assert_allclose(ours, Estimator(exported_model).logits(audio), atol=2e-3, rtol=1e-3)
    config = json.loads((trained_run / "config.json").read_text())
    train(TrainConfig(**{**config, "out": str(tmp_path / "on"), "init": str(exported_model), "epochs": 1}))
    with pytest.raises(ModelError, match=r"--init .* holds 'fmnet' for 'original' .*; this run needs 'conv6xl'"):
        train(TrainConfig(**{**config, "model": "conv6xl", "out": str(tmp_path / "no"), "init": str(exported_model)}))


def test_a_run_of_another_model_is_not_overwritten(trained_run, small_dataset):
    with pytest.raises(ModelError, match="holds a run of model 'fmnet'"):
        train(
            TrainConfig(
                synth="original", model="conv6xl", data=str(small_dataset), out=str(trained_run), epochs=1, val_clips=64
            )
        )


def test_every_rank_takes_the_same_number_of_steps():
    from inversynth.training.train import steps_per_rank

    assert steps_per_rank(129, 2, 16) == 4  # 65 and 64 clips: 4 full batches each, not 5 and 4
    assert steps_per_rank(129, 1, 16) == 9  # one process keeps its last, smaller batch
    with pytest.raises(ModelError, match="cannot give each of 2 processes one batch of 16"):
        steps_per_rank(20, 2, 16)


@pytest.mark.parametrize(("max_clips", "steps"), [(192, 4), (193, 4)])  # 128 and 129 training clips
def test_torchrun_trains_on_two_processes(small_dataset, tmp_path, max_clips, steps):
    run = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port(socket.SOCK_STREAM)),
        "-m",
        "inversynth.cli",
        "train",
        "--model",
        "fmnet",
        "--data",
        str(small_dataset),
        "--out",
        str(run),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--val-clips",
        "64",
        "--max-clips",
        str(max_clips),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((run / "history.jsonl").read_text().splitlines()[-1])
    assert record["world_size"] == 2
    progress = re.findall(r"epoch 1: step (\d+)/(\d+), loss", result.stdout)  # not a terminal: plain lines
    assert progress and progress[-1][0] == progress[-1][1] and len(progress) <= 10, result.stdout[-1000:]
    assert record["steps_per_rank"] == steps
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)  # plain tensors and numbers
    assert state["epoch"] == 1


def test_a_failing_read_ends_the_run_with_its_error(small_dataset, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(small_dataset, broken)
    values = np.load(broken / "values.npy")
    values[5, 1] = np.nan  # a training clip whose targets cannot be made
    np.save(broken / "values.npy", values)
    result = run_cli(
        "train", "--model", "fmnet", "--data", str(broken), "--out", str(tmp_path / "run"), "--epochs", "1",
        "--val-clips", "64", timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "reading the training data failed: IndexError" in result.stderr


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest logit difference outside the padding (padded logits sit near -1e4, where a float32 step is 1e-3)."""
    valid = (a > -1e3) & (b > -1e3)
    assert np.array_equal(valid, (a > -1e3) | (b > -1e3))
    return float(np.max(np.abs(a - b)[valid]))


def test_onnx_export_matches_torch(trained_run, exported_model):
    import onnxruntime as ort

    from inversynth.training.export import torch_logits

    session = ort.InferenceSession(str(exported_model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(123)
    for batch in (1, 5):
        audio = (rng.standard_normal((batch, 16384)) * rng.uniform(0.001, 1.0)).astype(np.float32)
        onnx_logits = session.run(None, {"audio": audio})[0]
        assert onnx_logits.shape == (batch, 9, 85)
        assert _max_difference(onnx_logits, torch_logits(trained_run, audio)) <= 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["synth"] == "original" and json.loads(meta["params"])[0] == "C"
    assert json.loads(meta["training_data"])["sets"][0]["seed"] == 7
    assert meta["sample_rate"] == "16384" and meta["model"] == "fmnet"


def test_onnx_export_is_finite_on_silence_and_gaps(trained_run, exported_model):
    """Exact digital silence (whole clip, or after the sound ends) gives finite logits, as in torch."""
    import onnxruntime as ort

    from inversynth.training.export import torch_logits

    session = ort.InferenceSession(str(exported_model), providers=["CPUExecutionProvider"])
    t = np.arange(16384) / 16384
    gap = np.where(t < 0.4, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    audio = np.stack([np.zeros(16384), gap]).astype(np.float32)
    onnx_logits = session.run(None, {"audio": audio})[0]
    assert np.all(np.isfinite(onnx_logits))
    assert _max_difference(onnx_logits, torch_logits(trained_run, audio)) <= 1e-4


def test_export_command(trained_run, tmp_path):

    result = run_cli("export", str(trained_run), "-o", str(tmp_path / "m.onnx"))
    assert result.returncode == 0, result.stderr
    assert "model fmnet for synth 'original'" in result.stdout
    assert (tmp_path / "m.onnx").stat().st_size > 100_000
    assert "torchvision" not in result.stderr
    missing = run_cli("export", str(tmp_path / "nothing"), "-o", str(tmp_path / "n.onnx"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    assert "no readable training config" in missing.stderr
