"""The results record: written word by word by the run, read byte by byte by the engine."""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..wire import RESULT_FIXED, brief_len, result_len
from .layout import CoreLayout

__all__ = ["ResultsRecord"]


class ResultsRecord(wiring.Component):
    """The record of :mod:`dynalign.hw.wire` for ``L = n_layers`` and
    ``n = n_last``, ``res_len = result_len(L, n)`` bytes, little-endian:

    * bytes 0..7: ``cls``, ``flags``, ``L``, ``n`` (low 8 bits), ``cycles`` (u32);
    * bytes ``8 + 4 i .. 11 + 4 i`` for ``i < 2 L``: word ``i`` (spikes of layer ``i``,
      then saturations of layer ``i - L``);
    * bytes ``8 + 8 L + 2 j``, ``+1``: the low 16 bits of word ``2 L + j`` (the count
      of output neuron ``j``).

    Ports
    -----
    w_en : In(1), w_addr : In(range(result words)), w_data : In(32)  a word write.
    cls, flags : In(8);  cycles : In(32);  n_layers : In(range(max_layers + 1));
    n_last : In(field width)  the fixed fields.
    res_addr : In(16) / res_data : Out(8)  byte ``res_addr``, one cycle after the
        address (beyond the record: don't care).
    res_len : Out(16)  ``result_len(n_layers, n_last)``.
    brief_len : Out(16)  ``brief_len(n_layers)`` (the fixed part and the spikes).
    """

    def __init__(self, *, layout: CoreLayout):
        if not isinstance(layout, CoreLayout):
            raise TypeError(f"layout must be a CoreLayout, not {layout!r}")
        self.layout = layout
        super().__init__({
            "w_en": In(1), "w_addr": In(range(layout.result_words)), "w_data": In(32),
            "cls": In(8), "flags": In(8), "cycles": In(32),
            "n_layers": In(range(layout.max_layers + 1)), "n_last": In(layout.field_width),
            "res_addr": In(16), "res_data": Out(8), "res_len": Out(16),
            "brief_len": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self.layout
        n_layers, n_last, cycles = self.n_layers, self.n_last, self.cycles
        m.submodules.resw = resw = Memory(shape=32, depth=lay.result_words, init=[])
        resw_w = resw.write_port()
        resw_r = resw.read_port()
        m.d.comb += [resw_w.addr.eq(self.w_addr), resw_w.data.eq(self.w_data),
                     resw_w.en.eq(self.w_en)]
        m.d.comb += [self.res_len.eq(result_len(n_layers, n_last)),
                     self.brief_len.eq(brief_len(n_layers))]

        # result byte `a`: 0..7 fixed, then words (spikes, saturations: 4 bytes each),
        # then output counts (2 bytes each)
        res_bits = result_len(lay.max_layers, max(lay.limits.max_sizes)).bit_length()
        a = self.res_addr[:res_bits]         # the record is never longer than that
        off = Signal(res_bits)
        cnt_off = Signal(res_bits)
        m.d.comb += [off.eq(a - RESULT_FIXED.size),
                     cnt_off.eq(a - result_len(n_layers, 0))]
        in_words = Signal()
        m.d.comb += in_words.eq(a < result_len(n_layers, 0))
        m.d.comb += resw_r.addr.eq(Mux(in_words, off[2:], 2 * n_layers + cnt_off[1:]))
        sel = Signal(2)
        fixed_sel = Signal(3)
        region = Signal(2)
        m.d.sync += [sel.eq(Mux(in_words, off[:2], cnt_off[0])), fixed_sel.eq(a[:3]),
                     region.eq(Mux(a < 8, 0, Mux(in_words, 1, 2)))]
        fixed = Array([self.cls, self.flags, n_layers, n_last[:8], cycles[:8], cycles[8:16],
                       cycles[16:24], cycles[24:]])
        with m.Switch(region):
            with m.Case(0):
                m.d.comb += self.res_data.eq(fixed[fixed_sel])
            with m.Default():
                m.d.comb += self.res_data.eq(resw_r.data.word_select(sel, 8))
        return m
