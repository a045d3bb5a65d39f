"""Golden LIF network: the vectorised model against its naive scalar twin, validation."""

import numpy as np
import pytest

from dynalign.hw.formats import BIAS, IN_SHIFT_MAX, MEM, SAMPLE, WEIGHT
from dynalign.hw.lif.ref import (
    RESETS,
    LIFLayerParams,
    LIFNetworkParams,
    NetworkResult,
    argmax_class,
    random_network,
    random_samples,
    ref_network,
    ref_network_scalar,
)


def _layer(n_out=3, n_in=2, **kw):
    args = dict(weight=np.ones((n_out, n_in), np.int64), bias=np.zeros(n_out, np.int64),
                beta=128, theta=10)
    args.update(kw)
    return LIFLayerParams(**args)


def _assert_same(res: NetworkResult, samples, net):
    for n in range(samples.shape[0]):
        assert res.sample(n) == ref_network_scalar(samples[n], net), f"sample {n}"


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_equals_scalar(seed):
    rng = np.random.default_rng(seed)
    L = int(rng.integers(1, 4))
    topo = [int(rng.integers(1, 12))] + [int(rng.integers(1, 10)) for _ in range(L)]
    extreme = seed % 3 == 0
    net = random_network(rng, topo, extreme=extreme)
    samples = random_samples(rng, 6, int(rng.integers(1, 7)), topo[0],
                             extreme=0.3 if extreme else 0.02)
    res = ref_network(samples, net)
    _assert_same(res, samples, net)


def test_random_extreme_networks_saturate():
    rng = np.random.default_rng(7)
    net = random_network(rng, [8, 6, 4], extreme=True, in_shift=0)
    x = random_samples(rng, 20, 4, 8, extreme=0.5)
    res = ref_network(x, net)
    _assert_same(res, x, net)
    assert res.saturations[:, 0].sum() > 0


def test_extremes_saturate_both_ways():
    w = np.full((2, 4), WEIGHT.max_int)
    w[1] = WEIGHT.min_int
    net = LIFNetworkParams(in_shift=0, layers=(
        LIFLayerParams(weight=w, bias=np.array([BIAS.max_int, BIAS.min_int]), beta=256,
                       theta=MEM.max_int),))
    samples = np.full((1, 3, 4), SAMPLE.max_int)
    res = ref_network(samples, net)
    _assert_same(res, samples, net)
    assert res.saturations.tolist() == [[6]]
    assert res.v_final.tolist() == [[0, MEM.min_int]]  # spiked at max, then reset
    assert res.out_counts.tolist() == [[3, 0]]


def test_rate_targeting():
    rng = np.random.default_rng(5)
    for rate in (0.05, 0.3):
        net = random_network(rng, [21, 64, 32, 10], rate=rate)
        x = random_samples(rng, 200, 5, 21)
        res = ref_network(x, net)
        got = res.spikes / (np.array(net.topology[1:]) * 5)
        assert np.all(np.abs(got.mean(axis=0) - rate) < 0.6 * rate + 0.02), got.mean(axis=0)


def test_class_tie_rule():
    counts = np.array([[1, 3, 3, 0], [0, 0, 0, 0], [2, 2, 2, 2]])
    v = np.array([[0, 5, 5, 9], [-4, MEM.min_int, -4, -5], [0, 1, MEM.max_int, 3]])
    assert argmax_class(counts, v).tolist() == [1, 0, 2]


def test_one_bit_error_is_caught():
    rng = np.random.default_rng(1)
    net = random_network(rng, [5, 4, 3])
    x = random_samples(rng, 3, 4, 5)
    res = ref_network(x, net)
    expect = ref_network_scalar(x[1], net)
    assert res.sample(1) == expect
    expect["layer_counts"][0][2] ^= 1
    assert res.sample(1) != expect


def test_topology_and_api():
    net = random_network(np.random.default_rng(0), [4, 6, 2])
    assert net.topology == [4, 6, 2]
    assert net.layers[0].n_in == 4 and net.layers[1].n_out == 2
    res = ref_network(random_samples(np.random.default_rng(0), 7, 3, 4), net)
    assert res.cls.shape == (7,) and res.spikes.shape == (7, 2)
    assert [c.shape for c in res.layer_counts] == [(7, 6), (7, 2)]
    assert res.v_final.shape == (7, 2) and res.out_counts.shape == (7, 2)


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(weight=np.ones((3, 2))), TypeError, "weight must be an integer array"),
    (dict(weight=np.ones(3, np.int64)), ValueError, "weight must have 2 dimension"),
    (dict(weight=np.zeros((0, 2), np.int64), bias=np.zeros(0, np.int64)), ValueError,
     "must not be empty"),
    (dict(weight=np.full((3, 2), 128)), ValueError, "weight values [128"),
    (dict(bias=np.zeros(4, np.int64)), ValueError, "bias has 4 entries"),
    (dict(bias=np.full(3, 1 << 15)), ValueError, "bias values"),
    (dict(bias=np.zeros(3)), TypeError, "bias must be an integer array"),
    (dict(beta=257), ValueError, "beta must be in 0..256"),
    (dict(beta=-1), ValueError, "beta must be in 0..256"),
    (dict(beta=0.5), TypeError, "beta must be an integer"),
    (dict(beta=True), TypeError, "beta must be an integer"),
    (dict(theta=0), ValueError, "theta must be in 1..8388607"),
    (dict(theta=MEM.max_int + 1), ValueError, "theta must be in 1.."),
])
def test_layer_validation(kw, exc, msg):
    with pytest.raises(exc, match=msg.replace("[", r"\[").replace(".", r"\.")):
        _layer(**kw)


def test_network_validation():
    with pytest.raises(ValueError, match="in_shift must be in 0..31"):
        LIFNetworkParams(in_shift=IN_SHIFT_MAX + 1, layers=(_layer(),))
    with pytest.raises(TypeError, match="in_shift must be an integer"):
        LIFNetworkParams(in_shift="1", layers=(_layer(),))
    with pytest.raises(ValueError, match="at least one layer"):
        LIFNetworkParams(in_shift=0, layers=())
    with pytest.raises(TypeError, match="layers must be a sequence"):
        LIFNetworkParams(in_shift=0, layers=_layer())
    with pytest.raises(TypeError, match="layer 2 must be LIFLayerParams"):
        LIFNetworkParams(in_shift=0, layers=(_layer(), "x"))
    with pytest.raises(ValueError, match="layer 2 has 2 inputs but layer 1 has 3 neurons"):
        LIFNetworkParams(in_shift=0, layers=(_layer(), _layer()))
    net = LIFNetworkParams(in_shift=0, layers=[_layer(), _layer(n_in=3)])
    assert isinstance(net.layers, tuple)


def test_sample_validation():
    net = LIFNetworkParams(in_shift=0, layers=(_layer(),))
    with pytest.raises(TypeError, match="samples must be an integer array"):
        ref_network(np.zeros((1, 2, 2)), net)
    with pytest.raises(ValueError, match=r"shape \(N, T, C\)"):
        ref_network(np.zeros((2, 2), np.int64), net)
    with pytest.raises(ValueError, match="3 channels but layer 1 has 2 inputs"):
        ref_network(np.zeros((1, 2, 3), np.int64), net)
    with pytest.raises(ValueError, match="T must be in 1..65535"):
        ref_network(np.zeros((1, 0, 2), np.int64), net)
    with pytest.raises(ValueError, match="outside sample"):
        ref_network(np.full((1, 1, 2), SAMPLE.max_int + 1), net)
    with pytest.raises(TypeError, match="net must be LIFNetworkParams"):
        ref_network(np.zeros((1, 1, 2), np.int64), "net")


def test_random_network_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="topology needs"):
        random_network(rng, [4])
    with pytest.raises(ValueError, match="rate must be in"):
        random_network(rng, [4, 2], rate=1.5)
    with pytest.raises(ValueError, match="weight_bits must be in"):
        random_network(rng, [4, 2], weight_bits=9)
    net = random_network(rng, [4, 5, 2], weight_bits=4)
    assert all(np.abs(lay.weight).max() <= 8 for lay in net.layers)


@pytest.mark.parametrize("seed", range(6))
def test_zero_reset_vectorised_equals_scalar(seed):
    rng = np.random.default_rng(100 + seed)
    L = int(rng.integers(1, 4))
    topo = [int(rng.integers(1, 12))] + [int(rng.integers(1, 10)) for _ in range(L)]
    extreme = seed % 3 == 0
    net = random_network(rng, topo, extreme=extreme, reset="zero" if seed % 2 else "mixed",
                         rate=None if extreme else 0.3)
    samples = random_samples(rng, 6, int(rng.integers(1, 7)), topo[0],
                             extreme=0.3 if extreme else 0.02)
    _assert_same(ref_network(samples, net), samples, net)


def test_zero_reset_by_hand():
    """One neuron, input 7 per step, theta 10, no leak: subtract carries the remainder
    (7, 14->4, 11->1, 8, 15->5), zero drops it (7, 14->0, 7, 14->0, 7)."""
    x = np.full((1, 5, 1), 7)
    results = {}
    for reset in RESETS:
        net = LIFNetworkParams(in_shift=0, layers=(
            _layer(n_out=1, n_in=1, beta=256, theta=10, reset=reset),))
        res = ref_network(x, net)
        _assert_same(res, x, net)
        results[reset] = (res.out_counts[0, 0], res.v_final[0, 0],
                          res.spike_trains[0][0, :, 0].tolist())
    assert results["subtract"] == (3, 5, [False, True, True, False, True])
    assert results["zero"] == (2, 7, [False, True, False, True, False])


def test_reset_validation():
    with pytest.raises(ValueError, match="reset must be one of subtract, zero, not 'half'"):
        _layer(reset="half")
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="reset lists 1 modes for 2 layers"):
        random_network(rng, [4, 3, 2], reset=["zero"])
    net = random_network(rng, [4, 3, 2], reset=["zero", "subtract"])
    assert [layer.reset for layer in net.layers] == ["zero", "subtract"]
