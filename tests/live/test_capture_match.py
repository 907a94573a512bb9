"""Capture -> match -> preset -> notification, on JACK and on the dummy backend; OSC abuse."""

from __future__ import annotations

import json
import random
import struct
import time

import numpy as np
import pytest
from pythonosc.osc_message_builder import build_msg

from inversynth.engine.live import audition_note
from inversynth.engine.spec import note_frequency
from inversynth.engine.synths import get_spec
from inversynth.presets.store import FACTORY, Bank
from tests.helpers import eventually
from tests.live.conftest import peak_frequency, start_serve, stop_serve

SPEC = get_spec("original")
# What the shipped model hears reliably in these presets: it must give them back within half a class
# (live captures are resampled from 48 kHz and start anywhere in a block; values are continuous now).
CLOSE = ("M", "A", "D")
LIVE_TARGET_DB = 1.0  # the matching issue's target for the synth's own notes captured live


def _cents(a: float, b: float) -> float:
    return abs(1200 * np.log2(a / b))


def play_and_match(osc, params: dict, note: int | None = None) -> tuple[tuple, tuple]:
    """Set a patch, capture 1.5 s while playing its note, wait for the network's estimate and the final match."""
    osc.send("/subscribe", osc.port)
    for name, value in params.items():
        osc.send(f"/synth/param/{name}", float(value))
    osc.send("/match/source", "output")
    osc.request("/status")
    time.sleep(0.05)  # let the parameter glides finish
    osc.send("/match/capture", 1.5)
    time.sleep(0.1)
    osc.send("/synth/note", note if note is not None else audition_note("original", params), 127, 0.0)
    estimate = osc.wait_for("/match/estimate", timeout=30)[0]
    done = osc.wait_for("/match/done", timeout=30)[0]
    osc.send("/unsubscribe", osc.port)
    return estimate, done


@pytest.mark.parametrize("preset", ["Vibrato Lead", "Police Siren"])
def test_capturing_a_preset_gives_it_back(jack_serve, osc, preset):
    params = dict(Bank(FACTORY).load(preset).params)
    for _attempt in range(3):  # a capture a busy machine disturbed (a late block at its onset): capture again
        (network_db, first_verdict, estimate_ms), (name, distance, network_again, verdict, reason) = play_and_match(
            osc, params
        )
        if distance < LIVE_TARGET_DB:
            break
    assert 0 < estimate_ms < 1000
    assert network_again == pytest.approx(network_db) and distance <= network_db + 1e-6
    assert verdict in ("exact", "close") and reason == ""
    assert first_verdict in ("exact", "close", "approximate")  # the network alone, before refinement
    saved = Bank(jack_serve.bank).load(name)
    assert _cents(saved.params["C"], params["C"]) < 25
    for param in CLOSE:
        p = SPEC.param(param)
        assert abs(p.normalise(saved.params[param]) - p.normalise(params[param])) <= 0.5 / 15, param
    assert distance < LIVE_TARGET_DB
    provenance = saved.provenance
    assert provenance["model"] == "fmnet" and provenance["distance_db"] == pytest.approx(distance, abs=1e-3)
    assert provenance["network_distance_db"] == pytest.approx(network_db, abs=1e-3) and provenance["refined"]
    assert set(provenance["confidence"]) == set(SPEC.names) and provenance["verdict"] == verdict
    assert provenance["audio"].endswith(".wav")
    # The refined estimate is what the synth plays now.
    for param in SPEC.names:
        assert osc.request(f"/synth/get/{param}", reply=f"/synth/param/{param}")[0] == pytest.approx(
            saved.params[param], rel=1e-4
        )


@pytest.mark.parametrize("note", [36, 96])
def test_a_low_and_a_high_note_match_at_their_own_pitch_and_play_at_any(jack_serve, osc, recorder, note):
    params = {**dict(Bank(FACTORY).load("Vibrato Lead").params), "D": 0.0, "sustain_level": 1.0}
    _, (name, distance, _, verdict, _) = play_and_match(osc, params, note)
    saved = Bank(jack_serve.bank).load(name)
    assert _cents(saved.params["C"], note_frequency(note)) < 25
    assert distance < 2 * LIVE_TARGET_DB and verdict in ("exact", "close")
    # The preset it became plays from any key at that key's pitch.
    osc.send("/synth/panic")
    osc.send("/preset/load", name)
    osc.request("/status")
    osc.send("/synth/note_on", 60, 100)
    time.sleep(0.4)
    heard = recorder.record(0.3)
    osc.send("/synth/note_off", 60)
    assert peak_frequency(heard) == pytest.approx(note_frequency(60), abs=3.0)


def test_ten_thousand_bad_packets_and_the_server_still_answers_and_plays(jack_serve, osc, recorder):
    rng = random.Random(4)
    names = list(SPEC.names)
    before = osc.request("/status")[3]
    sent = 0
    for _batch in range(100):
        for _ in range(100):
            kind = rng.randrange(5)
            if kind == 0:
                packet = rng.randbytes(rng.randrange(1, 200))  # noise
            elif kind == 1:
                packet = build_msg(f"/nope/{rng.randrange(10**6)}", [1]).dgram  # unknown addresses
            elif kind == 2:
                packet = build_msg(f"/synth/param/{rng.choice(names)}", ["text"]).dgram  # wrong type
            elif kind == 3:
                packet = build_msg("/synth/note_on", [60]).dgram  # wrong arity
            else:
                packet = b"/synth/panic\x00\x00\x00\x00,i\x00\x00" + struct.pack(">i", 1)[:2]  # truncated
            osc.send_raw(packet)
            sent += 1
        # Paced by what the server has counted, not by a clock: a busy machine slows the
        # server, it must not lose datagrams that its receive buffer can hold.
        counted = eventually(lambda: osc.request("/status")[3] - before, lambda bad, sent=sent: bad >= sent, timeout=10)
        assert counted == sent
    log = jack_serve.stderr()
    assert log.count("osc:") < 200  # once per address, capped; not once per packet
    osc.send("/synth/param/D", 0.0)
    osc.send("/synth/note_on", 69, 100)
    time.sleep(0.1)
    audio = recorder.record(0.3)
    osc.send("/synth/note_off", 69)
    assert peak_frequency(audio) == pytest.approx(440.0, abs=3.0)


def test_dummy_backend_matches_audio_fed_from_a_file(tmp_path):
    """No sound card, no JACK, no MIDI system: the embedded default still captures its input and matches."""
    from inversynth.audio_files import write_audio
    from inversynth.engine.render import render

    target = {"C": 698.456, "M": 8.733, "A": 0.734, "D": 0.3, "attack": 0.0, "sustain_level": 1.0, "sustain": 1.0}
    source = tmp_path / "loop.wav"
    sound = render("original", target, seconds=1.5, sample_rate=44100)
    write_audio(source, np.concatenate([np.zeros(22050, np.float32), sound]), 44100)  # 0.5 s of silence first
    served = start_serve(
        tmp_path, "--audio", "dummy", "--input-file", str(source), "--midi-api", "alsa", "--buffer", "512"
    )
    try:
        with_client = served.client()
        try:
            status = with_client.request("/status")
            assert status[0] == "dummy"
            with_client.send("/subscribe", with_client.port)
            with_client.send("/match/source", "input")
            with_client.send("/match/capture", 2.5)
            name, distance, _, verdict, _ = with_client.wait_for("/match/done", timeout=30)[0]
        finally:
            with_client.close()
    finally:
        log = stop_serve(served)
    saved = json.loads(next(served.bank.glob("*.json")).read_text())
    assert saved["name"] == name
    assert _cents(saved["params"]["C"], target["C"]) < 25
    assert saved["params"]["D"] == pytest.approx(target["D"], abs=0.05)
    assert saved["provenance"]["source"] == "capture of the input"
    assert distance < 2 * LIVE_TARGET_DB and verdict in ("exact", "close")
    assert "warning: MIDI input is off" in log  # no ALSA sequencer here: one warning, the server ran on


def _serve_input(tmp_path, audio: np.ndarray, *args: str):
    from inversynth.audio_files import write_audio

    source = tmp_path / "input.wav"
    write_audio(source, audio.astype(np.float32), 44100)
    return start_serve(tmp_path, "--audio", "dummy", "--input-file", str(source), "--no-midi", "--buffer", "512", *args)


def test_candidates_are_saved_beside_the_match_to_audition(tmp_path):
    """serve --candidates 3: the best match and its search's distinct runners-up, each a preset of its
    own (its rank in the provenance), announced before /match/done, each loadable to audition."""
    from inversynth.engine.render import render
    from inversynth.osc_client import OscClient

    target = {"C": 392.0, "M": 6.0, "A": 0.6, "D": 0.2, "attack": 0.0, "sustain_level": 1.0, "sustain": 1.0}
    sound = render("original", target, seconds=1.5, sample_rate=44100)
    served = _serve_input(tmp_path, np.concatenate([np.zeros(22050), sound]), "--candidates", "3")
    heard: list[tuple[str, tuple]] = []
    client = OscClient("127.0.0.1", served.port, listener=lambda address, args: heard.append((address, args)))
    try:
        client.send("/subscribe", client.port)
        client.send("/match/source", "input")
        client.send("/match/capture", 2.5)
        name, distance, *_ = client.wait_for("/match/done", timeout=60)[0]
        announced = [args for address, args in heard if address == "/match/candidate"]
        auditioned = {}
        client.send("/unsubscribe", client.port)  # only the answers to what is asked now
        for candidate, *_ in announced:  # each loads as a preset: what it sounds like is what was saved
            client.send("/preset/load", candidate)
            auditioned[candidate] = client.request("/synth/get/M", reply="/synth/param/M")[0]
    finally:
        client.close()
        stop_serve(served)
    assert 1 <= len(announced) <= 2 and [a[2] for a in announced] == list(range(2, 2 + len(announced)))
    assert [a[0] for a in announced] == [f"{name} (candidate {a[2]})" for a in announced]
    assert all(a[1] >= distance for a in announced)  # ranked behind the best
    saved = {p["name"]: p for p in (json.loads(f.read_text()) for f in served.bank.glob("*.json"))}
    assert set(saved) == {name, *(a[0] for a in announced)}
    assert [saved[a[0]]["provenance"]["candidate"] for a in announced] == [a[2] for a in announced]
    assert {n: saved[n]["params"]["M"] for n in auditioned} == pytest.approx(auditioned, rel=1e-6), served.stderr()
    patches = [tuple(saved[n]["params"].values()) for n in saved]
    assert len(set(patches)) == len(patches)  # distinct patches


def test_noise_is_out_of_reach_and_neither_loaded_nor_saved(tmp_path):
    served = _serve_input(tmp_path, np.random.default_rng(3).standard_normal(44100 * 2) * 0.2)
    try:
        client = served.client()
        try:
            before = client.request("/synth/get/C", reply="/synth/param/C")[0]
            client.send("/subscribe", client.port)
            client.send("/match/source", "input")
            client.send("/match/capture", 1.5)
            name, distance, network, verdict, reason = client.wait_for("/match/done", timeout=30)[0]
            after = client.request("/synth/get/C", reply="/synth/param/C")[0]
        finally:
            client.close()
    finally:
        log = stop_serve(served)
    assert (name, verdict) == ("", "out of reach") and reason.startswith("no steady pitch")
    assert distance <= network and after == before
    assert not list(served.bank.glob("*.json")) and "nothing loaded or saved" in log


def test_a_cancelled_refinement_answers_at_once_with_its_best_so_far(tmp_path):
    from inversynth.engine.render import render

    sound = render("original", {"C": 311.13, "D": 0.4, "M": 5.0, "attack": 0.0, "sustain_level": 1.0}, 1.5, 44100)
    served = _serve_input(tmp_path, np.concatenate([np.zeros(4410), sound]), "--refine-budget-ms", "60000")
    try:
        client = served.client()
        try:
            client.send("/subscribe", client.port)
            client.send("/match/source", "input")
            client.send("/match/capture", 1.2)
            network_db, _verdict, _ms = client.wait_for("/match/estimate", timeout=30)[0]
            time.sleep(0.3)  # the refinement has started; its budget would last a minute
            asked = time.monotonic()
            client.send("/match/cancel")
            name, distance, network, verdict, _ = client.wait_for("/match/done", timeout=10)[0]
            waited = time.monotonic() - asked
        finally:
            client.close()
    finally:
        stop_serve(served)
    assert waited < 2.0 and network == pytest.approx(network_db) and distance <= network
    saved = json.loads(next(served.bank.glob("*.json")).read_text())
    assert saved["name"] == name and saved["provenance"]["refined"] and verdict in ("exact", "close")


def test_osc_listens_on_loopback_only_by_default(jack_serve):
    """The address in the banner is the socket's own bound address."""
    assert f"OSC on 127.0.0.1:{jack_serve.port};" in jack_serve.stderr()


def test_port_in_use_is_one_clear_line(jack_serve, tmp_path):
    from tests.helpers import run_cli

    result = run_cli("serve", "--audio", "dummy", "--no-midi", "--no-match", "--osc-port", str(jack_serve.port))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot listen for OSC on 127.0.0.1:{jack_serve.port}")


def test_a_model_for_another_synth_or_no_model_is_one_line(tmp_path):
    from tests.helpers import run_cli

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    result = run_cli("serve", "--audio", "dummy", "--no-midi", "--osc-port", "0", "--model", str(broken))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {broken} is not a loadable ONNX model (InvalidProtobuf)"
