"""The integrator's microprogram, compiled at elaboration time from the term programmes.

:func:`microprogram` turns a system's term programme
(:meth:`dynalign.hw.systems.EncoderConfig.coef_program`, via
:func:`~dynalign.hw.encoder.regs.program_terms`) into the micro-operations of one code:
``INITY`` (``y0``), then one RK4 step -- per stage the operands (``OPS``), the
multiplies of the programme's monomials (:func:`~dynalign.hw.encoder.ref.term_chains`:
each intermediate into a scratch register, ``PRODS``, each monomial into a term
register, ``PRODP``), one multiply-accumulate per coefficient (``MAC``; its operand a
term register, ``x``, ``y``, ``z``, the constant ``ONE`` or Chua's ``CHI``) and the
stage update (``INC``), and the final update (``FIN``).  The coefficients are run-time
registers (slot ``slot_base(system, c) + j``); the programmes' *shapes* of every system
are in the one ROM, selected by the run-time ``system`` register.  What each kind does
to the product ``P`` is in :class:`Kind`; the integer equations are those of
:mod:`dynalign.hw.encoder.ref`.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.lib import data, enum

from ..systems import System
from .ref import term_chains
from .regs import N_SLOTS, program_terms, slot_base

__all__ = ["Kind", "ASel", "BSel", "N_SCRATCH", "N_TERMS", "SCOREBOARD", "UOP_LAYOUT",
           "TAG_LAYOUT", "Uop", "microprogram", "register_allocation"]


def register_allocation(system) -> tuple[dict, dict]:
    """``(scratch, term)``: the scratch register (SAMPLE) of each intermediate and the
    term register (PRODUCT) of each monomial of ``system``'s programme, in the order of
    :func:`~dynalign.hw.encoder.ref.term_chains`."""
    inter, finals = term_chains({t for comp in program_terms(system) for t in comp})
    return ({n: i for i, (n, _, _) in enumerate(inter)},
            {t: i for i, (t, _, _) in enumerate(finals)})


#: Scratch (SAMPLE) and term (PRODUCT) registers of the datapath: the most any system's
#: programme needs (Aizawa: xx, yy, zz, xxx and eight monomials).
N_SCRATCH = max(len(register_allocation(s)[0]) for s in System)
N_TERMS = max(len(register_allocation(s)[1]) for s in System)


class Kind(enum.Enum, shape=3):
    """Micro-operation kinds (what the writeback does with the product ``P``)."""
    OPS = 0     # x, y, z = sat_SAMPLE(rs(U, OPERAND_SHIFT)); no multiply; sample point
    PRODS = 1   # scratch[dst] = sat_SAMPLE(rs(P, PRODUCT_SHIFT))
    PRODP = 2   # term[dst] = sat_PRODUCT(rs(P, PRODUCT_SHIFT))
    MAC = 3     # acc += P (first: acc = P + 2**(DERIV_SHIFT-1)); last: k[comp] = sat_DERIV
    INC = 4     # U[comp] = sat_STATE(S[comp] + rs(P, INCREMENT_SHIFT))
    FIN = 5     # S[comp] = U[comp] = sat_STATE(S[comp] + rs(P, INCREMENT_SHIFT))
    INITY = 6   # S[1] = U[1] = P << Y0_SHIFT  (P = Y0_COEF * code)


assert N_SCRATCH <= 4 and N_TERMS <= 8, "ASel names 4 scratch and 8 term registers"


class ASel(enum.Enum, shape=5):
    """Multiplier operand A: an operand, a constant, a scratch or term register, a
    derivative, a k-sum or the code."""
    X = 0
    Y = 1
    Z = 2
    ONE = 3         # the constant term 1 (SAMPLE)
    CHI = 4         # |x + ONE| - |x - ONE|
    S0 = 5          # scratch registers (SAMPLE) S0..S3
    S1 = 6
    S2 = 7
    S3 = 8
    P0 = 9          # term registers (PRODUCT) P0..P7
    P1 = 10
    P2 = 11
    P3 = 12
    P4 = 13
    P5 = 14
    P6 = 15
    P7 = 16
    K0 = 17
    K1 = 18
    K2 = 19
    KS0 = 20
    KS1 = 21
    KS2 = 22
    CODE = 23


class BSel(enum.Enum, shape=3):
    """Multiplier operand B: an operand, a coefficient slot, a step, 0.2."""
    X = 0
    Y = 1
    Z = 2
    COEF = 3
    STEP = 4
    Y0 = 5


#: Values tracked by the scoreboard (a pending bit each, from the issue of the micro-op
#: that writes it to its writeback); index 0 means "none".
SCOREBOARD = ((None,) + tuple(f"s{i}" for i in range(N_SCRATCH))
              + tuple(f"p{i}" for i in range(N_TERMS))
              + ("k0", "k1", "k2", "ks0", "ks1", "ks2"))

UOP_LAYOUT = data.StructLayout({
    "kind": Kind, "a": ASel, "b": BSel,
    "slot": range(N_SLOTS), "comp": 2, "dst": 3, "hsel": 2, "stage": 2,
    "first": 1, "last": 1, "wait": 1, "eos": 1,
    "rd": range(len(SCOREBOARD)), "wmask": len(SCOREBOARD),
})

#: The tag a micro-op carries through the multiplier to its writeback.
TAG_LAYOUT = data.StructLayout({"kind": Kind, "comp": 2, "dst": 3, "stage": 2,
                                "first": 1, "last": 1})

_OPERAND_ASEL = {"x": ASel.X, "y": ASel.Y, "z": ASel.Z, "1": ASel.ONE, "chi": ASel.CHI}
_OPERAND_BSEL = {"x": BSel.X, "y": BSel.Y, "z": BSel.Z}


@dataclass
class Uop:
    """One micro-operation as the compiler sees it; :meth:`const` is its ROM word
    (:data:`UOP_LAYOUT`), ``reads`` / ``writes`` name the values it depends on."""

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

    Dependencies: the values in :data:`SCOREBOARD` (scratch and term registers,
    derivatives, k-sums) have a pending bit from the issue of their writer to its
    writeback, and a reader (``rd``) stalls while it is set.  Any other dependency (the
    stage states ``U``, read by ``OPS``) is resolved by ``wait``: issue only when the
    pipeline is empty.
    """
    terms = program_terms(system)
    inter, finals = term_chains({t for comp in terms for t in comp})
    scratch, term_reg = register_allocation(system)

    def a_of(name):
        """(ASel, tracked value or None) of a factor / term."""
        if name in _OPERAND_ASEL:
            return _OPERAND_ASEL[name], None
        if name in scratch:
            return ASel(ASel.S0.value + scratch[name]), f"s{scratch[name]}"
        return ASel(ASel.P0.value + term_reg[name]), f"p{term_reg[name]}"

    uops = [Uop(Kind.INITY, a=ASel.CODE, b=BSel.Y0, writes=frozenset({"U1", "S1"}))]
    hsel_of_stage = (1, 1, 0)          # h/2, h/2, h (then h/6 for the final update)
    ready = {t: i for i, (t, _, _) in enumerate(finals)}   # issue order of the terms
    # components whose terms are ready first
    order = sorted(range(3), key=lambda c: max((ready.get(t, -1) for t in terms[c]),
                                               default=-1))
    for stage in range(4):
        uops.append(Uop(Kind.OPS, stage=stage, reads=frozenset({"U0", "U1", "U2"})))
        for name, fa, fb in inter:
            a, rd = a_of(fa)
            uops.append(Uop(Kind.PRODS, a=a, b=_OPERAND_BSEL[fb], dst=scratch[name],
                            reads=frozenset({rd} - {None}),
                            writes=frozenset({f"s{scratch[name]}"})))
        for name, fa, fb in finals:
            a, rd = a_of(fa)
            uops.append(Uop(Kind.PRODP, a=a, b=_OPERAND_BSEL[fb], dst=term_reg[name],
                            reads=frozenset({rd} - {None}),
                            writes=frozenset({f"p{term_reg[name]}"})))
        for c in order:
            comp = terms[c]
            # operands and constants first, then the terms in the order they are ready
            # (the sum is exact: its order does not change the result)
            macs = sorted(range(len(comp)), key=lambda j: ready.get(comp[j], -1))
            for n, j in enumerate(macs):
                t = comp[j]
                a, rd = a_of(t)
                uops.append(Uop(Kind.MAC, a=a, b=BSel.COEF,
                                slot=slot_base(system, c) + j, comp=c, stage=stage,
                                first=n == 0, last=n == len(comp) - 1,
                                reads=frozenset({rd} - {None}),
                                writes=frozenset({f"k{c}", f"ks{c}"})
                                if n == len(comp) - 1 else frozenset()))
        if stage < 3:           # in the order the derivatives are finished
            for c in order:
                uops.append(Uop(Kind.INC, a=ASel(ASel.K0.value + c), b=BSel.STEP,
                                hsel=hsel_of_stage[stage], comp=c,
                                reads=frozenset({f"k{c}"}), writes=frozenset({f"U{c}"})))
    for c in order:
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
