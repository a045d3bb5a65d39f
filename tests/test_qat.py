"""The torch QAT network computes the golden LIF arithmetic exactly (``==`` on every sample)."""

import functools

import numpy as np
import pytest
import torch

from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import ACT, CODE, MEM, SAMPLE, round_shift
from dynalign.hw.lif.ref import argmax_class, random_network, random_samples, ref_network
from dynalign.hw.systems import EncoderConfig
from dynalign.sw.evaluate import compare_torch_golden
from dynalign.sw.image import network_from_dict, network_to_dict
from dynalign.sw.qat import (
    LIFNet,
    _RoundShift,
    activation_table,
    choose_in_shift,
    gather_inputs,
    integer_forward,
    readout_class,
    readout_score,
    torch_threads,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with torch_threads(1):
        yield


def acts(samples, in_shift):
    a, _ = ACT.saturate(round_shift(np.asarray(samples, np.int64), in_shift))
    return torch.tensor(a, dtype=torch.float64)


def assert_exact(net, samples):
    golden = ref_network(samples, net)
    out = integer_forward(network_to_dict(net), acts(samples, net.in_shift))
    cmp = compare_torch_golden(out, golden)
    assert cmp["exact"], cmp["mismatches"][:10]
    assert cmp["agreement"] == 1.0
    np.testing.assert_array_equal(out.classes.numpy(), golden.cls)
    np.testing.assert_array_equal(out.counts.numpy().astype(np.int64), golden.out_counts)
    np.testing.assert_array_equal(out.v_final.numpy().astype(np.int64), golden.v_final)
    return golden


# -- integer forward from exported integers ------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_integer_forward_equals_golden_random(seed):
    rng = np.random.default_rng(seed)
    topo = [int(rng.integers(3, 30)), int(rng.integers(2, 40)), int(rng.integers(2, 12))]
    if seed % 2:
        topo.insert(2, int(rng.integers(2, 20)))
    net = random_network(rng, topo)
    samples = random_samples(rng, 64, int(rng.integers(2, 9)), topo[0], extreme=0.05)
    assert_exact(net, samples)


@pytest.mark.parametrize("seed", range(3))
def test_integer_forward_equals_golden_saturating(seed):
    rng = np.random.default_rng(100 + seed)
    net = random_network(rng, [9, 16, 8, 4], extreme=True)
    samples = random_samples(rng, 48, 6, 9, extreme=0.3)
    golden = assert_exact(net, samples)
    assert golden.saturations.sum() > 0         # the clamp path really ran


@pytest.mark.parametrize("delta", [-1.5, 2.0])
def test_encoder_gather_and_forward_equal_golden(delta):
    rng = np.random.default_rng(7)
    enc = encoder_table(delta)
    codes = rng.integers(CODE.min_int, CODE.max_int, size=(40, 4), endpoint=True)
    samples, _ = enc.encode(codes)
    shift = choose_in_shift(samples)
    net = random_network(rng, [12, 20, 5], in_shift=shift, rate=0.2, calib=samples)
    x = gather_inputs(torch.tensor(activation_table(enc.table, shift), dtype=torch.float64),
                      torch.tensor(codes))
    assert torch.equal(x, acts(samples, shift))
    assert_exact(net, samples)


# -- the trainable module ---------------------------------------------------------------------

@functools.cache
def encoder_table(delta):
    return FixedEncoder(EncoderConfig(delta=delta))


@functools.cache
def tiny_trained(seed=0, steps=8, readout="counts", reset="subtract"):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc = encoder_table(-1.5)
    codes = rng.integers(-100, 100, size=(96, 3), endpoint=True)
    samples, _ = enc.encode(codes)
    shift = choose_in_shift(samples)
    x = acts(samples, shift)
    y = torch.tensor(rng.integers(0, 4, size=96))
    g = torch.Generator().manual_seed(seed)
    model = LIFNet(sizes=[9, 24, 12, 4], in_shift=shift, generator=g, readout=readout,
                   reset=reset)
    model.init_thresholds_(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        out = model(x)
        loss = torch.nn.functional.cross_entropy(
            2 * readout_score(out, readout=readout, unit=model.unit[-1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.project_()
    return model, samples, x


@pytest.mark.parametrize("readout", ["counts", "membrane"])
def test_trained_module_equals_golden_on_every_sample(readout):
    model, samples, x = tiny_trained(readout=readout)
    net = network_from_dict(model.integer_params())
    golden = ref_network(samples, net)
    with torch.no_grad():
        out = model(x)             # the training forward itself, not the export path
    cmp = compare_torch_golden(out, golden)
    assert cmp["exact"] and cmp["agreement"] == 1.0
    assert_exact(net, samples)
    if readout == "membrane":
        assert net.layers[-1].theta == MEM.max_int


def test_gradients_reach_every_parameter():
    model, _, x = tiny_trained(steps=0)
    model.zero_grad()
    out = model(x)
    readout_score(out).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


def test_one_bit_perturbation_is_caught():
    rng = np.random.default_rng(11)
    net = random_network(rng, [12, 16, 6], rate=0.3)
    samples = random_samples(rng, 32, 5, 12)
    golden = ref_network(samples, net)
    out = integer_forward(network_to_dict(net), acts(samples, net.in_shift))
    assert compare_torch_golden(out, golden)["exact"]
    # one count of one sample off by one
    golden.out_counts[5, 2] ^= 1
    cmp = compare_torch_golden(out, golden)
    assert not cmp["exact"] and cmp["mismatches"] == [5]
    golden.out_counts[5, 2] ^= 1
    # one membrane bit
    golden.v_final[9, 0] ^= 1
    assert compare_torch_golden(out, golden)["mismatches"] == [9]
    golden.v_final[9, 0] ^= 1
    # one class
    golden.cls[3] = (golden.cls[3] + 1) % 6
    cmp = compare_torch_golden(out, golden)
    assert cmp["agreement"] == pytest.approx(31 / 32) and cmp["mismatches"] == [3]


def test_one_weight_bit_changes_results():
    rng = np.random.default_rng(12)
    net = random_network(rng, [12, 16, 6], rate=0.3)
    samples = random_samples(rng, 64, 5, 12)
    d = network_to_dict(net)
    d["layers"][1]["weight"] = d["layers"][1]["weight"].copy()
    d["layers"][1]["weight"][0, :] ^= 1           # the LSB of one output neuron's row
    out = integer_forward(d, acts(samples, net.in_shift))
    assert not compare_torch_golden(out, ref_network(samples, net))["exact"]


# -- pieces -----------------------------------------------------------------------------------

def test_round_shift_matches_formats():
    a = np.arange(-3000, 3000, 7, dtype=np.int64) * 129
    for n in (1, 3, 8):
        got = _RoundShift.apply(torch.tensor(a, dtype=torch.float64), n).numpy()
        np.testing.assert_array_equal(got.astype(np.int64), round_shift(a, n))


def test_readout_class_is_lexicographic_lowest_index():
    counts = torch.tensor([[1., 3, 3, 0], [0, 0, 0, 0], [2, 2, 1, 2]])
    v = torch.tensor([[9e6, 5, 5, 7], [-3, -3, -4, -8], [4, 7, 100, 7]])
    assert readout_class(counts, v).tolist() == [1, 0, 1]
    assert readout_class(counts, v).tolist() == argmax_class(
        counts.numpy().astype(np.int64), np.clip(v.numpy(), MEM.min_int, MEM.max_int)
        .astype(np.int64)).tolist()


def test_choose_in_shift():
    assert choose_in_shift(np.array([[0, 32767]])) == 0
    assert choose_in_shift(np.array([-32767])) == 0
    assert choose_in_shift(np.array([-32768])) == 1        # by magnitude
    assert choose_in_shift(np.array([32768])) == 1
    assert choose_in_shift(np.array([SAMPLE.max_int])) == 17     # 2**31 >> 16 rounds to 2**15
    big = np.concatenate([np.full(99, 100), [10 ** 6]])
    assert choose_in_shift(big, percentile=50) == 0
    with pytest.raises(ValueError, match="empty sample set"):
        choose_in_shift(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="percentile must be in"):
        choose_in_shift(np.array([1]), percentile=0)


def test_constructor_checks():
    with pytest.raises(ValueError, match="sizes must list >= 2"):
        LIFNet(sizes=[3], in_shift=0)
    with pytest.raises(ValueError, match="in_shift must be an integer in 0..31"):
        LIFNet(sizes=[3, 2], in_shift=40)
    with pytest.raises(ValueError, match="beta_init must be in"):
        LIFNet(sizes=[3, 2], in_shift=0, beta_init=1.0)
    with pytest.raises(ValueError, match="readout must be one of"):
        LIFNet(sizes=[3, 2], in_shift=0, readout="rate")
    with pytest.raises(ValueError, match="in_shift must be an integer in 0..31"):
        activation_table(np.zeros((2, 2, 3), np.int64), -1)
    model = LIFNet(sizes=[3, 2], in_shift=0)
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, T, 3\)"):
        model(torch.zeros(4, 5, 6, dtype=torch.float64))


def test_float_network_runs_and_is_close():
    model, samples, x = tiny_trained()
    xf = torch.tensor(samples, dtype=torch.float64) / 2 ** model.in_shift
    with torch.no_grad():
        fo = model(xf, integer=False)
        io = model(x)
    agree = (fo.classes == io.classes).double().mean()
    assert agree > 0.7


@pytest.mark.parametrize("seed", range(3))
def test_zero_reset_integer_forward_equals_golden(seed):
    rng = np.random.default_rng(60 + seed)
    topo = [int(rng.integers(3, 30)), int(rng.integers(2, 40)), int(rng.integers(2, 20)),
            int(rng.integers(2, 12))]
    net = random_network(rng, topo, reset="zero" if seed == 0 else "mixed", rate=0.3)
    samples = random_samples(rng, 64, int(rng.integers(2, 9)), topo[0], extreme=0.05)
    golden = assert_exact(net, samples)
    assert golden.spikes.sum() > 0


@pytest.mark.parametrize("reset", [["zero", "zero", "zero"], ["zero", "subtract", "zero"]])
def test_zero_reset_trained_module_equals_golden(reset):
    model, samples, x = tiny_trained(reset=tuple(reset))
    net = network_from_dict(model.integer_params())
    assert [layer.reset for layer in net.layers] == reset
    with torch.no_grad():
        out = model(x)
    cmp = compare_torch_golden(out, golden := ref_network(samples, net))
    assert cmp["exact"] and cmp["agreement"] == 1.0
    # the mode reaches the arithmetic: the same integers with subtract differ
    other = network_from_dict({**network_to_dict(net), "layers": [
        {**layer, "reset": "subtract"} for layer in network_to_dict(net)["layers"]]})
    assert not compare_torch_golden(out, ref_network(samples, other))["exact"] \
        or golden.spikes.sum() == 0


def test_reset_option_validation():
    with pytest.raises(ValueError, match="reset must be one of subtract, zero"):
        LIFNet(sizes=[3, 2], in_shift=0, reset="half")
    with pytest.raises(ValueError, match="one per layer"):
        LIFNet(sizes=[3, 4, 2], in_shift=0, reset=["zero"])
