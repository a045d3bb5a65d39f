"""Frame receiver: SYNC, header, payload into a buffer, CRC-16 check, aborts."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynalign.hw.validate import check_int
from dynalign.hw.wire import SYNC

from .crc import CRC16, crc_processor
from .layouts import Counters, FrameHeader, RxResult

__all__ = ["FrameReceiver"]


class FrameReceiver(wiring.Component):
    """Receives one frame ``SYNC CMD SEQ LEN_LO LEN_HI PAYLOAD[LEN] CRC_HI CRC_LO`` at a
    time and reports how it ended; then waits until the frame has been answered.

    Rules (:mod:`dynalign.hw.wire`):

    * Idle, a byte other than ``SYNC`` is dropped (``counters.dropped``); ``SYNC`` starts a
      frame.  ``frame.cmd`` and ``frame.seq`` read 0 until their bytes arrive (an
      error reply to a frame cut short names command 0).
    * ``LEN > max_payload``: the remaining ``LEN + 2`` bytes are skipped, then
      ``event`` says ``LENGTH``.  Otherwise the payload goes to the payload buffer (byte
      ``i`` at address ``i``) and the CRC-16/CCITT-FALSE over ``CMD .. PAYLOAD`` is checked
      against ``CRC_HI CRC_LO``: ``OK`` or ``CRC`` (counted).
    * Inside a frame, a framing error ends it with ``FRAMING``, and ``timeout_cycles``
      cycles without a byte end it with ``TIMEOUT`` (counted).
    * Every framing error is counted (``counters.framing``), wherever it happens: between
      frames, inside one, or while one is being answered.
    * While a frame is being answered (from its end to the last byte of its reply) every
      byte that arrives is discarded and counted (``counters.lost``), and so is every
      byte the UART could not hand over (``overrun``): no byte vanishes without a trace.
    * ``counters`` hold still while a frame is being answered: a ``STATUS`` reply shows
      the counts at the end of its request, the events during the reply show in the next.

    With ``queued=True`` a receive queue stands in front (:class:`LineQueue`): while a
    frame is being answered the receiver takes nothing (``rx.ready`` low), so the bytes
    of the next frames wait in the queue instead of being lost; ``framing_error`` then
    comes through the queue in its place among the bytes, and ``overrun`` is the queue's
    overflow (a byte that found it full: counted in ``lost``).

    Parameters (keyword-only)
    -------------------------
    max_payload : int in 1..65535
        Payload buffer bytes: the longest payload accepted.
    timeout_cycles : int >= 16
    queued : bool
        A receive queue feeds ``rx`` (default ``False``: the UART itself).

    Ports
    -----
    rx : In(stream.Signature(8))
        Bytes from the UART, or from the receive queue.  Without a queue ``rx.ready`` is
        always high (a byte that arrives while a frame is being answered is taken and
        counted as lost); with one it is low while a frame is being answered.
    framing_error : In(1), strobe
        The UART saw a low stop bit (with a queue: the queue delivers that event, and
        only while ``rx.ready`` is high).
    overrun : In(1), strobe
        The UART dropped a byte (it completed before the previous one was taken), or the
        receive queue was full.
    frame : Out(FrameHeader)
        CMD, SEQ, LEN of the current frame, held until ``done``.
    event : Out(stream.Signature(RxResult, always_ready=True))
        One beat when a frame ends (complete or aborted); the sink must take it in that
        cycle.  The receiver then waits for ``done``.
    done : In(1), strobe
        The frame has been answered: wait for the next one.
    pay_addr : In(range(max_payload)); pay_data : Out(8)
        Read port into the payload buffer, data one cycle after the address.
    counters : Out(Counters)
    """

    def __init__(self, *, max_payload: int, timeout_cycles: int, queued: bool = False):
        self.max_payload = check_int("max_payload", max_payload, lo=1, hi=0xFFFF)
        self.timeout_cycles = check_int("timeout_cycles", timeout_cycles, lo=16)
        if not isinstance(queued, bool):
            raise TypeError(f"queued must be a bool, not {queued!r}")
        self.queued = queued
        super().__init__({
            "rx": In(stream.Signature(8)),
            "framing_error": In(1),
            "overrun": In(1),
            "frame": Out(FrameHeader),
            "event": Out(stream.Signature(RxResult, always_ready=True)),
            "done": In(1),
            "pay_addr": In(range(self.max_payload)),
            "pay_data": Out(8),
            "counters": Out(Counters),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=self.max_payload, init=[])
        buf_w = buf.write_port()
        buf_r = buf.read_port()
        restart = Signal()          # a frame begins: the CRC-16 starts over
        m.submodules.crc = crc = crc_processor(CRC16, restart)
        hdr = self.frame
        byte = self.rx.payload
        m.d.comb += [buf_r.addr.eq(self.pay_addr), self.pay_data.eq(buf_r.data),
                     buf_w.data.eq(byte), crc.data.eq(byte)]
        got = Signal()
        busy = Signal()             # a frame is being answered
        m.d.comb += [self.rx.ready.eq(~busy if self.queued else 1),
                     got.eq(self.rx.valid & self.rx.ready)]

        bump = {n: Signal(name=f"bump_{n}")
                for n in ("framing", "crc", "timeout", "dropped", "lost")}
        m.d.comb += bump["framing"].eq(self.framing_error)
        for n, strobe in bump.items():
            cnt = self.counters[n]
            if n == "lost" or (n == "framing" and not self.queued):
                # these two also count while a reply is being sent: the record shows them
                # as they were at the end of the frame (a STATUS reply is one snapshot);
                # with a queue a framing error waits there, and counts once taken
                live = Signal(16, name=f"live_{n}")
                nxt = Signal(16, name=f"next_{n}")
                m.d.comb += nxt.eq(live + (strobe & (live != 0xFFFF)))
                m.d.sync += live.eq(nxt)
                with m.If(~busy):
                    m.d.sync += cnt.eq(nxt)
            else:
                with m.If(strobe & (cnt != 0xFFFF)):
                    m.d.sync += cnt.eq(cnt + 1)

        count = Signal(17)          # payload bytes so far, or bytes left to skip
        crc_hi = Signal(8)
        timer = Signal(range(self.timeout_cycles + 1))

        def end(result):
            m.d.comb += [self.event.valid.eq(1), self.event.payload.eq(result)]
            m.next = "BUSY"

        def take(state):
            """The byte ``byte`` arrived in ``state``."""
            if state in ("CMD", "SEQ", "LEN_LO", "LEN_HI", "PAYLOAD"):
                m.d.comb += crc.valid.eq(1)
            if state == "CMD":
                m.d.sync += hdr.cmd.eq(byte)
                m.next = "SEQ"
            elif state == "SEQ":
                m.d.sync += hdr.seq.eq(byte)
                m.next = "LEN_LO"
            elif state == "LEN_LO":
                m.d.sync += hdr.length[:8].eq(byte)
                m.next = "LEN_HI"
            elif state == "LEN_HI":
                n = Cat(hdr.length[:8], byte)
                m.d.sync += [hdr.length[8:].eq(byte), count.eq(0)]
                with m.If(n > self.max_payload):
                    m.d.sync += count.eq(n + 1)
                    m.next = "SKIP"
                with m.Elif(n == 0):
                    m.next = "CRC_HI"
                with m.Else():
                    m.next = "PAYLOAD"
            elif state == "PAYLOAD":
                m.d.comb += [buf_w.addr.eq(count), buf_w.en.eq(1)]
                m.d.sync += count.eq(count + 1)
                with m.If(count + 1 == hdr.length):
                    m.next = "CRC_HI"
            elif state == "CRC_HI":
                m.d.sync += crc_hi.eq(byte)
                m.next = "CRC_LO"
            elif state == "CRC_LO":
                with m.If(Cat(byte, crc_hi) != crc.crc):
                    m.d.comb += bump["crc"].eq(1)
                    end(RxResult.CRC)
                with m.Else():
                    end(RxResult.OK)
            else:       # SKIP
                m.d.sync += count.eq(count - 1)
                with m.If(count == 0):
                    end(RxResult.LENGTH)

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [hdr.cmd.eq(0), hdr.seq.eq(0), timer.eq(0)]
                with m.If(got):
                    with m.If(byte == SYNC):
                        m.d.comb += restart.eq(1)
                        m.next = "CMD"
                    with m.Else():
                        m.d.comb += bump["dropped"].eq(1)
            for state in ("CMD", "SEQ", "LEN_LO", "LEN_HI", "PAYLOAD", "CRC_HI", "CRC_LO",
                          "SKIP"):
                with m.State(state):
                    with m.If(self.framing_error):
                        end(RxResult.FRAMING)
                    with m.Elif(got):
                        m.d.sync += timer.eq(0)
                        take(state)
                    with m.Elif(timer == self.timeout_cycles - 1):
                        m.d.comb += bump["timeout"].eq(1)
                        end(RxResult.TIMEOUT)
                    with m.Else():
                        m.d.sync += timer.eq(timer + 1)
            with m.State("BUSY"):
                m.d.comb += [busy.eq(1), bump["lost"].eq(got)]
                with m.If(self.done):
                    m.next = "IDLE"
        # (the UART cannot overrun while rx.ready is high; counted should that change;
        # with a queue: the byte that found the queue full)
        with m.If(self.overrun):
            m.d.comb += bump["lost"].eq(1)
        return m
