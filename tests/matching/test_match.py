"""Matching audio files: preprocessing, the model's metadata check, bad input that never stops a run."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import soundfile as sf
import soxr

from inversynth.bridge.matching.audio_input import AudioInputError, load_notes, notes, to_clip
from inversynth.bridge.matching.inference import Estimator
from inversynth.bridge.matching.model_file import ModelFileError
from inversynth.bridge.matching.note_finder import find_onsets
from inversynth.engine.render import render
from inversynth.presets.store import Bank
from tests.helpers import run_cli


@pytest.fixture
def engine_clip(spec) -> np.ndarray:
    return render("original", {"attack": 0.0, "A": 0.8})


def test_clip_is_found_in_stereo_resampled_audio_with_leading_silence(spec, engine_clip, tmp_path):
    stereo_44k = soxr.resample(engine_clip.astype(np.float64), 16384, 44100, quality="VHQ")
    padded = np.concatenate([np.zeros(11025), stereo_44k])
    path = tmp_path / "take.flac"
    sf.write(path, np.stack([padded, padded], axis=1), 44100, subtype="PCM_24")
    clip = load_notes(path, spec)[0].clip
    assert clip.shape == (16384,) and clip.dtype == np.float32
    lag = int(np.argmax(np.correlate(clip[:4096], engine_clip[:4096], mode="full"))) - 4095
    assert abs(lag) <= 2
    aligned = np.roll(clip, -lag)[:15000]
    assert np.max(np.abs(aligned - engine_clip[:15000])) < 0.02


def test_longer_audio_is_cropped_at_the_onset_and_shorter_padded(spec, engine_clip):
    looped = np.tile(engine_clip, 3)
    onset = int(np.argmax(np.abs(looped) >= np.max(np.abs(looped)) * 1e-3))
    assert 0 < onset < 10  # the synth's clips start at their onset, give or take the first zero crossing
    np.testing.assert_allclose(to_clip(looped, 16384, spec), looped[onset : onset + 16384], atol=1e-7)
    short = to_clip(engine_clip[:5000], 16384, spec)
    assert short.shape == (16384,) and np.all(short[5000:] == 0)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(16384), "is silent"),
        (np.array([]), "holds no samples"),
        (np.full(16384, np.nan), "16384 samples are NaN or infinite"),
        (np.concatenate([np.ones(100), [np.inf]]), "1 samples are NaN or infinite"),
        (np.ones(100), "too short"),
    ],
)
def test_unusable_audio_is_refused_with_one_line(spec, audio, message):
    with pytest.raises(AudioInputError, match=message) as info:
        to_clip(audio, 16384, spec, "x.wav")
    assert "\n" not in str(info.value)


def test_estimator_checks_the_model_metadata(exported_model, tmp_path):
    estimator = Estimator(exported_model)
    assert estimator.spec.name == "original" and estimator.model_name == "fmnet"
    for key, value, message in [
        ("synth", "paper23", "was made for unknown synth 'paper23'"),
        ("spec_fingerprint", "0123456789abcdef", "trained for another version of synth 'original'"),
        ("sample_rate", "44100", "has sample_rate 44100, synth 'original' needs 16384"),
        ("format", "keras", "is not an inversynth model"),
        ("format_version", "2", "is model format 2; this inversynth reads up to 1"),
        ("epochs", "many", "has an unreadable epochs"),
        ("params", '{"C": 1}', "has params of the wrong kind"),
        ("loss", None, "lacks model metadata loss"),
    ]:
        proto = onnx.load(str(exported_model))
        kept = [e for e in proto.metadata_props if value is not None or e.key != key]
        del proto.metadata_props[:]
        for entry in kept:
            proto.metadata_props.add().CopyFrom(entry)
            if entry.key == key:
                proto.metadata_props[-1].value = value
        wrong = tmp_path / f"wrong-{key}.onnx"
        onnx.save(proto, str(wrong))
        with pytest.raises(ModelFileError, match=message):
            Estimator(wrong)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="is not a loadable ONNX model"):
        Estimator(garbage)
    with pytest.raises(ModelFileError, match="does not exist"):
        Estimator(tmp_path / "missing.onnx")


def test_match_goes_on_past_bad_files_and_reports_them(exported_model, engine_clip, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, engine_clip, 16384)
    sf.write(tmp_path / "silent.wav", np.zeros(16384), 16384)
    sf.write(tmp_path / "empty.wav", np.zeros(0), 16384)
    sf.write(tmp_path / "nan.wav", np.full(4000, np.nan, dtype=np.float32), 16384, subtype="FLOAT")
    (tmp_path / "text.wav").write_text("this is not audio")
    sf.write(tmp_path / "whole.wav", engine_clip, 16384)
    whole = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 3])  # a copy that stopped a third of the way
    (tmp_path / "whole.wav").unlink()
    sf.write(tmp_path / "good2.ogg", engine_clip, 16384)
    result = run_cli("match", str(tmp_path), str(tmp_path / "missing.wav"), "--model", str(exported_model), "--json")
    assert result.returncode == 1
    matched = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(m["refinement"]["renders"] > 0 for m in matched)  # refined by default
    assert sorted(m["file"].rsplit("/", 1)[1] for m in matched) == ["good.wav", "good2.ogg"]
    for m in matched:
        assert set(m["params"]) == set(m["classes"]) == set(m["confidence"])
        assert m["log_spectral_distance_db"] >= 0 and m["verdict"] in ("exact", "close", "out of reach")
        assert m["span_seconds"][0] == pytest.approx(0.0, abs=0.01)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 7 and errors[-1] == "6 of 8 files could not be matched"
    assert "Traceback" not in result.stderr
    for name, reason in [
        ("silent.wav", "is silent"),
        ("empty.wav", "holds no samples"),
        ("nan.wav", "NaN or infinite"),
        ("text.wav", "not a readable audio file"),
        ("cut.wav", "truncated: its header promises 1.00 s of audio, the file holds 0.33 s"),
        ("missing.wav", "No such file"),
    ]:
        assert any(name in line and reason in line for line in errors), (name, errors)


def test_match_writes_resynthesis_and_spectrograms(exported_model, engine_clip, tmp_path):
    sf.write(tmp_path / "in.wav", engine_clip, 16384)
    result = run_cli(
        "match",
        str(tmp_path / "in.wav"),
        "--model",
        str(exported_model),
        "--out",
        str(tmp_path / "o"),
        "--save-preset",
        "Found ☃",
        "--bank",
        str(tmp_path / "bank"),
        "--save-out-of-reach",  # the tiny test model is far from good enough for a verdict of "close"
    )
    assert result.returncode == 0, result.stderr
    preset = Bank(tmp_path / "bank").load("Found ☃")
    assert preset.provenance["model"] == "fmnet" and preset.provenance["source"].endswith("in.wav")
    assert preset.provenance["verdict"] in ("exact", "close", "approximate", "out of reach")
    assert set(preset.provenance["confidence"]) == set(preset.params)
    assert "matched" in preset.tags
    audio, rate = sf.read(tmp_path / "o" / "in.match.wav")
    assert rate == 16384 and audio.shape == (16384,)
    assert (tmp_path / "o" / "in.match.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "confidence" in result.stdout


def test_a_second_match_never_replaces_a_preset_and_two_files_of_one_name_keep_both_outputs(
    exported_model, engine_clip, tmp_path
):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "t.wav", engine_clip * (0.5 if folder == "y" else 1.0), 16384)
    bank = ["--bank", str(tmp_path / "bank"), "--save-out-of-reach"]
    first = run_cli(
        "match", str(tmp_path / "x" / "t.wav"), "--model", str(exported_model), "--save-preset", "Bell", *bank
    )
    assert first.returncode == 0, first.stderr
    kept = Bank(tmp_path / "bank").load("Bell").dumps()
    again = run_cli(
        "match", str(tmp_path / "y" / "t.wav"), "--model", str(exported_model), "--save-preset", "Bell", *bank
    )
    assert again.returncode == 1 and "not saved" in again.stderr and "already exists" in again.stderr
    assert Bank(tmp_path / "bank").load("Bell").dumps() == kept
    both = run_cli("match", str(tmp_path / "x" / "t.wav"), str(tmp_path / "y" / "t.wav"), "--model",
                   str(exported_model), "--out", str(tmp_path / "o"))  # fmt: skip
    assert both.returncode == 0, both.stderr
    assert sorted(p.name for p in (tmp_path / "o").glob("*.wav")) == ["t-2.match.wav", "t.match.wav"]


def test_match_with_a_foreign_model_is_one_line(tmp_path, engine_clip):
    sf.write(tmp_path / "in.wav", engine_clip, 16384)
    (tmp_path / "m.onnx").write_bytes(b"junk")
    result = run_cli("match", str(tmp_path / "in.wav"), "--model", str(tmp_path / "m.onnx"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def _tone(hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * hz * t) * np.minimum(1.0, t / 0.005)


def test_a_long_take_is_cut_into_its_notes(spec):
    rate = 44100
    gap = np.zeros(round(0.3 * rate))
    breath = np.zeros(round(0.03 * rate))  # re-articulated: a legato change at the same level is one note
    take = np.concatenate([gap, _tone(220, 0.6, rate), gap, _tone(660, 1.37, rate), breath, _tone(330, 0.8, rate)])
    onsets = np.array(find_onsets(take, rate)) / rate
    expected = np.array([0.3, 1.2, 2.6])
    assert onsets.shape == expected.shape and np.all(np.abs(onsets - expected) < 0.015), onsets
    found = notes(take, rate, spec, "take")
    assert np.all(np.abs(np.array([n.start for n in found]) - expected) < 0.015)
    assert found[0].end == pytest.approx(found[1].start, abs=1e-3)  # a note ends where the next starts
    assert found[1].end == pytest.approx(found[1].start + 1.0, abs=1e-3)  # ... or after one clip
    assert found[2].end == pytest.approx(take.size / rate, abs=1e-3)
    spans = round((found[0].end - found[0].start) * spec.sample_rate)
    assert not np.any(found[0].clip[spans + 1 :])  # nothing of the next note leaks into a cut note


def test_a_capture_skips_the_tail_of_an_earlier_note(spec):
    rate = 48000
    tail = _tone(880, 0.4, rate) * np.linspace(0.5, 0.05, round(0.4 * rate))  # still ringing when capture starts
    take = np.concatenate([tail, np.zeros(round(0.2 * rate)), _tone(330, 1.0, rate)])
    assert notes(take, rate, spec, "file")[0].start == pytest.approx(0.0, abs=1e-3)  # a file: its first sound
    captured = notes(take, rate, spec, "capture", capture=True)
    assert len(captured) == 1 and captured[0].start == pytest.approx(0.6, abs=0.015)


def test_each_note_of_a_file_is_matched_and_its_span_said(exported_model, spec, tmp_path):
    rate = 48000
    gap = np.zeros(round(0.2 * rate))
    sf.write(tmp_path / "phrase.wav", np.concatenate([gap, _tone(330, 0.5, rate), gap, _tone(440, 0.5, rate)]), rate)
    first = run_cli("match", str(tmp_path / "phrase.wav"), "--model", str(exported_model), "--json")
    each = run_cli("match", str(tmp_path / "phrase.wav"), "--model", str(exported_model), "--json", "--each-note")
    assert first.returncode == each.returncode == 0, first.stderr + each.stderr
    spans = [json.loads(line)["span_seconds"] for line in each.stdout.splitlines()]
    assert len(first.stdout.splitlines()) == 1 and json.loads(first.stdout)["span_seconds"] == spans[0]
    assert (
        len(spans) == 2
        and spans[0][0] == pytest.approx(0.2, abs=0.015)
        and spans[1][0] == pytest.approx(0.9, abs=0.015)
    )


def test_a_silent_target_is_refused_and_nothing_is_saved(exported_model, tmp_path):
    sf.write(tmp_path / "quiet.wav", np.full(16384, 1e-7), 16384)
    result = run_cli(
        "match",
        str(tmp_path / "quiet.wav"),
        "--model",
        str(exported_model),
        "--save-preset",
        "Q",
        "--bank",
        str(tmp_path / "b"),
    )
    assert result.returncode == 1 and "is silent" in result.stderr
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").glob("*.json"))


def test_noise_is_out_of_reach_and_saved_only_when_asked(exported_model, tmp_path):
    sf.write(tmp_path / "noise.wav", np.random.default_rng(1).standard_normal(16384) * 0.3, 16384)
    base = ["match", str(tmp_path / "noise.wav"), "--model", str(exported_model), "--refine", "--save-preset", "N"]
    bank = ["--bank", str(tmp_path / "bank")]
    refused = run_cli(*base, *bank, "--json")
    assert refused.returncode == 0, refused.stderr
    found = json.loads(refused.stdout)
    assert found["verdict"] == "out of reach" and found["reason"].startswith("no steady pitch")
    assert found["pitch_hz"] is None and found["periodic_share"] < 0.2
    assert not Bank(tmp_path / "bank").names()
    kept = run_cli(*base, *bank, "--save-out-of-reach")
    assert kept.returncode == 0 and "out of reach" in kept.stdout
    assert Bank(tmp_path / "bank").load("N").provenance["verdict"] == "out of reach"


@pytest.mark.parametrize("synth", ["original", "paper"])
def test_every_factory_preset_comes_back_from_a_file_as_one_whole_note(synth, tmp_path):
    """Gates, tremolos and FM sweeps re-open a note; they never start another (1.5 s files at 44.1 kHz)."""
    from inversynth.engine.render import render_batch
    from inversynth.engine.synths import get_spec
    from inversynth.presets.store import FACTORY

    spec = get_spec(synth)
    presets = [p for p in Bank(FACTORY).scan()[0] if p.synth == synth]
    rows = np.stack([spec.to_array(dict(p.params)) for p in presets])
    clips = render_batch(synth, rows, seconds=1.5, workers=2, chunk=8)
    for preset, clip in zip(presets, clips, strict=True):
        path = tmp_path / f"{preset.name}.wav"
        sf.write(path, soxr.resample(clip.astype(np.float64), spec.sample_rate, 44100), 44100, subtype="FLOAT")
        found = load_notes(path, spec, each_note=True)
        assert len(found) == 1, (preset.name, [n.start for n in found])
        assert found[0].end - found[0].start == pytest.approx(spec.clip_seconds, abs=1e-3), preset.name


def test_a_take_of_three_gated_notes_with_gaps_is_three_notes():
    """The same gated patch three times (gate 12 Hz: 42 ms open, 42 ms shut), then a gated FM siren, with
    silences between: each note's own openings stay in it, a silence that no gate explains starts the next."""
    from inversynth.engine.render import render_batch
    from inversynth.engine.synths import get_spec
    from inversynth.presets.store import FACTORY

    spec = get_spec("paper")
    chopped, siren = (dict(Bank(FACTORY).load(name).params) for name in ("Chopped Square", "Siren Alarm"))
    clips = render_batch("paper", np.stack([spec.to_array(chopped), spec.to_array(siren)]), seconds=0.9, workers=2,
                         chunk=1)  # fmt: skip
    rate = spec.sample_rate
    gap = np.zeros(round(0.35 * rate))
    take = np.concatenate([clips[0], gap, clips[0], gap, clips[0], gap, clips[1]]).astype(np.float64)
    found = notes(take, rate, spec, "take")
    expected = np.arange(4) * (0.9 + 0.35)
    assert np.allclose([n.start for n in found], expected, atol=0.01), [n.start for n in found]


def test_verdicts_mean_what_they_say_silence_and_near_silence_are_never_close(spec):
    """One line each: exact within 1 dB, close within the synth's one-class step, approximate within its
    reach, out of reach beyond; the distance judged hears loudness, so a sound matched by silence or by
    itself 60 dB down is far, while a quiet sound matched at its own level is exact."""
    from inversynth.bridge.matching.inference import Calibration
    from inversynth.bridge.matching.match import judge
    from inversynth.engine.analysis import log_spectral_distance, match_distance
    from inversynth.engine.pitch import find_pitch

    calibration = Calibration(np.ones(len(spec.params)), exact_db=1.0, reach_db=12.0)
    note = render("original", {"C": 440.0, "A": 0.8, "D": 0.0, "attack": 0.01, "release": 0.2})
    quiet = note * 10 ** (-60 / 20)  # peaks near -62 dBFS
    pitch = find_pitch(note, spec.sample_rate)

    def verdict(target, made):
        return judge(spec, calibration, float(match_distance(target, made)), find_pitch(target, 16384), made, target)

    assert verdict(note, note)[0] == verdict(quiet, quiet)[0] == "exact"
    for far in (np.zeros_like(note), quiet, np.full_like(note, 1e-7)):
        assert float(match_distance(note, far)) >= 50.0
        assert verdict(note, far)[0] == "out of reach"
    silent = np.zeros_like(note)  # a quiet sound's spectrum is as far from silence as a loud one's
    assert float(log_spectral_distance(quiet, silent)) >= 0.75 * float(log_spectral_distance(note, silent))
    nudged = render("original", {"C": 440.0, "A": 0.8, "D": 0.0, "attack": 0.01, "release": 0.2, "sustain": 0.4})
    assert verdict(note, nudged)[0] in ("exact", "close")
    assert judge(spec, calibration, spec.close_db + 0.5, pitch, note, note) == (
        "approximate",
        f"audibly different: the closest patch found is {spec.close_db + 0.5:.1f} dB away (close is within "
        f"{spec.close_db:.1f} dB)",
    )
    noise = np.random.default_rng(1).standard_normal(16384) * 0.3
    assert verdict(noise, note) == ("out of reach", verdict(noise, note)[1])
    assert verdict(noise, note)[1].startswith("no steady pitch")


def test_a_pitch_is_never_decoded_between_two_notes():
    """The expectation of a head split between A4 and C6 is a pitch neither (every partial off): for the
    parameters whose sound jumps the default decoding takes the most likely bin; the others keep theirs."""
    from inversynth.bridge.matching.inference import Estimate
    from inversynth.engine.synths import get_spec

    paper = get_spec("paper")
    probabilities = np.zeros((1, len(paper.params), paper.max_bins))
    probabilities[0, :, 0] = 1.0
    pitch, level = paper.names.index("f_saw"), paper.names.index("A_saw")
    for j, (low, high) in ((pitch, (45, 60)), (level, (0, 15))):
        probabilities[0, j, :] = 0.0
        probabilities[0, j, [low, high]] = [0.6, 0.4]
    estimate = Estimate.from_probabilities(paper, probabilities, "expected")
    assert estimate.values[0, pitch] == pytest.approx(estimate.argmax[0, pitch])  # a note of the head
    assert estimate.values[0, level] == pytest.approx(0.6 * 0.001 + 0.4 * 1.0)  # between, as before


def test_no_refine_keeps_the_networks_estimate(exported_model, engine_clip, tmp_path):
    sf.write(tmp_path / "in.wav", engine_clip, 16384)
    result = run_cli("match", str(tmp_path / "in.wav"), "--model", str(exported_model), "--json", "--no-refine")
    assert result.returncode == 0, result.stderr
    match = json.loads(result.stdout)
    assert match["refinement"] is None and match["distance_db"] == match["network_distance_db"]
