"""Presets and banks: round trips, corrupt files, hostile names, concurrent and killed writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from inversynth.engine.synths import get_spec
from inversynth.presets.preset import Preset, PresetError
from inversynth.presets.store import FACTORY, Bank, BankIndex, file_name
from tests.helpers import batched, on_small_disk


def _complete(spec, **values):
    return spec.patch(values)


def test_round_trip(tmp_path, spec):
    bank = Bank(tmp_path)
    preset = Preset.new(
        "original",
        "Round trip",
        _complete(spec, M=3.0),
        tags=("Bell", "bell", " soft "),
        provenance={"source": "a.wav", "model": "fmnet", "distance_db": 1.5},
    )
    path = bank.save(preset)
    assert path.parent == tmp_path
    loaded = bank.load("Round trip")
    assert loaded == preset
    assert loaded.tags == ("bell", "soft")
    assert loaded.params["M"] == 3.0 and loaded.provenance["distance_db"] == 1.5


def test_presets_are_immutable_and_edits_are_validated(spec):
    preset = Preset.new("original", "A", _complete(spec))
    with pytest.raises(TypeError):
        preset.params["M"] = 5.0  # type: ignore[index]
    edited = preset.changed(params={"M": 5.0}, name="B")
    assert edited.params["M"] == 5.0 and preset.params["M"] == spec.param("M").default
    with pytest.raises(PresetError, match=r"parameter 'M' = 99 Hz is outside 1\.\.30 Hz"):
        preset.changed(params={"M": 99.0})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="vst-fxp"), "not an inversynth preset"),
        (lambda d: d.update(schema_version=99), "schema version 99 is newer than this inversynth reads"),
        (lambda d: d.update(schema_version="1"), "schema version '1' is not a whole number"),
        (lambda d: d.update(synth="paper23"), "unknown synth 'paper23'"),
        (lambda d: d.update(spec_version=7), "made for version 7 of synth 'original'"),
        (lambda d: d["params"].update(M="fast"), "parameter 'M' = 'fast' is not a number"),
        (lambda d: d["params"].update(M=45.0), r"parameter 'M' = 45 Hz is outside 1\.\.30 Hz"),
        (lambda d: d["params"].update(Q=1.0), "unknown parameter 'Q'"),
        (lambda d: d["params"].pop("C"), "lacks parameters C"),
        (lambda d: d.update(name=""), "preset name '' must be"),
        (lambda d: d.update(tags="bell"), "field 'tags' is not a list"),
    ],
)
def test_corrupt_presets_are_rejected_with_one_line(spec, mutate, message):
    data = Preset.new("original", "X", _complete(spec)).to_json()
    mutate(data)
    with pytest.raises(PresetError, match=message) as info:
        Preset.from_json(data)
    assert "\n" not in str(info.value)


def test_older_schema_versions_upgrade_on_read_and_save_as_current(tmp_path, spec):
    """Version 0, the hand-written form: synth, name and params; the next save writes the current version."""
    from inversynth.presets.preset import SCHEMA_VERSION

    bank = Bank(tmp_path)
    path = bank.path_for("Hand made")
    path.write_text(json.dumps({"synth": "original", "name": "Hand made", "params": _complete(spec)}))
    preset = bank.load("Hand made")
    assert preset.params["M"] == spec.param("M").default and preset.tags == ()
    assert json.loads(path.read_text()).get("schema_version") is None  # reading never rewrites
    bank.save(preset.changed(tags=("pad",)))
    saved = json.loads(path.read_text())
    assert saved["schema_version"] == SCHEMA_VERSION and saved["format"] == "inversynth-preset"
    assert saved["tags"] == ["pad"]


def test_truncated_and_nan_files_are_reported_and_left_alone(tmp_path, spec):
    bank = Bank(tmp_path)
    bank.save(Preset.new("original", "Good", _complete(spec)))
    text = Preset.new("original", "Torn", _complete(spec)).dumps()
    torn = tmp_path / file_name("Torn")
    torn.write_text(text[: len(text) // 2])
    nan = tmp_path / file_name("NaN")
    nan.write_text(text.replace('"M": 12.6', '"M": NaN').replace('"Torn"', '"NaN"'))
    good, broken = bank.scan()
    assert [p.name for p in good] == ["Good"]
    reasons = {b.path.name: b.reason for b in broken}
    assert "not valid JSON" in reasons[torn.name]
    assert "NaN" in reasons[nan.name]
    with pytest.raises(PresetError, match="not valid JSON"):
        bank.load("Torn")
    assert torn.read_text() == text[: len(text) // 2]  # never rewritten behind the user's back


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/abs/path", "a/b\\c", "..", "Ünïcødé ☃ 鐘", "  spaced  ", "CON", "x" * 200]
)
def test_any_name_stays_inside_the_bank(tmp_path, spec, name):
    bank = Bank(tmp_path / "bank")
    path = bank.save(Preset.new("original", name, _complete(spec)))
    assert path.parent == tmp_path / "bank"
    assert bank.load(name).name == name.strip()
    assert [p.name for p in (tmp_path).iterdir()] == ["bank"]


def test_different_names_never_share_a_file():
    assert file_name("a/b") != file_name("a-b") != file_name("a b")


def test_save_without_overwrite_refuses(tmp_path, spec):
    bank = Bank(tmp_path)
    bank.save(Preset.new("original", "Once", _complete(spec)))
    with pytest.raises(PresetError, match="already exists"):
        bank.save(Preset.new("original", "Once", _complete(spec, M=2.0)), overwrite=False)
    assert bank.load("Once").params["M"] == spec.param("M").default


def test_search_by_name_and_tag(tmp_path, spec):
    bank = Bank(tmp_path)
    for name, tags in [("Glass Bell", ("bell",)), ("Siren", ("fx",)), ("Bell Pad", ("pad",))]:
        bank.save(Preset.new("original", name, _complete(spec), tags=tags))
    assert [p.name for p in bank.search("bell")] == ["Bell Pad", "Glass Bell"]
    assert [p.name for p in bank.search(tag="fx")] == ["Siren"]


@pytest.mark.parametrize("synth", ["original", "paper"])
def test_factory_bank_has_sixteen_distinct_valid_presets_per_synth(synth):
    from inversynth.engine.synths import get_spec

    spec = get_spec(synth)
    every, broken = Bank(FACTORY).scan()
    assert broken == []
    presets = [p for p in every if p.synth == synth]
    assert len(presets) >= 16
    patches = {tuple(p.params[n] for n in spec.names) for p in presets}
    assert len(patches) == len(presets)
    assert all(p.tags and p.description for p in presets)
    assert Bank(FACTORY).load("Glass Bell").name == "Glass Bell"


def _save_many(folder: str, prefix: str, count: int) -> None:
    from inversynth.engine.synths import get_spec

    bank = Bank(folder)
    patch = get_spec("original").defaults()
    for i in range(count):
        bank.save(Preset.new("original", f"{prefix}-{i}", {**patch, "M": 1.0 + i % 29}))


@pytest.mark.slow
def test_two_processes_saving_at_once_lose_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_save_many, args=(str(tmp_path), tag, 60)) for tag in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert all(w.exitcode == 0 for w in workers)
    good, broken = Bank(tmp_path).scan()
    assert broken == [] and len(good) == 120


def test_a_writer_killed_mid_loop_leaves_only_valid_files(tmp_path):
    code = "import sys; from tests.presets.test_store import _save_many; _save_many(sys.argv[1], 'k', 100000)"
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=os.getcwd())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(tmp_path.glob("k-*.json"))) < 50:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    good, broken = Bank(tmp_path).scan()
    assert broken == [] and len(good) >= 50
    for path in tmp_path.glob("[!.]*.json"):  # a temporary file cut short by the kill is not a preset
        json.loads(path.read_text())


def test_rename_duplicate_delete_and_undo(tmp_path, spec):
    bank = Bank(tmp_path)
    bank.save(Preset.new("original", "Bell", _complete(spec, M=4.0)))
    bank.rename("Bell", "Glass ☃")
    assert bank.names() == ["Glass ☃"]
    assert bank.duplicate("Glass ☃").name == "Glass ☃ copy"
    assert bank.duplicate("Glass ☃").name == "Glass ☃ copy 2"
    bank.save(Preset.new("original", "Other", _complete(spec)))
    with pytest.raises(PresetError, match="already exists"):
        bank.rename("Glass ☃", "Other")
    bank.delete("Glass ☃ copy")
    assert "Glass ☃ copy" not in bank.names()
    assert bank.undo_delete().name == "Glass ☃ copy"
    assert bank.load("Glass ☃ copy").params["M"] == 4.0
    with pytest.raises(PresetError, match="nothing to undo"):
        bank.undo_delete()


def test_bank_export_and_import(tmp_path, spec):
    source = Bank(tmp_path / "a")
    for name in ("One", "Two ✓"):
        source.save(Preset.new("original", name, _complete(spec)))
    assert source.export_to(tmp_path / "bank.json") == 2
    target = Bank(tmp_path / "b")
    assert target.import_from(tmp_path / "bank.json") == ["One", "Two ✓"]
    assert target.names() == ["One", "Two ✓"]
    with pytest.raises(PresetError, match="would replace One"):
        target.import_from(tmp_path / "bank.json")
    document = json.loads((tmp_path / "bank.json").read_text())
    document["presets"][1]["params"]["M"] = 99.0
    (tmp_path / "bad.json").write_text(json.dumps(document))
    fresh = Bank(tmp_path / "c")
    with pytest.raises(PresetError, match=r"preset 2: preset 'Two ✓': parameter 'M' = 99 Hz"):
        fresh.import_from(tmp_path / "bad.json")
    assert fresh.names() == []  # nothing written when one preset is bad


def test_the_bank_index_follows_the_folder_and_parses_only_what_changed(tmp_path, spec, monkeypatch):
    bank = Bank(tmp_path)
    for name in ("b", "a", "c"):
        bank.save(Preset.new("original", name, _complete(spec)))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    index = BankIndex(bank)
    assert [p.name for p in index.presets()] == ["a", "b", "c"]  # the broken file is left out

    parsed = []
    real = Preset.loads
    counting = staticmethod(lambda text: parsed.append(text) or real(text))
    monkeypatch.setattr(Preset, "loads", counting)
    assert [p.name for p in index.presets()] == ["a", "b", "c"]
    assert parsed == []  # nothing changed: nothing parsed

    monkeypatch.setattr(Preset, "loads", real)  # the bank's own reads are not the index's
    bank.save(Preset.new("original", "d", _complete(spec, M=2.0)))
    bank.rename("a", "z")
    bank.delete("b")
    monkeypatch.setattr(Preset, "loads", counting)
    assert [p.name for p in index.presets()] == ["c", "d", "z"]
    assert len(parsed) == 2  # only the new file and the renamed one
    assert next(p for p in index.presets() if p.name == "d").params["M"] == 2.0


def test_a_preset_keeps_its_tempo_synced_rates_and_refuses_bad_ones(tmp_path, spec):
    bank = Bank(tmp_path)
    bank.save(Preset.new("original", "Synced", _complete(spec), sync={"M": "1/8T"}))
    assert dict(bank.load("Synced").sync) == {"M": "1/8T"}
    version_1 = {**Preset.new("original", "Old", _complete(spec)).to_json(), "schema_version": 1}
    del version_1["sync"]
    assert dict(Preset.from_json(version_1).sync) == {}  # version 1 synced nothing
    for sync, message in (({"A": "1/4"}, "'A' is not a rate"), ({"M": "1/5"}, "not n/d"), ({"M": 4}, "not text")):
        with pytest.raises(PresetError, match=message):
            Preset.from_json({**version_1, "schema_version": 2, "sync": sync})


def test_import_takes_a_preset_file_or_a_folder_and_a_clash_policy(tmp_path, spec):
    source = Bank(tmp_path / "a")
    for name in ("One", "Two"):
        source.save(Preset.new("original", name, _complete(spec, M=2.0)))
    target = Bank(tmp_path / "b")
    target.save(Preset.new("original", "One", _complete(spec, M=9.0)))
    single = source.path_for("Two")
    assert target.import_from(single) == ["Two"]
    with pytest.raises(PresetError, match="would replace One, Two; overwrite them or keep both"):
        target.import_from(source.folder)
    assert target.load("One").params["M"] == 9.0  # refused: nothing written
    assert target.import_from(source.folder, clash="keep-both") == ["One 2", "Two 2"]
    assert target.load("One").params["M"] == 9.0 and target.load("One 2").params["M"] == 2.0
    assert target.import_from(single, clash="overwrite") == ["Two"]
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(PresetError, match=r"junk\.json: a preset must be a JSON object"):
        target.import_from(tmp_path / "junk.json")


def _long_term_db(clip, rate):
    """The spectrum of the sustained part in dB, in 40 Hz bands (2 full cycles of a 5 Hz LFO: every phase
    of it heard equally)."""
    span = clip[: round(0.4 * rate)]
    power = np.abs(np.fft.rfft(span * np.hanning(span.size))) ** 2
    bands = power[: power.size // 16 * 16].reshape(-1, 16).sum(axis=1)  # 16 bins of 2.5 Hz
    return 10 * np.log10(bands + 1e-12)


def test_a_version_1_paper_preset_loads_with_its_sound_and_saves_as_version_2(tmp_path):
    """Version 1 read B as a phase-modulation index: B_sine 200 rad at 5 Hz swung the sine 1000 Hz
    either way. Read from a bank or imported, it loads as B_sine = 1000 Hz, sounds as it did, and the
    next save writes version 2."""
    from inversynth.engine.synths import get_spec

    spec = get_spec("paper")
    old = {**spec.defaults(), "f_sine": 440.0, "B_sine": 200.0, "v_sine": 5.0, "a": 0.001, "s": 1.0}
    v1 = {**Preset.new("paper", "Old siren", old).to_json(), "spec_version": 1, "params": old}
    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / file_name("Old siren")).write_text(json.dumps(v1))
    loaded = Bank(folder).load("Old siren")
    assert loaded.params["B_sine"] == 1000.0 and loaded.params["v_sine"] == 5.0
    rate, t = spec.sample_rate, np.arange(spec.sample_rate) / spec.sample_rate
    as_it_was = np.sin(2 * np.pi * 440.0 * t + 200.0 * np.sin(2 * np.pi * 5.0 * t))  # version 1's formula
    now = batched("paper", loaded.params, rate, rate) * 4  # the mix scales by 1/4
    misread = batched("paper", old, rate, rate) * 4  # 200 taken as Hz without the upgrade
    loud = _long_term_db(as_it_was, rate) > _long_term_db(as_it_was, rate).max() - 40
    error = np.abs(_long_term_db(now, rate) - _long_term_db(as_it_was, rate))[loud]
    assert (
        np.median(error) < 1.0
        and np.median(np.abs(_long_term_db(misread, rate) - _long_term_db(as_it_was, rate))[loud]) > 10
    )
    assert json.loads((folder / file_name("Old siren")).read_text())["spec_version"] == 1  # reading never rewrites
    Bank(folder).save(loaded.changed(tags=("siren",)))
    assert {json.loads(p.read_text())["spec_version"] for p in folder.glob("*.json")} == {2}
    other = Bank(tmp_path / "other")
    assert other.import_from(folder / file_name("Old siren")) == ["Old siren"]
    assert other.load("Old siren").params["B_sine"] == 1000.0


def test_a_preset_of_a_newer_spec_is_refused_with_one_line(tmp_path):
    from inversynth.engine.synths import get_spec

    data = {**Preset.new("paper", "Future", get_spec("paper").defaults()).to_json(), "spec_version": 3}
    with pytest.raises(PresetError, match="made for version 3 of synth 'paper', newer than this inversynth's 2"):
        Preset.from_json(data)


def test_a_file_under_a_name_of_its_own_loads_saves_renames_and_deletes_as_listed(tmp_path):
    """A friend's ``Old-square.json`` holding "Old square": what is listed must load, and every later
    write goes to that file (no second file of the same name)."""
    bank = Bank(tmp_path / "bank")
    bank.folder.mkdir()
    friend = Preset.new("original", "Old square", {**get_spec("original").defaults(), "C": 220.0})
    (bank.folder / "Old-square.json").write_text(friend.dumps())
    assert bank.names() == ["Old square"]
    assert bank.load("Old square").params["C"] == 220.0
    bank.save(bank.load("Old square").changed(params={**friend.params, "C": 330.0}))
    assert [p.name for p in bank.preset_files()] == ["Old-square.json"] and bank.load("Old square").params["C"] == 330.0
    bank.rename("Old square", "Square")
    assert bank.names() == ["Square"] and not (bank.folder / "Old-square.json").exists()
    bank.delete("Square")
    assert bank.names() == []


def test_the_index_says_what_is_wrong_with_a_file_once_and_which_name_it_claims(tmp_path):
    bank = Bank(tmp_path / "bank")
    bank.folder.mkdir()
    future = Preset.new("original", "From the future", get_spec("original").defaults()).to_json()
    future["schema_version"] = 99
    (bank.folder / "future.json").write_text(json.dumps(future))
    (bank.folder / "Torn-preset-0a1b2c3d.json").write_text('{"name": "Torn')
    said = []
    index = BankIndex(bank, on_broken=said.append)
    for _ in range(3):
        index.scan()
    assert sorted(b.path.name for b in said) == ["Torn-preset-0a1b2c3d.json", "future.json"]  # once each
    found = index.find("From the future")
    assert found is not None and not isinstance(found, Preset) and "99" in found.reason
    torn = index.find("Torn preset")
    assert torn is not None and not isinstance(torn, Preset) and "JSON" in torn.reason
    assert index.find("Nobody") is None


FILL_THE_DISK = """
import json
import sys
from pathlib import Path
from inversynth.engine.synths import get_spec
from inversynth.presets.preset import Preset, PresetError
from inversynth.presets.store import Bank

patch = get_spec("original").defaults()
bank = Bank(Path(sys.argv[1]))
kept = bank.save(Preset.new("original", "Kept", patch))
before = kept.read_bytes()
filler = bank.folder / "filler"
with filler.open("wb", buffering=0) as handle:  # the disk fills up
    try:
        while True:
            handle.write(bytes(4096))
    except OSError:
        pass
try:
    bank.save(Preset.new("original", "New", patch))
except PresetError as exc:
    print("refused:", exc)
assert kept.read_bytes() == before, "a preset was damaged"
print("files:", json.dumps(sorted(p.name for p in bank.folder.iterdir())))
filler.unlink()
bank.save(Preset.new("original", "New", patch))
print("then:", sorted(p.name for p in bank.scan()[0]))
"""


def test_a_full_disk_refuses_a_save_in_one_line_and_damages_nothing(tmp_path):
    done = on_small_disk(tmp_path / "bank", "256k", sys.executable, "-c", FILL_THE_DISK, str(tmp_path / "bank"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    refusal = r"refused: cannot write New\S*\.json in \S+: No space left on device; nothing changed"
    assert re.fullmatch(refusal, lines[0]), lines[0]
    assert not any(name.startswith(".tmp-") for name in json.loads(lines[1].removeprefix("files: ")))  # none left
    assert lines[2] == "then: ['Kept', 'New']"
