"""Trajectory encoder RTL: a table-filling RK4 integrator and a lookup server.

Architecture
------------
Features reach the encoder as :data:`~hw.formats.CODE` codes, so the whole trajectory
is a function of the code (see :mod:`dynalign.hw.encoder.ref`).  The encoder therefore
works in two phases:

1. **Refill** (after a parameter change): :class:`~.integrator.TrajectoryIntegrator`
   integrates every code of the code format once, in the exact integer arithmetic of
   :func:`dynalign.hw.encoder.ref.ref_trajectory_table`, and writes the ``T`` samples
   ``[x, y, z]`` of each code into a *trajectory table* (:class:`~.table.TableMemory`,
   plus one saturation bit per code).  It is a sequential machine around one shared
   signed multiplier (:class:`~.multiplier.SerialMultiplier`, three 16x16 unsigned
   partial products per cycle, i.e. three DSP tiles) driven by a small microprogram
   (:func:`~.microcode.microprogram`) that is generated at elaboration time from the
   systems' term programmes (:meth:`dynalign.hw.systems.EncoderConfig.coef_program`);
   the coefficients themselves are run-time registers (:mod:`~.regs`).
2. **Serve**: codes arrive on ``i_codes`` in requests of ``n_features`` codes (double
   buffered); for each request the encoder emits the golden layout
   ``for t in range(T): for k in range(K): x, y, z`` (``lanes`` samples per beat) by table
   lookup (:class:`~.lookup.TableLookup`), one beat per cycle when the sink is ready.

Boards too small for the integrator use :class:`~.server.TableServer` instead: the same
serve side, the table written by the host.

Integer semantics (equal to the golden model, :mod:`dynalign.hw.encoder.ref`)
-----------------------------------------------------------------------------
Every multiply is exact (``A * B``, at most 64 bits signed).  After the multiplier a
rounding constant ``R`` is added and bits are dropped by an arithmetic shift:

* ``xx = sat_SAMPLE((x*x + 2**11) >> 12)``; ``x3 = sat_PRODUCT((xx*x + 2**11) >> 12)``,
  ``xy``, ``xz`` likewise (only the terms the system's programme uses are computed, as
  in the golden model, so saturation is counted on the same values);
* one derivative component ``k = sat_DERIV((2**13 + sum_i C_i * term_i) >> 14)``: the
  accumulator starts at the rounding constant, the sum is exact;
* stage ``U = sat_STATE(S + ((H * k + 2**9) >> 10))`` and the step
  ``S' = sat_STATE(S + ((H6 * (k1 + 2 k2 + 2 k3 + k4) + 2**9) >> 10))``;
* operands and samples ``sat_SAMPLE((s + 2**15) >> 16)``; a sample ``t`` is written to
  the table shifted by its step-shift register, ``(v + ((1 << s_t) >> 1)) >> s_t``.

The shifts are those of :mod:`dynalign.hw.formats` (``PRODUCT_SHIFT``, ``DERIV_SHIFT``,
``INCREMENT_SHIFT``, ``OPERAND_SHIFT``); nothing here restates a width.

Saturation flags
----------------
The integrator raises a per-code bit when *any* value of that code's integration was
clamped -- exactly ``ref_trajectory_table(...)[1][code] > 0``.  ``table_sat`` is the OR
over all codes of the table (``FixedEncoder.table_saturation.any()``); the sticky
``sat`` flag is set when a sample of a code whose bit is set is served, i.e. iff the
golden ``FixedEncoder.encode(codes)[1]`` has a positive entry for some code served since
the last ``clear``.

Errors
------
``error`` is a sticky bit set (:class:`~.regs.Error`), cleared by ``clear``.  A
``refill`` with an out-of-range register (stride 0, ``T < 2`` or ``T > max_T``, unknown
system) sets its bit, invalidates the table and returns at once; codes that arrive
while there is no valid table, or while ``n_features`` is 0 or above ``max_features``,
are consumed and dropped (no samples), with their bit set -- the stream never hangs.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import CODE, COEF, CYCLES, SAMPLE, STEP
from ..validate import check_choice, check_int, positive_int
from .integrator import TrajectoryIntegrator
from .lookup import OUTPUT_FIFO_DEPTH, TableLookup, code_layout, sample_layout, sticky_errors
from .regs import (
    ERROR_WIDTH,
    N_SLOTS,
    REG_ADDR_WIDTH,
    STRIDE_WIDTH,
    SYSTEM_CODES,
    SYSTEM_WIDTH,
    Error,
    Reg,
    shift_registers,
)
from .table import TableMemory, check_code_format, table_layout

__all__ = ["TrajectoryEncoder"]


class TrajectoryEncoder(wiring.Component):
    """Feature codes in, golden trajectory samples out; parameters are registers.

    Parameters (keyword-only)
    -------------------------
    max_T : int in 2..4096
        Largest number of samples per trajectory (table depth ``max_T * 3 * 2**w``).
    max_features : int in 1..65536
        Largest request size ``K`` (codes buffered per request, twice: double buffer).
    lanes : 1 or 3
        Samples per output beat: 1 (``x``, ``y``, ``z`` in turn) or 3 (``[x, y, z]``).
    code_format : QFormat
        The code format (default :data:`~hw.formats.CODE`); a narrower signed format
        with the same fraction integrates a subset of the codes (small simulations).
    fifo_depth : int in 1..64
        Output FIFO depth (default :data:`~.lookup.OUTPUT_FIFO_DEPTH`): 3 or more stream
        a beat per cycle; fewer stream slower (1: a beat every fourth cycle) in fewer
        flip-flops, for a sink that is slower anyway.
    banks : 1 or 2
        ``2``: two trajectory tables, one per resident model.  ``bank`` picks the table
        served; a refill rebuilds table ``bank`` as it was at the ``refill`` strobe (held
        to the end even if ``bank`` changes meanwhile), and each table keeps its own
        valid flag, ``T`` and saturation OR.  Serving the other table is then a change of
        ``bank``, no refill: a mode switch between two resident models costs no
        integration.

    Ports
    -----
    i_codes : In(stream)  payload ``{code: signed(w)}``
    o_samples : Out(stream)  payload ``{samples: lanes x signed(SAMPLE.width), last: 1}``;
        per request ``for t in range(T): for k in range(K): x, y, z``; ``last`` marks the
        final beat of a request.
    reg_we : In(1), reg_addr : In(REG_ADDR_WIDTH), reg_data : In(32)
        register write (:class:`~.regs.Reg`); ignored (``Error.BUSY_WRITE``) while a
        refill runs.
    refill : In(1)
        strobe: check the registers and rebuild the table (``busy`` until done).
    clear : In(1)
        strobe: clear ``error`` and ``sat``.
    bank : In(1)  (``banks=2`` only) the table served (and the one a refill rebuilds).
    busy, table_valid, sat, table_sat : Out(1);  error : Out(ERROR_WIDTH) (``Error`` bits)
        (``table_valid``, ``table_sat``: of the table served)
    refill_cycles : Out(CYCLES)  cycles the last successful refill took.

    Timing (Verilator, ``bench/bench_encoder_rtl.py``; the model
    :func:`~.schedule.refill_cycles`, pinned by the tests): a refill takes
    ``refill_cycles`` = ``2**w * (n_steps * c_step + c_code) + 1`` with ``c_code`` = 15
    (13 at three lanes) and ``c_step`` cycles per RK4 step (multiplies per step in
    brackets): mixed oscillator 189
    (56), Lorenz and Chen 153 (48), Rossler and Chua 145 (44), Nose-Hoover 141 (40),
    Sprott C 137 (40), Aizawa 305 (116) -- 38.7M cycles for the mixed oscillator over the
    paper's window (800 steps), 1.3 s at 30 MHz.
    A request of ``K`` codes then streams ``3 T K / lanes`` beats, one per
    cycle when the sink is ready (15.2 cycles per feature measured at T=5, lanes=1,
    including the pipeline fill); the next request's codes are accepted meanwhile.
    Writing registers, ``refill`` and reading flags must happen between requests.
    """

    def __init__(self, *, max_T=5, max_features=64, lanes=1, code_format=CODE,
                 fifo_depth=OUTPUT_FIFO_DEPTH, banks=1):
        self.max_T = check_int("max_T", max_T, lo=2, hi=1 << 12)
        self.max_features = positive_int("max_features", max_features, hi=1 << 16)
        self.lanes = check_choice("lanes", check_int("lanes", lanes), (1, 3))
        self.code_format = check_code_format(code_format)
        self.fifo_depth = positive_int("fifo_depth", fifo_depth, hi=64)
        self.banks = check_choice("banks", check_int("banks", banks), (1, 2))
        self.words, self.depth, self.addr_width = table_layout(self.lanes, self.max_T,
                                                               code_format.width)
        members = {
            "i_codes": In(stream.Signature(code_layout(code_format.width))),
            "o_samples": Out(stream.Signature(sample_layout(self.lanes))),
            "reg_we": In(1), "reg_addr": In(REG_ADDR_WIDTH), "reg_data": In(32),
            "refill": In(1), "clear": In(1),
            "busy": Out(1), "table_valid": Out(1), "sat": Out(1), "table_sat": Out(1),
            "error": Out(ERROR_WIDTH),
            "refill_cycles": Out(CYCLES.width),
        }
        if self.banks == 2:
            members["bank"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cw = self.code_format.width
        maxf = self.max_features
        m.submodules.integ = integ = TrajectoryIntegrator(
            max_T=self.max_T, lanes=self.lanes, code_format=self.code_format)

        # ---- registers ----------------------------------------------------------------
        # each register keeps the bits it needs plus an "out of range" flag taken at write
        system = Signal(SYSTEM_WIDTH)
        h1, h2, h6 = (Signal(STEP.width, name=n) for n in ("h1", "h2", "h6"))
        stride = Signal(STRIDE_WIDTH)
        samples = Signal(range(self.max_T + 1))
        features = Signal(range(maxf + 1))
        bad_system = Signal()
        bad_stride = Signal(init=1)
        bad_samples = Signal(init=1)
        bad_features = Signal(init=1)
        own_err = Signal(ERROR_WIDTH)       # error bits of the register and refill logic
        d = self.reg_data
        with m.If(self.reg_we):
            with m.If(integ.busy):
                m.d.comb += own_err.eq(Error.BUSY_WRITE)
            with m.Else():
                with m.Switch(self.reg_addr):
                    with m.Case(Reg.SYSTEM):
                        m.d.sync += [system.eq(d[:SYSTEM_WIDTH]),
                                     bad_system.eq(d >= len(SYSTEM_CODES))]
                    with m.Case(*range(Reg.COEF0, Reg.COEF0 + N_SLOTS)):
                        m.d.comb += integ.coef_we.eq(1)
                    with m.Case(*range(Reg.SHIFT0, Reg.SHIFT0 + shift_registers(self.max_T))):
                        m.d.comb += integ.shift_we.eq(1)
                    for reg, sig in ((Reg.H1, h1), (Reg.H2, h2), (Reg.H6, h6)):
                        with m.Case(reg):
                            m.d.sync += sig.eq(d[:STEP.width])
                    with m.Case(Reg.STRIDE):
                        m.d.sync += [stride.eq(d), bad_stride.eq((d == 0)
                                                                 | (d >= 1 << STRIDE_WIDTH))]
                    with m.Case(Reg.SAMPLES):
                        m.d.sync += [samples.eq(d), bad_samples.eq((d < 2) | (d > self.max_T))]
                    with m.Case(Reg.FEATURES):
                        m.d.sync += [features.eq(d), bad_features.eq((d == 0) | (d > maxf))]
        m.d.comb += [integ.coef_waddr.eq(self.reg_addr - Reg.COEF0),
                     integ.coef_wdata.eq(d[:COEF.width]),
                     integ.shift_waddr.eq(self.reg_addr - Reg.SHIFT0),
                     integ.shift_wdata.eq(d[:len(integ.shift_wdata)]),
                     integ.system.eq(system), integ.h1.eq(h1),
                     integ.h2.eq(h2), integ.h6.eq(h6), integ.stride.eq(stride),
                     integ.samples.eq(samples)]

        # ---- refill ---------------------------------------------------------------
        # per table: valid, T and the OR of its saturation bits; `fill` is the table a
        # refill rebuilds (the served one at the strobe), `serve` the one served
        nb = self.banks
        valids = Array(Signal(name=f"table_valid{b}") for b in range(nb))
        ts = Array(Signal(range(self.max_T + 1), name=f"table_t{b}") for b in range(nb))
        sats = Array(Signal(name=f"table_sat{b}") for b in range(nb))
        serve = self.bank if nb == 2 else Const(0, 1)
        fill = Signal(1)
        fill_valid, fill_sat = valids[fill], sats[fill]
        cycles = Signal(CYCLES.width)
        refill_cycles = Signal(CYCLES.width)
        bad = Signal(ERROR_WIDTH)
        m.d.comb += bad.eq(Cat(bad_stride, bad_samples, bad_system))  # Error bits 0..2
        with m.If(self.refill):
            with m.If(integ.busy):
                m.d.comb += own_err.eq(Error.BUSY_WRITE)
            with m.Elif(bad.any()):
                m.d.comb += own_err.eq(bad)
                m.d.sync += [valids[serve].eq(0), sats[serve].eq(0)]
            with m.Else():
                m.d.comb += integ.start.eq(1)
                m.d.sync += [valids[serve].eq(0), sats[serve].eq(0), cycles.eq(1),
                             ts[serve].eq(samples), fill.eq(serve)]
        with m.If(integ.busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(integ.sat_en & integ.sat_data):
            m.d.sync += fill_sat.eq(1)
        with m.If(integ.done):
            m.d.sync += [fill_valid.eq(1), refill_cycles.eq(cycles)]
        m.d.comb += [self.busy.eq(integ.busy | self.refill),
                     self.table_valid.eq(valids[serve]),
                     self.table_sat.eq(sats[serve]), self.refill_cycles.eq(refill_cycles)]

        # ---- the tables and their saturation bits, written by the integrator --------
        # two tables: entry Cat(address in a table, table)
        aw = self.addr_width
        m.submodules.table = table = TableMemory(
            shape=data.ArrayLayout(signed(SAMPLE.width), self.lanes),
            depth=(2 << aw) if nb == 2 else self.depth)
        w_addr = Signal(aw)
        m.d.comb += [w_addr.eq(integ.wr_addr), table.w_en.eq(integ.wr_en),
                     table.w_addr.eq(Cat(w_addr, fill) if nb == 2 else w_addr),
                     table.w_data.eq(integ.wr_data)]
        m.submodules.satmem = satmem = memory.Memory(shape=1, depth=nb << cw, init=[])
        s_wr = satmem.write_port()
        s_rd = satmem.read_port(domain="sync")
        m.d.comb += [s_wr.en.eq(integ.sat_en),
                     s_wr.addr.eq(Cat(integ.sat_addr, fill) if nb == 2 else integ.sat_addr),
                     s_wr.data.eq(integ.sat_data)]

        # ---- serve: requests in, samples out (held while the table is rebuilt) --------
        m.submodules.lookup = lookup = TableLookup(
            max_T=self.max_T, max_features=maxf, lanes=self.lanes, code_width=cw,
            fifo_depth=self.fifo_depth)
        wiring.connect(m, wiring.flipped(self.i_codes), lookup.i_codes)
        wiring.connect(m, lookup.o_samples, wiring.flipped(self.o_samples))
        r_addr = Signal(aw)
        m.d.comb += [lookup.features.eq(features), lookup.features_ok.eq(~bad_features),
                     lookup.samples.eq(ts[serve]), lookup.table_valid.eq(valids[serve]),
                     lookup.busy.eq(self.busy), lookup.pause.eq(integ.busy),
                     lookup.clear.eq(self.clear),
                     r_addr.eq(Cat(lookup.rd_row, lookup.rd_index)),
                     table.r_en.eq(lookup.rd_en),
                     table.r_addr.eq(Cat(r_addr, serve) if nb == 2 else r_addr),
                     s_rd.en.eq(lookup.rd_en),
                     s_rd.addr.eq(Cat(lookup.rd_row, serve) if nb == 2 else lookup.rd_row),
                     lookup.rd_data.eq(table.r_data), lookup.rd_sat.eq(s_rd.data),
                     self.sat.eq(lookup.sat)]

        m.d.comb += self.error.eq(sticky_errors(m, clear=self.clear, lookup_err=lookup.err,
                                                own_err=own_err))
        return m
