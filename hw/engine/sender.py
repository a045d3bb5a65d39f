"""Reply sender: frames a reply (SYNC, header, payload, CRC-16) onto the byte stream."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynalign.hw.validate import check_int
from dynalign.hw.wire import FRAME_HEADER_LEN, SYNC

from .crc import CRC16, crc_processor
from .layouts import STATUS_CRC_BYTES, ReplyRequest, ReplySource, StatusRecord

__all__ = ["ReplySender"]


class ReplySender(wiring.Component):
    """Sends one reply frame ``SYNC CMD SEQ LEN_LO LEN_HI PAYLOAD[LEN] CRC_HI CRC_LO`` per
    request, CRC-16/CCITT-FALSE over ``CMD .. PAYLOAD``.

    Payload byte ``i`` of a reply is byte ``i`` of its source (:class:`ReplySource`): the
    identity record (a ROM of ``identity``), the ``status`` record, the request's two
    ``small`` bytes, or the core's results record (``res_addr`` = ``i``; the byte is taken
    two cycles after its address).  Every byte is offered on ``tx`` until taken.

    Parameters (keyword-only)
    -------------------------
    identity : bytes
        The ``IDENTIFY`` record.
    max_length : int >= 2
        The longest reply payload (lengths are kept in that many bits).

    Ports
    -----
    request : In(stream.Signature(ReplyRequest, always_ready=True))
        A reply to send, taken only while idle (the engine asks for one reply per frame
        and the next frame's request comes after ``done``).
    seq : In(8)
        SEQ of the frame being answered, held until ``done``.
    status : In(StatusRecord)
    crc_addr : Out(1); crc_data : In(32)
        The banks' CRC-32 memory (the model store's): bank ``crc_addr``'s CRC-32 the cycle
        after; STATUS bytes from ``len(StatusRecord)`` on are its bytes.
    res_addr : Out(16); res_data : In(8)
        The results record's read port.
    tx : Out(stream.Signature(8))
        The reply bytes.
    done : Out(1), strobe
        The last byte of the reply was taken.
    """

    def __init__(self, *, identity: bytes, max_length: int):
        self.identity = bytes(identity)
        self.max_length = check_int("max_length", max_length, lo=2, hi=0xFFFF)
        if len(self.identity) > self.max_length:
            raise ValueError(f"an identity record of {len(self.identity)} bytes exceeds "
                             f"max_length {self.max_length}")
        super().__init__({
            "request": In(stream.Signature(ReplyRequest, always_ready=True)),
            "seq": In(8),
            "status": In(StatusRecord),
            "crc_addr": Out(1), "crc_data": In(32),
            "res_addr": Out(16),
            "res_data": In(8),
            "tx": Out(stream.Signature(8)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        ident = list(self.identity)
        m.submodules.rom = rom = Memory(shape=8, depth=len(ident), init=ident)
        rom_r = rom.read_port()
        restart = Signal()
        m.submodules.crc = crc = crc_processor(CRC16, restart)
        tx = self.tx
        req = self.request.payload
        source = Signal(ReplySource)
        length = Signal(range(self.max_length + 1))
        cmd = Signal(8)
        small = Signal.like(req.small)
        idx = Signal.like(length)         # header byte, then payload byte
        byte = Signal(8)                  # the payload byte on offer
        m.d.comb += [self.res_addr.eq(idx), rom_r.addr.eq(idx), crc.data.eq(tx.payload)]

        src_byte = Signal(8)
        n_fixed = StatusRecord.as_shape().size // 8     # then the CRC-32 of bank 0, 1
        assert n_fixed == 16 and STATUS_CRC_BYTES == 8
        m.d.comb += self.crc_addr.eq(idx[2])
        with m.Switch(source):
            with m.Case(ReplySource.IDENTITY):
                m.d.comb += src_byte.eq(rom_r.data)
            with m.Case(ReplySource.STATUS):
                m.d.comb += src_byte.eq(Mux(idx[4], self.crc_data.word_select(idx[:2], 8),
                                            self.status.as_value().word_select(idx[:4], 8)))
            with m.Case(ReplySource.SMALL):
                m.d.comb += src_byte.eq(small[idx[0]])
            with m.Case(ReplySource.RESULTS):
                m.d.comb += src_byte.eq(self.res_data)
        length16 = Cat(length, Const(0, 16))[:16]
        header = Array([Const(SYNC, 8), cmd, self.seq, length16[:8], length16[8:]])

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.request.valid):
                    m.d.sync += [source.eq(req.source), length.eq(req.length),
                                 cmd.eq(req.cmd), small.eq(req.small)]
                    m.next = "START"
            with m.State("START"):
                m.d.comb += restart.eq(1)
                m.d.sync += idx.eq(0)
                m.next = "HDR"
            with m.State("HDR"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(header[idx[:3]])]
                with m.If(tx.ready):
                    m.d.comb += crc.valid.eq(idx != 0)          # SYNC is not covered
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == FRAME_HEADER_LEN - 1):
                        m.d.sync += idx.eq(0)
                        with m.If(length == 0):
                            m.next = "CRC_HI"
                        with m.Else():
                            m.next = "FETCH"
            with m.State("FETCH"):              # the source's data follows idx
                m.next = "FETCH2"
            with m.State("FETCH2"):
                m.d.sync += byte.eq(src_byte)
                m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(byte)]
                with m.If(tx.ready):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx + 1 == length):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "FETCH"
            with m.State("CRC_HI"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc.crc[8:])]
                with m.If(tx.ready):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc.crc[:8])]
                with m.If(tx.ready):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
