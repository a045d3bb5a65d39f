"""The LIF engine's input loader: one sample per cycle into the layer-1 active list."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import ACT, IN_SHIFT_MAX, SAMPLE
from .common import LIFGeometry, overflows

__all__ = ["InputLoader"]


class InputLoader(wiring.Component):
    """Samples -> the non-zero activations of one time step, as an active list in one of
    two banks (the loader fills step ``t + 1`` while the engine works on step ``t``).

    For the ``channels`` samples ``x_j`` of a step (``j = 0 .. channels - 1``, in stream
    order) it writes, in order of ``j``, the entries ``(j, a_j)`` with ``a_j != 0`` of::

        a_j = sat_ACT(round_shift(x_j, s))      round_shift(x, s) = (x + 2**(s-1)) >> s

    (arithmetic shift, round half up; ``x`` itself for ``s = 0``; ``sat_ACT`` clamps to
    ``ACT``, a non-zero value stays non-zero).  Three stages, one sample per cycle:

    * LA (accept): ``y = x >> max(s - 1, 0)``, registered with the bank and whether it is
      the step's last channel;
    * LB: ``r = (y + 1) >> 1`` if ``s`` else ``y`` (``= round_shift(x, s)``: with ``x = q
      2**(s-1) + rem``, ``0 <= rem < 2**(s-1)``, the dropped remainder never moves
      ``floor((q + 1) / 2)``), and whether ``r != 0`` (``y`` not in ``{-1, 0}`` if ``s``,
      else ``y != 0``);
    * LW: ``sat_ACT(r)`` written at the bank's next entry if non-zero.

    A bank is *taken* from the acceptance of its last sample, *full* once that sample is
    written (``bank_nnz`` entries), and both until the engine releases it; the loader
    accepts samples for a bank only while it is not taken, so it never writes a bank the
    engine reads.

    Ports
    -----
    i : In(stream of signed SAMPLE) -- the samples; ``ready`` while the bank being filled
        is not taken.
    channels : In(range(max_inputs + 1)) -- samples per step.
    in_pre_shift : In(range(IN_SHIFT_MAX + 1)), in_round : In(1) -- ``max(s - 1, 0)`` and
        ``s != 0`` (:class:`~dynalign.hw.lif.config.ConfigRegisters`).
    l_addr : Out(in_entry_bits + 1), l_data : Out(idx_width + ACT.width), l_en : Out(1)
        -- list memory write (comb): address ``bank * 2**in_entry_bits + n`` (entry ``n``),
        data ``Cat(a, j)``.
    bank : In(1) -- the bank the engine reads.
    release : In(1) -- strobe: the engine is done with ``bank`` (not full, not taken).
    bank_full : Out(1), bank_nnz : Out(range(max_inputs + 1)) -- whether ``bank`` holds
        a complete step, and its entry count (comb).
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "i": In(stream.Signature(signed(SAMPLE.width))),
            "channels": In(range(g.max_inputs + 1)),
            "in_pre_shift": In(range(IN_SHIFT_MAX + 1)),
            "in_round": In(1),
            "l_addr": Out(g.in_entry_bits + 1),
            "l_data": Out(g.idx_width + ACT.width),
            "l_en": Out(1),
            "bank": In(1),
            "release": In(1),
            "bank_full": Out(1),
            "bank_nnz": Out(range(g.max_inputs + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        count = range(geo.max_inputs + 1)
        full = Array([Signal(name="full0"), Signal(name="full1")])
        taken = Array([Signal(name="taken0"), Signal(name="taken1")])
        nnz = Array([Signal(count, name=f"nnz{b}") for b in range(2)])
        m.d.comb += [self.bank_full.eq(full[self.bank]), self.bank_nnz.eq(nnz[self.bank])]

        fill = Signal(name="fill_bank")     # the bank LA fills
        la_j = Signal(count)                # channel of the next accepted sample
        lw_n = Signal(count)                # entries written into the bank LW fills
        lw_j = Signal(count)                # channel of the sample in LW
        la = Signal(data.StructLayout({"valid": 1, "last": 1, "bank": 1,
                                       "y": signed(SAMPLE.width)}), name="la")
        lb = Signal(data.StructLayout({"valid": 1, "last": 1, "bank": 1, "nz": 1,
                                       "r": signed(SAMPLE.width)}), name="lb")

        # LA: accept, y = x >> max(s - 1, 0)
        m.d.comb += self.i.ready.eq(~taken[fill])
        accept = self.i.valid & self.i.ready
        is_last = la_j + 1 >= self.channels
        m.d.sync += [la.valid.eq(accept), la.last.eq(is_last), la.bank.eq(fill),
                     la.y.eq(self.i.payload >> self.in_pre_shift)]
        with m.If(accept):
            with m.If(is_last):
                m.d.sync += [la_j.eq(0), fill.eq(~fill), taken[fill].eq(1)]
            with m.Else():
                m.d.sync += la_j.eq(la_j + 1)

        # LB: r = round_shift(x, s), r != 0
        y = la.y
        y_zero = y == 0
        y_m1 = y == -1
        m.d.sync += [lb.valid.eq(la.valid), lb.last.eq(la.last), lb.bank.eq(la.bank),
                     lb.nz.eq(Mux(self.in_round, ~(y_zero | y_m1), ~y_zero)),
                     lb.r.eq(Mux(self.in_round, (y + 1) >> 1, y))]

        # LW: a = sat_ACT(r), written if non-zero; the last channel marks the bank full
        r = lb.r
        act = Signal(signed(ACT.width))
        m.d.comb += act.eq(Mux(overflows(r, ACT.width),
                               Mux(r[-1], ACT.min_int, ACT.max_int), r[:ACT.width]))
        m.d.comb += [self.l_addr.eq(Cat(lw_n[:geo.in_entry_bits], lb.bank)),
                     self.l_data.eq(Cat(act, lw_j)),
                     self.l_en.eq(lb.valid & lb.nz)]
        with m.If(lb.valid):
            nz = Mux(lb.nz, 1, 0)
            with m.If(lb.last):
                m.d.sync += [full[lb.bank].eq(1), nnz[lb.bank].eq(lw_n + nz),
                             lw_n.eq(0), lw_j.eq(0)]
            with m.Else():
                m.d.sync += [lw_n.eq(lw_n + nz), lw_j.eq(lw_j + 1)]
        with m.If(self.release):
            m.d.sync += [full[self.bank].eq(0), taken[self.bank].eq(0)]
        return m
