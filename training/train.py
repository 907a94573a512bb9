"""Training: ``inversynth train`` on one process, or data-parallel under ``torchrun``.

A run folder holds ``config.json`` (the exact TrainConfig), ``last.pt``
(everything needed to resume), ``best.pt`` (the weights with the best
validation loss) and ``history.jsonl`` (one line per epoch). Under torchrun
each rank trains on its own slice of every epoch's shuffled clips and DDP
averages gradients (gloo on CPU, NCCL on CUDA); rank 0 alone writes files.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from inversynth.atomic import atomic_open, atomic_write_text, ensure_folder
from inversynth.engine.spec import SynthSpec
from inversynth.training.dataset import TrainingSet
from inversynth.training.models import ModelError, build_model

LOSSES = ("ce", "bce")


@dataclass
class TrainConfig:
    """Everything that decides a training run; saved beside its checkpoints."""

    synth: str
    model: str
    data: list[str]  # dataset folders of one spec, read as one
    out: str
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when present, else the CPU
    loss: str = "ce"  # "ce": softmax per parameter; "bce": the original's sigmoids over one-hot labels
    val_clips: int = 2000  # the last clips of each folder, held for validation
    max_clips: int | None = None  # train on the first N clips of each folder only (shorter schedules)
    init: str | None = None  # start from this run's best weights (fine-tuning); optimizer and schedule start fresh
    data_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.data, str):  # one folder, as runs before several folders recorded it
            self.data = [self.data]

    @classmethod
    def load(cls, run: Path) -> TrainConfig:
        try:
            return cls(**json.loads((Path(run) / "config.json").read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{run} holds no readable training config ({exc})") from None


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_fn(name: str) -> Loss:
    """Loss of logits [batch, params, bins] against two-hot targets [batch, params, bins]."""
    if name == "ce":
        return lambda logits, targets: -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()
    if name == "bce":  # the original project's sigmoids over one-hot labels: the nearest bin is the label
        return lambda logits, targets: F.binary_cross_entropy_with_logits(
            logits, F.one_hot(targets.argmax(-1), logits.shape[-1]).to(logits.dtype)
        )
    raise ModelError(f"unknown loss {name!r}; use one of {', '.join(LOSSES)}")


def batches(
    data: TrainingSet, clips: np.ndarray, batch_size: int, prefetch: int = 4
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(audio float32 [b, samples], two-hot targets [b, params, bins]) in ``clips`` order, read ahead by a thread."""
    slots: queue.Queue[tuple[torch.Tensor, torch.Tensor] | BaseException | None] = queue.Queue(maxsize=prefetch)

    def fill() -> None:
        try:
            for start in range(0, len(clips), batch_size):
                chosen = np.sort(clips[start : start + batch_size])
                targets = data.spec.two_hot(data.values[chosen]).astype(np.float32)
                slots.put((torch.from_numpy(data.audio_batch(chosen)), torch.from_numpy(targets)))
        except BaseException as exc:  # a failing read ends the run with its error instead of a silent wait
            slots.put(exc)
            return
        slots.put(None)

    threading.Thread(target=fill, name="inversynth-prefetch", daemon=True).start()
    while (item := slots.get()) is not None:
        if isinstance(item, BaseException):
            raise ModelError(f"reading the training data failed: {type(item).__name__}: {item}") from item
        yield item


def steps_per_rank(clips: int, world: int, batch_size: int) -> int:
    """Batches each process takes per epoch: the same on every rank, or DDP's all-reduce would wait forever
    for a rank that has finished. Several processes drop the remainder (full batches only); one keeps it."""
    if world == 1:
        return math.ceil(clips / batch_size)
    steps = clips // world // batch_size
    if steps == 0:
        raise ModelError(f"{clips} training clips cannot give each of {world} processes one batch of {batch_size}")
    return steps


class _Distributed:
    """Rank, world size and the process group when started by torchrun."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _save(path: Path, payload: dict[str, Any]) -> None:
    with atomic_open(path) as handle:
        torch.save(payload, handle)


def evaluate_loss(model: nn.Module, data: TrainingSet, clips: np.ndarray, loss: Loss, device: str) -> dict[str, Any]:
    """Validation loss and per parameter the share of clips whose arg-max bin is a bin next to the truth."""
    model.eval()
    total, correct, count = 0.0, None, 0
    with torch.no_grad():
        for audio, targets in batches(data, clips, 256):
            logits = model(audio.to(device))
            targets = targets.to(device)
            total += float(loss(logits, targets)) * len(targets)
            hits = (targets.gather(-1, logits.argmax(-1, keepdim=True))[..., 0] > 0).sum(0).double()
            correct = hits if correct is None else correct + hits
            count += len(targets)
    model.train()
    accuracy = (correct / count).tolist() if correct is not None else []
    return {"val_loss": total / max(count, 1), "val_accuracy": dict(zip(data.spec.names, accuracy, strict=True))}


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
    return device


def train(config: TrainConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train (or resume) the run in ``config.out``; return the last epoch's record."""
    config.device = resolve_device(config.device)
    group = _Distributed(config.device)
    try:
        return _train(config, group, progress or (lambda _stats: None))
    finally:
        group.close()


def _train(config: TrainConfig, group: _Distributed, progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    if config.loss not in LOSSES:
        raise ModelError(f"unknown loss {config.loss!r}; use one of {', '.join(LOSSES)}")
    data = TrainingSet([Path(folder) for folder in config.data], config.val_clips, config.max_clips)
    if data.spec.name != config.synth:
        raise ModelError(f"{data.parts[0].folder} holds synth '{data.spec.name}', not '{config.synth}'")
    train_clips, val_clips = data.train_clips, data.val_clips
    config.data_info = data.describe()

    run = Path(config.out)
    torch.manual_seed(config.seed)
    model = build_model(config.model, data.spec).to(config.device)
    steps_per_epoch = steps_per_rank(len(train_clips), group.world, config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=total_steps, pct_start=0.05)
    start_epoch, best = 0, math.inf
    last = run / "last.pt"
    if last.exists():
        state = torch.load(last, map_location=config.device, weights_only=True)
        if state["config"]["model"] != config.model or state["config"]["synth"] != config.synth:
            raise ModelError(f"{run} holds a run of model '{state['config']['model']}'; choose another --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # Keep the step count; the one-cycle shape follows this run's --epochs (a longer run stretches it).
        done = {key: state["scheduler"][key] for key in ("last_epoch", "_step_count")}
        scheduler.load_state_dict({**scheduler.state_dict(), **done})
        start_epoch, best = state["epoch"], state["best_val_loss"]
    else:
        if config.init:
            model.load_state_dict(_init_weights(Path(config.init), config, data.spec))
        if group.main:
            ensure_folder(run)
            atomic_write_text(run / "config.json", json.dumps(asdict(config), indent=2) + "\n")

    wrapped: nn.Module = model
    if group.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model)
    loss = loss_fn(config.loss)
    record: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        order = np.random.default_rng(config.seed + epoch).permutation(train_clips)
        mine = order[group.rank :: group.world][: steps_per_epoch * config.batch_size]
        started, seen, running, accuracy = time.perf_counter(), 0, 0.0, 0.0
        for step, (audio, targets) in enumerate(batches(data, mine, config.batch_size)):
            targets = targets.to(config.device)
            logits = wrapped(audio.to(config.device))
            value = loss(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            scheduler.step()
            seen += len(targets)
            running = 0.98 * running + 0.02 * value.item() if step else value.item()
            hits = (targets.gather(-1, logits.detach().argmax(-1, keepdim=True)) > 0).double().mean().item()
            accuracy = 0.98 * accuracy + 0.02 * hits if step else hits
            progress(
                {
                    "epoch": epoch,
                    "step": step,
                    "steps": steps_per_epoch,
                    "loss": running,
                    "accuracy": accuracy,
                    "clips_per_s": seen * group.world / (time.perf_counter() - started),
                }
            )
        train_seconds = time.perf_counter() - started
        record = {
            "epoch": epoch + 1,
            "train_loss": group.mean(running),
            "train_seconds": train_seconds,
            "clips_per_s": seen * group.world / train_seconds,
            "lr": scheduler.get_last_lr()[0],
            "world_size": group.world,
            "steps_per_rank": steps_per_epoch,
        }
        if group.main:
            record.update(evaluate_loss(model, data, val_clips, loss, config.device))
            improved = record["val_loss"] < best
            best = min(best, record["val_loss"])
            if improved:
                _save(
                    run / "best.pt",
                    {
                        "model": model.state_dict(),
                        "config": asdict(config),
                        "epoch": epoch + 1,
                        "val_loss": record["val_loss"],
                    },
                )
            _save(
                last,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "best_val_loss": best,
                    "config": asdict(config),
                },
            )
            with open(run / "history.jsonl", "a") as history:
                history.write(json.dumps(record) + "\n")
            progress({"epoch_done": epoch + 1, **{k: v for k, v in record.items() if isinstance(v, float)}})
        if group.world > 1:
            dist.barrier()
    return record if group.main else {}


def _init_weights(run: Path, config: TrainConfig, spec: SynthSpec) -> dict[str, torch.Tensor]:
    """The best weights of run ``run`` (a run folder, or a model it exported), refused unless it trained
    the same model for the same spec."""
    if run.is_file():
        return _onnx_weights(run, config, spec)
    model, source = load_trained(run)
    if source.model != config.model or run_spec(source).fingerprint() != spec.fingerprint():
        raise ModelError(
            f"--init {run} trained '{source.model}' for '{source.synth}' {run_spec(source).fingerprint()}; "
            f"this run needs '{config.model}' for '{config.synth}' {spec.fingerprint()}"
        )
    return model.state_dict()


def _onnx_weights(path: Path, config: TrainConfig, spec: SynthSpec) -> dict[str, torch.Tensor]:
    import onnx

    from inversynth.training.export import weights_from_onnx

    try:
        metadata = {e.key: e.value for e in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as exc:  # onnx raises its own types for a file that is not a model
        raise ModelError(f"--init {path} is not an exported model ({type(exc).__name__})") from None
    if metadata.get("model") != config.model or metadata.get("spec_fingerprint") != spec.fingerprint():
        raise ModelError(
            f"--init {path} holds '{metadata.get('model')}' for '{metadata.get('synth')}' "
            f"{metadata.get('spec_fingerprint')}; this run needs '{config.model}' for '{config.synth}' "
            f"{spec.fingerprint()}"
        )
    return weights_from_onnx(path, build_model(config.model, spec))


def run_spec(config: TrainConfig) -> SynthSpec:
    """The spec a run was trained for: its synth's, or the variant its dataset was rendered with."""
    from inversynth.engine.synths import get_spec

    return get_spec(config.synth, config.data_info.get("variant"))


def load_trained(run: Path, which: str = "best") -> tuple[nn.Module, TrainConfig]:
    """The model of a run folder with its weights (``best`` or ``last``), in eval mode on the CPU."""
    config = TrainConfig.load(run)
    path = Path(run) / f"{which}.pt"
    if not path.exists():
        raise ModelError(f"{run} has no {which}.pt; train it first")
    model = build_model(config.model, run_spec(config))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return model.eval(), config
