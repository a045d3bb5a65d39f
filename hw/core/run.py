"""The run sequencer: one inference, from the feature buffer to the results record."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..encoder.lookup import code_layout
from ..encoder.regs import ERROR_WIDTH
from ..lif.rtl import RD_ADDR_WIDTH, rd_count_addr, rd_stat_addr
from ..wire import FLAG_CORE_ERROR, FLAG_ENC_SAT, FLAG_MEM_SAT
from .layout import CoreLayout
from .schedule import FEED_CYCLES

__all__ = ["RunSequencer"]

assert FEED_CYCLES == 2     # FEED (the feature buffer's address), FEED2 (its code offered)


class RunSequencer(wiring.Component):
    """``start`` -> the K codes to the encoder, the class and counters to the record.

    On ``start`` (taken while ``idle``) the encoder's flags are cleared and, with a good
    model and a valid table, the ``K`` feature codes (int8, truncated to the code
    width) go from the feature buffer to ``codes`` (``FEED_CYCLES`` = 2 cycles per code
    at least, :mod:`~.schedule`); when
    the network's class arrives on ``lif_cls`` it is kept in ``cls``, ``flags`` gets
    ``FLAG_ENC_SAT`` (the encoder's sticky ``sat``) and ``FLAG_CORE_ERROR`` (any
    encoder error), and the read-back writes record word ``i`` with the network's
    counter: spikes of layer ``i`` (``i < L``), saturations of layer ``i - L``
    (``i < 2L``; a non-zero one sets ``FLAG_MEM_SAT``), then the output count of neuron
    ``i - 2L`` (slot ``gbase_last * lanes + i - 2L``), one word per three cycles (the
    read-back port's two-cycle latency); then the class is popped and ``done`` pulses.
    With a bad model or no valid table, ``flags = FLAG_CORE_ERROR``, ``cls = 0`` and
    every record word is written 0 instead.  ``cycles`` counts the clock cycles from
    ``start`` to the class (32 bits, wrapping; 0 on an error).

    Ports
    -----
    start : In(1);  idle : Out(1);  done : Out(1) (strobe)
    bad_model : In(1), k : In(8), n_layers : In(range(max_layers + 1)),
    n_last : In(field width), gbase_last : In(group address width)  from the loader.
    feat_addr : Out(feature address) / feat_data : In(8)  the feature buffer, data
        in the cycle after the address.
    codes : Out(stream of ``{code: signed(code width)}``)  to the encoder.
    enc_clear : Out(1) (strobe);  enc_table_valid, enc_sat : In(1);
    enc_error : In(ERROR_WIDTH)  the encoder's flags.
    lif_cls : In(stream of unsigned(cls width))  the network's class.
    rd_addr : Out(RD_ADDR_WIDTH) / rd_data : In(32)  the network's read-back port
        (two cycles latency).
    w_en : Out(1), w_addr : Out(range(result words)), w_data : Out(32)  record writes.
    cls : Out(8), flags : Out(8), cycles : Out(32)  the record's fixed fields.
    """

    def __init__(self, *, layout: CoreLayout):
        if not isinstance(layout, CoreLayout):
            raise TypeError(f"layout must be a CoreLayout, not {layout!r}")
        self.layout = layout
        super().__init__({
            "start": In(1), "idle": Out(1), "done": Out(1),
            "bad_model": In(1), "k": In(8), "n_layers": In(range(layout.max_layers + 1)),
            "n_last": In(layout.field_width), "gbase_last": In(layout.gbase_width),
            "feat_addr": Out(layout.feat_addr_width), "feat_data": In(8),
            "codes": Out(stream.Signature(code_layout(layout.code_width))),
            "enc_clear": Out(1), "enc_table_valid": In(1), "enc_sat": In(1),
            "enc_error": In(ERROR_WIDTH),
            "lif_cls": In(stream.Signature(unsigned(layout.cls_width))),
            "rd_addr": Out(RD_ADDR_WIDTH), "rd_data": In(32),
            "w_en": Out(1), "w_addr": Out(range(layout.result_words)), "w_data": Out(32),
            "cls": Out(8), "flags": Out(8), "cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self.layout
        lb = lay.lane_bits
        n_layers, n_last = self.n_layers, self.n_last
        cls, flags, cycles = self.cls, self.flags, self.cycles
        counting = Signal()
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        i_cnt = Signal(lay.field_width)           # the feature being sent
        rb_i = Signal(range(lay.result_words + 1))   # the record word being written
        rb_wait = Signal(2)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(1)
                with m.If(self.start):
                    m.d.sync += [cycles.eq(0), counting.eq(1), i_cnt.eq(0), rb_i.eq(0)]
                    m.d.comb += self.enc_clear.eq(1)
                    with m.If(self.bad_model | ~self.enc_table_valid):
                        m.d.sync += [flags.eq(FLAG_CORE_ERROR), cls.eq(0), counting.eq(0)]
                        m.next = "ZERO"
                    with m.Else():
                        m.next = "FEED"

            with m.State("FEED"):
                m.d.comb += self.feat_addr.eq(i_cnt)
                m.next = "FEED2"
            with m.State("FEED2"):
                m.d.comb += [self.feat_addr.eq(i_cnt),
                             self.codes.valid.eq(1),
                             self.codes.payload.code.eq(self.feat_data.as_signed())]
                with m.If(self.codes.ready):
                    m.d.sync += i_cnt.eq(i_cnt + 1)
                    with m.If(i_cnt + 1 == self.k):
                        m.next = "WAIT_CLASS"
                    with m.Else():
                        m.next = "FEED"
            with m.State("WAIT_CLASS"):
                with m.If(self.lif_cls.valid):
                    m.d.sync += [cls.eq(self.lif_cls.payload), counting.eq(0), rb_i.eq(0),
                                 rb_wait.eq(0),
                                 flags.eq(Mux(self.enc_sat, FLAG_ENC_SAT, 0)
                                          | Mux(self.enc_error != 0, FLAG_CORE_ERROR, 0))]
                    m.next = "READBACK"
            with m.State("READBACK"):
                # address of result word rb_i: spikes (0..L-1), saturations (L..2L-1),
                # output counts (2L..)
                layer = Signal(8)
                m.d.comb += layer.eq(Mux(rb_i < n_layers, rb_i, rb_i - n_layers))
                stat_sp = Signal(16)
                stat_sat = Signal(16)
                m.d.comb += [stat_sp.eq(rd_stat_addr(0, "spikes") + 4 * layer),
                             stat_sat.eq(rd_stat_addr(0, "saturations") + 4 * layer)]
                m.d.comb += self.rd_addr.eq(
                    Mux(rb_i < n_layers, stat_sp,
                        Mux(rb_i < 2 * n_layers, stat_sat,
                            rd_count_addr(0) + (self.gbase_last << lb) + rb_i - 2 * n_layers)))
                m.d.sync += rb_wait.eq(rb_wait + 1)
                with m.If(rb_wait == 2):
                    m.d.comb += [self.w_addr.eq(rb_i), self.w_data.eq(self.rd_data),
                                 self.w_en.eq(1)]
                    with m.If((rb_i >= n_layers) & (rb_i < 2 * n_layers)
                              & (self.rd_data != 0)):
                        m.d.sync += flags.eq(flags | FLAG_MEM_SAT)
                    m.d.sync += [rb_wait.eq(0), rb_i.eq(rb_i + 1)]
                    with m.If(rb_i + 1 == 2 * n_layers + n_last):
                        m.next = "POP"
            with m.State("POP"):
                m.d.comb += self.lif_cls.ready.eq(1)
                m.next = "DONE"
            with m.State("ZERO"):
                m.d.comb += [self.w_addr.eq(rb_i), self.w_data.eq(0), self.w_en.eq(1)]
                m.d.sync += rb_i.eq(rb_i + 1)
                with m.If(rb_i + 1 >= lay.result_words):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m
