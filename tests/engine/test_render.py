"""Offline rendering: determinism, worker processes, clip lengths, sample rates, bad requests."""

from __future__ import annotations

import numpy as np
import pytest

from inversynth.engine.render import render, render_batch, renderer
from inversynth.errors import RenderError, SpecError


def test_same_patch_renders_bit_identically_in_any_slot_and_order(spec, offline, rng):
    rows = spec.classes_to_values(spec.random_classes(rng, 40))
    first = offline.render(rows, spec.clip_samples)
    order = rng.permutation(len(rows))
    again = offline.render(rows[order], spec.clip_samples)
    np.testing.assert_array_equal(again, first[order])


def test_other_patches_sound_different(spec, offline, rng):
    rows = spec.classes_to_values(spec.random_classes(rng, 2))
    rows[1, 0] = spec.param("C").classes[(spec.param("C").class_index(rows[0, 0]) + 3) % 16]
    rows[1, 1:] = rows[0, 1:]
    rows[:, 2] = 1.0  # A: audible
    rows[:, 4] = 0.0  # no attack: sound from the first sample
    audio = offline.render(rows, spec.clip_samples)
    assert np.max(np.abs(audio[0] - audio[1])) > 0.1


def test_worker_processes_give_the_same_bytes(spec, rng):
    rows = spec.classes_to_values(spec.random_classes(rng, 48))
    local = render_batch("original", rows, workers=1)
    parallel = render_batch("original", rows, workers=2, chunk=10)
    assert parallel.dtype == np.float32
    np.testing.assert_array_equal(parallel, local)


def test_render_fills_defaults_and_honours_length(spec):
    audio = render("original", {"M": 3.0}, seconds=0.25)
    assert audio.shape == (4096,)
    assert audio.dtype == np.float32
    full = render("original", {"M": 3.0})
    np.testing.assert_array_equal(audio, full[:4096])


def test_render_at_another_sample_rate_has_the_same_pitch(spec):
    patch = {"C": 440.0, "D": 0.0, "attack": 0.0, "decay": 0.0, "sustain": 1.0, "sustain_level": 1.0}
    audio = render("original", patch, seconds=0.5, sample_rate=44100)
    assert audio.shape == (22050,)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert np.argmax(spectrum) * 44100 / len(audio) == pytest.approx(440.0, abs=2.0)
    back = render("original", patch, seconds=0.5)  # the process renderer reboots at 16384 Hz
    assert back.shape == (8192,)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seconds": 0.0}, RenderError, r"clip length 0\.0 s is outside"),
        ({"seconds": float("nan")}, RenderError, "clip length nan"),
        ({"sample_rate": 100}, RenderError, r"sample rate 100 Hz is outside 4000\.\.192000 Hz"),
        ({"patch": {"D": 2.0}}, SpecError, r"parameter 'D' = 2 is outside 0\.\.1\.5"),
    ],
)
def test_bad_render_requests(kwargs, error, message):
    patch = kwargs.pop("patch", {})
    with pytest.raises(error, match=message):
        render("original", patch, **kwargs)


def test_bad_rows_are_rejected_before_rendering(spec, offline):
    rows = np.tile(spec.to_array(spec.defaults()), (2, 1))
    rows[1, 3] = -0.1
    with pytest.raises(SpecError, match=r"patch 1: parameter 'D' = -0\.1 is outside"):
        offline.render(rows, 100)


def test_a_render_into_a_callers_array_fills_it_or_refuses_it_whole(spec, rng):
    fast = renderer(spec.name)
    rows = spec.classes_to_values(spec.random_classes(rng, 3))
    out = np.full((3, 500), np.nan, dtype=np.float32)
    assert fast.render(rows, 500, out) is out
    np.testing.assert_array_equal(out, fast.render(rows, 500))
    for wrong in (np.empty((3, 400), np.float32), np.empty((3, 500)), np.empty((500, 3), np.float32).T):
        with pytest.raises(RenderError, match=r"cannot render 3 x 500 samples into"):
            fast.render(rows, 500, wrong)


def test_stdout_holds_only_the_programs_output_on_a_python_without_tkinter(tmp_path):
    """Debian's own python3 has no tkinter: pyo's import then prints a GUI notice, which must not reach
    stdout (it would break every --json output and double lines in serve and demo)."""
    import subprocess
    import sys

    run = (
        "import runpy, sys; sys.modules['tkinter'] = None; "  # an import of tkinter now fails, as on Debian
        f"sys.argv = ['inversynth', 'render', '--random', '--seed', '1', '-o', {str(tmp_path / 'x.wav')!r}]; "
        "runpy.run_module('inversynth.cli', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Tkinter" not in result.stdout + result.stderr and "wrote " in result.stdout
