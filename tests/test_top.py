"""End to end: the host driver over the simulated UART into the Verilated DynalignTop
(encoder + LIF network + command engine): upload, classify, run-time mode switch, and
every fault of the issue, compared with the golden model."""

from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Signal
from planted import encoder_samples, swap_packed_nibbles

from dynalign.constraints.boards import limits_for_images
from dynalign.hw.formats import CODE, SAMPLE, QFormat
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.top import DynalignTop, LIFCore, lif_limits
from dynalign.hw.wire import (
    ENCODER_OFFSET,
    IMAGE_HEADER_LEN,
    SHIFTS_LEN,
    SHIFTS_OFFSET,
    Cmd,
    Err,
    Results,
    build_image,
    encode_frame,
    golden_table,
    image_requests,
    pack_table,
    parse_image,
    relayout,
)
from dynalign.sw.verify_system import compare_results, verify_system

#: 4-bit feature codes (-8..7): the encoder's table refill integrates 16 codes instead of
#: 256, so that a simulated mode switch takes thousands of cycles, not millions.
SMALL_CODE = QFormat("code", 4, 6)
DIVISOR = 8
#: quiet windows (4,000 cycles each) an operation may wait for its reply: a device that
#: stopped fails the session after 2 M cycles instead of 20 M per operation
QUIET_LIMIT = 500


def model(seed, *, delta, sizes=(12, 6), reset="subtract", step_shifts=None, packed=()):
    rng = np.random.default_rng(seed)
    enc = EncoderConfig(delta=delta, tmax=0.4, dt=0.01, samples=5, step_shifts=step_shifts)
    calib = None
    if packed:      # thresholds from the encoder's samples of 4-bit codes: a lively layer 1
        calib = encoder_samples(enc, np.random.default_rng(seed).integers(-8, 8, (48, 3)))
    net = random_network(rng, [9, *sizes], rate=0.3, reset=reset, packed=packed,
                         calib=calib)
    return build_image(network=net, encoder=enc, n_features=3)


def codes(seed, n):
    return np.random.default_rng(seed).integers(-8, 8, size=(n, 3))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from dynalign.sw.sim_link import run_ops
    # b: zero reset, per-step input shifts (the loader writes them, the integrator
    # shifts each sample as it fills the table), and 4-bit weights in layer 1 (two to a
    # byte of the store; a has 8-bit weights, and SELECT switches between them)
    a = model(1, delta=2.0)
    b = model(2, delta=-1.5, reset="zero", step_shifts=(0, 1, 2, 3, 4), packed=(0,))
    # lanes 8 and 4-bit layers: the ULX3S's (the integrating encoder)
    limits = lif_limits(max_features=4, max_samples=5, max_sizes=(12, 6), lanes=8,
                        max_payload=128, packed=True)
    top = DynalignTop(limits=limits, divisor=DIVISOR, code_format=SMALL_CODE)
    ca = codes(3, 3)
    big = relayout(model(4, delta=2.0, sizes=(13, 6)), lanes=8)   # in the device's words
    flipped = bytearray(encode_frame(Cmd.FEATURES, b"\x01\x02\x03", seq=200))
    flipped[6] ^= 0x10
    bad_crc = bytearray(encode_frame(Cmd.RUN, seq=201))
    bad_crc[-1] ^= 0xFF
    faults = [
        ("flipped_bit", {"hex": bytes(flipped).hex()}, Err.CRC),
        ("wrong_crc", {"hex": bytes(bad_crc).hex()}, Err.CRC),
        ("truncated", {"hex": encode_frame(Cmd.FEATURES, b"\x01\x02\x03")[:-3].hex()},
         Err.TIMEOUT),
        ("unknown_cmd", {"hex": encode_frame(0x55, b"xy").hex()}, Err.UNKNOWN_CMD),
        ("wrong_length", {"hex": encode_frame(Cmd.IMAGE_COMMIT, bytes(3)).hex()}, Err.LENGTH),
        ("too_long", {"hex": encode_frame(Cmd.FEATURES, bytes(129)).hex()}, Err.LENGTH),
        ("garbage", {"hex": "0013ff37", "reply": False, "wait": 200}, None),
        ("too_large", {"hex": encode_frame(Cmd.IMAGE_BEGIN,
                                           big[:IMAGE_HEADER_LEN] + b"\x01").hex()},
         Err.TOO_LARGE),
        ("framing_prefix", {"hex": "a521", "reply": False, "wait": 10}, None),
        ("framing", {"bits": [0] + [1, 0] * 4 + [0]}, Err.FRAMING),
    ]
    ops = [{"op": "identify"}, {"op": "upload", "image": a.hex()}]
    ops += [{"op": "classify", "codes": c.tolist()} for c in ca]
    for _, raw, _ in faults:
        ops += [dict(op="raw", **raw)]
    ops += [{"op": "status"}]
    ops += [{"op": "classify", "codes": c.tolist()} for c in ca]
    ops += [{"op": "upload", "image": b.hex()}]
    ops += [{"op": "classify", "codes": c.tolist()} for c in ca]
    # both resident: SELECT switches back and forth, no upload
    ops += [{"op": "select", "bank": 0}, {"op": "classify", "codes": ca[0].tolist()},
            {"op": "select", "bank": 1}, {"op": "classify", "codes": ca[1].tolist()},
            {"op": "select", "bank": 0}, {"op": "classify", "codes": ca[2].tolist()}]
    out = run_ops(top, ops, tag="pytest", quiet_limit=QUIET_LIMIT)
    return {"a": a, "b": b, "ca": ca, "faults": faults, "out": out["ops"], "summary": out,
            "limits": limits, "ops": ops}


def test_upload_and_classify_match_golden(session):
    ops = session["out"]
    assert ops[1]["bank"] == 0
    image = parse_image(session["a"])
    for op, c in zip(ops[2:5], session["ca"]):
        ok, got, exp = compare_results(op["results"], image, c, limits=session["limits"])
        assert ok, (got, exp)


def test_faults_get_error_replies_and_model_survives(session):
    ops = session["out"]
    faults = session["faults"]
    raw_ops = ops[5:5 + len(faults)]
    for (name, _, err), op in zip(faults, raw_ops):
        if err is None:
            assert op.get("reply") is None, name
        else:
            assert op["reply"]["cmd"] == 0xFF and op["reply"]["payload"][:2] == \
                f"{int(err):02x}", (name, op)
    status = ops[5 + len(faults)]["status"]
    assert status["model_valid"] and status["active_bank"] == 0
    assert status["bank_state"] == [2, 0]
    assert status["crc_errors"] == 2 and status["timeouts"] == 1
    assert status["dropped_bytes"] == 4
    before = [op["results"] for op in ops[2:5]]
    after = [op["results"] for op in ops[6 + len(faults):9 + len(faults)]]
    strip = [r[:8] + r[16:] for r in before]            # cycles may differ
    assert [r[:8] + r[16:] for r in after] == strip


def test_mode_switch_without_rebuild(session):
    ops = session["out"]
    n = 9 + len(session["faults"])
    assert ops[n]["bank"] == 1
    image_a, image_b = parse_image(session["a"]), parse_image(session["b"])
    for op, c in zip(ops[n + 1:n + 4], session["ca"]):
        ok, got, exp = compare_results(op["results"], image_b, c, limits=session["limits"])
        assert ok, (got, exp)
    # three SELECT switches between the resident models, each verified bit for bit
    for i, (bank, image) in enumerate(((0, image_a), (1, image_b), (0, image_a))):
        assert ops[n + 4 + 2 * i]["bank"] == bank
        ok, got, exp = compare_results(ops[n + 5 + 2 * i]["results"], image,
                                       session["ca"][i], limits=session["limits"])
        assert ok, (got, exp)


def test_zero_reset_reaches_the_core(session):
    """Model b's layers reset to zero (bit 0 of their layer flags): its results matched
    the golden model above; read as subtract-reset layers (the flags cleared, a fault
    planted in the data) the golden model disagrees, so the comparison can fail."""
    image_b = parse_image(session["b"])
    assert all(layer.reset == "zero" for layer in image_b.network.layers)
    n = 9 + len(session["faults"])
    subtract = replace(image_b, network=replace(image_b.network, layers=tuple(
        replace(layer, reset="subtract") for layer in image_b.network.layers)))
    verdicts = [compare_results(op["results"], subtract, c,
                                        limits=session["limits"])[0]
                for op, c in zip(session["out"][n + 1:n + 4], session["ca"])]
    assert not all(verdicts)


def test_step_shifts_reach_the_integrator(session):
    """Model b carries per-step input shifts (image version 3): its results matched the
    golden model above; read without them (the step-shift block zeroed, a fault planted
    in the data) the golden model disagrees, so the comparison can fail."""
    image_b = bytearray(session["b"])
    assert parse_image(bytes(image_b)).encoder.step_shifts == (0, 1, 2, 3, 4)
    image_b[SHIFTS_OFFSET:SHIFTS_OFFSET + SHIFTS_LEN] = bytes(SHIFTS_LEN)
    unshifted = parse_image(bytes(image_b))
    n = 9 + len(session["faults"])
    verdicts = [compare_results(op["results"], unshifted, c, limits=session["limits"])[0]
                for op, c in zip(session["out"][n + 1:n + 4], session["ca"])]
    assert not all(verdicts)


def test_4_bit_weights_reach_the_core(session):
    """Model b's layer 1 has 4-bit weights, two to a byte of the store (the header's
    packed byte): its results matched the golden model above, after SELECT switches from
    and back to the 8-bit model a; read with every packed byte's nibbles swapped (a
    fault planted in the data: the other half of each byte taken) the golden model
    disagrees, so the comparison can fail."""
    parsed = parse_image(session["b"])
    assert parsed.header.packed == 1 and parsed.network.layers[0].weight_bits == 4
    other = parse_image(swap_packed_nibbles(session["b"]))
    n = 9 + len(session["faults"])
    verdicts = [compare_results(op["results"], other, c, limits=session["limits"])[0]
                for op, c in zip(session["out"][n + 1:n + 4], session["ca"])]
    assert not all(verdicts)


def test_checker_catches_a_one_bit_error(session):
    op = session["out"][2]
    image = parse_image(session["a"])
    res = bytearray(bytes.fromhex(op["results"]))
    res[-1] ^= 1
    ok, _, _ = compare_results(bytes(res).hex(), image, session["ca"][0], limits=session["limits"])
    assert not ok


def test_system_limits_cover_both_images():
    lim = limits_for_images([parse_image(model(1, delta=2.0)),
                         parse_image(model(2, delta=-1.5, sizes=(8, 6, 4)))], lanes=2)
    assert lim.max_sizes == (12, 6, 4) and lim.max_features == 3


@pytest.mark.slow
def test_verify_system_switch():
    # b: zero reset, and per-step input shifts (the loader writes them, the integrator
    # shifts each sample as it fills the table)
    a, b = model(1, delta=2.0), model(2, delta=-1.5, reset="zero", step_shifts=(0, 1, 2, 3, 4))
    rep = verify_system([a, b], [codes(5, 8), codes(6, 8)], samples=8, lanes=2,
                        code_format=SMALL_CODE)
    assert rep["mismatches"] == 0 and rep["compared"] == 35 and rep["mode_switches"] == 4
    assert rep["select_switches"] == 3 and rep["interrupted_uploads"] == 1


def test_top_parameter_validation():
    lim = lif_limits(max_features=4, max_samples=5, max_sizes=(12, 6), lanes=2)
    with pytest.raises(ValueError, match="core must be 'lif' or 'stub'"):
        DynalignTop(limits=lim, divisor=8, core="gpu")
    with pytest.raises(ValueError, match="divisor must be at least 4"):
        DynalignTop(limits=lim, divisor=2)
    table = lif_limits(max_features=4, max_samples=5, max_sizes=(12, 6), lanes=2,
                       table=True)
    with pytest.raises(ValueError, match="code_format must be CODE"):
        DynalignTop(limits=table, divisor=8, code_format=SMALL_CODE)


# ---- the table core (no integrator: the image's table block is served) ---------------

def table_model(seed, *, delta, sizes=(12, 6)):
    rng = np.random.default_rng(seed)
    enc = EncoderConfig(delta=delta, tmax=0.02, dt=0.01, samples=2)
    net = random_network(rng, [9, *sizes], rate=0.3)
    return build_image(network=net, encoder=enc, n_features=3)   # the driver adds the table


@pytest.fixture(scope="module")
def table_session():
    """The iCEBreaker's configuration (table core, one lane, the model store in the
    single-port SPRAM).  Upload A (the driver adds its table block), classify; WRITE_ENCODER and an
    image without a table are refused; a *tampered* table (uploaded frame by frame, the driver
    would refuse it) is served as uploaded; switch to B and back to A."""
    from dynalign.sw.sim_link import run_ops
    a, b = table_model(1, delta=2.0), table_model(2, delta=-1.5)
    limits = lif_limits(max_features=4, max_samples=2, max_sizes=(12, 6), lanes=1,
                        max_payload=128, table=True)                  # the iCEBreaker's
    top = DynalignTop(limits=limits, divisor=DIVISOR, store_ram="spram")   # as on the UP5K
    cs = np.random.default_rng(7).integers(-128, 128, size=(3, 3))
    image_a = parse_image(a)
    table, sat = golden_table(image_a.encoder)
    rows = cs[0] - CODE.min_int             # the rows of sample 0: samples -> 2.0, flag set
    table[rows], sat[rows] = 2 << SAMPLE.frac, True
    with_table = build_image(network=image_a.network, encoder=image_a.encoder,
                             n_features=3, table=True)
    tampered = with_table[:parse_image(with_table).header.model_len()] \
        + pack_table(table, sat)
    raw = [{"op": "raw", "hex": encode_frame(c, p, seq=i).hex()}
           for i, (c, p) in enumerate(image_requests(tampered, max_payload=128, bank=1))]
    ops = [{"op": "identify"}, {"op": "upload", "image": a.hex()}]
    ops += [{"op": "classify", "codes": c.tolist()} for c in cs]                   # 2..4
    ops += [{"op": "raw", "hex": encode_frame(Cmd.WRITE_ENCODER,
                                              a[ENCODER_OFFSET:SHIFTS_OFFSET]).hex()},
            {"op": "raw", "hex": encode_frame(Cmd.IMAGE_BEGIN,
                                              a[:IMAGE_HEADER_LEN] + b"\x01").hex()}]
    ops += raw + [{"op": "classify", "codes": cs[0].tolist()}]
    ops += [{"op": "upload", "image": b.hex()}]                 # into bank 0, over A
    ops += [{"op": "classify", "codes": c.tolist()} for c in cs]
    # both tables resident: SELECT serves the tampered one again, then B
    ops += [{"op": "select", "bank": 1}, {"op": "classify", "codes": cs[0].tolist()},
            {"op": "select", "bank": 0}, {"op": "classify", "codes": cs[1].tolist()}]
    out = run_ops(top, ops, tag="pytest_table", quiet_limit=QUIET_LIMIT)
    return {"a": a, "b": b, "cs": cs, "tampered": tampered, "n_raw": len(raw),
            "out": out["ops"], "limits": limits, "ops": ops}


def test_table_core_classifies_switches_and_refuses(table_session):
    ops, cs = table_session["out"], table_session["cs"]
    image_a, image_b = parse_image(table_session["a"]), parse_image(table_session["b"])
    assert ops[1]["bank"] == 0
    for op, c in zip(ops[2:5], cs):
        ok, got, exp = compare_results(op["results"], image_a, c, limits=table_session["limits"])
        assert ok, (got, exp)
    assert ops[5]["reply"]["payload"][:2] == f"{int(Err.UNSUPPORTED):02x}"
    assert ops[6]["reply"]["payload"][:2] == f"{int(Err.IMAGE_FORMAT):02x}"
    n = 7 + table_session["n_raw"] + 1
    assert ops[n]["bank"] == 0                      # the tampered upload made bank 1 active
    for op, c in zip(ops[n + 1:n + 4], cs):
        ok, got, exp = compare_results(op["results"], image_b, c, limits=table_session["limits"])
        assert ok, (got, exp)
    served = parse_image(table_session["tampered"], check_table=False)
    assert ops[n + 4]["bank"] == 1
    ok, got, exp = compare_results(ops[n + 5]["results"], served, cs[0],
                                   limits=table_session["limits"])
    assert ok, (got, exp)
    assert ops[n + 6]["bank"] == 0
    ok, got, exp = compare_results(ops[n + 7]["results"], image_b, cs[1],
                                   limits=table_session["limits"])
    assert ok, (got, exp)


def test_table_core_serves_the_uploaded_table(table_session):
    """The tampered table's answer is the golden answer *of that table*, and differs from
    the true encoder's: the device computes with what was uploaded."""
    ops, cs = table_session["out"], table_session["cs"]
    res = ops[7 + table_session["n_raw"]]["results"]
    served = parse_image(table_session["tampered"], check_table=False)
    ok, got, exp = compare_results(res, served, cs[0], limits=table_session["limits"])
    assert ok, (got, exp)
    ok, _, _ = compare_results(res, parse_image(table_session["a"]), cs[0],
                               limits=table_session["limits"])
    assert not ok
    with pytest.raises(ValueError, match="table block disagrees"):
        parse_image(table_session["tampered"])


# ---- the cycle model of the whole device, and the Python device beside the RTL -------

def _model_records(limits, ops):
    """The RESULTS payloads that the Python device (the golden core, cycles from the
    whole-device model of these limits) answers to the ``upload`` / ``classify`` ops."""
    from dynalign.sw.device_model import DeviceModel, golden_core
    from dynalign.sw.driver import Device, ModelTransport, run_sync
    dev = Device(ModelTransport(DeviceModel(limits=limits, core=golden_core(limits))))

    async def go():
        out = []
        for op in ops:
            if op["op"] == "upload":
                await dev.upload(bytes.fromhex(op["image"]), bank=op.get("bank"))
            elif op["op"] == "select":
                await dev.select(op["bank"])
            elif op["op"] == "classify":
                out.append((await dev.classify(op["codes"])).pack().hex())
        return out
    return run_sync(go())


@pytest.mark.parametrize("which", ["session", "table_session"])
def test_python_device_answers_the_rtl_cycles(which, request):
    """The device model with the golden core answers, for the same uploads and codes, the
    very bytes the Verilated top answered -- ``cycles`` included (lanes 8 with the
    integrator; lanes 1 with the table core, the iCEBreaker's)."""
    sess = request.getfixturevalue(which)
    n = next(i for i, op in enumerate(sess["ops"]) if op["op"] == "raw")
    ops = sess["ops"][:n]                   # up to the first raw frame
    rtl = [o["results"] for o, op in zip(sess["out"][:n], ops) if op["op"] == "classify"]
    got = _model_records(sess["limits"], ops)
    assert len(got) == 3 and got == rtl
    assert all(Results.unpack(bytes.fromhex(r)).cycles > 0 for r in rtl)


class SlowFeedCore(LIFCore):
    """A planted timing fault: a one-entry register slice on the code stream from the run
    sequencer to the encoder (a wait state per code, as one might add for timing).  The
    results are those of the golden model; only the latency grows, by one cycle."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        run, enc = m.submodules.run, m.submodules.enc
        full = Signal()
        code = Signal.like(run.codes.payload)
        # later assignments win: they replace the direct connection made by LIFCore
        m.d.comb += [run.codes.ready.eq(~full), enc.i_codes.valid.eq(full),
                     enc.i_codes.payload.eq(code)]
        with m.If(run.codes.valid & ~full):
            m.d.sync += [full.eq(1), code.eq(run.codes.payload)]
        with m.If(full & enc.i_codes.ready):
            m.d.sync += full.eq(0)
        return m


def test_a_planted_timing_fault_fails_the_cycle_check():
    """The same results one cycle later: ``verify system`` reports every record, naming
    the model, the sample and both counts; nothing but ``cycles`` differs."""
    a = table_model(1, delta=2.0)
    limits = lif_limits(max_features=4, max_samples=2, max_sizes=(12, 6), lanes=1,
                        max_payload=128, table=True)
    top = DynalignTop(limits=limits, divisor=DIVISOR)
    top.core = SlowFeedCore(limits=limits, store_addr_width=top.engine.store_aw,
                            feat_addr_width=top.engine.feat_aw,
                            table_addr_width=top.engine.table_aw)
    cs = np.random.default_rng(7).integers(-128, 128, size=(2, 3))
    rep = verify_system([a], [cs], samples=None, top=top)
    assert rep["compared"] == 2 and rep["mismatches"] == 2
    first = rep["first_mismatch"]
    got, exp = first["got"]["cycles"], first["expected"]["cycles"]
    assert got == exp + 1
    assert first["message"] == (f"model A sample 0: cycles {got} on the device, {exp} "
                                "from the model")
    assert {k: v for k, v in first["got"].items() if k != "cycles"} == \
        {k: v for k, v in first["expected"].items() if k != "cycles"}
