"""The host driver against the Python device model (fake serial loopback): uploads,
classification, mode switch, and the issue's faults with recovery."""

import numpy as np
import pytest
from twins import twin_results

from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    IMAGE_HEADER_LEN,
    REPLY,
    Cmd,
    Err,
    FrameDecoder,
    Limits,
    Results,
    build_image,
    encode_frame,
    golden_results,
    parse_image,
)
from dynalign.sw.device_model import DeviceModel, GoldenCore
from dynalign.sw.driver import Device, DeviceError, LinkTimeout, ModelTransport, run_sync

LIMITS = Limits(max_features=4, max_samples=5, max_sizes=(16, 8, 4), max_payload=96)


def parts(seed=0, *, sizes=(8, 4), k=3, delta=2.0):
    """The network and the encoder configuration an image is built from."""
    return (random_network(np.random.default_rng(seed), [3 * k, *sizes]),
            EncoderConfig(delta=delta, tmax=0.4, samples=5))


def image(seed=0, *, sizes=(8, 4), k=3, delta=2.0):
    net, cfg = parts(seed, sizes=sizes, k=k, delta=delta)
    return build_image(network=net, encoder=cfg, n_features=k)


def twin(seed, codes, **kw):
    """The expected record by the scalar twins, from the parts, not the image."""
    return twin_results(*parts(seed, **kw), codes)


def device(corrupt=None):
    model = DeviceModel(limits=LIMITS, core=GoldenCore())
    return Device(ModelTransport(model, corrupt=corrupt)), model


def test_identify_upload_classify_switch():
    dev, model = device()
    a, b = image(0, delta=2.0), image(1, delta=-1.5)
    codes = [3, -50, 77]

    async def go():
        assert await dev.identify() == LIMITS
        assert await dev.upload(a) == 0
        ra = await dev.classify(codes)
        assert await dev.upload(b) == 1
        rb = await dev.classify(codes)
        assert (await dev.status()).active_bank == 1
        # both resident: SELECT switches without an upload
        assert await dev.select(0) == 0
        assert await dev.classify(codes) == ra
        assert await dev.select(1) == 1
        assert await dev.classify(codes) == rb
        return ra, rb
    ra, rb = run_sync(go())
    # golden_results composes the golden encoder (on the parsed image's registers) and
    # network itself, apart from the device model's GoldenCore (which serves the bytes
    # that went over the link): this checks the upload, storage and transport.  The
    # scalar twins check the computation, from the parts the images were built from.
    assert ra == golden_results(parse_image(a), codes) == twin(0, codes, delta=2.0)
    assert rb == golden_results(parse_image(b), codes) == twin(1, codes, delta=-1.5)


def test_device_errors_are_raised():
    dev, _ = device()

    async def go():
        with pytest.raises(DeviceError, match="NO_MODEL") as exc:
            await dev.run()
        assert exc.value.err is Err.NO_MODEL and exc.value.cmd == Cmd.RUN
        await dev.upload(image())
        with pytest.raises(DeviceError, match="FEATURES"):
            await dev.set_features([1, 2])
        with pytest.raises(DeviceError, match="TOO_LARGE"):
            await dev.upload(image(sizes=(17, 4)))
        with pytest.raises(ValueError, match="int8"):
            await dev.set_features([1, 2, 300])
    run_sync(go())


def test_wire_corruption_is_retried():
    flips = {"n": 0}

    def corrupt(data):
        # damage every third frame on the wire: one flipped bit in its last byte
        flips["n"] += 1
        if flips["n"] % 3 == 0:
            return data[:-1] + bytes([data[-1] ^ 0x04])
        return data
    dev, model = device(corrupt)
    codes = [1, 2, 3]

    async def go():
        await dev.upload(image())
        return await dev.classify(codes)
    res = run_sync(go())
    assert res == golden_results(parse_image(image()), codes)
    assert model.counters["crc"] >= 3


@pytest.mark.parametrize("raw", [
    b"\x00\x13\x37",                                         # garbage
    b"\xa5\x21",                                             # truncated frame
    encode_frame(Cmd.RUN)[:-1] + b"\x00",                     # wrong CRC
    encode_frame(0x66),                                      # unknown command
    encode_frame(Cmd.IMAGE_BEGIN, image(sizes=(17, 4))[:IMAGE_HEADER_LEN]),  # too large
])
def test_raw_fault_then_same_model(raw):
    dev, _ = device()
    codes = [9, 8, -7]

    async def go():
        await dev.upload(image())
        before = await dev.classify(codes)
        await dev.send_raw(raw)
        try:
            await dev.receive()
        except LinkTimeout:
            pass                      # garbage alone gets no reply
        st = await dev.status()
        after = await dev.classify(codes)
        return before, after, st
    before, after, st = run_sync(go())
    assert before == after and st.model_valid


class CorruptResults:
    """A transport whose device returns one wrong bit: bit 0 of payload byte ``at`` of
    every RESULTS reply, the frame's CRC-16 recomputed (a device that computes wrong,
    not a line fault the CRC would catch)."""

    def __init__(self, inner, at):
        self.inner, self.at = inner, at

    async def send(self, data):
        await self.inner.send(data)

    async def recv(self):
        data = await self.inner.recv()
        frames = FrameDecoder().feed(data)
        if len(frames) == 1 and frames[0].cmd == Cmd.RESULTS | REPLY:
            p = bytearray(frames[0].payload)
            p[self.at] ^= 1
            return encode_frame(frames[0].cmd, bytes(p), seq=frames[0].seq)
        return data


def results_diff(got: Results, exp: Results) -> list[str]:
    """The fields (``spikes[0]``, ...) in which two results records differ."""
    out = []
    for name in Results._fields:
        g, e = getattr(got, name), getattr(exp, name)
        if isinstance(e, tuple):
            out += [f"{name}[{i}]" for i, (a, b) in enumerate(zip(g, e)) if a != b]
        elif g != e:
            out.append(name)
    return out


def test_checker_catches_a_corrupted_reply():
    """The driver's results checked against the scalar twins: equal through the plain
    link, and a device returning one flipped bit (layer 1's spike count, byte 8 of the
    record) is reported at that field."""
    codes = [1, 1, 1]

    def classify(transport):
        dev = Device(transport)

        async def go():
            await dev.upload(image())
            return await dev.classify(codes)
        return run_sync(go())
    exp = twin(0, codes)
    model = DeviceModel(limits=LIMITS, core=GoldenCore())
    assert results_diff(classify(ModelTransport(model)), exp) == []
    model = DeviceModel(limits=LIMITS, core=GoldenCore())
    bad = classify(CorruptResults(ModelTransport(model), at=8))
    assert results_diff(bad, exp) == ["spikes[0]"]


def test_driver_validation():
    with pytest.raises(TypeError, match="transport must have send"):
        Device(object())
    with pytest.raises(ValueError, match="retries must be at least 0"):
        Device(ModelTransport(None), retries=-1)


def test_upload_adds_the_table_for_a_table_device():
    """A device that serves an uploaded table gets each image with its table block (the
    driver adds it), classifies like the golden model, and refuses WRITE_ENCODER; an
    image whose table disagrees with its encoder block is refused by the host.  The
    device model serves the table rows as uploaded, ``golden_results`` reads them from
    the parsed image (the table codec and the transport, checked); the scalar twins
    integrate the encoder from its configuration (the table's contents, checked)."""
    from dataclasses import replace

    from dynalign.hw.wire import CORE_LIF_TABLE, ENCODER_LEN, ENCODER_OFFSET
    limits = replace(LIMITS, core=CORE_LIF_TABLE, max_payload=256)
    model = DeviceModel(limits=limits, core=GoldenCore())
    dev = Device(ModelTransport(model))
    a, b = image(0, delta=2.0), image(1, delta=-1.5)
    codes = [3, -50, 77]

    async def go():
        assert (await dev.identify()).table
        assert await dev.upload(a) == 0
        ra = await dev.classify(codes)
        assert await dev.upload(b) == 1
        rb = await dev.classify(codes)
        assert await dev.select(0) == 0          # a's table is resident too
        assert await dev.classify(codes) == ra
        assert await dev.select(1) == 1
        with pytest.raises(DeviceError, match="UNSUPPORTED"):
            await dev.write_encoder(a[ENCODER_OFFSET:ENCODER_OFFSET + ENCODER_LEN])
        assert await dev.classify(codes) == rb
        return ra, rb
    ra, rb = run_sync(go())
    assert ra == golden_results(parse_image(a), codes) == twin(0, codes, delta=2.0)
    assert rb == golden_results(parse_image(b), codes) == twin(1, codes, delta=-1.5)
    from dynalign.hw.wire import golden_table, pack_table
    block = pack_table(*golden_table(parse_image(b).encoder))
    assert bytes(model.tables[model.active][:len(block)]) == block     # b's, as uploaded
    bad = bytearray(build_image(network=parse_image(a).network,
                                encoder=parse_image(a).encoder, n_features=3, table=True))
    bad[-1] ^= 1                                     # the last row's saturation flag
    with pytest.raises(ValueError, match="saturation flag of row 255"):
        run_sync(dev.upload(bytes(bad)))


class _Counting:
    """A transport that counts the requests in flight (sent, reply not yet read) and
    can damage one byte of the ``damage``-th reply chunk it hands over."""

    def __init__(self, inner, *, damage=None):
        self.inner, self.damage = inner, damage
        self.in_flight = self.most = self.chunks = 0

    async def send(self, data):
        self.in_flight += len(FrameDecoder().feed(data))
        self.most = max(self.most, self.in_flight)
        await self.inner.send(data)

    async def recv(self):
        data = await self.inner.recv()
        self.in_flight -= len(FrameDecoder().feed(data))
        if data:
            self.chunks += 1
            if self.chunks == self.damage:
                data = data[:8] + bytes([data[8] ^ 0x10]) + data[9:]
        return data


@pytest.mark.parametrize("queue", [0, 64])
def test_stream_pipelines_within_the_queue_and_matches_the_twins(queue):
    """STREAM rows: every record equals the scalar twins' (not the golden model the
    device model runs); a device with a queue gets several requests in flight, at most
    what its queue holds; one without gets one at a time."""
    from dataclasses import replace
    model = DeviceModel(limits=replace(LIMITS, queue=queue), core=GoldenCore())
    tr = _Counting(ModelTransport(model))
    dev = Device(tr)
    rows = [[int(v) for v in np.random.default_rng(s).integers(-128, 128, 3)]
            for s in range(12)]

    async def go():
        await dev.upload(image(4))
        tr.most = 0
        return await dev.stream(rows)

    got = run_sync(go())
    assert got == [twin(4, r) for r in rows]
    assert tr.most == (64 // (3 + 7) if queue else 1)


@pytest.mark.parametrize("queue", [0, 64])
def test_brief_records_are_the_twins_class_cycles_and_spikes(queue):
    """``brief=True``: CLASSIFY requests on a device with a queue (three round trips
    without one), each reply the twins' class, flags, cycles and spikes per layer, and
    fewer bytes on the wire than the whole records."""
    from dataclasses import replace

    from dynalign.hw.wire import Brief
    model = DeviceModel(limits=replace(LIMITS, queue=queue), core=GoldenCore())
    tr = _Counting(ModelTransport(model))
    dev = Device(tr)
    rows = [[int(v) for v in np.random.default_rng(s).integers(-128, 128, 3)]
            for s in range(6)]

    async def go():
        await dev.upload(image(4))
        b0 = dev.bytes_received
        brief = await dev.classify_many(rows, brief=True)
        b1 = dev.bytes_received
        await dev.classify_many(rows)
        return brief, b1 - b0, dev.bytes_received - b1

    brief, brief_bytes, whole_bytes = run_sync(go())
    assert all(isinstance(b, Brief) for b in brief)
    assert brief == [Brief(*twin(4, r)[:4]) for r in rows]
    if queue:
        assert brief_bytes < whole_bytes


def test_stream_resends_a_damaged_reply():
    """A reply damaged on the wire (bad CRC: the decoder drops it) is requested again
    after the quiet periods; the records still equal the twins'; a row of other than
    int8 codes is refused before anything is sent."""
    from dataclasses import replace
    model = DeviceModel(limits=replace(LIMITS, queue=64), core=GoldenCore())
    tr = _Counting(ModelTransport(model))
    dev = Device(tr, quiet_limit=2, retries=1)
    rows = [[s, -s, 2 * s] for s in range(8)]

    async def go():
        await dev.upload(image(5))
        tr.chunks, tr.damage = 0, 1
        return await dev.stream(rows)

    assert run_sync(go()) == [twin(5, r) for r in rows]
    assert model.counters["crc"] == 0       # the device saw nothing wrong: the host did
    with pytest.raises(ValueError, match="int8"):
        run_sync(dev.stream([[300, 0, 0]]))
