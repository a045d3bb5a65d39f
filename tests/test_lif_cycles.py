"""The cycle model (:mod:`dynalign.hw.lif.cycles`) against the RTL's ``cycles`` counter in the
Amaranth simulator: ``==`` for every sample, over random topologies, spike rates (silent,
sparse, dense, saturating), step counts, lane counts and FIFO depths."""

import numpy as np
import pytest
from test_lif_rtl import run_amaranth

from dynalign.hw.formats import BIAS
from dynalign.hw.lif.cycles import (
    DRAIN,
    READOUT_TAIL,
    group_spikes,
    ref_cycles,
    ref_cycles_from_sizes,
    ref_cycles_from_trains,
)
from dynalign.hw.lif.ref import (
    LIFLayerParams,
    LIFNetworkParams,
    random_network,
    random_samples,
    ref_network,
)
from dynalign.hw.lif.rtl import RD_CYCLES, LIFNetwork, bound_cycles_network


def _dut(lanes, max_neurons, *, max_layers=3, max_inputs=8, fifo_depth=8):
    return LIFNetwork(lanes=lanes, max_layers=max_layers, max_neurons=max_neurons,
                      max_inputs=max_inputs, weight_words=1024, group_words=64,
                      fifo_depth=fifo_depth)


def _rtl_and_model(dut, net, x, **kw):
    got = [g[RD_CYCLES] for g in run_amaranth(dut, [(net, x)], **kw)]
    res = ref_network(x, net)
    model = ref_cycles(res, net, lanes=dut.lanes, fifo_depth=dut.fifo_depth)
    return np.array(got), model, res


def _random_jobs(rng, max_neurons, count):
    """(net, samples) of random topologies and T; the kinds cycle through silent input,
    rate-targeted (sparse to dense) and saturating networks."""
    jobs = []
    for k in range(count):
        L = int(rng.integers(1, 4))
        topo = [int(rng.integers(1, 9))] + [int(rng.integers(1, max_neurons + 1))
                                            for _ in range(L)]
        steps = int(rng.integers(1, 5))
        if k % 3 == 2:
            net = random_network(rng, topo, extreme=True)
            x = random_samples(rng, 3, steps, topo[0], extreme=0.4)
        else:
            net = random_network(rng, topo, rate=float(rng.choice([0.05, 0.3, 0.8])))
            x = random_samples(rng, 3, steps, topo[0])
        x[0] = 0 if k % 2 == 0 else x[0]          # a zero-input sample
        jobs.append((net, x))
    return jobs


@pytest.mark.parametrize("lanes, max_neurons, seed", [
    (1, 10, 0), (2, 20, 1), (4, 16, 2), (8, 40, 3), (16, 32, 4)])
def test_model_equals_rtl(lanes, max_neurons, seed):
    rng = np.random.default_rng(100 + seed)
    dut = _dut(lanes, max_neurons)
    jobs = _random_jobs(rng, max_neurons, 6)
    got = run_amaranth(dut, jobs, idle=0.0, stall=0.0)
    model = np.concatenate([ref_cycles(ref_network(x, net), net, lanes=lanes)
                            for net, x in jobs])
    assert [g[RD_CYCLES] for g in got] == model.tolist()


def _backpressure_net(lanes, groups):
    """One layer of ``groups`` groups, one active input: every neuron of group 0 and the
    first neuron of every later group spike at every step, so the serialiser falls
    behind (``lanes`` cycles on group 0) while a group is issued per cycle: the FIFO credit
    holds the issue back."""
    n_out = lanes * groups
    bias = np.full(n_out, -5)
    bias[:lanes] = BIAS.max_int
    bias[lanes::lanes] = BIAS.max_int
    layer = LIFLayerParams(weight=np.zeros((n_out, 2), np.int64), bias=bias, beta=0, theta=1)
    return LIFNetworkParams(in_shift=0, layers=(layer,))


@pytest.mark.parametrize("fifo_depth, stall", [(8, 3), (9, 0)])
def test_fifo_credit(fifo_depth, stall):
    """With ``fifo_depth = 8`` the credit stall delays the drain by three cycles per step
    (the model's ``S_{g-K}`` term); one deeper entry and it never binds."""
    lanes, groups = 8, 9
    net = _backpressure_net(lanes, groups)
    x = np.zeros((2, 3, 2), np.int64)
    x[1, :, 0] = 100
    dut = _dut(lanes, lanes * groups, max_layers=1, max_inputs=2, fifo_depth=fifo_depth)
    got, model, res = _rtl_and_model(dut, net, x, idle=0.0, stall=0.0)
    assert got.tolist() == model.tolist()
    unlimited = ref_cycles(res, net, lanes=lanes, fifo_depth=1 << 20)
    assert (model - unlimited).tolist() == [3 * stall, 3 * stall]


def test_model_is_not_vacuous():
    """The counter depends on where the spikes fall: neither the synaptic-work bound nor
    the spike-free lower bound from the layer sizes is it, and one network's samples with
    the same active counts but different spike groups take different times."""
    rng = np.random.default_rng(7)
    net = random_network(rng, [8, 16, 16, 8], rate=0.6)
    x = random_samples(rng, 3, 3, 8)
    x[0] = 0
    dut = _dut(4, 16)
    got, model, res = _rtl_and_model(dut, net, x, idle=0.0, stall=0.0)
    assert got.tolist() == model.tolist()
    bound = bound_cycles_network(res, net, 4)
    lower = ref_cycles_from_sizes(res.active, [ly.n_out for ly in net.layers], lanes=4)
    assert np.all(bound < got) and np.all(lower <= got) and np.any(lower < got)

    # same active counts and spikes, in the first or the last group of a layer of two
    # groups with one active input: the last group's spikes are serialised after it
    trains = [np.zeros((2, 1, 8), bool)]
    trains[0][0, 0, :4] = True
    trains[0][1, 0, 4:] = True
    active = np.ones((2, 1, 1), np.int64)
    first, last = ref_cycles_from_trains(active, trains, lanes=4)
    assert (first, last) == (13 + DRAIN + READOUT_TAIL, 14 + DRAIN + READOUT_TAIL)


def test_counter_ignores_idles_and_backpressure():
    """The model holds with input idles and output backpressure too (the counter skips
    the cycles spent waiting for samples)."""
    rng = np.random.default_rng(5)
    net = random_network(rng, [6, 12, 5], rate=0.4)
    x = random_samples(rng, 3, 3, 6)
    got, model, _ = _rtl_and_model(_dut(4, 16), net, x, idle=0.5, stall=0.5, seed=3)
    assert got.tolist() == model.tolist()


def test_silent_network_is_the_lower_bound():
    """No spike anywhere: the drain is the fixed pipeline latency, and the sizes-only
    model is exact: ``sum (G max(a, 1) + DRAIN) + (T - 1) + n_L + READOUT_TAIL``."""
    rng = np.random.default_rng(2)
    layers = tuple(LIFLayerParams(weight=rng.integers(-3, 4, size=(o, i)),
                                  bias=np.full(o, -10), beta=128, theta=1 << 20)
                   for i, o in ((5, 9), (9, 6)))
    net = LIFNetworkParams(in_shift=0, layers=layers)
    x = random_samples(rng, 2, 4, 5)
    got, model, res = _rtl_and_model(_dut(2, 16), net, x, idle=0.0, stall=0.0)
    assert res.spikes.sum() == 0
    a0 = np.maximum(res.active[:, :, 0], 1).sum(axis=1)
    expect = 5 * a0 + DRAIN * 4 + (3 + DRAIN) * 4 + 3 + 6 + READOUT_TAIL
    assert got.tolist() == model.tolist() == expect.tolist()
    sizes = ref_cycles_from_sizes(res.active, [9, 6], lanes=2)
    assert sizes.tolist() == model.tolist()


def test_closed_form_without_backpressure():
    """Where the FIFO credit never binds, the recurrence is the closed form of the
    docstring: ``D = DRAIN + p_{G-1} + max_g ((g + 1) n + sum_{g <= j < G-1} q_j)``."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        lanes = int(rng.choice([1, 2, 4, 8]))
        n_out = int(rng.integers(1, 6 * lanes + 1))
        a = rng.integers(0, 4, size=(20, 1, 1))
        trains = [rng.random((20, 1, n_out)) < rng.random()]
        got = ref_cycles_from_trains(a, trains, lanes=lanes, fifo_depth=1 << 20)
        p = group_spikes(trains[0][:, 0], lanes)
        q = np.maximum(p, 1)
        n = np.maximum(a[:, 0, 0], 1)
        G = p.shape[1]
        tail = [q[:, g:G - 1].sum(axis=1) for g in range(G)]
        d = DRAIN + p[:, -1] + np.max([(g + 1) * n + tail[g] for g in range(G)], axis=0)
        assert got.tolist() == (d + n_out + READOUT_TAIL).tolist()


def test_group_spikes_and_validation():
    train = np.array([[1, 0, 1, 1, 0, 1, 1]], bool)
    assert group_spikes(train, 4).tolist() == [[3, 2]]
    assert group_spikes(train, 1).tolist() == [train[0].astype(int).tolist()]
    net = random_network(np.random.default_rng(0), [3, 5])
    res = ref_network(np.zeros((1, 2, 3), np.int64), net)
    with pytest.raises(ValueError, match="lanes must be at least 1, not 0"):
        ref_cycles(res, net, lanes=0)
    with pytest.raises(ValueError, match="fifo_depth must be at least 8, not 4"):
        ref_cycles(res, net, lanes=4, fifo_depth=4)
    with pytest.raises(TypeError, match="lanes must be an integer, not 2.0"):
        ref_cycles(res, net, lanes=2.0)
    with pytest.raises(TypeError, match="net must be LIFNetworkParams"):
        ref_cycles(res, "net", lanes=4)
    other = random_network(np.random.default_rng(0), [3, 6])
    with pytest.raises(ValueError, match="spike trains of 5 neurons"):
        ref_cycles(res, other, lanes=4)
    with pytest.raises(ValueError, match="1 spike trains for 2 layers"):
        ref_cycles_from_trains(np.zeros((1, 2, 2)), res.spike_trains, lanes=4)
