"""The instrument-like draw: patches inside every range, from the seed alone, that sound like a played
note at the drawn pitch; its captures are recordings (a room, a level)."""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.engine.pitch import find_pitch
from inversynth.engine.render import renderer
from inversynth.engine.spec import note_frequency
from inversynth.engine.synths import get_spec, instrument_values
from inversynth.engine.synths._instrument import PITCH_NOTES
from inversynth.engine.synths.paper import DETUNE_CENTS, INTERVALS, WAVES
from inversynth.training.capture_sim import plan_capture
from inversynth.training.dataset import Dataset, build, plan

PITCH_OF = {"original": "C", "paper": "f_sine"}


@pytest.mark.parametrize("synth", sorted(PITCH_OF))
def test_the_draw_stays_in_range_and_depends_on_the_seed_alone(synth):
    spec = get_spec(synth)
    values = instrument_values(spec, np.random.default_rng(3), 500)
    assert values.shape == (500, len(spec.params))
    spec.validate_rows(values)  # raises if any value is out of its range
    np.testing.assert_array_equal(values, instrument_values(spec, np.random.default_rng(3), 500))
    assert not np.array_equal(values, instrument_values(spec, np.random.default_rng(4), 500))
    pitch = values[:, spec.names.index(PITCH_OF[synth])]
    low, high = note_frequency(PITCH_NOTES[0]), note_frequency(PITCH_NOTES[1])
    assert pitch.min() >= low and pitch.max() <= high and np.ptp(np.log2(pitch)) > 4  # over four octaves


def test_paper_oscillators_sit_at_consonant_intervals_over_the_sine_and_the_gate_stays_open():
    spec = get_spec("paper")
    drawn = instrument_values(spec, np.random.default_rng(5), 400)
    patch = {name: drawn[:, j] for j, name in enumerate(spec.names)}
    for wave in WAVES[1:]:
        semitones = 12 * np.log2(patch[f"f_{wave}"] / patch["f_sine"])
        off = np.min(np.abs(semitones[:, None] - np.array(INTERVALS)[None, :]), axis=1)
        assert off.max() <= DETUNE_CENTS / 100 + 1e-9
    assert (patch["A_sine"] >= 0.5).all()  # the fundamental always sounds, loudest
    assert all((patch[f"A_{w}"] <= patch["A_sine"]).all() for w in WAVES)
    assert (patch["f_gate"] == 0.5).all()
    inside = (patch["f_cut"] > 200) & (patch["f_cut"] < 4000)
    ratio = patch["f_cut"][inside] / patch["f_sine"][inside]
    assert ratio.min() >= 1.5 - 1e-9 and ratio.max() <= 16 + 1e-9
    sounding = np.stack([patch[f"A_{w}"] > 0.001 for w in WAVES], axis=1).sum(axis=1)
    assert set(sounding) == {1, 2, 3, 4}  # plain and rich mixes both


@pytest.mark.parametrize("synth", sorted(PITCH_OF))
def test_rendered_patches_sound_at_their_drawn_pitch(synth):
    spec = get_spec(synth)
    values = instrument_values(spec, np.random.default_rng(6), 40)
    audio = renderer(synth).render(values, spec.clip_samples)
    drawn = values[:, spec.names.index(PITCH_OF[synth])]
    cents = []
    for clip, hz in zip(audio, drawn, strict=True):
        found = find_pitch(clip[: spec.sample_rate // 2], spec.sample_rate)  # the held part of the note
        cents.append(abs(1200 * np.log2(found.hz / hz)) if found.pitched else np.inf)
    assert np.mean(np.array(cents) <= 50) >= 0.9, sorted(cents)


def test_instrument_captures_are_recordings_and_other_draws_keep_their_streams():
    recording = plan_capture(np.random.default_rng(1), 64, 1.0, recording=True)
    capture = plan_capture(np.random.default_rng(1), 64, 1.0)
    assert recording is not None and capture is not None and capture.recording is None
    assert recording.rate == capture.rate
    np.testing.assert_array_equal(recording.noise_dbfs, capture.noise_dbfs)  # the same draws first
    room = recording.recording
    assert room is not None
    assert (room.gain_db <= 0).all() and (room.gain_db >= -30).all() and np.ptp(room.gain_db) > 10
    assert 0 < np.mean(room.room_seconds > 0) < 1


def test_an_instrument_dataset_is_rendered_with_its_recordings(tmp_path):
    info = plan("paper", size=48, seed=9, shard_size=16, draw="instrument", captured=1.0)
    build(tmp_path / "set", info, workers=1)
    data = Dataset(tmp_path / "set")
    np.testing.assert_array_equal(data.values, instrument_values(get_spec("paper"), np.random.default_rng(9), 48))
    peaks = np.max(np.abs(data.audio_batch(np.arange(48))), axis=1)
    assert (peaks > 0).all() and np.ptp(20 * np.log10(peaks)) > 10  # recorded at many levels
