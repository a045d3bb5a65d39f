import numpy as np
import pytest

from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import SAMPLE
from dynalign.hw.systems import EncoderConfig
from dynalign.sw.baselines import encode_inputs, n_channels
from dynalign.sw.energy import ENERGY_TABLE, energy_pj

CODES = np.array([[64, -32, 0], [-128, 127, 16]])      # v = 1, -0.5, 0 / -2, 1.98, 0.25
ONE = 1 << SAMPLE.frac


def test_direct_repeats_the_feature():
    x = encode_inputs(CODES, "direct", samples=4)
    assert x.shape == (2, 4, 3)
    assert np.all(x[0, :, 0] == ONE) and np.all(x[0, :, 1] == -ONE // 2)


def test_latency_one_spike_earlier_for_larger_values():
    x = encode_inputs(CODES, "latency", samples=5)
    assert x.shape == (2, 5, 6)
    assert set(np.unique(x)) <= {0, ONE}
    # v=1 -> p=0.5 -> step 2 on the positive channel; v=-0.5 -> p=0.25 -> step 3 (negative)
    assert x[0, :, 0].tolist() == [0, 0, ONE, 0, 0]
    assert x[0, :, 4].tolist() == [0, 0, 0, ONE, 0]
    assert x[0, :, 2].sum() == 0 and x[0, :, 5].sum() == 0       # v=0: no spike
    assert x[1, 0, 3] == ONE                                       # v=-2: p=1, first step


def test_rate_is_seeded_and_follows_probability():
    big = np.tile(np.array([[64, -128, 0]]), (4000, 1))
    a = encode_inputs(big, "rate", samples=5, seed=3)
    assert np.array_equal(a, encode_inputs(big, "rate", samples=5, seed=3))
    assert not np.array_equal(a, encode_inputs(big, "rate", samples=5, seed=4))
    rate = (a > 0).mean(axis=(0, 1))
    assert rate[0] == pytest.approx(0.5, abs=0.02) and rate[4] == 1.0 and rate[2] == 0.0


def test_dynamical_is_the_encoder():
    cfg = EncoderConfig(delta=2.0, tmax=0.4, samples=5)
    x = encode_inputs(CODES, "dynamical", config=cfg)
    assert np.array_equal(x, FixedEncoder(cfg).encode(CODES)[0])
    assert n_channels("dynamical", 3) == 9 and n_channels("rate", 3) == 6


def test_errors():
    with pytest.raises(ValueError, match="unknown coding 'poisson'"):
        encode_inputs(CODES, "poisson")
    with pytest.raises(ValueError, match="needs an EncoderConfig"):
        encode_inputs(CODES, "dynamical")
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        encode_inputs(CODES[0], "direct")
    with pytest.raises(ValueError, match="positive integer"):
        encode_inputs(CODES, "direct", samples=0)


def test_energy_estimate():
    # layer 1: 100 MACs (3.2 pJ each); deeper: 50 + 10 accumulates (0.1 pJ each)
    assert energy_pj([100, 50, 10]) == pytest.approx(100 * 3.2 + 60 * 0.1)
    assert "Horowitz" in ENERGY_TABLE["name"]
    with pytest.raises(ValueError, match="negative"):
        energy_pj([1, -1])
    with pytest.raises(ValueError, match="at least one layer"):
        energy_pj([])
