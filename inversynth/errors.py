"""One exception hierarchy for the whole project.

Every message is a single line that names the thing, echoes the value and
states what would have been valid, so the CLI can print it as it is.
"""


class InversynthError(Exception):
    """Base of every error inversynth raises on purpose."""


class SpecError(InversynthError, ValueError):
    """A synth, parameter or value does not fit its parameter spec."""


class RenderError(InversynthError):
    """The audio engine could not render (server, sample rate, workers)."""


class DatasetError(InversynthError):
    """A dataset folder is missing, unwritable or does not match its request."""


class BackendError(InversynthError):
    """A native piece (pyo server, JACK, PortAudio, MIDI) is missing or failed."""
