"""What an OSC sender is told when its message cannot be used, against a real control surface
(the audio process on the dummy backend, the session, python-osc over UDP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inversynth.bridge.live.osc_control import OscControl, Route
from inversynth.bridge.live.session import Session
from inversynth.engine.backends import ServerOptions
from inversynth.engine.synth_client import SynthClient
from inversynth.osc_client import OscClient
from inversynth.presets.store import Bank


@pytest.fixture(scope="module")
def surface(tmp_path_factory) -> Iterator[tuple[OscControl, list[str]]]:
    lines: list[str] = []
    synth = SynthClient("original", ServerOptions("dummy"), voices=2, log=lines.append)
    session = Session(synth, Bank(tmp_path_factory.mktemp("bank")), None, log=lines.append)
    control = OscControl(session, port=0)
    control.start()
    yield control, lines
    control.close()
    synth.close()


def test_a_handler_bug_is_answered_counted_and_its_traceback_logged_once(surface):
    control, lines = surface

    def broken(_client) -> None:
        raise ZeroDivisionError("a bug, not bad input")

    control.routes["/test/broken"] = Route(("",), broken)
    client = OscClient(*control.address)
    try:
        for _ in range(3):
            address, reason = client.request("/test/broken", reply="/error")
            assert address == "/test/broken" and reason == "/test/broken: ZeroDivisionError: a bug, not bad input"
    finally:
        client.close()
    assert control.bad["/test/broken"] == 3
    tracebacks = [line for line in lines if line.startswith("Traceback (most recent call last)")]
    assert len(tracebacks) == 1 and "ZeroDivisionError: a bug, not bad input" in tracebacks[0]


def test_a_query_answers_on_the_port_it_names(surface):
    control, _ = surface
    listener, asker = OscClient(*control.address), OscClient(*control.address)
    try:
        asker.send("/synth/get/M", listener.port)
        assert listener.wait_for("/synth/param/M")[0] == (pytest.approx(12.6),)
        assert asker.drain() == []  # the answer went to the named port only
        address, reason = asker.request("/status", 70000, reply="/error")
        assert address == "/status" and reason == "/status: port 70000 is outside 1..65535"
    finally:
        listener.close()
        asker.close()


@pytest.mark.parametrize(
    ("address", "args", "reason"),
    [
        ("/synth/bend", [100.0], "pitch bend 100 semitones is outside ±2 (the bend range)"),
        ("/synth/mono", [7], "/synth/mono takes 1 (on) or 0 (off), not 7"),
        ("/synth/note_on", [60.0, 100.0], "/synth/note_on takes ii, got ff"),  # 1.0 may mean full velocity
    ],
)
def test_a_value_the_synth_cannot_take_is_refused_and_changes_nothing(surface, address, args, reason):
    control, _ = surface
    synth = control.session.synth
    client = OscClient(*control.address)
    try:
        client.send("/synth/bend", 1.0)
        client.request("/status")
        bend, mono = synth._bend_ratio, synth.playing.get("mono")
        before = control.bad[address]
        assert client.request(address, *args, reply="/error") == (address, reason)
        assert control.bad[address] == before + 1
        assert (synth._bend_ratio, synth.playing.get("mono")) == (bend, mono)  # the bend stays at +1 semitone
        assert bend == pytest.approx(2 ** (1 / 12))
    finally:
        client.send("/synth/bend", 0.0)
        client.close()


def test_what_the_bank_lists_loads_and_a_broken_file_is_said_with_its_reason(surface):
    import json

    from inversynth.engine.synths import get_spec
    from inversynth.presets.preset import Preset

    control, lines = surface
    folder = control.session.bank.folder
    defaults = get_spec("original").defaults()
    (folder / "Old-square.json").write_text(Preset.new("original", "Old square", {**defaults, "C": 220.0}).dumps())
    future = {**Preset.new("original", "Future one", defaults).to_json(), "schema_version": 99}
    (folder / "future-one.json").write_text(json.dumps(future))
    client = OscClient(*control.address)
    try:
        listed = client.request("/preset/list")
        assert "Old square" in listed and "Future one" not in listed
        client.send("/preset/load", "Old square")
        client.request("/status")
        assert control.session.synth.patch["C"] == 220.0
        address, reason = client.request("/preset/load", "Future one", reply="/error")
        assert address == "/preset/load" and "99" in reason
        assert reason.startswith("preset 'Future one' cannot be loaded: future-one.json: ")
    finally:
        client.close()
    assert sum("future-one.json is not a valid preset" in line for line in lines) == 1  # the log says it, once


def test_saving_a_preset_moves_no_program_number(surface):
    control, _ = surface
    session = control.session
    before = session.preset_names()
    client = OscClient(*control.address)
    try:
        for name in ("Aaa first by name", "Zzz"):
            client.send("/preset/save", name)
            client.request("/status")
    finally:
        client.close()
    after = session.preset_names()
    assert after[: len(before)] == before and after[len(before) :] == ["Aaa first by name", "Zzz"]
    assert session.program(len(before)).name == "Aaa first by name"


def test_a_subscriber_that_cannot_be_reached_is_said_once_and_dropped(surface):
    control, lines = surface
    client = OscClient(*control.address)
    try:
        client.send("/subscribe", "255.255.255.255", 9)  # broadcast: the kernel refuses every send to it
        client.request("/status")
        assert ("255.255.255.255", 9) in control._subscribers
        for value in (1.0, 2.0, 3.0, 4.0, 5.0):
            client.send("/synth/param/M", value)
        client.request("/status")
    finally:
        client.close()
    said = [line for line in lines if "cannot send to 255.255.255.255:9" in line]
    assert len(said) == 1 and said[0].endswith("unsubscribed it")
    assert ("255.255.255.255", 9) not in control._subscribers
