"""cocotb testbench of the Verilated ``LIFNetwork`` (tier 2).

Reads the cases from the JSON file named by ``DYNALIGN_LIF_CASES`` (made by
:func:`dynalign.hw.lif.rtl_check.make_case`).  Per case: load the network through the ``cfg``
write port, stream every sample's words with random idle cycles (a source coroutine),
and for each sample wait for the class on ``o``; hold ``ready`` low for a random number
of cycles (backpressure) while reading back every expected address through
``rd_addr``/``rd_data``, then take the class.  The per-sample read-backs go to the JSON
file named by ``DYNALIGN_LIF_RESULT``; the comparison with ``==`` happens in
:func:`dynalign.hw.lif.rtl_check.compare` (here too, so the cocotb test fails on a mismatch).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer

CLOCK_NS = 10
RD_CYCLES = 1
MASK32 = (1 << 32) - 1


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >> 31 else v


async def _load(dut, writes):
    for addr, data in writes:
        dut.cfg__addr.value = addr
        dut.cfg__data.value = data & MASK32
        dut.cfg__we.value = 1
        await RisingEdge(dut.clk)
    dut.cfg__we.value = 0


async def _source(dut, words, idle, rng, state):
    valid = 0
    sent = 0
    while sent < len(words):
        await RisingEdge(dut.clk)
        if not valid and rng.random() >= idle:
            valid = 1
            dut.i__payload.value = words[sent] & MASK32
        dut.i__valid.value = valid
        await ReadOnly()
        if valid and int(dut.i__ready.value):
            sent += 1
            valid = 0
    await RisingEdge(dut.clk)
    dut.i__valid.value = 0
    state["sent"] = sent


async def _read_back(dut, addrs):
    """Pipelined reads: the address driven before edge k+1 shows on rd_data after edge
    k+2 (two cycles of latency)."""
    out = {}
    seq = list(addrs) + [0]
    for k, addr in enumerate(seq):
        dut.rd_addr.value = addr
        await RisingEdge(dut.clk)
        await ReadOnly()
        if k >= 1:
            out[seq[k - 1]] = _signed32(int(dut.rd_data.value))
        await _next_phase(dut)
    return out


async def _next_phase(dut):
    """Leave the ReadOnly phase so that inputs may be driven again."""
    await Timer(1, unit="ps")


async def _run_case(dut, case, max_cycles):
    rng = random.Random(case["seed"])
    await _load(dut, case["writes"])
    words = [w for sample in case["words"] for w in sample]
    state = {}
    src = cocotb.start_soon(_source(dut, words, case["idle"], rng, state))
    addrs = [a for a, _ in case["expected"][0]] + [RD_CYCLES]
    got = []
    bp = case["backpressure"]
    waited = 0
    for _n in range(len(case["words"])):
        while True:
            await RisingEdge(dut.clk)
            dut.o__ready.value = 0
            await ReadOnly()
            if int(dut.o__valid.value):
                break
            waited += 1
            if waited > max_cycles:
                raise AssertionError(f"no class after {max_cycles} cycles "
                                     f"(topology {case['topology']}, sample {_n})")
        o = int(dut.o__valid.value) and int(dut.o__payload.value)
        await _next_phase(dut)
        while rng.random() < bp:               # backpressure: hold ready low a while
            await RisingEdge(dut.clk)
        reads = await _read_back(dut, addrs)
        await ReadOnly()
        assert int(dut.o__valid.value), "o.valid dropped before the class was taken"
        await _next_phase(dut)
        dut.o__ready.value = 1
        await RisingEdge(dut.clk)
        dut.o__ready.value = 0
        got.append({"o": o, "reads": {str(a): v for a, v in reads.items()},
                    "cycles": reads[RD_CYCLES]})
    await src
    return got


@cocotb.test()
async def lif_network_vs_golden(dut):
    """Every case of the JSON file through the network; every read-back compared with ==."""
    from dynalign.hw.lif.rtl_check import compare
    spec = json.loads(open(os.environ["DYNALIGN_LIF_CASES"]).read())
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    for name in ("cfg__we", "i__valid", "o__ready", "rd_addr"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    results, summaries = [], []
    for case in spec["cases"]:
        max_cycles = 400 + 40 * sum(case["bound"]) + 50 * len(case["words"][0]) * \
            len(case["words"]) * (1 + int(10 * case["idle"]))
        got = await _run_case(dut, case, max_cycles)
        results.append(got)
        summaries.append(compare(case, got))
    out = os.environ.get("DYNALIGN_LIF_RESULT")
    if out:
        with open(out, "w") as f:
            json.dump({"results": results}, f)
    bad = [s for s in summaries if s["mismatches"]]
    assert not bad, f"{len(bad)} case(s) mismatched; first: {bad[0]['first']}"
