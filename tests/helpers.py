"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 5.0) -> T:
    """Ask ``probe`` until ``accept`` takes its answer or ``timeout`` passes; the last answer either way
    (the caller's assert then says what was wrong). Waits on a condition instead of a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if accept(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.01)


def udp_port_taken(port: int) -> bool:
    """Whether some process listens on UDP ``port`` of 127.0.0.1 (binding it ourselves fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


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


FULL_DISK_SCRIPT = 'mount -t tmpfs -o size="$1" inversynth-test "$2" && shift 2 && exec "$@"'


def on_small_disk(folder: Path, size: str, *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ``folder`` a tmpfs of ``size`` (a real disk that fills up), in a mount
    namespace of its own (``unshare``; as a user, inside a user namespace of its own, where the
    system allows them)."""
    folder.mkdir(parents=True, exist_ok=True)
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    mounter = ["unshare", *user, "--mount", "sh", "-c", FULL_DISK_SCRIPT, "sh"]
    return subprocess.run([*mounter, size, str(folder), *command], capture_output=True, text=True, timeout=120)
