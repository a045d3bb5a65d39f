"""Trajectory encoder RTL: a table-filling RK4 integrator and a lookup server.

Architecture
------------
Features reach the encoder as :data:`~hw.formats.CODE` codes, so the whole trajectory
is a function of the code (see :mod:`dynalign.hw.encoder.ref`).  The encoder therefore works in
two phases:

1. **Refill** (after a parameter change): :class:`TrajectoryIntegrator` integrates every
   code of the code format once, in the exact integer arithmetic of
   :func:`dynalign.hw.encoder.ref.ref_trajectory_table`, and writes the ``T`` samples ``[x, y, z]``
   of each code into a *trajectory table* (plus one saturation bit per code).  It is a
   sequential machine around one shared signed multiplier (:class:`SerialMultiplier`,
   three 16x16 unsigned partial products per cycle, i.e. three DSP tiles) driven by a
   small microprogram (:func:`microprogram`) that is generated at elaboration time
   from the systems' term programmes (:meth:`dynalign.hw.systems.EncoderConfig.coef_program`);
   the coefficients themselves are run-time registers.
2. **Serve**: codes arrive on ``i_codes`` in requests of ``n_features`` codes (double
   buffered); for each request the encoder emits the golden layout
   ``for t in range(T): for k in range(K): x, y, z`` (``lanes`` samples per beat) by table
   lookup, one beat per cycle when the sink is ready.

Integer semantics (equal to the golden model, :mod:`dynalign.hw.encoder.ref`)
-------------------------------------------------------------------
Every multiply is exact (``A * B``, at most 64 bits signed).  After the multiplier a
rounding constant ``R`` is added and bits are dropped by an arithmetic shift:

* ``xx = sat_SAMPLE((x*x + 2**11) >> 12)``; ``x3 = sat_PRODUCT((xx*x + 2**11) >> 12)``,
  ``xy``, ``xz`` likewise (only the terms the system's programme uses are computed, as
  in the golden model, so saturation is counted on the same values);
* one derivative component ``k = sat_DERIV((2**13 + sum_i C_i * term_i) >> 14)``: the
  accumulator starts at the rounding constant, the sum is exact;
* stage ``U = sat_STATE(S + ((H * k + 2**9) >> 10))`` and the step
  ``S' = sat_STATE(S + ((H6 * (k1 + 2 k2 + 2 k3 + k4) + 2**9) >> 10))``;
* operands and samples ``sat_SAMPLE((s + 2**15) >> 16)``.

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
``error`` is a sticky bit set (:class:`Error`), cleared by ``clear``.  A ``refill`` with
an out-of-range register (stride 0, ``T < 2`` or ``T > max_T``, unknown system)
sets its bit, invalidates the table and returns at once; codes that arrive while there
is no valid table, or while ``n_features`` is 0 or above ``max_features``, are
consumed and dropped (no samples), with their bit set -- the stream never hangs.
"""

from __future__ import annotations

import enum as py_enum
from dataclasses import dataclass

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..formats import (
    CODE,
    COEF,
    CYCLES,
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
from ..systems import EncoderConfig, System
from .ref import Y0_COEF, FixedEncoder

__all__ = [
    "Reg", "Error", "Kind", "ASel", "BSel", "UOP_LAYOUT", "microprogram", "program_terms",
    "SLOTS_PER_COMP", "N_SLOTS", "SYSTEM_CODES", "encoder_registers", "table_writes",
    "SerialMultiplier", "TrajectoryIntegrator", "TrajectoryEncoder", "TableMemory",
    "MUL_A_WIDTH", "MUL_B_WIDTH", "DIGIT",
]

# --------------------------------------------------------------------------------------
# term programmes -> microprogram (elaboration time, single source: hw.systems)
# --------------------------------------------------------------------------------------

#: The run-time ``system`` register value of each system.
SYSTEM_CODES = {System.MIXED: 0, System.LORENZ: 1}


def program_terms(system) -> tuple:
    """The term names of each derivative component, from ``coef_program()``."""
    system = System.parse(system)
    return tuple(tuple(t for _, t in comp) for comp in
                 EncoderConfig(system=system).coef_program())


#: Coefficient slots per derivative component (the longest programme).
SLOTS_PER_COMP = max(len(comp) for s in System for comp in program_terms(s))
#: Coefficient registers: slot ``SLOTS_PER_COMP * component + j`` holds the ``j``-th
#: coefficient of that component's programme.
N_SLOTS = 3 * SLOTS_PER_COMP


class Reg(py_enum.IntEnum):
    """Register addresses (``reg_addr``); every register is written as 32 bits."""
    SYSTEM = 0              # 0 mixed, 1 lorenz
    COEF0 = 1               # COEF0 + slot, slots 0 .. N_SLOTS-1, two's complement COEF
    H1 = COEF0 + N_SLOTS    # STEP h
    H2 = H1 + 1             # STEP h/2
    H6 = H1 + 2             # STEP h/6
    STRIDE = H1 + 3         # RK4 steps between samples (>= 1)
    SAMPLES = H1 + 4        # T (2 .. max_T)
    FEATURES = H1 + 5       # codes per request K (1 .. max_features)


REG_ADDR_WIDTH = max(Reg).bit_length()


class Error(py_enum.IntFlag):
    """Sticky error bits of ``error``."""
    STRIDE = 1          # refill with stride 0
    SAMPLES = 2         # refill with T < 2 or T > max_T
    SYSTEM = 4          # refill with an unknown system
    FEATURES = 8        # codes arrived while n_features is 0 or > max_features
    NO_TABLE = 16       # codes arrived while no valid table was loaded
    BUSY_WRITE = 32     # a register write or refill while a refill ran (ignored)


ERROR_WIDTH = 6


def encoder_registers(config: EncoderConfig, *, n_features: int = 1) -> dict:
    """The register writes (``{address: unsigned 32-bit value}``) that set ``config``.

    Coefficients come from :meth:`EncoderConfig.coef_program` and the steps from
    :meth:`EncoderConfig.step_constants` -- the very integers the golden model uses.
    """
    if not isinstance(config, EncoderConfig):
        raise TypeError(f"config must be an EncoderConfig, not {config!r}")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, not {n_features!r}")
    regs = {int(Reg.SYSTEM): SYSTEM_CODES[config.system]}
    slots = [0] * N_SLOTS
    terms = program_terms(config.system)
    for c, comp in enumerate(config.coef_program()):
        for j, (coef, term) in enumerate(comp):
            assert term == terms[c][j]
            slots[SLOTS_PER_COMP * c + j] = coef & ((1 << 32) - 1)
    for i, v in enumerate(slots):
        regs[Reg.COEF0 + i] = v
    h1, h2, h6 = config.step_constants()
    regs.update({int(Reg.H1): h1, int(Reg.H2): h2, int(Reg.H6): h6,
                 int(Reg.STRIDE): config.stride, int(Reg.SAMPLES): config.samples,
                 int(Reg.FEATURES): n_features})
    return regs


def table_writes(config: EncoderConfig, codes):
    """The ``tw_*`` writes that load the golden table of ``config`` for ``codes`` into a
    ``TrajectoryEncoder(integrator=False)``: ``(code, index, sample, sat)`` with ``index =
    3 t + c`` and ``sample`` the golden SAMPLE integer of component ``c`` at sample ``t``
    (``FixedEncoder(config).table``), ``sat`` the code's saturation bit."""
    gold = FixedEncoder(config)
    out = []
    for code in codes:
        row = int(code) - CODE.min_int
        sat = int(gold.table_saturation[row] > 0)
        for t in range(config.samples):
            for c in range(3):
                out.append((int(code), 3 * t + c, int(gold.table[row, t, c]), sat))
    return out


class Kind(enum.Enum, shape=3):
    """Micro-operation kinds (what the writeback does with the product ``P``)."""
    OPS = 0     # x, y, z = sat_SAMPLE(rs(U, OPERAND_SHIFT)); no multiply; sample point
    PRODS = 1   # xx = sat_SAMPLE(rs(P, PRODUCT_SHIFT))
    PRODP = 2   # term[dst] = sat_PRODUCT(rs(P, PRODUCT_SHIFT))
    MAC = 3     # acc += P (first: acc = P + 2**(DERIV_SHIFT-1)); last: k[comp] = sat_DERIV
    INC = 4     # U[comp] = sat_STATE(S[comp] + rs(P, INCREMENT_SHIFT))
    FIN = 5     # S[comp] = U[comp] = sat_STATE(S[comp] + rs(P, INCREMENT_SHIFT))
    INITY = 6   # S[1] = U[1] = P << Y0_SHIFT  (P = Y0_COEF * code)


class ASel(enum.Enum, shape=4):
    """Multiplier operand A: a term, a derivative, a k-sum or the code."""
    X = 0
    Y = 1
    Z = 2
    X3 = 3
    XY = 4
    XZ = 5
    XX = 6
    K0 = 7
    K1 = 8
    K2 = 9
    KS0 = 10
    KS1 = 11
    KS2 = 12
    CODE = 13


class BSel(enum.Enum, shape=2):
    """Multiplier operand B: the x operand, a coefficient slot, a step, 0.2."""
    X = 0
    COEF = 1
    STEP = 2
    Y0 = 3


#: Values tracked by the scoreboard (a pending bit each, from the issue of the micro-op
#: that writes it to its writeback); index 0 means "none".
SCOREBOARD = (None, "xx", "x3", "xy", "xz", "k0", "k1", "k2", "ks0", "ks1", "ks2")

UOP_LAYOUT = data.StructLayout({
    "kind": Kind, "a": ASel, "b": BSel,
    "slot": range(N_SLOTS), "comp": 2, "dst": 3, "hsel": 2, "stage": 2,
    "first": 1, "last": 1, "wait": 1, "eos": 1,
    "rd": range(len(SCOREBOARD)), "wmask": len(SCOREBOARD),
})

_TERM_ASEL = {"x": ASel.X, "y": ASel.Y, "z": ASel.Z, "x3": ASel.X3, "xy": ASel.XY,
              "xz": ASel.XZ}


@dataclass
class Uop:
    kind: Kind
    a: ASel = ASel.X
    b: BSel = BSel.X
    slot: int = 0
    comp: int = 0
    dst: int = 0
    hsel: int = 0
    stage: int = 0
    first: bool = False
    last: bool = False
    wait: bool = False
    eos: bool = False
    reads: frozenset = frozenset()
    writes: frozenset = frozenset()

    def const(self) -> dict:
        return {"kind": self.kind, "a": self.a, "b": self.b, "slot": self.slot,
                "comp": self.comp, "dst": self.dst, "hsel": self.hsel, "stage": self.stage,
                "first": int(self.first), "last": int(self.last), "wait": int(self.wait),
                "eos": int(self.eos), "rd": self.rd, "wmask": self.wmask}

    @property
    def rd(self) -> int:
        """The scoreboarded value this micro-op reads (0: none)."""
        tracked = [SCOREBOARD.index(r) for r in self.reads if r in SCOREBOARD]
        assert len(tracked) <= 1
        return tracked[0] if tracked else 0

    @property
    def wmask(self) -> int:
        return sum(1 << SCOREBOARD.index(w) for w in self.writes if w in SCOREBOARD)


def microprogram(system) -> list:
    """The micro-operations of one code: entry 0 initialises y (``INITY``), entries
    ``1 ..`` are one RK4 step, ending with ``eos``; the sequencer loops over them.

    Dependencies: the values in :data:`SCOREBOARD` (product terms, derivatives,
    k-sums) have a pending bit from the issue of their writer to its writeback, and a
    reader (``rd``) stalls while it is set.  Any other dependency (the stage states
    ``U``, read by ``OPS``) is resolved by ``wait``: issue only when the pipeline is
    empty.
    """
    terms = program_terms(system)
    needed = {t for comp in terms for t in comp}
    uops = [Uop(Kind.INITY, a=ASel.CODE, b=BSel.Y0, writes=frozenset({"U1", "S1"}))]
    hsel_of_stage = (1, 1, 0)          # h/2, h/2, h (then h/6 for the final update)
    for stage in range(4):
        uops.append(Uop(Kind.OPS, stage=stage, reads=frozenset({"U0", "U1", "U2"})))
        if "x3" in needed:
            uops.append(Uop(Kind.PRODS, a=ASel.X, b=BSel.X, writes=frozenset({"xx"})))
        for name, a in (("xy", ASel.Y), ("xz", ASel.Z)):
            if name in needed:
                uops.append(Uop(Kind.PRODP, a=a, b=BSel.X, dst=int(_TERM_ASEL[name].value),
                                writes=frozenset({name})))
        if "x3" in needed:
            uops.append(Uop(Kind.PRODP, a=ASel.XX, b=BSel.X, dst=int(ASel.X3.value),
                            reads=frozenset({"xx"}), writes=frozenset({"x3"})))
        # components whose terms are ready first (x3 comes last)
        order = sorted(range(3), key=lambda c: "x3" in terms[c])
        for c in order:
            comp = terms[c]
            for j, t in enumerate(comp):
                uops.append(Uop(Kind.MAC, a=_TERM_ASEL[t], b=BSel.COEF,
                                slot=SLOTS_PER_COMP * c + j, comp=c, stage=stage,
                                first=j == 0, last=j == len(comp) - 1,
                                reads=frozenset({t}),
                                writes=frozenset({f"k{c}", f"ks{c}"})
                                if j == len(comp) - 1 else frozenset()))
        if stage < 3:
            for c in range(3):
                uops.append(Uop(Kind.INC, a=ASel(ASel.K0.value + c), b=BSel.STEP,
                                hsel=hsel_of_stage[stage], comp=c,
                                reads=frozenset({f"k{c}"}), writes=frozenset({f"U{c}"})))
    for c in range(3):
        uops.append(Uop(Kind.FIN, a=ASel(ASel.KS0.value + c), b=BSel.STEP, hsel=2, comp=c,
                        reads=frozenset({f"ks{c}"}), writes=frozenset({f"U{c}", f"S{c}"})))
    uops[-1].eos = True
    pending = set()
    for u in uops:
        if u.kind is Kind.OPS or (u.reads - set(SCOREBOARD)) & pending:
            u.wait = True
            pending = set()
        pending |= u.writes - set(SCOREBOARD)
    return uops


# --------------------------------------------------------------------------------------
# the multiplier
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

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


def _check_positive_int(name, value, *, minimum=1, maximum=None):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        rng = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be an integer {rng}, not {value!r}")


def _check_code_format(code_format):
    if not isinstance(code_format, QFormat):
        raise TypeError(f"code_format must be a QFormat, not {code_format!r}")
    if (not code_format.signed or code_format.frac != CODE.frac
            or not 2 <= code_format.width <= CODE.width):
        raise ValueError(f"code_format must be signed with frac {CODE.frac} and 2..{CODE.width} "
                         f"bits (a subset of {CODE}), not {code_format}")


assert min(OPERAND_SHIFT, PRODUCT_SHIFT, DERIV_SHIFT, INCREMENT_SHIFT) > 0

_TAG_LAYOUT = data.StructLayout({"kind": Kind, "comp": 2, "dst": 3, "stage": 2,
                                 "first": 1, "last": 1})
KS_WIDTH = DERIV.width + 3
STRIDE_WIDTH = 16


def _table_layout(lanes, max_t, code_width):
    """``(words per sample triple, table depth, address width)``."""
    words = 3 // lanes
    depth = (max_t * words) << code_width
    return words, depth, (depth - 1).bit_length()


# --------------------------------------------------------------------------------------
# the integrator
# --------------------------------------------------------------------------------------

class TrajectoryIntegrator(wiring.Component):
    """Fills the trajectory table: RK4 in the golden integer arithmetic, every code.

    For each code index ``i`` (code ``i - 2**(w-1)``, ``w`` the code width) in order the
    microprogram (:func:`microprogram`) runs ``n_steps = stride * (T - 1)`` RK4 steps; at
    each sample step the operands ``[x, y, z]`` are written to ``wr`` (address
    ``((t * 3 + c) << w) | i`` for one lane, ``(t << w) | i`` with ``[x, y, z]`` for three),
    and at the end of the code its saturation bit to ``sat_wr``.  ``done`` pulses when the
    last code is written.  Registers must be valid (the encoder checks them) and stable
    while ``busy``.
    """

    def __init__(self, *, max_T, lanes=1, code_format=CODE):
        _check_positive_int("max_T", max_T, minimum=2)
        if lanes not in (1, 3):
            raise ValueError(f"lanes must be 1 or 3, not {lanes!r}")
        _check_code_format(code_format)
        self.max_T, self.lanes, self.code_format = max_T, lanes, code_format
        self.words, self.depth, aw = _table_layout(lanes, max_T, code_format.width)
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "system": In(1),
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
        cw = self.code_format.width
        m.submodules.mul = mul = SerialMultiplier(tag_shape=_TAG_LAYOUT)

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
                     coef_rd.addr.eq(rom_rd.data.slot), coef_rd.en.eq(fetch)]

        # datapath registers
        S = [Signal(signed(STATE.width), name=f"S{c}") for c in range(3)]
        U = [Signal(signed(STATE.width), name=f"U{c}") for c in range(3)]
        X, Y, Z, XX = (Signal(signed(SAMPLE.width), name=n) for n in ("X", "Y", "Z", "XX"))
        X3, XY, XZ = (Signal(signed(PRODUCT.width), name=n) for n in ("X3", "XY", "XZ"))
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
        idx = Signal(cw)
        code = Signal(signed(cw))
        m.d.comb += code.eq(Cat(idx[:cw - 1], ~idx[cw - 1]))
        satc = Signal()          # this code saturated somewhere
        t = Signal(range(self.max_T))
        sc = Signal(STRIDE_WIDTH)

        # operand A / B multiplexers
        a_src = Array([X, Y, Z, X3, XY, XZ, XX, K[0], K[1], K[2], KS[0], KS[1], KS[2], code]
                      + [Const(0)] * 2)
        hs = Array([self.h1, self.h2, self.h6, Const(0, STEP.width)])
        b_val = Signal(signed(MUL_B_WIDTH))
        with m.Switch(uop.b):
            with m.Case(BSel.X):
                m.d.comb += b_val.eq(X)
            with m.Case(BSel.COEF):
                m.d.comb += b_val.eq(coef_rd.data)
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
            mul.a.eq(a_src[uop.a.as_value()]), mul.b.eq(b_val), mul.r.eq(r_val),
            mul.tag.kind.eq(uop.kind), mul.tag.comp.eq(uop.comp), mul.tag.dst.eq(uop.dst),
            mul.tag.stage.eq(uop.stage), mul.tag.first.eq(uop.first),
            mul.tag.last.eq(uop.last),
        ]

        # derivative finalisation (two cycles after the last MAC of a component)
        f1, f2 = Signal(), Signal()
        f1c, f2c = Signal(2), Signal(2)
        f1s, f2s = Signal(2), Signal(2)
        pipe_busy = Signal()
        g1, g1fin = Signal(), Signal()            # state update, second cycle
        m.d.comb += pipe_busy.eq(mul.busy | h1 | f1 | f2 | g1)

        # sample writer
        wpend = Signal()
        wc = Signal(range(3))
        wt = Signal(range(self.max_T))

        # ---- writeback ----------------------------------------------------------
        P = mul.p
        tg = mul.tag_out
        sat_events = []
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
                    m.d.sync += XX.eq(xx_n)
                    sat_events.append(xx_s)
                with m.Case(Kind.PRODP):
                    with m.Switch(tg.dst):
                        for dst, reg in ((ASel.X3, X3), (ASel.XY, XY), (ASel.XZ, XZ)):
                            with m.Case(dst.value):
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

        # ---- operands (OPS) -----------------------------------------------------
        ops_n, ops_s = [], []
        for c, name in enumerate("xyz"):
            rounded = Signal(signed(STATE.width + 1), name=f"rnd_{name}")
            m.d.comb += rounded.eq(U[c] + (1 << (OPERAND_SHIFT - 1)))
            o, s = _saturate(m, rounded >> OPERAND_SHIFT, SAMPLE, f"op_{name}")
            ops_n.append(o)
            ops_s.append(s)

        # ---- sequencer ----------------------------------------------------------
        last_t = Signal(range(self.max_T + 1))
        m.d.comb += last_t.eq(self.samples - 1)
        code_sat = Signal()
        m.d.comb += code_sat.eq(satc | wb_sat | (f1 & k_s))
        m.d.sync += satc.eq(code_sat)
        ops_sat = Signal()
        m.d.comb += ops_sat.eq(Cat(ops_s).any())
        # scoreboard: pending bits set at issue (uop.wmask), cleared at writeback
        pend = Signal(len(SCOREBOARD))
        pend_set = Signal(len(SCOREBOARD))
        pend_clr = Signal(len(SCOREBOARD))
        m.d.sync += pend.eq((pend | pend_set) & ~pend_clr)
        res = {name: i for i, name in enumerate(SCOREBOARD) if name}
        with m.If(mul.valid & (tg.kind == Kind.PRODS)):
            m.d.comb += pend_clr[res["xx"]].eq(1)
        with m.If(mul.valid & (tg.kind == Kind.PRODP)):
            for dst, name in ((ASel.X3, "x3"), (ASel.XY, "xy"), (ASel.XZ, "xz")):
                with m.If(tg.dst == dst.value):
                    m.d.comb += pend_clr[res[name]].eq(1)
        for c in range(3):
            with m.If(f1 & (f1c == c)):
                m.d.comb += pend_clr[res[f"k{c}"]].eq(1)
            with m.If(f2 & (f2c == c)):
                m.d.comb += pend_clr[res[f"ks{c}"]].eq(1)
        with m.If(mul.start):
            m.d.comb += pend_set.eq(uop.wmask)
        issue_ok = Signal()
        m.d.comb += issue_ok.eq(~(uop.wait & pipe_busy) & ~pend.bit_select(uop.rd, 1)
                                & Mux(uop.kind == Kind.OPS, ~wpend, mul.can_start))

        x0 = Signal(signed(STATE.width))
        m.d.comb += x0.eq(code << X0_SHIFT)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [idx.eq(0), pc.eq(0)]
                    m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.busy.eq(1), fetch.eq(1)]
                m.d.sync += [S[0].eq(x0), U[0].eq(x0), S[2].eq(-x0), U[2].eq(-x0),
                             S[1].eq(0), U[1].eq(0), uop.eq(rom_rd.data), pc.eq(1),
                             t.eq(0), sc.eq(0), satc.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(issue_ok):
                    m.d.comb += fetch.eq(1)
                    with m.If(uop.kind == Kind.OPS):
                        m.d.sync += [X.eq(ops_n[0]), Y.eq(ops_n[1]), Z.eq(ops_n[2]),
                                     uop.eq(rom_rd.data), pc.eq(pc + 1)]
                        m.d.comb += code_sat.eq(satc | wb_sat | (f1 & k_s) | ops_sat)
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
                        m.d.comb += mul.start.eq(1)
                        m.d.sync += [uop.eq(rom_rd.data), pc.eq(Mux(uop.eos, 2, pc + 1))]
            with m.State("END"):
                m.d.comb += self.busy.eq(1)
                with m.If(~wpend & ~pipe_busy):
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

        # ---- sample writer --------------------------------------------------------
        with m.If(wpend):
            m.d.comb += self.wr_en.eq(1)
            if self.lanes == 3:
                m.d.comb += [self.wr_addr.eq(Cat(idx, wt)),
                             self.wr_data[0].eq(X), self.wr_data[1].eq(Y),
                             self.wr_data[2].eq(Z)]
                m.d.sync += wpend.eq(0)
            else:
                m.d.comb += [self.wr_addr.eq(Cat(idx, (wt << 1) + wt + wc)),
                             self.wr_data[0].eq(Array([X, Y, Z])[wc])]
                m.d.sync += wc.eq(wc + 1)
                with m.If(wc == 2):
                    m.d.sync += wpend.eq(0)
        return m


# --------------------------------------------------------------------------------------
# the trajectory table memory
# --------------------------------------------------------------------------------------

class TableMemory(wiring.Component):
    """The trajectory table: one write port (refill), one synchronous read port (serve).

    ``kind="generic"`` is an :class:`amaranth.lib.memory.Memory` (block RAM on any
    FPGA, simulation).  ``kind="spram"`` uses the iCE40 UltraPlus single-port RAMs
    (``SB_SPRAM256KA``, 16K x 16 each): the encoder never reads and writes the table in
    the same cycle (reads wait while ``busy``), so the two ports share one address.
    ``kind="auto"`` picks ``spram`` when elaborated for an iCE40 UP device.
    """

    SPRAM_DEPTH = 1 << 14
    SPRAM_WIDTH = 16

    def __init__(self, *, shape, depth, kind="auto"):
        if kind not in ("auto", "generic", "spram"):
            raise ValueError(f"kind must be 'auto', 'generic' or 'spram', not {kind!r}")
        self._shape, self._depth, self.kind = shape, depth, kind
        aw = max(1, (depth - 1).bit_length())
        super().__init__({
            "w_en": In(1), "w_addr": In(aw), "w_data": In(shape),
            "r_en": In(1), "r_addr": In(aw), "r_data": Out(shape),
        })

    def _use_spram(self, platform):
        if self.kind == "spram":
            return True
        device = str(getattr(platform, "device", ""))
        return self.kind == "auto" and device.startswith("iCE40UP")

    def elaborate(self, platform):
        m = Module()
        width = data.Layout.cast(self._shape).size if not isinstance(self._shape, int) \
            else self._shape
        if not self._use_spram(platform):
            m.submodules.mem = mem = memory.Memory(shape=self._shape, depth=self._depth,
                                                   init=[])
            wp = mem.write_port()
            rp = mem.read_port(domain="sync")
            m.d.comb += [wp.en.eq(self.w_en), wp.addr.eq(self.w_addr), wp.data.eq(self.w_data),
                         rp.en.eq(self.r_en), rp.addr.eq(self.r_addr),
                         self.r_data.eq(rp.data)]
            return m
        if self._depth > self.SPRAM_DEPTH:
            raise ValueError(f"table depth {self._depth} exceeds one SPRAM ({self.SPRAM_DEPTH})")
        from amaranth.hdl import ClockSignal, Instance
        addr = Signal(14)
        m.d.comb += addr.eq(Mux(self.w_en, self.w_addr, self.r_addr))
        wbits = Signal(width)
        rbits = Signal(width)
        m.d.comb += [wbits.eq(self.w_data), self.r_data.eq(rbits)]
        n = -(-width // self.SPRAM_WIDTH)
        for i in range(n):
            lo, hi = i * self.SPRAM_WIDTH, min(width, (i + 1) * self.SPRAM_WIDTH)
            din = Signal(self.SPRAM_WIDTH, name=f"din{i}")
            dout = Signal(self.SPRAM_WIDTH, name=f"dout{i}")
            m.d.comb += [din.eq(wbits[lo:hi]), rbits[lo:hi].eq(dout)]
            m.submodules[f"spram{i}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=addr, i_DATAIN=din, i_MASKWREN=Const(0b1111, 4),
                i_WREN=self.w_en, i_CHIPSELECT=self.w_en | self.r_en,
                i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                o_DATAOUT=dout)
        return m


# --------------------------------------------------------------------------------------
# the encoder
# --------------------------------------------------------------------------------------

#: Default depth of the encoder's output FIFO (a beat per cycle through the lookup).
FIFO_DEPTH = 4

class TrajectoryEncoder(wiring.Component):
    """Feature codes in, golden trajectory samples out; parameters are registers.

    Parameters (keyword-only)
    -------------------------
    max_T : int >= 2
        Largest number of samples per trajectory (table depth ``max_T * 3 * 2**w``).
    max_features : int >= 1
        Largest request size ``K`` (codes buffered per request, twice: double buffer).
    lanes : 1 or 3
        Samples per output beat: 1 (``x``, ``y``, ``z`` in turn) or 3 (``[x, y, z]``).
    code_format : QFormat
        The code format (default :data:`~hw.formats.CODE`); a narrower signed format
        with the same fraction integrates a subset of the codes (small simulations).
    table_memory : "auto" | "generic" | "spram"
        How the trajectory table is built (:class:`TableMemory`); ``auto`` uses the
        iCE40 UltraPlus SPRAMs when elaborated for that device, block RAM otherwise.
    integrator : bool
        ``True`` (default): the table is integrated on chip (:class:`TrajectoryIntegrator`,
        ``refill``).  ``False``: no integrator -- the table is *written* through the
        ``tw_*`` ports with the golden table (``FixedEncoder(config).table``, computed by
        the host) and ``refill`` commits it; only ``lanes=1``.  The lookup, the stream
        and every flag behave as with the integrator: a design for boards too small
        for the integrator (it is most of the encoder's logic).
    table_banks : 1 or 2
        ``2`` (``integrator=False`` only): the table memory holds two tables; the
        ``bank`` input picks the one served, ``tw_*`` writes go to the other one and
        do *not* invalidate the served table, ``refill`` commits (the caller flips
        ``bank`` first).  A host can then write a new table while the old one keeps
        working, and a half-written one is never served.
    fifo_depth : int >= 1
        Output FIFO depth (default :data:`FIFO_DEPTH`): 3 or more stream a beat per
        cycle; fewer stream slower (1: a beat every third cycle) in fewer flip-flops,
        for a sink that is slower anyway (the LIF network's input loader, whose next
        step's bank fills while the network works on the last one).

    Ports
    -----
    i_codes : In(stream)  payload ``{code: signed(w)}``
    o_samples : Out(stream)  payload ``{samples: lanes x signed(SAMPLE.width), last: 1}``;
        per request ``for t in range(T): for k in range(K): x, y, z``; ``last`` marks the
        final beat of a request.
    reg_we, reg_addr, reg_data : In
        register write (:class:`Reg`); ignored (``Error.BUSY_WRITE``) while ``busy``.
    refill : In(1)
        strobe: check the registers and rebuild the table (``busy`` until done); with
        ``integrator=False``: check ``SAMPLES`` and commit the written table (valid in
        the next cycle, ``table_sat`` = OR of the ``tw_sat`` bits written since the last
        commit; ``refill_cycles`` reads 0).
    tw_en, tw_code, tw_index, tw_data, tw_sat : In  (``integrator=False`` only)
        table write: entry ``tw_index = 3 t + c`` (component ``c`` of sample ``t``) of
        code ``tw_code`` gets the SAMPLE ``tw_data``; the code's saturation bit gets
        ``tw_sat``.  A write invalidates the table until the next ``refill`` (with
        ``table_banks=2``: goes to bank ``~bank`` and invalidates nothing).
    bank : In(1)  (``table_banks=2`` only) the table served.
    tw_flag : In(1)  (``table_banks=2`` only) a ``tw_*`` write sets only the code's
        saturation bit (1) or only the sample (0).
    clear : In(1)
        strobe: clear ``error`` and ``sat``.
    busy, table_valid, sat, table_sat : Out(1);  error : Out(:class:`Error` bits)
    refill_cycles : Out(CYCLES)  cycles the last successful refill took.

    Timing (Verilator, ``bench/bench_encoder_rtl.py``): a refill takes
    ``refill_cycles`` = ``2**w * (n_steps * c_step + c_code)`` with ``c_step`` = 197
    cycles per RK4 step for the mixed oscillator (45 multiplies), 153 for Lorenz (37),
    ``c_code`` = 15 -- 40M cycles for the paper's window (800 steps), 1.35 s at 30 MHz.
    A request of ``K`` codes then streams ``3 T K / lanes`` beats, one per
    cycle when the sink is ready (15.2 cycles per feature measured at T=5, lanes=1,
    including the pipeline fill); the next request's codes are accepted meanwhile.
    Writing registers, ``refill`` and reading flags must happen between requests.
    """

    def __init__(self, *, max_T=5, max_features=64, lanes=1, code_format=CODE,
                 table_memory="auto", integrator=True, table_banks=1, fifo_depth=FIFO_DEPTH):
        _check_positive_int("max_T", max_T, minimum=2, maximum=1 << 12)
        _check_positive_int("max_features", max_features, minimum=1, maximum=1 << 16)
        if not isinstance(lanes, int) or isinstance(lanes, bool):
            raise TypeError(f"lanes must be an integer, not {lanes!r}")
        if lanes not in (1, 3):
            raise ValueError(f"lanes must be 1 or 3, not {lanes!r}")
        _check_code_format(code_format)
        if table_memory not in ("auto", "generic", "spram"):
            raise ValueError(f"table_memory must be 'auto', 'generic' or 'spram', "
                             f"not {table_memory!r}")
        if not isinstance(integrator, bool):
            raise TypeError(f"integrator must be a bool, not {integrator!r}")
        if not integrator and lanes != 1:
            raise ValueError("integrator=False needs lanes=1 (the table is written one "
                             "sample at a time)")
        _check_positive_int("fifo_depth", fifo_depth, minimum=1, maximum=64)
        self.fifo_depth = fifo_depth
        if table_banks not in (1, 2) or isinstance(table_banks, bool):
            raise ValueError(f"table_banks must be 1 or 2, not {table_banks!r}")
        if table_banks == 2 and integrator:
            raise ValueError("table_banks=2 needs integrator=False (a written table)")
        self.integrator = integrator
        self.table_banks = table_banks
        self.table_memory = table_memory
        self.max_T, self.max_features, self.lanes = max_T, max_features, lanes
        self.code_format = code_format
        self.words, self.depth, self.addr_width = _table_layout(lanes, max_T, code_format.width)
        self.code_layout = data.StructLayout({"code": signed(code_format.width)})
        self.sample_layout = data.StructLayout({
            "samples": data.ArrayLayout(signed(SAMPLE.width), lanes), "last": 1})
        members = {
            "i_codes": In(stream.Signature(self.code_layout)),
            "o_samples": Out(stream.Signature(self.sample_layout)),
            "reg_we": In(1), "reg_addr": In(REG_ADDR_WIDTH), "reg_data": In(32),
            "refill": In(1), "clear": In(1),
            "busy": Out(1), "table_valid": Out(1), "sat": Out(1), "table_sat": Out(1),
            "error": Out(ERROR_WIDTH),
            "refill_cycles": Out(CYCLES.width),
        }
        if not integrator:
            members.update({"tw_en": In(1), "tw_code": In(signed(code_format.width)),
                            "tw_index": In(range(3 * max_T)),
                            "tw_data": In(signed(SAMPLE.width)), "tw_sat": In(1)})
        if table_banks == 2:
            members.update({"bank": In(1), "tw_flag": In(1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cw = self.code_format.width
        integ = None
        if self.integrator:
            m.submodules.integ = integ = TrajectoryIntegrator(
                max_T=self.max_T, lanes=self.lanes, code_format=self.code_format)
        integ_busy = integ.busy if integ is not None else Const(0, 1)

        # ---- registers ----------------------------------------------------------------
        # each register keeps the bits it needs plus an "out of range" flag taken at write
        system = Signal(1)
        h1, h2, h6 = (Signal(STEP.width, name=n) for n in ("h1", "h2", "h6"))
        stride = Signal(STRIDE_WIDTH)
        samples = Signal(range(self.max_T + 1))
        maxf = self.max_features
        features = Signal(range(maxf + 1))
        bad_system = Signal()
        bad_stride = Signal(init=1)
        bad_samples = Signal(init=1)
        bad_features = Signal(init=1)
        err = Signal(ERROR_WIDTH)
        err_set = Signal(ERROR_WIDTH)
        m.d.sync += err.eq(Mux(self.clear, 0, err) | err_set)
        m.d.comb += self.error.eq(err)
        d = self.reg_data
        with m.If(self.reg_we):
            with m.If(integ_busy):
                m.d.comb += err_set.eq(Error.BUSY_WRITE)
            with m.Else():
                with m.Switch(self.reg_addr):
                    with m.Case(Reg.SYSTEM):
                        m.d.sync += [system.eq(d[0]), bad_system.eq(d > 1)]
                    with m.Case(*range(Reg.COEF0, Reg.COEF0 + N_SLOTS)):
                        if integ is not None:
                            m.d.comb += integ.coef_we.eq(1)
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
        if integ is not None:
            m.d.comb += [integ.coef_waddr.eq(self.reg_addr - Reg.COEF0),
                         integ.coef_wdata.eq(d[:COEF.width]),
                         integ.system.eq(system), integ.h1.eq(h1),
                         integ.h2.eq(h2), integ.h6.eq(h6), integ.stride.eq(stride),
                         integ.samples.eq(samples)]

        # ---- refill ---------------------------------------------------------------
        table_valid = Signal()
        table_t = Signal(range(self.max_T + 1))
        table_sat = Signal()
        cycles = Signal(CYCLES.width)
        refill_cycles = Signal(CYCLES.width)
        bad = Signal(ERROR_WIDTH)
        if integ is not None:
            m.d.comb += bad.eq(Cat(bad_stride, bad_samples, bad_system))  # Error bits 0..2
        else:                       # a written table needs only T
            m.d.comb += bad.eq(Cat(Const(0, 1), bad_samples))
        tw_sat_acc = Signal()       # integrator=False: OR of tw_sat since the last commit
        with m.If(self.refill):
            with m.If(integ_busy):
                m.d.comb += err_set.eq(Error.BUSY_WRITE)
            with m.Elif(bad.any()):
                m.d.comb += err_set.eq(bad)
                m.d.sync += [table_valid.eq(0), table_sat.eq(0)]
            with m.Else():
                if integ is not None:
                    m.d.comb += integ.start.eq(1)
                    m.d.sync += [table_valid.eq(0), table_sat.eq(0), cycles.eq(1),
                                 table_t.eq(samples)]
                else:
                    m.d.sync += [table_valid.eq(1), table_sat.eq(tw_sat_acc),
                                 tw_sat_acc.eq(0), table_t.eq(samples),
                                 refill_cycles.eq(0)]
        if integ is not None:
            with m.If(integ.busy):
                m.d.sync += cycles.eq(cycles + 1)
            with m.If(integ.sat_en & integ.sat_data):
                m.d.sync += table_sat.eq(1)
            with m.If(integ.done):
                m.d.sync += [table_valid.eq(1), refill_cycles.eq(cycles)]
        else:
            with m.If(self.tw_en & (self.tw_flag if self.table_banks == 2 else 1)):
                m.d.sync += tw_sat_acc.eq(tw_sat_acc | self.tw_sat)
            if self.table_banks == 1:
                with m.If(self.tw_en):
                    m.d.sync += table_valid.eq(0)
        m.d.comb += [self.busy.eq(integ_busy | self.refill), self.table_valid.eq(table_valid),
                     self.table_sat.eq(table_sat), self.refill_cycles.eq(refill_cycles)]

        # ---- memories -------------------------------------------------------------
        # two banks: entry Cat(row, index, bank), the index field wide enough for 3 T
        ib = (3 * self.max_T - 1).bit_length()
        banked = self.table_banks == 2
        serve_bank = self.bank if banked else Const(0, 1)
        m.submodules.table = table = TableMemory(
            shape=data.ArrayLayout(signed(SAMPLE.width), self.lanes),
            depth=(2 << (cw + ib)) if banked else self.depth, kind=self.table_memory)
        tw_row = Signal(cw)          # integrator=False: code -> table row (as served)
        if integ is not None:
            m.d.comb += [table.w_en.eq(integ.wr_en), table.w_addr.eq(integ.wr_addr),
                         table.w_data.eq(integ.wr_data)]
        else:
            w_addr = Cat(tw_row, self.tw_index)
            if banked:
                w_addr = Cat(tw_row, self.tw_index, ~serve_bank)
            m.d.comb += [tw_row.eq(self.tw_code ^ (1 << (cw - 1))),
                         table.w_en.eq(self.tw_en & ~self.tw_flag if banked else self.tw_en),
                         table.w_addr.eq(w_addr),
                         table.w_data.eq(self.tw_data)]
        m.submodules.satmem = satmem = memory.Memory(shape=1, depth=self.table_banks << cw,
                                                     init=[])
        s_wr = satmem.write_port()
        s_rd = satmem.read_port(domain="sync")
        if integ is not None:
            m.d.comb += [s_wr.en.eq(integ.sat_en), s_wr.addr.eq(integ.sat_addr),
                         s_wr.data.eq(integ.sat_data)]
        else:
            m.d.comb += [s_wr.en.eq(self.tw_en & self.tw_flag if banked else self.tw_en),
                         s_wr.addr.eq(Cat(tw_row, ~serve_bank) if banked else tw_row),
                         s_wr.data.eq(self.tw_sat)]
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
        k_ok = Signal()
        m.d.comb += k_ok.eq(~bad_features)
        drop = Signal()
        m.d.comb += drop.eq(~table_valid | ~k_ok)
        m.d.comb += self.i_codes.ready.eq(~self.busy & (drop | ~full.bit_select(wb, 1)))
        kcur = Signal(range(maxf + 1))
        m.d.comb += kcur.eq(Mux(wi == 0, features, kb[wb]))
        full_set = Signal(2)
        full_clr = Signal(2)
        m.d.sync += full.eq((full | full_set) & ~full_clr)
        with m.If(self.i_codes.valid & self.i_codes.ready):
            with m.If(~table_valid):
                m.d.comb += err_set.eq(Error.NO_TABLE)
            with m.Elif(~k_ok):
                m.d.comb += err_set.eq(Error.FEATURES)
            with m.Else():
                m.d.comb += [c_wr.en.eq(1), c_wr.addr.eq(Cat(wi, wb)),
                             c_wr.data.eq(self.i_codes.payload.code)]
                with m.If(wi == 0):
                    m.d.sync += kb[wb].eq(features)
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
        m.d.comb += active.eq(full.bit_select(rb, 1) & ~integ_busy)
        issue = Signal()
        m.d.comb += issue.eq(active & table_valid
                             & (fifo.w_level + va + vb < self.fifo_depth))
        with m.If(active & ~table_valid):
            # a request collected for a table that has gone: drop it, no samples
            m.d.comb += [err_set.eq(Error.NO_TABLE), full_clr.eq(Mux(rb, 2, 1))]
            m.d.sync += [rb.eq(~rb), rt.eq(0), rk.eq(0), rc.eq(0)]
        m.d.comb += [c_rd.addr.eq(Cat(rk, rb)), c_rd.en.eq(issue)]
        kbr = kb[rb]
        last_c = 2 if self.lanes == 1 else 0
        is_last = Signal()
        m.d.comb += is_last.eq((rt == table_t - 1) & (rk == kbr - 1) & (rc == last_c))
        rt_a = Signal.like(rt)
        rc_a = Signal.like(rc)
        last_a, last_b = Signal(), Signal()
        m.d.sync += [va.eq(issue), vb.eq(va), last_b.eq(last_a)]
        with m.If(issue):
            m.d.sync += [rt_a.eq(rt), rc_a.eq(rc), last_a.eq(is_last)]
        cidx = Signal(cw)
        m.d.comb += cidx.eq(c_rd.data ^ (1 << (cw - 1)))     # code -> table row
        if banked:
            m.d.comb += [table.r_addr.eq(Cat(cidx, ((rt_a << 1) + rt_a + rc_a)[:ib],
                                             serve_bank)),
                         s_rd.addr.eq(Cat(cidx, serve_bank))]
        else:
            if self.lanes == 1:
                m.d.comb += table.r_addr.eq(Cat(cidx, (rt_a << 1) + rt_a + rc_a))
            else:
                m.d.comb += table.r_addr.eq(Cat(cidx, rt_a))
            m.d.comb += s_rd.addr.eq(cidx)
        m.d.comb += [table.r_en.eq(va), s_rd.en.eq(va)]
        with m.If(issue):
            with m.If(rc == last_c):
                m.d.sync += rc.eq(0)
                with m.If(rk == kbr - 1):
                    m.d.sync += rk.eq(0)
                    with m.If(rt == table_t - 1):
                        m.d.sync += [rt.eq(0), rb.eq(~rb)]
                        m.d.comb += full_clr.eq(Mux(rb, 2, 1))
                    with m.Else():
                        m.d.sync += rt.eq(rt + 1)
                with m.Else():
                    m.d.sync += rk.eq(rk + 1)
            with m.Else():
                m.d.sync += rc.eq(rc + 1)
        beat = Signal(self.sample_layout)
        m.d.comb += [beat.samples.eq(table.r_data), beat.last.eq(last_b),
                     fifo.w_data.eq(beat), fifo.w_en.eq(vb)]
        sat = Signal()
        m.d.sync += sat.eq(Mux(self.clear, 0, sat) | (vb & s_rd.data))
        m.d.comb += [self.sat.eq(sat),
                     self.o_samples.payload.eq(fifo.r_data),
                     self.o_samples.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.o_samples.ready)]
        return m
