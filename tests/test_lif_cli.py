"""``dynalign verify network``: argument errors (fast); a full run is behind --runslow."""

import json

import pytest

from dynalign.sw.cli import main
from dynalign.sw.verify_network import parse_layers


@pytest.mark.parametrize("argv, msg", [
    (["--layers", "21,x"], "--layers must be comma-separated integers"),
    (["--layers", "21"], "--layers needs an input size"),
    (["--layers", "21,0,3"], "--layers needs an input size"),
    (["--samples", "0"], "--samples must be a positive integer"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--lanes", "3"], "lanes must be a power of two"),
])
def test_verify_network_errors(argv, msg, capsys):
    rc = main(["verify", "network", "--random", "--samples", "4"] + argv)
    assert rc == 2
    assert msg in capsys.readouterr().err


def test_random_is_required(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "network"])
    assert "--random" in capsys.readouterr().err


def test_parse_layers():
    assert parse_layers("21,64,32,10") == [21, 64, 32, 10]


@pytest.mark.slow
def test_verify_network_runs(capsys):
    rc = main(["verify", "network", "--random", "--layers", "9,12,5", "--samples", "12",
               "--seed", "3", "--lanes", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["compared"] == 12 and out["mismatches"] == 0
    assert out["lanes"] == 4 and out["cycles_per_inference"] >= out["bound_cycles_per_inference"]
