"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np


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


def batched(synth: str, patch: Mapping[str, float], n_samples: int, sample_rate: int) -> np.ndarray:
    """One patch (missing parameters at their defaults) through the batched renderer, float64 [n_samples]."""
    from inversynth.engine.render import renderer
    from inversynth.engine.synths import get_spec

    row = get_spec(synth).to_array(dict(patch))[None, :]
    return renderer(synth, sample_rate).render(row, n_samples)[0].astype(np.float64)
