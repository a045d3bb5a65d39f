"""The integrator's microprogram, compiled at elaboration time from the term programmes.

:func:`microprogram` turns a system's term programme
(:meth:`dynalign.hw.systems.EncoderConfig.coef_program`, via
:func:`~dynalign.hw.encoder.regs.program_terms`) into the micro-operations of one code:
``INITY`` (``y0``), then one RK4 step -- per stage the operands (``OPS``), the product
terms the programme uses (``PRODS``/``PRODP``), one multiply-accumulate per coefficient
(``MAC``) and the stage update (``INC``), and the final update (``FIN``).  The
coefficients are run-time registers (slot ``SLOTS_PER_COMP * c + j``); only the
programme's *shape* is fixed here.  What each kind does to the product ``P`` is in
:class:`Kind`; the integer equations are those of :mod:`dynalign.hw.encoder.ref`.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.lib import data, enum

from .regs import N_SLOTS, SLOTS_PER_COMP, program_terms

__all__ = ["Kind", "ASel", "BSel", "SCOREBOARD", "UOP_LAYOUT", "TAG_LAYOUT", "Uop",
           "microprogram"]


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

#: The tag a micro-op carries through the multiplier to its writeback.
TAG_LAYOUT = data.StructLayout({"kind": Kind, "comp": 2, "dst": 3, "stage": 2,
                                "first": 1, "last": 1})

_TERM_ASEL = {"x": ASel.X, "y": ASel.Y, "z": ASel.Z, "x3": ASel.X3, "xy": ASel.XY,
              "xz": ASel.XZ}


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
