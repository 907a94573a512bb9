"""Matching off the audio process's hot path: the model and the offline renderer live in a worker process.

The live server's process runs pyo's audio callback, which takes the GIL every
block; onnxruntime, the re-synthesis that scores an estimate and the
refinement's hundreds of renders would compete with it, and pyo allows one
server per process anyway. So one spawned worker holds the model and its own
offline renderer, loads them once, and answers one request at a time: first
the network's estimate, then its refinement, which :meth:`MatchWorker.cancel`
can stop between two batches of renders. A worker that dies (killed, out of memory) is started
again for the next request; the request it was answering fails with that reason (one made after
it died while idle goes on, on the new worker).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.bridge.matching.audio_input import Note
from inversynth.bridge.matching.inference import Estimator
from inversynth.bridge.matching.match import Match, MatchOptions, candidate_matches, estimate_notes, refine_match
from inversynth.bridge.matching.model_file import ModelFileError
from inversynth.bridge.matching.refine import POPULATION, Budget
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synth_client import CAPTURE_PREFIX, shared_memory_folder
from inversynth.errors import InversynthError

WORKER_NICENESS = 10
MAX_DEATHS, DEATH_WINDOW_S = 3, 60.0  # more deaths than this in the window: matching stays off
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


def _refine(match: Match, budget: Budget, candidates: int) -> list[Match]:
    assert _estimator is not None
    refined = refine_match(_estimator, match, budget, _cancel.is_set, alternatives=candidates - 1)
    return candidate_matches(_estimator, refined, candidates)


def _call_from(path: str) -> Any:
    """In the worker: the call pickled at ``path`` (removed once read)."""
    with open(path, "rb") as handoff:
        fn, args = pickle.load(handoff)
    os.unlink(path)
    return fn(*args)


class MatchWorkerDied(InversynthError):
    """The worker process died while answering; it has been started again (or stays down, said why)."""


class MatchWorker:
    """One worker process estimating and refining patches for ``spec``'s synth with the ONNX model at ``model``."""

    def __init__(self, spec: SynthSpec, model: Path | None = None, log: Callable[[str], None] = print) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._cancel = self._context.Event()
        self._spec, self._model, self._log = spec, model, log
        self._deaths: list[float] = []
        self.restarts = 0
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=self._context, initializer=_start, initargs=(self._cancel,)
        )
        try:
            synth, self.model_name, self.model_file = pool.submit(
                _load, str(self._model) if self._model else None, self._spec.name
            ).result()
        except Exception as exc:
            pool.shutdown(cancel_futures=True)
            raise ModelFileError(
                str(exc) if isinstance(exc, ModelFileError) else f"model worker failed: {exc}"
            ) from None
        if synth != self._spec.name:
            pool.shutdown(cancel_futures=True)
            raise ModelFileError(f"{self.model_file} estimates synth '{synth}', the server plays '{self._spec.name}'")
        return pool

    def pid(self) -> int:
        """The worker process's id (it may change: see the module's docstring)."""
        return int(self._call(os.getpid))

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker. The call travels as a file (in memory where the system allows) and
        only its name through the pool's pipe: a note's audio is larger than a pipe holds, and a worker
        that dies while its pipe is full leaves the pool's feeder thread blocked for good (Python 3.11.2,
        Debian 12's), which then hangs the server's exit."""
        fd, name = tempfile.mkstemp(prefix=f"{CAPTURE_PREFIX}{os.getpid()}-call-", dir=shared_memory_folder())
        with os.fdopen(fd, "wb") as handoff:
            pickle.dump((fn, args), handoff, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            try:
                future = self._pool.submit(_call_from, name)
            except BrokenProcessPool:  # it died while idle: no request was lost, this one goes on
                self._replace("while idle")
                future = self._pool.submit(_call_from, name)
            return future.result()
        except BrokenProcessPool:
            self._replace("while matching")
            raise MatchWorkerDied("the match worker died while matching; it was started again: match again") from None
        finally:
            Path(name).unlink(missing_ok=True)

    def _replace(self, when: str) -> None:
        """A new worker for a dead one, unless too many died lately (then MatchWorkerDied)."""
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < DEATH_WINDOW_S] + [now]
        self._pool.shutdown(wait=False, cancel_futures=True)
        if len(self._deaths) > MAX_DEATHS:
            reason = f"the match worker died {len(self._deaths)} times in {DEATH_WINDOW_S:g} s; matching stays off"
            self._log(reason)
            raise MatchWorkerDied(reason)
        self._pool = self._start()
        self.restarts += 1
        self._log(f"the match worker died {when} and was started again")

    def estimate(self, note: Note, source: str, options: MatchOptions, fallback: dict[str, float]) -> Match:
        """The network's match of one note in the spec's format (blocks the calling thread)."""
        clip = replace(note, clip=np.ascontiguousarray(note.clip, np.float32))
        return self._call(_estimate, clip, source, options, fallback)

    def arm(self) -> None:
        """Clear a cancel meant for an earlier request (the caller decides which cancels are whose)."""
        self._cancel.clear()

    def refine(self, match: Match, budget: Budget, candidates: int = 1) -> list[Match]:
        """The match refined within ``budget`` (or as far as it got when :meth:`cancel` was called),
        then up to ``candidates - 1`` distinct runners-up of its search, best first."""
        return list(self._call(_refine, match, budget, candidates))

    def cancel(self) -> None:
        """Stop the refinement in progress at its next generation (it answers with its best so far)."""
        self._cancel.set()

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(cancel_futures=True)
