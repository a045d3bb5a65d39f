"""The schedule constants that the whole-device cycle model (``hw/core/cycles.py``)
counts with, held against the blocks they describe in fast Amaranth simulation: the
encoder lookup's ``REQUEST_TO_ISSUE``, ``ISSUE_TO_BEAT`` and its FIFO's rate, and the LIF
input loader's ``INPUT_TO_FULL``.  (``tests/test_top.py`` holds their sum, the whole
device, to the Verilated top level.)"""

import pytest
from amaranth.sim import Simulator

from dynalign.hw.encoder.lookup import TableLookup
from dynalign.hw.encoder.schedule import ISSUE_TO_BEAT, OUTPUT_FIFO_DEPTH, REQUEST_TO_ISSUE
from dynalign.hw.lif.common import LIFGeometry
from dynalign.hw.lif.loader import InputLoader
from dynalign.hw.lif.schedule import INPUT_TO_FULL

LIMIT = 500                                  # cycles: every wait below is bounded


def _simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("depth, period", [(OUTPUT_FIFO_DEPTH, 1), (1, ISSUE_TO_BEAT + 1)])
def test_lookup_latency_and_rate(depth, period):
    """A request of K codes, a sink always ready: the first beat is taken
    ``REQUEST_TO_ISSUE + ISSUE_TO_BEAT`` cycles after the last code, then one beat per
    cycle through a FIFO of ``OUTPUT_FIFO_DEPTH``, one per ``ISSUE_TO_BEAT + 1`` through
    the table core's FIFO of one."""
    T, K = 2, 3
    dut = TableLookup(max_T=T, max_features=4, lanes=1, code_width=4, fifo_depth=depth)
    taken = []

    async def bench(ctx):
        ctx.set(dut.features, K)
        ctx.set(dut.features_ok, 1)
        ctx.set(dut.samples, T)
        ctx.set(dut.table_valid, 1)
        ctx.set(dut.o_samples.ready, 1)
        last_code, sent = None, 0
        for cycle in range(LIMIT):
            ctx.set(dut.i_codes.valid, int(sent < K))
            ctx.set(dut.i_codes.payload.code, sent)
            if sent < K and ctx.get(dut.i_codes.ready):
                sent += 1
                last_code = cycle if sent == K else last_code
            if ctx.get(dut.o_samples.valid):
                taken.append(cycle)
            await ctx.tick()
            if len(taken) == 3 * K * T:
                break
        else:
            raise AssertionError(f"{len(taken)} of {3 * K * T} beats in {LIMIT} cycles")
        assert taken[0] == last_code + REQUEST_TO_ISSUE + ISSUE_TO_BEAT
        assert [b - a for a, b in zip(taken, taken[1:])] == [period] * (len(taken) - 1)

    _simulate(dut, bench)


def test_input_loader_latency():
    """The last sample of a step accepted in cycle ``c``: the bank reads full from cycle
    ``c + INPUT_TO_FULL`` on."""
    geo = LIFGeometry(lanes=1, max_layers=1, max_neurons=4, max_inputs=6, weight_words=24,
                      group_words=4, weight_width=8, fifo_depth=8, max_steps=5,
                      count_synops=False, count_cycles=False)
    dut = InputLoader(geometry=geo)
    channels = 6

    async def bench(ctx):
        ctx.set(dut.channels, channels)
        ctx.set(dut.bank, 0)
        accepted, last = 0, None
        for cycle in range(LIMIT):
            ctx.set(dut.i.valid, int(accepted < channels))
            ctx.set(dut.i.payload, accepted + 1)
            if ctx.get(dut.bank_full):
                assert cycle == last + INPUT_TO_FULL
                return
            if accepted < channels and ctx.get(dut.i.ready):
                accepted += 1
                last = cycle if accepted == channels else last
            await ctx.tick()
        raise AssertionError(f"the bank never read full in {LIMIT} cycles")

    _simulate(dut, bench)
