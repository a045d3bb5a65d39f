"""The table server: the encoder's serve side with a table written by the host.

On a board too small for the RK4 integrator (the iCEBreaker) the host computes the
golden table (``FixedEncoder(config).table``; :func:`~.regs.table_writes`) and writes it
through ``tw_*``; ``refill`` commits it.  The lookup, the stream and every flag behave
as with :class:`~.encoder.TrajectoryEncoder`: the same :class:`~.lookup.TableLookup`
serves it, one sample per beat.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import CODE, SAMPLE
from ..validate import check_choice, check_int, positive_int
from .lookup import OUTPUT_FIFO_DEPTH, TableLookup, code_layout, sample_layout, sticky_errors
from .regs import ERROR_WIDTH, REG_ADDR_WIDTH, Error, Reg
from .table import TableMemory, check_code_format, table_layout

__all__ = ["TableServer"]


class TableServer(wiring.Component):
    """Feature codes in, samples of a written table out.

    Parameters (keyword-only)
    -------------------------
    max_T : int in 2..4096
        Largest number of samples per trajectory.
    max_features : int in 1..65536
        Largest request size ``K`` (codes buffered per request, twice: double buffer).
    code_format : QFormat
        The code format (default :data:`~hw.formats.CODE`): the table has a row per code.
    banks : 1 or 2
        ``2``: the table memory holds two tables; ``bank`` picks the one served,
        ``tw_*`` writes go to table ``tw_bank`` (the caller never writes the one served)
        and do *not* invalidate the served table, ``refill`` commits the table of
        ``bank`` (after an upload, or to serve the other resident table: the caller sets
        ``bank`` first; ``table_sat`` is the OR of that table's flags, kept per table
        from its first entry, row 0 index 0, on).  A host can then write a new table
        while the old one keeps working, and a half-written one is never served.
        ``1``: a write invalidates the table until the next ``refill``.
    fifo_depth : int in 1..64
        Output FIFO depth (default :data:`~.lookup.OUTPUT_FIFO_DEPTH`; 1: a beat every
        fourth cycle, ``ISSUE_TO_BEAT + 1``, for a sink that is slower anyway).

    Ports
    -----
    i_codes : In(stream)  payload ``{code: signed(w)}``
    o_samples : Out(stream)  payload ``{samples: 1 x signed(SAMPLE.width), last: 1}``;
        per request ``for t in range(T): for k in range(K): x, y, z``.
    reg_we : In(1), reg_addr : In(REG_ADDR_WIDTH), reg_data : In(32)
        register write: only ``Reg.SAMPLES`` (``T``) and ``Reg.FEATURES`` (``K``) are
        kept, every other address is ignored.
    tw_en : In(1), tw_code : In(signed(w)), tw_index : In(range(3 max_T)),
    tw_data : In(signed(SAMPLE.width)), tw_sat : In(1)
        table write: entry ``tw_index = 3 t + c`` (component ``c`` of sample ``t``) of
        code ``tw_code`` gets the SAMPLE ``tw_data``; the code's saturation bit gets
        ``tw_sat``.
    bank : In(1)  (``banks=2`` only) the table served.
    tw_flag : In(1)  (``banks=2`` only) a ``tw_*`` write sets only the code's
        saturation bit (1) or only the sample (0).
    tw_bank : In(1)  (``banks=2`` only) the table a ``tw_*`` write goes to.
    refill : In(1)
        strobe: check ``T`` (``Error.SAMPLES`` outside ``2..max_T``) and commit the
        written table: valid in the next cycle, ``table_sat`` = OR of the ``tw_sat`` bits
        written since the last commit.
    clear : In(1)  strobe: clear ``error`` and ``sat``.
    table_valid, sat, table_sat : Out(1);  error : Out(ERROR_WIDTH) (``Error`` bits)
    """

    def __init__(self, *, max_T=5, max_features=64, code_format=CODE, banks=1,
                 fifo_depth=OUTPUT_FIFO_DEPTH):
        self.max_T = check_int("max_T", max_T, lo=2, hi=1 << 12)
        self.max_features = positive_int("max_features", max_features, hi=1 << 16)
        self.code_format = check_code_format(code_format)
        self.banks = check_choice("banks", check_int("banks", banks), (1, 2))
        self.fifo_depth = positive_int("fifo_depth", fifo_depth, hi=64)
        cw = code_format.width
        members = {
            "i_codes": In(stream.Signature(code_layout(cw))),
            "o_samples": Out(stream.Signature(sample_layout(1))),
            "reg_we": In(1), "reg_addr": In(REG_ADDR_WIDTH), "reg_data": In(32),
            "tw_en": In(1), "tw_code": In(signed(cw)), "tw_index": In(range(3 * self.max_T)),
            "tw_data": In(signed(SAMPLE.width)), "tw_sat": In(1),
            "refill": In(1), "clear": In(1),
            "table_valid": Out(1), "sat": Out(1), "table_sat": Out(1),
            "error": Out(ERROR_WIDTH),
        }
        if self.banks == 2:
            members.update({"bank": In(1), "tw_flag": In(1), "tw_bank": In(1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cw = self.code_format.width
        maxf = self.max_features
        banked = self.banks == 2

        # ---- registers: T and K, each with an "out of range" flag taken at write --------
        samples = Signal(range(self.max_T + 1))
        features = Signal(range(maxf + 1))
        bad_samples = Signal(init=1)
        bad_features = Signal(init=1)
        d = self.reg_data
        with m.If(self.reg_we):
            with m.Switch(self.reg_addr):
                with m.Case(Reg.SAMPLES):
                    m.d.sync += [samples.eq(d), bad_samples.eq((d < 2) | (d > self.max_T))]
                with m.Case(Reg.FEATURES):
                    m.d.sync += [features.eq(d), bad_features.eq((d == 0) | (d > maxf))]

        # ---- commit ---------------------------------------------------------------------
        table_valid = Signal()
        table_t = Signal(range(self.max_T + 1))
        table_sat = Signal()
        tw_sat_acc = Signal()       # OR of tw_sat since the last commit
        own_err = Signal(ERROR_WIDTH)
        if banked:
            # one OR per bank: the first entry of a table block (row 0, index 0) starts
            # its bank's over; a refill serves the OR of the bank it serves
            sat_acc = Array([Signal(name="tw_sat_acc0"), Signal(name="tw_sat_acc1")])
            first = self.tw_en & ~self.tw_flag & (self.tw_index == 0) \
                & (self.tw_code == -(1 << (cw - 1)))
            with m.If(first):
                m.d.sync += sat_acc[self.tw_bank].eq(0)
            with m.If(self.tw_en & self.tw_flag):
                m.d.sync += sat_acc[self.tw_bank].eq(sat_acc[self.tw_bank] | self.tw_sat)
        with m.If(self.refill):
            with m.If(bad_samples):
                m.d.comb += own_err.eq(Error.SAMPLES)
                m.d.sync += [table_valid.eq(0), table_sat.eq(0)]
            with m.Else():
                m.d.sync += [table_valid.eq(1), table_t.eq(samples)]
                if banked:
                    m.d.sync += table_sat.eq(sat_acc[self.bank])
                else:
                    m.d.sync += [table_sat.eq(tw_sat_acc), tw_sat_acc.eq(0)]
        if not banked:
            with m.If(self.tw_en):
                m.d.sync += tw_sat_acc.eq(tw_sat_acc | self.tw_sat)
            with m.If(self.tw_en):
                m.d.sync += table_valid.eq(0)
        m.d.comb += [self.table_valid.eq(table_valid), self.table_sat.eq(table_sat)]

        # ---- the table and its saturation bits, written through tw_* --------------------
        # two banks: entry Cat(row, index, bank), the index field wide enough for 3 T
        ib = (3 * self.max_T - 1).bit_length()
        serve_bank = self.bank if banked else Const(0, 1)
        _, depth, _ = table_layout(1, self.max_T, cw)
        m.submodules.table = table = TableMemory(
            shape=data.ArrayLayout(signed(SAMPLE.width), 1),
            depth=(2 << (cw + ib)) if banked else depth)
        tw_row = Signal(cw)          # code -> table row (as served)
        m.d.comb += tw_row.eq(self.tw_code ^ (1 << (cw - 1)))
        m.d.comb += [table.w_en.eq(self.tw_en & ~self.tw_flag if banked else self.tw_en),
                     table.w_addr.eq(Cat(tw_row, self.tw_index, self.tw_bank) if banked
                                     else Cat(tw_row, self.tw_index)),
                     table.w_data.eq(self.tw_data)]
        m.submodules.satmem = satmem = memory.Memory(shape=1, depth=self.banks << cw,
                                                     init=[])
        s_wr = satmem.write_port()
        s_rd = satmem.read_port(domain="sync")
        m.d.comb += [s_wr.en.eq(self.tw_en & self.tw_flag if banked else self.tw_en),
                     s_wr.addr.eq(Cat(tw_row, self.tw_bank) if banked else tw_row),
                     s_wr.data.eq(self.tw_sat)]

        # ---- serve ------------------------------------------------------------------------
        m.submodules.lookup = lookup = TableLookup(
            max_T=self.max_T, max_features=maxf, lanes=1, code_width=cw,
            fifo_depth=self.fifo_depth)
        wiring.connect(m, wiring.flipped(self.i_codes), lookup.i_codes)
        wiring.connect(m, lookup.o_samples, wiring.flipped(self.o_samples))
        row, index = lookup.rd_row, lookup.rd_index
        m.d.comb += [lookup.features.eq(features), lookup.features_ok.eq(~bad_features),
                     lookup.samples.eq(table_t), lookup.table_valid.eq(table_valid),
                     lookup.busy.eq(self.refill), lookup.pause.eq(0),
                     lookup.clear.eq(self.clear),
                     table.r_en.eq(lookup.rd_en),
                     table.r_addr.eq(Cat(row, index, serve_bank) if banked
                                     else Cat(row, index)),
                     s_rd.en.eq(lookup.rd_en),
                     s_rd.addr.eq(Cat(row, serve_bank) if banked else row),
                     lookup.rd_data.eq(table.r_data), lookup.rd_sat.eq(s_rd.data),
                     self.sat.eq(lookup.sat)]

        m.d.comb += self.error.eq(sticky_errors(m, clear=self.clear, lookup_err=lookup.err,
                                                own_err=own_err))
        return m
