"""End to end: the host driver over the simulated UART into the Verilated DynalignTop
(encoder + LIF network + command engine): upload, classify, run-time mode switch, and
every fault of the issue, compared with the golden model."""

import numpy as np
import pytest

from hw.formats import QFormat
from hw.lif.ref import random_network
from hw.protocol import IMAGE_HEADER_LEN, Cmd, Err, encode_frame
from hw.systems import EncoderConfig
from hw.top import DynalignTop, lif_limits
from sw.protocol import build_image, parse_image
from sw.verify_system import compare_results, system_limits, verify_system

#: 4-bit feature codes (-8..7): the encoder's table refill integrates 16 codes instead of
#: 256, so that a simulated mode switch takes thousands of cycles, not millions.
SMALL_CODE = QFormat("code", 4, 6)
DIVISOR = 8


def model(seed, *, delta, sizes=(12, 6)):
    rng = np.random.default_rng(seed)
    enc = EncoderConfig(delta=delta, tmax=0.4, dt=0.01, samples=5)
    net = random_network(rng, [9, *sizes], rate=0.3)
    return build_image(network=net, encoder=enc, n_features=3)


def codes(seed, n):
    return np.random.default_rng(seed).integers(-8, 8, size=(n, 3))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from sim.tb_top_run import run_top_job
    a, b = model(1, delta=2.0), model(2, delta=-1.5)
    limits = lif_limits(max_features=4, max_samples=5, max_sizes=(12, 6), lanes=2,
                        max_payload=128)
    top = DynalignTop(limits=limits, divisor=DIVISOR, code_format=SMALL_CODE)
    ca = codes(3, 3)
    big = model(4, delta=2.0, sizes=(13, 6))
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
        ("too_large", {"hex": encode_frame(Cmd.IMAGE_BEGIN, big[:IMAGE_HEADER_LEN]).hex()},
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
    ops += [{"op": "upload", "image": a.hex()}, {"op": "classify", "codes": ca[0].tolist()}]
    out = run_top_job(top, ops, tag="pytest")
    return {"a": a, "b": b, "ca": ca, "faults": faults, "out": out["ops"], "summary": out}


def test_upload_and_classify_match_golden(session):
    ops = session["out"]
    assert ops[1]["bank"] == 1
    image = parse_image(session["a"])
    for op, c in zip(ops[2:5], session["ca"]):
        ok, got, exp = compare_results(op["results"], image, c)
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
    assert status["model_valid"] and status["active_bank"] == 1
    assert status["crc_errors"] == 2 and status["timeouts"] == 1
    assert status["dropped_bytes"] == 4
    before = [op["results"] for op in ops[2:5]]
    after = [op["results"] for op in ops[6 + len(faults):9 + len(faults)]]
    strip = [r[:8] + r[16:] for r in before]            # cycles may differ
    assert [r[:8] + r[16:] for r in after] == strip


def test_mode_switch_without_rebuild(session):
    ops = session["out"]
    n = 9 + len(session["faults"])
    assert ops[n]["bank"] == 0
    image_b = parse_image(session["b"])
    for op, c in zip(ops[n + 1:n + 4], session["ca"]):
        ok, got, exp = compare_results(op["results"], image_b, c)
        assert ok, (got, exp)
    assert ops[n + 4]["bank"] == 1
    ok, _, _ = compare_results(ops[n + 5]["results"], parse_image(session["a"]),
                               session["ca"][0])
    assert ok


def test_checker_catches_a_one_bit_error(session):
    op = session["out"][2]
    image = parse_image(session["a"])
    res = bytearray(bytes.fromhex(op["results"]))
    res[-1] ^= 1
    ok, _, _ = compare_results(bytes(res).hex(), image, session["ca"][0])
    assert not ok


def test_system_limits_cover_both_images():
    lim = system_limits([parse_image(model(1, delta=2.0)),
                         parse_image(model(2, delta=-1.5, sizes=(8, 6, 4)))], lanes=2)
    assert lim.max_sizes == (12, 6, 4) and lim.max_features == 3


@pytest.mark.slow
def test_verify_system_switch():
    a, b = model(1, delta=2.0), model(2, delta=-1.5)
    rep = verify_system([a, b], [codes(5, 8), codes(6, 8)], samples=8, lanes=2,
                        code_format=SMALL_CODE)
    assert rep["mismatches"] == 0 and rep["compared"] == 21 and rep["mode_switches"] == 2


def test_top_parameter_validation():
    lim = lif_limits(max_features=4, max_samples=5, max_sizes=(12, 6), lanes=2)
    with pytest.raises(ValueError, match="core must be 'lif' or 'stub'"):
        DynalignTop(limits=lim, divisor=8, core="gpu")
    with pytest.raises(ValueError, match="divisor must be at least 4"):
        DynalignTop(limits=lim, divisor=2)
