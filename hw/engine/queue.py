"""The host link's queues: a lean block-RAM FIFO (:class:`LineFIFO`, the transmit queue)
and the receive queue built on it (:class:`ReceiveQueue`: the UART's bytes and framing
errors, in order), so that the device receives while it computes and replies.

Why not :class:`amaranth.lib.fifo.SyncFIFOBuffered`: it keeps two level counters (the
queue's and its memory's) and a wrap-around compare per pointer; a line queue needs
neither a level nor a byte per cycle (a UART byte takes 40 cycles or more), and on the
UP5K the difference decides whether the accelerator fits (``bench/synth_breakdown.py``
counts both).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynalign.hw.validate import check_int
from dynalign.hw.wire import queue_depth_ok

__all__ = ["LineFIFO", "ReceiveQueue"]


def _check_depth(depth):
    if not queue_depth_ok(depth) or depth == 0:
        raise ValueError(f"depth must be a power of two from 16 to 4096, not {depth!r}")
    return depth


class LineFIFO(wiring.Component):
    """First in, first out, ``depth`` entries of ``width`` bits in one block RAM, plus one
    at the output: ``depth + 1`` in all.

    * ``i.ready`` is high unless the block RAM holds ``depth`` entries (write pointer one
      lap ahead of the read pointer: ``wp ^ rp == depth``); an entry offered then waits.
    * The output register loads the oldest entry when it is empty (a read, then the data
      one cycle later): ``o.valid`` 2 cycles after an entry reaches an empty FIFO, and
      at most one entry per 3 cycles: a line that delivers a byte per 3 cycles or
      slower (a UART: 40 cycles a byte at the least) never fills a queue whose reader
      listens.

    Parameters (keyword-only)
    -------------------------
    width : int >= 1
    depth : int, a power of two, 2..4096 (a line queue's: 16..4096,
        :func:`dynalign.hw.wire.queue_depth_ok`; smaller ones for proofs)

    Ports
    -----
    i : In(stream.Signature(width))
    o : Out(stream.Signature(width))
    """

    def __init__(self, *, width: int, depth: int):
        self.width = check_int("width", width, lo=1)
        if not isinstance(depth, int) or not 2 <= depth <= 4096 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two from 2 to 4096, not {depth!r}")
        self.depth = depth
        super().__init__({"i": In(stream.Signature(width)),
                          "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
        w = mem.write_port()
        r = mem.read_port()                 # synchronous: data the cycle after en
        aw = (self.depth - 1).bit_length()
        wp = Signal(aw + 1)                 # one wrap bit above the address
        rp = Signal(aw + 1)
        empty = Signal()
        full = Signal()
        pending = Signal()                  # a read was issued last cycle
        have = Signal()                     # the output register holds an entry
        load = Signal()
        m.d.comb += [empty.eq(wp == rp), full.eq((wp ^ rp) == self.depth),
                     self.i.ready.eq(~full),
                     w.addr.eq(wp[:aw]), w.data.eq(self.i.payload),
                     w.en.eq(self.i.valid & ~full),
                     load.eq(~empty & ~have & ~pending),
                     r.addr.eq(rp[:aw]), r.en.eq(load),
                     self.o.valid.eq(have), self.o.payload.eq(r.data)]
        with m.If(self.i.valid & ~full):
            m.d.sync += wp.eq(wp + 1)
        m.d.sync += pending.eq(load)
        with m.If(load):
            m.d.sync += rp.eq(rp + 1)
        with m.If(pending):
            m.d.sync += have.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += have.eq(0)
        return m


class ReceiveQueue(wiring.Component):
    """The line's events in arrival order, ``depth + 1`` at most (a :class:`LineFIFO` of
    9-bit entries): each a byte, or a framing error (the UART saw a low stop bit and
    dropped that byte), kept in its place among the bytes.

    * An event that finds the queue full is dropped and reported on ``overflow`` (the
      receiver counts it in ``lost``: no byte vanishes without a trace).
    * The head is offered to the receiver: a byte on ``o``; a framing error pulses
      ``framing_error`` in a cycle where ``o.ready`` is high, and is taken then.

    Parameters (keyword-only)
    -------------------------
    depth : int
        A power of two, 16..4096 (:func:`dynalign.hw.wire.queue_depth_ok`).

    Ports
    -----
    rx : In(stream.Signature(8))
        The UART's bytes; ``rx.ready`` is always high (the UART never overruns).
    rx_framing_error : In(1), strobe
    o : Out(stream.Signature(8))
        The bytes, to the receiver.
    framing_error : Out(1), strobe
    overflow : Out(1), strobe
    """

    def __init__(self, *, depth: int):
        self.depth = _check_depth(depth)
        super().__init__({
            "rx": In(stream.Signature(8)),
            "rx_framing_error": In(1),
            "o": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = LineFIFO(width=9, depth=self.depth)
        arrive = self.rx.valid | self.rx_framing_error
        # (a byte completes at its stop bit, a framing error at a low one: never both in
        # one cycle; were they, the mark is kept and the byte counted as overflow)
        m.d.comb += [self.rx.ready.eq(1),
                     fifo.i.payload.eq(Cat(self.rx.payload, self.rx_framing_error)),
                     fifo.i.valid.eq(arrive),
                     self.overflow.eq((arrive & ~fifo.i.ready)
                                      | (self.rx.valid & self.rx_framing_error))]
        mark = fifo.o.payload[8]
        m.d.comb += [self.o.payload.eq(fifo.o.payload[:8]),
                     self.o.valid.eq(fifo.o.valid & ~mark),
                     self.framing_error.eq(fifo.o.valid & mark & self.o.ready),
                     fifo.o.ready.eq(self.o.ready)]
        return m
