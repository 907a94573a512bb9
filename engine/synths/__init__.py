"""The synth registry: every module in this folder is one synth.

A synth module defines ``SPEC`` (a SynthSpec, numpy only) and ``VOICE`` (its
Voice subclass), and may define ``audible(values, clip_seconds)`` saying which
parameters can be heard in a clip (evaluation reports accuracy there too),
``instrument_like(rng, count)``, patches that sound like an instrument's note (the
datasets' instrument draw), and ``render_rows(rows, sample_rate, out)``, the batched
offline renderer (engine/batched/: compiled, every offline path uses it; the parity
tests prove it equal to the voice).
Adding a synth means adding one such module; nothing else lists synths.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from inversynth.engine.spec import SynthSpec
from inversynth.errors import SpecError

if TYPE_CHECKING:
    from inversynth.engine.voice import Voice


def synth_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


@cache
def _module(name: str) -> ModuleType:
    if name not in synth_names():
        raise SpecError(f"unknown synth {name!r}; known: {', '.join(synth_names())}")
    return importlib.import_module(f"{__name__}.{name}")


VARIANT_KEYS = ("classes", "seconds", "sample_rate")


def get_spec(name: str, variant: Mapping[str, float] | None = None) -> SynthSpec:
    """Synth ``name``'s spec, or a variant of it (``{"classes": 32, "seconds": 0.5, "sample_rate": 22050}``,
    as datasets, runs and models record it)."""
    spec = cast(SynthSpec, _module(name).SPEC)
    if not variant:
        return spec
    unknown = set(variant) - set(VARIANT_KEYS)
    if unknown:
        raise SpecError(f"a variant sets {', '.join(VARIANT_KEYS)}; not {', '.join(sorted(unknown))}")
    return spec.variant(**variant)  # type: ignore[arg-type]


def get_voice(name: str) -> type[Voice]:
    return cast("type[Voice]", _module(name).VOICE)


def audible(spec: SynthSpec, values: np.ndarray) -> np.ndarray:
    """Whether each parameter can be heard in its clip, bool [n, params], for real values [n, params].

    The synth module's ``audible`` rule decides; parameters it does not name, and every parameter of
    a synth without one, always count as heard.
    """
    rule: Callable[[Mapping[str, np.ndarray], float], dict[str, np.ndarray]] | None
    rule = getattr(_module(spec.name), "audible", None)
    mask = np.ones(np.shape(values), dtype=bool)
    if rule is None:
        return mask
    heard = rule({name: values[:, j] for j, name in enumerate(spec.names)}, spec.clip_seconds)
    for j, name in enumerate(spec.names):
        if name in heard:
            mask[:, j] = heard[name]
    return mask


class BatchKernel(Protocol):
    """A synth's batched renderer: rows of real values [n, params] rendered into ``out``, float32
    [n, n_samples] (a caller's slice, so that threads fill one array without a copy)."""

    def __call__(self, rows: np.ndarray, sample_rate: int, out: np.ndarray) -> None: ...


def batch_kernel(name: str) -> BatchKernel:
    """Synth ``name``'s batched renderer."""
    return cast("BatchKernel", _module(name).render_rows)


def instrument_values(spec: SynthSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` instrument-like patches of ``spec``'s synth, real values [count, n_params] inside every
    parameter's range (the synth module's ``instrument_like`` rule draws them)."""
    rule: Callable[[np.random.Generator, int], dict[str, np.ndarray]] | None
    rule = getattr(_module(spec.name), "instrument_like", None)
    if rule is None:
        raise SpecError(f"synth {spec.name!r} has no instrument-like draw")
    drawn = rule(rng, count)
    missing = [name for name in spec.names if name not in drawn]
    if missing:
        raise SpecError(f"{spec.name}'s instrument-like draw leaves out {', '.join(missing)}")
    return np.stack([np.clip(drawn[p.name], p.minimum, p.maximum) for p in spec.params], axis=1)
