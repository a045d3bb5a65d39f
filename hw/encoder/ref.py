"""Golden trajectory encoder: float64 reference, bit-exact fixed-point model, scalar twin.

Fixed-point integration (integers only; formats and shifts from :mod:`dynalign.hw.formats`).
``sat_F`` clamps to format ``F`` and every clamped element is counted, per code.

* initial state from a feature code ``c`` (:data:`CODE`, v = c / 2**6)::

      x0 = c << X0_SHIFT
      y0 = (Q(0.2) * c) << Y0_SHIFT          Q(0.2) = COEF.quantise(0.2)
      z0 = -x0

* multiplier operands (and output samples) ``op(s) = sat_SAMPLE(round_shift(s,
  OPERAND_SHIFT))``: the Q20.28 state rounded to Q20.12.
* products ``mul_F(a, b) = sat_F(round_shift(a * b, PRODUCT_SHIFT))``; the terms are
  ``x, y, z = op(s)``; a monomial with factors ``f1 f2 ... fd``
  (:data:`~dynalign.hw.systems.TERM_FACTORS`, ``d >= 2``) is
  ``mul_PRODUCT(p_{d-1}, fd)`` with ``p_1 = f1`` and ``p_i = mul_SAMPLE(p_{i-1}, fi)``
  (e.g. ``x3 = mul_PRODUCT(mul_SAMPLE(x, x), x)``, ``xy = mul_PRODUCT(x, y)``); every
  distinct intermediate ``p_i`` is computed (and its saturation counted) once per
  evaluation; ``1`` is ``ONE = 2**SAMPLE.frac``; ``chi = |x + ONE| - |x - ONE|`` (equal
  to ``clip(2 x, -2 ONE, 2 ONE)``; it never saturates).
* one derivative component: ``sat_DERIV(round_shift(sum_i C_i * term_i, DERIV_SHIFT))``
  over the system's term programme (:meth:`EncoderConfig.coef_program`), summed
  exactly before the single rounding.
* RK4 with ``H1, H2, H6 = STEP.quantise(h, h/2, h/6)`` and
  ``inc(H, k) = round_shift(H * k, INCREMENT_SHIFT)``::

      k1 = f(s)
      k2 = f(sat_STATE(s + inc(H2, k1)))
      k3 = f(sat_STATE(s + inc(H2, k2)))
      k4 = f(sat_STATE(s + inc(H1, k3)))
      s' = sat_STATE(s + inc(H6, k1 + 2 k2 + 2 k3 + k4))

* sample ``j`` (step ``j * stride``) is ``round_shift(op(s), step_shifts[j])``: SAMPLE
  integers, [x, y, z] (the per-step input shift of :class:`EncoderConfig`, 0 unless the
  model chose one; it scales what leaves the encoder, not the state it integrates, and
  never saturates: it only shrinks a value).

Because a feature reaches the encoder as one of ``2**CODE.width`` codes, the trajectory
is a function of the code: :class:`FixedEncoder` integrates each distinct code once (a
*trajectory table*) and encodes any batch by lookup -- bit-identical to integrating per
sample, which the scalar twin :func:`ref_encode_scalar` checks.
"""

from __future__ import annotations

import math

import numpy as np

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
    round_shift,
)
from ..systems import INIT, TERM_FACTORS, EncoderConfig, System, derivative_float

__all__ = ["FixedEncoder", "ref_encode", "ref_encode_float", "ref_encode_scalar",
           "ref_trajectory_table", "values_to_codes", "codes_to_values", "check_codes",
           "Y0_COEF", "ONE", "q_step", "term_chains"]

#: The constant term ``1`` as a SAMPLE integer.
ONE = 1 << SAMPLE.frac

#: The y0 = 0.2 v multiplier in COEF format.
Y0_COEF = COEF.quantise_scalar(INIT[1])


def check_codes(codes) -> np.ndarray:
    """Validate feature codes: an integer array inside :data:`CODE`; returns int64."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise TypeError(f"feature codes must be integers, not {codes.dtype}")
    if codes.size and not CODE.contains(codes):
        bad = codes[(codes < CODE.min_int) | (codes > CODE.max_int)]
        raise ValueError(f"feature codes {bad.ravel()[:4].tolist()} outside {CODE} "
                         f"[{CODE.min_int}, {CODE.max_int}]")
    return codes.astype(np.int64)


def values_to_codes(values) -> np.ndarray:
    """Real feature values -> codes, ``floor(v * 64 + 0.5)``; out of range raises."""
    return CODE.quantise(values, what="feature value")


def codes_to_values(codes) -> np.ndarray:
    return CODE.to_real(check_codes(codes))


# --------------------------------------------------------------------------------------
# float64 reference
# --------------------------------------------------------------------------------------

def ref_encode_float(values, config: EncoderConfig) -> np.ndarray:
    """Float64 RK4 with the exact step ``dt``; ``values`` of any shape ``S`` -> array of
    shape ``S + (T, 3)`` holding ``[x, y, z]`` at the sample times."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("feature values must be finite")
    p, h = config.p, config.dt
    s = [values * INIT[0], values * INIT[1], values * INIT[2]]
    out = np.empty(values.shape + (config.samples, 3))
    steps = set(config.sample_steps)

    def f(st):
        return derivative_float(config.system, p, *st)

    k = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(config.n_steps + 1):
            if i in steps:
                out[..., k, :] = np.stack(s, axis=-1)
                k += 1
            if i == config.n_steps:
                break
            k1 = f(s)
            k2 = f([a + h / 2 * b for a, b in zip(s, k1)])
            k3 = f([a + h / 2 * b for a, b in zip(s, k2)])
            k4 = f([a + h * b for a, b in zip(s, k3)])
            s = [a + h / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
                 for a, b1, b2, b3, b4 in zip(s, k1, k2, k3, k4)]
    return out


# --------------------------------------------------------------------------------------
# bit-exact fixed point, vectorised over lanes
# --------------------------------------------------------------------------------------

def _sat(fmt, a, sat_events):
    out, mask = fmt.saturate_mask(a)
    sat_events += mask
    return out


def _operand(s, sat_events):
    return _sat(SAMPLE, round_shift(s, OPERAND_SHIFT), sat_events)


def term_chains(terms) -> tuple[list, list]:
    """The multiplies that evaluate the monomials among ``terms``, in order.

    Returns ``(intermediates, finals)``: ``intermediates`` the distinct SAMPLE-saturated
    prefixes ``(name, a, b)`` (``name = a + b``, e.g. ``("xx", "x", "x")``,
    ``("xxx", "xx", "x")``) and ``finals`` the PRODUCT-saturated terms
    ``(term, a, b)``, each product ``mul(a, b)`` of a prefix and its last factor.
    Prefixes come before their users; the order is deterministic (the RTL's microcode
    compiler uses it too)."""
    inter, finals = [], []
    for t in sorted({t for t in terms if len(TERM_FACTORS.get(t, "")) >= 2},
                    key=lambda t: (TERM_FACTORS[t][:-1], t)):
        f = TERM_FACTORS[t]
        for i in range(2, len(f)):
            if f[:i] not in (n for n, _, _ in inter):
                inter.append((f[:i], f[:i - 1], f[i - 1]))
        finals.append((t, f[:-1], f[-1]))
    inter.sort(key=lambda e: (len(e[0]), e[0]))
    return inter, finals


def _derivative_fixed(program, s, sat_events):
    x, y, z = (_operand(c, sat_events) for c in s)
    vals = {"x": x, "y": y, "z": z}
    needed = {t for comp in program for _, t in comp}
    inter, finals = term_chains(needed)
    for name, a, b in inter:
        vals[name] = _sat(SAMPLE, round_shift(vals[a] * vals[b], PRODUCT_SHIFT), sat_events)
    terms = {"x": x, "y": y, "z": z}
    for t, a, b in finals:
        terms[t] = _sat(PRODUCT, round_shift(vals[a] * vals[b], PRODUCT_SHIFT), sat_events)
    if "1" in needed:
        terms["1"] = np.full_like(x, ONE)
    if "chi" in needed:
        terms["chi"] = np.clip(2 * x, -2 * ONE, 2 * ONE)
    out = []
    for comp in program:
        acc = np.zeros_like(x)
        for c, t in comp:
            acc = acc + c * terms[t]
        out.append(_sat(DERIV, round_shift(acc, DERIV_SHIFT), sat_events))
    return out


def ref_trajectory_table(codes, config: EncoderConfig):
    """Integrate the distinct ``codes`` (1-D) in fixed point.

    Returns ``(traj, sat_events)``: ``traj`` int64 of shape ``(len(codes), T, 3)`` in
    :data:`SAMPLE` integers and ``sat_events`` int64 ``(len(codes),)``: how many
    operands, products, derivatives or states were clamped for that code.
    """
    codes = check_codes(codes).ravel()
    program = config.coef_program()
    h1, h2, h6 = config.step_constants()
    sat_events = np.zeros(codes.shape, dtype=np.int64)
    x = codes << X0_SHIFT
    s = [x, (Y0_COEF * codes) << Y0_SHIFT, -x]

    def stage(h, k):
        return [_sat(STATE, a + round_shift(h * b, INCREMENT_SHIFT), sat_events)
                for a, b in zip(s, k)]

    out = np.empty((codes.size, config.samples, 3), dtype=np.int64)
    shifts = config.step_shifts
    for i in range(config.n_steps + 1):
        if i % config.stride == 0:
            for c in range(3):
                out[:, i // config.stride, c] = round_shift(_operand(s[c], sat_events),
                                                            shifts[i // config.stride])
        if i == config.n_steps:
            break
        k1 = _derivative_fixed(program, s, sat_events)
        k2 = _derivative_fixed(program, stage(h2, k1), sat_events)
        k3 = _derivative_fixed(program, stage(h2, k2), sat_events)
        k4 = _derivative_fixed(program, stage(h1, k3), sat_events)
        s = stage(h6, [b1 + 2 * b2 + 2 * b3 + b4 for b1, b2, b3, b4 in zip(k1, k2, k3, k4)])
    return out, sat_events


class FixedEncoder:
    """The bit-exact encoder for one :class:`EncoderConfig`, with its trajectory table.

    The table covers all ``2**CODE.width`` codes (built on first use, ~0.2 s) so that
    :meth:`encode` is a gather.  Integer semantics are those of the module docstring.
    """

    def __init__(self, config: EncoderConfig):
        if not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be an EncoderConfig, not {config!r}")
        self.config = config
        self._table = None
        self._sat = None

    @property
    def all_codes(self) -> np.ndarray:
        return np.arange(CODE.min_int, CODE.max_int + 1, dtype=np.int64)

    def _build(self):
        if self._table is None:
            self._table, self._sat = ref_trajectory_table(self.all_codes, self.config)

    @property
    def table(self) -> np.ndarray:
        """``(2**CODE.width, T, 3)`` STATE integers, row ``i`` for code ``i + CODE.min_int``."""
        self._build()
        return self._table

    @property
    def table_saturation(self) -> np.ndarray:
        self._build()
        return self._sat

    def encode(self, codes):
        """Codes of shape ``(N, K)`` -> ``(samples, sat_events)``.

        ``samples`` int64 ``(N, T, 3K)`` with columns ``f0x f0y f0z f1x ...``;
        ``sat_events`` int64 ``(N, K)``, clamped values per feature's trajectory.
        """
        codes = check_codes(codes)
        if codes.ndim != 2:
            raise ValueError(f"codes must have shape (N, K), not {codes.shape}")
        self._build()
        idx = codes - CODE.min_int
        traj = self._table[idx]                       # (N, K, T, 3)
        n, k = codes.shape
        samples = traj.transpose(0, 2, 1, 3).reshape(n, self.config.samples, 3 * k)
        return samples, self._sat[idx]


def ref_encode(codes, config: EncoderConfig):
    """Functional form of :meth:`FixedEncoder.encode` (builds a fresh table)."""
    return FixedEncoder(config).encode(codes)


# --------------------------------------------------------------------------------------
# naive scalar twin: Python ints, equations written out, one code at a time
# --------------------------------------------------------------------------------------

def ref_encode_scalar(code: int, config: EncoderConfig):
    """Deliberately naive twin of the fixed-point model for one code.

    Python ints, the equations written out per system (every intermediate of a monomial
    spelled out, Chua's ``|x + 1| - |x - 1|`` with ``abs``), and the shifts written as the
    numbers they are for the current formats (Q20.28 state, Q20.12 operands, Q24.12
    product terms, Q22.14 derivatives, Q8.16 coefficients): if a format changes, this twin must be
    re-derived by hand, and the tests that hold it against the model say so.

    Returns ``(samples, sat_events)`` with ``samples`` a list of T ``[x, y, z]`` ints.
    """
    code = int(code)
    if not CODE.min_int <= code <= CODE.max_int:
        raise ValueError(f"code {code} outside {CODE}")
    count = [0]

    def sat(fmt, a):
        v, clamped = fmt.saturate_int(a)
        count[0] += clamped
        return v

    def rs(a, n):
        return (a + (1 << (n - 1))) >> n

    def op(a):                      # Q20.28 state -> Q20.12 operand
        return sat(SAMPLE, rs(a, 16))

    def mul(fmt, a, b):
        return sat(fmt, rs(a * b, 12))

    def d(acc):                     # Q..28 accumulator -> Q22.14 derivative
        return sat(DERIV, rs(acc, 14))

    q = COEF.quantise_scalar
    p = config.p
    one = q(1.0)

    sys_ = config.system
    P, S = PRODUCT, SAMPLE
    one_t = 1 << 12                 # the constant term 1 in Q20.12
    if sys_ is System.MIXED:
        na, nb, nd, g, nw = q(-p["alpha"]), q(-p["beta"]), q(-p["delta"]), q(p["gamma"]), \
            q(-p["omega"])

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            x3 = mul(P, mul(S, x, x), x)
            xy = mul(P, x, y)
            return (d(one * y),
                    d(na * x + nb * x3 + nd * y + g * z),
                    d(nw * x + nd * z + g * xy))
    elif sys_ is System.LORENZ:
        sg, nsg, r, nb, mone = q(p["sigma"]), q(-p["sigma"]), q(p["rho"]), q(-p["beta"]), \
            q(-1.0)

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            xz = mul(P, x, z)
            xy = mul(P, x, y)
            return (d(sg * y + nsg * x),
                    d(r * x + mone * y + mone * xz),
                    d(one * xy + nb * z))
    elif sys_ is System.CHEN:
        qa, nqa, cma, qc, nb, mone = q(p["a"]), q(-p["a"]), q(p["c"] - p["a"]), q(p["c"]), \
            q(-p["b"]), q(-1.0)

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            xz = mul(P, x, z)
            xy = mul(P, x, y)
            return (d(qa * y + nqa * x),
                    d(cma * x + mone * xz + qc * y),
                    d(one * xy + nb * z))
    elif sys_ is System.ROSSLER:
        qa, qb, nc, mone = q(p["a"]), q(p["b"]), q(-p["c"]), q(-1.0)

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            xz = mul(P, x, z)
            return (d(mone * y + mone * z),
                    d(one * x + qa * y),
                    d(qb * one_t + one * xz + nc * z))
    elif sys_ is System.AIZAWA:
        nbe, nde, de, ga, al = q(-p["beta"]), q(-p["delta"]), q(p["delta"]), q(p["gamma"]), \
            q(p["alpha"])
        third, mone, nep, ze = q(-1.0 / 3.0), q(-1.0), q(-p["eps"]), q(p["zeta"])

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            xx, yy, zz = mul(S, x, x), mul(S, y, y), mul(S, z, z)
            xxx = mul(S, xx, x)
            xz, yz = mul(P, x, z), mul(P, y, z)
            x2, y2, z3 = mul(P, x, x), mul(P, y, y), mul(P, zz, z)
            x2z, y2z, x3z = mul(P, xx, z), mul(P, yy, z), mul(P, xxx, z)
            return (d(one * xz + nbe * x + nde * y),
                    d(de * x + one * yz + nbe * y),
                    d(ga * one_t + al * z + third * z3 + mone * x2 + mone * y2
                      + nep * x2z + nep * y2z + ze * x3z))
    elif sys_ is System.NOSE_HOOVER:
        mone, nal = q(-1.0), q(-p["alpha"])

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            yz = mul(P, y, z)
            y2 = mul(P, y, y)
            return (d(one * y),
                    d(mone * x + mone * yz),
                    d(one * y2 + nal * one_t))
    elif sys_ is System.SPROTT_C:
        mone, na = q(-1.0), q(-p["a"])

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            yz = mul(P, y, z)
            x2 = mul(P, x, x)
            return (d(one * yz),
                    d(one * x + mone * y),
                    d(one * one_t + na * x2))
    else:
        al, m0, m1 = p["alpha"], p["m0"], p["m1"]
        qal, cx, cchi = q(al), q(-al * (1.0 + m1)), q(-al * (m0 - m1) / 2.0)
        mone, nbe, nga = q(-1.0), q(-p["beta"]), q(-p["gamma"])

        def f(sx, sy, sz):
            x, y, z = op(sx), op(sy), op(sz)
            chi = abs(x + one_t) - abs(x - one_t)
            return (d(qal * y + cx * x + cchi * chi),
                    d(one * x + mone * y + one * z),
                    d(nbe * y + nga * z))

    h1 = q_step(config.dt)
    h2 = q_step(config.dt / 2)
    h6 = q_step(config.dt / 6)
    x0 = code * 2 ** 22
    st = (x0, Y0_COEF * code * 2 ** 6, -x0)
    out = []
    for i in range(config.n_steps + 1):
        if i % config.stride == 0:
            n = config.step_shifts[i // config.stride]
            out.append([rs(op(c), n) if n else op(c) for c in st])
        if i == config.n_steps:
            break
        k1 = f(*st)
        k2 = f(*(sat(STATE, a + rs(h2 * b, 10)) for a, b in zip(st, k1)))
        k3 = f(*(sat(STATE, a + rs(h2 * b, 10)) for a, b in zip(st, k2)))
        k4 = f(*(sat(STATE, a + rs(h1 * b, 10)) for a, b in zip(st, k3)))
        st = tuple(sat(STATE, a + rs(h6 * (b1 + 2 * b2 + 2 * b3 + b4), 10))
                   for a, b1, b2, b3, b4 in zip(st, k1, k2, k3, k4))
    return out, count[0]


def q_step(h: float) -> int:
    """``floor(h * 2**24 + 0.5)`` with Python floats, independent of numpy."""
    return math.floor(h * (1 << STEP.frac) + 0.5)
