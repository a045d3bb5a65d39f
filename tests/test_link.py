"""CommandEngine gateware (with the stub core) against the Python DeviceModel, byte for
byte, over every fault of the issue, with random stalls on both streams."""

import random
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator
from link_harness import TIMEOUT, Script, check_script

from dynalign.hw.engine import CommandEngine, StubCore
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    CORE_LIF_TABLE,
    ENCODER_LEN,
    ENCODER_OFFSET,
    IMAGE_HEADER_LEN,
    TABLE_ROWS,
    Cmd,
    Err,
    FrameDecoder,
    Limits,
    build_image,
    encode_frame,
    image_requests,
    parse_image,
)

LIMITS = Limits(max_features=4, max_samples=5, max_sizes=(16, 8, 4), max_payload=96)


def small_image(seed=0, *, sizes=(8, 4), k=3):
    net = random_network(np.random.default_rng(seed), [3 * k, *sizes])
    return build_image(network=net, encoder=EncoderConfig(delta=2.0), n_features=k)


def upload_events(image, *, bank=0):
    return [("bytes", encode_frame(c, p, seq=i & 0xFF))
            for i, (c, p) in enumerate(image_requests(image, max_payload=LIMITS.max_payload,
                                                      bank=bank))]


def classify_events(codes, seq=0x30):
    return [("bytes", encode_frame(Cmd.FEATURES, bytes(c & 0xFF for c in codes), seq=seq)),
            ("bytes", encode_frame(Cmd.RUN, seq=seq + 1)),
            ("bytes", encode_frame(Cmd.RESULTS, seq=seq + 2))]


def script_of(events, *, limits=LIMITS) -> Script:
    """The events (``("bytes", data)``, ``("idle", cycles)``, ``("framing",)``) as a line
    script, with the device model's reply to each step."""
    sc = Script(limits=limits, timeout=TIMEOUT)
    for ev in events:
        if ev[0] == "bytes":
            sc.send(ev[1], f"bytes {ev[1][:8].hex()}..")
        elif ev[0] == "idle":
            sc.gap(ev[1])
        elif ev[0] == "framing":
            sc.framing()
    return sc


def check(events, *, limits=LIMITS, seed=0, **kw):
    frames, _ = check_script(script_of(events, limits=limits), seed=seed, **kw)
    return frames


BASE = upload_events(small_image()) + classify_events([5, -7, 100])


def test_identify_status_and_no_model_errors():
    frames = check([("bytes", encode_frame(Cmd.IDENTIFY, seq=1)),
                    ("bytes", encode_frame(Cmd.STATUS, seq=2)),
                    ("bytes", encode_frame(Cmd.RUN, seq=3)),
                    ("bytes", encode_frame(Cmd.RESULTS, seq=4)),
                    ("bytes", encode_frame(Cmd.IMAGE_DATA, bytes(8), seq=5)),
                    ("bytes", encode_frame(Cmd.WRITE_ENCODER, bytes(80), seq=6))])
    assert Limits.unpack(frames[0].payload)[0] == LIMITS
    assert [f.error for f in frames[2:]] == [Err.NO_MODEL, Err.NO_RESULT, Err.NO_UPLOAD,
                                            Err.NO_MODEL]


@pytest.mark.parametrize("store_ram", ["memory", "spram"])
def test_upload_run_results_and_switch(store_ram):
    """Both stores: byte-wide block RAM, and the single-port 16-bit SPRAM (its model)
    written a byte at a time through the nibble masks."""
    frames = check(BASE + upload_events(small_image(seed=3), bank=1)
                   + [("bytes", encode_frame(Cmd.RESULTS, seq=0x66))]
                   + classify_events([5, -7, 100])
                   + [("bytes", encode_frame(Cmd.STATUS))], seed=1, store_ram=store_ram)
    # right after a new commit there is no result (not the old model's record)
    assert [(f.seq, f.error) for f in frames if f.is_error] == [(0x66, Err.NO_RESULT)]


@pytest.mark.parametrize("store_ram", ["memory", "spram"])
def test_two_banks_select_and_an_interrupted_upload(store_ram):
    """Two resident models (stub core): SELECT switches between them (results of each
    as before), the bank served and banks 2.. are refused, an interrupted upload into
    the idle bank leaves it empty and unselectable while the other serves; STATUS (each
    bank's state and CRC-32) after every step, the gateware byte for byte the model's."""
    a, b = small_image(seed=1), small_image(seed=2)
    c = image_requests(small_image(seed=4), max_payload=LIMITS.max_payload, bank=0)
    status = [("bytes", encode_frame(Cmd.STATUS, seq=0x70))]

    def select(bank, seq):
        return [("bytes", encode_frame(Cmd.SELECT, bytes([bank]), seq=seq))]
    events = (upload_events(a) + classify_events([5, -7, 100]) + status
              + select(1, 0x71)                                       # BANK_INVALID
              + upload_events(b, bank=1) + classify_events([5, -7, 100]) + status
              + [("bytes", encode_frame(Cmd.IMAGE_BEGIN, a[:IMAGE_HEADER_LEN] + b"\x01"))]
              + [("bytes", encode_frame(Cmd.IMAGE_BEGIN, a[:IMAGE_HEADER_LEN] + b"\x02"))]
              + select(0, 0x72) + classify_events([5, -7, 100]) + select(0, 0x73)
              + select(1, 0x74) + classify_events([5, -7, 100]) + select(3, 0x75)
              + select(0, 0x76) + status
              + [("bytes", encode_frame(cmd, p)) for cmd, p in c[:1]]   # BANK_SERVED (0)
              + select(1, 0x77)
              + [("bytes", encode_frame(cmd, p)) for cmd, p in c[:3]] + status
              + select(0, 0x78) + classify_events([5, -7, 100])
              + [("bytes", encode_frame(*c[-1]))] + status + select(0, 0x79)
              + classify_events([5, -7, 100]))
    frames = check(events, seed=3, store_ram=store_ram)
    errors = [f.error for f in frames if f.is_error]
    assert errors == [Err.BANK_INVALID, Err.BANK_SERVED, Err.NO_BANK, Err.NO_BANK,
                      Err.BANK_SERVED, Err.BANK_INVALID, Err.INCOMPLETE, Err.BANK_INVALID]
    results = [f.payload for f in frames if f.cmd == Cmd.RESULTS | 0x80]
    assert results[0] == results[2] != results[1] == results[3] == results[4] == results[5]


def _fault_events(fault):
    other = image_requests(small_image(seed=5), max_payload=LIMITS.max_payload, bank=1)
    if fault == "flipped_bit":
        f = bytearray(encode_frame(Cmd.FEATURES, b"\x01\x02\x03", seq=2))
        f[6] ^= 0x10
        return [("bytes", bytes(f))]
    if fault == "wrong_crc":
        f = bytearray(encode_frame(Cmd.RUN, seq=2))
        f[-1] ^= 0xFF
        return [("bytes", bytes(f))]
    if fault == "truncated":
        return [("bytes", encode_frame(Cmd.FEATURES, b"\x01\x02\x03", seq=2)[:-3]),
                ("idle", TIMEOUT + 10)]
    if fault == "unknown_cmd":
        return [("bytes", encode_frame(0x55, b"xy"))]
    if fault == "wrong_length":
        return [("bytes", encode_frame(Cmd.IMAGE_COMMIT, bytes(3)))]
    if fault == "too_long":
        return [("bytes", encode_frame(Cmd.FEATURES, bytes(LIMITS.max_payload + 1)))]
    if fault == "garbage":
        return [("bytes", bytes([0x00, 0x13, 0xFF, 0x37]))]
    if fault == "garbage_with_sync":
        return [("bytes", bytes([0x00, 0xA5, 0x13, 0x37])), ("idle", TIMEOUT + 10)]
    if fault == "framing":
        return [("bytes", encode_frame(Cmd.RUN)[:3]), ("framing",)]
    if fault == "too_large_topology":
        big = small_image(sizes=(17, 4))
        return [("bytes", encode_frame(Cmd.IMAGE_BEGIN, big[:IMAGE_HEADER_LEN] + b"\x01"))]
    if fault == "bad_image_crc":
        return [("bytes", encode_frame(c, p)) for c, p in other[:-1]] + \
            [("bytes", encode_frame(Cmd.IMAGE_COMMIT, struct.pack("<I", 1234)))]
    if fault == "incomplete_commit":
        return [("bytes", encode_frame(c, p)) for c, p in other[:-2] + other[-1:]]
    if fault == "out_of_order_chunk":
        return [("bytes", encode_frame(c, p)) for c, p in other[:-2] + [other[-3]]]
    if fault == "overflow_chunk":
        c, p = other[-2]
        return [("bytes", encode_frame(c, p)) for c, p in other[:-2]] + \
            [("bytes", encode_frame(c, p + b"\x00"))]
    if fault == "wrong_feature_count":
        return [("bytes", encode_frame(Cmd.FEATURES, b"\x01\x02"))]
    raise AssertionError(fault)


FAULTS = ["flipped_bit", "wrong_crc", "truncated", "unknown_cmd", "wrong_length",
          "too_long", "garbage", "garbage_with_sync", "framing", "too_large_topology",
          "bad_image_crc", "incomplete_commit", "out_of_order_chunk", "overflow_chunk",
          "wrong_feature_count"]


def test_all_faults_in_one_session():
    """Every fault in turn, each followed by a good command; the model committed first
    still classifies identically at the end."""
    events = list(BASE)
    for i, fault in enumerate(FAULTS):
        events += _fault_events(fault) + [("bytes", encode_frame(Cmd.STATUS, seq=0x80 + i))]
    events += classify_events([5, -7, 100])
    frames = check(events, seed=2)
    results = [f.payload for f in frames if f.cmd == Cmd.RESULTS | 0x80]
    assert len(results) == 2 and results[0] == results[1]
    status_seqs = [f.seq for f in frames if f.cmd == Cmd.STATUS | 0x80]
    assert status_seqs == [0x80 + i for i in range(len(FAULTS))]
    assert sum(f.is_error for f in frames) >= len(FAULTS) - 1    # garbage alone: no reply


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_then_good_command_and_same_model(fault):
    events = BASE + _fault_events(fault) + [("bytes", encode_frame(Cmd.STATUS, seq=0x77))] \
        + classify_events([5, -7, 100])
    frames = check(events, seed=zlib.crc32(fault.encode()))
    # the classification after the fault equals the one before it
    results = [f.payload for f in frames if f.cmd == Cmd.RESULTS | 0x80]
    assert len(results) == 2 and results[0] == results[1]
    assert frames[-4].seq == 0x77 and not frames[-4].is_error


def test_checker_catches_a_fault_planted_in_the_engine(monkeypatch):
    """The comparison can fail: an engine whose upload pointer starts one byte early (the
    model store's ``IMAGE_HEADER_LEN`` planted as 31) refuses the first IMAGE_DATA, and
    the checker names that step, the seed and both replies."""
    check(BASE)                                         # the design as it is: equal
    import dynalign.hw.engine.store as store
    monkeypatch.setattr(store, "IMAGE_HEADER_LEN", store.IMAGE_HEADER_LEN - 1)
    with pytest.raises(AssertionError) as exc:
        check(BASE, seed=5)
    msg = str(exc.value)
    assert "seed 5" in msg and "in the reply to step 1 (bytes: bytes a51101" in msg, msg
    assert "payload=b'\\x07\\x11'" in msg, msg       # gateware: SEQUENCE on IMAGE_DATA


def test_engine_parameter_validation():
    with pytest.raises(TypeError, match="limits must be a Limits"):
        CommandEngine(limits=None, timeout_cycles=100)
    with pytest.raises(ValueError, match="timeout_cycles must be at least 16"):
        CommandEngine(limits=LIMITS, timeout_cycles=3)
    with pytest.raises(ValueError,
                       match="store_ram must be one of 'auto', 'memory', 'spram', not 'flash'"):
        CommandEngine(limits=LIMITS, timeout_cycles=100, store_ram="flash")
    big = replace(LIMITS, bank_bytes=20000)
    with pytest.raises(ValueError, match="two banks of 20000 bytes exceed one SPRAM"):
        CommandEngine(limits=big, timeout_cycles=100, store_ram="spram")


# ---- a device that serves an uploaded trajectory table (Limits.table) -------------------

TABLE_LIMITS = replace(LIMITS, core=CORE_LIF_TABLE, max_samples=2)


def table_image(seed=0, *, sizes=(8, 4), k=3):
    net = random_network(np.random.default_rng(seed), [3 * k, *sizes])
    return build_image(network=net, encoder=EncoderConfig(delta=2.0, tmax=0.02, samples=2),
                       n_features=k, table=True)


def test_table_device_routes_the_table_block_and_refuses_the_rest():
    """The table block of an upload reaches the core's tw_* port word by word (into the
    shadow bank), the rest of the image the store; the stub core classifies from the
    store as before.  Images without the block, WRITE_ENCODER, and a table for a device
    with an integrator are refused, and the model keeps running."""
    img = table_image()
    plain = small_image()
    events = upload_events(img) + classify_events([5, -7, 100])
    events += [("bytes", encode_frame(Cmd.WRITE_ENCODER, bytes(80), seq=0x41)),
               ("bytes", encode_frame(Cmd.IMAGE_BEGIN, plain[:IMAGE_HEADER_LEN] + b"\x01",
                                      seq=0x42))]
    events += classify_events([5, -7, 100], seq=0x50)
    writes = []
    frames = check(events, limits=TABLE_LIMITS, table_writes=writes)
    errors = [f.error for f in frames if f.is_error]
    assert errors == [Err.UNSUPPORTED, Err.IMAGE_FORMAT]
    results = [f.payload for f in frames if f.cmd == Cmd.RESULTS | 0x80]
    assert len(results) == 2 and results[0] == results[1]
    # the writes are exactly the block: every sample word, then every row's flag
    dev = parse_image(img)
    t = dev.header.samples
    words = dev.table.reshape(TABLE_ROWS, 3 * t).T.ravel() & 0xFFFFFFFF
    expected = [(1, 0, a, int(w)) for a, w in enumerate(words)]
    expected += [(1, 1, r, int(s)) for r, s in enumerate(dev.table_sat)]
    assert writes == expected
    # a table image on a device with an integrator
    frames = check([("bytes", encode_frame(Cmd.IMAGE_BEGIN, img[:IMAGE_HEADER_LEN] + b"\x00"))])
    assert [f.error for f in frames] == [Err.IMAGE_FORMAT]


@pytest.mark.parametrize("limits", [LIMITS, TABLE_LIMITS], ids=["plain", "table"])
def test_admission_of_crafted_headers(limits):
    """IMAGE_BEGIN with headers that probe every admission rule (magic, version, flags,
    K/T/L ranges, total length around the bank size and the table block, 32-bit
    lengths, zero and oversized layers), gateware against Limits.check_header."""

    from dynalign.hw.wire import (
        IMAGE_HEADER,
        IMAGE_MAGIC,
        IMAGE_VERSION,
        LAYERS_OFFSET,
        table_len,
    )
    rng = random.Random(7)
    flags = 1 if limits.table else 0
    tl = table_len(2) if limits.table else 0

    def hdr(**kw):
        f = dict(magic=IMAGE_MAGIC, version=IMAGE_VERSION, k=3, t=2, n_layers=2, shift=4,
                 flags=flags, total=LAYERS_OFFSET + tl + 100, sizes=(8, 4),
                 lanes=limits.lanes)
        f.update(kw)
        sizes = list(f["sizes"]) + [0] * (8 - len(f["sizes"]))
        return IMAGE_HEADER.pack(f["magic"], f["version"], f["k"], f["t"], f["n_layers"],
                                 f["shift"], f["flags"], f["total"] & 0xFFFFFFFF, f["lanes"],
                                 0, 0, *sizes[:8]) + b"\x00"        # bank 0
    bank = limits.bank_bytes
    cases = [hdr(), hdr(magic=b"DX"), hdr(version=IMAGE_VERSION - 1),
             hdr(version=IMAGE_VERSION + 1), hdr(lanes=2),
             hdr(lanes=0), hdr(flags=flags ^ 1), hdr(flags=4),
             hdr(k=0), hdr(k=5), hdr(t=1), hdr(t=6), hdr(n_layers=0), hdr(n_layers=4),
             hdr(shift=32), hdr(sizes=(0, 4)), hdr(sizes=(17, 4)), hdr(sizes=(8, 9)),
             hdr(n_layers=1, sizes=(8, 0)), hdr(sizes=(17, 0))]
    for total in (0, LAYERS_OFFSET - 1, LAYERS_OFFSET + tl - 1, LAYERS_OFFSET + tl,
                  bank + tl, bank + tl + 1, 1 << 16, (1 << 16) + tl, 1 << 24, 0xFFFFFFFF,
                  bank + table_len(5), 0x80000000 + LAYERS_OFFSET + tl):
        cases += [hdr(total=total), hdr(total=total, t=5), hdr(total=total, sizes=(0, 0))]
    for _ in range(20):
        cases.append(hdr(k=rng.randrange(6), t=rng.randrange(7), n_layers=rng.randrange(5),
                         shift=rng.choice((0, 31, 32)), total=rng.randrange(1 << 32),
                         sizes=[rng.randrange(18) for _ in range(8)]))
    events = [("bytes", encode_frame(Cmd.IMAGE_BEGIN, h, seq=i & 0xFF))
              for i, h in enumerate(cases)]
    frames = check(events, limits=limits, ready_prob=1.0)
    assert len(frames) == len(cases)
    errs = {f.error for f in frames}
    assert {None, Err.IMAGE_FORMAT, Err.TOO_LARGE} <= errs


#: (command, cycles from the request's last byte to the reply's first, to the receiver
#: listening again, one cycle after the reply's last byte was taken) with no stalls:
#: the single-FSM engine's numbers, which the
#: block-split engine (hw/engine/) keeps cycle for cycle.  A change here is a change of
#: the device's timing.  (STATUS: 46 until its record gained the lost-bytes counter,
#: two more bytes at three cycles each; 82 since protocol version 2 added each bank's state
#: and CRC-32, ten bytes.  IMAGE_BEGIN: 70 until its bank byte, read and checked first.
#: The last IMAGE_DATA: 93 until image version 3 put 32 step-shift bytes in the image,
#: two cycles each.  CLASSIFY: STREAM's, less its brief reply's 4 fewer bytes (the
#: stub's one layer: no saturation word), three cycles each.  IDENTIFY: 82 until
#: protocol version 3 added its caps byte, three cycles.)
PINNED_CYCLES = [(Cmd.IDENTIFY, 3, 85), (Cmd.STATUS, 3, 82), (Cmd.IMAGE_BEGIN, 72, 79),
                 (Cmd.IMAGE_DATA, 197, 204), (Cmd.IMAGE_DATA, 197, 204),
                 (Cmd.IMAGE_DATA, 157, 164), (Cmd.IMAGE_COMMIT, 13, 23), (Cmd.FEATURES, 10, 17),
                 (Cmd.RUN, 16, 47), (Cmd.RESULTS, 3, 58), (Cmd.STREAM, 23, 78),
                 (Cmd.CLASSIFY, 23, 66), (0x55, 2, 15), (Cmd.WRITE_ENCODER, 165, 172)]
#: the same with the line queues (``Limits.queue``): each byte waits its turn in them
QUEUED_CYCLES = [(Cmd.IDENTIFY, 7, 101), (Cmd.STATUS, 7, 98), (Cmd.IMAGE_BEGIN, 76, 95),
                 (Cmd.IMAGE_DATA, 201, 220), (Cmd.IMAGE_DATA, 201, 220),
                 (Cmd.IMAGE_DATA, 161, 180), (Cmd.IMAGE_COMMIT, 17, 39),
                 (Cmd.FEATURES, 14, 33), (Cmd.RUN, 20, 63), (Cmd.RESULTS, 7, 74),
                 (Cmd.STREAM, 27, 94), (Cmd.CLASSIFY, 27, 82), (0x55, 6, 31),
                 (Cmd.WRITE_ENCODER, 169, 188)]


@pytest.mark.parametrize("store_ram,queue", [("memory", 0), ("spram", 0), ("memory", 64)])
def test_engine_cycles_per_command_are_pinned(store_ram, queue):
    img = small_image(sizes=(8, 4))
    reqs = [(Cmd.IDENTIFY, b""), (Cmd.STATUS, b"")] + \
        image_requests(img, max_payload=LIMITS.max_payload) + \
        [(Cmd.FEATURES, b"\x05\xf9\x64"), (Cmd.RUN, b""), (Cmd.RESULTS, b""),
         (Cmd.STREAM, b"\x05\xf9\x64"), (Cmd.CLASSIFY, b"\x05\xf9\x64"), (0x55, b"xy"),
         (Cmd.WRITE_ENCODER, img[ENCODER_OFFSET:ENCODER_OFFSET + ENCODER_LEN])]
    m = Module()
    m.submodules.eng = eng = CommandEngine(limits=replace(LIMITS, queue=queue),
                                           timeout_cycles=TIMEOUT, store_ram=store_ram)
    m.submodules.core = core = StubCore(store_addr_width=eng.store_aw,
                                        feat_addr_width=eng.feat_aw)
    wiring.connect(m, eng.core, core.bus)
    got = []

    async def bench(ctx):
        ctx.set(eng.tx.ready, 1)
        for cmd, payload in reqs:
            for b in encode_frame(cmd, payload):
                ctx.set(eng.rx.payload, b)
                ctx.set(eng.rx.valid, 1)
                await ctx.tick()
                if queue:       # a UART's pace (40 cycles a byte at the least), here 3
                    ctx.set(eng.rx.valid, 0)
                    await ctx.tick().repeat(2)
            ctx.set(eng.rx.valid, 0)
            first, reply = None, bytearray()
            for cycle in range(1, 1000):
                _, _, valid, payload = await ctx.tick().sample(eng.tx.valid, eng.tx.payload)
                if valid and first is None:
                    first = cycle
                if valid:
                    reply.append(payload)
                if len(reply) >= 5 and len(reply) == 7 + (reply[3] | reply[4] << 8):
                    break
            else:
                raise AssertionError(f"no complete reply to {cmd!r} in 1000 cycles: "
                                     f"{bytes(reply).hex()}")
            got.append((cmd, first, cycle + 1))     # the receiver listens again

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == (QUEUED_CYCLES if queue else PINNED_CYCLES)


def test_top_counts_what_arrives_on_its_pin_during_a_reply():
    """The whole path from the pin: DynalignTop (stub core, 4 cycles a bit) answers a
    STATUS; two bytes and a framing error (a low stop bit) arrive on ``rx`` while its
    reply goes out.  None of them starts a frame, all three are counted, the first
    STATUS shows none of them, the next one all."""
    from dynalign.hw.top import DynalignTop
    from dynalign.hw.wire import STATUS_LEN, Status
    div = 4
    top = DynalignTop(limits=LIMITS, divisor=div, core="stub")
    replies = []

    async def bits(ctx, levels):
        for v in levels:
            ctx.set(top.rx, v)
            await ctx.tick().repeat(div)

    async def send(ctx, data, *, stop=1):
        for b in data:
            await bits(ctx, [0] + [(b >> i) & 1 for i in range(8)] + [stop])
        await bits(ctx, [1, 1])

    async def wait_reply_bytes(ctx, n, what):
        for _ in range(200 * div * (n + 10)):
            if len(replies) >= n:
                return
            await ctx.tick()
        raise AssertionError(f"stuck: {what}: {len(replies)} of {n} reply bytes")

    async def monitor(ctx):
        eng = top.engine
        async for _, _, valid, ready, payload in ctx.tick().sample(
                eng.tx.valid, eng.tx.ready, eng.tx.payload):
            if valid and ready:
                replies.append(payload)

    async def bench(ctx):
        n = 7 + STATUS_LEN
        await send(ctx, encode_frame(Cmd.STATUS, seq=1))
        await wait_reply_bytes(ctx, 2, "first STATUS")
        await send(ctx, b"\xa5\x02")                    # a SYNC among them: still lost
        await send(ctx, b"\x00", stop=0)                 # a framing error
        await wait_reply_bytes(ctx, n, "first STATUS")
        await ctx.tick().repeat(20 * div)                # the last byte leaves the UART
        await send(ctx, encode_frame(Cmd.STATUS, seq=2))
        await wait_reply_bytes(ctx, 2 * n, "second STATUS")

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_process(monitor)
    sim.add_testbench(bench)
    sim.run()
    frames = FrameDecoder().feed(bytes(replies))
    assert [f.seq for f in frames] == [1, 2], frames
    first, second = (Status.unpack(f.payload) for f in frames)
    assert (first.lost_bytes, first.framing_errors) == (0, 0), first
    assert (second.lost_bytes, second.framing_errors, second.dropped_bytes) == (2, 1, 0), second
