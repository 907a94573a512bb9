"""Where each room's imports may go, and what is chosen per platform (tested here on Linux with the
platform as a parameter)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from inversynth.bridge.live.midi_input import APIS, NO_VIRTUAL_PORTS, default_api
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


# The floors of the house, bottom first; a module imports only from its own room or a room to its left.
# Floor 3 holds three rooms, in this order: presets, the matching pipeline (which saves presets), training
# (which scores models through the matching pipeline). README.md, "Where to find what", shows this table.
ROOMS = (
    ("ground", "inversynth"),  # errors, atomic writes, audio files, console, the OSC client
    ("engine", "inversynth.engine"),
    ("presets", "inversynth.presets"),
    ("matching", "inversynth.bridge.matching"),
    ("training", "inversynth.training"),
    ("live", "inversynth.bridge.live"),
    ("cli", "inversynth.cli"),
)
FOLDERS = ("inversynth", "engine", "bridge", "training", "presets")


def room_of(module: str) -> int:
    """The index in ROOMS of the room ``module`` lives in (the longest matching prefix)."""
    prefixes = [(len(prefix), i) for i, (_, prefix) in enumerate(ROOMS) if module == prefix or
                module.startswith(prefix + ".")]  # fmt: skip
    return max(prefixes)[1]


def module_name(path: Path) -> str:
    """``bridge/live/serve.py`` -> ``inversynth.bridge.live.serve`` (package-dir in pyproject.toml)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts if parts[0] == "inversynth" else ["inversynth", *parts])


def every_import() -> dict[str, set[str]]:
    """Every ``inversynth.*`` module each module of the tree imports, at any depth of its file."""
    found: dict[str, set[str]] = {}
    for folder in FOLDERS:
        for path, names in imported_modules(folder).items():
            found[module_name(ROOT / path)] = names
    return found


def test_every_import_points_down_or_sideways_to_the_left():
    imports = every_import()
    assert len(imports) > 60 and {room_of(m) for m in imports} == set(range(len(ROOMS)))
    upward = [
        f"{module} ({ROOMS[room_of(module)][0]}) imports {name} ({ROOMS[room_of(name)][0]})"
        for module, names in sorted(imports.items())
        for name in sorted(names)
        if room_of(name) > room_of(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_ground_floor_imports_only_itself():
    for module, names in every_import().items():
        if room_of(module) == 0:
            assert all(room_of(n) == 0 for n in names), f"{module} imports {names}"


def test_the_tables_room_names_are_the_readmes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Where to find what") :]
    assert " → ".join(name for name, _ in ROOMS) in section


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


def test_portaudio_itself_is_asked_without_starting_a_server(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "no-such-jack-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    present = sound_device_present()  # the real question, on whatever machine runs the tests
    assert isinstance(present, bool)
    assert resolve_backend("auto") == ("portaudio" if present else "dummy")


@pytest.mark.parametrize(
    ("devices", "default_output", "backend"), [(0, -1, "dummy"), (2, -1, "dummy"), (2, 1, "portaudio")]
)
def test_auto_takes_portaudio_only_with_a_default_output(monkeypatch, devices, default_output, backend):
    """What PortAudio answers on a machine without a sound card, with cards but no output, with one (the
    one thing mocked: a sound card cannot exist here)."""
    from inversynth.engine.pyo_runtime import pyo_module

    monkeypatch.setenv("JACK_DEFAULT_SERVER", "no-such-jack-server")
    monkeypatch.setattr(pyo_module(), "pa_count_devices", lambda: devices)
    monkeypatch.setattr(pyo_module(), "pa_get_default_output", lambda: default_output)
    assert resolve_backend("auto") == backend


def test_windows_and_macos_branches_of_file_writes_and_worker_counts(monkeypatch, tmp_path):
    """No fchmod, no folder to open (Windows), no CPU affinity (macOS, Windows): writes and counts still work."""
    from inversynth import atomic
    from inversynth.engine.render import default_workers

    monkeypatch.delattr(os, "fchmod")
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(atomic, "FOLDER_FSYNC", False)  # what os.name == "nt" sets
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    atomic.atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}" and not any(Path(p).is_dir() for p in opened)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == atomic._FILE_MODE
    assert default_workers() == (os.cpu_count() or 1)
