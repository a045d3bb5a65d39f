"""Protocol: CRCs, frames, host decoder, image layout, and the device model's replies to
every fault of the issue (flipped bits, truncation, wrong CRC / length, unknown
commands, garbage between frames, too-large topology)."""

import dataclasses
import random
import struct

import numpy as np
import pytest
from twins import twin_results

from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    ERROR,
    IMAGE_HEADER_LEN,
    PROTOCOL_VERSION,
    REPLY,
    SYNC,
    Cmd,
    EncoderRegisters,
    Err,
    FrameDecoder,
    ImageHeader,
    Limits,
    Results,
    Status,
    build_image,
    crc16,
    crc32,
    encode_frame,
    golden_results,
    image_requests,
    parse_image,
)
from dynalign.sw.device_model import DeviceModel, GoldenCore, stub_result

LIMITS = Limits(max_features=4, max_samples=5, max_sizes=(16, 8, 4), max_payload=96)


def small_image(seed=0, *, sizes=(8, 4), k=3, delta=2.0):
    rng = np.random.default_rng(seed)
    net = random_network(rng, [3 * k, *sizes])
    cfg = EncoderConfig(delta=delta, tmax=0.4, dt=0.01, samples=5)
    return build_image(network=net, encoder=cfg, n_features=k)


def replies(data: bytes):
    return FrameDecoder().feed(data)


def one_reply(dev, data):
    frames = replies(dev.feed(data))
    assert len(frames) == 1, frames
    return frames[0]


def idle_bank(dev):
    """The bank an upload may go into: not the one being served."""
    return dev.active ^ 1 if dev.model_valid else dev.active


def upload(dev, image, *, max_payload=96):
    for cmd, payload in image_requests(image, max_payload=max_payload, bank=idle_bank(dev)):
        r = one_reply(dev, encode_frame(cmd, payload, seq=7))
        assert r.cmd == cmd | REPLY, (cmd, r)
    return r


def test_crc16_check_value():
    assert crc16(b"123456789") == 0x29B1
    assert crc32(b"123456789") == 0xCBF43926


def test_frame_roundtrip_and_decoder():
    f = encode_frame(Cmd.FEATURES, bytes([1, 2, 3]), seq=9)
    assert f[0] == SYNC and f[1] == Cmd.FEATURES and f[2] == 9 and f[3:5] == b"\x03\x00"
    dec = FrameDecoder(max_payload=256)
    out = dec.feed(b"\x00\x13" + f[:4]) + dec.feed(f[4:] + b"\xa5\x01") + dec.feed(f)
    assert [(o.cmd, o.seq, o.payload) for o in out] == [(Cmd.FEATURES, 9, b"\x01\x02\x03")] * 2
    assert dec.skipped == 3 and dec.bad_frames == 1   # 00 13, then a5 01 resynced


def test_decoder_rejects_flipped_bit():
    f = bytearray(encode_frame(Cmd.RUN, b"", seq=1))
    f[2] ^= 1
    dec = FrameDecoder()
    assert dec.feed(bytes(f)) == []
    assert dec.bad_frames == 1


def test_encode_frame_validation():
    with pytest.raises(ValueError, match="cmd must be a byte"):
        encode_frame(256)
    with pytest.raises(ValueError, match="seq must be a byte"):
        encode_frame(1, seq=-1)


def test_limits_pack_roundtrip_and_validation():
    lim, proto = Limits.unpack(LIMITS.pack())
    assert lim == LIMITS and proto == PROTOCOL_VERSION == 3
    packed = dataclasses.replace(LIMITS, packed=True)
    assert Limits.unpack(packed.pack())[0] == packed and packed.pack() != LIMITS.pack()
    with pytest.raises(ValueError, match="max_sizes must be a tuple"):
        Limits(max_features=4, max_samples=5, max_sizes=[8])
    with pytest.raises(TypeError, match="max_features must be an integer"):
        Limits(max_features=4.0, max_samples=5, max_sizes=(8,))
    with pytest.raises(ValueError, match="max_samples must be in 2..255"):
        Limits(max_features=4, max_samples=1, max_sizes=(8,))
    with pytest.raises(ValueError, match="not a dynalign identity"):
        Limits.unpack(b"XXXX" + bytes(20))


def test_image_roundtrip():
    img = small_image()
    parsed = parse_image(img)
    assert parsed.header.sizes == (8, 4) and parsed.header.total_len == len(img)
    assert build_image(network=parsed.network, encoder=parsed.encoder, n_features=3) == img
    with pytest.raises(ValueError, match="topology needs"):
        parse_image(img[:-1])
    with pytest.raises(ValueError, match="K=2 features give 6"):
        build_image(network=parsed.network, encoder=parsed.encoder, n_features=2)


def test_encoder_registers_roundtrip():
    for cfg in (EncoderConfig(delta=-1.5), EncoderConfig(system="lorenz")):
        regs = EncoderRegisters.from_config(cfg)
        assert EncoderRegisters.unpack(regs.pack()) == regs
        assert regs.check() is None


def test_check_header_cases():
    good = ImageHeader.unpack(small_image()[:IMAGE_HEADER_LEN])
    assert LIMITS.check_header(good) is None

    def hdr(**kw):
        d = dict(n_features=good.n_features, samples=good.samples, in_shift=good.in_shift,
                 sizes=good.sizes, total_len=good.total_len)
        d.update(kw)
        return ImageHeader(**d)
    assert LIMITS.check_header(hdr(sizes=(17, 4))) is Err.TOO_LARGE
    assert LIMITS.check_header(hdr(sizes=(8, 4, 4, 4))) is Err.TOO_LARGE
    assert LIMITS.check_header(hdr(n_features=5)) is Err.TOO_LARGE
    assert LIMITS.check_header(hdr(total_len=LIMITS.bank_bytes + 1)) is Err.TOO_LARGE
    assert LIMITS.check_header(hdr(in_shift=32)) is Err.IMAGE_FORMAT
    assert LIMITS.check_header(hdr(sizes=(8, 0))) is Err.IMAGE_FORMAT
    assert LIMITS.check_header(hdr(magic=b"XX")) is Err.IMAGE_FORMAT
    assert LIMITS.check_header(hdr(version=1)) is Err.IMAGE_FORMAT     # an old image
    assert LIMITS.check_header(hdr(lanes=2)) is Err.IMAGE_FORMAT       # not our words


# -- the device model: every fault ----------------------------------------------------

def committed_device(core=None):
    dev = DeviceModel(limits=LIMITS, core=core)
    img = small_image()
    r = upload(dev, img)
    assert r.payload == b"\x00"             # the first upload: bank 0, now served
    return dev, img


def classify(dev, codes, seq=3):
    assert one_reply(dev, encode_frame(Cmd.FEATURES, bytes(c & 0xFF for c in codes),
                                       seq=seq)).cmd == Cmd.FEATURES | REPLY
    r = one_reply(dev, encode_frame(Cmd.RUN, seq=seq))
    assert r.cmd == Cmd.RUN | REPLY
    return one_reply(dev, encode_frame(Cmd.RESULTS, seq=seq)).payload


def expect_error(dev, data, err, *, timeout=False):
    out = dev.feed(data)
    if timeout:
        out += dev.timeout()
    frames = replies(out)
    assert len(frames) == 1, frames
    assert frames[0].cmd == ERROR and frames[0].error is err, frames[0]
    return frames[0]


def test_identify_and_status():
    dev = DeviceModel(limits=LIMITS)
    r = one_reply(dev, encode_frame(Cmd.IDENTIFY, seq=42))
    assert r.cmd == Cmd.IDENTIFY | REPLY and r.seq == 42
    assert Limits.unpack(r.payload)[0] == LIMITS
    st = Status.unpack(one_reply(dev, encode_frame(Cmd.STATUS)).payload)
    assert not st.model_valid and st.active_bank == 0


def test_no_model_errors():
    dev = DeviceModel(limits=LIMITS)
    expect_error(dev, encode_frame(Cmd.RUN), Err.NO_MODEL)
    expect_error(dev, encode_frame(Cmd.FEATURES, b"\x01\x02\x03"), Err.NO_MODEL)
    expect_error(dev, encode_frame(Cmd.IMAGE_DATA, bytes(8)), Err.NO_UPLOAD)
    expect_error(dev, encode_frame(Cmd.IMAGE_COMMIT, bytes(4)), Err.NO_UPLOAD)
    expect_error(dev, encode_frame(Cmd.RESULTS), Err.NO_RESULT)


@pytest.mark.parametrize("fault", [
    "flipped_bit", "wrong_crc", "truncated", "unknown_cmd", "wrong_length", "too_long",
    "garbage", "framing", "too_large_topology", "bad_image_crc", "incomplete_commit",
    "out_of_order_chunk", "overflow_chunk", "wrong_feature_count"])
def test_fault_then_good_command_and_same_model(fault):
    dev, img = committed_device()
    codes = [5, -7, 100]
    before = classify(dev, codes)
    good_frame = encode_frame(Cmd.STATUS, seq=1)
    if fault == "flipped_bit":
        f = bytearray(encode_frame(Cmd.FEATURES, b"\x01\x02\x03", seq=2))
        f[6] ^= 0x10
        expect_error(dev, bytes(f), Err.CRC)
    elif fault == "wrong_crc":
        f = bytearray(encode_frame(Cmd.RUN, seq=2))
        f[-1] ^= 0xFF
        expect_error(dev, bytes(f), Err.CRC)
    elif fault == "truncated":
        r = expect_error(dev, encode_frame(Cmd.FEATURES, b"\x01\x02\x03", seq=2)[:-3],
                         Err.TIMEOUT, timeout=True)
        assert r.payload == bytes([Err.TIMEOUT, Cmd.FEATURES]) and r.seq == 2
    elif fault == "unknown_cmd":
        expect_error(dev, encode_frame(0x55, b"xy"), Err.UNKNOWN_CMD)
    elif fault == "wrong_length":
        expect_error(dev, encode_frame(Cmd.IMAGE_COMMIT, bytes(3)), Err.LENGTH)
    elif fault == "too_long":
        expect_error(dev, encode_frame(Cmd.FEATURES, bytes(97)), Err.LENGTH)
    elif fault == "garbage":
        assert dev.feed(bytes([0x00, 0x13, 0xFF, 0x37])) == b""
        assert dev.counters["dropped"] == 4
    elif fault == "framing":
        assert dev.feed(encode_frame(Cmd.RUN)[:3]) == b""
        r = replies(dev.framing_error())
        assert r[0].error is Err.FRAMING
    elif fault == "too_large_topology":
        big = small_image(sizes=(17, 4))
        expect_error(dev, encode_frame(Cmd.IMAGE_BEGIN, big[:IMAGE_HEADER_LEN] + b"\x01"),
                     Err.TOO_LARGE)
    elif fault in ("bad_image_crc", "incomplete_commit", "out_of_order_chunk",
                   "overflow_chunk"):
        other = small_image(seed=5)
        reqs = image_requests(other, max_payload=96, bank=idle_bank(dev))
        for cmd, payload in reqs[:-2]:
            one_reply(dev, encode_frame(cmd, payload))
        if fault == "bad_image_crc":
            one_reply(dev, encode_frame(*reqs[-2]))
            expect_error(dev, encode_frame(Cmd.IMAGE_COMMIT, struct.pack("<I", 1234)),
                         Err.IMAGE_CRC)
        elif fault == "incomplete_commit":
            expect_error(dev, encode_frame(*reqs[-1]), Err.INCOMPLETE)
        elif fault == "out_of_order_chunk":
            expect_error(dev, encode_frame(*reqs[-3]), Err.SEQUENCE)
        else:
            cmd, payload = reqs[-2]
            expect_error(dev, encode_frame(cmd, payload + b"\x00"), Err.OVERFLOW)
    elif fault == "wrong_feature_count":
        expect_error(dev, encode_frame(Cmd.FEATURES, b"\x01\x02"), Err.FEATURES)
    r = one_reply(dev, good_frame)
    assert r.cmd == Cmd.STATUS | REPLY and r.seq == 1
    assert classify(dev, codes) == before
    assert Status.unpack(r.payload).active_bank == 0


def test_mode_switch_flips_bank_and_changes_result():
    dev, img = committed_device()
    codes = [5, -7, 100]
    a = classify(dev, codes)
    upload(dev, small_image(seed=9))
    b = classify(dev, codes)
    assert Status.unpack(one_reply(dev, encode_frame(Cmd.STATUS)).payload).active_bank == 1
    assert a != b
    upload(dev, img)
    assert classify(dev, codes) == a


def test_stub_core_equation():
    img = small_image()
    w = parse_image(img).network.layers[0].weight[0]
    codes = [5, -7, 100]
    acc = int(sum(int(w[j]) * codes[j] for j in range(3))) & 0xFFFFFFFF
    res = Results.unpack(stub_result(img, codes))
    assert res.cls == acc & 0xFF and res.spikes == (acc,) and res.cycles == 5


def test_golden_core_matches_golden_results_and_the_twins():
    """The device model's GoldenCore composes the golden encoder and network itself, on
    the bytes uploaded into its bank; ``golden_results`` composes the same two golden
    functions on the parsed image: equal, they check the upload and storage, not the
    computation.  The computation is held to the scalar twins (:mod:`twins`), computed
    from the real EncoderConfig and the network before packing."""
    rng = np.random.default_rng(0)
    net = random_network(rng, [9, 8, 4])
    cfg = EncoderConfig(delta=2.0, tmax=0.4, dt=0.01, samples=5)
    img = build_image(network=net, encoder=cfg, n_features=3)
    assert img == small_image()                        # the image committed_device uploads
    dev, _ = committed_device(core=GoldenCore())
    r = random.Random(1)
    image = parse_image(img)
    for _ in range(5):
        codes = [r.randrange(-128, 128) for _ in range(3)]
        got = Results.unpack(classify(dev, codes))
        assert got == golden_results(image, codes) == twin_results(net, cfg, codes), codes


def status(dev) -> Status:
    return Status.unpack(one_reply(dev, encode_frame(Cmd.STATUS)).payload)


def test_two_resident_models_select_and_bank_rules():
    """Two banks, each a complete model: SELECT switches between them with no upload;
    an upload into the bank being served is refused; an interrupted upload leaves its
    bank empty and unselectable while the other keeps serving."""
    from dynalign.hw.wire import BANK_EMPTY, BANK_UPLOADING, BANK_VALID
    dev, a = committed_device(core=GoldenCore())
    b = small_image(seed=9)
    codes = [5, -7, 100]
    ra = classify(dev, codes)
    st = status(dev)
    assert st.bank_state == (BANK_VALID, BANK_EMPTY) and st.bank_crc == (crc32(a), 0)
    expect_error(dev, encode_frame(Cmd.IMAGE_BEGIN, b[:IMAGE_HEADER_LEN] + b"\x00"),
                 Err.BANK_SERVED)
    expect_error(dev, encode_frame(Cmd.IMAGE_BEGIN, b[:IMAGE_HEADER_LEN] + b"\x02"),
                 Err.NO_BANK)
    expect_error(dev, encode_frame(Cmd.SELECT, b"\x01"), Err.BANK_INVALID)
    expect_error(dev, encode_frame(Cmd.SELECT, b"\x02"), Err.NO_BANK)
    expect_error(dev, encode_frame(Cmd.SELECT, b""), Err.LENGTH)
    assert upload(dev, b).payload == b"\x01"
    rb = classify(dev, codes)
    assert rb != ra
    st = status(dev)
    assert st.bank_state == (BANK_VALID, BANK_VALID) and st.active_bank == 1
    assert st.bank_crc == (crc32(a), crc32(b))
    for bank, want in ((0, ra), (1, rb), (0, ra), (0, ra), (1, rb)):
        assert one_reply(dev, encode_frame(Cmd.SELECT, bytes([bank]))).payload == \
            bytes([bank])
        assert classify(dev, codes) == want
    # an interrupted upload into the idle bank (0): it is empty, the served one serves
    reqs = image_requests(small_image(seed=4), max_payload=96, bank=0)
    for cmd, payload in reqs[:3]:
        one_reply(dev, encode_frame(cmd, payload))
    st = status(dev)
    assert st.bank_state == (BANK_UPLOADING, BANK_VALID) and st.upload_open
    expect_error(dev, encode_frame(Cmd.SELECT, b"\x00"), Err.BANK_INVALID)
    assert classify(dev, codes) == rb
    expect_error(dev, encode_frame(*reqs[-1]), Err.INCOMPLETE)
    st = status(dev)
    assert st.bank_state == (BANK_EMPTY, BANK_VALID) and not st.upload_open
    expect_error(dev, encode_frame(Cmd.SELECT, b"\x00"), Err.BANK_INVALID)
    assert classify(dev, codes) == rb and status(dev).active_bank == 1


def test_image_lanes_layout():
    """Version 2 lays the weights out in the device's lane words: the same network at
    any lanes parses back to the same integers; byte k of word g n_in + j is
    W[g lanes + k, j]."""
    from dynalign.hw.wire import LAYERS_OFFSET, layer_block, relayout
    img = small_image(sizes=(7, 4))
    net = parse_image(img).network
    for lanes in (1, 2, 4, 8):
        other = relayout(img, lanes=lanes)
        dev = parse_image(other)
        assert dev.header.lanes == lanes and len(other) == dev.header.total_len
        for la, lb in zip(dev.network.layers, net.layers):
            assert np.array_equal(la.weight, lb.weight)
        at, _ = layer_block(LAYERS_OFFSET, 9, 7, lanes)
        assert at % lanes == 0
        w = net.layers[0].weight
        for g, j, k in ((0, 0, 0), (0, 3, lanes - 1), (-(-7 // lanes) - 1, 8, 0)):
            i = g * lanes + k
            want = int(w[i, j]) if i < 7 else 0
            assert np.uint8(other[at + (g * 9 + j) * lanes + k]).view(np.int8) == want
        assert relayout(other, lanes=1) == img
    old = bytearray(img)
    old[2] = 1
    with pytest.raises(ValueError, match="model image version 1: .* version 4 only"):
        parse_image(bytes(old))
