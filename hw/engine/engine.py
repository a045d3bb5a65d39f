"""The command engine: receiver, dispatcher, model store and reply sender, composed."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from dynalign.hw.wire import RESULT_SUMMARY_LEN, STATUS, Limits, result_len

from .core import CoreSignature
from .dispatcher import Dispatcher
from .queue import LineFIFO, ReceiveQueue
from .receiver import FrameReceiver
from .sender import ReplySender
from .store import ModelStore

__all__ = ["CommandEngine"]


class CommandEngine(wiring.Component):
    """Frame parser and command engine of protocol v2 (:mod:`dynalign.hw.wire`).
    Reply bytes equal :class:`dynalign.sw.device_model.DeviceModel`'s, byte for byte.

    ::

        rx -> FrameReceiver --event--> Dispatcher --reply--> ReplySender -> tx
              (payload buffer)  frame    |  ^                   ^   |
                     ^                   v  | store_op/result   |   +-- done -> receiver
                     +---- pay_* ---- ModelStore (2 banks,      status, core results
                                      feature buffer, upload)

    One frame at a time.  With ``limits.queue`` > 0 the line has two queues of that many
    bytes: a :class:`ReceiveQueue` in front of the receiver (the bytes and framing errors
    of the next frames wait there while a frame is executed and answered; an event that
    finds it full is discarded and counted, ``STATUS`` ``lost``) and a transmit
    :class:`LineFIFO` behind the sender, so that a reply
    leaves while the next frame runs (the receiver is free once the reply's last byte is
    in the FIFO).  Without queues, a byte that arrives between the end of a frame and
    the last byte of its reply is discarded and counted (``lost``), as is every byte the
    UART overran.  Every framing error is counted, wherever it happens.  A frame is executed
    only after its CRC-16 checked; the model store
    holds two banks of ``bank_bytes``, two resident models (an upload goes into the bank
    its ``IMAGE_BEGIN`` names, never the one served; ``IMAGE_COMMIT`` serves it only after
    a complete image with the right CRC-32, ``SELECT`` serves a valid one; with
    ``Limits.table`` the image's table block goes, word by word, to the core's ``tw_*``
    port, into that bank's table, instead).

    Parameters (keyword-only)
    -------------------------
    limits : Limits
        Elaborated limits (reported by ``IDENTIFY``, enforced on ``IMAGE_BEGIN``).
    timeout_cycles : int >= 16
        A frame whose next byte does not arrive within this many cycles is dropped and
        answered with ``Err.TIMEOUT``.
    store_ram : "auto" | "memory" | "spram"
        The model store: a block RAM of ``lanes``-byte words (``memory``), or one 16-bit single-port
        RAM written a byte at a time (``spram``: an iCE40 UltraPlus ``SB_SPRAM256KA``,
        32 KB, frees the block RAM; elsewhere a model of it, so simulation covers the
        byte lanes and the shared port).  Its one port is the core's while the core
        loads: the engine then waits before writing (``ready``).  ``auto``: ``spram``
        where the part has SPRAM (:func:`dynalign.hw.ram.has_spram`) and both banks fit.

    Ports
    -----
    rx : In(stream.Signature(8))       bytes from the UART receiver
    rx_framing_error : In(1)           strobe from the UART receiver
    rx_overrun : In(1)                 strobe from the UART receiver: a byte was dropped
    tx : Out(stream.Signature(8))      reply bytes to the UART transmitter
    core : In(CoreSignature)           the compute core (this engine is its host)
    """

    def __init__(self, *, limits: Limits, timeout_cycles: int, store_ram: str = "auto"):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        self.limits = limits
        self.receiver = FrameReceiver(max_payload=limits.max_payload,
                                      timeout_cycles=timeout_cycles,
                                      queued=limits.queue > 0)
        self.store = ModelStore(limits=limits, store_ram=store_ram)
        self.dispatcher = Dispatcher(limits=limits)
        identity = limits.pack()
        # the longest reply: identity, status, or the results record of the largest
        # network (the stub core's is 16 bytes)
        max_reply = max(len(identity), STATUS.size, RESULT_SUMMARY_LEN, result_len(1, 0),
                        result_len(limits.max_layers, max(limits.max_sizes)))
        self.sender = ReplySender(identity=identity, max_length=max_reply)
        self.timeout_cycles = timeout_cycles
        self.store_ram = store_ram
        self.store_aw = self.store.store_aw
        self.feat_aw = self.store.feat_aw
        self.table_aw = self.store.table_aw
        super().__init__({
            "rx": In(stream.Signature(8)),
            "rx_framing_error": In(1),
            "rx_overrun": In(1),
            "tx": Out(stream.Signature(8)),
            "core": In(CoreSignature(store_addr_width=self.store_aw,
                                     feat_addr_width=self.feat_aw,
                                     table_addr_width=self.table_aw, lanes=limits.lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = rx = self.receiver
        m.submodules.dispatcher = disp = self.dispatcher
        m.submodules.store = store = self.store
        m.submodules.sender = tx = self.sender
        core = self.core

        # the frame path: [receive queue ->] receiver -> dispatcher -> sender [-> transmit
        # queue], the sender's done frees the receiver
        if self.limits.queue:
            m.submodules.rx_queue = rq = ReceiveQueue(depth=self.limits.queue)
            m.submodules.tx_queue = tq = LineFIFO(width=8, depth=self.limits.queue)
            wiring.connect(m, wiring.flipped(self.rx), rq.rx)
            wiring.connect(m, rq.o, rx.rx)
            m.d.comb += [rq.rx_framing_error.eq(self.rx_framing_error),
                         rx.framing_error.eq(rq.framing_error),
                         rx.overrun.eq(rq.overflow | self.rx_overrun)]
            wiring.connect(m, tx.tx, tq.i)
            wiring.connect(m, tq.o, wiring.flipped(self.tx))
        else:
            wiring.connect(m, wiring.flipped(self.rx), rx.rx)
            wiring.connect(m, tx.tx, wiring.flipped(self.tx))
            m.d.comb += [rx.framing_error.eq(self.rx_framing_error),
                         rx.overrun.eq(self.rx_overrun)]
        wiring.connect(m, rx.event, disp.event)
        wiring.connect(m, disp.reply, tx.request)
        m.d.comb += [rx.done.eq(tx.done),
                     disp.frame.eq(rx.frame), store.length.eq(rx.frame.length),
                     tx.seq.eq(rx.frame.seq)]

        # dispatcher <-> store; the store reads the payload buffer
        wiring.connect(m, disp.store_op, store.op)
        wiring.connect(m, store.result, disp.store_result)
        wiring.connect(m, store.header, disp.header)
        wiring.connect(m, disp.upload, store.upload)
        m.d.comb += [disp.upload_open.eq(store.upload_open), disp.active.eq(store.active),
                     disp.model_valid.eq(store.model_valid), disp.k.eq(store.k),
                     rx.pay_addr.eq(store.pay_addr), store.pay_data.eq(rx.pay_data)]

        # the STATUS record
        status = tx.status
        m.d.comb += [status.model_valid.eq(store.model_valid),
                     status.upload_open.eq(store.upload_open), status.active.eq(store.active),
                     status.last_error.eq(disp.last_error), status.counters.eq(rx.counters),
                     status.bank_state.eq(store.bank_state),
                     store.crc_addr.eq(tx.crc_addr), tx.crc_data.eq(store.crc_data)]

        # the core: handshake (dispatcher), store, features and table (store), results
        # (sender)
        m.d.comb += [
            core.load.eq(disp.load), core.select.eq(disp.select), core.start.eq(disp.start),
            disp.ready.eq(core.ready), disp.done.eq(core.done), disp.res_len.eq(core.res_len),
            disp.brief_len.eq(core.brief_len),
            store.store_addr.eq(core.store_addr), core.store_data.eq(store.store_data),
            store.feat_addr.eq(core.feat_addr), core.feat_data.eq(store.feat_data),
            store.core_ready.eq(core.ready), core.bank.eq(store.active),
            core.tw_bank.eq(store.tw_bank),
            core.tw_en.eq(store.tw_en), core.tw_is_flag.eq(store.tw_is_flag),
            core.tw_addr.eq(store.tw_addr), core.tw_data.eq(store.tw_data),
            core.res_addr.eq(tx.res_addr), tx.res_data.eq(core.res_data),
        ]
        return m
