"""The blocks of the LIF engine, each driven alone in the Amaranth simulator (async
testbenches, every loop bounded) and held to an expectation computed here, by hand or
from the integer definitions -- never from the RTL: configuration registers, input
loader, issue sequencer, accumulator, neuron update, spike serialiser, class scan,
counters, read-back port and weight memory.  ``tests/test_lif_rtl.py`` checks them
together against the golden network."""

import random
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from dynalign.hw.formats import ACT, BIAS, MEM, WEIGHT
from dynalign.hw.lif.accumulate import Accumulator
from dynalign.hw.lif.common import LIFGeometry
from dynalign.hw.lif.config import ConfigRegisters
from dynalign.hw.lif.issue import IssueSequencer
from dynalign.hw.lif.loader import InputLoader
from dynalign.hw.lif.readback import LayerCounters, ReadBack
from dynalign.hw.lif.readout import ClassScan
from dynalign.hw.lif.ref import argmax_class
from dynalign.hw.lif.regmap import (
    LAYER_REG_BASE,
    LAYER_REG_STRIDE,
    RD_CLS,
    RD_CYCLES,
    REG_FIELDS,
    REGION_BIAS,
    REGION_SHIFT,
    REGION_WEIGHT,
    rd_count_addr,
    rd_stat_addr,
    rd_vmem_addr,
)
from dynalign.hw.lif.schedule import (
    ACCUMULATE_LATENCY,
    FIFO_DEPTH,
    MASK_TO_SERIALISER,
    READOUT_TAIL,
    UPDATE_LATENCY,
)
from dynalign.hw.lif.serialiser import SpikeSerialiser
from dynalign.hw.lif.update import NeuronUpdate
from dynalign.hw.lif.weights import WeightRAM

GEO = LIFGeometry(lanes=4, max_layers=3, max_neurons=16, max_inputs=8, weight_words=128,
                  group_words=16)


def simulate(top, bench):
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def signed_of(value, width):
    return value - (1 << width) if value >> (width - 1) else value


def round_shift(a, n):
    """(a + 2**(n-1)) >> n (floor shift), a for n = 0."""
    return (a + (1 << (n - 1))) >> n if n else a


def clamp(a, fmt):
    return min(max(a, fmt.min_int), fmt.max_int)


class _Harness(Elaboratable):
    """A block plus the memories it reads, for blocks whose inputs are synchronous memory
    reads: ``memories`` maps a name to ``(memory, address, data input of the block)``."""

    def __init__(self, block, memories):
        self.block = block
        self.memories = {name: (mem, mem.read_port(), addr, data)
                         for name, (mem, addr, data) in memories.items()}

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = self.block
        for name, (mem, rp, addr, data) in self.memories.items():
            m.submodules[name] = mem
            m.d.comb += [rp.addr.eq(addr), data.eq(rp.data)]
        return m


# ---------------------------------------------------------------- configuration registers
def test_config_registers():
    dut = ConfigRegisters(geometry=GEO)
    fields = dict(n_in=7, n_out=9, groups=3, wbase=21, gbase=4, beta=200, theta=(1 << 23) - 1,
                  flags=3)

    async def bench(ctx):
        async def write(addr, data, we=1):
            ctx.set(dut.cfg.addr, addr)
            ctx.set(dut.cfg.data, data & 0xFFFFFFFF)
            ctx.set(dut.cfg.we, we)
            await ctx.tick()
            ctx.set(dut.cfg.we, 0)

        assert (ctx.get(dut.n_layers), ctx.get(dut.steps), ctx.get(dut.channels)) == (1, 1, 1)
        for reg, value in ((0, 2), (1, 5), (2, 7)):
            await write(reg, value)
        assert (ctx.get(dut.n_layers), ctx.get(dut.steps), ctx.get(dut.channels)) == (2, 5, 7)
        for shift, pre, rnd in ((3, 2, 1), (0, 0, 0), (1, 0, 1), (31, 30, 1)):
            await write(3, shift)
            assert (ctx.get(dut.in_pre_shift), ctx.get(dut.in_round)) == (pre, rnd), shift
        for fi, name in enumerate(REG_FIELDS):
            # theta written as all ones: the register keeps its 23 low bits
            value = 0xFFFFFFFF if name == "theta" else fields[name]
            await write(LAYER_REG_BASE + LAYER_REG_STRIDE * 1 + fi, value)
        await write(LAYER_REG_BASE + LAYER_REG_STRIDE * 2, 99, we=0)      # not written
        for name, value in fields.items():
            assert ctx.get(dut.layers[1][name]) == value, name
            assert ctx.get(dut.layers[0][name]) == 0 and ctx.get(dut.layers[2][name]) == 0

        # weight write: word 13, lane 2, low 8 bits replicated; bias: slot 4 * 5 + 3
        ctx.set(dut.cfg.addr, (REGION_WEIGHT << REGION_SHIFT) | (13 << 2) | 2)
        ctx.set(dut.cfg.data, 0x1FE)
        ctx.set(dut.cfg.we, 1)
        assert (ctx.get(dut.w_addr), ctx.get(dut.w_en), ctx.get(dut.b_en)) == (13, 0b0100, 0)
        assert ctx.get(dut.w_data) == 0xFEFEFEFE
        ctx.set(dut.cfg.addr, (REGION_BIAS << REGION_SHIFT) | (5 << 2) | 3)
        ctx.set(dut.cfg.data, -3 & 0xFFFFFFFF)
        assert (ctx.get(dut.b_addr), ctx.get(dut.b_en), ctx.get(dut.w_en)) == (5, 0b1000, 0)
        assert ctx.get(dut.b_data) == int("FFFD" * 4, 16)
        await ctx.tick()                             # offset 23: in_shift, were it region 0
        ctx.set(dut.cfg.we, 0)
        assert (ctx.get(dut.b_en), ctx.get(dut.w_en)) == (0, 0)
        assert (ctx.get(dut.in_pre_shift), ctx.get(dut.in_round)) == (30, 1)

    simulate(dut, bench)


# ---------------------------------------------------------------- input loader
def _activations(step, shift):
    """The list entries (j, a) of one step: a = sat_ACT(round_shift(x, shift)), a != 0."""
    acts = [clamp(round_shift(int(x), shift), ACT) for x in step]
    return [(j, a) for j, a in enumerate(acts) if a]


@pytest.mark.parametrize("shift", [0, 3])
def test_input_loader(shift):
    """Rounding (half up, negative halves too), zeros skipped, ACT saturation, the two
    banks: a third step waits until the engine releases a bank."""
    dut = InputLoader(geometry=GEO)
    channels = 6
    steps = [[4, 3, -4, -5, 1 << 30, -(1 << 30)], [0, 0, 0, 0, 0, 0], [12, -12, 7, 8, 0, 1],
             [-1, 2, 0, 0, 5, 9]]
    writes = []                         # (bank, entry, j, a) as written
    seen = []                           # per released step: (bank, nnz, entries)
    rnd = random.Random(shift)

    async def bench(ctx):
        ctx.set(dut.channels, channels)
        ctx.set(dut.in_pre_shift, max(shift - 1, 0))
        ctx.set(dut.in_round, int(shift != 0))
        words = [x for step in steps for x in step]
        fed, stalled, bank = 0, 0, 0
        both_at, released_at = None, None      # both banks filled; first release
        for cycle in range(400):
            ctx.set(dut.release, 0)
            ctx.set(dut.bank, bank)
            if both_at is None and fed == 2 * channels:
                both_at = cycle
            # the engine takes a full bank, the first only three cycles after both filled
            if ctx.get(dut.bank_full) and both_at is not None and cycle >= both_at + 3:
                entries = [(j, a) for b, n, j, a in writes if b == bank]
                seen.append((bank, ctx.get(dut.bank_nnz), entries))
                writes[:] = [w for w in writes if w[0] != bank]
                ctx.set(dut.release, 1)
                released_at = cycle if released_at is None else released_at
                bank ^= 1
            offer = fed < len(words) and (rnd.random() < 0.7 or both_at is not None)
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, words[fed] if offer else 0)
            held = both_at is not None and (released_at is None or cycle <= released_at)
            if offer:                          # ready exactly while a bank is free
                assert ctx.get(dut.i.ready) == (not held), cycle
                stalled += held
            took = offer and ctx.get(dut.i.ready)
            if ctx.get(dut.l_en):
                addr, data = ctx.get(dut.l_addr), ctx.get(dut.l_data)
                writes.append((addr >> GEO.in_entry_bits, addr % (1 << GEO.in_entry_bits),
                               data >> ACT.width, signed_of(data % (1 << ACT.width), ACT.width)))
            await ctx.tick()
            fed += bool(took)
            if len(seen) == len(steps):
                break
        else:
            raise AssertionError(f"the loader did not complete {len(steps)} steps")
        assert stalled >= 3                             # both banks were taken at once

    simulate(dut, bench)
    for t, (bank, nnz, entries) in enumerate(seen):
        expect = _activations(steps[t], shift)
        assert bank == t % 2
        assert entries == expect and nnz == len(expect), f"step {t}"
    if shift == 3:                                       # the cases the steps are for
        assert _activations(steps[0], 3) == [(0, 1), (3, -1), (4, ACT.max_int),
                                             (5, ACT.min_int)]


# ---------------------------------------------------------------- issue sequencer
def _run_sequencer(credit_off=()):
    """Two layers, two steps: layer 0 (2 groups, wbase 5, n_in 3) reads 3 then 0 inputs,
    layer 1 (1 group, wbase 40) 2 then 0 spikes.  ``busy`` stays high two cycles after
    each last entry; the scan is done after 4 cycles.  Returns the issued entries and
    the strobes seen."""
    dut = IssueSequencer(geometry=GEO)
    out = {"entries": [], "first_step": [], "release": 0, "start": 0, "synop": 0,
           "stalls": 0}

    async def bench(ctx):
        ctx.set(dut.n_layers, 2)
        ctx.set(dut.steps, 2)
        for k, (n_in, groups, wbase) in enumerate(((3, 2, 5), (6, 1, 40))):
            ctx.set(dut.layers[k].n_in, n_in)
            ctx.set(dut.layers[k].groups, groups)
            ctx.set(dut.layers[k].wbase, wbase)
        nnz_in, spikes = [3, 0], [2, 0]
        step, busy_until, scanned = 0, -1, 0
        for cycle in range(200):
            ctx.set(dut.bank_full, step < 2)
            ctx.set(dut.bank_nnz, nnz_in[min(step, 1)])
            ctx.set(dut.spike_count, spikes[min(step, 1)])
            ctx.set(dut.credit, cycle not in credit_off)
            ctx.set(dut.busy, cycle <= busy_until)
            ctx.set(dut.scan_done, scanned >= 4)
            ctx.set(dut.result_ready, 1)
            entry = ctx.get(dut.issue.payload)
            if ctx.get(dut.issue.valid):
                assert not entry.last or cycle not in credit_off, "last entry without credit"
                addr = ctx.get(dut.in_addr) if ctx.get(dut.from_input) else ctx.get(dut.sp_addr)
                out["entries"].append((ctx.get(dut.layer), entry.first, entry.last,
                                       entry.dummy, entry.group, entry.waddr, addr))
                out["first_step"].append(ctx.get(dut.first_step))
                if entry.last:
                    busy_until = cycle + 2
            elif cycle in credit_off:
                out["stalls"] += 1
            if ctx.get(dut.release):
                out["release"] += 1
                step += 1
            out["start"] += ctx.get(dut.start)
            out["synop"] += ctx.get(dut.synop)
            scanned += ctx.get(dut.scanning)
            if ctx.get(dut.result_valid):
                out["cycles"] = ctx.get(dut.cycles)
                out["idle"] = ctx.get(dut.idle)
                return
            await ctx.tick()
        raise AssertionError("the sequencer did not finish")

    simulate(dut, bench)
    return out


def test_issue_sequencer():
    got = _run_sequencer()
    # (layer, first, last, dummy, group, waddr = wbase + g * n_in, list address): input
    # entries of bank 0 (step 0) and bank 1 (step 1, at 1 << in_entry_bits); spike
    # entries of layer 1 from bank ~1 = 0
    b1 = 1 << GEO.in_entry_bits
    expect = [(0, 1, 0, 0, 0, 5, 0), (0, 0, 0, 0, 0, 5, 1), (0, 0, 1, 0, 0, 5, 2),
              (0, 1, 0, 0, 1, 8, 0), (0, 0, 0, 0, 1, 8, 1), (0, 0, 1, 0, 1, 8, 2),
              (1, 1, 0, 0, 0, 40, 0), (1, 0, 1, 0, 0, 40, 1),
              (0, 1, 1, 1, 0, 5, b1), (0, 1, 1, 1, 1, 8, b1),
              (1, 1, 1, 1, 0, 40, 0)]
    assert got["entries"] == expect
    assert got["first_step"] == [1] * 8 + [0] * 3
    assert (got["release"], got["start"], got["synop"], got["idle"]) == (2, 1, 5, 1)
    # per layer step: its entries, then three drain cycles (busy two, the last free);
    # one WAIT_INPUT cycle before step 1; four scan cycles
    assert got["cycles"] == (6 + 3) + (2 + 3) + 1 + (2 + 3) + (1 + 3) + 4


def test_issue_sequencer_credit():
    """Without credit a group's last entry waits (and the wait is counted); the other
    entries go on."""
    base = _run_sequencer()
    # IDLE starts in cycle 0, group 0's entries 0 and 1 issue in cycles 1 and 2, its
    # last waits through cycles 3..6
    held = _run_sequencer(credit_off=range(3, 7))
    assert held["entries"] == base["entries"]
    assert held["stalls"] == 4
    assert held["cycles"] == base["cycles"] + held["stalls"]


# ---------------------------------------------------------------- accumulator
def test_accumulator():
    """acc[k] = sum_j W[g * lanes + k, j] * a_j for input entries, spike entries (a = 1)
    and a dummy entry (adds 0), with the group's state and bias words, ACCUMULATE_LATENCY
    cycles after the group's last entry."""
    rng = np.random.default_rng(1)
    lanes, ww, n_in, wbase, gbase = GEO.lanes, GEO.weight_width, 5, 10, 3
    W = rng.integers(WEIGHT.min_int, WEIGHT.max_int + 1, size=(2 * lanes, n_in))
    W[0, 0], W[1, 4] = WEIGHT.min_int, WEIGHT.max_int
    words = [0] * GEO.weight_words
    for i in range(2 * lanes):
        g, k = divmod(i, lanes)
        for j in range(n_in):
            words[wbase + g * n_in + j] |= (int(W[i, j]) & 0xFF) << (k * ww)
    inputs = [(0, ACT.min_int), (2, -300), (4, ACT.max_int)]          # (j, a)
    spikes = [1, 3]
    rnd = random.Random(1)
    state = [rnd.getrandbits(lanes * GEO.state_width) for _ in range(GEO.group_words)]
    bias = [rnd.getrandbits(lanes * BIAS.width) for _ in range(GEO.group_words)]

    dut = Accumulator(geometry=GEO)
    list_addr = Signal(4)
    mems = {
        "wmem": (Memory(shape=lanes * ww, depth=GEO.weight_words, init=words), dut.w_addr,
                 dut.w_data),
        "inmem": (Memory(shape=GEO.idx_width + ACT.width, depth=8,
                         init=[(j << ACT.width) | (a & 0xFFFF) for j, a in inputs]),
                  list_addr, dut.in_entry),
        "spmem": (Memory(shape=GEO.idx_width, depth=8, init=spikes), list_addr, dut.sp_entry),
        "smem": (Memory(shape=lanes * GEO.state_width, depth=GEO.group_words, init=state),
                 dut.s_addr, dut.s_data),
        "bmem": (Memory(shape=lanes * BIAS.width, depth=GEO.group_words, init=bias),
                 dut.s_addr, dut.b_data),
    }
    # (from_input, dummy, list length) per layer step of two groups
    runs = [(1, 0, len(inputs)), (0, 0, len(spikes)), (1, 1, 1)]
    issued, sums = [], []

    async def bench(ctx):
        ctx.set(dut.gbase, gbase)
        cycle = 0
        for from_input, dummy, n in runs:
            ctx.set(dut.from_input, from_input)
            for g in range(2):
                for e in range(n):
                    ctx.set(dut.issue.valid, 1)
                    ctx.set(dut.issue.payload, {"first": e == 0, "last": e == n - 1,
                                                "dummy": dummy, "group": g,
                                                "waddr": wbase + g * n_in})
                    ctx.set(list_addr, e)
                    if e == n - 1:
                        issued.append(cycle)
                    if ctx.get(dut.sums.valid):
                        sums.append((cycle, ctx.get(dut.sums.payload)))
                    await ctx.tick()
                    cycle += 1
            ctx.set(dut.issue.valid, 0)
            for _ in range(ACCUMULATE_LATENCY + 2):        # drain before the next layer
                if ctx.get(dut.sums.valid):
                    sums.append((cycle, ctx.get(dut.sums.payload)))
                await ctx.tick()
                cycle += 1

    simulate(_Harness(dut, mems), bench)
    assert [c for c, _ in sums] == [c + ACCUMULATE_LATENCY for c in issued]
    for r, (from_input, dummy, _) in enumerate(runs):
        a = np.zeros(n_in, np.int64)
        if not dummy:
            for j, v in (inputs if from_input else [(j, 1) for j in spikes]):
                a[j] = v
        for g in range(2):
            _, got = sums[2 * r + g]
            assert got.group == g
            assert [got.acc[k] for k in range(lanes)] == (W[g * lanes:(g + 1) * lanes] @ a
                                                          ).tolist(), (r, g)
            assert got.state == state[gbase + g] and got.bias == bias[gbase + g]


# ---------------------------------------------------------------- neuron update
def _lif_lane(v, cnt, acc, b, beta, theta, neuron, zero=0):
    """The LIF equation of one lane: (v', count', spike, saturated); ``zero``: a spike
    sets v' to 0 instead of subtracting theta."""
    u = round_shift(beta * v, 8) + acc + b
    us = clamp(u, MEM)
    spike = neuron and us >= theta
    v_new = (0 if zero else us - theta) if spike else us
    return v_new, cnt + spike, spike, neuron and us != u


def test_neuron_update():
    rng = np.random.default_rng(2)
    lanes, stw, cw = GEO.lanes, GEO.state_width, GEO.count_width
    acc_lim = 1 << (GEO.acc_width - 1)
    layers = [dict(beta=256, theta=MEM.max_int, n_out=7, gbase=2, first=0, reset_zero=0),
              dict(beta=0, theta=1, n_out=16, gbase=0, first=0, reset_zero=0),
              dict(beta=int(rng.integers(1, 256)), theta=int(rng.integers(1, 1 << 12)),
                   n_out=6, gbase=5, first=0, reset_zero=0),
              dict(beta=201, theta=900, n_out=8, gbase=1, first=1, reset_zero=0),
              # zero reset, also where sat_MEM clamps (theta 1: MEM.min_int never spikes)
              dict(beta=0, theta=1, n_out=16, gbase=0, first=0, reset_zero=1),
              dict(beta=int(rng.integers(1, 256)), theta=int(rng.integers(1, 1 << 12)),
                   n_out=6, gbase=5, first=0, reset_zero=1),
              dict(beta=256, theta=MEM.max_int, n_out=7, gbase=2, first=0, reset_zero=1)]
    groups, expect = [], []
    for li, lay in enumerate(layers):
        for g in range(-(-lay["n_out"] // lanes)):
            v = rng.integers(MEM.min_int, MEM.max_int + 1, size=lanes)
            v[0] = MEM.max_int if li == 0 else v[0]
            cnt = rng.integers(0, 200, size=lanes)
            big = rng.random() < 0.5
            acc = rng.integers(-acc_lim if big else -5000, acc_lim if big else 5000,
                               size=lanes)
            b = rng.integers(BIAS.min_int, BIAS.max_int + 1, size=lanes)
            state = sum(((int(v[k]) % (1 << MEM.width)) | (int(cnt[k]) << MEM.width))
                        << (k * stw) for k in range(lanes))
            bias = sum((int(b[k]) % (1 << BIAS.width)) << (k * BIAS.width)
                       for k in range(lanes))
            groups.append((li, g, [int(x) for x in acc], state, bias))
            lanes_out = []
            for k in range(lanes):
                v0, c0 = (0, 0) if lay["first"] else (int(v[k]), int(cnt[k]))
                lanes_out.append(_lif_lane(v0, c0, int(acc[k]), int(b[k]), lay["beta"],
                                           lay["theta"], g * lanes + k < lay["n_out"],
                                           lay["reset_zero"]))
            expect.append((lay["gbase"] + g, g, lanes_out))

    dut = NeuronUpdate(geometry=GEO)
    sent, got = [], []

    async def bench(ctx):
        cycle = 0

        async def step():
            nonlocal cycle
            if ctx.get(dut.masks.valid):
                assert ctx.get(dut.s_wen)
                got.append((cycle, ctx.get(dut.s_waddr), ctx.get(dut.masks.payload.group),
                            ctx.get(dut.masks.payload.spikes), ctx.get(dut.saturated),
                            ctx.get(dut.s_wdata)))
            await ctx.tick()
            cycle += 1

        for li, lay in enumerate(layers):
            for name in ("beta", "theta", "reset_zero", "n_out", "gbase"):
                ctx.set(getattr(dut, name), lay[name])
            ctx.set(dut.first_step, lay["first"])
            await step()                       # the layer constants are registered
            for gli, g, acc, state, bias in groups:
                if gli != li:
                    continue
                ctx.set(dut.sums.valid, 1)
                ctx.set(dut.sums.payload, {"group": g, "acc": acc, "state": state,
                                           "bias": bias})
                sent.append(cycle)
                await step()
                ctx.set(dut.sums.valid, 0)
                if g % 2:
                    await step()               # an idle cycle between some groups
            for _ in range(UPDATE_LATENCY + 1):
                await step()

    simulate(dut, bench)
    assert [c for c, *_ in got] == [c + UPDATE_LATENCY for c in sent]
    saturations = 0
    for (_, saddr, g, spikes, sats, word), (e_saddr, e_g, lanes_out) in zip(got, expect,
                                                                            strict=True):
        assert (saddr, g) == (e_saddr, e_g)
        for k, (v, cnt, spike, sat) in enumerate(lanes_out):
            lane = (word >> (k * stw)) % (1 << stw)
            assert signed_of(lane % (1 << MEM.width), MEM.width) == v, (g, k)
            assert lane >> MEM.width == cnt % (1 << cw), (g, k)
            assert (spikes >> k & 1, sats >> k & 1) == (spike, sat), (g, k)
            saturations += sat
    assert saturations > 0 and any(s for *_, s, _, _ in got)
    # the zero-reset layers spiked, and their spiking lanes hold 0 (subtract would not)
    zero_spikes = [(v, spike) for (_, _, lanes_out), (li, *_) in zip(expect, groups)
                   if layers[li]["reset_zero"] for v, _, spike, _ in lanes_out if spike]
    assert zero_spikes and all(v == 0 for v, _ in zero_spikes)


# ---------------------------------------------------------------- spike serialiser
def test_spike_serialiser():
    """Masks -> indices ``g * lanes + k``, lowest lane first, one per cycle, at the next
    entries of the bank; the first MASK_TO_SERIALISER cycles after the mask's write;
    ``busy`` until the last; ``clear`` restarts the count."""
    lanes = GEO.lanes
    masks = [(0, 0b1011), (1, 0), (2, 0b1000), (3, 0b1111)]
    dut = SpikeSerialiser(geometry=GEO)
    written, mask_at, busy = [], [], []

    async def bench(ctx):
        ctx.set(dut.bank, 1)
        pending = list(masks)
        for cycle in range(40):
            ctx.set(dut.masks.valid, 0)
            ctx.set(dut.group_issued, 0)
            if pending and cycle % 2 == 0:      # the group's last entry and its mask
                g, spikes = pending.pop(0)
                ctx.set(dut.group_issued, 1)
                ctx.set(dut.masks.valid, 1)
                ctx.set(dut.masks.payload, {"group": g, "spikes": spikes})
                mask_at.append(cycle)
            busy.append(ctx.get(dut.busy))
            if ctx.get(dut.l_en):
                written.append((cycle, ctx.get(dut.l_addr), ctx.get(dut.l_data)))
            await ctx.tick()
        assert ctx.get(dut.count) == 8 and not ctx.get(dut.busy)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert ctx.get(dut.count) == 0

    simulate(dut, bench)
    base = 1 << GEO.sp_entry_bits                       # bank 1
    expect = [g * lanes + k for g, s in masks for k in range(lanes) if s >> k & 1]
    assert [d for _, _, d in written] == expect
    assert [a for _, a, _ in written] == [base + n for n in range(len(expect))]
    # mask g is loaded at max(its write + MASK_TO_SERIALISER, the previous load + the
    # previous mask's max(spikes, 1)), then writes one index per cycle
    load, prev, cycles = None, 0, []
    for (_, spikes), at in zip(masks, mask_at, strict=True):
        ready = at + MASK_TO_SERIALISER
        load = ready if load is None else max(ready, load + max(prev, 1))
        prev = bin(spikes).count("1")
        cycles += [load + i for i in range(prev)]
    assert [c for c, _, _ in written] == cycles
    last = cycles[-1]
    assert busy[1:last + 1] == [1] * last and not any(busy[last + 1:])


@pytest.mark.parametrize("depth", [FIFO_DEPTH, 9])
def test_spike_serialiser_credit(depth):
    """``credit`` holds while fewer than ``fifo_depth - 1`` groups are pending, and comes
    back when a mask is loaded (also at a depth of 9, where ``fifo_depth - 1`` pending
    groups need every bit of the counter)."""
    dut = SpikeSerialiser(geometry=replace(GEO, fifo_depth=depth))

    async def bench(ctx):
        for n in range(depth - 1):
            assert ctx.get(dut.credit), n
            ctx.set(dut.group_issued, 1)
            await ctx.tick()
        ctx.set(dut.group_issued, 0)
        assert not ctx.get(dut.credit) and ctx.get(dut.busy)
        ctx.set(dut.masks.valid, 1)                     # one mask, no spikes
        await ctx.tick()
        ctx.set(dut.masks.valid, 0)
        for _ in range(MASK_TO_SERIALISER + 1):
            await ctx.tick()
        assert ctx.get(dut.credit) and ctx.get(dut.busy)

    simulate(dut, bench)


# ---------------------------------------------------------------- class scan
@pytest.mark.parametrize("case", ["random", "ties"])
def test_class_scan(case):
    rng = np.random.default_rng(3)
    lanes, stw, gbase = GEO.lanes, GEO.state_width, 3
    scans = []
    for n_out in (7, 1, 16) if case == "random" else (5, 8):
        cnt = rng.integers(0, 4, size=n_out) if case == "ties" else rng.integers(0, 9, n_out)
        v = (rng.integers(-2, 2, size=n_out) if case == "ties"
             else rng.integers(MEM.min_int, MEM.max_int + 1, n_out))
        if case == "ties":                              # the last equals an earlier best
            best = int(argmax_class(cnt[:-1], v[:-1]))
            cnt[-1], v[-1] = cnt[best], v[best]
        scans.append((n_out, cnt, v))
    dut = ClassScan(geometry=GEO)
    got = []

    async def bench(ctx):
        for n_out, cnt, v in scans:
            for word in range(GEO.group_words):
                ctx.set(mem.data[word], 0)
            for i in range(n_out):
                word = gbase + i // lanes
                old = ctx.get(mem.data[word])
                lane = ((int(v[i]) % (1 << MEM.width)) | (int(cnt[i]) << MEM.width))
                ctx.set(mem.data[word], old | (lane << (i % lanes * stw)))
            ctx.set(dut.gbase, gbase)
            ctx.set(dut.n_out, n_out)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            ctx.set(dut.run, 1)
            runs = 1                           # cycles with run high, done included
            while not ctx.get(dut.done):
                assert runs < 40, "the scan did not end"
                await ctx.tick()
                runs += 1
            await ctx.tick()                   # the done cycle (READOUT's last)
            ctx.set(dut.run, 0)
            got.append((runs, ctx.get(dut.cls)))
            await ctx.tick()

    mem = Memory(shape=lanes * stw, depth=GEO.group_words, init=[])
    simulate(_Harness(dut, {"smem": (mem, dut.s_addr, dut.s_data)}), bench)
    for (runs, cls), (n_out, cnt, v) in zip(got, scans, strict=True):
        assert runs == n_out + READOUT_TAIL + 1
        assert cls == int(argmax_class(cnt, v))
    if case == "ties":
        assert all(cls != n_out - 1 for (_, cls), (n_out, _, _) in zip(got, scans))


# ---------------------------------------------------------------- counters, read-back
def test_layer_counters():
    dut = LayerCounters(geometry=GEO)
    # (layer, spikes mask, saturated mask) per update; synop pulses per layer
    updates = [(0, 0b1011, 0b0001), (0, 0b0110, 0b0110), (2, 0b1111, 0b0000),
               (1, 0b0000, 0b1001), (2, 0b0001, 0b1000)]
    synops = [(0, 3), (1, 2), (2, 1)]
    n_out = [9, 13, 4]

    async def bench(ctx):
        for k, n in enumerate(n_out):
            ctx.set(dut.layers[k].n_out, n)
        for _ in range(2):                      # the second inference starts from 0
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for layer, spk, sat in updates:
                ctx.set(dut.layer, layer)
                ctx.set(dut.masks.valid, 1)
                ctx.set(dut.masks.payload.spikes, spk)
                ctx.set(dut.saturated, sat)
                await ctx.tick()
                ctx.set(dut.masks.valid, 0)
                await ctx.tick()                # the events are registered
            for layer, pulses in synops:
                ctx.set(dut.layer, layer)
                for _ in range(pulses):
                    ctx.set(dut.synop, 1)
                    await ctx.tick()
                ctx.set(dut.synop, 0)
                await ctx.tick()
            for k in range(3):
                assert ctx.get(dut.stats.spikes[k]) == sum(
                    bin(s).count("1") for layer, s, _ in updates if layer == k), k
                assert ctx.get(dut.stats.saturations[k]) == sum(
                    bin(s).count("1") for layer, _, s in updates if layer == k), k
                assert ctx.get(dut.stats.synops[k]) == dict(synops)[k] * n_out[k], k

    simulate(dut, bench)


@pytest.mark.parametrize("lanes", [4, 2, 1])
def test_read_back(lanes):
    """Every kind of address, at 4, 2 and 1 lanes (the lane select of the state word,
    and its absence at one lane); slot 1 is lane 1 of word 0 at two lanes and up."""
    rng = np.random.default_rng(4)
    geo = replace(GEO, lanes=lanes)
    stw = geo.state_width
    dut = ReadBack(geometry=geo)
    v = rng.integers(MEM.min_int, MEM.max_int + 1, size=(geo.group_words, lanes))
    v[2, min(1, lanes - 1)] = MEM.min_int
    cnt = rng.integers(0, 1 << 16, size=(geo.group_words, lanes))
    stats = {what: rng.integers(0, 1 << 20, size=3).tolist()
             for what in ("spikes", "synops", "saturations")}
    words = [sum(((int(v[w, k]) % (1 << MEM.width)) | (int(cnt[w, k]) << MEM.width))
                 << (k * stw) for k in range(lanes)) for w in range(geo.group_words)]
    expect = {RD_CLS: 11, RD_CYCLES: 123456, 0x7FFF: 0, 5: 0}
    for k in range(3):
        for what in stats:
            expect[rd_stat_addr(k, what)] = stats[what][k]
    for slot in sorted({0, 1, 9, 2 * lanes + 1, geo.group_words * lanes - 1}):
        w, k = divmod(slot, lanes)
        expect[rd_count_addr(slot)] = int(cnt[w, k])
        expect[rd_vmem_addr(slot)] = int(v[w, k]) % (1 << 32)       # sign-extended

    async def bench(ctx):
        ctx.set(dut.cls, 11)
        ctx.set(dut.cycles, 123456)
        for what, values in stats.items():
            for k, x in enumerate(values):
                ctx.set(getattr(dut.stats, what)[k], x)
        for addr, value in expect.items():
            ctx.set(dut.addr, addr)
            s_addr = ctx.get(dut.s_addr)               # the state memory, emulated
            await ctx.tick()
            ctx.set(dut.addr, 0x1234)                  # the port registers the address
            ctx.set(dut.s_data, words[s_addr % geo.group_words])
            await ctx.tick()
            assert ctx.get(dut.data) == value, hex(addr)

    simulate(dut, bench)


# ---------------------------------------------------------------- weight memory
@pytest.mark.parametrize("kind", ["memory", "spram"])
def test_weight_ram(kind):
    """Lane writes land at ``w_addr`` (also while ``r_addr`` points elsewhere) and leave
    the other lanes; reads are synchronous."""
    dut = WeightRAM(lanes=4, weight_width=8, depth=16, kind=kind)
    writes = [(3, 1, 0x5A), (3, 0, 0x11), (7, 3, 0xC3), (3, 1, 0x22)]     # (word, lane, w)
    image = {}
    for word, lane, w in writes:
        image[word] = image.get(word, 0) & ~(0xFF << (8 * lane)) | w << (8 * lane)

    async def bench(ctx):
        for word, lane, w in writes:
            ctx.set(dut.w_addr, word)
            ctx.set(dut.w_data, w * 0x01010101)
            ctx.set(dut.w_en, 1 << lane)
            ctx.set(dut.r_addr, 9)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        for word in (3, 7, 9, 0):
            ctx.set(dut.r_addr, word)
            await ctx.tick()
            assert ctx.get(dut.r_data) == image.get(word, 0), word

    simulate(dut, bench)


def test_blocks_take_a_geometry():
    for block in (ConfigRegisters, InputLoader, IssueSequencer, Accumulator, NeuronUpdate,
                  SpikeSerialiser, ClassScan, LayerCounters, ReadBack):
        with pytest.raises(TypeError, match="geometry must be a LIFGeometry"):
            block(geometry={"lanes": 4})
    with pytest.raises(ValueError, match="kind must be one of 'memory', 'spram'"):
        WeightRAM(lanes=4, weight_width=8, depth=16, kind="bram")


def test_cycle_model_imports_no_gateware():
    """The golden cycle model shares the schedule constants, not the RTL."""
    code = ("import sys, dynalign.hw.lif.cycles; "
            "bad = [m for m in sys.modules if m.startswith('amaranth') "
            "or m.startswith('dynalign.hw.lif.') and m.split('.')[-1] not in "
            "('cycles', 'ref', 'schedule')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
