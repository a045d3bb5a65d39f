"""Bounded proofs of the host-link promises (:mod:`dynalign.hw.engine.formal`), and the
same proofs failing on designs with a planted bug.

The engine is small: K 1, T 2, one layer of 1, max_payload 80, banks of 160 bytes,
timeout 16 cycles, the block-RAM store.

* (b) and (c) on the whole engine with every input free (bytes, framing errors,
  ``tx.ready``, the core's outputs): :data:`FREE_DEPTH` cycles from reset.  (a) is
  asserted there too, but no upload can complete in so few cycles (the smallest image
  is 144 bytes): the commit is proven after an upload and on the store, below.
* (c) through the receive timeout, with at most :data:`QUIET_BYTES` bytes from the host:
  :data:`QUIET_DEPTH` cycles.
* (a) through the whole engine after a real upload (:func:`settle`: the state three of
  the upload's frames leave, 553 cycles in the simulator, is the solver's initial state):
  :data:`AFTER_UPLOAD_DEPTH` cycles of free inputs, with the commit among them.
* (a) on the model store with the dispatcher's side free (:class:`StoreCommitProperties`):
  :data:`STORE_DEPTH` cycles from reset, enough for a header and a commit after it (a
  flip is first reachable at step 77, :func:`test_store_commit_is_reachable`); a DATA
  operation between them (a flip no earlier than about step 92) is beyond that depth.

Measured on two shared cores (the machine busy with other work): the quick tier (the
CRC steps, the free harness at depth 14, the shadow-bank bug) about 20 s; the
dropped-reply bug 12 s; the timeout proof 50 to 90 s, its cover 10 s; the store proof
670 s, its cover 330 s, each planted commit bug about 600 s (``--runslow``).
"""

import zlib

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from planted import mutant

from dynalign.hw.engine import CommandEngine
from dynalign.hw.engine.formal import (
    EngineProperties,
    FIFOProperties,
    StoreCommitProperties,
    crc16_next,
    crc32_next,
    run_sby,
    sby_available,
    settle,
)
from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import Limits, build_image, crc16, encode_frame, image_requests

LIMITS = Limits(max_features=1, max_samples=2, max_sizes=(1,), max_payload=80,
                bank_bytes=160)
TIMEOUT = 16
FREE_DEPTH = 14
#: the quiet-line harness: this many bytes at most, then a quiet line
QUIET_BYTES = 2
QUIET_DEPTH = 24
#: the store harness: a header, then the commit (a planted bug in the commit shows by
#: then too)
STORE_DEPTH = 84
#: seconds a proof may take before it counts as hung
PROOF_TIMEOUT = 1800
#: (a) through the whole engine, after an upload (:func:`_upload_frames`): cycles of
#: free inputs; a good commit flips the bank at step 21 (the cover)
AFTER_UPLOAD_DEPTH = 24
#: the same after two uploads (both banks valid): a SELECT flips the bank at step 11
AFTER_UPLOADS_DEPTH = 16

needs_sby = pytest.mark.skipif(sby_available() is not None,
                               reason=f"formal tools missing: {sby_available()}")


def _engine(**blocks):
    """The engine, with ``blocks`` (``store=``, ``sender=``) replaced by planted bugs."""
    engine = CommandEngine(limits=LIMITS, timeout_cycles=TIMEOUT, store_ram="memory")
    for name, block in blocks.items():
        setattr(engine, name, block)
    return engine


def _store_mutant(old, new):
    mod = mutant("dynalign.hw.engine.store", old, new)
    return mod.ModelStore(limits=LIMITS, store_ram="memory")


def _free(props, engine=None):
    return EngineProperties(limits=LIMITS, timeout_cycles=TIMEOUT, core="free",
                            props=props, engine=engine)


def _upload_frames(bank=1):
    """The frames that upload a 157-byte image (K 1, T 2, one LIF of 3 inputs) into
    ``bank``: ``IMAGE_BEGIN``, two ``IMAGE_DATA``, and the ``IMAGE_COMMIT`` with its
    CRC-32."""
    net = random_network(np.random.default_rng(0), [3, 1])
    image = build_image(network=net, n_features=1,
                        encoder=EncoderConfig(delta=2.0, tmax=0.4, dt=0.01, samples=2))
    reqs = image_requests(image, max_payload=LIMITS.max_payload, bank=bank)
    return [encode_frame(cmd, payload, seq=i) for i, (cmd, payload) in enumerate(reqs)]


def _after(frames, props="a", engine=None):
    return EngineProperties(limits=LIMITS, timeout_cycles=TIMEOUT, core="stub",
                            props=props, prefix=frames, engine=engine)


def _prove(design, depth, mode="bmc", tmp_path=None, settled=None):
    result = run_sby(design, depth=depth, mode=mode, timeout=PROOF_TIMEOUT,
                     workdir=tmp_path, settled=settled)
    assert result.status != "TIMEOUT", f"{mode} at depth {depth} ran past {PROOF_TIMEOUT} s"
    return result


# --- the independent CRCs of the monitor ----------------------------------------------

def test_monitor_crcs_are_the_wire_format_crcs():
    """The bitwise CRC-16 and CRC-32 steps of the monitor equal binascii's and zlib's."""
    data = bytes(range(0, 256, 7)) + b"123456789"
    byte = Signal(8)
    c16 = Signal(16, init=0xFFFF)
    c32 = Signal(32, init=0xFFFFFFFF)
    m = Module()
    m.d.sync += [c16.eq(crc16_next(c16, byte)), c32.eq(crc32_next(c32, byte))]
    sim = Simulator(m)
    sim.add_clock(1e-6)
    got = {}

    async def bench(ctx):
        for b in data:
            ctx.set(byte, b)
            await ctx.tick()
        got["crc16"], got["crc32"] = ctx.get(c16), ctx.get(c32) ^ 0xFFFFFFFF

    sim.add_testbench(bench)
    sim.run()
    assert got == {"crc16": crc16(data), "crc32": zlib.crc32(data)}


# --- the proofs -------------------------------------------------------------------------

@needs_sby
def test_free_inputs_shallow(tmp_path):
    """(a), (b), (c) for every input sequence of FREE_DEPTH cycles from reset."""
    result = _prove(_free("abc"), FREE_DEPTH, tmp_path=tmp_path)
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_timeout_is_answered(tmp_path):
    """(c) through the receive timeout: at most QUIET_BYTES bytes, then a quiet line,
    every sequence of QUIET_DEPTH cycles (a frame cut off after its SYNC times out at
    step 17 and is answered by step 20)."""
    design = EngineProperties(limits=LIMITS, timeout_cycles=TIMEOUT, core="free",
                              props="bc", max_bytes=QUIET_BYTES)
    result = _prove(design, QUIET_DEPTH, tmp_path=tmp_path)
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_timeout_reply_is_reachable(tmp_path):
    design = EngineProperties(limits=LIMITS, timeout_cycles=TIMEOUT, core="free",
                              props="c", max_bytes=QUIET_BYTES)
    result = _prove(design, QUIET_DEPTH, mode="cover", tmp_path=tmp_path)
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_store_commit(tmp_path):
    """(a) on the model store: every operation sequence of STORE_DEPTH cycles, every
    verdict, every commit value (the header bytes fixed)."""
    result = _prove(StoreCommitProperties(limits=LIMITS), STORE_DEPTH, tmp_path=tmp_path)
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_store_commit_is_reachable(tmp_path):
    """The store harness is not vacuous: a flip of the bank is reachable."""
    result = _prove(StoreCommitProperties(limits=LIMITS, free_header=True), STORE_DEPTH,
                    mode="cover",
                    tmp_path=tmp_path)
    assert result.passed, result.log


# --- (a) through the whole engine, after an upload ----------------------------------------

def test_monitor_follows_a_whole_upload():
    """The harness's shadow agrees with the engine through a real upload and its commit
    (the simulator checks every assertion each cycle), and the bank flips: (a) is not
    vacuous here.  (A monitor that counted IMAGE_BEGIN's bank byte as image failed.)"""
    design = _after(_upload_frames())
    sim = Simulator(design)
    sim.add_clock(1e-6)
    seen = {}

    async def bench(ctx):
        for cycle in range(2000):
            if not ctx.get(design.scripted):
                seen.update(cycle=cycle, active=ctx.get(design.engine.store.active),
                            valid=ctx.get(design.engine.store.model_valid))
                return
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert seen and (seen["active"], seen["valid"]) == (1, 1), \
        f"the upload did not end with bank 1 served: {seen or 'the prefix did not end'}"


def test_settle_needs_a_prefix():
    with pytest.raises(ValueError, match="prefix frames"):
        settle(_free("a"))


@needs_sby
def test_commit_is_reachable_after_an_upload(tmp_path):
    """From the state three of the upload's four frames leave, the bank can flip."""
    design = _after(_upload_frames()[:3])
    result = _prove(design, AFTER_UPLOAD_DEPTH, mode="cover", tmp_path=tmp_path,
                    settled=settle(design))
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_commit_after_an_upload(tmp_path):
    """(a) through the whole engine: after IMAGE_BEGIN and every IMAGE_DATA of an image,
    every input sequence of AFTER_UPLOAD_DEPTH cycles (a commit with any CRC-32 and any
    length, any other frame, garbage, framing errors, a stalled reply)."""
    design = _after(_upload_frames()[:3])
    result = _prove(design, AFTER_UPLOAD_DEPTH, tmp_path=tmp_path, settled=settle(design))
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
@pytest.mark.parametrize("old, new, frames", [
    ("with m.Elif(mism):", "with m.Elif(0):", 3),           # a wrong CRC-32 commits
    ("with m.If(incomplete):", "with m.If(0):", 2),         # a short image commits
], ids=["crc32-ignored", "length-ignored"])
def test_a_fails_through_the_engine_on_a_bad_commit(tmp_path, old, new, frames):
    """The same proof on engines with a planted commit bug: the first after the whole
    image (a commit with a wrong CRC-32 flips the bank), the second with its last
    IMAGE_DATA missing (a commit of a short image flips it)."""
    engine = _engine(store=_store_mutant(old, new))
    design = _after(_upload_frames()[:frames], engine=engine)
    result = _prove(design, AFTER_UPLOAD_DEPTH, tmp_path=tmp_path, settled=settle(design))
    assert result.status == "FAIL", result.log
    assert "(a)" in result.failed, result.log


@needs_sby
@pytest.mark.slow
def test_select_after_two_uploads(tmp_path):
    """(a) through the whole engine with both banks valid (bank 1 uploaded, then bank 0,
    which is served): every input sequence of AFTER_UPLOADS_DEPTH cycles, and a SELECT
    of bank 1 flips the bank (the cover)."""
    design = _after(_upload_frames(1) + _upload_frames(0))
    result = _prove(design, AFTER_UPLOADS_DEPTH, mode="cover", tmp_path=tmp_path / "cover",
                    settled=settle(design))
    assert result.passed, result.log
    result = _prove(design, AFTER_UPLOADS_DEPTH, tmp_path=tmp_path / "bmc",
                    settled=settle(design))
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_a_fails_through_the_engine_on_a_select_of_an_empty_bank(tmp_path):
    """A SELECT that does not look at the bank's state: after one upload (bank 1 served,
    bank 0 empty), selecting bank 0 flips the bank."""
    engine = _engine(store=_store_mutant("with m.If(state[b[0]] != BANK_VALID):",
                                         "with m.If(0):"))
    design = _after(_upload_frames(1), engine=engine)
    result = _prove(design, AFTER_UPLOADS_DEPTH, tmp_path=tmp_path, settled=settle(design))
    assert result.status == "FAIL", result.log
    assert "(a)" in result.failed, result.log


# --- planted bugs: each property fails --------------------------------------------------

@needs_sby
@pytest.mark.slow
@pytest.mark.parametrize("old, new", [
    ("with m.Elif(mism):", "with m.Elif(0):"),              # a wrong CRC-32 commits
    ("with m.If(incomplete):", "with m.If(0):"),            # a short image commits
], ids=["crc32-ignored", "length-ignored"])
def test_a_fails_on_a_bad_commit(tmp_path, old, new):
    design = StoreCommitProperties(limits=LIMITS, free_header=True,
                                   store=_store_mutant(old, new))
    result = _prove(design, STORE_DEPTH, tmp_path=tmp_path)
    assert result.status == "FAIL", result.log
    assert "(a)" in result.failed, result.log


@needs_sby
def test_b_fails_when_the_core_reads_the_shadow_bank(tmp_path):
    engine = _engine(store=_store_mutant("banks.r_bank.eq(active)",
                                         "banks.r_bank.eq(~active)"))
    result = _prove(_free("b", engine), 4, tmp_path=tmp_path)
    assert result.status == "FAIL", result.log
    assert "(b)" in result.failed, result.log


@needs_sby
@pytest.mark.slow
def test_c_fails_when_error_replies_are_dropped(tmp_path):
    mod = mutant("dynalign.hw.engine.sender", "with m.If(self.request.valid):",
                  "with m.If(self.request.valid & (req.cmd != 0xFF)):")
    plain = CommandEngine(limits=LIMITS, timeout_cycles=TIMEOUT, store_ram="memory")
    engine = _engine(sender=mod.ReplySender(identity=LIMITS.pack(),
                                            max_length=plain.sender.max_length))
    result = _prove(_free("c", engine), FREE_DEPTH + 4, tmp_path=tmp_path)
    assert result.status == "FAIL", result.log
    assert "(c)" in result.failed, result.log


# --- the line queue (streaming) ---------------------------------------------------------

#: cycles of the line queue's proof in the fast tier; FIFO_DEPTH_SLOW: past two laps of its
#: read and write pointers (a 4-entry queue: 8 entries a lap)
FIFO_DEPTH, FIFO_DEPTH_SLOW = 12, 24


def _fifo_mutant(old, new):
    return mutant("dynalign.hw.engine.queue", old, new).LineFIFO(width=2, depth=4)


@needs_sby
def test_line_queue_keeps_order_and_room(tmp_path):
    """The line queue under free inputs: order, count, room and flow hold; the tagged
    entry can come out after the addresses wrapped (the cover)."""
    result = _prove(FIFOProperties(), FIFO_DEPTH, tmp_path=tmp_path)
    assert result.passed, result.log
    result = _prove(FIFOProperties(), FIFO_DEPTH_SLOW, mode="cover", tmp_path=tmp_path)
    assert result.passed, result.log


@needs_sby
@pytest.mark.slow
def test_line_queue_keeps_order_and_room_deep(tmp_path):
    result = _prove(FIFOProperties(), FIFO_DEPTH_SLOW, tmp_path=tmp_path)
    assert result.passed, result.log


@needs_sby
@pytest.mark.parametrize("old, new, prop", [
    ("m.d.sync += rp.eq(rp + 1)", "m.d.sync += rp.eq(rp + 2)", "(order)"),
    ("full.eq((wp ^ rp) == self.depth)", "full.eq((wp ^ rp) == self.depth - 1)", "(room)"),
    ("load.eq(~empty & ~have & ~pending)", "load.eq(~empty & ~have)", "(order)"),
], ids=["skips-an-entry", "full-too-early", "reads-twice"])
def test_line_queue_proof_fails_on_a_planted_bug(tmp_path, old, new, prop):
    result = _prove(FIFOProperties(fifo=_fifo_mutant(old, new)), FIFO_DEPTH,
                    tmp_path=tmp_path)
    assert result.status == "FAIL", result.log
    assert prop in result.failed, result.log
