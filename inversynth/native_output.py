"""Quieting C libraries that print on stderr (libjack, alsa-lib, PortAudio) while we probe them.

Apart from the console on purpose: the engine uses it, and the engine knows nothing of the command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what C libraries (libjack, alsa-lib) print on stderr while probing; our own one-line reports stay."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
