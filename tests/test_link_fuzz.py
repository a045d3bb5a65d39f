"""Randomised differential fault testing of the command engine: random sequences of
faults (garbage, flipped bits at random positions, truncations, quiet gaps around the
timeout, interrupted and duplicated uploads, framing errors at any moment, bytes and
framing errors while a reply is in flight) through the gateware and the device model,
byte for byte, plus invariants that do not ask the model: every good frame answered
once with its SEQ, nothing half-applied (each bank holds the last image committed into
it, whole, or is empty after an upload into it began; the bank served is the last one a
good commit or SELECT named), every framing error and every byte lost during a reply
counted.  Uploads name a random bank (the served one and banks past 1 included), SELECT
frames name any bank.

Seeds are stable integers, printed in every failure; ``make test`` runs a few short
scripts, ``--runslow`` many long ones.
"""

import random

import numpy as np
import pytest
from link_harness import TIMEOUT, Script, check_script

from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    BANK_VALID,
    ERROR,
    REPLY,
    Cmd,
    Err,
    FrameDecoder,
    Limits,
    Results,
    Status,
    build_image,
    crc32,
    encode_frame,
    image_requests,
)
from dynalign.sw.device_model import stub_result

LIMITS = Limits(max_features=4, max_samples=5, max_sizes=(16, 8, 4), max_payload=96)
K = 3


def _image(seed):
    net = random_network(np.random.default_rng(seed), [3 * K, 8, 4])
    return build_image(network=net, encoder=EncoderConfig(delta=2.0), n_features=K)


IMAGES = [_image(0), _image(7)]


class Fuzz:
    """Builds a random script; keeps what the invariants need."""

    def __init__(self, seed, n_ops):
        self.rng = random.Random(seed)
        self.sc = Script(limits=LIMITS, timeout=TIMEOUT)
        self.seq = 0
        self.codes = [5, -7, 100]
        self.good = []               # (step index, seq, cmd) of each well-formed frame
        for _ in range(n_ops):
            self.op()
        self.finish()

    # -- building blocks ----------------------------------------------------------------
    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def frame(self, cmd, payload=b"", note=None):
        seq = self.next_seq()
        quiet = not self.sc.model.in_frame
        self.sc.frame(cmd, payload, seq=seq, note=note or f"{Cmd(cmd).name} seq {seq}")
        if quiet:
            self.good.append((len(self.sc.steps) - 1, seq, cmd))
        self.maybe_busy()

    def maybe_busy(self):
        rng = self.rng
        if self.sc.can_busy() and rng.random() < 0.3:
            last = self.sc.steps[-1]
            lo = 1 if last.kind == "gap" else 0
            k = rng.randrange(lo, len(last.reply))
            items = [rng.choice([0xA5, rng.randrange(256), "F"]) for _ in
                     range(rng.randrange(1, 5))]
            self.sc.busy(k, items, f"{len(items)} items after {k} reply bytes")

    def raw(self, data, note):
        self.sc.send(data, note)
        self.maybe_busy()

    def any_good_request(self):
        rng = self.rng
        c = rng.choice([Cmd.IDENTIFY, Cmd.STATUS, Cmd.RUN, Cmd.RESULTS, Cmd.FEATURES,
                        Cmd.FEATURES, Cmd.WRITE_ENCODER, Cmd.SELECT, Cmd.SELECT])
        if c == Cmd.SELECT:
            return c, bytes([rng.choice([0, 1, 0, 1, 2])])
        if c == Cmd.FEATURES:
            n = K if rng.random() < 0.8 else rng.randrange(1, 6)
            return c, bytes(rng.randrange(256) for _ in range(n))
        if c == Cmd.WRITE_ENCODER:
            img = rng.choice(IMAGES)
            return c, img[32:112]
        return c, b""

    # -- operations ---------------------------------------------------------------------
    def op(self):
        rng = self.rng
        kind = rng.choices(["good", "upload", "interrupted", "duplicated", "flip",
                            "truncate", "garbage", "gap", "framing", "too_long"],
                           [6, 2, 2, 1, 3, 2, 2, 2, 2, 1])[0]
        if kind == "good":
            self.frame(*self.any_good_request())
        elif kind == "too_long":
            n = LIMITS.max_payload + rng.randrange(1, 20)
            self.frame(Cmd.FEATURES, bytes(n), note=f"FEATURES of {n} bytes (too long)")
        elif kind in ("upload", "interrupted", "duplicated"):
            served = self.sc.model.active
            bank = rng.choices([served ^ 1, served, 2], [6, 3, 1])[0]
            reqs = image_requests(rng.choice(IMAGES), max_payload=LIMITS.max_payload,
                                  bank=bank)
            if kind == "interrupted":
                reqs = reqs[:rng.randrange(1, len(reqs))]
            elif kind == "duplicated":
                i = rng.randrange(len(reqs))
                reqs = reqs[:i + 1] + reqs[i:]
            for c, p in reqs:
                self.frame(c, p, note=f"{kind} upload: {Cmd(c).name}")
        elif kind == "flip":
            c, p = self.any_good_request()
            f = bytearray(encode_frame(c, p, seq=self.next_seq()))
            pos, bit = rng.randrange(len(f)), rng.randrange(8)
            f[pos] ^= 1 << bit
            self.raw(bytes(f), f"{Cmd(c).name} with bit {bit} of byte {pos} flipped")
            self.settle()
        elif kind == "truncate":
            c, p = self.any_good_request()
            f = encode_frame(c, p, seq=self.next_seq())
            n = rng.randrange(1, len(f))
            self.raw(f[:n], f"{Cmd(c).name} cut after {n} of {len(f)} bytes")
            self.settle()
        elif kind == "garbage":
            data = bytes(rng.choice([0xA5, rng.randrange(256)]) for _ in
                         range(rng.randrange(1, 8)))
            self.raw(data, f"garbage {data.hex()}")
            self.settle()
        elif kind == "gap":
            # a frame with one quiet gap around the timeout before one of its bytes
            c, p = self.any_good_request()
            seq = self.next_seq()
            f = encode_frame(c, p, seq=seq)
            n = rng.randrange(1, len(f))
            g = rng.choice([TIMEOUT - 1, TIMEOUT, TIMEOUT + 1, TIMEOUT + 2,
                            rng.randrange(1, 3 * TIMEOUT)])
            quiet = not self.sc.model.in_frame
            self.raw(f[:n], f"{Cmd(c).name} seq {seq}, first {n} bytes")
            self.sc.gap(g, f"{g} quiet cycles inside {Cmd(c).name}")
            self.maybe_busy()
            self.sc.send(f[n:], f"{Cmd(c).name} seq {seq}, the rest after {g} cycles")
            if quiet and g <= TIMEOUT:
                self.good.append((len(self.sc.steps) - 1, seq, c))
            self.maybe_busy()
            self.settle()
        elif kind == "framing":
            c, p = self.any_good_request()
            f = encode_frame(c, p, seq=self.next_seq())
            n = rng.randrange(0, len(f))
            self.raw(f[:n], f"{Cmd(c).name}, {n} bytes, then a framing error")
            self.sc.framing(f"framing error after {n} bytes of {Cmd(c).name}")
            self.maybe_busy()
            self.settle()

    def settle(self):
        """Whatever is left of a broken frame times out (or, sometimes, is left for the
        next frame to run into)."""
        if self.sc.model.in_frame and self.rng.random() < 0.85:
            self.sc.gap(self.rng.choice([TIMEOUT + 1, 2 * TIMEOUT]), "quiet: timeout")
            self.maybe_busy()

    def finish(self):
        self.sc.gap(2 * TIMEOUT, "quiet before the final checks")
        self.sc.frame(Cmd.STATUS, seq=0xEF, note="final STATUS")
        self.status_step = len(self.sc.steps) - 1
        self.counted = (self.sc.framing_errors, self.sc.lost_bytes)    # up to its request
        self.maybe_busy()               # (these show in the next STATUS, not this one)
        self.sc.frame(Cmd.FEATURES, bytes(c & 0xFF for c in self.codes), seq=0xF0,
                      note="final FEATURES")
        self.sc.frame(Cmd.RUN, seq=0xF1, note="final RUN")
        self.sc.frame(Cmd.RESULTS, seq=0xF2, note="final RESULTS")
        self.results_step = len(self.sc.steps) - 1


def fuzz_once(seed, n_ops, **kw):
    """One random script; odd seeds run the model store in the SPRAM model."""
    fz = Fuzz(seed, n_ops)
    store_ram = "spram" if seed % 2 else "memory"
    frames, slices = check_script(fz.sc, seed=seed, store_ram=store_ram, **kw)
    where = f"seed {seed} ({store_ram})"
    # every well-formed frame on a quiet line: exactly one reply, its SEQ, its command
    steps = fz.sc.steps
    for i, seq, cmd in fz.good:
        tail = slices[i + 1] if i + 1 < len(steps) and steps[i + 1].kind == "busy" else b""
        got = FrameDecoder().feed(slices[i] + tail)      # (a busy step: it came then)
        assert len(got) == 1 and got[0].seq == seq and \
            got[0].cmd in (cmd | REPLY, ERROR), (where, i, fz.sc.steps[i].note, got)
    # nothing half-applied, from the replies alone: a bank holds the last image a good
    # commit put there until an upload into it begins; the bank served is the last one a
    # good commit or SELECT named
    banks, served, crcs = [None, None], 0, [0, 0]
    for i in range(len(steps)):
        j = i - (steps[i].kind == "busy")          # the frame whose reply this is
        for f in FrameDecoder().feed(slices[i]):
            begun = f.cmd == Cmd.IMAGE_BEGIN | REPLY or (
                f.cmd == ERROR and f.payload[1] == Cmd.IMAGE_BEGIN
                and f.payload[0] in (Err.IMAGE_FORMAT, Err.TOO_LARGE))
            if begun:
                banks[steps[j].arg[5 + 32]] = None
            elif f.cmd == Cmd.IMAGE_COMMIT | REPLY:
                served = f.payload[0]
                banks[served] = _commit_of(fz.sc, j)
                assert banks[served] is not None, (where, i)
                crcs[served] = crc32(banks[served])
            elif f.cmd == Cmd.SELECT | REPLY:
                served = f.payload[0]
                assert banks[served] is not None, (where, i, "SELECT of an empty bank")
    committed = banks[served]
    i = fz.status_step
    tail = slices[i + 1] if steps[i + 1].kind == "busy" else b""
    st = Status.unpack(FrameDecoder().feed(slices[i] + tail)[0].payload)
    assert st.active_bank == served and st.model_valid == (committed is not None), \
        (where, st, served, banks)
    for b in (0, 1):
        assert (st.bank_state[b] == BANK_VALID) == (banks[b] is not None), (where, st, banks)
        assert st.bank_crc[b] == crcs[b], (where, st)      # the last good commit's
    assert (st.framing_errors, st.lost_bytes) == fz.counted, (where, st, fz.counted)
    res = FrameDecoder().feed(slices[fz.results_step])[0]
    if committed is None:
        assert res.cmd == ERROR, (where, res)
    else:
        assert Results.unpack(res.payload) == \
            Results.unpack(stub_result(committed, fz.codes)), (where, res)
    return fz


def _commit_of(sc, i):
    """The image whose CRC-32 the IMAGE_COMMIT of step ``i`` carried."""
    crc = sc.steps[i].arg[-6:-2]
    for img in IMAGES:
        if image_requests(img, max_payload=LIMITS.max_payload)[-1][1] == crc:
            return img
    return None


def test_committed_image_lookup():
    for img in IMAGES:
        sc = Script(limits=LIMITS)
        for c, p in image_requests(img, max_payload=LIMITS.max_payload):
            sc.frame(c, p)
        assert _commit_of(sc, len(sc.steps) - 1) == img


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_quick(seed):
    fuzz_once(seed, 25)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 140))
def test_random_faults_long(seed):
    fuzz_once(seed, 120)


def test_bytes_during_a_reply_are_counted_and_status_is_one_snapshot():
    """What the fuzzer found first: bytes and framing errors that arrive while a reply
    is being sent were lost without a trace (the engine took no byte, counted no framing
    error); and, once counted, they changed a STATUS reply already on its way (the
    record was read byte by byte as it went out).  Now: each is counted, a STATUS reply
    shows the counts at the end of its request, the next one shows the rest."""
    sc = Script(limits=LIMITS, timeout=TIMEOUT)
    sc.frame(Cmd.STATUS, seq=1)
    sc.busy(5, [0xA5, 0x13, "F", 0x02])                  # during the reply's counters
    sc.frame(Cmd.IDENTIFY, seq=2)
    sc.busy(0, ["F", 0xA5])                             # before its first byte
    sc.frame(Cmd.STATUS, seq=3)
    frames, _ = check_script(sc, seed=11)
    first, last = Status.unpack(frames[0].payload), Status.unpack(frames[2].payload)
    assert (first.framing_errors, first.lost_bytes) == (0, 0)
    assert (last.framing_errors, last.lost_bytes) == (2, 4)
    assert last.dropped_bytes == 0 and last.crc_errors == 0 and frames[1].seq == 2


def test_fuzzer_catches_the_disagreement_of_the_issue():
    """The fuzzer can fail, on the fault the issue names: an engine that misses the
    framing errors which arrive while it replies (planted: the strobe masked while a
    reply byte is on offer) is reported at the first STATUS reply that differs."""
    with pytest.raises(AssertionError, match=r"seed 1: the replies differ at byte \d+ .*"
                                             r"in the reply to step \d+ \(bytes: STATUS"):
        fuzz_once(1, 25, plant=lambda eng, framing: framing & ~eng.tx.valid)
