"""bench's xrun counter names the client JACK found late, from jackd's own log (real jackd, real clients)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from inversynth.cli.bench.served import FLOOR_CLIENT, JackXruns, floor_client
from inversynth.engine.jack_dummy import dummy_jack_server
from tests.helpers import eventually


@pytest.mark.live
def test_an_xrun_is_blamed_on_the_client_that_overran_its_period(tmp_path: Path):
    import jack

    log = tmp_path / "jackd.log"
    with dummy_jack_server("inversynth-blame", 256, log=log) as (name, _realtime):
        xruns = JackXruns(name, log)
        sleepy = jack.Client("sleepy", servername=name, no_start_server=True)
        overrun = threading.Event()

        @sleepy.set_process_callback
        def _process(_frames: int) -> None:
            if overrun.is_set():
                overrun.clear()
                time.sleep(0.05)  # ten periods in one callback

        sleepy.activate()
        try:
            quiet = xruns.during(0.5)
            mark = xruns.mark()
            overrun.set()
            late = eventually(lambda: xruns.since(mark), lambda seen: "sleepy" in seen["late"])
        finally:
            sleepy.deactivate()
            sleepy.close()
            xruns.close()
    assert "sleepy" not in quiet["late"]
    assert late["xruns"] >= 1 and late["late"].get("sleepy", 0) >= 1, late
    assert late["steal_ms"] >= 0 and late["seconds"] > 0


@pytest.mark.live
def test_the_floor_client_joins_and_leaves_the_graph(jack_server: str):
    import jack

    watcher = jack.Client("floor-watcher", servername=jack_server, no_start_server=True)
    try:
        with floor_client(jack_server):
            assert _floor_ports(watcher)
        assert not eventually(lambda: _floor_ports(watcher), lambda ports: not ports)
    finally:
        watcher.close()


def _floor_ports(client: object) -> list[str]:
    return [p.name for p in client.get_ports() if p.name.startswith(f"{FLOOR_CLIENT}:")]  # type: ignore[attr-defined]
