"""cocotb testbench of the Verilated ``TrajectoryEncoder`` (tier 2).

Reads the cases from the JSON file named by ``DYNALIGN_ENCODER_CASES`` (made by
:func:`dynalign.hw.encoder.rtl_check.make_case`, plus ``idle`` / ``backpressure`` probabilities
and a ``seed``).  For each case: write the registers, ``refill``, stream the requests'
codes with random idle cycles while the sink applies random backpressure; a monitor
feeds every accepted output beat to the in-order scoreboard, which compares it with
``==`` to the golden beats.  Per-case results (compared, mismatches, first mismatch,
flags, cycles) go to the JSON file named by ``DYNALIGN_ENCODER_RESULT``; the test fails
on any mismatch or wrong flag.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer

SAMPLE_BITS = 32
CLOCK_NS = 10


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


async def _write_regs(dut, regs):
    for addr, value in regs:
        dut.reg_we.value = 1
        dut.reg_addr.value = addr
        dut.reg_data.value = value
        await RisingEdge(dut.clk)
    dut.reg_we.value = 0


#: checks of ``busy`` (every 4096 cycles) before a refill counts as stuck: far beyond the
#: integration of every code (RK4 of 256 codes over a few thousand steps)
_REFILL_CHECKS = 4096


async def _refill(dut):
    dut.refill.value = 1
    await RisingEdge(dut.clk)
    dut.refill.value = 0
    for _ in range(_REFILL_CHECKS):
        # a timer, not ClockCycles: no Python runs on the clock edges in between
        await Timer(CLOCK_NS * 4096, unit="ns")
        await ReadOnly()
        if not int(dut.busy.value):
            break
    else:
        raise AssertionError(f"stuck: encoder busy still high {_REFILL_CHECKS * 4096} "
                             "cycles after refill")
    await RisingEdge(dut.clk)


async def _stream(dut, case, lanes, rng, max_cycles):
    """Drive codes and sink beats until every expected beat arrived (or a timeout);
    returns ``(beats, cycles from first code offered to last beat)``."""
    codes = [c for req in case["requests"] for c in req]
    n_expected = len(case["expected"])
    idle, bp = case.get("idle", 0.0), case.get("backpressure", 0.0)
    beats = []
    sent = 0
    valid = 0
    cycles = 0
    first = None
    last_beat = 0
    quiet = 0
    while cycles < max_cycles:
        await RisingEdge(dut.clk)
        cycles += 1
        if not valid and sent < len(codes) and rng.random() >= idle:
            valid = 1
            dut.i_codes__payload.value = codes[sent] & 0xFF
            if first is None:
                first = cycles
        dut.i_codes__valid.value = valid
        ready = int(rng.random() >= bp)
        dut.o_samples__ready.value = ready
        await ReadOnly()
        if valid and int(dut.i_codes__ready.value):
            sent += 1
            valid = 0
        if ready and int(dut.o_samples__valid.value):
            word = int(dut.o_samples__payload.value)
            samples = [_signed((word >> (SAMPLE_BITS * i)) & ((1 << SAMPLE_BITS) - 1),
                               SAMPLE_BITS) for i in range(lanes)]
            beats.append((samples, (word >> (SAMPLE_BITS * lanes)) & 1))
            last_beat = cycles
        if len(beats) >= n_expected and sent >= len(codes):
            quiet += 1
            if quiet > 30:              # watch for extra beats after the last one
                break
    await RisingEdge(dut.clk)
    dut.i_codes__valid.value = 0
    dut.o_samples__ready.value = 0
    return beats, (last_beat - first + 1) if first is not None and beats else 0


def _compare(case, beats, lanes):
    exp = case["expected"]
    k = len(case["requests"][0]) if case["requests"] else 1
    T = case["config"]["samples"]
    res = {"compared": 0, "mismatches": 0, "first": None}
    for i, (samples, last) in enumerate(beats):
        if i >= len(exp):
            res["mismatches"] += 1
            res["first"] = res["first"] or {"beat": i, "error": "extra beat", "got": samples}
            continue
        e_samples, e_last = exp[i]
        for lane, (e, g) in enumerate(zip(e_samples, samples)):
            res["compared"] += 1
            if e != g:
                res["mismatches"] += 1
                if res["first"] is None:
                    per_req = T * 3 * k // lanes
                    r, b = divmod(i, per_req)
                    t, rest = divmod(b * lanes + lane, 3 * k)
                    f, c = divmod(rest, 3)
                    res["first"] = {"config": case["config"], "request": r, "feature": f,
                                    "code": case["requests"][r][f], "sample_index": t,
                                    "component": "xyz"[c], "expected": e, "got": g}
        if last != e_last:
            res["mismatches"] += 1
            res["first"] = res["first"] or {"beat": i, "error": "last flag",
                                            "expected": e_last, "got": last}
    if len(beats) < len(exp):
        res["mismatches"] += len(exp) - len(beats)
        res["first"] = res["first"] or {"error": "missing beats", "expected": len(exp),
                                        "got": len(beats), "config": case["config"]}
    return res


@cocotb.test()
async def encoder_vs_golden(dut):
    """Every case of the JSON file through the encoder; every beat compared with ==."""
    spec = json.loads(open(os.environ["DYNALIGN_ENCODER_CASES"]).read())
    lanes = spec["lanes"]
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    for name in ("reg_we", "refill", "clear", "i_codes__valid", "o_samples__ready"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    results = []
    failures = []
    for n, case in enumerate(spec["cases"]):
        rng = random.Random(case.get("seed", n))
        dut.clear.value = 1
        await RisingEdge(dut.clk)
        dut.clear.value = 0
        await _write_regs(dut, case["regs"])
        await _refill(dut)
        await ReadOnly()
        refill_cycles = int(dut.refill_cycles.value)
        table_valid = int(dut.table_valid.value)
        beats, cycles = await _stream(dut, case, lanes, rng,
                                      max_cycles=200 + 40 * max(1, len(case["expected"])))
        await ReadOnly()
        res = _compare(case, beats, lanes)
        res.update({"refill_cycles": refill_cycles, "stream_cycles": cycles,
                    "features": sum(len(r) for r in case["requests"]),
                    "beats": len(beats), "error": int(dut.error.value),
                    "sat": int(dut.sat.value), "table_sat": int(dut.table_sat.value),
                    "table_valid": table_valid,
                    "idle": case.get("idle", 0.0), "backpressure": case.get("backpressure", 0.0)})
        exp_err = case.get("expected_error", 0)
        if res["error"] != exp_err:
            res["mismatches"] += 1
            res["first"] = res["first"] or {"error": "error flags", "expected": exp_err,
                                            "got": res["error"], "config": case["config"]}
        for flag in ("sat", "table_sat"):
            if "expected_" + flag in case and bool(res[flag]) != case["expected_" + flag]:
                res["mismatches"] += 1
                res["first"] = res["first"] or {"error": f"{flag} flag",
                                                "expected": case["expected_" + flag],
                                                "got": res[flag], "config": case["config"]}
        results.append(res)
        if res["mismatches"]:
            failures.append(n)
        await RisingEdge(dut.clk)
    out = os.environ.get("DYNALIGN_ENCODER_RESULT")
    if out:
        with open(out, "w") as f:
            json.dump({"cases": results}, f)
    assert not failures, f"cases {failures} mismatched; first: {results[failures[0]]['first']}"
