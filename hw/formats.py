"""Every fixed-point format of dynalign: the single source of truth for bit widths.

The golden models (``hw.*.ref``), the torch quantiser (``sw``) and the Amaranth
generators (``hw.*.rtl``) all import the formats defined here; no width is written
twice anywhere else.

Notation: ``Q(width, frac)`` is a two's-complement integer ``q`` of ``width`` bits that
stands for the real value ``q / 2**frac``.  An unsigned format holds ``0 .. 2**width-1``.

Arithmetic primitives (integers only, numpy ``int64``; every intermediate below is
proven to fit in 63 bits by :func:`check_int64_headroom`):

* :func:`round_shift` -- ``(a + 2**(n-1)) >> n`` for ``n > 0`` (arithmetic shift, i.e.
  round half towards +infinity), ``a`` for ``n == 0``.  This is the one rounding rule of
  the project; the RTL adds the same constant and drops the same bits.
* :meth:`QFormat.saturate` -- clamp to ``[min_int, max_int]``; never wrap around.
  Callers count how many elements were clamped and report it.
* :meth:`QFormat.quantise` -- from real values: ``floor(x * 2**frac + 0.5)``, then a
  range check that *raises* (quantising a parameter is never silently saturated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "QFormat", "round_shift", "check_int64_headroom",
    "CODE", "STATE", "SAMPLE", "PRODUCT", "DERIV", "COEF", "STEP", "ACC_GUARD",
    "STEP_SHIFT_MAX", "STEP_SHIFT_SLOTS",
    "OPERAND_SHIFT", "PRODUCT_SHIFT", "DERIV_SHIFT", "INCREMENT_SHIFT", "X0_SHIFT", "Y0_SHIFT",
    "ACT", "WEIGHT", "WEIGHT4", "WEIGHT_BITS", "weight_format", "weight_bits_per_layer",
    "BIAS", "MEM", "BETA",
    "THRESH", "IN_SHIFT_MAX",
    "COUNT", "CYCLES", "formats_dict",
]


@dataclass(frozen=True)
class QFormat:
    """A fixed-point format ``Q(width, frac)``, signed (two's complement) or unsigned."""

    name: str
    width: int
    frac: int
    signed: bool = True

    def __post_init__(self):
        if not isinstance(self.width, int) or self.width <= 0:
            raise TypeError(f"width must be a positive integer, not {self.width!r}")
        if not isinstance(self.frac, int) or self.frac < 0:
            raise TypeError(f"frac must be a non-negative integer, not {self.frac!r}")
        if self.width > 63:
            raise ValueError(f"{self.name}: width {self.width} does not fit numpy int64")

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        """The real value of one least significant bit, ``2**-frac``."""
        return 2.0 ** -self.frac

    @property
    def min_real(self) -> float:
        return self.min_int * self.lsb

    @property
    def max_real(self) -> float:
        return self.max_int * self.lsb

    def saturate(self, a):
        """Clamp integers to ``[min_int, max_int]``.  Returns ``(clamped, n_clamped)``."""
        a = np.asarray(a, dtype=np.int64)
        out = np.clip(a, self.min_int, self.max_int)
        return out, int(np.count_nonzero(out != a))

    def saturate_mask(self, a):
        """Clamp integers; returns ``(clamped, mask)`` where ``mask`` marks clamped elements."""
        a = np.asarray(a, dtype=np.int64)
        out = np.clip(a, self.min_int, self.max_int)
        return out, out != a

    def saturate_int(self, a: int) -> tuple[int, bool]:
        """Scalar :meth:`saturate` on a Python ``int``: ``(clamped, was_clamped)``."""
        if a > self.max_int:
            return self.max_int, True
        if a < self.min_int:
            return self.min_int, True
        return a, False

    def quantise(self, x, *, what: str = "value"):
        """Real -> integer: ``floor(x * 2**frac + 0.5)``; raises ``ValueError`` if any
        value is not finite or lands outside the format (no silent saturation)."""
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{what} must be finite, got {x[~np.isfinite(x)].ravel()[:4]}")
        q = np.floor(x * (1 << self.frac) + 0.5)
        bad = (q < self.min_int) | (q > self.max_int)
        if np.any(bad):
            raise ValueError(
                f"{what} {x[bad].ravel()[:4]} outside the range of {self}: "
                f"[{self.min_real:g}, {self.max_real:g}]")
        return q.astype(np.int64)

    def quantise_scalar(self, x: float, *, what: str = "value") -> int:
        return int(self.quantise(np.float64(x), what=what))

    def to_real(self, q):
        """Integer -> real value (float64), exact for widths up to 53 bits."""
        return np.asarray(q, dtype=np.float64) * self.lsb

    def contains(self, q) -> bool:
        q = np.asarray(q)
        return bool(np.all((q >= self.min_int) & (q <= self.max_int)))

    def describe(self) -> dict:
        return {"name": self.name, "q": f"Q{self.width - self.frac}.{self.frac}",
                "width": self.width, "frac": self.frac, "signed": self.signed,
                "min": self.min_real, "max": self.max_real, "lsb": self.lsb}

    def __str__(self):
        kind = "" if self.signed else "unsigned "
        return f"{self.name} ({kind}Q{self.width - self.frac}.{self.frac}, {self.width} bits)"


def round_shift(a, n: int):
    """Round-half-up arithmetic right shift: ``(a + 2**(n-1)) >> n``; ``a`` if ``n == 0``.

    Works on numpy ``int64`` arrays and on Python ``int`` (the scalar twins use ints).
    ``>>`` is an arithmetic (floor) shift for both, exactly like ``$signed(x) >>> n``.
    """
    if n < 0:
        raise ValueError(f"shift must be non-negative, not {n!r}")
    if n == 0:
        return a
    return (a + (1 << (n - 1))) >> n


# --------------------------------------------------------------------------------------
# Trajectory encoder
# --------------------------------------------------------------------------------------

#: Feature code: signed 8 bits, real value v = code / 64, so v in [-2, 1.984375].
#: The trainer fixes the scale that maps its features into this range.
CODE = QFormat("code", 8, 6)

#: ODE state x, y, z as integrated: signed Q20.28 in 48 bits, range +-524288, lsb
#: 3.7e-9.  The wide fraction keeps h * x' from rounding to zero in the dissipative
#: modes (a Q.12 state freezes when |h x'| < 2**-13); the 20 integer bits hold the
#: expansive mode (delta=-1.5 reaches ~4.2e5 at t=8 for |v|=2); anything larger
#: saturates deliberately and is counted.
STATE = QFormat("state", 48, 28)

#: Multiplier operand *and* encoder output sample: the state rounded to signed Q20.12
#: in 32 bits, ``sat(round_shift(s, STATE.frac - SAMPLE.frac))``.  Every product in the
#: vector field takes SAMPLE operands, so no multiply is wider than 32 x 32.
SAMPLE = QFormat("sample", 32, 12)

#: Product terms x^3, x*y, x*z fed to the coefficient multipliers: signed Q24.12 in 36
#: bits (the expansive mixed oscillator's x^3 reaches ~4.6e6).  The inner x*x of x^3
#: is a SAMPLE, so no multiply has an operand wider than 32 bits except coef x term.
PRODUCT = QFormat("product", 36, 12)

#: Derivative components (k1..k4 of RK4): signed Q22.14 in 36 bits (the expansive
#: y' reaches ~5e5).
DERIV = QFormat("deriv", 36, 14)

#: ODE coefficients (alpha, beta, gamma, omega, delta, sigma, rho, Lorenz beta and the
#: constant 1): signed Q8.16 in 24 bits, range +-128, lsb 1.5e-5.
COEF = QFormat("coef", 24, 16)

#: Integration step h and its fractions h/2 and h/6: unsigned Q0.24, h in (0, 1).
STEP = QFormat("step", 24, 24, signed=False)

#: Per-sample input shift of the encoder output (issue 18): sample ``t`` of every
#: trajectory leaves the encoder as ``round_shift(sample, step_shift[t])``, a shift in
#: ``0..STEP_SHIFT_MAX``; the encoder block of the image holds :data:`STEP_SHIFT_SLOTS`
#: of them (one byte each, sample indices ``0 .. STEP_SHIFT_SLOTS - 1``), so a model with
#: any non-zero step shift has at most that many samples.
STEP_SHIFT_MAX = 31
STEP_SHIFT_SLOTS = 32

#: Shifts of the encoder datapath, derived here once (see hw.encoder.ref):
#: state -> multiplier operand / output sample
OPERAND_SHIFT = STATE.frac - SAMPLE.frac
#: sample x sample -> sample (x*x) or product term (x^3, x*y, x*z)
PRODUCT_SHIFT = SAMPLE.frac
#: sum of coef x sample -> derivative
DERIV_SHIFT = COEF.frac + SAMPLE.frac - DERIV.frac
#: step x derivative -> state increment
INCREMENT_SHIFT = STEP.frac + DERIV.frac - STATE.frac
#: code -> x0 (left shift), and 0.2 (COEF) x code -> y0 (left shift)
X0_SHIFT = STATE.frac - CODE.frac
Y0_SHIFT = STATE.frac - COEF.frac - CODE.frac

#: Derivative sums are accumulated at Q(.., COEF.frac + SAMPLE.frac) before one
#: round_shift; a sum has at most 2**ACC_GUARD terms.
ACC_GUARD = 3


# --------------------------------------------------------------------------------------
# LIF network
# --------------------------------------------------------------------------------------

#: Layer-1 activation: an encoder sample (SAMPLE) round_shift'ed right by the model's
#: input shift (0..IN_SHIFT_MAX) and saturated to signed 16 bits.
ACT = QFormat("act", 16, 0)
IN_SHIFT_MAX = 31

#: Synaptic weight: signed 8 bits (units of the layer's membrane scale).
WEIGHT = QFormat("weight", 8, 0)
#: A narrow layer's synaptic weight: signed 4 bits, stored two to a byte in the model
#: store (:mod:`dynalign.hw.wire`, "packed" layers), read by the engine sign-extended.
WEIGHT4 = QFormat("weight4", 4, 0)
#: The weight widths a layer may have, widest first.
WEIGHT_BITS = (WEIGHT.width, WEIGHT4.width)


def weight_format(bits: int) -> QFormat:
    """The weight format of a layer of ``bits``-bit weights (one of :data:`WEIGHT_BITS`)."""
    for f in (WEIGHT, WEIGHT4):
        if bits == f.width and not isinstance(bits, bool):
            return f
    raise ValueError(f"weights are {' or '.join(map(str, WEIGHT_BITS))} bits, not {bits!r}")


def weight_bits_per_layer(weight_bits, n_layers: int) -> tuple[int, ...]:
    """``weight_bits`` -- one width for every layer, or a sequence of one per layer --
    as one width per layer of an ``n_layers``-layer network, each checked (one of
    :data:`WEIGHT_BITS`)."""
    bits = (weight_bits,) * n_layers if isinstance(weight_bits, int) else tuple(weight_bits)
    if len(bits) != n_layers:
        raise ValueError(f"weight_bits gives {len(bits)} widths for {n_layers} layers")
    for b in bits:
        weight_format(b)
    return bits

#: Per-neuron bias, added every time step: signed 16 bits (membrane units).
BIAS = QFormat("bias", 16, 0)

#: Membrane potential: signed 24 bits; every update saturates to this.
MEM = QFormat("mem", 24, 0)

#: Leak factor beta in [0, 1]: unsigned Q1.8 (9 bits), only values 0..256 are valid.
BETA = QFormat("beta", 9, 8, signed=False)

#: Threshold theta: positive, membrane units, 1 .. MEM.max_int.
THRESH = QFormat("thresh", 24, 0)

#: Per-neuron spike counters over T (and class readout) and cycle counters.
COUNT = QFormat("count", 16, 0, signed=False)
CYCLES = QFormat("cycles", 32, 0, signed=False)


def check_int64_headroom() -> None:
    """Assert that every integer intermediate of the golden models fits in int64.

    * coefficient x product term, summed over up to 2**ACC_GUARD terms
    * sample x sample product (x*x, x*y, x*z)
    * step x (k1 + 2 k2 + 2 k3 + k4): STEP.width + DERIV.width + 3 bits
    * the y0 = 0.2 v multiplier applied to a code is a left shift by
      STATE.frac - COEF.frac - CODE.frac, which must not be negative
    * layer-1: ACT x WEIGHT summed over up to 2**16 inputs
    """
    need = {
        "coef*product accumulation": COEF.width + PRODUCT.width - 1 + ACC_GUARD,
        "sample*sample": 2 * SAMPLE.width - 1,
        "step*ksum": STEP.width + DERIV.width - 1 + 3,
        "act*weight accumulation": ACT.width + WEIGHT.width - 1 + 16,
    }
    for what, bits in need.items():
        if bits > 63:
            raise AssertionError(f"{what} needs {bits} bits, more than int64 holds")
    if STATE.frac < COEF.frac + CODE.frac or STATE.frac < DERIV.frac:
        raise AssertionError("STATE.frac must cover COEF.frac + CODE.frac and DERIV.frac")
    if COEF.frac + SAMPLE.frac < DERIV.frac or STEP.frac + DERIV.frac < STATE.frac:
        raise AssertionError("derivative and increment shifts must be non-negative")


check_int64_headroom()


def formats_dict() -> dict:
    """All formats as a JSON-friendly dict (for manifests and ``--json`` outputs)."""
    return {f.name: f.describe() for f in
            (CODE, STATE, SAMPLE, PRODUCT, DERIV, COEF, STEP, ACT, WEIGHT, WEIGHT4, BIAS, MEM,
             BETA, THRESH, COUNT, CYCLES)}
