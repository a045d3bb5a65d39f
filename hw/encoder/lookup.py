"""Serving a trajectory table: requests of ``K`` codes in, their samples out.

:class:`TableLookup` is the serve side that the integrating encoder
(:class:`~dynalign.hw.encoder.encoder.TrajectoryEncoder`) and the table server
(:class:`~dynalign.hw.encoder.server.TableServer`) share; the table memory itself
belongs to them (the lookup reads it through ``rd_*``).
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..formats import SAMPLE
from ..validate import check_choice, check_int, positive_int
from .regs import ERROR_WIDTH, Error
from .schedule import OUTPUT_FIFO_DEPTH

__all__ = ["OUTPUT_FIFO_DEPTH", "code_layout", "sample_layout", "TableLookup",
           "sticky_errors"]


def sticky_errors(m, *, clear, lookup_err, own_err):
    """The ``error`` register both encoders share: sticky ``Error`` bits, cleared by
    ``clear``; in a cycle where the lookup and the encoder's own logic both raise bits,
    the lookup's bits are taken.  Returns the register."""
    err = Signal(ERROR_WIDTH)
    m.d.sync += err.eq(Mux(clear, 0, err) | Mux(lookup_err.any(), lookup_err, own_err))
    return err


def code_layout(code_width: int) -> data.StructLayout:
    """Payload of the code stream: ``{code: signed(code_width)}``."""
    return data.StructLayout({"code": signed(code_width)})


def sample_layout(lanes: int) -> data.StructLayout:
    """Payload of the sample stream: ``{samples: lanes x signed(SAMPLE), last: 1}``."""
    return data.StructLayout({"samples": data.ArrayLayout(signed(SAMPLE.width), lanes),
                              "last": 1})


class TableLookup(wiring.Component):
    """Collects requests of ``K`` codes (double buffered) and streams their samples.

    For each complete request the samples go out in the golden layout
    ``for t in range(T): for k in range(K): x, y, z`` (``lanes`` per beat, ``last`` on the
    request's final beat), read from the table: the sample of component ``c`` at ``t``
    of code ``code`` is entry ``rd_index = 3 t + c`` (``t`` for three lanes) of row
    ``rd_row = code + 2**(w-1)``.  Pipeline: issue (code buffer read), table read, into
    the output FIFO; a read is issued only while the FIFO has room for what is in
    flight, so a sink that is always ready gets a beat per cycle (``fifo_depth >= 3``).
    Its latencies (:mod:`~.schedule`): the first read ``REQUEST_TO_ISSUE`` cycle after
    the request's last code, each beat at the FIFO output ``ISSUE_TO_BEAT`` cycles after
    its read; a read waits while ``fifo_depth`` beats are issued and not taken.

    A code is accepted (``i_codes.ready``) while ``busy`` is low and either the code's
    buffer is free or the code is dropped: with no valid table (``Error.NO_TABLE``) or
    ``features_ok`` low (``Error.FEATURES``) every code is consumed with no samples.  A
    collected request whose table has gone (``table_valid`` low) is dropped with
    ``Error.NO_TABLE``.  ``err`` carries those bits in the cycle they occur.

    Parameters (keyword-only)
    -------------------------
    max_T : int >= 2;  max_features : int >= 1;  lanes : 1 or 3
    code_width : int >= 2  (``w``);  fifo_depth : int >= 1  (the output FIFO)

    Ports
    -----
    i_codes : In(stream of :func:`code_layout`);  o_samples : Out(stream of
        :func:`sample_layout`)
    features : In(range(max_features + 1))  ``K``, latched per request at its first code.
    features_ok : In(1)  ``K`` is in range.
    samples : In(range(max_T + 1))  ``T`` of the table served.
    table_valid : In(1)
    busy : In(1)  no code is accepted.
    pause : In(1)  no read is issued (the table is being rebuilt).
    clear : In(1)  strobe: clear ``sat``.
    rd_en : Out(1), rd_row : Out(w), rd_index : Out(range(3 max_T), three lanes:
        range(max_T))  the table read; ``rd_data`` : In(lanes x signed(SAMPLE)) and
        ``rd_sat`` : In(1) (the row's saturation bit) one cycle after ``rd_en``.
    err : Out(ERROR_WIDTH)  error bits raised this cycle.
    sat : Out(1)  sticky: a sample of a row whose saturation bit is set was served.
    """

    def __init__(self, *, max_T, max_features, lanes, code_width, fifo_depth):
        self.max_T = check_int("max_T", max_T, lo=2)
        self.max_features = positive_int("max_features", max_features)
        self.lanes = check_choice("lanes", check_int("lanes", lanes), (1, 3))
        self.code_width = check_int("code_width", code_width, lo=2)
        self.fifo_depth = positive_int("fifo_depth", fifo_depth)
        self.sample_layout = sample_layout(self.lanes)
        super().__init__({
            "i_codes": In(stream.Signature(code_layout(code_width))),
            "o_samples": Out(stream.Signature(self.sample_layout)),
            "features": In(range(max_features + 1)), "features_ok": In(1),
            "samples": In(range(max_T + 1)), "table_valid": In(1),
            "busy": In(1), "pause": In(1), "clear": In(1),
            "rd_en": Out(1), "rd_row": Out(code_width),
            "rd_index": Out(range(3 * max_T if lanes == 1 else max_T)),
            "rd_data": In(data.ArrayLayout(signed(SAMPLE.width), lanes)), "rd_sat": In(1),
            "err": Out(ERROR_WIDTH), "sat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cw = self.code_width
        maxf = self.max_features
        table_valid = self.table_valid
        # two banks addressed Cat(index, bank): each bank spans the index's whole range
        # (2**bits, not maxf, or bank 1 of a max_features = 3 design would reach past
        # the end)
        m.submodules.codebuf = codebuf = memory.Memory(
            shape=signed(cw), depth=2 << (maxf - 1).bit_length(), init=[])
        c_wr = codebuf.write_port()
        c_rd = codebuf.read_port(domain="sync")

        # ---- request collector (double buffered) ------------------------------------
        full = Signal(2)
        kb = Array([Signal(range(maxf + 1), name=f"kb{i}") for i in range(2)])
        wb = Signal()
        wi = Signal(range(maxf))
        drop = Signal()
        m.d.comb += drop.eq(~table_valid | ~self.features_ok)
        m.d.comb += self.i_codes.ready.eq(~self.busy & (drop | ~full.bit_select(wb, 1)))
        kcur = Signal(range(maxf + 1))
        m.d.comb += kcur.eq(Mux(wi == 0, self.features, kb[wb]))
        full_set = Signal(2)
        full_clr = Signal(2)
        m.d.sync += full.eq((full | full_set) & ~full_clr)
        with m.If(self.i_codes.valid & self.i_codes.ready):
            with m.If(~table_valid):
                m.d.comb += self.err.eq(Error.NO_TABLE)
            with m.Elif(~self.features_ok):
                m.d.comb += self.err.eq(Error.FEATURES)
            with m.Else():
                m.d.comb += [c_wr.en.eq(1), c_wr.addr.eq(Cat(wi, wb)),
                             c_wr.data.eq(self.i_codes.payload.code)]
                with m.If(wi == 0):
                    m.d.sync += kb[wb].eq(self.features)
                with m.If(wi == kcur - 1):
                    m.d.comb += full_set.eq(Mux(wb, 2, 1))
                    m.d.sync += [wi.eq(0), wb.eq(~wb)]
                with m.Else():
                    m.d.sync += wi.eq(wi + 1)

        # ---- request server -----------------------------------------------------------
        rb = Signal()
        rt = Signal(range(self.max_T))
        rk = Signal(range(maxf))
        rc = Signal(range(3))
        m.submodules.fifo = fifo = SyncFIFO(width=self.sample_layout.size,
                                            depth=self.fifo_depth)
        # stage A (issue): code buffer read; B: table and saturation-bit read;
        # C: into the FIFO.  Issue only while the FIFO has room for what is in flight.
        va, vb = Signal(), Signal()
        active = Signal()
        m.d.comb += active.eq(full.bit_select(rb, 1) & ~self.pause)
        issue = Signal()
        m.d.comb += issue.eq(active & table_valid
                             & (fifo.w_level + va + vb < self.fifo_depth))
        with m.If(active & ~table_valid):
            # a request collected for a table that has gone: drop it, no samples
            m.d.comb += [self.err.eq(Error.NO_TABLE), full_clr.eq(Mux(rb, 2, 1))]
            m.d.sync += [rb.eq(~rb), rt.eq(0), rk.eq(0), rc.eq(0)]
        m.d.comb += [c_rd.addr.eq(Cat(rk, rb)), c_rd.en.eq(issue)]
        kbr = kb[rb]
        last_c = 2 if self.lanes == 1 else 0
        is_last = Signal()
        m.d.comb += is_last.eq((rt == self.samples - 1) & (rk == kbr - 1) & (rc == last_c))
        rt_a = Signal.like(rt)
        rc_a = Signal.like(rc)
        last_a, last_b = Signal(), Signal()
        m.d.sync += [va.eq(issue), vb.eq(va), last_b.eq(last_a)]
        with m.If(issue):
            m.d.sync += [rt_a.eq(rt), rc_a.eq(rc), last_a.eq(is_last)]
        m.d.comb += [self.rd_en.eq(va),
                     self.rd_row.eq(c_rd.data ^ (1 << (cw - 1))),     # code -> table row
                     self.rd_index.eq((rt_a << 1) + rt_a + rc_a if self.lanes == 1 else rt_a)]
        with m.If(issue):
            with m.If(rc == last_c):
                m.d.sync += rc.eq(0)
                with m.If(rk == kbr - 1):
                    m.d.sync += rk.eq(0)
                    with m.If(rt == self.samples - 1):
                        m.d.sync += [rt.eq(0), rb.eq(~rb)]
                        m.d.comb += full_clr.eq(Mux(rb, 2, 1))
                    with m.Else():
                        m.d.sync += rt.eq(rt + 1)
                with m.Else():
                    m.d.sync += rk.eq(rk + 1)
            with m.Else():
                m.d.sync += rc.eq(rc + 1)
        beat = Signal(self.sample_layout)
        m.d.comb += [beat.samples.eq(self.rd_data), beat.last.eq(last_b),
                     fifo.w_data.eq(beat), fifo.w_en.eq(vb)]
        sat = Signal()
        m.d.sync += sat.eq(Mux(self.clear, 0, sat) | (vb & self.rd_sat))
        m.d.comb += [self.sat.eq(sat),
                     self.o_samples.payload.eq(fifo.r_data),
                     self.o_samples.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.o_samples.ready)]
        return m
