"""The encoder's blocks, each driven alone in Amaranth simulation.

The table memory, the integrator's sequencer (against a scripted datapath) and
datapath (against the golden model, one micro-op at a time), the lookup (against a
synthetic table) and the two-bank table server (against the golden table).  Every wait
is bounded: a block that stops answering fails its test instead of hanging it.
"""

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.lib import data
from amaranth.sim import Simulator
from planted import write_registers

from dynalign.hw.encoder.integrator import IntegratorDatapath, IntegratorSequencer
from dynalign.hw.encoder.lookup import TableLookup
from dynalign.hw.encoder.microcode import BSel, Kind, microprogram
from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.encoder.regs import SYSTEM_CODES, Error, Reg, encoder_registers, table_writes
from dynalign.hw.encoder.rtl_check import expected_beats, expected_sat
from dynalign.hw.encoder.server import TableServer
from dynalign.hw.encoder.table import TableMemory
from dynalign.hw.formats import CODE, SAMPLE, QFormat
from dynalign.hw.systems import EncoderConfig, System

SMALL = QFormat("code", 3, CODE.frac)          # codes -4 .. 3
SMALL_CODES = list(range(SMALL.min_int, SMALL.max_int + 1))


def _simulate(dut, *benches, models=()):
    """Run the testbenches ``benches`` to their end; ``models`` (processes that stand
    for a neighbour block, endless loops) run alongside."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in benches:
        sim.add_testbench(bench)
    for model in models:
        sim.add_process(model)
    sim.run()


async def _send(ctx, stream, code, limit=1000):
    """One code on ``stream``: valid until a cycle with ready (at most ``limit``)."""
    ctx.set(stream.payload.code, code)
    ctx.set(stream.valid, 1)
    for _ in range(limit):
        ready = ctx.get(stream.ready)
        await ctx.tick()
        if ready:
            ctx.set(stream.valid, 0)
            return
    raise AssertionError("a code was never accepted")


def _signed(v, bits=32):
    return v - (1 << bits) * (v >> (bits - 1))


class _Part:
    def __init__(self, device):
        self.device = device


# --------------------------------------------------------------------------------------
# table memory
# --------------------------------------------------------------------------------------

def test_table_memory_writes_and_reads_in_one_cycle_elsewhere():
    """Generic path: a write and a read of another word in the same cycle, against a
    list; the read data is the word one cycle after ``r_en`` and holds while it is low."""
    depth = 24
    dut = TableMemory(shape=data.ArrayLayout(SAMPLE.width, 1), depth=depth)
    rng = np.random.default_rng(3)
    model = [0] * depth
    checked = []

    async def bench(ctx):
        expect = None
        for _ in range(300):
            wa, ra = int(rng.integers(depth)), int(rng.integers(depth))
            we, re = int(rng.random() < 0.5), int(rng.random() < 0.6)
            wd = int(rng.integers(1 << 32))
            ctx.set(dut.w_en, we)
            ctx.set(dut.w_addr, wa)
            ctx.set(dut.w_data, [wd])
            ctx.set(dut.r_en, re)
            ctx.set(dut.r_addr, ra)
            if re and not (we and wa == ra):
                new = model[ra]
            elif re:
                new = None                  # a read of the word being written: undefined
            else:
                new = expect
            await ctx.tick()
            if we:
                model[wa] = wd
            expect = new
            if expect is not None:
                got = ctx.get(dut.r_data)[0] & ((1 << 32) - 1)
                assert got == expect
                checked.append(got)

    _simulate(dut, bench)
    assert len(checked) > 150


def test_table_memory_is_spram_on_ultraplus_only():
    shape = data.ArrayLayout(SAMPLE.width, 3)        # 96 bits: six 16-bit blocks
    up = rtlil.convert(TableMemory(shape=shape, depth=512), platform=_Part("iCE40UP5K"),
                       ports=None)
    assert up.count("SB_SPRAM256KA") == 6
    hx = rtlil.convert(TableMemory(shape=shape, depth=512), platform=_Part("iCE40HX8K"),
                       ports=None)
    assert "SB_SPRAM256KA" not in hx


# --------------------------------------------------------------------------------------
# integrator sequencer, against a scripted datapath
# --------------------------------------------------------------------------------------

LATENCY = 9         # the scripted datapath's: a value is written back 9 cycles after issue


@pytest.mark.parametrize("system, stride, T", [("mixed", 2, 3), ("lorenz", 1, 2)])
def test_sequencer_plays_the_microprogram(system, stride, T):
    """Per code: ``init``, ``INITY``, then the step's micro-ops ``stride * (T - 1)``
    times in programme order; samples ``x, y, z`` written at ``Cat(i, 3 t + c)`` from
    the ``OPS`` of stage 0 of every ``stride``-th step (the scripted datapath's operands
    count the loads: the ``n``-th load of a code gives ``x = n``); the saturation bit is
    the OR of ``sat`` / ``ops_sat`` over the code.  No micro-op issues while the value
    it reads is in flight, nor a ``wait`` one while anything is."""
    dut = IntegratorSequencer(max_T=4, lanes=1, code_format=SMALL)
    prog = microprogram(system)
    step = [u for u in prog[1:] if u.kind is not Kind.OPS]
    n_steps = stride * (T - 1)
    sat_codes = {2: "ops", 5: "sat"}
    log = {"issued": {}, "writes": {}, "sat": {}, "done": 0, "violations": []}

    async def bench(ctx):
        ctx.set(dut.system, SYSTEM_CODES[System.parse(system)])
        ctx.set(dut.stride, stride)
        ctx.set(dut.samples, T)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        flight = []                     # [cycles left, wmask]
        loads = 0
        idx = None
        can_start = 1
        for _ in range(200_000):
            # the scripted datapath's outputs for this cycle
            written = 0
            for f in flight:
                if f[0] == 0:
                    written |= f[1]
            flight = [f for f in flight if f[0] > 0]
            ctx.set(dut.dp.written, written)
            ctx.set(dut.dp.busy, int(bool(flight)))
            ctx.set(dut.dp.can_start, can_start)
            ctx.set(dut.dp.x, loads)
            ctx.set(dut.dp.y, loads + 1000)
            ctx.set(dut.dp.z, loads + 2000)
            code_idx = ctx.get(dut.dp.code) - SMALL.min_int
            ctx.set(dut.dp.ops_sat, int(sat_codes.get(code_idx) == "ops"))
            ctx.set(dut.dp.sat, int(sat_codes.get(code_idx) == "sat" and bool(flight)))
            if ctx.get(dut.dp.init):
                loads, idx = 0, code_idx
                log["issued"][idx] = []
            issue, load = ctx.get(dut.dp.issue), ctx.get(dut.dp.load_ops)
            uop = ctx.get(dut.dp.uop)
            if issue:
                assert can_start
                pending = 0
                for f in flight:
                    pending |= f[1]
                if uop.rd and pending >> uop.rd & 1:
                    log["violations"].append(("rd", idx, uop.kind))
                if uop.wait and flight:
                    log["violations"].append(("wait", idx, uop.kind))
                log["issued"][idx].append(uop.kind)
                flight.append([LATENCY, uop.wmask])
            if load:
                loads += 1
            if ctx.get(dut.wr_en):
                log["writes"][ctx.get(dut.wr_addr)] = _signed(ctx.get(dut.wr_data)[0])
            if ctx.get(dut.sat_en):
                log["sat"][ctx.get(dut.sat_addr)] = ctx.get(dut.sat_data)
            done = ctx.get(dut.done)
            await ctx.tick()
            can_start = int(not issue)          # a start every other cycle at most
            for f in flight:
                f[0] -= 1
            if done:
                log["done"] += 1
                break
        else:
            raise AssertionError("the sequencer never finished")

    _simulate(dut, bench)
    assert log["violations"] == []
    assert log["done"] == 1
    w = SMALL.width
    expect_kinds = [Kind.INITY] + [u.kind for u in step] * n_steps
    for i in range(1 << w):
        assert log["issued"][i] == expect_kinds, i
        for t in range(T):
            n = 4 * t * stride + 1          # the load of the OPS of stage 0 of step t*stride
            for c, base in enumerate((0, 1000, 2000)):
                assert log["writes"][i | ((3 * t + c) << w)] == n + base, (i, t, c)
        assert log["sat"][i] == int(i in sat_codes), i
    assert len(log["writes"]) == 3 * T << w


# --------------------------------------------------------------------------------------
# integrator datapath, one micro-op at a time, against the golden model
# --------------------------------------------------------------------------------------

DP_CONFIGS = {
    "mixed": EncoderConfig(system="mixed", delta=2.0, tmax=0.02, dt=0.01, samples=3),
    "lorenz": EncoderConfig(system="lorenz", tmax=0.02, dt=0.01, samples=3),
    # alpha < 0 makes x grow by ~600 per step: saturates
    "saturating": EncoderConfig(system="mixed", alpha=-127.0, beta=0.0, delta=-1.5,
                                tmax=1.8, dt=0.9, samples=3),
}


@pytest.mark.parametrize("name", list(DP_CONFIGS))
def test_datapath_steps_match_golden(name):
    """The micro-ops of ``n_steps`` RK4 steps, each issued alone once the pipeline is
    empty: the operands after each sample step's ``OPS`` are the golden samples, and
    ``sat`` / ``ops_sat`` are raised iff the golden code saturated."""
    config = DP_CONFIGS[name]
    gold = FixedEncoder(config)
    regs = encoder_registers(config)
    prog = microprogram(config.system)
    dut = IntegratorDatapath(code_format=CODE)
    codes = [CODE.min_int, -37, -1, 0, 5, 77, CODE.max_int]
    got = {}

    async def bench(ctx):
        for name_, reg in (("h1", Reg.H1), ("h2", Reg.H2), ("h6", Reg.H6)):
            ctx.set(getattr(dut, name_), regs[reg])

        async def settle(sat):
            for _ in range(100):
                sat |= ctx.get(dut.ctl.sat)
                if not ctx.get(dut.ctl.busy) and ctx.get(dut.ctl.can_start):
                    return sat
                await ctx.tick()
            raise AssertionError("the datapath stayed busy")

        for code in codes:
            samples, sat = [], 0
            ctx.set(dut.ctl.code, code)
            ctx.set(dut.ctl.init, 1)
            await ctx.tick()
            ctx.set(dut.ctl.init, 0)
            uops = [prog[0]] + prog[1:] * config.n_steps + [prog[1]]
            steps_done = 0
            for u in uops:
                sat = await settle(sat)
                ctx.set(dut.ctl.uop, u.const())
                coef = regs[Reg.COEF0 + u.slot] if u.b == BSel.COEF else 0
                ctx.set(dut.ctl.coef, _signed(coef, 32) if u.b == BSel.COEF else 0)
                strobe = dut.ctl.load_ops if u.kind is Kind.OPS else dut.ctl.issue
                if u.kind is Kind.OPS:
                    sat |= ctx.get(dut.ctl.ops_sat)
                ctx.set(strobe, 1)
                await ctx.tick()
                ctx.set(strobe, 0)
                if u.kind is Kind.OPS and u.stage == 0:
                    if steps_done % config.stride == 0:
                        samples.append([ctx.get(v) for v in (dut.ctl.x, dut.ctl.y,
                                                             dut.ctl.z)])
                    steps_done += 1
            got[code] = (samples, await settle(sat))

    _simulate(dut, bench)
    for code in codes:
        samples, sat = got[code]
        row = code - CODE.min_int
        assert samples == gold.table[row].tolist(), code
        assert sat == int(gold.table_saturation[row] > 0), code
    if name == "saturating":
        assert any(s for _, s in got.values()) and not all(s for _, s in got.values())


# --------------------------------------------------------------------------------------
# lookup, against a synthetic table
# --------------------------------------------------------------------------------------

def _synthetic(row, index):
    """Entry ``index`` of row ``row`` of the synthetic table: distinct everywhere."""
    return 1000 * row + index - 7000


def _synthetic_table(dut, lanes, sat_rows=()):
    """The process that serves the synthetic table behind the lookup's ``rd_*`` port:
    data (and a row's saturation flag, set for ``sat_rows``) one cycle after ``rd_en``."""
    async def table(ctx):
        async for _, _, en, row, index in ctx.tick().sample(dut.rd_en, dut.rd_row,
                                                           dut.rd_index):
            if en:
                if lanes == 1:
                    ctx.set(dut.rd_data, [_synthetic(row, index)])
                else:
                    ctx.set(dut.rd_data, [_synthetic(row, 3 * index + c) for c in range(3)])
                ctx.set(dut.rd_sat, int(row in sat_rows))
    return table


def _expected_beats(requests, T, lanes):
    """``(lanes values, last)`` of every beat the lookup serves for ``requests`` (codes
    of the synthetic table, ``x, y, z`` per code, codes per step, steps in order)."""
    expect = []
    for req in requests:
        flat = [_synthetic(c - SMALL.min_int, 3 * t + x)
                for t in range(T) for c in req for x in range(3)]
        groups = [tuple(flat[i:i + lanes]) for i in range(0, len(flat), lanes)]
        expect += [(g, int(i == len(groups) - 1)) for i, g in enumerate(groups)]
    return expect


@pytest.mark.parametrize("lanes, fifo_depth", [(1, 4), (3, 1)])
def test_lookup_streams_requests_in_golden_order(lanes, fifo_depth):
    """Requests of K codes, random idle cycles and backpressure: beats ``for t: for k:
    x, y, z`` (``lanes`` per beat) of the synthetic table, ``last`` on each request's
    final beat; ``sat`` set iff a served row has its bit set; then a request with K
    out of range and one with no table are dropped with their error bits."""
    T, K, maxf = 3, 3, 4
    dut = TableLookup(max_T=4, max_features=maxf, lanes=lanes, code_width=SMALL.width,
                      fifo_depth=fifo_depth)
    rng = np.random.default_rng(lanes)
    requests = [[int(c) for c in rng.integers(SMALL.min_int, SMALL.max_int + 1, size=K)]
                for _ in range(4)]
    sat_rows = {1}                                   # code -3
    expect = _expected_beats(requests, T, lanes)
    beats, errs = [], []

    async def source(ctx):
        ctx.set(dut.features, K)
        ctx.set(dut.features_ok, 1)
        ctx.set(dut.samples, T)
        ctx.set(dut.table_valid, 1)
        for req in requests:
            for code in req:
                while rng.random() < 0.3:
                    await ctx.tick()
                await _send(ctx, dut.i_codes, code)

    table = _synthetic_table(dut, lanes, sat_rows)

    async def sink(ctx):
        for _ in range(5000):
            ready = int(rng.random() >= 0.3)
            ctx.set(dut.o_samples.ready, ready)
            await ctx.delay(1e-9)
            fire = ready and ctx.get(dut.o_samples.valid)
            payload = ctx.get(dut.o_samples.payload)
            if ctx.get(dut.err):
                errs.append(ctx.get(dut.err))
            await ctx.tick()
            if fire:
                beats.append((tuple(int(v) for v in payload.samples), int(payload.last)))
            if len(beats) == len(expect):
                break
        sat = ctx.get(dut.sat)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert ctx.get(dut.sat) == 0
        # K out of range, then no table: every code is consumed, nothing comes out
        for ok, valid, bit in ((0, 1, Error.FEATURES), (1, 0, Error.NO_TABLE)):
            ctx.set(dut.features_ok, ok)
            ctx.set(dut.table_valid, valid)
            ctx.set(dut.i_codes.valid, 1)
            await ctx.delay(1e-9)
            assert ctx.get(dut.i_codes.ready) and ctx.get(dut.err) == bit
            await ctx.tick()
            ctx.set(dut.i_codes.valid, 0)
            await ctx.tick().repeat(6)
            assert not ctx.get(dut.o_samples.valid)
        beats.append(("sat", sat))

    _simulate(dut, source, sink, models=[table])
    assert beats[-1] == ("sat", int(any(c - SMALL.min_int in sat_rows
                                        for req in requests for c in req)))
    assert beats[:-1] == expect
    assert errs == []


@pytest.mark.parametrize("lanes", [1, 3])
def test_lookup_drops_a_request_whose_table_went_and_serves_the_next(lanes):
    """A request collected (``pause`` high: not served) whose table then goes is
    dropped with ``NO_TABLE``: its buffer is freed and the server starts over at
    ``t = k = c = 0``, so the next two requests (one in each buffer) come out whole, in
    order, and the dropped one never does."""
    T, K = 2, 2
    dut = TableLookup(max_T=4, max_features=4, lanes=lanes, code_width=SMALL.width,
                      fifo_depth=4)
    dropped, nxt = [-4, 3], [[1, -2], [0, 2]]
    expect = _expected_beats(nxt, T, lanes)
    beats, errs = [], []

    table = _synthetic_table(dut, lanes)

    async def bench(ctx):
        ctx.set(dut.features, K)
        ctx.set(dut.features_ok, 1)
        ctx.set(dut.samples, T)
        ctx.set(dut.table_valid, 1)
        ctx.set(dut.pause, 1)
        for code in dropped:
            await _send(ctx, dut.i_codes, code)
        await ctx.tick().repeat(3)
        ctx.set(dut.table_valid, 0)                 # the table goes; serving resumes
        ctx.set(dut.pause, 0)
        await ctx.delay(1e-9)
        errs.append(ctx.get(dut.err))
        await ctx.tick().repeat(2)
        ctx.set(dut.table_valid, 1)
        for req in nxt:
            for code in req:
                await _send(ctx, dut.i_codes, code)

    async def sink(ctx):                            # every beat, for 200 cycles
        ctx.set(dut.o_samples.ready, 1)
        for _ in range(200):
            await ctx.delay(1e-9)
            fire = ctx.get(dut.o_samples.valid)
            payload = ctx.get(dut.o_samples.payload)
            await ctx.tick()
            if fire:
                beats.append((tuple(int(v) for v in payload.samples), int(payload.last)))

    _simulate(dut, bench, sink, models=[table])
    assert errs == [Error.NO_TABLE]
    assert beats == expect, "the requests after a dropped one do not come out whole"


def test_server_checks_T_and_K_at_their_bounds_and_reports_table_sat():
    """A one-bank server (``max_T`` 4, a power of two) and a synthetic table: a refill
    before ``T`` was ever written, and one with ``T = 1``, fail with ``SAMPLES`` and leave
    no table (``table_sat`` 0); ``T = max_T`` and ``K = 1`` are served whole; a commit
    reports the OR of the saturation bits written since the previous commit only (0
    when none was set); ``K = 0`` drops the codes with ``FEATURES``."""
    T = 4
    dut = TableServer(max_T=T, max_features=2, code_format=SMALL, fifo_depth=2)
    sat_code = -3
    out = {}

    async def reg(ctx, addr, value):
        ctx.set(dut.reg_we, 1)
        ctx.set(dut.reg_addr, addr)
        ctx.set(dut.reg_data, value)
        await ctx.tick()
        ctx.set(dut.reg_we, 0)

    async def pulse(ctx, port):
        ctx.set(port, 1)
        await ctx.tick()
        ctx.set(port, 0)
        await ctx.tick()

    async def write_table(ctx, sat):
        for code in SMALL_CODES:
            for index in range(3 * T):
                ctx.set(dut.tw_en, 1)
                ctx.set(dut.tw_code, code)
                ctx.set(dut.tw_index, index)
                ctx.set(dut.tw_data, _synthetic(code - SMALL.min_int, index))
                ctx.set(dut.tw_sat, int(sat and code == sat_code))
                await ctx.tick()
        ctx.set(dut.tw_en, 0)

    async def bench(ctx):
        ctx.set(dut.o_samples.ready, 1)
        await pulse(ctx, dut.refill)                      # T never written
        out["fresh"] = (ctx.get(dut.error), ctx.get(dut.table_valid), ctx.get(dut.table_sat))
        await pulse(ctx, dut.clear)
        await write_table(ctx, sat=True)
        await reg(ctx, Reg.SAMPLES, 1)
        await pulse(ctx, dut.refill)
        out["T=1"] = (ctx.get(dut.error), ctx.get(dut.table_valid), ctx.get(dut.table_sat))
        await pulse(ctx, dut.clear)
        await write_table(ctx, sat=True)
        await reg(ctx, Reg.SAMPLES, T)
        await reg(ctx, Reg.FEATURES, 1)
        await pulse(ctx, dut.refill)
        out["T=max"] = (ctx.get(dut.error), ctx.get(dut.table_valid), ctx.get(dut.table_sat))
        beats = out["beats"] = []
        for n, code in enumerate((2, sat_code)):
            await _send(ctx, dut.i_codes, code)
            for _ in range(200):
                await ctx.delay(1e-9)
                if ctx.get(dut.o_samples.valid):
                    p = ctx.get(dut.o_samples.payload)
                    beats.append((int(p.samples[0]), int(p.last)))
                await ctx.tick()
                if sum(last for _, last in beats) > n:
                    break
        out["sat"] = ctx.get(dut.sat)
        await write_table(ctx, sat=False)                 # no saturation bit this time
        await pulse(ctx, dut.refill)
        out["again"] = (ctx.get(dut.error), ctx.get(dut.table_valid), ctx.get(dut.table_sat))
        await reg(ctx, Reg.FEATURES, 0)
        ctx.set(dut.i_codes.valid, 1)
        await ctx.delay(1e-9)
        ready = ctx.get(dut.i_codes.ready)
        await ctx.tick()
        ctx.set(dut.i_codes.valid, 0)
        out["K=0"] = (ready, ctx.get(dut.error))          # sticky
        await ctx.tick().repeat(8)
        out["K=0 out"] = ctx.get(dut.o_samples.valid)

    _simulate(dut, bench)
    assert out["fresh"] == (Error.SAMPLES, 0, 0), "refill with T never written"
    assert out["T=1"] == (Error.SAMPLES, 0, 0), "refill with T = 1"
    assert out["T=max"] == (0, 1, 1), "refill with T = max_T"
    expect = [(_synthetic(code - SMALL.min_int, 3 * t + x), int(t == T - 1 and x == 2))
              for code in (2, sat_code) for t in range(T) for x in range(3)]
    assert out["beats"] == expect, "K = 1, T = max_T served"
    assert out["sat"] == 1
    assert out["again"] == (0, 1, 0), "table_sat of a commit with no saturation bit written"
    assert out["K=0"] == (1, Error.FEATURES) and not out["K=0 out"], "codes with K = 0"


# --------------------------------------------------------------------------------------
# table server with two banks, against the golden table
# --------------------------------------------------------------------------------------

def test_two_bank_server_serves_one_table_while_the_other_is_written():
    """Table A in bank 1 is served while table B is written into bank 0 (``tw_bank``; no
    invalidation); after the flip and the commit B is served; ``tw_flag`` writes set only
    the saturation bits, and ``table_sat`` is their OR (of the bank served)."""
    cfg_a = EncoderConfig(system="mixed", delta=2.0, tmax=0.02, dt=0.01, samples=2)
    cfg_b = EncoderConfig(system="mixed", alpha=-127.0, beta=0.0, delta=-1.5, tmax=1.8,
                          dt=0.9, samples=3)
    dut = TableServer(max_T=3, max_features=2, code_format=SMALL, banks=2, fifo_depth=1)
    reqs_a, reqs_b = [[1, -4], [3, 0]], [[-3, 2]]
    out = {"a": [], "b": []}

    async def write_table(ctx, cfg, bank):
        ctx.set(dut.tw_bank, bank)
        for code, index, v, sat in table_writes(cfg, SMALL_CODES):
            writes = [(0, v)] + ([(1, 0)] if index == 0 else [])    # sample, then flag
            for flag, value in writes:
                ctx.set(dut.tw_en, 1)
                ctx.set(dut.tw_code, code)
                ctx.set(dut.tw_index, index)
                ctx.set(dut.tw_data, value)
                ctx.set(dut.tw_sat, sat if flag else 1 - sat)   # ignored by the other kind
                ctx.set(dut.tw_flag, flag)
                await ctx.tick()
        ctx.set(dut.tw_en, 0)

    async def commit(ctx, cfg, bank):
        await write_registers(ctx, dut, encoder_registers(cfg, n_features=2))
        ctx.set(dut.bank, bank)
        ctx.set(dut.refill, 1)
        await ctx.tick()
        ctx.set(dut.refill, 0)
        await ctx.tick()

    async def send(ctx, reqs):
        for req in reqs:
            for code in req:
                await _send(ctx, dut.i_codes, code)

    async def collect(ctx, key, n):
        for _ in range(2000):
            ctx.set(dut.o_samples.ready, 1)
            await ctx.delay(1e-9)
            if ctx.get(dut.o_samples.valid):
                p = ctx.get(dut.o_samples.payload)
                out[key].append(((int(p.samples[0]),), int(p.last)))
            await ctx.tick()
            if len(out[key]) == n:
                return
        raise AssertionError(f"only {len(out[key])} of {n} beats")

    async def bench(ctx):
        ctx.set(dut.bank, 0)
        await write_table(ctx, cfg_a, 1)              # into bank 1
        await commit(ctx, cfg_a, bank=1)
        assert ctx.get(dut.table_valid) and not ctx.get(dut.table_sat)
        # serve A while B goes into bank 0
        n_a = len(expected_beats(cfg_a, reqs_a))
        await send(ctx, reqs_a[:1])
        await write_table(ctx, cfg_b, 0)              # into bank 0
        assert ctx.get(dut.table_valid)
        await send(ctx, reqs_a[1:])
        await collect(ctx, "a", n_a)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await commit(ctx, cfg_b, bank=0)
        assert ctx.get(dut.table_sat) == bool(
            FixedEncoder(cfg_b).table_saturation[np.array(SMALL_CODES) - CODE.min_int].any())
        await send(ctx, reqs_b)
        await collect(ctx, "b", len(expected_beats(cfg_b, reqs_b)))
        out["sat"] = ctx.get(dut.sat)
        out["error"] = ctx.get(dut.error)
        # both resident: serving bank 1 again (a SELECT) serves A, with A's flags
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await commit(ctx, cfg_a, bank=1)
        assert ctx.get(dut.table_valid) and not ctx.get(dut.table_sat)
        await send(ctx, reqs_a)
        out["a2"] = []
        await collect(ctx, "a2", n_a)

    _simulate(dut, bench)
    assert out["a"] == out["a2"] == expected_beats(cfg_a, reqs_a)
    assert out["b"] == expected_beats(cfg_b, reqs_b)
    assert out["sat"] == expected_sat(cfg_b, reqs_b)
    assert out["error"] == 0

