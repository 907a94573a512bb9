"""Matching off the audio process's hot path: the model and the offline renderer live in a worker process.

The live server's process runs pyo's audio callback, which takes the GIL every
block; onnxruntime, the re-synthesis that scores an estimate and the
refinement's hundreds of renders would compete with it, and pyo allows one
server per process anyway. So one spawned worker holds the model and its own
offline renderer, loads them once, and answers one request at a time: first
the network's estimate, then its refinement, which :meth:`MatchWorker.cancel`
can stop between two batches of renders.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.bridge.audio_input import Note
from inversynth.bridge.inference import Estimator, ModelFileError
from inversynth.bridge.match import Match, MatchOptions, estimate_notes, refine_match
from inversynth.bridge.refine import POPULATION, Budget
from inversynth.engine.spec import SynthSpec

WORKER_NICENESS = 10
_estimator: Estimator | None = None
_cancel: Any = None  # the multiprocessing Event a MatchWorker sets to stop a refinement


def _start(cancel: Any) -> None:
    """Ctrl-C reaches the whole process group; the server, not its worker, decides what happens."""
    global _cancel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _cancel = cancel


def _load(model: str | None, synth: str) -> tuple[str, str, str]:
    """Load the model and warm up the session and the renderer; return (synth, model name, file name)."""
    global _estimator
    # Below the live process: a preempted thread there may hold the GIL that pyo's audio callback needs.
    os.nice(WORKER_NICENESS)
    _estimator = Estimator(Path(model) if model else None, synth=synth)
    samples = _estimator.spec.clip_samples
    warm = estimate_notes(_estimator, [Note(np.full(samples, 0.1, np.float32), 0.0, 1.0)], ["warm-up"])[0]
    refine_match(_estimator, warm, Budget(renders=2 * POPULATION))
    return _estimator.spec.name, _estimator.model_name, _estimator.path.name


def _estimate(note: Note, source: str, options: MatchOptions, fallback: dict[str, float]) -> Match:
    assert _estimator is not None
    return estimate_notes(_estimator, [note], [source], options, fallback)[0]


def _refine(match: Match, budget: Budget) -> Match:
    assert _estimator is not None
    return refine_match(_estimator, match, budget, _cancel.is_set)


class MatchWorker:
    """One worker process estimating and refining patches for ``spec``'s synth with the ONNX model at ``model``."""

    def __init__(self, spec: SynthSpec, model: Path | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._cancel = context.Event()
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start, initargs=(self._cancel,)
        )
        try:
            synth, self.model_name, self.model_file = self._pool.submit(
                _load, str(model) if model else None, spec.name
            ).result()
        except Exception as exc:
            self._pool.shutdown(cancel_futures=True)
            raise ModelFileError(
                str(exc) if isinstance(exc, ModelFileError) else f"model worker failed: {exc}"
            ) from None
        if synth != spec.name:
            self._pool.shutdown(cancel_futures=True)
            raise ModelFileError(f"{self.model_file} estimates synth '{synth}', the server plays '{spec.name}'")

    def estimate(self, note: Note, source: str, options: MatchOptions, fallback: dict[str, float]) -> Match:
        """The network's match of one note in the spec's format (blocks the calling thread)."""
        clip = replace(note, clip=np.ascontiguousarray(note.clip, np.float32))
        return self._pool.submit(_estimate, clip, source, options, fallback).result()

    def refine(self, match: Match, budget: Budget) -> Match:
        """The match refined within ``budget``, or as far as it got when :meth:`cancel` was called."""
        self._cancel.clear()
        return self._pool.submit(_refine, match, budget).result()

    def cancel(self) -> None:
        """Stop the refinement in progress at its next generation (it answers with its best so far)."""
        self._cancel.set()

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(cancel_futures=True)
