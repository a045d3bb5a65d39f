"""LIF network RTL in the Amaranth simulator: block checks and small end-to-end runs
against ``ref_network`` (``==`` on class, every per-neuron count, the output membranes
and every counter), with random input idles and output backpressure."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from dynalign.hw.formats import MEM, WEIGHT
from dynalign.hw.lif.cycles import ref_cycles
from dynalign.hw.lif.ref import (
    LIFLayerParams,
    LIFNetworkParams,
    random_network,
    random_samples,
    ref_network,
)
from dynalign.hw.lif.regmap import (
    LAYER_REG_BASE,
    LAYER_REG_STRIDE,
    REG_FIELDS,
    REGION_BIAS,
    REGION_SHIFT,
)
from dynalign.hw.lif.rtl import (
    RD_CLS,
    RD_CYCLES,
    LIFNetwork,
    bound_cycles_network,
    config_writes,
    rd_count_addr,
    rd_stat_addr,
    rd_vmem_addr,
)

SMALL = dict(lanes=4, max_layers=3, max_neurons=16, max_inputs=8, weight_words=128,
             group_words=16)


def expected_of(dut, net, samples):
    """Per sample: the read-back values the RTL must produce, as {addr: value}."""
    res = ref_network(samples, net)
    lay = dut.layout(net)
    out = []
    for n in range(samples.shape[0]):
        exp = {RD_CLS: int(res.cls[n])}
        for k, layer in enumerate(net.layers):
            exp[rd_stat_addr(k, "spikes")] = int(res.spikes[n, k])
            exp[rd_stat_addr(k, "synops")] = int(res.synops[n, k])
            exp[rd_stat_addr(k, "saturations")] = int(res.saturations[n, k])
            for i in range(layer.n_out):
                exp[rd_count_addr(lay.slot(k, i))] = int(res.layer_counts[k][n, i])
        for i in range(net.layers[-1].n_out):
            exp[rd_vmem_addr(lay.slot(len(net.layers) - 1, i))] = int(res.v_final[n, i])
        out.append(exp)
    return out


def run_amaranth(dut, jobs, *, seed=0, idle=0.3, stall=0.3, writes=None):
    """``jobs``: list of (net, samples).  Returns a list of per-sample dicts of
    read-back values (same keys as :func:`expected_of`) plus ``cycles``.  ``writes``
    replaces the configuration writes (of a single job: a planted fault)."""
    rnd = random.Random(seed)
    results = []

    async def testbench(ctx):
        for net, samples in jobs:
            steps = samples.shape[1]
            for addr, data in writes or config_writes(dut, net, steps):
                ctx.set(dut.cfg.addr, addr)
                ctx.set(dut.cfg.data, data)
                ctx.set(dut.cfg.we, 1)
                await ctx.tick()
            ctx.set(dut.cfg.we, 0)
            keys = list(expected_of(dut, net, samples[:1])[0].keys())
            words = [int(w) for w in samples.reshape(samples.shape[0], -1).ravel()]
            per = samples.shape[1] * samples.shape[2]
            fed = 0
            for n in range(samples.shape[0]):
                # feed this sample's words (with idles), then wait for the class; a
                # design that stops (loader, issue logic) fails here instead of hanging
                limit = 200 * per + 50_000
                for cycle in range(limit + 1):
                    if cycle == limit:
                        raise AssertionError(
                            f"stuck: LIF sample {n}: no class (o.valid low) after {limit} "
                            f"cycles, {fed - n * per} of {per} input words taken "
                            f"(i.ready={ctx.get(dut.i.ready)})")
                    if fed < (n + 1) * per and rnd.random() >= idle:
                        ctx.set(dut.i.valid, 1)
                        ctx.set(dut.i.payload, words[fed])
                    else:
                        ctx.set(dut.i.valid, 0)
                    ready_o = rnd.random() >= stall
                    ctx.set(dut.o.ready, 0)
                    await ctx.delay(1e-9)
                    took = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
                    o_valid = ctx.get(dut.o.valid)
                    if o_valid and ready_o:
                        break
                    await ctx.tick()
                    if took:
                        fed += 1
                ctx.set(dut.i.valid, 0)
                # class valid and held: read back everything, then take it
                got = {}
                for addr in keys + [RD_CYCLES]:
                    ctx.set(dut.rd_addr, addr)
                    await ctx.tick()
                    await ctx.tick()
                    v = ctx.get(dut.rd_data)
                    got[addr] = v - (1 << 32) if v >> 31 else v
                got["o"] = ctx.get(dut.o.payload)
                ctx.set(dut.o.ready, 1)
                await ctx.tick()
                ctx.set(dut.o.ready, 0)
                results.append(got)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


def check(dut, jobs, **kw):
    got = run_amaranth(dut, jobs, **kw)
    exp = [e for net, x in jobs for e in expected_of(dut, net, x)]
    assert len(got) == len(exp)
    for n, (g, e) in enumerate(zip(got, exp)):
        assert g["o"] == e[RD_CLS], f"sample {n}: class"
        for addr, v in e.items():
            assert g[addr] == v, f"sample {n}: read-back {addr:#x}: {g[addr]} != {v}"
    return got


@pytest.mark.parametrize("seed", range(3))
def test_network_random(seed):
    rng = np.random.default_rng(seed)
    dut = LIFNetwork(**SMALL)
    jobs = []
    for extreme in (False, True):
        L = int(rng.integers(1, 4))
        topo = [int(rng.integers(1, 9))] + [int(rng.integers(1, 17)) for _ in range(L)]
        net = random_network(rng, topo, extreme=extreme,
                             rate=None if extreme else 0.3)
        x = random_samples(rng, 3, int(rng.integers(1, 5)), topo[0],
                           extreme=0.3 if extreme else 0.0)
        jobs.append((net, x))
    check(dut, jobs, seed=seed)


def test_full_input_list_at_an_odd_fan_in():
    """A fan-in of 17, one more than a power of two: with all 17 inputs active every
    step, the list walk reaches entry 16, the top value of its entry counter (a counter
    one bit short wraps to entry 0 there)."""
    rng = np.random.default_rng(17)
    dut = LIFNetwork(**{**SMALL, "max_inputs": 17})
    net = random_network(rng, [17, 8, 4], in_shift=0)
    x = random_samples(rng, 2, 2, 17)
    x[x == 0] = 1 << 12                         # every input active: a full list
    check(dut, [(net, x)], seed=17)


def test_cycles_near_bound():
    rng = np.random.default_rng(11)
    dut = LIFNetwork(**SMALL)
    net = random_network(rng, [8, 16, 16, 8], rate=0.3)
    x = random_samples(rng, 2, 3, 8)
    got = check(dut, [(net, x)], idle=0.0, stall=0.0)
    bound = bound_cycles_network(ref_network(x, net), net, 4)
    for n in range(2):
        # synaptic work is a floor; control costs a few cycles per layer step on top
        assert bound[n] <= got[n][RD_CYCLES] <= 1.3 * bound[n] + 3 * 3 * 8


def test_checker_catches_a_fault_planted_in_the_network():
    """The comparison can fail: the same network loaded with layer 1's threshold halved
    (one configuration register, planted) is reported by the checker at the sample and
    the read-back address that differ."""
    rng = np.random.default_rng(3)
    dut = LIFNetwork(**SMALL)
    net = random_network(rng, [4, 6, 3], rate=0.3)
    x = random_samples(rng, 2, 4, 4)
    check(dut, [(net, x)])                               # the design as it is: equal
    theta_reg = LAYER_REG_BASE + 6                       # layer 1: beta, then theta
    writes = [(a, d // 2 if a == theta_reg else d)
              for a, d in config_writes(dut, net, x.shape[1])]
    assert sum(a == theta_reg for a, _ in writes) == 1
    with pytest.raises(AssertionError, match=r"sample \d: (class|read-back 0x[0-9a-f]+: )"):
        check(dut, [(net, x)], writes=writes)


def test_saturation_both_ways():
    dut = LIFNetwork(**SMALL)
    w = np.full((2, 4), WEIGHT.max_int)
    w[1] = WEIGHT.min_int
    net = LIFNetworkParams(in_shift=0, layers=(LIFLayerParams(
        weight=w, bias=np.array([100, -100]), beta=256, theta=MEM.max_int),))
    x = np.full((1, 3, 4), 1 << 20)
    check(dut, [(net, x)])
    # and it did saturate, each way: neuron 0 reached the top of MEM (with theta at the
    # top, only a clamped potential spikes) every step, neuron 1 sits at the bottom
    res = ref_network(x, net)
    assert res.layer_counts[0][0].tolist() == [3, 0]
    assert res.v_final[0, 1] == MEM.min_int
    assert res.saturations[0, 0] >= 2 * 3


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(lanes=3), ValueError, "lanes must be a power of two"),
    (dict(lanes=0), ValueError, "lanes must be in 1..64"),
    (dict(lanes="4"), TypeError, "lanes must be an integer"),
    (dict(max_layers=17), ValueError, "max_layers must be in 1..16"),
    (dict(max_neurons=0), ValueError, "max_neurons must be in"),
    (dict(max_inputs=True), TypeError, "max_inputs must be an integer"),
    (dict(weight_words=0), ValueError, "weight_words must be in"),
    (dict(group_words=0), ValueError, "group_words must be in"),
    (dict(weight_width=9), ValueError, "weight_width must be in 2..8"),
    (dict(fifo_depth=4), ValueError, "fifo_depth must be in 8..256"),
    (dict(max_steps=0), ValueError, "max_steps must be in 1..65535"),
    (dict(count_synops=1), TypeError, "count_synops must be a bool"),
    (dict(count_cycles=None), TypeError, "count_cycles must be a bool"),
])
def test_parameter_validation(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        LIFNetwork(**kw)


def test_fit_validation():
    rng = np.random.default_rng(0)
    dut = LIFNetwork(**SMALL)
    with pytest.raises(ValueError, match="4 layers exceed max_layers=3"):
        config_writes(dut, random_network(rng, [4, 4, 4, 4, 4]), 2)
    with pytest.raises(ValueError, match="9 inputs exceed max_inputs=8"):
        config_writes(dut, random_network(rng, [9, 4]), 2)
    with pytest.raises(ValueError, match="17 neurons exceed max_neurons=16"):
        config_writes(dut, random_network(rng, [4, 17]), 2)
    with pytest.raises(ValueError, match="weight words"):
        config_writes(LIFNetwork(**{**SMALL, "weight_words": 8}),
                      random_network(rng, [8, 16]), 2)
    with pytest.raises(ValueError, match="groups, the memory has"):
        config_writes(LIFNetwork(**{**SMALL, "group_words": 2}),
                      random_network(rng, [8, 16]), 2)
    with pytest.raises(ValueError, match="exceed the 4-bit weight memory"):
        config_writes(LIFNetwork(**{**SMALL, "weight_width": 4}),
                      random_network(rng, [4, 4], extreme=True), 2)
    with pytest.raises(ValueError, match="steps must be in 1..65535"):
        config_writes(dut, random_network(rng, [4, 4]), 0)
    with pytest.raises(TypeError, match="net must be LIFNetworkParams"):
        config_writes(dut, "net", 2)


def test_single_port_weight_ram():
    """``weight_ram='spram'`` (simulated as a single-port memory) computes the same."""
    rng = np.random.default_rng(21)
    dut = LIFNetwork(**SMALL, weight_ram="spram")
    net = random_network(rng, [8, 16, 5], rate=0.3)
    check(dut, [(net, random_samples(rng, 2, 3, 8))])


def test_weight_ram_validation():
    with pytest.raises(ValueError, match="weight_ram must be one of 'memory', 'spram', "
                                         "'external', not 'bram'"):
        LIFNetwork(weight_ram="bram")
    with pytest.raises(ValueError, match="bias_banks must be one of 1, 2, not 3"):
        LIFNetwork(bias_banks=3)
    with pytest.raises(ValueError, match="weight_ram='spram' needs"):
        LIFNetwork(lanes=16, weight_ram="spram")


def test_narrow_weight_memory():
    """``weight_width=5`` (the ECP5 build of the paper's network) stores and sign-extends
    5-bit weights, extremes included."""
    rng = np.random.default_rng(8)
    dut = LIFNetwork(**SMALL, weight_width=5)
    nets = [random_network(rng, [8, 16, 6], rate=0.3, weight_bits=5),
            random_network(rng, [5, 9], extreme=True, weight_bits=5)]
    check(dut, [(n, random_samples(rng, 2, 3, n.topology[0], extreme=0.2)) for n in nets])


def test_cycle_counter_ignores_stalls():
    """The cycle counter counts engine work only: idles and backpressure do not move it."""
    rng = np.random.default_rng(4)
    dut = LIFNetwork(**SMALL)
    net = random_network(rng, [8, 12, 6], rate=0.3)
    x = random_samples(rng, 3, 4, 8)
    calm = check(dut, [(net, x)], idle=0.0, stall=0.0)
    busy = check(dut, [(net, x)], idle=0.6, stall=0.6, seed=5)
    assert [g[RD_CYCLES] for g in calm] == [g[RD_CYCLES] for g in busy]


@pytest.mark.parametrize("seed", range(2))
def test_zero_reset_networks(seed):
    """Zero-reset and mixed layers (rate-targeted and saturating) in the RTL: every
    read-back value equal to the golden model's, the cycle counter equal to the cycle
    model's."""
    rng = np.random.default_rng(40 + seed)
    dut = LIFNetwork(**SMALL)
    jobs = []
    for kind in ("zero", "mixed", "extreme"):
        topo = [int(rng.integers(2, 9))] + [int(rng.integers(2, 17))
                                            for _ in range(int(rng.integers(1, 4)))]
        net = random_network(rng, topo, extreme=kind == "extreme",
                             rate=None if kind == "extreme" else 0.3,
                             reset="zero" if kind != "mixed" else "mixed")
        x = random_samples(rng, 3, int(rng.integers(2, 5)), topo[0],
                           extreme=0.3 if kind == "extreme" else 0.0)
        jobs.append((net, x))
    assert any(ly.reset == "zero" for net, _ in jobs for ly in net.layers)
    got = check(dut, jobs, seed=seed)
    model = np.concatenate([ref_cycles(ref_network(x, net), net, lanes=dut.lanes)
                            for net, x in jobs])
    assert [g[RD_CYCLES] for g in got] == model.tolist()


def test_reset_register_fault_is_caught():
    """The same zero-reset network loaded with its reset register written as subtract
    (a fault in the configuration data): the RTL's read-back differs from the golden
    model's, so the comparison above can fail."""
    rng = np.random.default_rng(5)
    dut = LIFNetwork(**SMALL)
    net = random_network(rng, [6, 12, 8], rate=0.4, reset="zero")
    x = random_samples(rng, 2, 4, 6)
    reset_field = REG_FIELDS.index("flags")
    writes = [(a, 0 if LAYER_REG_BASE <= a < REGION_BIAS << REGION_SHIFT
               and (a - LAYER_REG_BASE) % LAYER_REG_STRIDE == reset_field else d)
              for a, d in config_writes(dut, net, x.shape[1])]
    assert writes != config_writes(dut, net, x.shape[1])
    got = run_amaranth(dut, [(net, x)], writes=writes)
    exp = expected_of(dut, net, x)
    assert any(g[a] != v for g, e in zip(got, exp) for a, v in e.items())
