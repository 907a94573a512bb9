"""Where each room's imports may go, and what is chosen per platform (tested here on Linux with the
platform as a parameter)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inversynth.bridge.midi_input import APIS, NO_VIRTUAL_PORTS, default_api
from inversynth.engine.backends import resolve_backend, sound_device_present

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Every ``inversynth.*`` module each file of ``folder`` imports (at any depth of the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.startswith("inversynth")}
    return found


def test_the_engine_imports_nothing_from_bridge_or_the_command_line():
    for path, names in imported_modules("engine").items():
        outside = {n for n in names if n.split(".")[1] in ("bridge", "console", "cli", "commands")}
        assert not outside, f"{path} imports {outside}"


def test_presets_do_not_reach_into_the_live_server():
    for path, names in imported_modules("presets").items():
        allowed = ("inversynth.presets", "inversynth.engine", "inversynth.atomic", "inversynth.errors")
        # The manager talks to a running server over OSC, through its client only.
        allowed += ("inversynth.bridge.osc_client", "inversynth.console")
        assert all(n.startswith(allowed) for n in names), f"{path} imports {names}"


@pytest.mark.parametrize(
    ("backend", "platform", "api"),
    [
        ("jack", "linux", "jack"),
        ("jack", "darwin", "jack"),
        ("dummy", "linux", "alsa"),
        ("portaudio", "darwin", "coremidi"),
        ("portaudio", "win32", "winmm"),
        ("dummy", "freebsd14", "alsa"),
    ],
)
def test_the_midi_api_follows_the_audio_backend_then_the_platform(backend, platform, api):
    assert default_api(backend, platform) == api
    assert api in APIS


def test_windows_midi_opens_an_existing_port():
    assert {"winmm"} == NO_VIRTUAL_PORTS


def test_portaudio_itself_says_there_is_no_device_here(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "no-such-jack-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    assert sound_device_present() is False  # this machine has no sound card: PortAudio counts 0 devices
    assert resolve_backend("auto") == "dummy"
