"""The terminal preset manager, driven headlessly with textual's Pilot through every bank action."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Label

from inversynth.presets.manager import OFFLINE, PresetManager, detail_table, range_bar
from inversynth.presets.preset import Preset
from inversynth.presets.store import FACTORY, Bank

FACTORY_COUNT = len(Bank(FACTORY).names())  # every synth's


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


@pytest.mark.slow
def test_browse_search_and_filter_by_tag(tmp_path):
    async def scenario() -> None:
        app = PresetManager(_bank(tmp_path))
        async with app.run_test(size=(140, 40)) as pilot:
            assert len(_rows(app)) == FACTORY_COUNT and _rows(app)[0] == "Air-raid Siren"
            screen = app.export_screenshot()
            assert app.selected.name == "Air-raid Siren" and "sustain_level" in screen and "█" in screen
            await pilot.press("slash")
            await pilot.press(*"tag:bell")
            await pilot.pause()
            assert _rows(app) == ["Gentle Chime", "Glass Bell", "Metallic FM", "Music Box", "Tubular Bell"]
            await pilot.press("space", *"glass")
            await pilot.pause()
            assert _rows(app) == ["Glass Bell"]
            assert app.status == OFFLINE
            app.save_screenshot(str(tmp_path / "manager.svg"))

    asyncio.run(scenario())
    assert (tmp_path / "manager.svg").read_text().startswith("<svg")


@pytest.mark.slow
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
            assert f"exported {FACTORY_COUNT + 1} preset(s)" in app.status
            await pilot.press("l")
            await pilot.pause()
            assert app.status.startswith("cannot load: offline")
            assert app.selected.name == "Siren ☃ copy"  # actions keep the cursor where it was
            await pilot.press("r")
            await _answer(pilot, "Blip")  # taken: refused, nothing lost
            assert app.status.startswith("rename failed: a preset named 'Blip' already exists")
            assert len(bank.names()) == FACTORY_COUNT + 1

    asyncio.run(scenario())
    empty = Bank(tmp_path / "empty")

    async def importing() -> None:
        app = PresetManager(empty)
        async with app.run_test(size=(140, 40)) as pilot:
            assert set(_rows(app)) == set(Bank(FACTORY).names())  # an empty bank: the factory's, read-only
            await pilot.press("i")
            await _answer(pilot, str(tmp_path / "export.json"))
            assert app.status == f"imported {FACTORY_COUNT + 1} preset(s)" and len(empty.names()) == FACTORY_COUNT + 1
            assert set(empty.names()) <= set(_rows(app))

    asyncio.run(importing())


def test_broken_files_are_reported_not_lost(tmp_path):
    bank = _bank(tmp_path)
    broken = bank.folder / "broken.json"
    broken.write_text('{"format": "inversynth-preset", "schema_version": 1, "synth": "orig')

    async def scenario() -> None:
        app = PresetManager(bank)
        async with app.run_test(size=(140, 40)):
            assert len(_rows(app)) == FACTORY_COUNT
            assert "1 file(s) in the bank are not valid presets" in app.status and "broken.json" in app.status

    asyncio.run(scenario())
    assert broken.exists()


@pytest.mark.slow
def test_factory_presets_are_listed_read_only_and_copyable(tmp_path):
    bank = Bank(tmp_path / "empty")

    async def scenario() -> None:
        app = PresetManager(bank)
        async with app.run_test(size=(140, 40)) as pilot:
            factory = sorted(p.name for p in Bank(FACTORY).scan()[0])
            assert _rows(app) == factory
            table = app.query_one("#list", DataTable)
            assert str(table.get_row_at(0)[1]).endswith("factory")
            first = app.selected.name
            for key in ("r", "t", "x"):
                await pilot.press(key)
                await pilot.pause()
                assert app.status == f"'{first}' is a factory preset (read-only): copy it into the bank with c first"
            await pilot.press("c")
            await pilot.pause()
            assert bank.names() == [first]
            assert app.status == f"copied the factory preset into the bank as '{first}'"
            assert _rows(app).count(first) == 1  # the bank's copy now stands for it
            await pilot.press("r")
            await pilot.pause()
            await pilot.press(*"Mine", "enter")  # the rename box starts selected: typing replaces it
            await pilot.pause()
            assert bank.names() == ["Mine"]

    asyncio.run(scenario())


@pytest.mark.slow
def test_escape_leaves_the_search_box(tmp_path):
    async def scenario() -> None:
        app = PresetManager(_bank(tmp_path))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("slash", *"bell")
            await pilot.pause()
            assert isinstance(app.focused, Input)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.focused, DataTable)
            await pilot.press("x")  # keys act on the list again
            await pilot.pause()
            assert app.status.startswith("deleted")

    asyncio.run(scenario())


@pytest.mark.slow
def test_import_a_preset_file_or_folder_choosing_overwrite_or_keep_both(tmp_path):
    source = _bank(tmp_path)
    target = Bank(tmp_path / "target")
    target.save(source.load("Glass Bell").changed(description="mine"))

    async def scenario() -> None:
        app = PresetManager(target)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("i")
            await _answer(pilot, str(source.path_for("Wobble")))
            assert app.status == "imported 1 preset(s)"
            await pilot.press("i")
            await _answer(pilot, str(source.folder))  # Glass Bell and Wobble are taken now
            assert "2 name(s) taken" in str(pilot.app.screen.query_one(Label).render())
            await _answer(pilot, "keep-both")
            assert app.status == f"imported {FACTORY_COUNT} preset(s)"
            assert target.load("Glass Bell").description == "mine" and "Glass Bell 2" in target.names()
            await pilot.press("i")
            await _answer(pilot, str(source.path_for("Wobble")))
            await _answer(pilot, "overwrite")
            assert app.status == "imported 1 preset(s)" and target.names().count("Wobble") == 1

    asyncio.run(scenario())
