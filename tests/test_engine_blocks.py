"""Each block of the command engine (hw/engine/) driven alone in Amaranth simulation,
against expectations built without the gateware: frames from :func:`encode_frame` and
``binascii.crc_hqx``, image checksums from ``zlib.crc32``, admission verdicts from
:meth:`Limits.check_header`, the stub core's record from :func:`stub_result`, memories
from Python lists.  Every wait has a cycle bound and fails past it.

(tests/test_link.py checks the composed :class:`CommandEngine` against the device
model, byte for byte.)
"""

import binascii
import random
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from dynalign.hw.engine import (
    BankedStore,
    Dispatcher,
    FrameReceiver,
    HeaderCheck,
    ModelStore,
    ReplySender,
    StubCore,
)
from dynalign.hw.engine.layouts import ReplySource, RxResult, StoreError, StoreOp
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    BANK_EMPTY,
    BANK_UPLOADING,
    BANK_VALID,
    CORE_LIF_TABLE,
    ENCODER_LEN,
    ENCODER_OFFSET,
    ERROR,
    IMAGE_HEADER,
    IMAGE_HEADER_LEN,
    IMAGE_MAGIC,
    IMAGE_VERSION,
    LAYERS_OFFSET,
    REPLY,
    RESULT_SUMMARY_LEN,
    STATUS,
    SYNC,
    TABLE_ROWS,
    Cmd,
    Err,
    ImageHeader,
    Limits,
    build_image,
    encode_frame,
    payload_length_ok,
    relayout,
    table_len,
)
from dynalign.sw.device_model import stub_result

LIMITS = Limits(max_features=4, max_samples=5, max_sizes=(16, 8, 4), max_payload=96)
TABLE_LIMITS = replace(LIMITS, core=CORE_LIF_TABLE, max_samples=2)


def simulate(dut, *benches, processes=()):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench)
    for process in processes:
        sim.add_process(process)
    sim.run()


def image(seed=0, *, sizes=(4, 2), k=2, table=False):
    net = random_network(np.random.default_rng(seed), [3 * k, *sizes])
    enc = EncoderConfig(delta=2.0, tmax=0.02, samples=2) if table else EncoderConfig(delta=2.0)
    return build_image(network=net, encoder=enc, n_features=k, table=table)


def frame(cmd, payload=b"", seq=0):
    """A frame put together here, its CRC-16 from ``binascii`` (CCITT, init 0xFFFF)."""
    body = bytes([cmd, seq, len(payload) & 0xFF, len(payload) >> 8]) + bytes(payload)
    return bytes([SYNC]) + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")


def test_frames_built_here_are_the_wire_format():
    assert frame(0x21, b"ab", seq=7) == encode_frame(0x21, b"ab", seq=7)
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1


# ---- FrameReceiver --------------------------------------------------------------------

RX_MAX, RX_TIMEOUT = 24, 20


def test_receiver_frames_aborts_and_counters():
    """Good frames (payloads of 0..max bytes, random gaps, garbage between them) end in
    one OK event with the header fields and the payload in the buffer; a bad CRC, an
    over-long frame (after its LEN + 2 bytes), a framing error and the timeout (exactly
    timeout_cycles after the last byte) end in theirs; until ``done``, every byte and
    framing error that arrives is counted (``lost``, ``framing``) and starts nothing,
    and the counters the record shows hold still; the counters count what they should."""
    dut = FrameReceiver(max_payload=RX_MAX, timeout_cycles=RX_TIMEOUT)
    rng = random.Random(1)
    counts = {"framing": 0, "crc": 0, "timeout": 0, "dropped": 0, "lost": 0}
    log = {"events": [], "cycle": 0, "last_byte": None}

    async def tick(ctx):
        _, _, ready, valid, result, cmd, seq, n = await ctx.tick().sample(
            dut.rx.ready, dut.event.valid, dut.event.payload, dut.frame.cmd, dut.frame.seq,
            dut.frame.length)
        log["cycle"] += 1
        if valid:
            log["events"].append((result, cmd, seq, n, log["cycle"]))
        return ready

    async def send(ctx, data, *, gaps=True):
        for b in data:
            for _ in range(rng.randrange(3) if gaps else 0):
                await tick(ctx)
            ctx.set(dut.rx.payload, b)
            ctx.set(dut.rx.valid, 1)
            for _ in range(10):
                if await tick(ctx):
                    break
            else:
                raise AssertionError("the receiver did not take a byte")
            log["last_byte"] = log["cycle"]
            ctx.set(dut.rx.valid, 0)

    async def expect(ctx, result, cmd, seq, n, payload=None, *, within=4):
        for _ in range(within):
            if log["events"]:
                break
            await tick(ctx)
        assert len(log["events"]) == 1, log["events"]
        got = log["events"].pop()
        assert got[:3] == (result, cmd, seq) and n in (None, got[3]), got
        # answered later: what arrives meanwhile is counted, and shows only after `done`
        shown = {n: ctx.get(dut.counters[n]) for n in ("framing", "lost")}
        for _ in range(rng.randrange(4)):
            if rng.random() < 0.5:
                ctx.set(dut.framing_error, 1)
                counts["framing"] += 1
            else:
                ctx.set(dut.rx.payload, SYNC)
                ctx.set(dut.rx.valid, 1)
                counts["lost"] += 1
            assert await tick(ctx)
            ctx.set(dut.framing_error, 0)
            ctx.set(dut.rx.valid, 0)
            assert not log["events"], log["events"]
        assert {n: ctx.get(dut.counters[n]) for n in shown} == shown
        if payload is not None:
            for i, b in enumerate(payload):
                ctx.set(dut.pay_addr, i)
                await tick(ctx)
                assert ctx.get(dut.pay_data) == b, (i, payload)
        ctx.set(dut.done, 1)
        await tick(ctx)
        ctx.set(dut.done, 0)
        await tick(ctx)
        return got

    async def bench(ctx):
        for i in range(12):
            garbage = bytes(rng.choice([0x00, 0x13, 0xFF, 0x5A]) for _ in range(rng.randrange(3)))
            await send(ctx, garbage)
            counts["dropped"] += len(garbage)
            cmd, seq = rng.randrange(256), rng.randrange(256)
            payload = bytes(rng.randrange(256) for _ in range([0, RX_MAX, 1][i % 3]
                                                               if i < 3 else rng.randrange(RX_MAX)))
            await send(ctx, frame(cmd, payload, seq))
            await expect(ctx, RxResult.OK, cmd, seq, len(payload), payload)
        # a flipped bit: CRC (and counted)
        bad = bytearray(frame(0x20, b"\x01\x02\x03", seq=9))
        bad[6] ^= 0x10
        await send(ctx, bad)
        counts["crc"] += 1
        await expect(ctx, RxResult.CRC, 0x20, 9, 3)
        # too long: the LEN + 2 bytes after the header are skipped, the event comes with
        # the last of them
        long = frame(0x11, bytes(RX_MAX + 3), seq=4)
        await send(ctx, long[:-1])
        assert not log["events"]
        await send(ctx, long[-1:])
        assert log["events"][-1][4] == log["last_byte"]
        await expect(ctx, RxResult.LENGTH, 0x11, 4, RX_MAX + 3)
        # cut short: TIMEOUT, timeout_cycles after the last byte
        await send(ctx, frame(0x20, b"\x01\x02\x03", seq=5)[:-3], gaps=False)
        for _ in range(RX_TIMEOUT + 2):
            await tick(ctx)
        assert log["events"][-1][4] - log["last_byte"] == RX_TIMEOUT
        counts["timeout"] += 1
        await expect(ctx, RxResult.TIMEOUT, 0x20, 5, 3)
        # a framing error inside a frame ends it (no SEQ yet: 0); between frames it is
        # only counted
        await send(ctx, bytes([SYNC, 0x21]))
        ctx.set(dut.framing_error, 1)
        await tick(ctx)
        ctx.set(dut.framing_error, 0)
        counts["framing"] += 1
        await expect(ctx, RxResult.FRAMING, 0x21, 0, None, within=1)
        ctx.set(dut.framing_error, 1)
        await tick(ctx)
        ctx.set(dut.framing_error, 0)
        counts["framing"] += 1
        for _ in range(RX_TIMEOUT + 2):
            await tick(ctx)
        assert not log["events"]
        # a frame after all that is received as ever
        await send(ctx, frame(0x02, seq=0x77))
        await expect(ctx, RxResult.OK, 0x02, 0x77, 0, b"")
        for name, n in counts.items():
            assert ctx.get(dut.counters[name]) == n, name

    simulate(dut, bench)


def test_receiver_skips_a_frame_at_the_length_limit():
    """``LEN = 0xFFFF``, the largest the 16-bit length field says: all ``LEN + 2`` bytes
    after the header are skipped (the skip counter holds ``LEN + 1``, a 17-bit number),
    the ``LENGTH`` event comes with the last of them and not one byte earlier, and the
    next frame is received as ever.  The bytes come back to back (one per cycle)."""
    dut = FrameReceiver(max_payload=RX_MAX, timeout_cycles=RX_TIMEOUT)
    length = 0xFFFF
    skipped = length + 2

    async def bench(ctx):
        ctx.set(dut.rx.valid, 1)
        for b in (SYNC, 0x11, 0x42, 0xFF, 0xFF):
            ctx.set(dut.rx.payload, b)
            await ctx.tick()
        ctx.set(dut.rx.payload, 0x00)           # not SYNC: a frame begun early would show
        # the first LEN + 1 skipped bytes: no event (one in this stretch sends the
        # receiver to BUSY, where the rest would be counted as lost)
        events = 0
        for _ in range(skipped - 1):
            *_, valid = await ctx.tick().sample(dut.event.valid)
            events += valid
        assert events == 0, f"LENGTH event before the last of the {skipped} skipped bytes"
        assert ctx.get(dut.event.valid), "no LENGTH event with the last skipped byte"
        assert ctx.get(dut.event.payload) == RxResult.LENGTH
        assert (ctx.get(dut.frame.cmd), ctx.get(dut.frame.seq)) == (0x11, 0x42)
        assert ctx.get(dut.frame.length) == length
        await ctx.tick()
        ctx.set(dut.rx.valid, 0)
        ctx.set(dut.done, 1)
        await ctx.tick()
        ctx.set(dut.done, 0)
        await ctx.tick()
        assert ctx.get(dut.counters.lost) == 0 and ctx.get(dut.counters.dropped) == 0
        ctx.set(dut.rx.valid, 1)
        for b in frame(0x02, b"ok", seq=0x78):
            ctx.set(dut.rx.payload, b)
            got = await ctx.tick().sample(dut.event.valid, dut.event.payload)
        ctx.set(dut.rx.valid, 0)
        assert got[2:] == (1, RxResult.OK), "the frame after the skipped one is not OK"
        assert (ctx.get(dut.frame.cmd), ctx.get(dut.frame.seq)) == (0x02, 0x78)

    simulate(dut, bench)


def test_receiver_counters_saturate():
    """Between frames, 65,540 cycles each with a framing error and a byte other than
    SYNC: ``framing`` and ``dropped`` stop at 0xFFFF (they never wrap), and a frame after
    that is received as ever."""
    dut = FrameReceiver(max_payload=RX_MAX, timeout_cycles=RX_TIMEOUT)
    n = 0xFFFF + 5

    async def bench(ctx):
        ctx.set(dut.rx.payload, 0x13)
        ctx.set(dut.rx.valid, 1)
        ctx.set(dut.framing_error, 1)
        for _ in range(n):
            await ctx.tick()
        ctx.set(dut.rx.valid, 0)
        ctx.set(dut.framing_error, 0)
        await ctx.tick()
        got = {name: ctx.get(dut.counters[name]) for name in ("framing", "dropped")}
        assert got == {"framing": 0xFFFF, "dropped": 0xFFFF}, f"after {n} of each: {got}"
        ctx.set(dut.rx.valid, 1)
        for b in frame(0x02, seq=0x79):
            ctx.set(dut.rx.payload, b)
            *_, valid, result = await ctx.tick().sample(dut.event.valid, dut.event.payload)
        ctx.set(dut.rx.valid, 0)
        assert (valid, result) == (1, RxResult.OK)

    simulate(dut, bench)


def test_receiver_parameters_are_checked():
    with pytest.raises(ValueError, match="timeout_cycles must be at least 16, not 3"):
        FrameReceiver(max_payload=16, timeout_cycles=3)
    with pytest.raises(TypeError, match="max_payload must be an integer"):
        FrameReceiver(max_payload="16", timeout_cycles=16)


# ---- ReplySender ----------------------------------------------------------------------

IDENTITY = LIMITS.pack()


async def _send_request(ctx, dut, cmd, source, length, small):
    """One reply request to a :class:`ReplySender`, held for one cycle."""
    p = dut.request.payload
    ctx.set(p.cmd, cmd)
    ctx.set(p.source, source)
    ctx.set(p.length, length)
    ctx.set(p.small[0], small[0])
    ctx.set(p.small[1], small[1])
    ctx.set(dut.request.valid, 1)
    await ctx.tick()
    ctx.set(dut.request.valid, 0)


def test_sender_frames_every_source_under_backpressure():
    """Replies from each source, with random backpressure on ``tx``: each is exactly
    ``encode_frame(cmd, payload, seq)`` (CRC-16 checked with binascii too), ``done``
    strobes with its last byte, and nothing is offered between replies."""
    dut = ReplySender(identity=IDENTITY, max_length=40)
    rng = random.Random(2)
    record = [rng.randrange(256) for _ in range(40)]          # the core's results record
    status = dict(model_valid=1, upload_open=0, active=1, last_error=int(Err.SEQUENCE),
                  framing=0x1234, crc=7, timeout=0xFFFF, dropped=300, lost=0xA55A)
    banks = dict(bank_state=(2, 1), bank_crc=(0xDEADBEEF, 0x01234567))
    status_bytes = STATUS.pack(*status.values(), *banks["bank_state"], *banks["bank_crc"])

    async def results_port(ctx):            # data one cycle after the address
        async for _, _, addr, bank in ctx.tick().sample(dut.res_addr, dut.crc_addr):
            ctx.set(dut.res_data, record[addr % len(record)])
            ctx.set(dut.crc_data, banks["bank_crc"][bank])     # the store's CRC memory

    cases = [
        (Cmd.IDENTIFY | REPLY, ReplySource.IDENTITY, len(IDENTITY), (0, 0), IDENTITY),
        (Cmd.STATUS | REPLY, ReplySource.STATUS, STATUS.size, (0, 0), status_bytes),
        (ERROR, ReplySource.SMALL, 2, (int(Err.CRC), 0x21), bytes([int(Err.CRC), 0x21])),
        (Cmd.IMAGE_COMMIT | REPLY, ReplySource.SMALL, 1, (1, 0x12), b"\x01"),
        (Cmd.RUN | REPLY, ReplySource.RESULTS, RESULT_SUMMARY_LEN, (0, 0),
         bytes(record[:RESULT_SUMMARY_LEN])),
        (Cmd.RESULTS | REPLY, ReplySource.RESULTS, 37, (0, 0), bytes(record[:37])),
        (Cmd.FEATURES | REPLY, ReplySource.NONE, 0, (0, 0), b""),
    ]

    async def bench(ctx):
        for name, value in status.items():
            field = dut.status.counters[name] if name in ("framing", "crc", "timeout",
                                                          "dropped", "lost") \
                else dut.status[name]
            ctx.set(field, value)
        ctx.set(dut.status.bank_state[0], banks["bank_state"][0])
        ctx.set(dut.status.bank_state[1], banks["bank_state"][1])
        for n, (cmd, source, length, small, payload) in enumerate(cases):
            seq = rng.randrange(256)
            ctx.set(dut.seq, seq)
            for _ in range(rng.randrange(3)):
                _, _, valid = await ctx.tick().sample(dut.tx.valid)
                assert not valid
            await _send_request(ctx, dut, cmd, source, length, small)
            out = bytearray()
            for _ in range(8 * (length + 10)):
                ctx.set(dut.tx.ready, rng.random() < 0.6)
                _, _, valid, ready, byte, done = await ctx.tick().sample(
                    dut.tx.valid, dut.tx.ready, dut.tx.payload, dut.done)
                if valid and ready:
                    out.append(byte)
                assert done == (valid and ready and len(out) == length + 7), (n, out)
                if done:
                    break
            else:
                raise AssertionError(f"reply {n} not finished: {out.hex()}")
            ctx.set(dut.tx.ready, 0)
            assert bytes(out) == encode_frame(cmd, payload, seq=seq), n
            assert binascii.crc_hqx(bytes(out[1:-2]), 0xFFFF) == int.from_bytes(out[-2:], "big")

    simulate(dut, bench, processes=[results_port])


@pytest.mark.parametrize("length", [0x1C3, 0x81C3])
def test_sender_frames_a_long_reply(length):
    """A reply whose length needs LEN_LO's top bit and LEN_HI (451 bytes), and one past
    32,767 bytes (LEN_HI's top bit), ``tx`` always ready: the short one is exactly
    ``encode_frame``; of the long one (to keep the test quick) the header, the first
    bytes, the CRC-16 over the whole frame and the cycle of ``done`` are checked (START,
    five header bytes, a payload byte every three cycles: FETCH, FETCH2, DATA; two CRC
    bytes)."""
    dut = ReplySender(identity=IDENTITY, max_length=0xFFFF)
    small = (0x5A, 0xC3)
    payload = bytes(small[i % 2] for i in range(length))

    async def bench(ctx):
        ctx.set(dut.seq, 0x42)
        ctx.set(dut.tx.ready, 1)
        await _send_request(ctx, dut, Cmd.RESULTS | REPLY, ReplySource.SMALL, length, small)
        out, cycles = bytearray(), 0
        skip = 3 * (length - 40) if length > 1000 else 0

        async def take(n):
            nonlocal cycles
            for _ in range(n):
                _, _, valid, byte, done = await ctx.tick().sample(
                    dut.tx.valid, dut.tx.payload, dut.done)
                cycles += 1
                if valid:
                    out.append(byte)
                if done:
                    return True
            return False

        await take(5 + 3 * 20)
        seen = len(out)
        if skip:
            await ctx.tick().repeat(skip)           # bytes 20 .. length - 40 unseen
            cycles += skip
        if not await take(3 * 60 + 40 if skip else 4 * length + 40):
            raise AssertionError(f"stuck: the {length}-byte reply not done after {cycles} "
                                 "cycles")
        want = encode_frame(Cmd.RESULTS | REPLY, payload, seq=0x42)
        assert bytes(out[:5]) == want[:5], f"header {bytes(out[:5]).hex()} != {want[:5].hex()}"
        if not skip:
            assert bytes(out) == want
        assert bytes(out[:seen]) == want[:seen] and bytes(out[-2:]) == want[-2:]
        assert cycles == 1 + 5 + 3 * length + 2, cycles         # START, header, data, CRC

    simulate(dut, bench)


# ---- HeaderCheck ----------------------------------------------------------------------

def _header(limits, rng=None, **kw):
    tl = table_len(2) if limits.table else 0
    f = dict(magic=IMAGE_MAGIC, version=IMAGE_VERSION, k=3, t=2, n_layers=2, shift=4,
             flags=1 if limits.table else 0, total=LAYERS_OFFSET + tl + 100, sizes=(8, 4),
             lanes=limits.lanes, packed=0)
    if rng is not None:
        f.update(k=rng.randrange(6), t=rng.randrange(7), n_layers=rng.randrange(5),
                 version=rng.choice((1, 2, 2, 2)), lanes=rng.choice((limits.lanes,) * 3 + (2,)),
                 shift=rng.choice((0, 31, 32)), flags=rng.choice((0, 1, 4)),
                 total=rng.choice((rng.randrange(1 << 32), rng.randrange(2 * limits.bank_bytes
                                                                         + 7000))),
                 sizes=[rng.randrange(18) for _ in range(8)],
                 packed=rng.choice((0, 0, 0, 1, 2, 3, 4, 8, 0x80)))
    f.update(kw)
    sizes = (list(f["sizes"]) + [0] * 8)[:8]
    return IMAGE_HEADER.pack(f["magic"], f["version"], f["k"], f["t"], f["n_layers"],
                             f["shift"], f["flags"], f["total"] & 0xFFFFFFFF, f["lanes"],
                             f["packed"], 0, *sizes)


@pytest.mark.parametrize("limits", [LIMITS, TABLE_LIMITS,
                                    replace(LIMITS, packed=True)],
                         ids=["plain", "table", "packed"])
def test_header_check_is_limits_check_header(limits):
    """Crafted and random headers, a byte at a time with gaps: the verdict two cycles
    after the last byte is Limits.check_header's; an admitted header's K, total length,
    table start and table flags offset are its own.  4-bit layers (``packed``) are
    admitted by a device that takes them, for layers the header has only."""
    dut = HeaderCheck(limits=limits)
    rng = random.Random(3)
    tl = table_len(2) if limits.table else 0
    bank = limits.bank_bytes
    headers = [_header(limits), _header(limits, magic=b"DX"),
               _header(limits, version=IMAGE_VERSION - 1),
               _header(limits, k=0), _header(limits, k=5), _header(limits, t=1),
               _header(limits, n_layers=4), _header(limits, shift=32),
               _header(limits, sizes=(0, 4)), _header(limits, sizes=(17, 4)),
               _header(limits, sizes=(8, 9)), _header(limits, n_layers=1, sizes=(8, 0)),
               _header(limits, total=LAYERS_OFFSET + tl - 1),
               _header(limits, total=LAYERS_OFFSET + tl), _header(limits, total=bank + tl),
               _header(limits, total=bank + tl + 1), _header(limits, total=1 << 24),
               _header(limits, total=0xFFFFFFFF), _header(limits, packed=1),
               _header(limits, packed=3), _header(limits, packed=4),
               _header(limits, packed=0x80), _header(limits, n_layers=3, packed=4)]
    headers += [_header(limits, rng) for _ in range(40)]
    expected = [limits.check_header(ImageHeader.unpack(h)) for h in headers]
    assert None in expected and Err.IMAGE_FORMAT in expected and Err.TOO_LARGE in expected

    async def bench(ctx):
        for h, exp in zip(headers, expected):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for i, b in enumerate(h):
                for _ in range(rng.randrange(2)):
                    await ctx.tick()
                ctx.set(dut.byte.payload.index, i)
                ctx.set(dut.byte.payload.data, b)
                ctx.set(dut.byte.valid, 1)
                await ctx.tick()
                ctx.set(dut.byte.valid, 0)
            await ctx.tick()
            assert ctx.get(dut.verdict) == (0 if exp is None else int(exp)), ImageHeader.unpack(h)
            assert ctx.get(dut.plan.open) == (exp is None)
            if exp is None:
                hd = ImageHeader.unpack(h)
                assert ctx.get(dut.k) == hd.n_features
                assert ctx.get(dut.plan.total_len) == hd.total_len
                assert ctx.get(dut.plan.table_start) == hd.total_len - hd.table_len()
                assert ctx.get(dut.plan.table_flags) == hd.table_len() - \
                    (TABLE_ROWS if limits.table else 0)

    simulate(dut, bench)


# ---- BankedStore ----------------------------------------------------------------------

@pytest.mark.parametrize("spram,lanes", [(False, 1), (False, 4), (True, 1), (True, 2)],
                         ids=["memory", "memory-4", "spram", "spram-2"])
def test_banked_store_against_a_list_model(spram, lanes):
    """Random byte writes and word reads, both banks (the same offsets in each), against
    two Python lists (word ``w`` = bytes ``lanes w .. lanes w + lanes - 1``, little
    end first); with SPRAM a read never shares a cycle with a write.  In block RAM a
    write is registered: the list takes it a cycle late, after the next cycle's read
    (which must still see the old byte)."""
    nb = 300
    dut = BankedStore(bank_bytes=nb, spram=spram, lanes=lanes)
    rng = random.Random(4)
    model = [[0] * (nb + lanes), [0] * (nb + lanes)]

    def word(bank, w):
        return int.from_bytes(bytes(model[bank][lanes * w:lanes * w + lanes]), "little")

    pending = None                  # block RAM: the write that lands in the next cycle

    def settle(write=None):
        """A cycle has passed: the write that lands now goes into the lists (block RAM:
        the one registered a cycle earlier; SPRAM: this cycle's own)."""
        nonlocal pending
        landing, pending = (write, None) if spram else (pending, write)
        if landing:
            b, o, d = landing
            model[b][o] = d

    async def bench(ctx):
        for _ in range(600):
            bank, off = rng.randrange(2), rng.choice([0, 1, nb - 1, rng.randrange(nb)])
            if rng.random() < 0.5:
                data = rng.randrange(256)
                ctx.set(dut.w_bank, bank)
                ctx.set(dut.w_offset, off)
                ctx.set(dut.w_data, data)
                ctx.set(dut.w_en, 1)
                if not spram:           # a read of the other port alongside
                    ctx.set(dut.r_bank, bank ^ 1)
                    ctx.set(dut.r_word, off // lanes)
                await ctx.tick()
                ctx.set(dut.w_en, 0)
                if not spram:
                    assert ctx.get(dut.r_data) == word(bank ^ 1, off // lanes)
                settle((bank, off, data))
            else:
                ctx.set(dut.r_bank, bank)
                ctx.set(dut.r_word, off // lanes)
                await ctx.tick()
                assert ctx.get(dut.r_data) == word(bank, off // lanes), (bank, off)
                settle()

    simulate(dut, bench)


class _Part:
    device = "iCE40UP5K"


def test_banked_store_uses_one_spram_on_an_ultraplus_part():
    assert "SB_SPRAM256KA" in rtlil.convert(BankedStore(bank_bytes=300, spram=True),
                                            platform=_Part(), ports=None)
    assert "SB_SPRAM256KA" not in rtlil.convert(BankedStore(bank_bytes=300, spram=False),
                                                platform=_Part(), ports=None)
    with pytest.raises(ValueError, match="two banks of 20000 bytes exceed one SPRAM"):
        BankedStore(bank_bytes=20000, spram=True)


# ---- ModelStore -----------------------------------------------------------------------

class _StoreBench:
    """The model store's surroundings: the receiver's payload buffer, a core whose
    ``ready`` drops at random (a store in SPRAM waits for it), a log of table writes."""

    def __init__(self, dut, rng, *, busy_core):
        self.dut, self.rng, self.busy_core = dut, rng, busy_core
        self.buf = b""
        self.table_writes = []

    async def payload_port(self, ctx):
        async for _, _, addr in ctx.tick().sample(self.dut.pay_addr):
            ctx.set(self.dut.pay_data, self.buf[addr] if addr < len(self.buf) else 0)

    async def core(self, ctx):
        async for _, _, en, is_flag, addr, data in ctx.tick().sample(
                self.dut.tw_en, self.dut.tw_is_flag, self.dut.tw_addr, self.dut.tw_data):
            ctx.set(self.dut.core_ready, not self.busy_core or self.rng.random() < 0.5)
            if en:
                self.table_writes.append((is_flag, addr, data))

    async def op(self, ctx, op, payload):
        """Run one operation -> (its StoreError, the header bytes it sent on)."""
        d = self.dut
        self.buf = bytes(payload)
        ctx.set(d.length, len(payload))
        ctx.set(d.op.payload, op)
        ctx.set(d.op.valid, 1)
        await ctx.tick()
        ctx.set(d.op.valid, 0)
        header = []
        for _ in range(8 * len(payload) + 40):
            _, _, hv, hi, hd, rv, rp = await ctx.tick().sample(
                d.header.valid, d.header.payload.index, d.header.payload.data,
                d.result.valid, d.result.payload)
            if hv:
                header.append((hi, hd))
            if rv:
                return rp, header
        raise AssertionError(f"{op} did not finish")

    async def open(self, ctx, img, *, admit=True):
        hd = ImageHeader.unpack(img)
        p = self.dut.upload.payload
        ctx.set(p.open, admit)
        ctx.set(p.total_len, hd.total_len)
        ctx.set(p.table_start, hd.model_len())
        ctx.set(p.table_flags, hd.table_len() - TABLE_ROWS if hd.has_table else 0)
        ctx.set(self.dut.upload.valid, 1)
        await ctx.tick()
        ctx.set(self.dut.upload.valid, 0)
        assert ctx.get(self.dut.upload_open) == admit

    async def data(self, ctx, img, start, chunk):
        return [await self.op(ctx, StoreOp.DATA, struct.pack("<I", off) + img[off:off + chunk])
                for off in range(start, len(img), chunk)]

    async def read_bank(self, ctx, n):
        """The active bank's first ``n`` bytes, word by word."""
        lanes = self.dut.limits.lanes
        out = bytearray()
        for w in range(-(-n // lanes)):
            ctx.set(self.dut.store_addr, w)
            await ctx.tick()
            out += ctx.get(self.dut.store_data).to_bytes(lanes, "little")
        return bytes(out[:n])

    async def header(self, ctx, img, bank):
        """IMAGE_BEGIN's operation: the header, then the bank byte."""
        return await self.op(ctx, StoreOp.HEADER, img[:IMAGE_HEADER_LEN] + bytes([bank]))


@pytest.mark.parametrize("store_ram", ["memory", "spram"])
def test_model_store_upload_commit_and_errors(store_ram):
    """Upload an image into the shadow bank (its header also streamed out for the
    admission check) and commit it: the active bank flips and holds the image; a wrong
    offset (SEQUENCE), bytes past the end (OVERFLOW), a commit before the last byte
    (INCOMPLETE, upload closed) and a wrong CRC-32 (IMAGE_CRC, the bank unflipped) fail;
    an encoder block lands in the active bank, features in the feature buffer."""
    dut = ModelStore(limits=LIMITS, store_ram=store_ram)
    rng = random.Random(5)
    env = _StoreBench(dut, rng, busy_core=store_ram == "spram")
    img, img2 = image(1), image(2, sizes=(3, 2))
    chunk = LIMITS.max_payload - 4

    async def bench(ctx):
        assert ctx.get(dut.active) == 0 and ctx.get(dut.upload_open) == 0

        def states():
            return tuple(ctx.get(dut.bank_state[b]) for b in (0, 1))
        # a commit before the last byte: INCOMPLETE, and the upload is closed
        assert (await env.header(ctx, img, 0))[0] == StoreError.NONE
        await env.open(ctx, img)
        assert states() == (BANK_UPLOADING, BANK_EMPTY) and ctx.get(dut.tw_bank) == 0
        assert (await env.op(ctx, StoreOp.COMMIT, struct.pack("<I", zlib.crc32(img))))[0] \
            == StoreError.INCOMPLETE
        assert ctx.get(dut.upload_open) == 0 and ctx.get(dut.active) == 0
        assert states() == (BANK_EMPTY, BANK_EMPTY) and not ctx.get(dut.model_valid)
        # the whole image into bank 1, with the faults of IMAGE_DATA on the way
        err, header = await env.header(ctx, img, 1)
        assert err == StoreError.NONE and header == list(enumerate(img[:IMAGE_HEADER_LEN]))
        await env.open(ctx, img)
        bad = struct.pack("<I", IMAGE_HEADER_LEN + 1) + img[IMAGE_HEADER_LEN:][:8]
        assert (await env.op(ctx, StoreOp.DATA, bad))[0] == StoreError.SEQUENCE
        offs = list(range(IMAGE_HEADER_LEN, len(img), chunk))
        for off in offs[:-1]:
            assert (await env.op(ctx, StoreOp.DATA, struct.pack("<I", off) +
                                 img[off:off + chunk]))[0] == StoreError.NONE
        last = struct.pack("<I", offs[-1]) + img[offs[-1]:]
        assert (await env.op(ctx, StoreOp.DATA, last + b"\x00"))[0] == StoreError.OVERFLOW
        assert (await env.op(ctx, StoreOp.DATA, last))[0] == StoreError.NONE
        assert (await env.op(ctx, StoreOp.COMMIT, struct.pack("<I", zlib.crc32(img))))[0] \
            == StoreError.NONE
        assert ctx.get(dut.active) == 1 and ctx.get(dut.upload_open) == 0
        assert states() == (BANK_EMPTY, BANK_VALID) and ctx.get(dut.model_valid)
        ctx.set(dut.crc_addr, 1)
        await ctx.tick()
        assert ctx.get(dut.crc_data) == zlib.crc32(img) and ctx.get(dut.k) == img[3]
        assert await env.read_bank(ctx, len(img)) == img
        # the bank being served, and banks that do not exist, are refused
        assert (await env.header(ctx, img2, 1))[0] == StoreError.BANK_SERVED
        assert (await env.header(ctx, img2, 2))[0] == StoreError.NO_BANK
        assert (await env.op(ctx, StoreOp.SELECT, b"\x00"))[0] == StoreError.BANK_INVALID
        assert (await env.op(ctx, StoreOp.SELECT, b"\x02"))[0] == StoreError.NO_BANK
        assert states() == (BANK_EMPTY, BANK_VALID) and ctx.get(dut.active) == 1
        # a second image into bank 0 with a wrong CRC-32: refused, the first stays active
        await env.header(ctx, img2, 0)
        await env.open(ctx, img2)
        assert all(e == StoreError.NONE
                   for e, _ in await env.data(ctx, img2, IMAGE_HEADER_LEN, chunk))
        wrong = struct.pack("<I", zlib.crc32(img2) ^ 0x100)
        assert (await env.op(ctx, StoreOp.COMMIT, wrong))[0] == StoreError.IMAGE_CRC
        assert ctx.get(dut.active) == 1 and await env.read_bank(ctx, len(img)) == img
        assert states() == (BANK_EMPTY, BANK_VALID)
        assert (await env.op(ctx, StoreOp.SELECT, b"\x00"))[0] == StoreError.BANK_INVALID
        # ... and again, good: both resident, SELECT switches between them
        await env.header(ctx, img2, 0)
        await env.open(ctx, img2)
        await env.data(ctx, img2, IMAGE_HEADER_LEN, chunk)
        assert (await env.op(ctx, StoreOp.COMMIT, struct.pack("<I", zlib.crc32(img2))))[0] \
            == StoreError.NONE
        assert states() == (BANK_VALID, BANK_VALID) and ctx.get(dut.active) == 0
        assert await env.read_bank(ctx, len(img2)) == img2 and ctx.get(dut.k) == img2[3]
        for bank, want in ((1, img), (0, img2), (1, img)):
            assert (await env.op(ctx, StoreOp.SELECT, bytes([bank])))[0] == StoreError.NONE
            assert ctx.get(dut.active) == bank and await env.read_bank(ctx, len(want)) == want
        # the encoder block into the active bank, features into their buffer
        block = bytes(rng.randrange(256) for _ in range(ENCODER_LEN))
        assert (await env.op(ctx, StoreOp.ENCODER, block))[0] == StoreError.NONE
        changed = img[:ENCODER_OFFSET] + block + img[ENCODER_OFFSET + ENCODER_LEN:]
        assert await env.read_bank(ctx, len(img)) == changed
        feats = bytes(rng.randrange(256) for _ in range(LIMITS.max_features))
        assert (await env.op(ctx, StoreOp.FEATURES, feats))[0] == StoreError.NONE
        for i, b in enumerate(feats):
            ctx.set(dut.feat_addr, i)
            await ctx.tick()
            assert ctx.get(dut.feat_data) == b

    simulate(dut, bench, processes=[env.payload_port, env.core])


def test_model_store_sends_the_table_block_to_the_core():
    """A table device: the bytes before the table block go to the store, the block to
    the core's shadow table, each sample word (4 bytes, little-endian) as one write at
    its word index, then each row's flag (bit 0 of its byte) at the row."""
    dut = ModelStore(limits=TABLE_LIMITS, store_ram="spram")
    env = _StoreBench(dut, random.Random(6), busy_core=True)
    img = image(3, table=True)
    hd = ImageHeader.unpack(img)
    block = img[hd.model_len():]

    async def bench(ctx):
        await env.header(ctx, img, 0)
        await env.open(ctx, img)
        assert all(e == StoreError.NONE for e, _ in
                   await env.data(ctx, img, IMAGE_HEADER_LEN, TABLE_LIMITS.max_payload - 4))
        assert (await env.op(ctx, StoreOp.COMMIT, struct.pack("<I", zlib.crc32(img))))[0] \
            == StoreError.NONE
        await ctx.tick().repeat(2)
        assert await env.read_bank(ctx, hd.model_len()) == img[:hd.model_len()]

    simulate(dut, bench, processes=[env.payload_port, env.core])
    n = len(block) - TABLE_ROWS
    words = [(0, w, v) for w, (v,) in enumerate(struct.iter_unpack("<I", block[:n]))]
    flags = [(1, r, b & 1) for r, b in enumerate(block[n:])]
    assert env.table_writes == words + flags


def test_model_store_parameters_are_checked():
    with pytest.raises(ValueError, match="store_ram must be one of 'auto', 'memory', 'spram'"):
        ModelStore(limits=LIMITS, store_ram="flash")
    with pytest.raises(ValueError, match="two banks of 20000 bytes exceed one SPRAM"):
        ModelStore(limits=replace(LIMITS, bank_bytes=20000), store_ram="spram")
    with pytest.raises(TypeError, match="limits must be a Limits"):
        ModelStore(limits=None)


# ---- Dispatcher -----------------------------------------------------------------------

class _DispatchBench:
    """The dispatcher's surroundings: the receiver (frames are posted by ``frame``), a
    store that answers each operation after a few cycles (with ``self.store_error``, and
    for IMAGE_BEGIN streaming ``self.header`` to the admission check), a core that is
    busy for a while after each ``load`` / ``start``."""

    def __init__(self, dut, rng):
        self.dut, self.rng = dut, rng
        self.store_error = StoreError.NONE
        self.header = b""
        self.ops, self.uploads, self.loads, self.starts = [], [], 0, 0
        self.selects = []           # the select strobe of each load (a SELECT's: 1)
        self.res_len = 37
        self.brief_len = 20

    async def store(self, ctx):
        d = self.dut
        while True:         # (a background process: it ends with the testbench)
            _, _, valid, op, up, up_open, up_total = await ctx.tick().sample(
                d.store_op.valid, d.store_op.payload, d.upload.valid, d.upload.payload.open,
                d.upload.payload.total_len)
            if up:
                self.uploads.append((up_open, up_total))
            if not valid:
                continue
            self.ops.append(op)
            if op == StoreOp.HEADER:
                for i, b in enumerate(self.header):
                    ctx.set(d.header.payload.index, i)
                    ctx.set(d.header.payload.data, b)
                    ctx.set(d.header.valid, 1)
                    await ctx.tick()
                    ctx.set(d.header.valid, 0)
                    await ctx.tick()
            await ctx.tick().repeat(self.rng.randrange(1, 4))
            ctx.set(d.store_result.payload, self.store_error)
            ctx.set(d.store_result.valid, 1)
            await ctx.tick()
            ctx.set(d.store_result.valid, 0)

    async def core(self, ctx):
        d = self.dut
        ctx.set(d.res_len, self.res_len)
        ctx.set(d.brief_len, self.brief_len)
        busy = run = 0
        async for _, _, ready, load, select, start in ctx.tick().sample(
                d.ready, d.load, d.select, d.start):
            assert ready or not (load or start), "load / start while not ready"
            if load:
                self.loads += 1
                self.selects.append(select)
                busy = 3
            if start:
                self.starts += 1
                busy, run = 6, 5
            done = False
            if run:
                run -= 1
                done = run == 0
            busy = max(0, busy - 1)
            ctx.set(d.ready, busy == 0)
            ctx.set(d.done, done)

    async def frame(self, ctx, cmd, length, rx=RxResult.OK, seq=None):
        """Post one frame -> its reply request (cmd, source, length, small)."""
        d = self.dut
        seq = self.rng.randrange(256) if seq is None else seq
        ctx.set(d.frame.cmd, cmd)
        ctx.set(d.frame.seq, seq)
        ctx.set(d.frame.length, length)
        ctx.set(d.event.payload, rx)
        ctx.set(d.event.valid, 1)
        replies = []
        for i in range(200):
            _, _, valid, p = await ctx.tick().sample(d.reply.valid, d.reply.payload)
            ctx.set(d.event.valid, 0)
            if valid:
                replies.append((p.cmd, p.source, p.length, p.small[0], p.small[1]))
            if replies and i > 60:
                break
        assert len(replies) == 1, (cmd, replies)
        cmd_, source, n, s0, s1 = replies[0]
        small = (s0, s1)[:n] if source == ReplySource.SMALL else ()
        return cmd_, source, n, small


@pytest.mark.parametrize("limits", [LIMITS, TABLE_LIMITS], ids=["plain", "table"])
def test_dispatcher_rules_in_order(limits):
    """Every rule of the dispatcher in the order of its docstring, each reply request
    against the protocol's: the frame's own error, an unknown command, every command's
    length rule (wire.payload_length_ok), the state checks before a model, admission,
    the store's outcomes, the commit (load before the reply, the new bank in it),
    FEATURES against K, RUN (start, done), RESULTS, WRITE_ENCODER (load, results
    invalid; a table device refuses it); last_error follows every error."""
    dut = Dispatcher(limits=limits)
    rng = random.Random(7)
    env = _DispatchBench(dut, rng)
    ident = len(limits.pack())
    img = image(4, table=limits.table)
    hd = ImageHeader.unpack(img)

    def ok(cmd, source=ReplySource.NONE, n=0, small=()):
        return (cmd | REPLY, source, n, small)

    def err(code, cmd):
        return (ERROR, ReplySource.SMALL, 2, (int(code), int(cmd)))

    async def expect(ctx, cmd, length, want, **kw):
        got = await env.frame(ctx, cmd, length, **kw)
        assert got == want, (cmd, length, got, want)
        if want[0] == ERROR:
            assert ctx.get(dut.last_error) == want[3][0]

    async def bench(ctx):
        for rx in (RxResult.CRC, RxResult.LENGTH, RxResult.TIMEOUT, RxResult.FRAMING):
            await expect(ctx, 0x21, 0, err(Err(rx.value), 0x21), rx=rx)
        await expect(ctx, 0x55, 2, err(Err.UNKNOWN_CMD, 0x55))
        before = {Cmd.IDENTIFY: ok(Cmd.IDENTIFY, ReplySource.IDENTITY, ident),
                  Cmd.STATUS: ok(Cmd.STATUS, ReplySource.STATUS, STATUS.size),
                  Cmd.WRITE_ENCODER: err(Err.UNSUPPORTED if limits.table else Err.NO_MODEL,
                                         Cmd.WRITE_ENCODER),
                  Cmd.IMAGE_DATA: err(Err.NO_UPLOAD, Cmd.IMAGE_DATA),
                  Cmd.IMAGE_COMMIT: err(Err.NO_UPLOAD, Cmd.IMAGE_COMMIT),
                  Cmd.FEATURES: err(Err.NO_MODEL, Cmd.FEATURES),
                  Cmd.STREAM: err(Err.NO_MODEL, Cmd.STREAM),
                  Cmd.CLASSIFY: err(Err.NO_MODEL, Cmd.CLASSIFY),
                  Cmd.RUN: err(Err.NO_MODEL, Cmd.RUN),
                  Cmd.RESULTS: err(Err.NO_RESULT, Cmd.RESULTS)}
        for cmd in Cmd:
            for n in sorted({0, 1, 3, 4, 5, 31, 32, 33, 79, 80, 81, 96}):
                if not payload_length_ok(cmd, n):
                    await expect(ctx, cmd, n, err(Err.LENGTH, cmd))
                elif cmd not in (Cmd.IMAGE_BEGIN, Cmd.SELECT):
                    await expect(ctx, cmd, n, before[cmd])
        assert env.ops == []                    # nothing reached the store
        # IMAGE_BEGIN: the header goes to the store and the admission check
        env.header = _header(limits, magic=b"DX")
        await expect(ctx, Cmd.IMAGE_BEGIN, 33, err(Err.IMAGE_FORMAT, Cmd.IMAGE_BEGIN))
        env.header = img[:IMAGE_HEADER_LEN]
        await expect(ctx, Cmd.IMAGE_BEGIN, 33, ok(Cmd.IMAGE_BEGIN))
        assert env.uploads == [(0, env.uploads[0][1]), (1, hd.total_len)]
        for bad in (StoreError.BANK_SERVED, StoreError.NO_BANK):    # the store's bank checks
            env.store_error = bad
            await expect(ctx, Cmd.IMAGE_BEGIN, 33, err(Err(bad.value), Cmd.IMAGE_BEGIN))
        assert len(env.uploads) == 2            # no verdict after a refused bank
        env.store_error = StoreError.BANK_INVALID
        await expect(ctx, Cmd.SELECT, 1, err(Err.BANK_INVALID, Cmd.SELECT))
        assert env.loads == 0
        ctx.set(dut.upload_open, 1)                                # (the store's state)
        env.store_error = StoreError.SEQUENCE
        await expect(ctx, Cmd.IMAGE_DATA, 9, err(Err.SEQUENCE, Cmd.IMAGE_DATA))
        env.store_error = StoreError.NONE
        await expect(ctx, Cmd.IMAGE_DATA, 9, ok(Cmd.IMAGE_DATA))
        env.store_error = StoreError.IMAGE_CRC
        await expect(ctx, Cmd.IMAGE_COMMIT, 4, err(Err.IMAGE_CRC, Cmd.IMAGE_COMMIT))
        assert env.loads == 0
        env.store_error = StoreError.NONE
        ctx.set(dut.active, 1)                                     # (the store serves it)
        await expect(ctx, Cmd.IMAGE_COMMIT, 4, ok(Cmd.IMAGE_COMMIT, ReplySource.SMALL, 1, (1,)))
        assert env.loads == 1
        ctx.set(dut.upload_open, 0)
        ctx.set(dut.model_valid, 1)                                # (the store's)
        ctx.set(dut.k, hd.n_features)
        # with a model: FEATURES against K, RUN, RESULTS
        k = hd.n_features
        await expect(ctx, Cmd.FEATURES, k + 1, err(Err.FEATURES, Cmd.FEATURES))
        await expect(ctx, Cmd.FEATURES, k, ok(Cmd.FEATURES))
        await expect(ctx, Cmd.RESULTS, 0, err(Err.NO_RESULT, Cmd.RESULTS))
        await expect(ctx, Cmd.RUN, 0, ok(Cmd.RUN, ReplySource.RESULTS, RESULT_SUMMARY_LEN))
        assert env.starts == 1
        await expect(ctx, Cmd.RESULTS, 0, ok(Cmd.RESULTS, ReplySource.RESULTS, env.res_len))
        # STREAM: FEATURES' checks and store op, then RUN's start, the whole record back
        await expect(ctx, Cmd.STREAM, k - 1, err(Err.FEATURES, Cmd.STREAM))
        await expect(ctx, Cmd.STREAM, k, ok(Cmd.STREAM, ReplySource.RESULTS, env.res_len))
        assert env.starts == 2
        # CLASSIFY: as STREAM, the brief record's length back
        await expect(ctx, Cmd.CLASSIFY, k + 1, err(Err.FEATURES, Cmd.CLASSIFY))
        await expect(ctx, Cmd.CLASSIFY, k, ok(Cmd.CLASSIFY, ReplySource.RESULTS,
                                             env.brief_len))
        assert env.starts == 3
        # SELECT: the store serves the bank, the core loads it, results are gone
        ctx.set(dut.active, 0)
        await expect(ctx, Cmd.SELECT, 1, ok(Cmd.SELECT, ReplySource.SMALL, 1, (0,)))
        assert env.loads == 2
        await expect(ctx, Cmd.RESULTS, 0, err(Err.NO_RESULT, Cmd.RESULTS))
        if limits.table:
            await expect(ctx, Cmd.WRITE_ENCODER, 80, err(Err.UNSUPPORTED, Cmd.WRITE_ENCODER))
        else:
            await expect(ctx, Cmd.RUN, 0, ok(Cmd.RUN, ReplySource.RESULTS, RESULT_SUMMARY_LEN))
            await expect(ctx, Cmd.WRITE_ENCODER, 80, ok(Cmd.WRITE_ENCODER))
            assert env.loads == 3
            await expect(ctx, Cmd.RESULTS, 0, err(Err.NO_RESULT, Cmd.RESULTS))
        # a commit's and an encoder write's load reload everything, a SELECT's keeps the
        # resident biases (the core's loader writes none)
        assert env.selects == [0, 1] + ([] if limits.table else [0])
        assert env.ops == [StoreOp.HEADER, StoreOp.HEADER, StoreOp.HEADER, StoreOp.HEADER,
                           StoreOp.SELECT, StoreOp.DATA, StoreOp.DATA,
                           StoreOp.COMMIT, StoreOp.COMMIT, StoreOp.FEATURES,
                           StoreOp.FEATURES, StoreOp.FEATURES, StoreOp.SELECT] + \
            ([] if limits.table else [StoreOp.ENCODER])

    simulate(dut, bench, processes=[env.store, env.core])


# ---- StubCore -------------------------------------------------------------------------

@pytest.mark.parametrize("lanes", [1, 4])
def test_stub_core_is_stub_result(lanes):
    """The stub core reads K and layer 1's n_out from the header, runs, and its record
    equals the Python model's for random codes (random bytes past the image: a wrong
    address does not read zeros); the store in words of ``lanes`` bytes."""
    img = relayout(image(5, sizes=(6, 3), k=4), lanes=lanes)
    dut = StubCore(store_addr_width=16, feat_addr_width=2, lanes=lanes)
    rng = random.Random(8)
    codes = [rng.randrange(-128, 128) for _ in range(4)]
    store = img + bytes(rng.randrange(256) for _ in range((lanes << 16) - len(img)))

    async def memories(ctx):                # both read ports: data one cycle later
        async for _, _, sa, fa in ctx.tick().sample(dut.bus.store_addr, dut.bus.feat_addr):
            ctx.set(dut.bus.store_data, int.from_bytes(store[lanes * sa:lanes * sa + lanes],
                                                       "little"))
            ctx.set(dut.bus.feat_data, codes[fa] & 0xFF)

    async def bench(ctx):
        assert ctx.get(dut.bus.ready)
        ctx.set(dut.bus.start, 1)
        await ctx.tick()
        ctx.set(dut.bus.start, 0)
        cycles = 0
        while True:
            cycles += 1
            assert cycles < 200, "the stub core did not finish"
            _, _, done = await ctx.tick().sample(dut.bus.done)
            if done:
                break
        assert cycles == 2 * 4 + 6 and ctx.get(dut.bus.ready)
        want = stub_result(img, codes)
        assert ctx.get(dut.bus.res_len) == len(want)
        for a in range(len(want)):
            ctx.set(dut.bus.res_addr, a)
            assert ctx.get(dut.bus.res_data) == want[a], a

    simulate(dut, bench, processes=[memories])
