"""``dynalign check`` against the Python device model (fast), a device fault it reports,
and "does not fit" in the user's terms from check, upload and build."""

import argparse

import numpy as np
import pytest

from dynalign.constraints.boards import default_limits
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import ImageHeader, Limits, Results, build_image
from dynalign.sw import cli
from dynalign.sw.check import CheckModel, check_device
from dynalign.sw.commands import upload as upload_cmd
from dynalign.sw.device_model import DeviceModel, golden_core
from dynalign.sw.driver import ModelTransport, run_sync
from dynalign.sw.fit import fit_problem
from dynalign.sw.image import WeightImage

LIMITS = Limits(max_features=4, max_samples=5, max_sizes=(16, 8), lanes=2)


def image(seed, sizes=(8, 4)):
    net = random_network(np.random.default_rng(seed), [9, *sizes], rate=0.3)
    return build_image(network=net, encoder=EncoderConfig(delta=2.0, tmax=0.4), n_features=3)


def models(n=6):
    rng = np.random.default_rng(5)
    return [CheckModel(name=name, image=image(seed), codes=rng.integers(-128, 128, (n, 3)),
                       labels=rng.integers(0, 4, n))
            for name, seed in (("A", 1), ("B", 2))]


class OffByOneCycles:
    """A device fault: the golden core, but the record it answers counts one cycle
    more than it ran (a corrupted reply byte, sent with a valid CRC)."""

    def __init__(self, limits):
        self.core = golden_core(limits)

    def load(self, store, table=None):
        self.core.load(store, table)

    def run(self, codes):
        r = Results.unpack(self.core.run(codes))
        return r._replace(cycles=r.cycles + 1).pack()


def device(core=None, *, limits=LIMITS):
    from dynalign.sw.driver import Device
    return Device(ModelTransport(DeviceModel(limits=limits,
                                             core=core or golden_core(limits))))


def test_check_switches_and_matches_the_golden_model():
    rep = run_sync(check_device(device(), models(), samples=None, clock_hz=24e6))
    assert rep["mismatches"] == 0 and rep["mode_switches"] == 2
    assert [m["compared"] for m in rep["models"]] == [6 + 5, 6]
    for m in rep["models"]:
        assert m["accuracy"] == m["golden_accuracy"]
        assert m["latency_us"] == pytest.approx(m["cycles_per_inference"] / 24)
    assert rep["device"]["lanes"] == 2 and rep["inferences_per_s"] > 0


def test_check_reports_a_device_fault():
    rep = run_sync(check_device(device(OffByOneCycles(LIMITS)), models()[:1], samples=3))
    assert rep["mismatches"] == 3
    msg = rep["first_mismatch"]["message"]
    assert msg.startswith("A sample 0: cycles ") and "on the device" in msg
    assert "from the model" in msg and "spikes" not in msg


class OneSpikeMore:
    """A device fault: the golden core, but the record counts one spike more in its
    last layer (a corrupted reply byte with a valid CRC), which the brief record
    carries."""

    def __init__(self, limits):
        self.core = golden_core(limits)

    def load(self, store, table=None):
        self.core.load(store, table)

    def run(self, codes):
        r = Results.unpack(self.core.run(codes))
        return r._replace(spikes=(*r.spikes[:-1], r.spikes[-1] + 1)).pack()


def test_check_brief_records():
    """``brief``: the brief records compared (class, flags, cycles, spikes) on a device
    with a queue (CLASSIFY) and without one; a spike count off by one is found."""
    from dataclasses import replace
    for limits in (LIMITS, replace(LIMITS, queue=64)):
        dev = device(limits=limits)
        rep = run_sync(check_device(dev, models(), samples=None, brief=True))
        assert rep["mismatches"] == 0 and rep["record"] == "brief"
        assert [m["compared"] for m in rep["models"]] == [6 + 5, 6]
        assert rep["streamed"] == bool(limits.queue)
    rep = run_sync(check_device(device(OneSpikeMore(LIMITS), limits=replace(LIMITS, queue=64)),
                                models()[:1], samples=3, brief=True))
    assert rep["mismatches"] == 3
    msg = rep["first_mismatch"]["message"]
    assert msg.startswith("A sample 0: spikes (") and "saturations" not in msg


def test_check_cli_exit_code_and_lines(tmp_path, capsys, monkeypatch):
    from dynalign.sw.commands import check as check_cmd
    monkeypatch.setattr(check_cmd, "models_from_args", lambda args: models()[:1])
    args = argparse.Namespace(run="r", switch=None, input=None, samples=4, no_upload=False,
                              brief=False, board="icebreaker", json=False, port="fake", baud=115200,
                              timeout=1.0, retries=0)
    assert check_cmd._main(args, transport=device().transport) == 0
    out = capsys.readouterr().out
    assert "4 compared, 0 mismatches" in out and "us" in out
    bad = device(OffByOneCycles(LIMITS)).transport
    assert check_cmd._main(args, transport=bad) == 1
    err = capsys.readouterr().err
    assert err.startswith("dynalign check: mismatch: A sample 0: cycles")


def test_does_not_fit_in_user_terms():
    h = ImageHeader(n_features=32, samples=5, in_shift=0, sizes=(256, 256, 10), total_len=0)
    msg = fit_problem(h, default_limits("icebreaker"), where="the icebreaker board")
    assert msg == ("the model does not fit the icebreaker board: it has 32 features (96 "
                   "encoder inputs), 5 time steps, layers 256-256-10 (92,672 weights); the "
                   "icebreaker board holds at most 16 features (48 encoder inputs), 5 time "
                   "steps, layers 128-10 (7,424 weights); the nearest that fits: dynalign "
                   "train --features 16 --layers 128")
    assert fit_problem(h, default_limits("ulx3s")) is None
    small = ImageHeader(n_features=3, samples=5, in_shift=0, sizes=(8, 4), total_len=0)
    assert fit_problem(small, LIMITS) is None


def test_upload_and_check_refuse_a_model_too_big_for_the_device(tmp_path, capsys):
    big = WeightImage(network=random_network(np.random.default_rng(0), [9, 20, 4], rate=0.3),
                      encoder=EncoderConfig(delta=2.0, tmax=0.4), n_features=3)
    path = big.save(tmp_path / "big.dlw")
    args = argparse.Namespace(run=str(path), port="fake", baud=115200, json=True,
                              timeout=1.0, retries=0)
    with pytest.raises(ValueError, match=r"layers 20-4 .*holds at most .*layers 16-8 .*"
                                         r"nearest that fits: dynalign train --features 3 "
                                         r"--layers 16"):
        upload_cmd._main(args, transport=device().transport)
    m = CheckModel(name="A", image=big.payload(), codes=np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="^A: the model does not fit the device"):
        run_sync(check_device(device(), [m]))


def test_build_refuses_a_run_too_big_for_the_board(tmp_path, capsys):
    net = random_network(np.random.default_rng(0), [96, 256, 256, 10], rate=0.3)
    big = WeightImage(network=net, encoder=EncoderConfig(delta=2.0), n_features=32)
    path = big.save(tmp_path / "big.dlw")
    assert cli.main(["build", "--board", "icebreaker", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynalign build: error: the model does not fit the icebreaker "
                          "board: it has 32 features")
    assert "dynalign train --features 16 --layers 128" in err
    assert len(err.strip().splitlines()) == 1


def test_verify_refuses_a_run_too_big_for_the_board_as_build_does(tmp_path, capsys):
    """``verify system --board`` says it with the same helper and the same line as
    ``build`` (before any simulation is built)."""
    net = random_network(np.random.default_rng(0), [96, 256, 256, 10], rate=0.3)
    big = WeightImage(network=net, encoder=EncoderConfig(delta=2.0), n_features=32)
    path = big.save(tmp_path / "big.dlw")
    assert cli.main(["build", "--board", "icebreaker", str(path)]) == 2
    build_err = capsys.readouterr().err
    assert cli.main(["verify", "system", str(path), "--board", "icebreaker",
                     "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert err == build_err.replace("dynalign build:", "dynalign verify:")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "features" in err and "weights" in err and \
        "nearest that fits: dynalign train --features 16 --layers 128" in err


def test_sim_board_help_states_the_cost(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sim-board", "--help"])
    out = capsys.readouterr().out
    assert "Real-time cost" in out and "3,000,000" in out
    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    assert "(retries + 1) x timeout" in " ".join(capsys.readouterr().out.split())
