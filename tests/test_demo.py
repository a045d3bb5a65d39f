"""The README's main command (``make demo`` -> ``python -m dynalign.sw.demo``): its stages, its
report and its argument errors.  The full chain (RTL simulation of 8-bit codes and a
bitstream build) is slow and runs with ``--runslow``."""

import json

import pytest

from dynalign.sw import demo

TINY = ["--features", "3", "--layers", "12", "--epochs", "2", "--limit", "300"]


def test_encode_and_train_stages(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--stages", "encode,train", *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"encode", "train", "seconds"}
    enc = report["encode"]["modes"]
    assert enc["expansive"]["lyapunov_sum_theory"] == pytest.approx(3.0)
    assert enc["dissipative"]["lyapunov_sum_theory"] == pytest.approx(-4.0)
    assert (out / "trajectories.png").stat().st_size > 0
    for mode in demo.MODES:
        r = report["train"][mode]
        assert r["topology"] == [9, 12, 10]
        assert r["torch_golden_agreement"] == 1.0
        assert (out / "runs" / mode / "model.dlw").exists()
    assert report["train"]["expansive"]["delta"] == -1.5
    assert report["train"]["dissipative"]["delta"] == 2.0
    assert report["train"]["dissipative"]["spike_reg"] == 1.0
    assert report["train"]["expansive"]["spike_reg"] == 0.0
    assert report["train"]["dissipative"]["in_shift"] == 10
    text = capsys.readouterr().out
    assert "[encode]" in text and "[train]" in text


@pytest.mark.parametrize("argv, message", [
    (["--stages", "encode,bogus"], "unknown stage"),
    (["--layers", "12,x"], "--layers must be comma-separated integers"),
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--samples", "0"], "--samples must be a positive integer"),
    (["--dissipative-spike-reg", "-1"], "--dissipative-spike-reg must be >= 0"),
    (["--dissipative-in-shift", "32"], "--dissipative-in-shift must be in -1..31"),
    (["--stages", "verify"], "no trained runs"),
])
def test_bad_arguments(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        demo.main(["--out", str(tmp_path / "d"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_full_demo(tmp_path):
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), *TINY, "--samples", "2"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["verify"]["mismatches"] == 0
    # upload A, B; SELECT A, B, A; A serves around an interrupted upload (2 + 2)
    assert report["verify"]["compared"] == 2 + 2 + 2 + 2 + 2 + 2 + 2
    assert report["verify"]["select_switches"] == 3
    assert report["build"]["meets_timing"]
    assert set(report["build"]["latency_us_by_mode"]) == set(demo.MODES)


def test_network_defaults_to_the_board(tmp_path):
    """Without --features / --layers the demo trains the size the board holds."""
    from dynalign.constraints.boards import BOARDS
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--stages", "encode", "--board", "icebreaker"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["encode"]["features"] == BOARDS["icebreaker"].max_features == 16
    assert demo.main(["--out", str(out), "--stages", "encode", "--board", "ulx3s"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["encode"]["features"] == BOARDS["ulx3s"].max_features == 32
