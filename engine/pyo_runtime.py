"""The one place that imports pyo and boots servers.

pyo prints GUI notices on stdout when imported (no wxPython; on a Python
without tkinter, such as Debian's own, another), which would corrupt every
``--json`` output, and segfaults when its PortAudio backend boots without a
device, so every import and every boot goes through here.
"""

from __future__ import annotations

import contextlib
import io
import os
from functools import cache
from types import ModuleType
from typing import Any

from inversynth.errors import BackendError

# Log levels of pyo's C side: 1 error, 2 message, 4 warning, 8 debug.
PYO_ERRORS_ONLY = 1


@cache
def pyo_module() -> ModuleType:
    """Import pyo without its GUI notices; raise BackendError with a hint if it is missing."""
    os.environ.setdefault("PYO_GUI_WX", "0")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # stdout is the program's output alone
            import pyo
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BackendError(f"pyo is not importable ({exc}); install it with 'pip install pyo==1.1.0'") from exc
    return pyo


def boot_manual_server(sample_rate: int, buffer_size: int, channels: int = 1) -> Any:
    """Boot a pyo server in manual mode: no audio device, time advances on ``process()``."""
    pyo = pyo_module()
    server = pyo.Server(
        sr=sample_rate,
        nchnls=channels,
        buffersize=buffer_size,
        duplex=0,
        audio="manual",
        verbosity=PYO_ERRORS_ONLY,
    )
    server.deactivateMidi()
    server.boot()
    if not server.getIsBooted():
        raise BackendError(f"pyo could not boot a manual server at {sample_rate} Hz")
    server.start()
    return server
