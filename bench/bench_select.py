"""The mode switch between two resident models: device time of a ``SELECT``.

For each board's bitstream configuration (:func:`dynalign.constraints.boards.default_limits`:
core, lanes, store; the network of the board's default size, random weights), the command
engine and the LIF core are simulated in Amaranth (bytes into the engine's receive stream
one per cycle, no UART: the UART's bit time is the host's share, not the device's).  Two
images are uploaded, into bank 0 and bank 1, then ``SELECT`` switches between them a few
times.  Per ``SELECT``: the cycles from its frame's last byte to the first byte of its
reply, and to the core being ``ready`` again (its configuration loaded from the selected
bank, no weight moved; on the integrating core also the encoder's table refill started),
and the same in microseconds at the board's clock.

The integrating core (ULX3S) keeps one trajectory table per resident model (the
encoder's ``banks=2``): a table is built once, when its model is committed (the
simulation uses 4-bit codes and a 4-step window so that the refills end; on the board a
refill is :func:`dynalign.hw.encoder.schedule.refill_cycles`, ``2**8 * (800 * 189 + 15)
+ 1`` cycles for the paper's 800-step window of the mixed oscillator), and a ``SELECT`` starts no
refill -- the report checks that none started and gives the refill a single-table
encoder would add to every switch.

    .venv/bin/python bench/bench_select.py [--board icebreaker|ulx3s] [--switches 4]

Prints one JSON object per board.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from dynalign.constraints.boards import BOARDS, board_spec, default_limits
from dynalign.hw.encoder.schedule import refill_cycles
from dynalign.hw.engine import CommandEngine
from dynalign.hw.formats import CODE, WEIGHT4, QFormat, weight_bits_per_layer
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.top import LIFCore
from dynalign.hw.wire import Cmd, build_image, encode_frame, image_for, image_requests

#: the integrating core in simulation: 4-bit codes (16 table rows, not 256)
SMALL_CODE = QFormat("code", 4, 6)
TIMEOUT = 1 << 20


def _images(limits, seeds, bits):
    """Random models of the board's default size, at its weight widths ``bits`` (one
    per layer; the ULX3S's hidden layers 4-bit: at 8 bits they would not fit its bank)."""
    k = limits.max_features
    enc = EncoderConfig(delta=2.0, tmax=0.04, dt=0.01, samples=limits.max_samples)
    packed = tuple(i for i, b in enumerate(bits) if b == WEIGHT4.width)
    out = []
    for seed in seeds:
        net = random_network(np.random.default_rng(seed), [3 * k, *limits.max_sizes],
                             rate=0.3, packed=packed)
        out.append(image_for(build_image(network=net, encoder=enc, n_features=k), limits))
    return out


def measure(board: str, *, switches: int = 4) -> dict:
    spec = board_spec(board)
    limits = default_limits(board)
    code = CODE if limits.table else SMALL_CODE
    m = Module()
    m.submodules.eng = eng = CommandEngine(limits=limits, timeout_cycles=TIMEOUT,
                                           store_ram="spram" if limits.table else "memory")
    m.submodules.core = core = LIFCore(limits=limits, store_addr_width=eng.store_aw,
                                       feat_addr_width=eng.feat_aw,
                                       table_addr_width=eng.table_aw, code_format=code)
    wiring.connect(m, eng.core, core.bus)
    bits = weight_bits_per_layer(spec.weight_bits, len(limits.max_sizes))
    images = _images(limits, (1, 2), bits)
    frames = []
    for bank, img in enumerate(images):
        frames += [(c, p, None) for c, p in image_requests(img, max_payload=limits.max_payload,
                                                           bank=bank)]
    for i in range(switches):
        frames.append((Cmd.SELECT, bytes([i % 2]), "select"))
    got = []

    async def bench(ctx):
        ctx.set(eng.tx.ready, 1)
        for cmd, payload, tag in frames:
            data = encode_frame(cmd, payload)
            for b in data:
                ctx.set(eng.rx.payload, b)
                ctx.set(eng.rx.valid, 1)
                await ctx.tick()
                while not ctx.get(eng.rx.ready):
                    await ctx.tick()
            ctx.set(eng.rx.valid, 0)
            first = last_busy = refill_at = None
            reply = bytearray()
            for cycle in range(1, 50_000_000):
                _, _, valid, payload_b, rdy, refill = await ctx.tick().sample(
                    eng.tx.valid, eng.tx.payload, core.bus.ready, core.enc.refill)
                if valid:
                    if first is None:
                        first = cycle
                    reply.append(payload_b)
                if not rdy:
                    last_busy = cycle
                if refill and refill_at is None:
                    refill_at = cycle
                done = len(reply) >= 5 and len(reply) == 7 + (reply[3] | reply[4] << 8)
                if done and rdy:
                    break
            else:
                raise AssertionError(f"{board}: no reply to {Cmd(cmd).name}")
            if reply[1] != (cmd | 0x80):
                raise AssertionError(f"{board}: {Cmd(cmd).name} answered {bytes(reply).hex()}")
            if tag == "select":
                got.append({"bank": payload[0], "cycles_to_reply": first,
                            "cycles_to_ready": (last_busy or 0) + 1,
                            "cycles_to_refill": refill_at})

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t0
    clock = spec.clock_mhz or spec.platform().default_clk_frequency / 1e6
    worst = max(s["cycles_to_ready"] for s in got)
    out = {"board": board, "core": "table" if limits.table else "integrating",
           "lanes": limits.lanes, "topology": [3 * limits.max_features, *limits.max_sizes],
           "weight_bits": list(bits),
           "clock_mhz": clock, "selects": got, "select_cycles_worst": worst,
           "select_us_worst": round(worst / clock, 3), "target_us": 10.0,
           "sim_wall_s": round(wall, 1)}
    if not limits.table:
        n_steps = 800          # the paper's window (tmax 8, dt 0.01)
        refill = refill_cycles("mixed", n_steps, CODE.width)
        started = [s["bank"] for s in got if s["cycles_to_refill"] is not None]
        if started:
            raise AssertionError(f"{board}: a SELECT of bank {started[0]} started a refill")
        out["simulated_code_bits"] = SMALL_CODE.width
        out["refills_on_select"] = 0
        out["single_table_refill_us"] = round(refill / clock, 1)
        out["note"] = ("one trajectory table per resident model: a SELECT loads the "
                       "configuration (simulated, above) and starts no refill; a single "
                       "table would add the board's refill to every switch")
    out["meets_target"] = out["select_us_worst"] < 10.0
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", choices=sorted(BOARDS), action="append")
    ap.add_argument("--switches", type=int, default=4)
    args = ap.parse_args()
    for board in args.board or sorted(BOARDS):
        print(json.dumps(measure(board, switches=args.switches)), flush=True)


if __name__ == "__main__":
    main()
