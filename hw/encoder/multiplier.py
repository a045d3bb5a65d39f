"""The encoder's one multiplier: signed ``A x B + r``, serial over the digits of ``B``.

Every multiply of the integrator goes through one :class:`SerialMultiplier`; its
operand widths are derived here from the formats of :mod:`dynalign.hw.formats`.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import (
    COEF,
    DERIV,
    DERIV_SHIFT,
    INCREMENT_SHIFT,
    PRODUCT,
    PRODUCT_SHIFT,
    SAMPLE,
    STEP,
)

__all__ = ["DIGIT", "MUL_A_WIDTH", "MUL_B_WIDTH", "MUL_P_WIDTH", "R_WIDTH",
           "SerialMultiplier"]

#: Digit width of the partial products (one 16x16 DSP tile on iCE40 / ECP5).
DIGIT = 16
#: Operand widths: A holds terms, derivatives and k-sums (DERIV + 3 bits); B holds
#: samples, coefficients and (unsigned) steps.
MUL_A_WIDTH = max(PRODUCT.width, DERIV.width + 3, SAMPLE.width)
MUL_B_WIDTH = max(SAMPLE.width, COEF.width, STEP.width + 1)
_A_DIGITS = -(-MUL_A_WIDTH // DIGIT)
_B_DIGITS = -(-MUL_B_WIDTH // DIGIT)
#: Product width: |A| * |B| < 2**63 for every operand pair the encoder uses.
MUL_P_WIDTH = 64
#: Width of the rounding constant added to a product (at most 2**(shift-1)).
R_WIDTH = max(PRODUCT_SHIFT, DERIV_SHIFT, INCREMENT_SHIFT)


class SerialMultiplier(wiring.Component):
    """Signed ``A x B + r`` by sign and magnitude, one 16-bit digit of ``|B|`` per cycle.

    ``|A|`` (three 16-bit digits) times one digit of ``|B|`` uses three 16x16 unsigned
    multipliers (three DSP tiles); the two digits of ``|B|`` take two cycles, so a new
    operation may start every other cycle (``can_start``).  ``p = A * B + r`` (exact,
    ``r`` a non-negative rounding constant handed in with the operands) leaves
    ``LATENCY`` cycles after ``start`` with ``valid`` and the ``tag`` given at start.

    Pipeline (cycle after start): 0 operands registered | 1 magnitudes, sign |
    2 DSP x digit 0 | 3 DSP x digit 1, combine digit 0 | 4 add digit 1 (low part) |
    5 add digit 1 (middle part) | 6 sign and ``r``, low half | 7 high half -> ``valid``.
    Each stage holds one adder chain of at most 48 bits; ``tag_next`` is the tag of the
    result that is valid next cycle.

    No rounding and no saturation happen here: ``|A * B| < 2**63`` for every operand
    pair of the encoder, so ``p`` is exact; the caller picks ``r`` (``2**(shift-1)`` or
    0) and drops bits after.

    Ports
    -----
    start : In(1)
        Take ``a``, ``b``, ``r`` and ``tag`` (ignored while ``can_start`` is low).
    a : In(signed(MUL_A_WIDTH));  b : In(signed(MUL_B_WIDTH));  r : In(unsigned(R_WIDTH))
    tag : In(tag_shape)
        Carried along with the operation.
    can_start : Out(1)
        A ``start`` this cycle is taken.
    valid : Out(1)
        ``p`` and ``tag_out`` hold a result (for one cycle).
    p : Out(signed(MUL_P_WIDTH))
        ``a * b + r``, exact.
    tag_out, tag_next : Out(tag_shape)
        The tag of the result valid now / valid next cycle.
    busy : Out(1)
        An operation is in flight.
    """

    LATENCY = 8

    def __init__(self, *, tag_shape):
        self._tag_shape = tag_shape
        super().__init__({
            "start": In(1),
            "a": In(signed(MUL_A_WIDTH)),
            "b": In(signed(MUL_B_WIDTH)),
            "r": In(unsigned(R_WIDTH)),
            "tag": In(tag_shape),
            "can_start": Out(1),
            "valid": Out(1),
            "p": Out(signed(MUL_P_WIDTH)),
            "tag_out": Out(tag_shape),
            "tag_next": Out(tag_shape),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        aw = _A_DIGITS * DIGIT
        n = 6
        v = [Signal(name=f"v{i}") for i in range(n)]
        neg = [Signal(name=f"neg{i}") for i in range(n)]
        r = [Signal(R_WIDTH, name=f"r{i}") for i in range(n)]
        tag = [Signal(self._tag_shape, name=f"tag{i}") for i in range(n)]
        go = Signal()
        # stage 0: operands as given
        a_in = Signal(signed(MUL_A_WIDTH))
        b_in = Signal(signed(MUL_B_WIDTH))
        m.d.comb += [self.can_start.eq(~v[0]), go.eq(self.start & ~v[0])]
        m.d.sync += [v[0].eq(go), r[0].eq(self.r), tag[0].eq(self.tag)]
        with m.If(go):
            m.d.sync += [a_in.eq(self.a), b_in.eq(self.b)]
        # stage 1: magnitudes
        mag_a = Signal(aw)
        mag_b = Signal(_B_DIGITS * DIGIT)
        m.d.sync += [v[1].eq(v[0]), neg[1].eq((a_in < 0) ^ (b_in < 0)),
                     r[1].eq(r[0]), tag[1].eq(tag[0])]
        with m.If(v[0]):
            m.d.sync += [mag_a.eq(Mux(a_in < 0, -a_in, a_in)),
                         mag_b.eq(Mux(b_in < 0, -b_in, b_in))]
        for i in range(1, n - 1):
            m.d.sync += [v[i + 1].eq(v[i]), neg[i + 1].eq(neg[i]), r[i + 1].eq(r[i]),
                         tag[i + 1].eq(tag[i])]
        # DSP stage: digit 0 while the op is in stage 1, digit 1 in stage 2
        d = Signal(DIGIT)
        m.d.comb += d.eq(Mux(v[2], mag_b[DIGIT:2 * DIGIT], mag_b[:DIGIT]))
        pp = [Signal(2 * DIGIT, name=f"pp{i}") for i in range(_A_DIGITS)]
        for i in range(_A_DIGITS):
            m.d.sync += pp[i].eq(mag_a[i * DIGIT:(i + 1) * DIGIT] * d)
        # pp0 and pp2 do not overlap, so each combine is one adder
        lo = Signal(aw + DIGIT)          # stage 3: digit-0 product
        mid = Signal(MUL_P_WIDTH)        # stage 4: + digit-1 pp0, pp2
        pp1h = Signal(2 * DIGIT)
        mag = Signal(MUL_P_WIDTH)        # stage 5: + digit-1 pp1
        p = Signal(signed(MUL_P_WIDTH))
        negr = Signal(R_WIDTH + 1)       # neg + r, ready for stage 6: one adder there
        m.d.sync += negr.eq(neg[4] + r[4])
        m.d.sync += [
            lo.eq(Cat(pp[0], pp[2]) + (pp[1] << DIGIT)),                 # in stage 2
            mid.eq(lo + (Cat(pp[0], pp[2]) << DIGIT)),                   # in stage 3
            pp1h.eq(pp[1]),
            mag.eq(mid + (pp1h << (2 * DIGIT))),                         # in stage 4
        ]
        # stage 6: sign and rounding constant, low half (carry kept); stage 7: high half
        half = MUL_P_WIDTH // 2
        mask = Signal(half)
        m.d.comb += mask.eq(Mux(neg[5], ~Const(0, half), 0))
        plo = Signal(half + 1)
        phx = Signal(half)
        v6 = Signal()
        tag6 = Signal(self._tag_shape)
        m.d.sync += [plo.eq((mag[:half] ^ mask) + negr), phx.eq(mag[half:] ^ mask),
                     v6.eq(v[5]), tag6.eq(tag[5])]
        m.d.sync += p.eq(Cat(plo[:half], phx + plo[half]))
        vout = Signal()
        tag_out = Signal(self._tag_shape)
        m.d.sync += [vout.eq(v6), tag_out.eq(tag6)]
        m.d.comb += [self.valid.eq(vout), self.p.eq(p), self.tag_out.eq(tag_out),
                     self.tag_next.eq(tag6), self.busy.eq(Cat(*v, v6).any() | vout)]
        return m
