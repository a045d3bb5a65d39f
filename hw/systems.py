"""The input dynamical systems and the encoder configuration they run under.

Eight three-dimensional systems, all started from the feature value ``v`` at
``(x, y, z) = (v, 0.2 v, -v)`` and all integrated with RK4 (the paper integrates some
with forward Euler; dynalign uses RK4 for every one):

* ``mixed`` -- the paper's mixed oscillator (Chen, arXiv 2508.10064)::

      x' = y
      y' = -alpha x - beta x^3 - delta y + gamma z
      z' = -omega x - delta z + gamma x y

  divergence ``-2 delta`` (delta < 0 expansive, delta > 0 dissipative).
* ``lorenz``: ``x' = sigma (y - x)``, ``y' = x (rho - z) - y``, ``z' = x y - beta z``;
  divergence ``-(sigma + 1 + beta)``.
* ``chen``: ``x' = a (y - x)``, ``y' = (c - a) x - x z + c y``, ``z' = x y - b z``;
  the paper's code uses a=60, b=2.667, c=97 (the default), the textbook Chen a=35, b=3,
  c=28 (:data:`CHEN_TEXTBOOK`); divergence ``c - a - b``.
* ``rossler``: ``x' = -y - z``, ``y' = x + a y``, ``z' = b + z (x - c)``; a=b=0.2, c=5.7.
* ``aizawa``: ``x' = (z - beta) x - delta y``, ``y' = delta x + (z - beta) y``,
  ``z' = gamma + alpha z - z^3/3 - (x^2 + y^2)(1 + eps z) + zeta z x^3``;
  alpha=0.95, beta=0.7, gamma=0.6, delta=3.5, eps=0.25, zeta=0.1.
* ``nose-hoover``: ``x' = y``, ``y' = -x - y z``, ``z' = y^2 - alpha``; alpha=1.
* ``sprott-c``: ``x' = y z``, ``y' = x - y``, ``z' = 1 - a x^2``; a=3; divergence -1.
* ``chua``: ``x' = alpha (y - x - h(x))``, ``y' = x - y + z``, ``z' = -beta y - gamma z``,
  ``h(x) = m1 x + (m0 - m1)(|x + 1| - |x - 1|)/2``; alpha=15.6, beta=28.58, gamma=0,
  m0=-1.143, m1=-0.714.

Every derivative is written once more as a *term programme*: a list, per component,
of ``(coefficient, term)`` pairs with terms from :data:`TERMS` -- the constant ``1``,
monomials of x, y, z up to degree four, and Chua's ``chi = |x + 1| - |x - 1|``.  The
fixed-point golden model and the RTL evaluate exactly that programme (one
multiply-accumulate per pair); the float reference and the naive scalar twin use the
equations above, so a wrong programme is caught by the tests.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from .formats import COEF, STEP, STEP_SHIFT_MAX, STEP_SHIFT_SLOTS
from .validate import check_real

__all__ = ["System", "EncoderConfig", "TERMS", "TERM_FACTORS", "INIT", "MIXED_DEFAULTS",
           "LORENZ_DEFAULTS", "DEFAULTS", "CHEN_TEXTBOOK", "derivative_float",
           "jacobian_float", "divergence_float", "check_step_shifts", "lyapunov_spectrum",
           "lyapunov_sum_theory",
           "MODE_PRESETS"]

#: Initial state as multiples of the feature value v: (x, y, z) = (v, 0.2 v, -v).
INIT = (1.0, 0.2, -1.0)

#: The terms a programme may use, in the order the image numbers them (append only: the
#: first six are those of image version 1).  ``1`` is the constant, ``chi`` is
#: ``|x + 1| - |x - 1|``, every other name is a monomial (its factors in
#: :data:`TERM_FACTORS`).
TERMS = ("x", "y", "z", "x3", "xy", "xz", "1", "chi", "yz", "x2", "y2", "z3", "x2z", "y2z",
         "x3z")

#: Each monomial's factors in the order the fixed-point models multiply them: the
#: product of the first ``i`` factors (``i >= 2``) is an intermediate saturated to the
#: SAMPLE format, the product of all of them the term, saturated to the PRODUCT format
#: (see :mod:`dynalign.hw.encoder.ref`).  A degree-one term is the operand itself.
TERM_FACTORS = {"x": "x", "y": "y", "z": "z", "x3": "xxx", "xy": "xy", "xz": "xz",
                "yz": "yz", "x2": "xx", "y2": "yy", "z3": "zzz", "x2z": "xxz", "y2z": "yyz",
                "x3z": "xxxz"}


class System(enum.Enum):
    MIXED = "mixed"
    LORENZ = "lorenz"
    CHEN = "chen"
    ROSSLER = "rossler"
    AIZAWA = "aizawa"
    NOSE_HOOVER = "nose-hoover"
    SPROTT_C = "sprott-c"
    CHUA = "chua"

    @classmethod
    def parse(cls, value) -> System:
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown system {value!r} (choose from {choices})") from None


MIXED_DEFAULTS = {"alpha": 2.0, "beta": 0.1, "gamma": 0.1, "omega": 1.0, "delta": 0.0}
LORENZ_DEFAULTS = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
CHEN_DEFAULTS = {"a": 60.0, "b": 2.667, "c": 97.0}
#: The textbook Chen attractor's parameters (the default is the paper's code).
CHEN_TEXTBOOK = {"a": 35.0, "b": 3.0, "c": 28.0}
ROSSLER_DEFAULTS = {"a": 0.2, "b": 0.2, "c": 5.7}
AIZAWA_DEFAULTS = {"alpha": 0.95, "beta": 0.7, "gamma": 0.6, "delta": 3.5, "eps": 0.25,
                   "zeta": 0.1}
NOSE_HOOVER_DEFAULTS = {"alpha": 1.0}
SPROTT_C_DEFAULTS = {"a": 3.0}
CHUA_DEFAULTS = {"alpha": 15.6, "beta": 28.58, "gamma": 0.0, "m0": -1.143, "m1": -0.714}

#: The paper's grid (figures 3 and 4): windows tmax and sample counts T.
PAPER_WINDOWS = (2.0, 4.0, 8.0, 16.0, 32.0)
PAPER_SAMPLES = (1, 3, 5, 10, 20)


def grid_step(tmax: float, samples: int, *, target: float = 0.01) -> float:
    """The RK4 step nearest ``target`` on which every one of ``samples`` (T) points,
    evenly spaced over ``[0, tmax]`` including both ends, falls on an integration step:
    ``tmax / (m (T - 1))`` with ``m`` steps per sample, ``m`` the whole number whose step
    is nearest ``target`` (the paper instead integrates at 0.01 and interpolates
    linearly).  ``target`` itself when it already fits (e.g. tmax=8, T=5: 0.01); for
    T = 1 (the sample at t = 0 only) ``target`` (no step is taken for the sample).
    Over the paper's grid the step differs from 0.01 only for T = 10 (0.010101 at tmax
    2 and 4, 0.009988 from 8 on) and T = 20 (0.009569 at tmax 2, 0.010025 from 4 on)."""
    check_real("tmax", tmax)
    check_real("target", target)
    if not (tmax > 0 and target > 0):
        raise ValueError(f"tmax and the target step must be positive, not {tmax!r}, "
                         f"{target!r}")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"samples (T) must be a positive integer, not {samples!r}")
    if samples == 1:
        return float(target)
    n = round(tmax / target)
    if abs(n * target - tmax) <= 1e-9 * max(1.0, tmax) and n % (samples - 1) == 0:
        return float(target)
    per = tmax / (samples - 1)                   # time between two samples
    m = min((max(1, math.floor(per / target)), math.ceil(per / target)),
            key=lambda k: (abs(per / k - target), k))
    return per / m


#: The paper's named operating points of the mixed oscillator (delta values).
MODE_PRESETS = {"expansive": -1.5, "critical": 0.0, "dissipative": 2.0,
                "strongly-dissipative": 10.0}

#: Each system's parameters and their defaults (the paper's).
DEFAULTS = {System.MIXED: MIXED_DEFAULTS, System.LORENZ: LORENZ_DEFAULTS,
            System.CHEN: CHEN_DEFAULTS, System.ROSSLER: ROSSLER_DEFAULTS,
            System.AIZAWA: AIZAWA_DEFAULTS, System.NOSE_HOOVER: NOSE_HOOVER_DEFAULTS,
            System.SPROTT_C: SPROTT_C_DEFAULTS, System.CHUA: CHUA_DEFAULTS}
_DEFAULTS = DEFAULTS


def check_step_shifts(step_shifts, samples: int) -> tuple:
    """``step_shifts`` validated for ``samples`` (T) samples: a tuple of T integers in
    ``0..STEP_SHIFT_MAX`` (``None``: all zeros); any non-zero shift needs T at most
    ``STEP_SHIFT_SLOTS``."""
    if step_shifts is None:
        return (0,) * samples
    if isinstance(step_shifts, (str, bytes)) or not hasattr(step_shifts, "__len__"):
        raise ValueError(f"step_shifts must be a sequence of {samples} integers, "
                         f"not {step_shifts!r}")
    out = []
    for t, v in enumerate(step_shifts):
        if isinstance(v, np.integer):
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= STEP_SHIFT_MAX:
            raise ValueError(f"step shift of sample {t} must be an integer in "
                             f"0..{STEP_SHIFT_MAX}, not {v!r}")
        out.append(v)
    if len(out) != samples:
        raise ValueError(f"step_shifts has {len(out)} entries; the encoder takes "
                         f"T={samples} samples")
    if any(out) and samples > STEP_SHIFT_SLOTS:
        raise ValueError(f"per-step input shifts hold at most {STEP_SHIFT_SLOTS} samples, "
                         f"not T={samples}")
    return tuple(out)


@dataclass(frozen=True, init=False)
class EncoderConfig:
    """A validated encoder set-up: system, its parameters, step, window and samples.

    ``samples`` (T) points are taken evenly over ``[0, tmax]`` including both ends, so
    the integration runs ``n_steps = tmax / dt`` RK4 steps and a sample is taken every
    ``stride = n_steps / (T - 1)`` steps.  Both divisions must be exact.

    ``step_shifts`` (issue 18): ``T`` shifts in ``0..STEP_SHIFT_MAX``, or ``None`` for all
    zeros; sample ``t`` of every trajectory leaves the encoder as
    ``round_shift(sample, step_shifts[t])`` -- an input scale per time step, chosen at
    training time, so that a trajectory whose range grows over the window keeps its
    early samples.  The integration itself is unchanged.  A model with any non-zero shift
    has at most ``STEP_SHIFT_SLOTS`` samples (the image's encoder block holds that many).
    """

    system: System = System.MIXED
    params: tuple = field(default=())
    tmax: float = 8.0
    dt: float = 0.01
    samples: int = 5
    step_shifts: tuple = ()

    def __init__(self, *, system="mixed", tmax=8.0, dt=0.01, samples=5, step_shifts=None,
                 **params):
        system = System.parse(system)
        allowed = _DEFAULTS[system]
        unknown = set(params) - set(allowed)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for system "
                             f"{system.value!r} (allowed: {sorted(allowed)})")
        merged = dict(allowed)
        merged.update({k: v for k, v in params.items() if v is not None})
        for name, value in merged.items():
            check_real(name, value)
        for name, value in (("tmax", tmax), ("dt", dt)):
            check_real(name, value)
        if dt <= 0:
            raise ValueError(f"dt must be positive, not {dt!r}")
        if dt >= 1:
            raise ValueError(f"dt must be below 1 (step format {STEP}), not {dt!r}")
        if tmax <= 0:
            raise ValueError(f"tmax must be positive, not {tmax!r}")
        n_steps = round(tmax / dt)
        if abs(n_steps * dt - tmax) > 1e-9 * max(1.0, abs(tmax)):
            raise ValueError(f"tmax={tmax!r} is not a whole number of steps of dt={dt!r}")
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 2:
            raise ValueError(f"samples (T) must be an integer >= 2, not {samples!r}")
        if n_steps % (samples - 1):
            raise ValueError(
                f"T={samples} samples evenly spaced over {n_steps} steps do not fall on "
                f"integration steps ({n_steps} is not a multiple of {samples - 1})")
        object.__setattr__(self, "system", system)
        object.__setattr__(self, "params", tuple(sorted(merged.items())))
        object.__setattr__(self, "tmax", float(tmax))
        object.__setattr__(self, "dt", float(dt))
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "step_shifts", check_step_shifts(step_shifts, samples))
        # Quantise now so that out-of-range parameters fail at construction time.
        self.coef_program()
        self.step_constants()

    # -- derived quantities -----------------------------------------------------------
    @property
    def p(self) -> dict:
        return dict(self.params)

    @property
    def n_steps(self) -> int:
        return round(self.tmax / self.dt)

    @property
    def stride(self) -> int:
        return self.n_steps // (self.samples - 1)

    @property
    def sample_steps(self) -> list[int]:
        return [i * self.stride for i in range(self.samples)]

    @property
    def lyapunov_sum(self) -> float | None:
        return lyapunov_sum_theory(self.system, self.p)

    def real_program(self) -> tuple:
        """Per component ``(dx, dy, dz)``: ``((coefficient, term), ...)`` in real units."""
        return real_program(self.system, self.p)

    def coef_program(self) -> tuple:
        """:meth:`real_program` with each coefficient quantised to :data:`COEF`
        (``floor(c * 2**16 + 0.5)`` of the signed value; out of range raises)."""
        return tuple(tuple((COEF.quantise_scalar(c, what=f"coefficient {c!r} of {t}"), t)
                           for c, t in comp) for comp in self.real_program())

    def step_constants(self) -> tuple[int, int, int]:
        """``(h, h/2, h/6)`` quantised to :data:`STEP`; each must be at least one lsb."""
        consts = tuple(STEP.quantise_scalar(v, what="step") for v in
                       (self.dt, self.dt / 2, self.dt / 6))
        if min(consts) < 1:
            raise ValueError(f"dt={self.dt!r} is below the resolution of {STEP}")
        return consts

    def describe(self) -> dict:
        return {"system": self.system.value, **self.p, "tmax": self.tmax, "dt": self.dt,
                "samples": self.samples, "n_steps": self.n_steps, "stride": self.stride,
                "step_shifts": list(self.step_shifts), "lyapunov_sum": self.lyapunov_sum}

    @property
    def has_step_shifts(self) -> bool:
        """Whether any sample leaves the encoder shifted."""
        return any(self.step_shifts)

    def with_step_shifts(self, step_shifts=None) -> EncoderConfig:
        """The same set-up with ``step_shifts`` (``None``: none, the unshifted encoder)."""
        return EncoderConfig(system=self.system, tmax=self.tmax, dt=self.dt,
                             samples=self.samples, step_shifts=step_shifts, **self.p)


def real_program(system, p: dict) -> tuple:
    """The term programme of ``system`` with parameters ``p`` (see the module docstring):
    per component ``((coefficient, term), ...)``, at most ``2**ACC_GUARD`` pairs."""
    system = System.parse(system)
    if system is System.MIXED:
        a, b, g, w, d = p["alpha"], p["beta"], p["gamma"], p["omega"], p["delta"]
        return (((1.0, "y"),),
                ((-a, "x"), (-b, "x3"), (-d, "y"), (g, "z")),
                ((-w, "x"), (-d, "z"), (g, "xy")))
    if system is System.LORENZ:
        s, r, b = p["sigma"], p["rho"], p["beta"]
        return (((s, "y"), (-s, "x")),
                ((r, "x"), (-1.0, "y"), (-1.0, "xz")),
                ((1.0, "xy"), (-b, "z")))
    if system is System.CHEN:
        a, b, c = p["a"], p["b"], p["c"]
        return (((a, "y"), (-a, "x")),
                ((c - a, "x"), (-1.0, "xz"), (c, "y")),
                ((1.0, "xy"), (-b, "z")))
    if system is System.ROSSLER:
        a, b, c = p["a"], p["b"], p["c"]
        return (((-1.0, "y"), (-1.0, "z")),
                ((1.0, "x"), (a, "y")),
                ((b, "1"), (1.0, "xz"), (-c, "z")))
    if system is System.AIZAWA:
        al, be, ga, de, ep, ze = (p[k] for k in ("alpha", "beta", "gamma", "delta", "eps",
                                                 "zeta"))
        return (((1.0, "xz"), (-be, "x"), (-de, "y")),
                ((de, "x"), (1.0, "yz"), (-be, "y")),
                ((ga, "1"), (al, "z"), (-1.0 / 3.0, "z3"), (-1.0, "x2"), (-1.0, "y2"),
                 (-ep, "x2z"), (-ep, "y2z"), (ze, "x3z")))
    if system is System.NOSE_HOOVER:
        return (((1.0, "y"),),
                ((-1.0, "x"), (-1.0, "yz")),
                ((1.0, "y2"), (-p["alpha"], "1")))
    if system is System.SPROTT_C:
        return (((1.0, "yz"),),
                ((1.0, "x"), (-1.0, "y")),
                ((1.0, "1"), (-p["a"], "x2")))
    al, be, ga, m0, m1 = (p[k] for k in ("alpha", "beta", "gamma", "m0", "m1"))
    return (((al, "y"), (-al * (1.0 + m1), "x"), (-al * (m0 - m1) / 2.0, "chi")),
            ((1.0, "x"), (-1.0, "y"), (1.0, "z")),
            ((-be, "y"), (-ga, "z")))


def program_shape(system) -> tuple:
    """The term names of each derivative component of ``system``'s programme (they do
    not depend on the parameters' values)."""
    system = System.parse(system)
    return tuple(tuple(t for _, t in comp) for comp in real_program(system, DEFAULTS[system]))


def _chua_h(p, x):
    return p["m1"] * x + (p["m0"] - p["m1"]) * (np.abs(x + 1.0) - np.abs(x - 1.0)) / 2.0


def derivative_float(system, p: dict, x, y, z):
    """The vector field in float64, written out from the equations (not the programme)."""
    system = System.parse(system)
    if system is System.MIXED:
        dx = y
        dy = -p["alpha"] * x - p["beta"] * x ** 3 - p["delta"] * y + p["gamma"] * z
        dz = -p["omega"] * x - p["delta"] * z + p["gamma"] * x * y
    elif system is System.LORENZ:
        dx = p["sigma"] * (y - x)
        dy = x * (p["rho"] - z) - y
        dz = x * y - p["beta"] * z
    elif system is System.CHEN:
        a, b, c = p["a"], p["b"], p["c"]
        dx = a * (y - x)
        dy = (c - a) * x - x * z + c * y
        dz = x * y - b * z
    elif system is System.ROSSLER:
        dx = -y - z
        dy = x + p["a"] * y
        dz = p["b"] + z * (x - p["c"])
    elif system is System.AIZAWA:
        dx = (z - p["beta"]) * x - p["delta"] * y
        dy = p["delta"] * x + (z - p["beta"]) * y
        dz = (p["gamma"] + p["alpha"] * z - z ** 3 / 3.0
              - (x ** 2 + y ** 2) * (1.0 + p["eps"] * z) + p["zeta"] * z * x ** 3)
    elif system is System.NOSE_HOOVER:
        dx = y
        dy = -x - y * z
        dz = y ** 2 - p["alpha"]
    elif system is System.SPROTT_C:
        dx = y * z
        dy = x - y
        dz = 1.0 - p["a"] * x ** 2
    else:
        dx = p["alpha"] * (y - x - _chua_h(p, x))
        dy = x - y + z
        dz = -p["beta"] * y - p["gamma"] * z
    return dx, dy, dz


def jacobian_float(system, p: dict, s):
    """Jacobian of the vector field at state ``s = (x, y, z)`` (3x3 float64).

    Chua's ``h`` is piecewise linear: its slope is ``m0`` for ``|x| < 1`` and ``m1``
    outside (the kinks are a set of measure zero along a trajectory)."""
    system = System.parse(system)
    x, y, z = s
    if system is System.MIXED:
        a, b, g, w, d = p["alpha"], p["beta"], p["gamma"], p["omega"], p["delta"]
        return np.array([[0.0, 1.0, 0.0],
                         [-a - 3 * b * x * x, -d, g],
                         [-w + g * y, g * x, -d]])
    if system is System.LORENZ:
        s_, r, b = p["sigma"], p["rho"], p["beta"]
        return np.array([[-s_, s_, 0.0],
                         [r - z, -1.0, -x],
                         [y, x, -b]])
    if system is System.CHEN:
        a, b, c = p["a"], p["b"], p["c"]
        return np.array([[-a, a, 0.0],
                         [c - a - z, c, -x],
                         [y, x, -b]])
    if system is System.ROSSLER:
        return np.array([[0.0, -1.0, -1.0],
                         [1.0, p["a"], 0.0],
                         [z, 0.0, x - p["c"]]])
    if system is System.AIZAWA:
        al, be, ga, de, ep, ze = (p[k] for k in ("alpha", "beta", "gamma", "delta", "eps",
                                                 "zeta"))
        r2 = x * x + y * y
        return np.array([[z - be, -de, x],
                         [de, z - be, y],
                         [-2 * x * (1 + ep * z) + 3 * ze * z * x * x,
                          -2 * y * (1 + ep * z),
                          al - z * z - ep * r2 + ze * x ** 3]])
    if system is System.NOSE_HOOVER:
        return np.array([[0.0, 1.0, 0.0],
                         [-1.0, -z, -y],
                         [0.0, 2 * y, 0.0]])
    if system is System.SPROTT_C:
        return np.array([[0.0, z, y],
                         [1.0, -1.0, 0.0],
                         [-2 * p["a"] * x, 0.0, 0.0]])
    al, be, ga, m0, m1 = (p[k] for k in ("alpha", "beta", "gamma", "m0", "m1"))
    slope = m0 if abs(x) < 1.0 else m1
    return np.array([[-al * (1.0 + slope), al, 0.0],
                     [1.0, -1.0, 1.0],
                     [0.0, -be, -ga]])


def divergence_float(system, p: dict, s) -> float:
    """The trace of the Jacobian at ``s``: the local rate of phase-volume change."""
    return float(np.trace(jacobian_float(system, p, s)))


def lyapunov_sum_theory(system, p: dict) -> float | None:
    """The trace of the Jacobian where it is constant (then the exponents' sum):
    mixed ``-2 delta``, Lorenz ``-(sigma + 1 + beta)``, Chen ``c - a - b``, Sprott C
    ``-1``; ``None`` for the systems whose divergence depends on the state (Rössler
    ``a + x - c``, Aizawa, Nosé--Hoover ``-z``, Chua)."""
    system = System.parse(system)
    if system is System.MIXED:
        return -2.0 * p["delta"] + 0.0          # + 0.0: no "-0.0" in reports
    if system is System.LORENZ:
        return -(p["sigma"] + 1.0 + p["beta"])
    if system is System.CHEN:
        return p["c"] - p["a"] - p["b"]
    if system is System.SPROTT_C:
        return -1.0
    return None


def lyapunov_spectrum(system, p: dict, *, v: float = 1.0, dt: float = 0.01,
                      t_total: float = 8.0, transient: float = 0.0) -> np.ndarray:
    """Finite-time Lyapunov exponents by QR re-orthonormalisation (Benettin's method).

    The state and a 3x3 tangent basis are integrated together with RK4 (the tangent
    obeys ``Q' = J(s) Q``); after every step ``Q`` is re-orthonormalised by a QR
    decomposition and ``log|diag R|`` accumulated.  Exponents are the accumulated sums
    divided by the time after the transient, sorted in descending order.

    The default window is the encoding window (t in [0, 8], started from v=1): the
    expansive mixed oscillator diverges, so asymptotic exponents do not exist for it.
    """
    system = System.parse(system)
    for name, value in (("dt", dt), ("t_total", t_total)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    if not math.isfinite(transient) or transient < 0 or transient >= t_total:
        raise ValueError(f"transient must be in [0, t_total), not {transient!r}")
    if not math.isfinite(v):
        raise ValueError(f"v must be finite, not {v!r}")

    def flow(st, q):
        d = np.array(derivative_float(system, p, *st))
        return d, jacobian_float(system, p, st) @ q

    s = np.array(INIT) * v
    q = np.eye(3)
    n = round(t_total / dt)
    n_skip = round(transient / dt)
    sums = np.zeros(3)
    for i in range(n):
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                k1s, k1q = flow(s, q)
                k2s, k2q = flow(s + dt / 2 * k1s, q + dt / 2 * k1q)
                k3s, k3q = flow(s + dt / 2 * k2s, q + dt / 2 * k2q)
                k4s, k4q = flow(s + dt * k3s, q + dt * k3q)
                s = s + dt / 6 * (k1s + 2 * k2s + 2 * k3s + k4s)
                q = q + dt / 6 * (k1q + 2 * k2q + 2 * k3q + k4q)
                q, r = np.linalg.qr(q)
                logs = np.log(np.abs(np.diag(r)))
        except (FloatingPointError, np.linalg.LinAlgError):
            logs = np.array([np.nan])
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(logs))):
            raise ValueError(f"trajectory diverged at t={(i + 1) * dt:g}; "
                             "use a shorter t_total")
        if i >= n_skip:
            sums += logs
    return np.sort(sums / ((n - n_skip) * dt))[::-1]


def mean_divergence(system, p: dict, *, v: float = 1.0, dt: float = 0.01,
                    t_total: float = 8.0, transient: float = 0.0) -> float:
    """The time average of the divergence along the RK4 trajectory from ``v``: the sum
    of the finite-time Lyapunov exponents (Liouville: ``d log det Q / dt = trace J``),
    for the systems whose divergence is not constant.  Per step the trace is averaged
    over the four RK4 stage states with weights 1, 2, 2, 1 (/6)."""
    system = System.parse(system)
    s = np.array(INIT) * v
    n, n_skip = round(t_total / dt), round(transient / dt)
    total = 0.0

    def f(st):
        return np.array(derivative_float(system, p, *st))

    for i in range(n):
        k1 = f(s)
        s2 = s + dt / 2 * k1
        k2 = f(s2)
        s3 = s + dt / 2 * k2
        k3 = f(s3)
        s4 = s + dt * k3
        k4 = f(s4)
        if i >= n_skip:
            total += (divergence_float(system, p, s) + 2 * divergence_float(system, p, s2)
                      + 2 * divergence_float(system, p, s3)
                      + divergence_float(system, p, s4)) / 6
        s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not np.all(np.isfinite(s)):
            raise ValueError(f"trajectory diverged at t={(i + 1) * dt:g}; "
                             "use a shorter t_total")
    return total / (n - n_skip)
