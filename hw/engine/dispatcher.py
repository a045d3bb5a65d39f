"""Dispatcher: decodes each received frame, applies its command's rules, runs it."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from dynalign.hw.wire import (
    COMMAND_LENGTHS,
    ERROR,
    REPLY,
    RESULT_SUMMARY_LEN,
    STATUS,
    Cmd,
    Err,
    Limits,
)

from .admission import HeaderCheck
from .layouts import (
    FrameHeader,
    HeaderByte,
    ReplyRequest,
    ReplySource,
    RxResult,
    StoreError,
    StoreOp,
    upload_layout,
)

__all__ = ["Dispatcher"]

#: The store operation of each command that has one.
_STORE_OPS = {Cmd.IMAGE_BEGIN: StoreOp.HEADER, Cmd.IMAGE_DATA: StoreOp.DATA,
              Cmd.IMAGE_COMMIT: StoreOp.COMMIT, Cmd.WRITE_ENCODER: StoreOp.ENCODER,
              Cmd.FEATURES: StoreOp.FEATURES, Cmd.SELECT: StoreOp.SELECT,
              Cmd.STREAM: StoreOp.FEATURES, Cmd.CLASSIFY: StoreOp.FEATURES}


class Dispatcher(wiring.Component):
    """Takes each frame the receiver reports, checks it, executes its command and asks
    for exactly one reply.  The checks, in this order (that of
    :class:`dynalign.sw.device_model.DeviceModel`):

    1. the frame itself (``event``: CRC, LENGTH, TIMEOUT, FRAMING) -> that error;
    2. the command byte (:class:`dynalign.hw.wire.Cmd`) -> ``UNKNOWN_CMD``;
    3. the payload length (:data:`dynalign.hw.wire.COMMAND_LENGTHS`) -> ``LENGTH``;
    4. the command's state: ``WRITE_ENCODER`` -> ``UNSUPPORTED`` (a table device) or
       ``NO_MODEL``; ``IMAGE_DATA`` / ``IMAGE_COMMIT`` -> ``NO_UPLOAD``; ``FEATURES`` ->
       ``NO_MODEL`` or ``FEATURES`` (count differs from the model's K), and so do
       ``STREAM`` and ``CLASSIFY``; ``RUN`` ->
       ``NO_MODEL``; ``RESULTS`` -> ``NO_RESULT``;
    5. the store's outcome (:class:`StoreError`: for ``IMAGE_BEGIN`` and ``SELECT`` the
       bank checks ``NO_BANK``, ``BANK_SERVED``, ``BANK_INVALID``), and for
       ``IMAGE_BEGIN`` the admission verdict of :class:`HeaderCheck` (``IMAGE_FORMAT``,
       ``TOO_LARGE``).

    An error reply is ``ERROR [err, cmd]`` and sets ``last_error``.  The store keeps
    each bank's state; the model is valid while the active bank is (K: the store's).  A
    good commit or ``SELECT`` (the store has made the bank active) or an encoder write
    strobes the core's ``load`` (once it is ``ready``) before the reply (a commit's and a
    ``SELECT``'s: the bank now served), ``RUN`` strobes ``start`` and waits for ``done``
    (its reply: the record's summary).  ``STREAM`` stores its features as ``FEATURES``
    does, then runs as ``RUN`` does, and replies with the whole results record;
    ``CLASSIFY`` likewise, with the record's first ``brief_len`` bytes.
    ``result_valid`` is cleared by every model change, set by a finished run.

    Parameters (keyword-only)
    -------------------------
    limits : Limits

    Ports
    -----
    frame : In(FrameHeader)
        The receiver's header fields, held from the event until the reply is sent.
    event : In(stream.Signature(RxResult, always_ready=True))
        A frame ended; taken in that cycle (the dispatcher is idle whenever the receiver
        receives).
    reply : Out(stream.Signature(ReplyRequest, always_ready=True))
    store_op : Out(stream.Signature(StoreOp, always_ready=True))
    store_result : In(stream.Signature(StoreError, always_ready=True))
    header : In(stream.Signature(HeaderByte, always_ready=True))
        The header bytes an IMAGE_BEGIN stores, to the admission check.
    upload : Out(stream.Signature(upload_layout(limits), always_ready=True))
        The admission verdict, to the store.
    upload_open : In(1); active : In(1); model_valid : In(1); k : In(8)
        The store's upload state, active bank, whether it is valid and its K.
    load : Out(1); select : Out(1); start : Out(1); ready : In(1); done : In(1);
    res_len : In(16); brief_len : In(16)
        The core's handshake (:class:`dynalign.hw.engine.CoreSignature`).
    last_error : Out(8)
        For the STATUS record.
    """

    def __init__(self, *, limits: Limits):
        self.check = HeaderCheck(limits=limits)      # checks limits
        self.limits = limits
        super().__init__({
            "frame": In(FrameHeader),
            "event": In(stream.Signature(RxResult, always_ready=True)),
            "reply": Out(stream.Signature(ReplyRequest, always_ready=True)),
            "store_op": Out(stream.Signature(StoreOp, always_ready=True)),
            "store_result": In(stream.Signature(StoreError, always_ready=True)),
            "header": In(stream.Signature(HeaderByte, always_ready=True)),
            "upload": Out(stream.Signature(upload_layout(limits), always_ready=True)),
            "upload_open": In(1), "active": In(1), "model_valid": In(1), "k": In(8),
            "load": Out(1), "select": Out(1), "start": Out(1), "ready": In(1), "done": In(1),
            "res_len": In(16), "brief_len": In(16),
            "last_error": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.check = check = self.check
        wiring.connect(m, wiring.flipped(self.header), check.byte)
        m.d.comb += self.upload.payload.eq(check.plan)
        cmd, length = self.frame.cmd, self.frame.length
        model_valid = self.model_valid
        result_valid = Signal()
        k_active = self.k

        # the payload length rule of the command, and whether it is one
        known = Signal()
        len_ok = Signal()
        with m.Switch(cmd):
            for c, rule in COMMAND_LENGTHS.items():
                with m.Case(int(c)):
                    m.d.comb += [known.eq(1), len_ok.eq(length == rule if isinstance(rule, int)
                                                        else length >= rule[0])]

        def reply(source, n, *, code=None):
            """Ask for the reply (an error reply with ``code``) and wait for the next frame."""
            p = self.reply.payload
            m.d.comb += [self.reply.valid.eq(1), p.source.eq(source), p.length.eq(n),
                         p.small[1].eq(cmd)]
            if code is None:
                m.d.comb += [p.cmd.eq(cmd | REPLY), p.small[0].eq(self.active)]
            else:
                m.d.comb += [p.cmd.eq(ERROR), p.small[0].eq(code)]
                m.d.sync += self.last_error.eq(code)
            m.next = "IDLE"

        def fail(code):
            reply(ReplySource.SMALL, 2, code=code)

        def store(op):
            m.d.comb += [self.store_op.valid.eq(1), self.store_op.payload.eq(op)]
            m.next = "STORE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.event.valid):
                    with m.If(self.event.payload != RxResult.OK):
                        fail(self.event.payload.as_value())
                    with m.Elif(~known):
                        fail(Err.UNKNOWN_CMD)
                    with m.Elif(~len_ok):
                        fail(Err.LENGTH)
                    with m.Else():
                        m.next = "EXEC"

            with m.State("EXEC"):
                with m.Switch(cmd):
                    with m.Case(Cmd.IDENTIFY):
                        reply(ReplySource.IDENTITY, len(self.limits.pack()))
                    with m.Case(Cmd.STATUS):
                        reply(ReplySource.STATUS, STATUS.size)
                    with m.Case(Cmd.WRITE_ENCODER):
                        if self.limits.table:   # the uploaded table would no longer match
                            fail(Err.UNSUPPORTED)
                        else:
                            with m.If(~model_valid):
                                fail(Err.NO_MODEL)
                            with m.Else():
                                store(StoreOp.ENCODER)
                    with m.Case(Cmd.IMAGE_BEGIN):
                        m.d.comb += check.clear.eq(1)
                        store(StoreOp.HEADER)
                    with m.Case(Cmd.SELECT):
                        store(StoreOp.SELECT)
                    for c in (Cmd.IMAGE_DATA, Cmd.IMAGE_COMMIT):
                        with m.Case(c):
                            with m.If(~self.upload_open):
                                fail(Err.NO_UPLOAD)
                            with m.Else():
                                store(_STORE_OPS[c])
                    with m.Case(Cmd.FEATURES, Cmd.STREAM, Cmd.CLASSIFY):
                        with m.If(~model_valid):
                            fail(Err.NO_MODEL)
                        with m.Elif(length != k_active):
                            fail(Err.FEATURES)
                        with m.Else():
                            store(StoreOp.FEATURES)
                    with m.Case(Cmd.RUN):
                        with m.If(~model_valid):
                            fail(Err.NO_MODEL)
                        with m.Else():
                            m.next = "RUN_WAIT_READY"
                    with m.Case(Cmd.RESULTS):
                        with m.If(~result_valid):
                            fail(Err.NO_RESULT)
                        with m.Else():
                            reply(ReplySource.RESULTS, self.res_len)

            with m.State("STORE"):
                with m.If(self.store_result.valid):
                    with m.If(self.store_result.payload != StoreError.NONE):
                        fail(self.store_result.payload.as_value())
                    with m.Else():
                        with m.Switch(cmd):
                            with m.Case(Cmd.IMAGE_BEGIN):
                                m.next = "ADMIT"
                            with m.Case(Cmd.WRITE_ENCODER):
                                m.d.sync += result_valid.eq(0)
                                m.next = "LOAD_WAIT_READY"
                            with m.Case(Cmd.IMAGE_COMMIT, Cmd.SELECT):
                                m.d.sync += result_valid.eq(0)
                                m.next = "LOAD_WAIT_READY"
                            with m.Case(Cmd.STREAM, Cmd.CLASSIFY):
                                m.next = "RUN_WAIT_READY"
                            with m.Default():
                                reply(ReplySource.NONE, 0)
            with m.State("ADMIT"):              # the verdict settles into its register
                m.next = "ADMIT2"
            with m.State("ADMIT2"):
                m.d.comb += self.upload.valid.eq(1)
                with m.If(check.verdict != 0):
                    fail(check.verdict)
                with m.Else():
                    reply(ReplySource.NONE, 0)

            # the core's handshakes
            with m.State("LOAD_WAIT_READY"):
                with m.If(self.ready):
                    m.d.comb += [self.load.eq(1), self.select.eq(cmd == Cmd.SELECT)]
                    with m.If((cmd == Cmd.IMAGE_COMMIT) | (cmd == Cmd.SELECT)):
                        reply(ReplySource.SMALL, 1)         # the bank now served
                    with m.Else():
                        reply(ReplySource.NONE, 0)
            with m.State("RUN_WAIT_READY"):
                with m.If(self.ready):
                    m.d.comb += self.start.eq(1)
                    m.next = "RUN_WAIT_DONE"
            with m.State("RUN_WAIT_DONE"):
                with m.If(self.done):
                    m.d.sync += result_valid.eq(1)
                    with m.If(cmd == Cmd.STREAM):
                        reply(ReplySource.RESULTS, self.res_len)
                    with m.Elif(cmd == Cmd.CLASSIFY):
                        reply(ReplySource.RESULTS, self.brief_len)
                    with m.Else():
                        reply(ReplySource.RESULTS, RESULT_SUMMARY_LEN)
        return m
