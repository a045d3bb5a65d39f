"""The table-filling RK4 integrator: a microprogram sequencer and its datapath.

:class:`TrajectoryIntegrator` integrates every code of the code format once, in the
integer arithmetic of :func:`dynalign.hw.encoder.ref.ref_trajectory_table`, and writes
the samples of each code (and one saturation bit per code) into the trajectory table.
It is two blocks joined by one interface (:class:`MicroOpSignature`):

* :class:`IntegratorSequencer` plays the microprogram (:func:`~.microcode.microprogram`)
  from a ROM, one code after the other, ``stride * (T - 1)`` RK4 steps each; it
  scoreboards the values in flight, issues each micro-op when its operands are ready,
  and writes the samples and the code's saturation bit to the table;
* :class:`IntegratorDatapath` holds the state and the terms, the one
  :class:`~.multiplier.SerialMultiplier`, and the writeback with the rounding and the
  saturation of every value.

Integer equations of the datapath (``rs(v, n) = (v + 2**(n-1)) >> n``, arithmetic
shift, i.e. round half up; ``sat_F`` clamps to format ``F`` of :mod:`dynalign.hw.formats`,
never wraps, and raises the code's saturation bit):

* operands (``OPS``): ``x, y, z = sat_SAMPLE(rs(U, OPERAND_SHIFT))``;
* products (``PRODS``, ``PRODP``): a monomial's intermediates into the scratch
  registers, ``s = sat_SAMPLE(rs(a*b, PRODUCT_SHIFT))``, the monomial into a term
  register, ``p = sat_PRODUCT(rs(a*b, PRODUCT_SHIFT))`` (e.g. ``xx`` then ``x3 = xx*x``);
  the constant ``ONE = 2**SAMPLE.frac`` and ``CHI = clip(2 x, -2 ONE, 2 ONE)`` (Chua's
  ``|x + 1| - |x - 1|``) are operands of their own;
* one derivative component ``k = sat_DERIV(rs(sum_i C_i * term_i, DERIV_SHIFT))``
  (the sum exact: the accumulator starts at the rounding constant);
* stages ``U = sat_STATE(S + rs(H * k, INCREMENT_SHIFT))``, ``H`` = ``h/2``, ``h/2``, ``h``;
  the step ``S' = U = sat_STATE(S + rs(H6 * (k1 + 2 k2 + 2 k3 + k4), INCREMENT_SHIFT))``;
* initial state: ``x0 = code << X0_SHIFT``, ``y0 = (Y0_COEF * code) << Y0_SHIFT``,
  ``z0 = -x0``;
* sample ``t`` goes to the table as ``rs(x, s_t)`` (each of ``x, y, z``), ``s_t`` the
  step-shift register of sample ``t`` (:data:`~.regs.Reg` ``SHIFT0 + t``; ``rs(v, 0) =
  v``): computed as ``(v + ((1 << s) >> 1)) >> s`` in ``SAMPLE.width + 2`` bits, exact,
  and never saturating (it only shrinks a value).  The operands the integration goes on
  with are not shifted.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..formats import (
    CODE,
    COEF,
    DERIV,
    DERIV_SHIFT,
    INCREMENT_SHIFT,
    OPERAND_SHIFT,
    PRODUCT,
    PRODUCT_SHIFT,
    SAMPLE,
    STATE,
    STEP,
    X0_SHIFT,
    Y0_SHIFT,
    QFormat,
)
from ..systems import System
from ..validate import check_choice, check_int
from .microcode import (
    N_SCRATCH,
    N_TERMS,
    SCOREBOARD,
    TAG_LAYOUT,
    UOP_LAYOUT,
    ASel,
    BSel,
    Kind,
    Uop,
    microprogram,
)
from .multiplier import MUL_B_WIDTH, MUL_P_WIDTH, R_WIDTH, SerialMultiplier
from .ref import ONE, Y0_COEF
from .regs import N_SLOTS, SHIFT_WIDTH, STRIDE_WIDTH, SYSTEM_CODES, SYSTEM_WIDTH, shift_registers
from .table import check_code_format, table_layout

__all__ = ["MicroOpSignature", "IntegratorSequencer", "IntegratorDatapath",
           "TrajectoryIntegrator", "KS_WIDTH"]

#: Width of a k-sum ``k1 + 2 k2 + 2 k3 + k4`` (six DERIV values: three more bits).
KS_WIDTH = DERIV.width + 3

assert min(OPERAND_SHIFT, PRODUCT_SHIFT, DERIV_SHIFT, INCREMENT_SHIFT) > 0


def _saturate(m, value, fmt: QFormat, name: str):
    """``sat_fmt(value)`` for a signed ``value``: returns ``(clamped, clamped_flag)``.

    The value fits ``fmt`` iff its bits from ``fmt.width - 1`` up are all equal to its
    sign; otherwise it is replaced by ``fmt.max_int`` / ``fmt.min_int`` (no wrap).
    """
    width = len(value)
    out = Signal(signed(fmt.width), name=name)
    flag = Signal(name=f"{name}_sat")
    if width <= fmt.width:
        m.d.comb += [out.eq(value), flag.eq(0)]
        return out, flag
    top = value[fmt.width - 1:]
    sign = value[width - 1]
    fits = Signal(name=f"{name}_fits")
    m.d.comb += fits.eq(top.all() | ~top.any())
    m.d.comb += [
        flag.eq(~fits),
        out.eq(Mux(fits, value[:fmt.width],
                   Mux(sign, Const(fmt.min_int, signed(fmt.width)),
                       Const(fmt.max_int, signed(fmt.width))))),
    ]
    return out, flag


def _check_params(max_T, lanes, code_format):
    check_int("max_T", max_T, lo=2)
    check_choice("lanes", check_int("lanes", lanes), (1, 3))
    check_code_format(code_format)


class MicroOpSignature(wiring.Signature):
    """Sequencer -> datapath (members as the sequencer sees them).

    * ``uop`` (out, :data:`~.microcode.UOP_LAYOUT`): the micro-op at the issue stage;
      ``coef`` (out, signed COEF): its coefficient slot's value.
    * ``issue`` (out): start ``uop``'s multiply now.  ``load_ops`` (out): ``uop`` is an
      ``OPS``: ``x, y, z`` take the operands of the stage state now.  ``init`` (out):
      load the initial state of ``code`` (out, signed code width).
    * ``can_start`` (in): the multiplier takes an ``issue``; ``busy`` (in): a value is
      in flight; ``written`` (in, one bit per :data:`~.microcode.SCOREBOARD` entry):
      values written back this cycle; ``sat`` (in): a value written back this cycle was
      clamped; ``ops_sat`` (in): an operand ``x, y, z`` of the stage state would be.
    * ``x``, ``y``, ``z`` (in, signed SAMPLE): the current operands (the samples).
    """

    def __init__(self, *, code_width: int):
        sample = signed(SAMPLE.width)
        super().__init__({
            "uop": Out(UOP_LAYOUT), "coef": Out(signed(COEF.width)),
            "issue": Out(1), "load_ops": Out(1), "init": Out(1),
            "code": Out(signed(code_width)),
            "can_start": In(1), "busy": In(1), "written": In(len(SCOREBOARD)),
            "sat": In(1), "ops_sat": In(1),
            "x": In(sample), "y": In(sample), "z": In(sample),
        })


class IntegratorSequencer(wiring.Component):
    """Plays the microprogram over every code and writes the table.

    For each code index ``i`` (code ``i - 2**(w-1)``) in order: ``init``, then the
    micro-ops of one RK4 step, ``n_steps = stride * (T - 1)`` times; an ``OPS`` of stage
    0 is a step boundary, and every ``stride``-th one a sample point, whose ``x, y, z``
    are written to ``wr`` (word ``Cat(i, 3 t + c)`` for one lane, ``Cat(i, t)`` with
    ``[x, y, z]`` for three); after the last sample the code's saturation bit (the OR of
    ``dp.sat`` and ``dp.ops_sat`` over its integration) goes to ``sat``.

    A micro-op issues when the value it reads (``uop.rd``) is not pending (a pending
    bit is set by the issue of its writer, ``uop.wmask``, and cleared by
    ``dp.written``), when the pipeline is empty if it must ``wait``, and when the
    multiplier can start (an ``OPS`` instead waits for the sample writer).

    Ports
    -----
    start : In(1)  strobe: integrate every code.
    busy : Out(1);  done : Out(1)  (strobe, with ``busy``, after the last code).
    system : In(SYSTEM_WIDTH)  :data:`~.regs.SYSTEM_CODES` value: which programme plays.
    coef_we : In(1), coef_waddr : In(range(N_SLOTS)), coef_wdata : In(signed(COEF))
        a coefficient register write.
    stride : In(STRIDE_WIDTH);  samples : In(range(max_T + 1))  (``T``)
    shift_we : In(1), shift_waddr : In(range(n_shift)), shift_wdata : In(SHIFT_WIDTH)
        a step-shift register write (``n_shift`` = :func:`~.regs.shift_registers`).
    dp : Out(:class:`MicroOpSignature`)  to the datapath.
    wr_en : Out(1), wr_addr : Out(table address), wr_data : Out(lanes x signed(SAMPLE))
    sat_en : Out(1), sat_addr : Out(w), sat_data : Out(1)

    ``system``, ``stride``, ``samples`` and the coefficients must be valid and stable
    while ``busy`` (the encoder checks them at ``refill``).
    """

    def __init__(self, *, max_T, lanes=1, code_format=CODE):
        _check_params(max_T, lanes, code_format)
        self.max_T, self.lanes, self.code_format = max_T, lanes, code_format
        self.words, self.depth, aw = table_layout(lanes, max_T, code_format.width)
        super().__init__({
            "start": In(1), "busy": Out(1), "done": Out(1),
            "system": In(SYSTEM_WIDTH),
            "coef_we": In(1), "coef_waddr": In(range(N_SLOTS)),
            "coef_wdata": In(signed(COEF.width)),
            "stride": In(STRIDE_WIDTH), "samples": In(range(max_T + 1)),
            "shift_we": In(1), "shift_waddr": In(range(shift_registers(max_T))),
            "shift_wdata": In(SHIFT_WIDTH),
            "dp": Out(MicroOpSignature(code_width=code_format.width)),
            "wr_en": Out(1), "wr_addr": Out(aw),
            "wr_data": Out(data.ArrayLayout(signed(SAMPLE.width), lanes)),
            "sat_en": Out(1), "sat_addr": Out(code_format.width), "sat_data": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cw = self.code_format.width
        dp = self.dp

        # microprogram ROM: one power-of-two block per system, addressed Cat(pc, system).
        # The fetched micro-op is registered (``uop``); ``pc`` points one past it.  Each
        # block ends with a copy of entry 1 so that fetching past ``eos`` wraps.
        progs = [microprogram(s) for s in sorted(System, key=lambda s: SYSTEM_CODES[s])]
        plen = max(len(p) for p in progs) + 1
        blk = 1 << (plen - 1).bit_length()
        pad = Uop(Kind.OPS, wait=True).const()
        init = []
        for p in progs:
            init += [u.const() for u in p] + [p[1].const()] + [pad] * (blk - len(p) - 1)
        m.submodules.rom = rom = memory.Memory(shape=UOP_LAYOUT, depth=len(init), init=init)
        rom_rd = rom.read_port(domain="comb")
        pc = Signal(range(blk))
        m.d.comb += rom_rd.addr.eq(Cat(pc, self.system))
        uop = Signal(UOP_LAYOUT)
        fetch = Signal()            # uop <= rom[pc] this cycle
        # coefficient registers in a small RAM, read together with the micro-op fetch
        m.submodules.coefs = coefs = memory.Memory(shape=signed(COEF.width), depth=N_SLOTS,
                                                   init=[])
        coef_wr = coefs.write_port()
        coef_rd = coefs.read_port(domain="sync")
        m.d.comb += [coef_wr.en.eq(self.coef_we), coef_wr.addr.eq(self.coef_waddr),
                     coef_wr.data.eq(self.coef_wdata),
                     coef_rd.addr.eq(rom_rd.data.slot), coef_rd.en.eq(fetch),
                     dp.uop.eq(uop), dp.coef.eq(coef_rd.data)]

        idx = Signal(cw)
        m.d.comb += dp.code.eq(Cat(idx[:cw - 1], ~idx[cw - 1]))
        satc = Signal()          # this code saturated somewhere
        t = Signal(range(self.max_T))
        sc = Signal(STRIDE_WIDTH)
        # sample writer
        wpend = Signal()
        wc = Signal(range(3))
        wt = Signal(range(self.max_T))

        last_t = Signal(range(self.max_T + 1))
        m.d.comb += last_t.eq(self.samples - 1)
        code_sat = Signal()
        m.d.comb += code_sat.eq(satc | dp.sat)
        m.d.sync += satc.eq(code_sat)
        # scoreboard: pending bits set at issue (uop.wmask), cleared at writeback
        pend = Signal(len(SCOREBOARD))
        pend_set = Signal(len(SCOREBOARD))
        m.d.sync += pend.eq((pend | pend_set) & ~dp.written)
        with m.If(dp.issue):
            m.d.comb += pend_set.eq(uop.wmask)
        issue_ok = Signal()
        m.d.comb += issue_ok.eq(~(uop.wait & dp.busy) & ~pend.bit_select(uop.rd, 1)
                                & Mux(uop.kind == Kind.OPS, ~wpend, dp.can_start))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [idx.eq(0), pc.eq(0)]
                    m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.busy.eq(1), fetch.eq(1), dp.init.eq(1)]
                m.d.sync += [uop.eq(rom_rd.data), pc.eq(1), t.eq(0), sc.eq(0), satc.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(issue_ok):
                    m.d.comb += fetch.eq(1)
                    with m.If(uop.kind == Kind.OPS):
                        m.d.comb += dp.load_ops.eq(1)
                        m.d.sync += [uop.eq(rom_rd.data), pc.eq(pc + 1)]
                        m.d.comb += code_sat.eq(satc | dp.sat | dp.ops_sat)
                        with m.If(uop.stage == 0):
                            with m.If(sc == 0):
                                m.d.sync += [wpend.eq(1), wc.eq(0), wt.eq(t),
                                             sc.eq(self.stride - 1)]
                                with m.If(t == last_t):
                                    m.next = "END"
                                with m.Else():
                                    m.d.sync += t.eq(t + 1)
                            with m.Else():
                                m.d.sync += sc.eq(sc - 1)
                    with m.Else():
                        m.d.comb += dp.issue.eq(1)
                        m.d.sync += [uop.eq(rom_rd.data), pc.eq(Mux(uop.eos, 2, pc + 1))]
            with m.State("END"):
                m.d.comb += self.busy.eq(1)
                with m.If(~wpend & ~dp.busy):
                    m.d.comb += [self.sat_en.eq(1), self.sat_addr.eq(idx),
                                 self.sat_data.eq(satc)]
                    m.d.sync += [idx.eq(idx + 1), pc.eq(0)]
                    with m.If(idx == (1 << cw) - 1):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "CODE"
            with m.State("DONE"):
                m.d.comb += [self.done.eq(1), self.busy.eq(1)]
                m.next = "IDLE"

        # ---- step-shift registers: sample t's shift (0 past the registers)
        n_shift = shift_registers(self.max_T)
        shifts = Array(Signal(SHIFT_WIDTH, name=f"shift{i}") for i in range(n_shift))
        with m.If(self.shift_we):
            m.d.sync += shifts[self.shift_waddr].eq(self.shift_wdata)
        shift = Signal(SHIFT_WIDTH)
        if n_shift < self.max_T:
            m.d.comb += shift.eq(Mux(wt < n_shift, shifts[wt], 0))
        else:
            m.d.comb += shift.eq(shifts[wt])

        def scaled(v, lane):
            """``rs(v, shift)``: exact in SAMPLE.width + 2 bits, the result fits SAMPLE."""
            out = Signal(signed(SAMPLE.width), name=f"scaled{lane}")
            wide = Signal(signed(SAMPLE.width + 2), name=f"scaled{lane}_wide")
            m.d.comb += [wide.eq(v + ((Const(1, SAMPLE.width) << shift) >> 1)),
                         out.eq(wide >> shift)]
            return out

        # ---- sample writer --------------------------------------------------------
        with m.If(wpend):
            m.d.comb += self.wr_en.eq(1)
            if self.lanes == 3:
                m.d.comb += [self.wr_addr.eq(Cat(idx, wt)),
                             self.wr_data[0].eq(scaled(dp.x, 0)),
                             self.wr_data[1].eq(scaled(dp.y, 1)),
                             self.wr_data[2].eq(scaled(dp.z, 2))]
                m.d.sync += wpend.eq(0)
            else:
                m.d.comb += [self.wr_addr.eq(Cat(idx, (wt << 1) + wt + wc)),
                             self.wr_data[0].eq(scaled(Array([dp.x, dp.y, dp.z])[wc], 0))]
                m.d.sync += wc.eq(wc + 1)
                with m.If(wc == 2):
                    m.d.sync += wpend.eq(0)
        return m


class IntegratorDatapath(wiring.Component):
    """State, terms, the multiplier and the writeback of the integrator.

    Registers: the step state ``S`` and stage state ``U`` (``[x, y, z]``, signed STATE),
    the operands ``x, y, z`` and :data:`~.microcode.N_SCRATCH` scratch registers (SAMPLE),
    :data:`~.microcode.N_TERMS` term registers (PRODUCT), the
    derivatives ``k`` (DERIV) and k-sums ``ks = k1 + 2 k2 + 2 k3 + k4`` (:data:`KS_WIDTH`).
    ``ctl.issue`` starts ``A * B + R`` (``A`` from ``uop.a``, ``B`` from ``uop.b``:
    ``x``, ``y``, ``z``, the coefficient, a step, ``Y0_COEF``; ``R`` the rounding constant of the
    kind, ``2**(shift-1)``; 0 for a ``MAC`` that is not the first of its component);
    the product is written back by its kind (:class:`~.microcode.Kind`) with the
    equations of the module docstring.  A derivative is finalised two cycles after its
    last ``MAC`` (``k``, then ``ks``), a state update one cycle after its product.

    Ports
    -----
    ctl : In(:class:`MicroOpSignature`)  from the sequencer.
    h1, h2, h6 : In(STEP.width)  the unsigned steps ``h``, ``h/2``, ``h/6``.
    """

    def __init__(self, *, code_format=CODE):
        check_code_format(code_format)
        self.code_format = code_format
        super().__init__({
            "ctl": In(MicroOpSignature(code_width=code_format.width)),
            "h1": In(STEP.width), "h2": In(STEP.width), "h6": In(STEP.width),
        })

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        uop = ctl.uop
        m.submodules.mul = mul = SerialMultiplier(tag_shape=TAG_LAYOUT)

        S = [Signal(signed(STATE.width), name=f"S{c}") for c in range(3)]
        U = [Signal(signed(STATE.width), name=f"U{c}") for c in range(3)]
        X, Y, Z = (Signal(signed(SAMPLE.width), name=n) for n in ("X", "Y", "Z"))
        SC = [Signal(signed(SAMPLE.width), name=f"SC{i}") for i in range(N_SCRATCH)]
        PT = [Signal(signed(PRODUCT.width), name=f"PT{i}") for i in range(N_TERMS)]
        # Chua's |x + ONE| - |x - ONE| = clip(2 x, -2 ONE, 2 ONE)
        CHI = Signal(signed(SAMPLE.width + 1))
        m.d.comb += CHI.eq(Mux(X > ONE, 2 * ONE, Mux(X < -ONE, -2 * ONE, X << 1)))
        K = [Signal(signed(DERIV.width), name=f"K{c}") for c in range(3)]
        KS = [Signal(signed(KS_WIDTH), name=f"KS{c}") for c in range(3)]
        # the derivative accumulator, added in two halves over two cycles (MAC results
        # arrive at most every other cycle): low half at writeback, high half after
        half = MUL_P_WIDTH // 2
        acc_lo = Signal(half)
        acc_hi = Signal(half)
        h1, h1_first, h1_last, h1_carry = Signal(), Signal(), Signal(), Signal()
        h1_comp, h1_stage = Signal(2), Signal(2)
        p_hi = Signal(half)
        code = ctl.code

        # operand A / B multiplexers
        a_list = {ASel.X: X, ASel.Y: Y, ASel.Z: Z,
                  ASel.ONE: Const(ONE, signed(SAMPLE.width)), ASel.CHI: CHI, ASel.CODE: code}
        a_list.update({ASel(ASel.S0.value + i): r for i, r in enumerate(SC)})
        a_list.update({ASel(ASel.P0.value + i): r for i, r in enumerate(PT)})
        a_list.update({ASel(ASel.K0.value + c): K[c] for c in range(3)})
        a_list.update({ASel(ASel.KS0.value + c): KS[c] for c in range(3)})
        assert set(a_list) == set(ASel)
        a_src = Array([a_list[ASel(i)] for i in range(len(ASel))])
        hs = Array([self.h1, self.h2, self.h6, Const(0, STEP.width)])
        b_val = Signal(signed(MUL_B_WIDTH))
        with m.Switch(uop.b):
            with m.Case(BSel.X):
                m.d.comb += b_val.eq(X)
            with m.Case(BSel.Y):
                m.d.comb += b_val.eq(Y)
            with m.Case(BSel.Z):
                m.d.comb += b_val.eq(Z)
            with m.Case(BSel.COEF):
                m.d.comb += b_val.eq(ctl.coef)
            with m.Case(BSel.STEP):
                m.d.comb += b_val.eq(hs[uop.hsel])
            with m.Case(BSel.Y0):
                m.d.comb += b_val.eq(Y0_COEF)
        r_val = Signal(R_WIDTH)
        with m.Switch(uop.kind):
            with m.Case(Kind.PRODS, Kind.PRODP):
                m.d.comb += r_val.eq(1 << (PRODUCT_SHIFT - 1))
            with m.Case(Kind.MAC):
                m.d.comb += r_val.eq(Mux(uop.first, 1 << (DERIV_SHIFT - 1), 0))
            with m.Case(Kind.INC, Kind.FIN):
                m.d.comb += r_val.eq(1 << (INCREMENT_SHIFT - 1))
        m.d.comb += [
            mul.start.eq(ctl.issue),
            mul.a.eq(a_src[uop.a.as_value()]), mul.b.eq(b_val), mul.r.eq(r_val),
            mul.tag.kind.eq(uop.kind), mul.tag.comp.eq(uop.comp), mul.tag.dst.eq(uop.dst),
            mul.tag.stage.eq(uop.stage), mul.tag.first.eq(uop.first),
            mul.tag.last.eq(uop.last),
        ]

        # derivative finalisation (two cycles after the last MAC of a component)
        f1, f2 = Signal(), Signal()
        f1c, f2c = Signal(2), Signal(2)
        f1s, f2s = Signal(2), Signal(2)
        g1, g1fin = Signal(), Signal()            # state update, second cycle
        m.d.comb += [ctl.busy.eq(mul.busy | h1 | f1 | f2 | g1),
                     ctl.can_start.eq(mul.can_start)]

        # ---- writeback ----------------------------------------------------------
        P = mul.p
        tg = mul.tag_out
        xx_n, xx_s = _saturate(m, P >> PRODUCT_SHIFT, SAMPLE, "xx_n")
        pr_n, pr_s = _saturate(m, P >> PRODUCT_SHIFT, PRODUCT, "pr_n")
        s_sel = Signal(signed(STATE.width))       # S[comp], fetched a cycle ahead
        m.d.sync += s_sel.eq(Array(S)[mul.tag_next.comp])
        inc_sum = Signal(signed(max(STATE.width, MUL_P_WIDTH - INCREMENT_SHIFT) + 1))
        m.d.comb += inc_sum.eq(s_sel + (P >> INCREMENT_SHIFT))
        # the state update takes one more cycle: the sum is registered, then saturated
        g1c = Signal(2)
        g1sum = Signal.like(inc_sum)
        m.d.sync += [g1.eq(mul.valid & ((tg.kind == Kind.INC) | (tg.kind == Kind.FIN))),
                     g1fin.eq(tg.kind == Kind.FIN), g1c.eq(tg.comp), g1sum.eq(inc_sum)]
        st_n, st_s = _saturate(m, g1sum, STATE, "st_n")
        with m.If(g1):
            with m.Switch(g1c):
                for c in range(3):
                    with m.Case(c):
                        m.d.sync += U[c].eq(st_n)
                        with m.If(g1fin):
                            m.d.sync += S[c].eq(st_n)
        m.d.sync += [f1.eq(0), f2.eq(f1), f2c.eq(f1c), f2s.eq(f1s)]
        lo_sum = Signal(half + 1)
        m.d.comb += lo_sum.eq(Mux(tg.first, 0, acc_lo) + P[:half])
        m.d.sync += h1.eq(0)
        with m.If(h1):
            # (Cat(c, a) + Cat(1, b)) >> 1 == a + b + c: one adder with a carry in
            hi_sum = Signal(half + 2)
            m.d.comb += hi_sum.eq(Cat(h1_carry, Mux(h1_first, 0, acc_hi))
                                  + Cat(Const(1, 1), p_hi))
            m.d.sync += acc_hi.eq(hi_sum[1:half + 1])
            with m.If(h1_last):
                m.d.sync += [f1.eq(1), f1c.eq(h1_comp), f1s.eq(h1_stage)]
        with m.If(mul.valid):
            with m.Switch(tg.kind):
                with m.Case(Kind.PRODS):
                    with m.Switch(tg.dst):
                        for i, reg in enumerate(SC):
                            with m.Case(i):
                                m.d.sync += reg.eq(xx_n)
                with m.Case(Kind.PRODP):
                    with m.Switch(tg.dst):
                        for i, reg in enumerate(PT):
                            with m.Case(i):
                                m.d.sync += reg.eq(pr_n)
                with m.Case(Kind.MAC):
                    m.d.sync += [acc_lo.eq(lo_sum[:half]), h1_carry.eq(lo_sum[half]),
                                 p_hi.eq(P[half:]), h1.eq(1), h1_first.eq(tg.first),
                                 h1_last.eq(tg.last), h1_comp.eq(tg.comp),
                                 h1_stage.eq(tg.stage)]
                with m.Case(Kind.INITY):
                    m.d.sync += [U[1].eq(P << Y0_SHIFT), S[1].eq(P << Y0_SHIFT)]
        wb_sat = Signal()
        m.d.comb += wb_sat.eq((mul.valid & (
            ((tg.kind == Kind.PRODS) & xx_s) | ((tg.kind == Kind.PRODP) & pr_s)))
            | (g1 & st_s))
        # finalisation stage 1: k = sat_DERIV(acc >> DERIV_SHIFT) (the next MAC result
        # cannot land before this cycle's end)
        kacc = Signal(signed(MUL_P_WIDTH))
        m.d.comb += kacc.eq(Cat(acc_lo, acc_hi))
        k_n, k_s = _saturate(m, kacc >> DERIV_SHIFT, DERIV, "k_n")
        with m.If(f1):
            with m.Switch(f1c):
                for c in range(3):
                    with m.Case(c):
                        m.d.sync += K[c].eq(k_n)
        # stage 2: KS = k1 + 2 k2 + 2 k3 + k4, accumulated per stage; both addends are
        # prepared in stage 1 so that stage 2 is one adder
        ks_base = Signal(signed(KS_WIDTH))
        ks_add = Signal(signed(KS_WIDTH))
        with m.If(f1):
            m.d.sync += [ks_base.eq(Mux(f1s == 0, 0, Array(KS)[f1c])),
                         ks_add.eq(Mux((f1s == 1) | (f1s == 2), k_n << 1, k_n))]
        ks_n = Signal(signed(KS_WIDTH))
        m.d.comb += ks_n.eq(ks_base + ks_add)
        with m.If(f2):
            with m.Switch(f2c):
                for c in range(3):
                    with m.Case(c):
                        m.d.sync += KS[c].eq(ks_n)
        m.d.comb += ctl.sat.eq(wb_sat | (f1 & k_s))

        # ---- scoreboard: the values written back this cycle ----------------------
        res = {name: i for i, name in enumerate(SCOREBOARD) if name}
        with m.If(mul.valid & (tg.kind == Kind.PRODS)):
            for i in range(N_SCRATCH):
                with m.If(tg.dst == i):
                    m.d.comb += ctl.written[res[f"s{i}"]].eq(1)
        with m.If(mul.valid & (tg.kind == Kind.PRODP)):
            for i in range(N_TERMS):
                with m.If(tg.dst == i):
                    m.d.comb += ctl.written[res[f"p{i}"]].eq(1)
        for c in range(3):
            with m.If(f1 & (f1c == c)):
                m.d.comb += ctl.written[res[f"k{c}"]].eq(1)
            with m.If(f2 & (f2c == c)):
                m.d.comb += ctl.written[res[f"ks{c}"]].eq(1)

        # ---- operands (OPS) and the initial state ---------------------------------
        ops_n, ops_s = [], []
        for c, name in enumerate("xyz"):
            rounded = Signal(signed(STATE.width + 1), name=f"rnd_{name}")
            m.d.comb += rounded.eq(U[c] + (1 << (OPERAND_SHIFT - 1)))
            o, s = _saturate(m, rounded >> OPERAND_SHIFT, SAMPLE, f"op_{name}")
            ops_n.append(o)
            ops_s.append(s)
        m.d.comb += [ctl.ops_sat.eq(Cat(ops_s).any()),
                     ctl.x.eq(X), ctl.y.eq(Y), ctl.z.eq(Z)]
        with m.If(ctl.load_ops):
            m.d.sync += [X.eq(ops_n[0]), Y.eq(ops_n[1]), Z.eq(ops_n[2])]
        x0 = Signal(signed(STATE.width))
        m.d.comb += x0.eq(code << X0_SHIFT)
        with m.If(ctl.init):
            m.d.sync += [S[0].eq(x0), U[0].eq(x0), S[2].eq(-x0), U[2].eq(-x0),
                         S[1].eq(0), U[1].eq(0)]
        return m


class TrajectoryIntegrator(wiring.Component):
    """Fills the trajectory table: RK4 in the golden integer arithmetic, every code.

    An :class:`IntegratorSequencer` driving an :class:`IntegratorDatapath` (equations in
    the module docstring).  For each code index ``i`` (code ``i - 2**(w-1)``, ``w`` the
    code width) in order the microprogram runs ``n_steps = stride * (T - 1)`` RK4 steps;
    at each sample step the operands ``[x, y, z]`` are written to ``wr`` (address
    ``((t * 3 + c) << w) | i`` for one lane, ``(t << w) | i`` with ``[x, y, z]`` for
    three), and at the end of the code its saturation bit to ``sat``.  ``done`` pulses
    when the last code is written.  Registers must be valid (the encoder checks them)
    and stable while ``busy``.

    Ports
    -----
    start : In(1);  busy, done : Out(1)
    system : In(SYSTEM_WIDTH);  coef_we : In(1), coef_waddr : In(range(N_SLOTS)),
    coef_wdata : In(signed(COEF));  h1, h2, h6 : In(STEP.width);
    stride : In(STRIDE_WIDTH);  samples : In(range(max_T + 1))
    shift_we : In(1), shift_waddr : In(range(n_shift)), shift_wdata : In(SHIFT_WIDTH)
        a step-shift register write
    wr_en : Out(1), wr_addr : Out(table address), wr_data : Out(lanes x signed(SAMPLE))
    sat_en : Out(1), sat_addr : Out(w), sat_data : Out(1)
    """

    def __init__(self, *, max_T, lanes=1, code_format=CODE):
        _check_params(max_T, lanes, code_format)
        self.max_T, self.lanes, self.code_format = max_T, lanes, code_format
        self.words, self.depth, aw = table_layout(lanes, max_T, code_format.width)
        super().__init__({
            "start": In(1),
            "shift_we": In(1), "shift_waddr": In(range(shift_registers(max_T))),
            "shift_wdata": In(SHIFT_WIDTH),
            "busy": Out(1),
            "done": Out(1),
            "system": In(SYSTEM_WIDTH),
            "coef_we": In(1), "coef_waddr": In(range(N_SLOTS)),
            "coef_wdata": In(signed(COEF.width)),
            "h1": In(STEP.width), "h2": In(STEP.width), "h6": In(STEP.width),
            "stride": In(STRIDE_WIDTH),
            "samples": In(range(max_T + 1)),
            "wr_en": Out(1), "wr_addr": Out(aw),
            "wr_data": Out(data.ArrayLayout(signed(SAMPLE.width), lanes)),
            "sat_en": Out(1), "sat_addr": Out(code_format.width), "sat_data": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = IntegratorSequencer(max_T=self.max_T, lanes=self.lanes,
                                                     code_format=self.code_format)
        m.submodules.dp = dp = IntegratorDatapath(code_format=self.code_format)
        wiring.connect(m, seq.dp, dp.ctl)
        for name in ("start", "system", "coef_we", "coef_waddr", "coef_wdata", "stride",
                     "samples", "shift_we", "shift_waddr", "shift_wdata"):
            m.d.comb += getattr(seq, name).eq(getattr(self, name))
        for name in ("h1", "h2", "h6"):
            m.d.comb += getattr(dp, name).eq(getattr(self, name))
        for name in ("busy", "done", "wr_en", "wr_addr", "wr_data", "sat_en", "sat_addr",
                     "sat_data"):
            m.d.comb += getattr(self, name).eq(getattr(seq, name))
        return m
