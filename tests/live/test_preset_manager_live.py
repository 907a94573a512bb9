"""The preset manager's live actions against a real ``inversynth serve`` on the dummy backend."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time

import pytest
from textual.widgets import DataTable

from inversynth.engine.live import audition_note
from inversynth.presets.manager import OFFLINE, PresetManager
from inversynth.presets.store import FACTORY, Bank
from tests.helpers import free_port
from tests.live.conftest import start_serve, stop_serve


@pytest.fixture(scope="module")
def dummy_serve(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-dummy")
    shutil.copytree(FACTORY, tmp / "bank")
    served = start_serve(tmp, "--audio", "dummy", "--no-midi")
    yield served
    stop_serve(served, signal.SIGINT)  # Ctrl-C


async def _until(pilot, condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {seconds:g} s; status: {pilot.app.status}")
        await pilot.pause(0.1)


def _select(app: PresetManager, name: str) -> None:
    table = app.query_one("#list", DataTable)
    table.move_cursor(row=[p.name for p in app.presets].index(name))


def test_load_audition_and_match_now(dummy_serve):
    bank = Bank(dummy_serve.bank)
    osc = dummy_serve.client()

    async def scenario() -> None:
        app = PresetManager(bank, ("127.0.0.1", dummy_serve.port))
        async with app.run_test(size=(140, 40)) as pilot:
            await _until(pilot, lambda: app.online)
            assert app.status.startswith("connected to inversynth serve") and "dummy" in app.status

            _select(app, "Wobble")
            await pilot.press("l")
            await pilot.pause(0.3)
            wobble = bank.load("Wobble").params
            for name in ("M", "D", "release"):
                assert osc.request(f"/synth/get/{name}", reply=f"/synth/param/{name}")[0] == pytest.approx(wobble[name])

            _select(app, "Glass Bell")
            await pilot.press("a")
            await _until(pilot, lambda: app.status.startswith("auditioning 'Glass Bell'"), seconds=2)
            assert osc.request("/status")[1] == 1  # one voice sounding
            await pilot.pause(1.5)

            _select(app, "Vibrato Lead")
            await pilot.press("l")
            await pilot.pause(0.1)
            before = len(app.presets)
            await pilot.press("m")
            await pilot.pause(0.2)
            vibrato = bank.load("Vibrato Lead").params
            osc.send("/synth/note", audition_note("original", vibrato), 127, 0.0)
            await _until(pilot, lambda: app.status.startswith("matched ("))
            assert len(app.presets) == before + 1
            assert app.selected is not None and app.selected.name.startswith("Match ")
            assert app.selected.provenance["confidence"]  # the detail pane shows the model's confidence
            assert "confidence" in app.export_screenshot()

    try:
        asyncio.run(scenario())
    finally:
        osc.close()


def test_no_server_says_offline_and_still_edits(tmp_path):
    shutil.copytree(FACTORY, tmp_path / "bank")
    bank = Bank(tmp_path / "bank")

    async def scenario() -> None:
        app = PresetManager(bank, ("127.0.0.1", free_port()))
        async with app.run_test(size=(140, 40)) as pilot:
            await _until(pilot, lambda: "no answer from" in app.status, seconds=10)
            assert app.status.startswith(OFFLINE)
            await pilot.press("l")
            assert app.status.startswith(f"cannot load: {OFFLINE}")
            await pilot.press("c")  # duplicate still works offline
            await pilot.pause()
            assert len(bank.names()) == len(Bank(FACTORY).names()) + 1

    asyncio.run(scenario())


def test_the_manager_knows_when_the_server_is_gone_and_reconnects(tmp_path):
    shutil.copytree(FACTORY, tmp_path / "bank")
    bank = Bank(tmp_path / "bank")
    served = start_serve(tmp_path, "--audio", "dummy", "--no-midi")

    async def scenario() -> None:
        nonlocal served
        app = PresetManager(bank, ("127.0.0.1", served.port))
        app.match_timeout = 2.0
        async with app.run_test(size=(140, 40)) as pilot:
            await _until(pilot, lambda: app.online)
            _select(app, "Wobble")
            await pilot.press("m")  # the capture starts; then the server goes away
            await pilot.pause(0.2)
            stop_serve(served)
            # The state, not the status line: "stopped answering" may already have given way to the
            # match's own time-out (2 s here) when a busy machine is slow to stop the server.
            await _until(pilot, lambda: not app.online, seconds=8)
            gave_up = app.status.startswith("match now gave up")  # already, on a busy machine
            assert "stopped answering" in app.status or gave_up
            await pilot.press("l")
            assert app.status.startswith(f"cannot load: {OFFLINE}")
            if not gave_up:  # said once, before the load's refusal or after it
                await _until(pilot, lambda: app.status.startswith("match now gave up"), seconds=10)

            (tmp_path / "again").mkdir()
            served = start_serve(tmp_path / "again", "--audio", "dummy", "--no-midi", port=served.port)
            await _until(pilot, lambda: app.online and app.status.startswith("connected to"), seconds=10)
            await pilot.press("l")
            await _until(pilot, lambda: app.status == "loaded 'Wobble' into the synth", seconds=5)
            osc = served.client()
            try:
                assert osc.request("/synth/get/M", reply="/synth/param/M")[0] == pytest.approx(
                    bank.load("Wobble").params["M"]
                )
            finally:
                osc.close()

    try:
        asyncio.run(scenario())
    finally:
        if served.process.poll() is None:
            stop_serve(served)


def test_a_refused_request_is_shown_with_the_servers_reason(dummy_serve):
    bank = Bank(dummy_serve.bank)

    async def scenario() -> None:
        app = PresetManager(bank, ("127.0.0.1", dummy_serve.port))
        async with app.run_test(size=(140, 40)) as pilot:
            await _until(pilot, lambda: app.online)
            app._client.send("/synth/param/M", 99.0)  # what a stale preset of another version would send
            await _until(pilot, lambda: app.status.startswith("the server refused /synth/param/M"), seconds=5)
            assert "outside 1..30 Hz" in app.status

    asyncio.run(scenario())


def test_load_is_one_whole_preset_with_its_synced_rates_and_another_synths_is_refused(dummy_serve, tmp_path):
    from inversynth.engine.synths import get_spec
    from inversynth.presets.preset import Preset

    bank = Bank(tmp_path / "own")  # the manager's bank is not the server's: the preset travels whole
    original = get_spec("original").defaults()
    bank.save(Preset.new("original", "Synced", {**original, "M": 3.0}, sync={"M": "1/8"}))
    bank.save(Preset.new("paper", "Paper one", get_spec("paper").defaults()))
    osc = dummy_serve.client()

    async def scenario() -> None:
        app = PresetManager(bank, ("127.0.0.1", dummy_serve.port))
        async with app.run_test(size=(140, 40)) as pilot:
            await _until(pilot, lambda: app.online)
            osc.send("/synth/tempo", 120.0)
            _select(app, "Synced")
            await pilot.press("l")
            await _until(pilot, lambda: app.status.startswith("loaded 'Synced'"), seconds=5)
            # 1/8 at 120 BPM is 4 Hz: the division came with the preset, not the 3 Hz it was saved at
            assert osc.request("/synth/get/M", reply="/synth/param/M")[0] == pytest.approx(4.0)
            _select(app, "Paper one")
            await pilot.press("l")
            await _until(pilot, lambda: app.status.startswith("the server refused"), seconds=5)
            assert "is for synth 'paper', this server plays 'original'" in app.status

    try:
        asyncio.run(scenario())
    finally:
        osc.send("/synth/sync", "M", "off")
        osc.close()
