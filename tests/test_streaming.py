"""Streaming on the host link: the receive queue on its own, then the command engine (stub
core) with its queues, fed as a pipelining host feeds it, against the device model byte
for byte; the queue's overflow counted exactly."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from link_harness import TIMEOUT, _engine
from test_link import small_image

from dynalign.hw.engine.queue import ReceiveQueue
from dynalign.hw.wire import (
    SYNC,
    Brief,
    Cmd,
    Err,
    FrameDecoder,
    Limits,
    Results,
    Status,
    encode_frame,
    image_requests,
)
from dynalign.sw.device_model import DeviceModel


def _limits(queue):
    return Limits(max_features=4, max_samples=5, max_sizes=(16, 8, 4), max_payload=96,
                  queue=queue)


def test_receive_queue_keeps_bytes_and_framing_marks_in_order():
    """Events wait in order while the receiver holds off, a framing error in its place;
    an event that finds the queue full is dropped and reported, exactly; then, with
    random arrivals and a random sink, what comes out is what went in less the
    overflows, in order."""
    depth = 16
    dut = ReceiveQueue(depth=depth)
    rng = random.Random(3)
    events = [rng.randrange(256) for _ in range(depth + 5)]
    events[6] = "F"
    got, overflow = [], [0]
    pushed = []

    async def push(ctx, ev):
        if ev == "F":
            ctx.set(dut.rx_framing_error, 1)
        else:
            ctx.set(dut.rx.payload, ev)
            ctx.set(dut.rx.valid, 1)
        assert ctx.get(dut.rx.ready)
        over = ctx.get(dut.overflow)
        await ctx.tick()
        ctx.set(dut.rx_framing_error, 0)
        ctx.set(dut.rx.valid, 0)
        overflow[0] += over
        pushed.append(ev)

    async def pop_all(ctx, *, limit):
        ctx.set(dut.o.ready, 1)
        for _ in range(limit):
            valid, byte, mark = (ctx.get(dut.o.valid), ctx.get(dut.o.payload),
                                 ctx.get(dut.framing_error))
            assert not (valid and mark)
            if valid:
                got.append(byte)
            if mark:
                got.append("F")
            await ctx.tick()
        ctx.set(dut.o.ready, 0)

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        for ev in events:
            await push(ctx, ev)
        await ctx.tick().repeat(3)
        assert not ctx.get(dut.framing_error)       # a mark waits for the sink, too
        assert overflow[0] == 4                     # depth + 1 held
        await pop_all(ctx, limit=3 * depth + 10)
        assert got == events[:depth + 1]
        # random traffic: a subsequence, with the overflows the only gaps
        got.clear()
        pushed.clear()
        overflow[0] = 0
        for _ in range(600):
            ready = rng.random() < 0.5
            ctx.set(dut.o.ready, ready)
            valid, byte, mark = (ctx.get(dut.o.valid), ctx.get(dut.o.payload),
                                 ctx.get(dut.framing_error))
            if valid and ready:
                got.append(byte)
            if mark:
                got.append("F")
            if rng.random() < 0.6:
                ev = "F" if rng.random() < 0.05 else rng.randrange(256)
                await push(ctx, ev)
            else:
                await ctx.tick()
        await pop_all(ctx, limit=3 * depth + 10)
        assert overflow[0] > 0
        assert len(got) + overflow[0] == len(pushed)
        it = iter(pushed)
        assert all(any(g == p for p in it) for g in got), "order lost"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _play(limits, items, *, seed, hold=None, bound=200_000):
    """Play ``items`` into the engine (stub core) as a pipelining host does: a frame
    (``bytes``, one reply expected) is sent, one byte a cycle with random stalls, once
    the requests not yet answered and it come to at most ``limits.queue`` bytes (or
    nothing is unanswered); ``("F", k)``: a framing error after byte ``k`` of the next
    frame; ``("garbage", data)``: bytes sent at once, no reply (then the host waits for
    every reply and for the device to take them).  ``hold``: the index of an item (a
    frame): once it was sent the sink takes nothing until the garbage after it went
    out.  Returns the reply bytes."""
    m, eng, framing = _engine(limits, TIMEOUT, "auto", None)
    rng = random.Random(seed)
    out = bytearray()
    st = {"sent": [], "done": False, "hold": False}

    def answered():
        return len(FrameDecoder().feed(bytes(out)))

    async def source(ctx):
        cut = None
        for n, it in enumerate(items):
            if isinstance(it, tuple) and it[0] == "F":
                cut = it[1]
                continue
            if isinstance(it, tuple) and it[0] == "garbage":
                for b in it[1]:
                    ctx.set(eng.rx.payload, b)
                    ctx.set(eng.rx.valid, 1)
                    await ctx.tick()
                    ctx.set(eng.rx.valid, 0)
                    await ctx.tick().repeat(2)
                if hold is not None:
                    st["hold"] = False
                for _ in range(bound):          # (garbage is no request: wait it out)
                    if answered() == len(st["sent"]):
                        break
                    await ctx.tick()
                await ctx.tick().repeat(len(it[1]) + 10)
                continue
            for _ in range(bound):
                unanswered = sum(st["sent"][answered():])
                if unanswered == 0 or unanswered + len(it) <= limits.queue:
                    break
                await ctx.tick()
            else:
                raise AssertionError(f"seed {seed}: no room for item {n} after {bound} "
                                     f"cycles; {answered()} of {len(st['sent'])} answered")
            st["sent"].append(len(it))
            for i, b in enumerate(it):
                if rng.random() < 0.3:
                    await ctx.tick().repeat(rng.randrange(1, 5))
                ctx.set(eng.rx.payload, b)
                ctx.set(eng.rx.valid, 1)
                await ctx.tick()
                assert ctx.get(eng.rx.ready), "the engine must always take the UART's byte"
                ctx.set(eng.rx.valid, 0)
                await ctx.tick().repeat(2)     # the queue drains a byte per 3 cycles
                if cut is not None and i + 1 == cut:
                    ctx.set(framing, 1)
                    await ctx.tick()
                    ctx.set(framing, 0)
                    cut = None
            if hold is not None and len(st["sent"]) == hold + 1 and cut is None \
                    and n == hold:
                st["hold"] = True
        for _ in range(bound):
            if answered() == len(st["sent"]):
                break
            await ctx.tick()
        else:
            raise AssertionError(f"seed {seed}: {answered()} of {len(st['sent'])} replies "
                                 f"after {bound} cycles; got {bytes(out).hex()}")
        await ctx.tick().repeat(300)
        st["done"] = True

    async def sink(ctx):
        while not st["done"]:
            ready = not st["hold"] and rng.random() < 0.7
            ctx.set(eng.tx.ready, ready)
            _, _, valid, rdy, payload = await ctx.tick().sample(
                eng.tx.valid, eng.tx.ready, eng.tx.payload)
            if valid and rdy:
                out.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return bytes(out)


def _model_replies(limits, items, *, lost=0):
    """The device model's replies to the same line (``lost``: that many garbage bytes,
    the last ones, find the queue full)."""
    model = DeviceModel(limits=limits)
    out = bytearray()
    cut = None
    for it in items:
        if isinstance(it, tuple) and it[0] == "F":
            cut = it[1]
        elif isinstance(it, tuple):
            data = it[1]
            out += model.feed(data[:len(data) - lost])
            model.feed(data[len(data) - lost:], busy=True)
        elif cut is not None:
            out += model.feed(it[:cut])
            out += model.framing_error()
            out += model.feed(it[cut:])
            cut = None
        else:
            out += model.feed(it)
    return bytes(out)


@pytest.mark.parametrize("seed", [0, 1])
def test_pipelined_requests_are_all_answered_in_order(seed):
    """Requests sent back to back, each before the previous is answered (as many as the
    queue holds): every reply equals the model's, in order -- STREAM records, a wrong
    feature count, a framing error inside a frame, an upload, STATUS (nothing lost)."""
    limits = _limits(64)
    rng = np.random.default_rng(seed)
    img = small_image(seed)
    items = [encode_frame(Cmd.IDENTIFY, seq=1),
             encode_frame(Cmd.STREAM, bytes(3), seq=2)]          # no model yet
    items += [encode_frame(c, p, seq=10 + i) for i, (c, p) in
              enumerate(image_requests(img, max_payload=limits.max_payload, bank=0))]
    for s in range(8):
        codes = bytes(int(v) & 0xFF for v in rng.integers(-128, 128, 3))
        items.append(encode_frame(Cmd.STREAM, codes, seq=40 + s))
    for s in range(4):                                  # brief records, and the same
        codes = bytes(int(v) & 0xFF for v in rng.integers(-128, 128, 3))   # rows whole
        items += [encode_frame(Cmd.CLASSIFY, codes, seq=50 + s),
                  encode_frame(Cmd.RESULTS, seq=54 + s)]
    items.append(encode_frame(Cmd.CLASSIFY, bytes(2), seq=59))    # K is 3
    items.append(encode_frame(Cmd.STREAM, bytes(4), seq=60))      # K is 3
    cut = encode_frame(Cmd.STREAM, bytes([1, 2, 3]), seq=61)
    assert SYNC not in cut[2:]
    items += [("F", 2), cut, encode_frame(Cmd.RESULTS, seq=62),
              encode_frame(Cmd.STATUS, seq=63)]
    got = _play(limits, items, seed=seed)
    want = _model_replies(limits, items)
    assert got == want, (FrameDecoder().feed(got)[-6:], FrameDecoder().feed(want)[-6:])
    frames = FrameDecoder().feed(got)
    assert sum(f.cmd == (Cmd.STREAM | 0x80) for f in frames) == 8
    briefs = [f for f in frames if f.cmd == (Cmd.CLASSIFY | 0x80)]
    wholes = [f for f in frames if f.cmd == (Cmd.RESULTS | 0x80)]
    assert len(briefs) == 4 and len(wholes) == 5
    for br, whole in zip(briefs, wholes):   # each brief: its record's class..spikes
        assert Brief.unpack(br.payload) == Results.unpack(whole.payload).brief()
        assert whole.payload.startswith(br.payload) and len(br.payload) < len(whole.payload)
    assert [f.error for f in frames if f.is_error] == [Err.NO_MODEL, Err.FEATURES,
                                                       Err.FEATURES, Err.FRAMING]
    st = Status.unpack(frames[-1].payload)
    assert st.lost_bytes == 0 and st.framing_errors == 1


def test_a_full_receive_queue_counts_each_byte_it_drops():
    """The sink stops taking replies: the reply fills the transmit queue, the engine
    waits, and the bytes that arrive meanwhile fill the receive queue; each byte past
    what it holds (``queue + 1``) is dropped and counted in ``lost``, the rest are
    processed afterwards
    (here: non-SYNC bytes, ``dropped``)."""
    limits = _limits(16)
    garbage = bytes(range(1, 23))                    # 17 + 5, none of them SYNC
    items = [encode_frame(Cmd.STATUS, seq=1), ("garbage", garbage),
             encode_frame(Cmd.STATUS, seq=2)]
    got = _play(limits, items, seed=5, hold=0)
    want = _model_replies(limits, items, lost=5)
    assert got == want
    st = Status.unpack(FrameDecoder().feed(got)[-1].payload)
    assert (st.lost_bytes, st.dropped_bytes) == (5, 17)
