"""The terminal preset manager, driven headlessly with textual's Pilot through every bank action."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from rich.console import Console
from textual.widgets import DataTable, Input

from inversynth.presets.manager import OFFLINE, PresetManager, detail_table, range_bar
from inversynth.presets.preset import Preset
from inversynth.presets.store import FACTORY, Bank


def _bank(tmp_path: Path) -> Bank:
    folder = tmp_path / "bank"
    shutil.copytree(FACTORY, folder)
    return Bank(folder)


def _rows(app: PresetManager) -> list[str]:
    table = app.query_one("#list", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def _answer(pilot, text: str) -> None:
    await pilot.pause()
    prompt_input = pilot.app.screen.query_one(Input)
    prompt_input.value = text
    await pilot.press("enter")
    await pilot.pause()


def test_range_bar():
    assert range_bar(0.0, 4) == "░░░░" and range_bar(1.0, 4) == "████" and range_bar(0.5, 4) == "██░░"


def test_a_matched_preset_shows_its_verdict_distances_and_what_was_not_heard():
    params = Bank(FACTORY).load("Glass Bell").params
    provenance = {
        "confidence": dict.fromkeys(params, 0.9),
        "undetermined": ["release"],
        "distance_db": 0.42,
        "network_distance_db": 1.37,
        "refined": True,
        "verdict": "exact",
    }
    console = Console(width=120, record=True)
    console.print(detail_table(Preset.new("original", "Found", params, provenance=provenance)))
    text = console.export_text()
    assert "match exact (1.37 -> 0.42 dB refined)" in text
    assert "not heard" in text and text.count("0.90") == len(params) - 1


def test_browse_search_and_filter_by_tag(tmp_path):
    async def scenario() -> None:
        app = PresetManager(_bank(tmp_path))
        async with app.run_test(size=(140, 40)) as pilot:
            assert len(_rows(app)) == 18 and _rows(app)[0] == "Air-raid Siren"
            screen = app.export_screenshot()
            assert app.selected.name == "Air-raid Siren" and "sustain_level" in screen and "█" in screen
            await pilot.press("slash")
            await pilot.press(*"tag:bell")
            await pilot.pause()
            assert _rows(app) == ["Gentle Chime", "Glass Bell", "Music Box"]
            await pilot.press("space", *"glass")
            await pilot.pause()
            assert _rows(app) == ["Glass Bell"]
            assert app.status == OFFLINE
            app.save_screenshot(str(tmp_path / "manager.svg"))

    asyncio.run(scenario())
    assert (tmp_path / "manager.svg").read_text().startswith("<svg")


def test_every_bank_action(tmp_path):
    bank = _bank(tmp_path)

    async def scenario() -> None:
        app = PresetManager(bank)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("r")
            await _answer(pilot, "Siren ☃")
            assert "Siren ☃" in bank.names() and "Air-raid Siren" not in bank.names()
            assert app.selected.name == "Siren ☃"
            await pilot.press("t")
            await _answer(pilot, "loud, alarm")
            assert bank.load("Siren ☃").tags == ("loud", "alarm")
            await pilot.press("c")
            await pilot.pause()
            assert "Siren ☃ copy" in bank.names() and app.selected.name == "Siren ☃ copy"
            await pilot.press("x")
            await pilot.pause()
            assert "Siren ☃ copy" not in bank.names() and "u to undo" in app.status
            await pilot.press("u")
            await pilot.pause()
            assert "Siren ☃ copy" in bank.names()
            await pilot.press("e")
            await _answer(pilot, str(tmp_path / "export.json"))
            assert "exported 19 preset(s)" in app.status
            await pilot.press("l")
            await pilot.pause()
            assert app.status.startswith("cannot load: offline")
            assert app.selected.name == "Siren ☃ copy"  # actions keep the cursor where it was
            await pilot.press("r")
            await _answer(pilot, "Blip")  # taken: refused, nothing lost
            assert app.status.startswith("rename failed: a preset named 'Blip' already exists")
            assert len(bank.names()) == 19

    asyncio.run(scenario())
    empty = Bank(tmp_path / "empty")

    async def importing() -> None:
        app = PresetManager(empty)
        async with app.run_test(size=(140, 40)) as pilot:
            assert _rows(app) == []
            await pilot.press("i")
            await _answer(pilot, str(tmp_path / "export.json"))
            assert app.status == "imported 19 preset(s)" and len(_rows(app)) == 19

    asyncio.run(importing())


def test_broken_files_are_reported_not_lost(tmp_path):
    bank = _bank(tmp_path)
    broken = bank.folder / "broken.json"
    broken.write_text('{"format": "inversynth-preset", "schema_version": 1, "synth": "orig')

    async def scenario() -> None:
        app = PresetManager(bank)
        async with app.run_test(size=(140, 40)):
            assert len(_rows(app)) == 18
            assert "1 file(s) in the bank are not valid presets" in app.status and "broken.json" in app.status

    asyncio.run(scenario())
    assert broken.exists()
