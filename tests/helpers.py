"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300, columns: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``inversynth`` command as a user would (output piped, ``columns`` wide)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "inversynth.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def free_port(kind: socket.SocketKind = socket.SOCK_DGRAM) -> int:
    """A port of 127.0.0.1 nobody uses now: UDP (OSC) by default, or TCP (torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
