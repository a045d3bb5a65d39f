"""Encoder RTL, tier 1: Amaranth simulation of the sub-blocks and a small end-to-end case.

The full code set (256 codes) is too slow for the Python simulator, so the integrator
and encoder are elaborated with a narrower code format (codes -4..3 with the same
fraction): their trajectories are rows of the golden table, compared with ``==``.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from planted import mutant, write_registers
from simbound import until

from dynalign.hw.encoder.encoder import TrajectoryEncoder
from dynalign.hw.encoder.integrator import TrajectoryIntegrator
from dynalign.hw.encoder.microcode import TAG_LAYOUT, Kind, microprogram, register_allocation
from dynalign.hw.encoder.multiplier import MUL_A_WIDTH, MUL_B_WIDTH, SerialMultiplier
from dynalign.hw.encoder.ref import FixedEncoder, term_chains
from dynalign.hw.encoder.regs import (
    N_SLOTS,
    SYSTEM_CODES,
    Error,
    Reg,
    encoder_registers,
    program_terms,
    slot_base,
    table_writes,
)
from dynalign.hw.encoder.rtl_check import Checker, expected_beats, expected_sat
from dynalign.hw.encoder.schedule import refill_cycles
from dynalign.hw.encoder.server import TableServer
from dynalign.hw.formats import CODE, COEF, QFormat
from dynalign.hw.systems import CHEN_TEXTBOOK, EncoderConfig, System

SMALL = QFormat("code", 3, CODE.frac)          # codes -4 .. 3
SMALL_CODES = list(range(SMALL.min_int, SMALL.max_int + 1))

CONFIGS = {
    "mixed-expansive": EncoderConfig(system="mixed", delta=-1.5, tmax=0.04, dt=0.01, samples=3),
    "mixed-dissipative": EncoderConfig(system="mixed", delta=10.0, tmax=0.1, dt=0.05,
                                       samples=3),
    "lorenz": EncoderConfig(system="lorenz", tmax=0.04, dt=0.02, samples=3),
    # alpha < 0 makes x grow by ~600 per step: saturates within 4 steps
    "mixed-saturating": EncoderConfig(system="mixed", alpha=-127.0, beta=0.0, delta=-1.5,
                                      tmax=3.6, dt=0.9, samples=5),
    # the new systems: the paper's parameters over a few (large) steps, so that the
    # trajectories move many lsb per step; the paper's Chen saturates
    "chen": EncoderConfig(system="chen", tmax=0.2, dt=0.1, samples=3),
    "chen-textbook": EncoderConfig(system="chen", tmax=0.1, dt=0.05, samples=3,
                                   **CHEN_TEXTBOOK),
    "rossler": EncoderConfig(system="rossler", tmax=0.4, dt=0.2, samples=3),
    "aizawa": EncoderConfig(system="aizawa", tmax=0.4, dt=0.2, samples=3),
    "nose-hoover": EncoderConfig(system="nose-hoover", tmax=0.4, dt=0.2, samples=3),
    "sprott-c": EncoderConfig(system="sprott-c", tmax=0.4, dt=0.2, samples=3),
    "chua": EncoderConfig(system="chua", tmax=0.1, dt=0.05, samples=3, gamma=0.5),
    # parameters that grow the small codes' states within a few steps, so that every
    # product term is many lsb: x3z, z3, ... of Aizawa; x z of Rossler; y z of
    # Nose-Hoover; Chua's x crosses both kinks (|x| up to 3.9)
    "aizawa-wide": EncoderConfig(system="aizawa", beta=-8.0, delta=0.5, gamma=2.0,
                                 zeta=3.0, eps=1.0, tmax=0.6, dt=0.2, samples=4),
    "rossler-wide": EncoderConfig(system="rossler", a=4.0, b=1.0, c=-6.0, tmax=0.6,
                                  dt=0.2, samples=4),
    "nose-hoover-wide": EncoderConfig(system="nose-hoover", alpha=30.0, tmax=0.6, dt=0.2,
                                      samples=4),
    "chua-kink": EncoderConfig(system="chua", alpha=20.0, m0=-3.0, m1=-0.5, gamma=0.5,
                               tmax=0.2, dt=0.1, samples=3),
    # per-step input shifts (issue 18): odd values at shift 1 and 3 round half up, both
    # signs; shift 31 sends every sample to 0
    "mixed-shifted": EncoderConfig(system="mixed", delta=-1.5, alpha=-40.0, tmax=0.16,
                                   dt=0.04, samples=5, step_shifts=(1, 0, 3, 7, 31)),
}
NEW_SYSTEMS = ["chen", "chen-textbook", "rossler", "aizawa", "nose-hoover", "sprott-c",
               "chua", "aizawa-wide", "rossler-wide", "nose-hoover-wide", "chua-kink"]


# --------------------------------------------------------------------------------------
# parameters and register helper
# --------------------------------------------------------------------------------------

_COMMON_PARAMETER_CASES = [
    ({"max_T": 1}, ValueError, "max_T must be in 2..4096, not 1"),
    ({"max_T": 2.5}, TypeError, "max_T must be an integer, not 2.5"),
    ({"max_features": 0}, ValueError, "max_features must be a positive integer, not 0"),
    ({"max_features": 1 << 17}, ValueError, "max_features must be in 1..65536, not 131072"),
    ({"code_format": 8}, TypeError, "code_format must be a QFormat, not 8"),
    ({"code_format": QFormat("c", 8, 5)}, ValueError, "code_format must be signed with frac 6"),
    ({"fifo_depth": 0}, ValueError, "fifo_depth must be a positive integer, not 0"),
    ({"fifo_depth": 65}, ValueError, "fifo_depth must be in 1..64, not 65"),
]


def _raises(exc, msg):
    return pytest.raises(exc, match=msg.replace("(", r"\(").replace(".", r"\."))


@pytest.mark.parametrize("kwargs, exc, msg", _COMMON_PARAMETER_CASES + [
    ({"lanes": 2}, ValueError, "lanes must be one of 1, 3, not 2"),
    ({"lanes": "3"}, TypeError, "lanes must be an integer, not '3'"),
])
def test_encoder_parameters(kwargs, exc, msg):
    with _raises(exc, msg):
        TrajectoryEncoder(**kwargs)


@pytest.mark.parametrize("kwargs, exc, msg", _COMMON_PARAMETER_CASES + [
    ({"banks": 3}, ValueError, "banks must be one of 1, 2, not 3"),
    ({"banks": True}, TypeError, "banks must be an integer, not True"),
])
def test_table_server_parameters(kwargs, exc, msg):
    with _raises(exc, msg):
        TableServer(**kwargs)


def test_table_server_ports():
    """The table server has the ports it needs: ``tw_*``, and ``bank`` / ``tw_flag`` only
    with two banks; no integrator registers' outputs (``busy``, ``refill_cycles``)."""
    one, two = TableServer().signature.members, TableServer(banks=2).signature.members
    assert {"tw_en", "tw_code", "tw_index", "tw_data", "tw_sat"} <= set(one)
    assert "bank" not in one and "tw_flag" not in one
    assert {"bank", "tw_flag"} <= set(two)
    assert not {"busy", "refill_cycles"} & set(one)
    assert not {"tw_en", "bank"} & set(TrajectoryEncoder().signature.members)


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        TrajectoryEncoder(5)
    with pytest.raises(TypeError):
        TableServer(5)


def test_encoder_registers_from_config():
    cfg = EncoderConfig(system="mixed", delta=2.0, tmax=0.4, dt=0.01, samples=5)
    regs = encoder_registers(cfg, n_features=7)
    assert regs[Reg.SYSTEM] == 0
    for c, comp in enumerate(cfg.coef_program()):
        for j, (coef, _) in enumerate(comp):
            v = regs[Reg.COEF0 + slot_base(cfg.system, c) + j]
            assert v - (1 << 32) * (v >> 31) == coef
    assert (regs[Reg.H1], regs[Reg.H2], regs[Reg.H6]) == cfg.step_constants()
    assert regs[Reg.STRIDE] == 10 and regs[Reg.SAMPLES] == 5 and regs[Reg.FEATURES] == 7
    lor = encoder_registers(EncoderConfig(system="lorenz"))
    assert lor[Reg.SYSTEM] == 1 and len(lor) == len(regs) == N_SLOTS + 7 + 5
    assert [regs[Reg.SHIFT0 + t] for t in range(5)] == [0] * 5
    shifted = encoder_registers(CONFIGS["mixed-shifted"])
    assert [shifted[Reg.SHIFT0 + t] for t in range(5)] == [1, 0, 3, 7, 31]


def test_encoder_registers_bad_input():
    with pytest.raises(TypeError, match="config must be an EncoderConfig"):
        encoder_registers({"system": "mixed"})
    with pytest.raises(ValueError, match="n_features must be a positive integer, not 0"):
        encoder_registers(EncoderConfig(), n_features=0)


def test_microprogram_follows_term_programme():
    for system in System:
        prog = microprogram(system)
        terms = program_terms(system)
        macs = [u for u in prog if u.kind is Kind.MAC]
        assert len(macs) == 4 * sum(len(c) for c in terms)
        inter, finals = term_chains({t for comp in terms for t in comp})
        scratch, term_reg = register_allocation(system)
        assert sorted(u.dst for u in prog if u.kind is Kind.PRODS) == \
            sorted(4 * list(scratch.values()))
        assert sorted(u.dst for u in prog if u.kind is Kind.PRODP) == \
            sorted(4 * list(term_reg.values()))
        assert prog[-1].eos and sum(u.eos for u in prog) == 1
    assert {len(register_allocation("aizawa")[0]), len(register_allocation("aizawa")[1])} \
        == {4, 8}


# --------------------------------------------------------------------------------------
# serial multiplier
# --------------------------------------------------------------------------------------

def test_serial_multiplier_exact():
    rng = np.random.default_rng(1)
    # the encoder's operand pairs: k-sums (39 bits) x steps (24 bits unsigned),
    # samples x samples (32 bits each); |A * B| < 2**63 always
    amax, bmax, smax = 1 << (MUL_A_WIDTH - 1), 1 << (MUL_B_WIDTH - 9), 1 << 31
    cases = [(0, 0, 0), (-1, -1, 0), (amax - 1, bmax - 1, 1 << 13), (-amax, bmax - 1, 0),
             (-smax, -smax, 1 << 11), (smax - 1, -smax, 0), (12345, -(1 << 23), 1 << 9)]
    cases += [(int(rng.integers(-amax, amax)), int(rng.integers(-bmax, bmax)),
               int(rng.choice([0, 1 << 9, 1 << 11, 1 << 13]))) for _ in range(30)]
    cases += [(int(rng.integers(-smax, smax)), int(rng.integers(-smax, smax)), 1 << 11)
              for _ in range(20)]
    dut = SerialMultiplier(tag_shape=TAG_LAYOUT)
    got = []

    async def drive(ctx):
        for a, b, r in cases:
            for _ in range(200):
                if ctx.get(dut.can_start):
                    break
                await ctx.tick()
            else:
                raise AssertionError("stuck: SerialMultiplier can_start low for 200 cycles")
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.r, r)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            if rng.random() < 0.3:
                await ctx.tick()
        await ctx.tick().repeat(SerialMultiplier.LATENCY + 2)

    async def monitor(ctx):
        async for _, _, valid, p in ctx.tick().sample(dut.valid, dut.p):
            if valid:
                got.append(p)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(monitor)
    sim.run()
    assert got == [a * b + r for a, b, r in cases]


# --------------------------------------------------------------------------------------
# integrator
# --------------------------------------------------------------------------------------

async def _set_regs_integrator(ctx, dut, regs):
    ctx.set(dut.system, regs[Reg.SYSTEM])
    for i in range(N_SLOTS):
        v = regs[Reg.COEF0 + i]
        ctx.set(dut.coef_we, 1)
        ctx.set(dut.coef_waddr, i)
        ctx.set(dut.coef_wdata, v - (1 << 32) * (v >> 31))
        await ctx.tick()
    ctx.set(dut.coef_we, 0)
    for name in ("h1", "h2", "h6"):
        ctx.set(getattr(dut, name), regs[getattr(Reg, name.upper())])
    ctx.set(dut.stride, regs[Reg.STRIDE])
    ctx.set(dut.samples, regs[Reg.SAMPLES])
    for t in range(regs[Reg.SAMPLES]):
        ctx.set(dut.shift_we, 1)
        ctx.set(dut.shift_waddr, t)
        ctx.set(dut.shift_wdata, regs[Reg.SHIFT0 + t])
        await ctx.tick()
    ctx.set(dut.shift_we, 0)


def integration_bound(config) -> int:
    """A cycle bound on filling the table of every SMALL code: the integrator takes
    about 3 cycles a micro-op (2.6 to 3.3 measured over CONFIGS), this allows 8, plus 64
    a code; a sequencer that stops fails within seconds instead of running for minutes."""
    return (1 << SMALL.width) * (8 * config.n_steps * len(microprogram(config.system)) + 64)


def run_integrator(config, lanes, integrator=TrajectoryIntegrator, timing=None):
    """The table the integrator writes (and, into ``timing["cycles"]``, the cycles from
    ``start`` to ``done``)."""
    dut = integrator(max_T=5, lanes=lanes, code_format=SMALL)
    table, sat = {}, {}

    async def drive(ctx):
        await _set_regs_integrator(ctx, dut, encoder_registers(config))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        n = await until(ctx, dut.done, limit=integration_bound(config),
                        what="TrajectoryIntegrator done")
        if timing is not None:
            timing["cycles"] = n

    async def monitor(ctx):
        async for _, _, we, wa, wd, se, sa, sd in ctx.tick().sample(
                dut.wr_en, dut.wr_addr, dut.wr_data, dut.sat_en, dut.sat_addr, dut.sat_data):
            if we:
                table[wa] = [int(v) for v in wd]
            if se:
                sat[sa] = sd

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(monitor)
    sim.run()
    return table, sat


@pytest.mark.parametrize("name", ["mixed-expansive", "lorenz", "mixed-saturating",
                                  "mixed-shifted"] + NEW_SYSTEMS)
@pytest.mark.parametrize("lanes", [1, 3])
def test_integrator_table_matches_golden(name, lanes):
    if name not in ("mixed-expansive", "mixed-saturating", "mixed-shifted") and lanes == 3:
        pytest.skip("covered by lanes=1 and the cocotb tier")
    config = CONFIGS[name]
    timing = {}
    table, sat = run_integrator(config, lanes, timing=timing)
    # the microprogram's timing, pinned: the encoder's refill counter (from the strobe,
    # one more than this) is the schedule's model
    assert timing["cycles"] + 1 == refill_cycles(config.system.value, config.n_steps,
                                                 SMALL.width, lanes=lanes), timing
    gold = FixedEncoder(config)
    w = SMALL.width
    for i, code in enumerate(SMALL_CODES):
        row = gold.table[code - CODE.min_int]
        for t in range(config.samples):
            if lanes == 3:
                assert table[(t << w) | i] == [int(v) for v in row[t]], (code, t)
            else:
                for c in range(3):
                    assert table[((3 * t + c) << w) | i] == [int(row[t, c])], (code, t, c)
        assert sat[i] == int(gold.table_saturation[code - CODE.min_int] > 0), code
    if name == "mixed-saturating":
        assert any(sat.values()) and not all(sat.values())
    if name == "chen":
        assert any(sat.values())
    if name == "mixed-shifted":     # the shifts round odd values of both signs half up
        raw = FixedEncoder(config.with_step_shifts(None)).table[
            np.array(SMALL_CODES) - CODE.min_int]
        for t, n in ((0, 1), (2, 3)):
            odd = raw[:, t] % (1 << n) == 1 << (n - 1)
            assert (odd & (raw[:, t] > 0)).any() and (odd & (raw[:, t] < 0)).any(), t
        assert not gold.table[:, 4].any() and raw[:, 4].any()
    if name == "chua-kink":         # both branches of |x + 1| - |x - 1| are exercised
        x = gold.table[np.array(SMALL_CODES) - CODE.min_int, :, 0] / 2 ** 12
        assert (x > 1).any() and (x < -1).any() and (np.abs(x) < 1).any()


def test_integrator_planted_shift_rounding_fault_is_caught():
    """The sample writer's rounding constant dropped (a plain arithmetic shift, i.e.
    round toward minus infinity) in an elaborated integrator: the shifted table differs
    from the golden one, and the unshifted one does not (the fault is in the shifter)."""
    import dynalign.hw.encoder.integrator as integ
    mod = mutant(integ, "((Const(1, SAMPLE.width) << shift) >> 1)", "0")
    cfg = CONFIGS["mixed-shifted"]
    assert _table_mismatches(cfg, *run_integrator(cfg, 1, mod.TrajectoryIntegrator)) > 0
    plain = cfg.with_step_shifts(None)
    assert _table_mismatches(plain, *run_integrator(plain, 1, mod.TrajectoryIntegrator)) == 0


def _table_mismatches(config, table, sat):
    gold = FixedEncoder(config)
    w = SMALL.width
    bad = 0
    for i, code in enumerate(SMALL_CODES):
        row = gold.table[code - CODE.min_int]
        for t in range(config.samples):
            for c in range(3):
                bad += table[((3 * t + c) << w) | i] != [int(row[t, c])]
    return bad


def test_integrator_planted_constant_fault_is_caught(monkeypatch):
    """The datapath's constant term ONE one lsb off (it also moves Chua's kinks): the
    Rossler and Chua tables differ from the golden ones."""
    import dynalign.hw.encoder.integrator as integ
    monkeypatch.setattr(integ, "ONE", integ.ONE + 1)
    for name in ("rossler-wide", "chua-kink"):
        assert _table_mismatches(CONFIGS[name], *run_integrator(CONFIGS[name], 1)) > 0, name


def test_integrator_planted_operand_fault_is_caught(monkeypatch):
    """One micro-op of Aizawa's programme multiplies by the wrong operand (``z`` for
    ``x`` in the intermediate ``xx`` of x^2 z and x^3 z): the table differs."""
    import dynalign.hw.encoder.integrator as integ
    from dynalign.hw.encoder.microcode import BSel
    real = integ.microprogram

    def faulty(system):
        prog = real(system)
        if System.parse(system) is System.AIZAWA:
            u = next(u for u in prog if u.kind is Kind.PRODS and u.b is BSel.X)
            u.b = BSel.Z
        return prog
    monkeypatch.setattr(integ, "microprogram", faulty)
    cfg = CONFIGS["aizawa-wide"]
    assert _table_mismatches(cfg, *run_integrator(cfg, 1)) > 0


# --------------------------------------------------------------------------------------
# encoder, end to end, with stalls
# --------------------------------------------------------------------------------------

def run_encoder(config, requests, *, lanes=1, regs_override=None, idle=0.3, backpressure=0.3,
                seed=0, max_features=4, n_beats=None, refill=True, integrator=True,
                table_fault=None, max_T=5):
    """Write registers, refill (``integrator=False``: a :class:`TableServer`; write the
    golden table through the ``tw_*`` port, then commit it; ``table_fault`` = ``(code,
    index, bit)`` flips one bit of one written entry), stream ``requests`` with random
    idle cycles and random output backpressure; returns ``(beats, flags)``."""
    rng = np.random.default_rng(seed)
    if integrator:
        dut = TrajectoryEncoder(max_T=max_T, max_features=max_features, lanes=lanes,
                                code_format=SMALL)
    else:
        assert lanes == 1
        dut = TableServer(max_T=max_T, max_features=max_features, code_format=SMALL)
    k = len(requests[0]) if requests else 1
    regs = encoder_registers(config, n_features=k)
    regs.update(regs_override or {})
    if n_beats is None:
        n_beats = len(expected_beats(config, requests, lanes=lanes))
    beats, flags = [], {}
    done = {"in": False}

    async def drive(ctx):
        await write_registers(ctx, dut, regs)
        if not integrator:
            for code, index, v, sat in table_writes(config, SMALL_CODES):
                if table_fault is not None and table_fault[:2] == (code, index):
                    v ^= 1 << table_fault[2]
                ctx.set(dut.tw_en, 1)
                ctx.set(dut.tw_code, code)
                ctx.set(dut.tw_index, index)
                ctx.set(dut.tw_data, v)
                ctx.set(dut.tw_sat, sat)
                await ctx.tick()
            ctx.set(dut.tw_en, 0)
        if refill:
            ctx.set(dut.refill, 1)
            await ctx.tick()
            ctx.set(dut.refill, 0)
            if integrator:
                await until(ctx, ~dut.busy, limit=integration_bound(config),
                            what="encoder busy (refill)")
            else:                       # the commit takes effect at this edge
                await ctx.tick()
        for req in requests:
            for code in req:
                while rng.random() < idle:
                    await ctx.tick()
                ctx.set(dut.i_codes.payload.code, code)
                ctx.set(dut.i_codes.valid, 1)
                await until(ctx, dut.i_codes.ready, limit=200_000,
                            what=f"encoder i_codes.ready (code {code})")
                ctx.set(dut.i_codes.valid, 0)
        done["in"] = True

    async def sink(ctx):
        idle_after = 0
        while len(beats) < n_beats and idle_after < 400:
            ready = int(rng.random() >= backpressure)
            ctx.set(dut.o_samples.ready, ready)
            await ctx.delay(1e-9)
            fire = ready and ctx.get(dut.o_samples.valid)
            payload = ctx.get(dut.o_samples.payload)
            await ctx.tick()
            if fire:
                beats.append(([int(v) for v in payload.samples], int(payload.last)))
            idle_after = idle_after + 1 if done["in"] else 0
        ctx.set(dut.o_samples.ready, 1)
        await ctx.tick().repeat(20)
        for name in ("error", "sat", "table_sat", "table_valid", "busy", "refill_cycles"):
            if name in dut.signature.members:
                flags[name] = ctx.get(getattr(dut, name))
        flags["extra"] = ctx.get(dut.o_samples.valid)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(sink)
    sim.run()
    return beats, flags


def _check(config, requests, beats, lanes):
    chk = Checker(config, requests, lanes=lanes)
    for s, last in beats:
        chk.push(s, last)
    return chk


@pytest.mark.parametrize("name, lanes", [("mixed-dissipative", 1), ("lorenz", 3),
                                         ("mixed-saturating", 1), ("mixed-shifted", 3)])
def test_encoder_end_to_end(name, lanes):
    config = CONFIGS[name]
    rng = np.random.default_rng(7)
    requests = [[int(c) for c in rng.integers(SMALL.min_int, SMALL.max_int + 1, size=3)]
                for _ in range(3)]
    if name == "mixed-saturating":
        requests = [[0, 0, 0], [1, -2, 0]]
    beats, flags = run_encoder(config, requests, lanes=lanes, seed=3)
    chk = _check(config, requests, beats, lanes)
    assert chk.mismatches == 0 and chk.complete, chk.first
    assert flags["error"] == 0 and not flags["extra"]
    assert flags["sat"] == expected_sat(config, requests)
    gold_sat = FixedEncoder(config).table_saturation
    assert flags["table_sat"] == bool(
        gold_sat[np.array(SMALL_CODES) - CODE.min_int].any())
    assert flags["refill_cycles"] == refill_cycles(config.system.value, config.n_steps,
                                                   SMALL.width, lanes=lanes)



@pytest.mark.parametrize("integrator", [pytest.param(True, marks=pytest.mark.slow), False],
                         ids=["integrator", "table"])
def test_paper_grid_T20_on_both_cores(integrator):
    """The paper's largest T (20 samples; the grid step of tmax=2, 0.009569, so that
    every sample falls on a step -- shortened here to 19 steps) on the integrating
    encoder and on the table server, elaborated for max_T=20."""
    config = EncoderConfig(system="sprott-c", tmax=19 * 0.2, dt=0.2, samples=20)
    requests = [[3, -4], [0, 1]]
    beats, flags = run_encoder(config, requests, seed=5, integrator=integrator, max_T=20)
    chk = _check(config, requests, beats, 1)
    assert chk.mismatches == 0 and chk.complete, chk.first
    assert len(beats) == 2 * 20 * 3 * 2
    assert flags["error"] == 0 and not flags["extra"]


@pytest.mark.parametrize("max_features", [1, 3, 5])
def test_full_requests_non_power_of_two_max_features(max_features):
    """Requests of exactly ``max_features`` codes in both code-buffer banks: with a
    non-power-of-two maximum the second bank once reached past the buffer's end (the
    last feature of every other request came out as code 0)."""
    config = CONFIGS["mixed-dissipative"]
    rng = np.random.default_rng(max_features)
    requests = [[int(c) for c in rng.integers(SMALL.min_int, SMALL.max_int + 1,
                                              size=max_features)] for _ in range(4)]
    for req in requests:
        if all(c == 0 for c in req):
            req[-1] = 1
    beats, flags = run_encoder(config, requests, seed=max_features,
                               max_features=max_features)
    chk = _check(config, requests, beats, 1)
    assert chk.mismatches == 0 and chk.complete, chk.first
    assert flags["error"] == 0 and not flags["extra"]


@pytest.mark.parametrize("name", ["mixed-dissipative", "mixed-saturating", "lorenz"])
def test_written_table_end_to_end(name):
    """:class:`TableServer`: the golden table written through ``tw_*`` and committed
    serves exactly what the integrating encoder serves (same checker, same flags)."""
    config = CONFIGS[name]
    rng = np.random.default_rng(11)
    requests = [[int(c) for c in rng.integers(SMALL.min_int, SMALL.max_int + 1, size=3)]
                for _ in range(3)]
    beats, flags = run_encoder(config, requests, seed=4, integrator=False)
    chk = _check(config, requests, beats, 1)
    assert chk.mismatches == 0 and chk.complete, chk.first
    assert flags["error"] == 0 and not flags["extra"] and flags["table_valid"]
    assert flags["sat"] == expected_sat(config, requests)
    gold_sat = FixedEncoder(config).table_saturation
    assert flags["table_sat"] == bool(gold_sat[np.array(SMALL_CODES) - CODE.min_int].any())


def test_written_table_one_bit_fault_is_served():
    """A one-bit error in one written entry comes out in exactly that sample (the check
    against the golden model catches it)."""
    config = CONFIGS["mixed-dissipative"]
    requests = [[3, -2, 0]]
    beats, _ = run_encoder(config, requests, seed=2, idle=0, backpressure=0,
                           integrator=False, table_fault=(-2, 4, 0))
    chk = _check(config, requests, beats, 1)
    assert chk.mismatches == 1
    assert chk.first["code"] == -2 and chk.first["sample_index"] == 1
    assert chk.first["component"] == "y"


def test_written_table_needs_commit():
    config = CONFIGS["mixed-dissipative"]
    beats, flags = run_encoder(config, [[1, 2, 3]], seed=1, integrator=False, refill=False)
    assert beats == [] and not flags["table_valid"] and flags["error"] & Error.NO_TABLE

def test_checker_catches_one_bit():
    config = CONFIGS["lorenz"]
    requests = [[1, -3]]
    beats, _ = run_encoder(config, requests, lanes=1, seed=5, idle=0, backpressure=0)
    assert _check(config, requests, beats, 1).mismatches == 0
    bad = [(list(s), last) for s, last in beats]
    bad[4][0][0] ^= 1
    chk = _check(config, requests, bad, 1)
    assert chk.mismatches == 1
    assert chk.first["sample_index"] == 0 and chk.first["feature"] == 1
    assert chk.first["component"] == "y" and chk.first["code"] == -3


@pytest.mark.parametrize("override, bit", [
    ({Reg.STRIDE: 0}, Error.STRIDE),
    ({Reg.SAMPLES: 6}, Error.SAMPLES),
    ({Reg.SAMPLES: 1}, Error.SAMPLES),
    ({Reg.SYSTEM: len(SYSTEM_CODES)}, Error.SYSTEM),
])
def test_bad_registers_flag_error_and_produce_nothing(override, bit):
    config = CONFIGS["lorenz"]
    beats, flags = run_encoder(config, [[1, 2]], regs_override=override, n_beats=1)
    assert beats == []
    assert flags["error"] & bit and flags["error"] & Error.NO_TABLE
    assert not flags["table_valid"] and not flags["busy"]


def test_bad_feature_count_and_missing_table():
    config = CONFIGS["lorenz"]
    beats, flags = run_encoder(config, [[1, 2]], regs_override={Reg.FEATURES: 0}, n_beats=1)
    assert beats == [] and flags["error"] == Error.FEATURES
    beats, flags = run_encoder(config, [[1, 2]], regs_override={Reg.FEATURES: 5}, n_beats=1)
    assert beats == [] and flags["error"] == Error.FEATURES
    beats, flags = run_encoder(config, [[1, 2]], refill=False, n_beats=1)
    assert beats == [] and flags["error"] == Error.NO_TABLE


def test_coef_registers_are_signed_coef():
    assert COEF.width <= 32


# --------------------------------------------------------------------------------------
# two trajectory tables (one per resident model): a mode switch without a refill
# --------------------------------------------------------------------------------------

def run_two_tables(configs, requests, encoder=TrajectoryEncoder):
    """Refill table 0 with ``configs[0]``, then table 1 with ``configs[1]`` (``bank``
    turned back to 0 a few cycles into that refill: the refill keeps its table), then
    serve ``requests`` from table 0 and from table 1 with no refill in between.
    Returns ``(beats per served table, flags per served table)``."""
    dut = encoder(max_T=5, max_features=3, code_format=SMALL, banks=2)
    out = {"beats": [[], []], "flags": [{}, {}]}
    serving = {"table": None}

    async def drive(ctx):
        for b, config in enumerate(configs):
            ctx.set(dut.bank, b)
            await write_registers(ctx, dut, encoder_registers(config, n_features=3))
            ctx.set(dut.refill, 1)
            await ctx.tick()
            ctx.set(dut.refill, 0)
            if b == 1:
                await ctx.tick().repeat(5)
                ctx.set(dut.bank, 0)            # a SELECT while the refill runs
            await until(ctx, ~dut.busy, limit=integration_bound(config),
                        what=f"encoder busy (refill of table {b})")
        for b in (0, 1):
            ctx.set(dut.bank, b)
            await ctx.tick()
            out["flags"][b]["table_valid"] = ctx.get(dut.table_valid)
            out["flags"][b]["table_sat"] = ctx.get(dut.table_sat)
            serving["table"] = b
            n = len(expected_beats(configs[b], requests, lanes=1))
            for req in requests:
                for code in req:
                    ctx.set(dut.i_codes.payload.code, code)
                    ctx.set(dut.i_codes.valid, 1)
                    await until(ctx, dut.i_codes.ready, limit=2_000,
                                what=f"encoder i_codes.ready (code {code})")
                    ctx.set(dut.i_codes.valid, 0)
            for _ in range(4_000):
                if len(out["beats"][b]) >= n:
                    break
                await ctx.tick()
            else:
                raise AssertionError(f"table {b}: {len(out['beats'][b])} of {n} beats")
            await ctx.tick().repeat(10)
            out["flags"][b]["error"] = ctx.get(dut.error)

    async def sink(ctx):
        ctx.set(dut.o_samples.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(dut.o_samples.valid,
                                                            dut.o_samples.payload):
            if valid and serving["table"] is not None:
                out["beats"][serving["table"]].append(
                    ([int(v) for v in payload.samples], int(payload.last)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(sink)
    sim.run()
    return out["beats"], out["flags"]


TWO_TABLES = (CONFIGS["mixed-saturating"], CONFIGS["lorenz"])   # T 5 and 3; one saturates
TWO_TABLE_REQUESTS = [[0, -4, 3], [1, -2, 2]]


def test_two_tables_serve_each_model_without_a_refill():
    """Each table serves its own model's golden samples, T and saturation after the other
    was built, with no refill in between; the refill of table 1 kept writing table 1
    when ``bank`` went back to 0 during it."""
    beats, flags = run_two_tables(TWO_TABLES, TWO_TABLE_REQUESTS)
    for b, config in enumerate(TWO_TABLES):
        chk = _check(config, TWO_TABLE_REQUESTS, beats[b], 1)
        assert chk.mismatches == 0 and chk.complete, (b, chk.first)
        gold_sat = FixedEncoder(config).table_saturation[np.array(SMALL_CODES) - CODE.min_int]
        assert flags[b] == {"table_valid": 1, "table_sat": int(gold_sat.any()), "error": 0}
    assert flags[0]["table_sat"] != flags[1]["table_sat"]


def test_two_tables_planted_bank_fault_is_caught():
    """The lookup reading the table the last refill built instead of the one served (a
    fault planted in an elaborated encoder): table 0's requests get table 1's samples."""
    import dynalign.hw.encoder.encoder as enc
    mod = mutant(enc, "table.r_addr.eq(Cat(r_addr, serve)",
                         "table.r_addr.eq(Cat(r_addr, fill)")
    beats, _ = run_two_tables(TWO_TABLES, TWO_TABLE_REQUESTS, mod.TrajectoryEncoder)
    assert _check(TWO_TABLES[0], TWO_TABLE_REQUESTS, beats[0], 1).mismatches > 0
