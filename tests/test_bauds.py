"""Baud rates, one source of truth: the rates each board's clock and its FTDI USB UART
agree on (:func:`dynalign.constraints.boards.board_bauds`), refused alike by ``dynalign
build --baud``, the host commands' ``--baud`` and ``sim-board --baud``; the build
report records the bitstream's baud and the host warns when its own differs."""

import json

import numpy as np
import pytest
from cli_run import one_line, run

from dynalign.constraints.boards import (
    BoardTop,
    baud_rates,
    board_bauds,
    bridge_baud,
    check_baud,
    default_baud,
)
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.uart import baud_divisor
from dynalign.sw.commands import build as build_cmd
from dynalign.sw.image import WeightImage


def test_bridge_rates():
    """The FTDI divisors: 3 MHz / 1, / 1.5, / (n + k/8) for n >= 2."""
    assert bridge_baud(3_000_000) == 3_000_000 and bridge_baud(2_000_000) == 2_000_000
    assert bridge_baud(2_500_000) in (3_000_000, 2_000_000)     # no divisor in between
    assert bridge_baud(115_200) == pytest.approx(3e6 / 26)      # 115,384.6
    assert bridge_baud(921_600) == pytest.approx(3e6 / 3.25)
    assert bridge_baud(57_600) == pytest.approx(3e6 / 52.125)


def test_board_tables():
    ice = {r.baud: r for r in board_bauds("icebreaker")}
    assert ice[3_000_000].divisor == 8 and ice[115_200].divisor == 208
    assert all(r.error == 0 for r in ice.values())     # 24 MHz = 8 x the 3 MHz bridge
    ulx = {r.baud: r for r in board_bauds("ulx3s")}          # its PLL's 50 MHz
    assert ulx[2_000_000].divisor == 25 and ulx[2_000_000].error == 0
    assert ulx[1_000_000].divisor == 50 and ulx[1_000_000].error == 0
    # 3 Mbaud within the tolerance but not exact: 50 MHz / 17 = 2.94 Mbaud
    assert ulx[3_000_000].divisor == 17 and ulx[3_000_000].error == pytest.approx(1 / 51)
    # the oscillator's 25 MHz alone: 3 and 2 Mbaud are 4 % off (25 / 8.33, / 12.5)
    osc = {r.baud: r for r in baud_rates(25e6)}
    assert 3_000_000 not in osc and 2_000_000 not in osc
    assert osc[1_000_000].divisor == 25 and osc[1_000_000].error == 0
    assert osc[115_200].divisor == 217 and osc[115_200].error == pytest.approx(1.536e-3,
                                                                                 rel=1e-3)
    assert (default_baud("icebreaker"), default_baud("ulx3s")) == (3_000_000, 2_000_000)
    for board in ("icebreaker", "ulx3s"):
        for r in board_bauds(board):      # the bitstream's UART divides exactly so
            clk = BoardTop(board=board, baud=r.baud).clk_freq
            assert baud_divisor(clk_freq=round(clk), baud=r.baud) == r.divisor
            assert BoardTop(board=board, baud=r.baud).top.divisor == r.divisor


def test_build_and_host_refuse_alike(tmp_path, capsys):
    bad = 2_500_000                     # 24 MHz / 9.6, 50 MHz / 20: no bridge makes it
    with pytest.raises(ValueError) as exc:
        check_baud(bad, board="ulx3s")
    msg = str(exc.value)
    assert msg.startswith("baud 2,500,000 is not a rate the ulx3s board makes")
    assert "3,000,000" in msg and "115,200" in msg
    with pytest.raises(ValueError, match="baud 2,500,000 is not a rate the ulx3s"):
        BoardTop(board="ulx3s", baud=bad)
    code, _, err = run(capsys, "build", "--board", "ulx3s", "--baud", bad)
    assert code == 2 and one_line(err) == f"dynalign build: error: {msg}"
    port = tmp_path / "ttyNOPE"                    # never opened: the baud comes first
    net = random_network(np.random.default_rng(0), [9, 8, 4], rate=0.3)
    model = WeightImage(network=net, encoder=EncoderConfig(delta=2.0, tmax=0.4),
                        n_features=3).save(tmp_path / "model.dlw")
    for argv in (["upload", "--port", port, "--board", "ulx3s", "--baud", bad, model],
                 ["run", "--port", port, "--board", "ulx3s", "--baud", bad,
                  "--input", "1,2"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and one_line(err) == f"dynalign {argv[0]}: error: {msg}"
    code, _, err = run(capsys, "sim-board", "--board", "ulx3s", "--baud", bad)
    assert code == 2 and one_line(err) == f"dynalign sim-board: error: {msg}"
    # no --board: a rate no board makes
    code, _, err = run(capsys, "run", "--port", port, "--baud", 12_345, "--input", "1")
    assert code == 2 and "baud 12,345 is not a rate any board makes" in one_line(err)
    # a rate one board makes passes the baud check (and fails at the missing port)
    code, _, err = run(capsys, "run", "--port", port, "--baud", 3_000_000, "--input", "1")
    assert code == 1 and "cannot open serial port" in err


def test_list_bauds(capsys):
    code, out, _ = run(capsys, "build", "--list-bauds", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["board"] for r in rows} == {"icebreaker", "ulx3s"}
    assert [(r["baud"], r["divisor"]) for r in rows if r["board"] == "ulx3s"][:2] == \
        [(3_000_000, 17), (2_000_000, 25)]
    code, out, _ = run(capsys, "build", "--list-bauds", "--board", "icebreaker")
    assert code == 0 and "3,000,000" in out and "ulx3s" not in out
    code, _, err = run(capsys, "build")
    assert code == 2 and "required: --board" in one_line(err)


def test_host_warns_when_the_build_recorded_another_baud(tmp_path, capsys, monkeypatch):
    """The build writes its report (baud included) beside the bitstream; a host command
    with --board and a different --baud says so in one line (and goes on)."""
    monkeypatch.setattr(build_cmd, "build_board", lambda **kw: {
        "board": kw["board"], "bitstream": str(tmp_path / "dynalign.bin"),
        "baud": kw["baud"]})
    rep = build_cmd.build(board="icebreaker", baud=3_000_000, build_dir=tmp_path)
    assert build_cmd.read_build_report("icebreaker", tmp_path)["baud"] == 3_000_000
    assert rep["baud"] == 3_000_000
    port = tmp_path / "ttyNOPE"
    code, _, err = run(capsys, "run", "--port", port, "--board", "icebreaker", "--build",
                       tmp_path, "--baud", 115_200, "--input", "1")
    warn, fail = err.strip().splitlines()
    assert warn.startswith("dynalign run: warning: the icebreaker bitstream") and \
        "built for 3,000,000 baud, not --baud 115,200" in warn
    assert code == 1 and "cannot open serial port" in fail
    code, _, err = run(capsys, "run", "--port", port, "--board", "icebreaker", "--build",
                       tmp_path, "--baud", 3_000_000, "--input", "1")
    assert code == 1 and "warning" not in one_line(err)
