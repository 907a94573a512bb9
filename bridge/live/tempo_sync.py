"""Rates that follow the tempo: MIDI clock or an OSC tempo, at a note division.

Parameters the spec marks as rates (``Param.rate``: the LFO M of ``original``)
can be synced: their value becomes one cycle per division
(:mod:`inversynth.engine.tempo`) at the current tempo — 1/8 at 120 BPM is
4 Hz. The division is part of the preset (``sync``); the tempo comes from ``/synth/tempo f`` or from MIDI clock (24
pulses per quarter note), whose rate is fitted by least squares over the
last few beats, so the jitter of single pulses (a JACK period, a USB frame)
averages out. A synced rate outside its parameter's range is clamped to it,
and the log says so once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np

from inversynth.engine.spec import Param
from inversynth.engine.synth_client import SynthClient
from inversynth.engine.tempo import check_divisions, synced_rate
from inversynth.errors import SpecError

PULSES_PER_QUARTER = 24  # MIDI clock
FIT_PULSES = 4 * PULSES_PER_QUARTER + 1  # the clock's tempo: fitted over the last four beats
CLOCK_GAP = 0.5  # seconds without a pulse: the clock stopped; the next one starts a new fit
MIN_BPM, MAX_BPM = 20.0, 400.0
RETUNE = 0.0005  # a clock tempo that moved less than this fraction is not sent again


class MidiClock:
    """Tempo from MIDI clock pulses: a least-squares line through the last pulses' times."""

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=FIT_PULSES)

    def restart(self) -> None:
        self._times.clear()

    def pulse(self, now: float) -> float | None:
        """Add a pulse at monotonic time ``now``; return the tempo once a beat has been heard, else None."""
        if self._times and now - self._times[-1] > CLOCK_GAP:
            self._times.clear()
        self._times.append(now)
        if len(self._times) <= PULSES_PER_QUARTER:
            return None
        times = np.fromiter(self._times, dtype=np.float64)
        seconds_per_pulse = np.polyfit(np.arange(len(times)), times - times[0], 1)[0]
        return 60.0 / (seconds_per_pulse * PULSES_PER_QUARTER) if seconds_per_pulse > 0 else None


class TempoSync:
    """The tempo and the synced rates of one synth; sets those rates whenever either changes."""

    def __init__(self, synth: SynthClient, log: Callable[[str], None]) -> None:
        self.synth = synth
        self.log = log
        self.bpm: float | None = None
        self.divisions: dict[str, str] = {}
        self.clock = MidiClock()
        self._lock = threading.Lock()
        self._clamped: set[tuple[str, str]] = set()

    def set_tempo(self, bpm: float) -> None:
        """The tempo in quarter notes per minute (``/synth/tempo``, or fitted from MIDI clock)."""
        if not MIN_BPM <= bpm <= MAX_BPM:  # also refuses NaN
            raise SpecError(f"tempo {bpm:g} BPM is outside {MIN_BPM:g}..{MAX_BPM:g}")
        with self._lock:
            self.bpm = float(bpm)
            self._apply()

    def pulse(self, now: float) -> None:
        """One MIDI clock pulse; the tempo follows, except for changes too small to hear."""
        bpm = self.clock.pulse(now)
        if bpm is None or not MIN_BPM <= bpm <= MAX_BPM:
            return
        if self.bpm is None or abs(bpm - self.bpm) > RETUNE * self.bpm:
            self.set_tempo(bpm)

    def sync(self, name: str, division: str | None) -> None:
        """Let rate ``name`` follow the tempo at ``division``, or (None) stop following."""
        with self._lock:
            if division is None:
                self.divisions.pop(name, None)
                return
            self.divisions.update(check_divisions(self.synth.spec, {name: division}))
            self._apply()

    def load(self, divisions: Mapping[str, str]) -> None:
        """Replace every division (a preset's ``sync``)."""
        checked = check_divisions(self.synth.spec, divisions)
        with self._lock:
            self.divisions = checked
            self._apply()

    def _apply(self) -> None:
        if self.bpm is None:
            return
        rates = {name: self._in_range(name, division) for name, division in self.divisions.items()}
        if rates:
            self.synth.load_patch(rates, "tempo")

    def _in_range(self, name: str, division: str) -> float:
        param: Param = self.synth.spec.param(name)
        assert self.bpm is not None
        rate = synced_rate(self.bpm, division)
        clamped = min(max(rate, param.minimum), param.maximum)
        if clamped != rate and (name, division) not in self._clamped:
            self._clamped.add((name, division))
            self.log(
                f"tempo: {division} at {self.bpm:.1f} BPM is {rate:.3g} Hz, outside '{name}' "
                f"({param.range_text()}); playing {clamped:g} Hz"
            )
        return clamped
