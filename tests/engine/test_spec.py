"""The parameter spec: conversions as properties, validation messages, the original synth's facts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inversynth.engine.spec import Param, SynthSpec, linear_classes, note_frequency
from inversynth.engine.synths import get_spec, synth_names
from inversynth.errors import SpecError

ORIGINAL = get_spec("original")
PARAMS = ORIGINAL.params
param_strategy = st.sampled_from(PARAMS)


# --- the original synth reproduces SYNTH_FACTS.md ------------------------------------------------


def test_original_synth_format():
    assert ORIGINAL.names == ("C", "M", "A", "D", "attack", "decay", "sustain", "sustain_level", "release")
    assert ORIGINAL.sample_rate == 16384
    assert ORIGINAL.clip_seconds == 1.0
    assert ORIGINAL.clip_samples == 16384
    assert all(p.n_classes == 16 for p in PARAMS)


def test_original_class_values_follow_the_facts():
    np.testing.assert_allclose(ORIGINAL.param("C").classes, [440 * 2 ** (n / 12) for n in range(16)], rtol=1e-12)
    np.testing.assert_allclose(ORIGINAL.param("M").classes, np.linspace(1, 30, 16), rtol=1e-12)
    np.testing.assert_allclose(ORIGINAL.param("A").classes, np.linspace(0.001, 1.0, 16), rtol=1e-12)
    np.testing.assert_allclose(ORIGINAL.param("D").classes, np.linspace(0, 1.5, 16), rtol=1e-12)
    for name in ("attack", "decay", "sustain", "sustain_level", "release"):
        np.testing.assert_allclose(ORIGINAL.param(name).classes, np.linspace(0, 1, 16), rtol=1e-12)


def test_defaults_are_the_original_sample_patch():
    expected = {
        "C": 783.991,
        "M": 12.6,
        "A": 1.0,
        "D": 0.5,
        "attack": 0.2667,
        "decay": 0.6,
        "sustain": 0.2667,
        "sustain_level": 0.0,
        "release": 0.8,
    }
    for name, value in ORIGINAL.defaults().items():
        assert value == pytest.approx(expected[name], abs=1e-3)


def test_registry_lists_the_original_synth_and_rejects_others():
    assert "original" in synth_names()
    with pytest.raises(SpecError, match=r"unknown synth 'nope'; known: .*original"):
        get_spec("nope")


# --- conversions, every parameter ----------------------------------------------------------------


@given(param=param_strategy, position=st.floats(0.0, 1.0))
def test_normalise_inverts_denormalise(param: Param, position: float):
    assert param.normalise(param.denormalise(position)) == pytest.approx(position, abs=1e-9)


@given(param=param_strategy, data=st.data())
def test_denormalise_inverts_normalise(param: Param, data):
    value = data.draw(st.floats(param.minimum, param.maximum))
    assert param.denormalise(param.normalise(value)) == pytest.approx(value, rel=1e-9, abs=1e-12)


@given(param=param_strategy, data=st.data())
def test_normalise_is_monotonic(param: Param, data):
    a = data.draw(st.floats(param.minimum, param.maximum))
    b = data.draw(st.floats(param.minimum, param.maximum))
    if a < b:
        assert param.normalise(a) <= param.normalise(b)


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.name)
def test_every_class_value_maps_to_its_index(param: Param):
    for index, value in enumerate(param.classes):
        assert param.class_index(value) == index


@given(param=param_strategy, data=st.data())
def test_the_class_index_picks_the_nearest_class_and_is_idempotent(param: Param, data):
    value = data.draw(st.floats(param.minimum, param.maximum))
    q = param.classes[param.class_index(value)]
    assert param.classes[param.class_index(q)] == q
    distances = [abs(param.normalise(c) - param.normalise(value)) for c in param.classes]
    assert abs(param.normalise(q) - param.normalise(value)) == pytest.approx(min(distances))


def test_log_scale_rounds_in_semitones():
    c = ORIGINAL.param("C")
    assert c.scale == "log"
    assert c.normalise(440 * 2 ** (7.5 / 12)) == pytest.approx((69 + 7.5 - 24) / 84)
    assert c.class_index(440 * 2 ** (7.49 / 12)) == 7
    assert c.class_index(440 * 2 ** (7.51 / 12)) == 8


def test_pitch_plays_c1_to_c8_with_one_head_bin_per_note_and_the_papers_classes():
    c = ORIGINAL.param("C")
    assert c.minimum == pytest.approx(note_frequency(24)) and c.maximum == pytest.approx(note_frequency(108))
    assert c.n_bins == 85 and c.n_classes == 16 and ORIGINAL.max_bins == 85
    bins = c.denormalise_array(c.bin_positions())
    np.testing.assert_allclose(bins, [note_frequency(n) for n in range(24, 109)], rtol=1e-9)
    classes_of_bins = c.bin_classes()
    assert classes_of_bins[69 - 24 : 69 - 24 + 16].tolist() == list(range(16))  # A4..C6: one bin per class
    assert set(classes_of_bins[: 69 - 24].tolist()) == {0} and set(classes_of_bins[69 - 24 + 16 :].tolist()) == {15}
    assert all(p.n_bins == p.n_classes == 16 for p in PARAMS if p.name != "C")


def test_classes_that_do_not_span_the_range_need_head_bins():
    with pytest.raises(SpecError, match="give its head 'bins'"):
        Param("x", "", 0.0, 10.0, (0.0, 1.0), 0.0, "x")
    assert Param("x", "", 0.0, 10.0, (0.0, 1.0), 0.0, "x", bins=11).n_bins == 11


@given(data=st.data())
def test_two_hot_weights_have_the_value_as_their_expectation(data):
    rows = np.array([[data.draw(st.floats(p.minimum, p.maximum)) for p in PARAMS]])
    weights = ORIGINAL.two_hot(rows)[0]
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0)
    for j, p in enumerate(PARAMS):
        assert np.count_nonzero(weights[j]) <= 2 and not weights[j, p.n_bins :].any()
        expected = weights[j, : p.n_bins] @ p.bin_positions()
        assert expected == pytest.approx(p.normalise(rows[0, j]), abs=1e-9)


def test_random_values_cover_each_range_uniformly_in_its_scale(rng):
    values = ORIGINAL.random_values(rng, 20000)
    positions = ORIGINAL.normalise_rows(values)
    assert positions.min() >= 0 and positions.max() <= 1
    for column in positions.T:  # uniform in normalised space: quarters hold a quarter each
        shares = np.histogram(column, bins=4, range=(0, 1))[0] / len(column)
        np.testing.assert_allclose(shares, 0.25, atol=0.02)
    c = values[:, 0]
    assert np.mean(c < 440) == pytest.approx((69 - 24) / 84, abs=0.02)  # log-uniform: C1..A4 is 45 of 84 notes


@given(indices=st.lists(st.integers(0, 15), min_size=9, max_size=9))
def test_classes_to_values_and_back(indices):
    row = np.array([indices])
    values = ORIGINAL.classes_to_values(row)
    assert values.shape == (1, 9)
    np.testing.assert_array_equal(ORIGINAL.values_to_classes(values), row)


def test_random_classes_cover_every_class(rng):
    drawn = ORIGINAL.random_classes(rng, 4000)
    assert drawn.shape == (4000, 9)
    for column in drawn.T:
        assert set(column.tolist()) == set(range(16))


def test_patch_array_round_trip():
    patch = ORIGINAL.patch({"M": 3.5, "release": 0.1})
    assert ORIGINAL.from_array(ORIGINAL.to_array(patch)) == patch


# --- validation: one clear line per mistake --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("M", 45.0, r"parameter 'M' = 45 Hz is outside 1\.\.30 Hz"),
        ("M", 0.5, r"parameter 'M' = 0\.5 Hz is outside 1\.\.30 Hz"),
        ("A", -1.0, r"parameter 'A' = -1 is outside 0\.001\.\.1"),
        ("D", math.nan, r"parameter 'D' = nan is not finite"),
        ("attack", math.inf, r"parameter 'attack' = inf is not finite"),
        ("C", "440", r"parameter 'C' = '440' is not a number"),
        ("C", True, r"parameter 'C' = True is not a number"),
        ("C", None, r"parameter 'C' = None is not a number"),
    ],
)
def test_validate_rejects_with_one_line(name, value, message):
    with pytest.raises(SpecError, match=message) as info:
        ORIGINAL.param(name).validate(value)
    assert "\n" not in str(info.value)


def test_validate_accepts_numpy_scalars_and_edges():
    m = ORIGINAL.param("M")
    assert m.validate(np.float32(30.0)) == 30.0
    assert m.validate(np.int64(1)) == 1.0
    assert isinstance(m.validate(np.float64(12.0)), float)


def test_unknown_parameter_names_the_known_ones():
    with pytest.raises(SpecError, match=r"unknown parameter 'Q' for synth 'original'; known: C, M, A"):
        ORIGINAL.patch({"Q": 1.0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("M", r"'M' is not NAME=VALUE"),
        ("M=fast", r"parameter 'M' = 'fast' is not a number"),
        ("Z=1", r"unknown parameter 'Z'"),
        ("M=31", r"outside 1\.\.30 Hz"),
    ],
)
def test_parse_assignments_errors(text, message):
    with pytest.raises(SpecError, match=message):
        ORIGINAL.parse_assignments([text])


def test_parse_assignments():
    assert ORIGINAL.parse_assignments(["M=12.6", " D = 0.5 "]) == {"M": 12.6, "D": 0.5}


def test_denormalise_and_class_lookups_reject_out_of_range():
    with pytest.raises(SpecError, match=r"normalised 'M' = 1\.5 is outside 0\.\.1"):
        ORIGINAL.param("M").denormalise(1.5)
    with pytest.raises(SpecError, match=r"normalised 'M' = nan is outside 0\.\.1"):
        ORIGINAL.param("M").denormalise(math.nan)
    with pytest.raises(SpecError, match="class indices outside"):
        ORIGINAL.classes_to_values(np.full((1, 9), 16))


def test_validate_rows_names_the_first_bad_row():
    rows = np.tile(ORIGINAL.to_array(ORIGINAL.defaults()), (3, 1))
    rows[2, 1] = 99.0
    with pytest.raises(SpecError, match=r"patch 2: parameter 'M' = 99 Hz is outside 1\.\.30 Hz"):
        ORIGINAL.validate_rows(rows)
    rows[2, 1] = np.nan
    with pytest.raises(SpecError, match=r"patch 2: parameter 'M' = nan is not finite"):
        ORIGINAL.validate_rows(rows)
    with pytest.raises(SpecError, match=r"need shape \[n, 9\]"):
        ORIGINAL.validate_rows(np.zeros((2, 4)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "9bad"}, "not an identifier"),
        ({"minimum": 2.0, "maximum": 1.0}, "minimum 2.0 >= maximum 1.0"),
        ({"classes": (1.0, 1.0)}, "strictly increasing"),
        ({"default": 5.0}, "outside"),
        ({"midi_cc": 128}, "outside 0..127"),
        ({"scale": "log", "minimum": 0.0}, "log-scaled"),
    ],
)
def test_param_definitions_are_checked(kwargs, message):
    base = {
        "name": "x",
        "unit": "",
        "minimum": 0.0,
        "maximum": 1.0,
        "classes": (0.0, 1.0),
        "default": 0.5,
        "description": "test",
    }
    with pytest.raises(SpecError, match=message):
        Param(**{**base, **kwargs})


def test_spec_rejects_duplicate_names_and_cc():
    p = Param("x", "", 0.0, 1.0, linear_classes(0, 1, 4), 0.0, "x", midi_cc=1)
    q = Param("y", "", 0.0, 1.0, linear_classes(0, 1, 4), 0.0, "y", midi_cc=1)
    with pytest.raises(SpecError, match="twice"):
        SynthSpec("t", 1, "t", 16000, 1.0, (p, p))
    with pytest.raises(SpecError, match="MIDI CC 1 is mapped twice"):
        SynthSpec("t", 1, "t", 16000, 1.0, (p, q))


def test_fingerprint_is_stable_and_tracks_changes():
    assert ORIGINAL.fingerprint() == get_spec("original").fingerprint()
    changed = SynthSpec(
        ORIGINAL.name, ORIGINAL.version, ORIGINAL.description, 44100, ORIGINAL.clip_seconds, ORIGINAL.params
    )
    assert changed.fingerprint() != ORIGINAL.fingerprint()
