"""``dynalign upload`` / ``dynalign run`` against a fake serial port: a loopback into the
Python device model running the golden encoder and network."""

import argparse
import json

import numpy as np
import pytest

from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import Limits, golden_results, parse_image
from dynalign.sw.commands import run as run_cmd
from dynalign.sw.commands import upload as upload_cmd
from dynalign.sw.device_model import DeviceModel, GoldenCore
from dynalign.sw.driver import ModelTransport
from dynalign.sw.image import WeightImage


@pytest.fixture
def model_file(tmp_path):
    net = random_network(np.random.default_rng(0), [9, 8, 4], rate=0.3)
    img = WeightImage(network=net, encoder=EncoderConfig(delta=2.0, tmax=0.4), n_features=3)
    return img.save(tmp_path / "model.dlw"), img


def test_upload_then_run(model_file, capsys):
    path, img = model_file
    dev = DeviceModel(limits=Limits(max_features=4, max_samples=5, max_sizes=(16, 8)),
                      core=GoldenCore())
    transport = ModelTransport(dev)
    args = argparse.Namespace(run=str(path), port="fake", baud=115200, json=True, bank=None)
    assert upload_cmd._main(args, transport=transport) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["bank"] == 0 and rep["topology"] == [9, 8, 4]
    args = argparse.Namespace(port="fake", baud=115200, json=True, input="3,-5,17", run=None,
                              brief=False)
    assert run_cmd._main(args, transport=transport) == 0
    out = json.loads(capsys.readouterr().out)
    exp = golden_results(parse_image(img.payload()), [3, -5, 17])
    assert out[0]["class"] == exp.cls and out[0]["spikes"] == list(exp.spikes)
    assert out[0]["out_counts"] == list(exp.out_counts)


def test_run_input_errors():
    with pytest.raises(ValueError, match="comma-separated integers"):
        run_cmd.parse_input("a,b")
    with pytest.raises(ValueError, match="is empty"):
        run_cmd.parse_input(",")
    with pytest.raises(FileNotFoundError, match="no such input file"):
        run_cmd.parse_input("missing.npy")


def test_cli_lists_board_commands():
    from dynalign.sw.cli import build_parser
    p = build_parser()
    args = p.parse_args(["build", "--board", "icebreaker", "--json"])
    assert args.board == "icebreaker" and args.run is None
    with pytest.raises(SystemExit):
        p.parse_args(["build", "--board", "arty"])


def test_missing_serial_port_is_one_clear_line(model_file, tmp_path, capsys):
    from dynalign.sw import cli
    path, _ = model_file
    port = str(tmp_path / "ttyNOPE")
    assert cli.main(["upload", "--port", port, str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dynalign upload: error: cannot open serial port")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert cli.main(["run", "--port", port, "--input", "1,2,3"]) == 1
    assert "cannot open serial port" in capsys.readouterr().err


def test_bad_run_is_rejected_before_the_port_is_opened(tmp_path, capsys):
    from dynalign.sw import cli
    bad = tmp_path / "bad.dlw"
    bad.write_bytes(b"junk")
    port = str(tmp_path / "ttyNOPE")           # never opened: the image check comes first
    assert cli.main(["upload", "--port", port, str(bad)]) == 2
    assert "weight image too short" in capsys.readouterr().err
    assert cli.main(["upload", "--port", port, str(tmp_path / "none")]) == 2
    assert "no such run directory or weight image" in capsys.readouterr().err


def test_bad_baud_is_rejected():
    from dynalign.sw.driver import SerialTransport
    with pytest.raises(ValueError, match="baud must be a positive integer"):
        SerialTransport("/dev/null", baud=0)
