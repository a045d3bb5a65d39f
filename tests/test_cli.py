"""The ``dynalign`` command line: every command answers --help; foundation commands."""

import importlib
import json

import pytest
from cli_run import run

from dynalign.sw import cli


def command_names():
    names = []
    for mod in cli.COMMANDS:
        # import_: "import" is a keyword; sim_board: the command is sim-board
        names.append(mod.rsplit(".", 1)[1].rstrip("_").replace("_", "-"))
    return names


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help(capsys, name):
    with pytest.raises(SystemExit) as e:
        cli.main([name, "--help"])
    assert e.value.code == 0
    assert "usage: dynalign" in capsys.readouterr().out


def test_verify_targets_have_help(capsys):
    from dynalign.sw.commands import verify
    for mod in verify.TARGETS:
        target = importlib.import_module(mod)
        name = mod.rsplit(".", 1)[1].removeprefix("verify_")
        assert hasattr(target, "register")
        with pytest.raises(SystemExit) as e:
            cli.main(["verify", name, "--help"])
        assert e.value.code == 0
    capsys.readouterr()


def test_encode_json(capsys):
    code, out, _ = run(capsys, "encode", "--system", "mixed", "--delta", "-1.5",
                       "--values=0.3,-0.7", "--json")
    assert code == 0
    d = json.loads(out)
    assert {"float", "fixed", "saturated", "format"} <= set(d)
    assert len(d["float"]) == 2 and len(d["fixed"][0]) == 5 and len(d["fixed"][0][0]) == 3
    assert d["saturated"] == [False, False]
    assert d["codes"] == [19, -45]
    assert d["format"]["sample"]["q"] == "Q20.12"
    # fixed decodes to real units and tracks float (value quantised to 19/64, not 0.3)
    assert d["fixed"][0][0] == [19 / 64, pytest.approx(0.2 * 19 / 64, abs=1e-3), -19 / 64]


def test_encode_lorenz_and_text(capsys):
    code, out, _ = run(capsys, "encode", "--system", "lorenz", "--values=1", "--json")
    assert code == 0 and json.loads(out)["config"]["system"] == "lorenz"
    code, out, _ = run(capsys, "encode", "--mode", "dissipative", "--values=1")
    assert code == 0 and "step   800" in out


@pytest.mark.parametrize("argv, msg", [
    (["encode", "--values=2.5"], "outside the range of code"),
    (["encode", "--values=abc"], "comma-separated numbers"),
    (["encode", "--values=1", "--dt", "0.03"], "not a whole number of steps"),
    (["encode", "--values=1", "--steps", "7"], "do not fall on integration steps"),
    (["encode", "--values=1", "--dt", "-1"], "dt must be positive"),
    (["encode", "--values=1", "--delta", "nan"], "delta must be finite"),
    (["encode", "--values=1", "--sigma", "3"], "--sigma applies to --system lorenz"),
    (["encode", "--values=1", "--mode", "expansive", "--delta", "1"], "not both"),
    (["lyapunov", "--system", "lorenz", "--delta", "1"], "--delta applies to --system mixed"),
    (["encode", "--values=1", "--system", "chen", "--eps", "0.1"],
     "--eps applies to --system aizawa"),
    (["encode", "--values=1", "--system", "chua", "--a", "1"],
     "--a applies to --system chen, rossler, sprott-c"),
    (["encode", "--values=1", "--system", "rossler", "--mode", "expansive"],
     "--mode applies to --system mixed"),
    (["encode", "--values=1", "--system", "lorenz", "--beta", "2", "--lorenz-beta", "2"],
     "not both"),
    (["encode", "--values=1", "--system", "aizawa", "--lorenz-beta", "2"],
     "--lorenz-beta applies to --system lorenz"),
    (["encode", "--values=1", "--system", "chen", "--c", "200"], "outside the range of coef"),
    (["encode", "--values=1", "--system", "sprott-c", "--a", "inf"], "a must be finite"),
    (["plot", "--systems", "hopf"], "unknown system 'hopf'"),
])
def test_errors_are_one_clear_line(capsys, argv, msg):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert msg in err and err.count("\n") == 1


def test_unknown_system_rejected_by_parser(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["encode", "--system", "hopf", "--values=1"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_encode_every_system(capsys):
    for system in ("chen", "rossler", "aizawa", "nose-hoover", "sprott-c", "chua"):
        code, out, _ = run(capsys, "encode", "--system", system, "--values=0.5,-1",
                           "--tmax", "0.4", "--json")
        d = json.loads(out)
        assert code == 0 and d["config"]["system"] == system
    code, out, _ = run(capsys, "encode", "--system", "chen", "--a", "35", "--b", "3",
                       "--c", "28", "--values=1", "--json")
    d = json.loads(out)["config"]
    assert (d["a"], d["b"], d["c"], d["lyapunov_sum"]) == (35, 3, 28, -10)
    code, out, _ = run(capsys, "encode", "--system", "chen", "--values=1", "--tmax", "1")
    assert code == 0 and "SATURATED" in out          # the paper's Chen escapes
    code, out, _ = run(capsys, "encode", "--system", "sprott-c", "--values=1", "--tmax", "2",
                       "--steps", "20", "--dt", "auto", "--json")
    d = json.loads(out)["config"]
    assert code == 0 and d["n_steps"] == 209 and d["dt"] == pytest.approx(2 / 209)


def test_lyapunov_every_system_text(capsys):
    code, out, _ = run(capsys, "lyapunov", "--system", "sprott-c", "--time", "4")
    assert code == 0 and "(divergence: -1.0000)" in out
    code, out, _ = run(capsys, "lyapunov", "--system", "rossler", "--time", "4", "--json")
    d = json.loads(out)
    assert d["sum_theory"] is None and d["sum"] == pytest.approx(d["mean_divergence"],
                                                                 abs=2e-3)


def test_lyapunov_json(capsys):
    code, out, _ = run(capsys, "lyapunov", "--delta", "2", "--json")
    d = json.loads(out)
    assert code == 0 and len(d["exponents"]) == 3
    assert d["sum"] == pytest.approx(-4.0, abs=1e-4) and d["sum_theory"] == -4.0
    code, out, _ = run(capsys, "lyapunov", "--system", "lorenz", "--time", "10", "--json")
    assert json.loads(out)["sum"] == pytest.approx(-(11 + 8 / 3), rel=1e-5)


def test_plot_writes_png(capsys, tmp_path):
    out = tmp_path / "t.png"
    code, text, _ = run(capsys, "plot", "--deltas=-1.5,2", "--values=0.5,-1",
                        "--tmax", "2", "--out", str(out))
    assert code == 0 and out.exists()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_every_system(capsys, tmp_path):
    out = tmp_path / "s.png"
    code, _, _ = run(capsys, "plot", "--systems", "all", "--tmax", "1", "--steps", "3",
                     "--values=0.5", "--out", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(capsys, "plot", "--system", "chua", "--alpha", "15", "--tmax", "1",
                     "--steps", "3", "--out", str(out))
    assert code == 0


def test_verify_system_samples_count_or_all(capsys):
    """``--samples`` takes a positive count or ``all`` (the whole test split)."""
    from dynalign.sw.verify_system import _samples
    assert _samples("all") is None and _samples("12") == 12
    for bad in ("0", "-3", "some"):
        with pytest.raises(SystemExit):
            cli.main(["verify", "system", "run", "--samples", bad])
        assert "must be a positive integer or 'all'" in capsys.readouterr().err
