"""Matching off the audio process's hot path: the model and the offline renderer live in a worker process.

The live server's process runs pyo's audio callback, which takes the GIL every
block; onnxruntime and the re-synthesis that scores an estimate would compete
with it, and pyo allows one server per process anyway. So one spawned worker
holds the model and its own offline renderer, loads them once, and answers
one clip at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from inversynth.bridge.inference import Estimator, ModelFileError
from inversynth.bridge.match import Match, match_clips
from inversynth.engine.spec import SynthSpec

WORKER_NICENESS = 10
_estimator: Estimator | None = None


def _ignore_interrupts() -> None:
    """Ctrl-C reaches the whole process group; the server, not its worker, decides what happens."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _load(model: str | None) -> tuple[str, str, str]:
    """Load the model and warm up the session and the renderer; return (synth, model name, file name)."""
    global _estimator
    # Below the live process: a preempted thread there may hold the GIL that pyo's audio callback needs.
    os.nice(WORKER_NICENESS)
    _estimator = Estimator(Path(model) if model else None)
    _estimator.estimate(np.zeros((1, _estimator.spec.clip_samples), np.float32))  # warm the session up
    match_clips(_estimator, np.full((1, _estimator.spec.clip_samples), 0.1, np.float32), ["warm-up"])
    return _estimator.spec.name, _estimator.model_name, _estimator.path.name


def _match(clip: np.ndarray, source: str) -> Match:
    assert _estimator is not None
    return match_clips(_estimator, clip[None, :], [source])[0]


class MatchWorker:
    """One worker process estimating patches for ``spec``'s synth with the ONNX model at ``model``."""

    def __init__(self, spec: SynthSpec, model: Path | None = None) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
        )
        try:
            synth, self.model_name, self.model_file = self._pool.submit(_load, str(model) if model else None).result()
        except Exception as exc:
            self._pool.shutdown(cancel_futures=True)
            raise ModelFileError(
                str(exc) if isinstance(exc, ModelFileError) else f"model worker failed: {exc}"
            ) from None
        if synth != spec.name:
            self._pool.shutdown(cancel_futures=True)
            raise ModelFileError(f"{self.model_file} estimates synth '{synth}', the server plays '{spec.name}'")

    def match(self, clip: np.ndarray, source: str) -> Match:
        """Estimate, re-synthesise and score one clip in the spec's format (blocks the calling thread)."""
        return self._pool.submit(_match, np.ascontiguousarray(clip, np.float32), source).result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
