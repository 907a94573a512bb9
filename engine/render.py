"""Offline rendering, two ways that the parity tests prove equal.

- :class:`BatchRenderer` (every path that needs throughput: datasets, refinement,
  matching, evaluation, calibration, benchmarks): the synth's compiled batched
  renderer (engine/batched/), whole patches per pass with no audio server.
- :class:`OfflineRenderer` (what must be the live synth itself: ``render``, the
  demo, the parity tests): the synth's own pyo voices in a server clocked by us.
  pyo's ``manual`` audio mode needs no sound card: each ``process()`` call
  computes one buffer; one server and ``polyphony`` voices live as long as the
  process, one patch per voice, each voice recorded into its own table. pyo
  allows one server per process, so parallel pyo rendering uses worker
  processes (``spawn``ed, so no pyo state is ever forked).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import numpy as np

from inversynth.engine.pyo_runtime import boot_manual_server, pyo_module
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import batch_kernel, get_spec, get_voice
from inversynth.engine.voice import Voice
from inversynth.errors import RenderError

DEFAULT_POLYPHONY = 16
DEFAULT_BUFFER = 1024  # offline only: bigger blocks, less per-call overhead; the output is the same
_MIN_RATE, _MAX_RATE = 4000, 192000


class OfflineRenderer:
    """Renders patches of one synth at one sample rate, ``polyphony`` at a time."""

    def __init__(
        self,
        synth: str,
        sample_rate: int | None = None,
        polyphony: int = DEFAULT_POLYPHONY,
        buffer_size: int = DEFAULT_BUFFER,
    ) -> None:
        self.spec: SynthSpec = get_spec(synth)
        self.sample_rate = check_sample_rate(sample_rate or self.spec.sample_rate)
        self.buffer_size = buffer_size
        self._server = boot_manual_server(self.sample_rate, buffer_size)
        voice_class = get_voice(synth)
        self._voices = [voice_class(self.sample_rate, smoothing=0.0) for _ in range(polyphony)]
        self._tables: dict[int, Any] = {}

    @property
    def polyphony(self) -> int:
        return len(self._voices)

    @property
    def voices(self) -> tuple[Voice, ...]:
        """The voices; ``render`` gives row ``i`` of each group to voice ``i``."""
        return tuple(self._voices)

    def close(self) -> None:
        self._server.stop()
        self._server.shutdown()

    def render(self, patches: np.ndarray, n_samples: int) -> np.ndarray:
        """Render patches (real values in spec order, shape [n, n_params]) -> float32 [n, n_samples]."""
        rows = self.spec.validate_rows(patches)
        if n_samples < 1:
            raise RenderError(f"cannot render {n_samples} samples")
        out = np.empty((rows.shape[0], n_samples), dtype=np.float32)
        table = self._table_for(n_samples)
        blocks = math.ceil(n_samples / self.buffer_size)
        pyo = pyo_module()
        for first in range(0, rows.shape[0], self.polyphony):
            group = rows[first : first + self.polyphony]
            for voice, row in zip(self._voices, group, strict=False):
                voice.apply_validated(row)
                voice.trigger()
            # Made after the triggers: pyo computes objects in creation order, and a voice may make a fresh
            # stage of its graph per note (the paper's filter); read before it, the clip would lag a block.
            recorder = pyo.TableRec([voice.output for voice in self._voices], table)
            recorder.play()
            for _ in range(blocks):
                self._server.process()
            for i in range(len(group)):
                out[first + i] = np.asarray(table.getBuffer(i))
        return out

    def _table_for(self, n_samples: int) -> Any:
        """A table with one channel per voice, reused for every render of that length."""
        if n_samples not in self._tables:
            self._tables[n_samples] = pyo_module().DataTable(size=n_samples, chnls=self.polyphony)
        return self._tables[n_samples]


class Renderer(Protocol):
    """What a search needs of a renderer (both renderers here are one)."""

    def render(self, patches: np.ndarray, n_samples: int) -> np.ndarray: ...


class BatchRenderer:
    """Renders patches of one synth at one sample rate with its compiled batched renderer.

    Deterministic (a row's clip never depends on the others) and thread-safe: the kernels hold no
    state and release the GIL, so threads render in parallel.
    """

    def __init__(self, synth: str, sample_rate: int | None = None) -> None:
        self.spec: SynthSpec = get_spec(synth)
        self.sample_rate = check_sample_rate(sample_rate or self.spec.sample_rate)
        self._kernel = batch_kernel(synth)

    def render(self, patches: np.ndarray, n_samples: int, out: np.ndarray | None = None) -> np.ndarray:
        """Render patches (real values in spec order, shape [n, n_params]) -> float32 [n, n_samples],
        into ``out`` if given (C-contiguous float32 of that shape)."""
        rows = self.spec.validate_rows(patches)
        if n_samples < 1:
            raise RenderError(f"cannot render {n_samples} samples")
        if out is None:
            out = np.empty((rows.shape[0], n_samples), dtype=np.float32)
        elif out.shape != (rows.shape[0], n_samples) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise RenderError(f"cannot render {rows.shape[0]} x {n_samples} samples into {out.dtype} {out.shape}")
        self._kernel(rows, self.sample_rate, out)
        return out


def check_sample_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        raise RenderError(f"sample rate {sample_rate!r} is not a whole number of Hz")
    if not _MIN_RATE <= sample_rate <= _MAX_RATE:
        raise RenderError(f"sample rate {sample_rate} Hz is outside {_MIN_RATE}..{_MAX_RATE} Hz")
    return sample_rate


# One pyo renderer per process: pyo runs a single server per process.
_pyo_renderer: OfflineRenderer | None = None


def pyo_renderer(synth: str, sample_rate: int | None = None) -> OfflineRenderer:
    """This process's pyo renderer for ``synth`` at ``sample_rate``, (re)booted on demand."""
    global _pyo_renderer
    rate = sample_rate or get_spec(synth).sample_rate
    if _pyo_renderer is None or _pyo_renderer.spec.name != synth or _pyo_renderer.sample_rate != rate:
        if _pyo_renderer is not None:
            _pyo_renderer.close()
            _pyo_renderer = None
        _pyo_renderer = OfflineRenderer(synth, rate)
    return _pyo_renderer


def renderer(synth: str, sample_rate: int | None = None) -> BatchRenderer:
    """The batched renderer for ``synth`` at ``sample_rate`` (the synth's default rate if None)."""
    return BatchRenderer(synth, sample_rate)


def render(
    synth: str, patch: dict[str, float], seconds: float | None = None, sample_rate: int | None = None
) -> np.ndarray:
    """Render one patch as the live synth plays it (pyo; real units; missing params take spec
    defaults) -> float32 [samples]."""
    spec = get_spec(synth)
    rate = check_sample_rate(sample_rate or spec.sample_rate)
    n_samples = clip_samples(seconds if seconds is not None else spec.clip_seconds, rate)
    return pyo_renderer(synth, rate).render(spec.to_array(patch)[None, :], n_samples)[0]


def clip_samples(seconds: float, sample_rate: int) -> int:
    if not math.isfinite(seconds) or not 0 < seconds <= 600:
        raise RenderError(f"clip length {seconds} s is outside (0, 600] s")
    return max(1, round(seconds * sample_rate))


def default_workers() -> int:
    """The cores this process may use (Linux: its affinity; macOS and Windows have none: every core)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _init_worker(synth: str, sample_rate: int) -> None:
    renderer(synth, sample_rate).render(get_spec(synth).to_array({})[None, :], 1)  # load the compiled kernel


def pyo_render_chunk(synth: str, sample_rate: int, patches: np.ndarray, n_samples: int) -> np.ndarray:
    return pyo_renderer(synth, sample_rate).render(patches, n_samples)


def _init_pyo_worker(synth: str, sample_rate: int) -> None:
    pyo_renderer(synth, sample_rate)


@contextmanager
def worker_pool(synth: str, sample_rate: int, workers: int, pyo: bool = False) -> Iterator[Executor]:
    """Worker processes, each with ``synth``'s batched renderer loaded (``pyo``: a booted pyo renderer)."""
    if workers < 1:
        raise RenderError(f"workers = {workers}; use at least 1")
    context = multiprocessing.get_context("spawn")
    initializer = _init_pyo_worker if pyo else _init_worker
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=initializer, initargs=(synth, sample_rate)
    ) as pool:
        yield pool


T = TypeVar("T")


def run_in_pool(pool: Executor, fn: Callable[..., T], jobs: Iterable[Sequence[Any]]) -> Iterator[T]:
    """Submit every job at once and yield results as they finish (any order)."""
    futures = [pool.submit(fn, *job) for job in jobs]
    for future in as_completed(futures):
        yield future.result()


def render_batch(
    synth: str,
    patches: np.ndarray,
    seconds: float | None = None,
    sample_rate: int | None = None,
    workers: int = 1,
    chunk: int = 256,
    pyo: bool = False,
) -> np.ndarray:
    """Render many patches (shape [n, n_params], real units) -> float32 [n, samples].

    The batched renderer, on ``workers`` threads (its kernels release the GIL); with ``pyo``, the
    synth's pyo voices, in this process or in ``workers`` processes. Either way the result does not
    depend on the worker count.
    """
    spec = get_spec(synth)
    rate = check_sample_rate(sample_rate or spec.sample_rate)
    n_samples = clip_samples(seconds if seconds is not None else spec.clip_seconds, rate)
    rows = np.atleast_2d(np.asarray(patches, dtype=np.float64))
    if workers < 1:
        raise RenderError(f"workers = {workers}; use at least 1")
    if pyo and workers == 1:
        return pyo_renderer(synth, rate).render(rows, n_samples)
    out = np.empty((rows.shape[0], n_samples), dtype=np.float32)
    starts = range(0, rows.shape[0], chunk)
    if pyo:
        with worker_pool(synth, rate, workers, pyo=True) as processes:
            chunks = [processes.submit(pyo_render_chunk, synth, rate, rows[s : s + chunk], n_samples) for s in starts]
            for start, future in zip(starts, chunks, strict=True):
                out[start : start + chunk] = future.result()
        return out
    fast = renderer(synth, rate)
    if workers == 1:
        return fast.render(rows, n_samples, out)
    with ThreadPoolExecutor(max_workers=workers) as threads:  # each fills its rows of ``out``
        for future in [threads.submit(fast.render, rows[s : s + chunk], n_samples, out[s : s + chunk]) for s in starts]:
            future.result()
    return out
