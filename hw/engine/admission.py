"""The admission check of an IMAGE_BEGIN header, decided as the header streams by."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from dynalign.hw.formats import CODE
from dynalign.hw.wire import (
    HEADER_AT,
    IMAGE_FLAG_TABLE,
    IMAGE_MAGIC,
    IMAGE_VERSION,
    LAYERS_OFFSET,
    MAX_LAYERS,
    TABLE_ROWS,
    Err,
    Limits,
)

from .layouts import HeaderByte, upload_layout

__all__ = ["HeaderCheck"]


class HeaderCheck(wiring.Component):
    """:meth:`dynalign.hw.wire.Limits.check_header` in gateware, same rules, same order.

    Each header byte's conditions are noted as it arrives (``byte``); the verdict
    combines them.  ``total_len`` keeps only the bits an admitted image can have, plus
    whether any higher one is set (then the image is too large).  The table block's
    length (``4 x 3T x R + R``, R = 2**CODE.width rows) follows from T.

    Parameters (keyword-only)
    -------------------------
    limits : Limits

    Ports
    -----
    clear : In(1), strobe
        A new header begins.
    byte : In(stream.Signature(HeaderByte, always_ready=True))
        Its bytes, each once, in order (a layer size is judged when its high byte
        arrives, from its low byte and L).
    verdict : Out(8)
        0 (admitted), ``Err.IMAGE_FORMAT`` or ``Err.TOO_LARGE``; registered: valid the
        second cycle after the last byte.
    k : Out(8)
        The header's K.
    plan : Out(upload_layout(limits))
        ``open`` = admitted; the image's total length, where its table block starts and
        where the block's flags start.  Valid with ``verdict``.
    """

    def __init__(self, *, limits: Limits):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        self.limits = limits
        super().__init__({
            "clear": In(1),
            "byte": In(stream.Signature(HeaderByte, always_ready=True)),
            "verdict": Out(8),
            "k": Out(8),
            "plan": Out(upload_layout(limits)),
        })

    def elaborate(self, platform):
        m = Module()
        lim = self.limits
        at = HEADER_AT
        t = Signal(8)
        n_layers = Signal(8)
        total = Signal.like(self.plan.total_len)
        huge = Signal()             # a bit of total_len above those kept is set
        fmt = Signal()              # an IMAGE_FORMAT condition of the fixed fields
        big = Signal()              # a TOO_LARGE condition of K, T, L
        size_lo = Signal(8)         # the low byte of a layer size
        size_err = Signal(5)        # the first failing layer size's error code
        t_samples = Signal(20)      # table block: sample bytes, then all its bytes
        t_len = Signal(21)
        with m.If(self.clear):
            m.d.sync += [fmt.eq(0), big.eq(0), huge.eq(0), size_err.eq(0)]
        m.d.sync += self.verdict.eq(
            Mux(fmt | (~huge & (total < LAYERS_OFFSET + t_len)), int(Err.IMAGE_FORMAT),
                Mux(big | huge | (total - t_len > lim.bank_bytes), int(Err.TOO_LARGE),
                    size_err)))
        m.d.comb += [self.plan.open.eq(self.verdict == 0), self.plan.total_len.eq(total),
                     self.plan.table_start.eq(total - t_len),
                     self.plan.table_flags.eq(t_samples)]

        def note(flag, cond):
            with m.If(cond):
                m.d.sync += flag.eq(1)

        i, d = self.byte.payload.index, self.byte.payload.data
        with m.If(self.byte.valid), m.Switch(i):
            for n, v in ((at["magic"], IMAGE_MAGIC[0]), (at["magic"] + 1, IMAGE_MAGIC[1]),
                         (at["version"], IMAGE_VERSION), (at["lanes"], lim.lanes)):
                with m.Case(n):
                    note(fmt, d != v)
            for n, reg, lo, hi in ((at["k"], self.k, 1, lim.max_features),
                                   (at["t"], t, 2, lim.max_samples),
                                   (at["n_layers"], n_layers, 1, lim.max_layers)):
                with m.Case(n):
                    m.d.sync += reg.eq(d)
                    note(fmt, d < lo)
                    note(big, d > hi)
                    if reg is t and lim.table:
                        samples = ((d << 3) + (d << 2)) << CODE.width
                        m.d.sync += [t_samples.eq(samples), t_len.eq(samples + TABLE_ROWS)]
            with m.Case(at["in_shift"]):
                note(fmt, d > 31)
            with m.Case(at["flags"]):
                note(fmt, d != (IMAGE_FLAG_TABLE if lim.table else 0))
            with m.Case(at["packed"]):              # after L (at["n_layers"] is earlier)
                if lim.packed:
                    note(fmt, Cat(*(d[b] & (n_layers <= b) for b in range(8))).any())
                else:
                    note(fmt, d != 0)
            tw = len(total)
            for n in range(4):                          # total_len, little-endian
                with m.Case(at["total_len"] + n):
                    below = min(8, max(0, tw - 8 * n))
                    if below:
                        m.d.sync += total[8 * n:8 * n + below].eq(d[:below])
                    if below < 8:
                        note(huge, d[below:] != 0)
            for n in range(min(MAX_LAYERS, lim.max_layers)):
                with m.Case(at["sizes"] + 2 * n):
                    m.d.sync += size_lo.eq(d)
                with m.Case(at["sizes"] + 2 * n + 1):
                    size = Cat(size_lo, d)
                    this = Mux(size == 0, int(Err.IMAGE_FORMAT),
                               Mux(size > lim.max_sizes[n], int(Err.TOO_LARGE), 0))
                    with m.If((n < n_layers) & (size_err == 0)):
                        m.d.sync += size_err.eq(this)
        return m
