"""A throwaway JACK server on the dummy driver, for the live tests and ``inversynth bench live``."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inversynth.errors import BackendError

RATE = 48000
START_SECONDS = 5.0


@contextmanager
def dummy_jack_server(
    prefix: str, period: int, try_realtime: bool = False, log: Path | None = None
) -> Iterator[tuple[str, bool]]:
    """Run ``jackd`` on the dummy driver (48 kHz, ``period`` frames) under a unique name.

    Yields (server name, whether it got realtime scheduling); with ``try_realtime`` it asks for
    realtime first and falls back. ``log`` keeps what jackd says (which client was late at each
    xrun). The server is stopped afterwards, killed if it will not stop.
    """
    if shutil.which("jackd") is None:
        raise BackendError("jackd is not installed (apt-get install --no-install-recommends jackd2)")
    name = f"{prefix}-{os.getpid()}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    for realtime in ([["-R"]] if try_realtime else []) + [["--no-realtime"]]:
        said = log.open("w") if log is not None else None
        jackd = subprocess.Popen(
            ["jackd", *realtime, "-n", name, "-d", "dummy", "-r", str(RATE), "-p", str(period)],
            stdout=said or subprocess.DEVNULL,
            stderr=said or subprocess.DEVNULL,
        )
        if said is not None:
            said.close()  # jackd holds its own copy
        deadline = time.monotonic() + START_SECONDS
        while jackd.poll() is None and time.monotonic() < deadline:
            if subprocess.run(["jack_lsp"], env=env, capture_output=True, check=False).returncode == 0:
                try:
                    yield name, realtime == ["-R"]
                finally:
                    _stop(jackd)
                return
            time.sleep(0.1)
        jackd.kill()
        jackd.wait()
    raise BackendError("jackd did not start on the dummy driver")


def _stop(jackd: subprocess.Popen[bytes]) -> None:
    jackd.terminate()
    try:
        jackd.wait(timeout=10)
    except subprocess.TimeoutExpired:
        jackd.kill()  # never leave a JACK server behind
        jackd.wait()
        raise BackendError("jackd ignored SIGTERM for 10 s") from None
