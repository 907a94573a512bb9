"""Matching audio files: preprocessing, the model's metadata check, bad input that never stops a run."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import soundfile as sf
import soxr

from inversynth.bridge.audio_input import AudioInputError, load_clip, to_clip
from inversynth.bridge.inference import Estimator, ModelFileError
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
    clip = load_clip(path, spec)
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
    ]:
        proto = onnx.load(str(exported_model))
        for entry in proto.metadata_props:
            if entry.key == key:
                entry.value = value
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
    sf.write(tmp_path / "good2.ogg", engine_clip, 16384)
    result = run_cli("match", str(tmp_path), str(tmp_path / "missing.wav"), "--model", str(exported_model), "--json")
    assert result.returncode == 1
    matched = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(m["file"].rsplit("/", 1)[1] for m in matched) == ["good.wav", "good2.ogg"]
    for m in matched:
        assert set(m["params"]) == set(m["classes"]) == set(m["confidence"])
        assert m["log_spectral_distance_db"] >= 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 6 and errors[-1] == "5 of 7 files could not be matched"
    assert "Traceback" not in result.stderr
    for name, reason in [
        ("silent.wav", "is silent"),
        ("empty.wav", "holds no samples"),
        ("nan.wav", "NaN or infinite"),
        ("text.wav", "not a readable audio file"),
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
    )
    assert result.returncode == 0, result.stderr
    preset = Bank(tmp_path / "bank").load("Found ☃")
    assert preset.provenance["model"] == "fmnet" and preset.provenance["source"].endswith("in.wav")
    assert set(preset.provenance["confidence"]) == set(preset.params)
    assert "matched" in preset.tags
    audio, rate = sf.read(tmp_path / "o" / "in.match.wav")
    assert rate == 16384 and audio.shape == (16384,)
    assert (tmp_path / "o" / "in.match.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "confidence" in result.stdout


def test_match_with_a_foreign_model_is_one_line(tmp_path, engine_clip):
    sf.write(tmp_path / "in.wav", engine_clip, 16384)
    (tmp_path / "m.onnx").write_bytes(b"junk")
    result = run_cli("match", str(tmp_path / "in.wav"), "--model", str(tmp_path / "m.onnx"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
