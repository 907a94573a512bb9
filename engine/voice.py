"""The voice: one note's pyo graph, shared by live playing and offline rendering.

A synth is one :class:`~inversynth.engine.spec.SynthSpec` plus one
:class:`Voice` subclass. The subclass names which params drive the signal
continuously (``signal_params``; each becomes a smoothed ``SigTo``), wires the
graph in :meth:`Voice.build`, and says in :meth:`Voice.envelope` how its
envelope params become segments. The real-time server and the offline
renderer create the very same objects; only the smoothing time differs
(0 offline, so a rendered clip holds its patch from the first sample).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from inversynth.engine.envelope import Segment, breakpoints
from inversynth.engine.pyo_runtime import pyo_module
from inversynth.engine.spec import SynthSpec


class Voice(ABC):
    """Base class of every synth voice.

    Attributes:
        output: the pyo object carrying the voice's mono signal.
    """

    spec: ClassVar[SynthSpec]
    signal_params: ClassVar[tuple[str, ...]]

    def __init__(self, sample_rate: int, smoothing: float = 0.0) -> None:
        """Build the graph in the current pyo server.

        Args:
            sample_rate: the server's sample rate (Hz); envelopes snap to its sample grid.
            smoothing: glide time (s) of signal params; 0 jumps on the next sample.
        """
        pyo = pyo_module()
        self.sample_rate = sample_rate
        self.patch: dict[str, float] = self.spec.defaults()
        self.controls: dict[str, Any] = {
            name: pyo.SigTo(self.patch[name], time=smoothing, init=self.patch[name]) for name in self.signal_params
        }
        self.envelope = pyo.Linseg([(0.0, 0.0), (1.0 / sample_rate, 0.0)])
        self.phase_resets: Sequence[Any] = ()
        self.output = self.build(self.controls, self.envelope)

    @abstractmethod
    def build(self, controls: Mapping[str, Any], envelope: Any) -> Any:
        """Wire the graph from the smoothed controls and the envelope; return the output.

        Set ``self.phase_resets`` to the objects whose phase restarts at 0 on a trigger.
        """

    @abstractmethod
    def envelope_segments(self, gated: bool) -> list[Segment]:
        """The envelope of the current patch: the whole note, or (gated) up to the held level."""

    def set(self, name: str, value: float) -> None:
        """Set one param (validated against the spec); signal params glide there."""
        real = self.spec.param(name).validate(value)
        self.patch[name] = real
        if name in self.controls:
            self.controls[name].value = real

    def apply_validated(self, values: Sequence[float]) -> None:
        """Load a whole patch, in spec order, that ``SynthSpec.validate_rows`` has checked."""
        for name, value in zip(self.spec.names, values, strict=True):
            real = float(value)
            self.patch[name] = real
            if name in self.controls:
                self.controls[name].value = real

    def trigger(self, gain: float = 1.0, gated: bool = False) -> None:
        """Start a note from phase 0: the time-driven envelope, or a gated one held until release."""
        for oscillator in self.phase_resets:
            oscillator.reset()
        segments = self.envelope_segments(gated)
        self.envelope.setList(breakpoints(segments, self.sample_rate, gain))
        self.envelope.play()
