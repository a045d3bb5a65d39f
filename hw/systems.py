"""The input dynamical systems and the encoder configuration they run under.

Two systems, both three-dimensional, started from the feature value ``v`` at
``(x, y, z) = (v, 0.2 v, -v)``:

* ``mixed`` -- the paper's mixed oscillator (Chen, arXiv 2508.10064)::

      x' = y
      y' = -alpha x - beta x^3 - delta y + gamma z
      z' = -omega x - delta z + gamma x y

  divergence ``-2 delta``: the sum of its Lyapunov exponents is ``-2 delta``
  (delta < 0 expansive, delta > 0 dissipative).

* ``lorenz``::

      x' = sigma (y - x)
      y' = x (rho - z) - y
      z' = x y - beta z

  divergence ``-(sigma + 1 + beta)``.

Every derivative is written once more as a *term programme*: a list, per component,
of ``(coefficient, term)`` pairs with terms from ``x, y, z, x3, xy, xz``.  The
fixed-point golden model and the RTL evaluate exactly that programme (one
multiply-accumulate per pair); the float reference and the naive scalar twin use the
equations above, so a wrong programme is caught by the tests.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from .formats import COEF, STEP
from .validate import check_real

__all__ = ["System", "EncoderConfig", "TERMS", "INIT", "MIXED_DEFAULTS", "LORENZ_DEFAULTS",
           "derivative_float", "jacobian_float", "lyapunov_spectrum", "lyapunov_sum_theory",
           "MODE_PRESETS"]

#: Initial state as multiples of the feature value v: (x, y, z) = (v, 0.2 v, -v).
INIT = (1.0, 0.2, -1.0)

#: The product terms a programme may use, in the order the RTL numbers them.
TERMS = ("x", "y", "z", "x3", "xy", "xz")


class System(enum.Enum):
    MIXED = "mixed"
    LORENZ = "lorenz"

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

#: The paper's named operating points of the mixed oscillator (delta values).
MODE_PRESETS = {"expansive": -1.5, "critical": 0.0, "dissipative": 2.0,
                "strongly-dissipative": 10.0}

_DEFAULTS = {System.MIXED: MIXED_DEFAULTS, System.LORENZ: LORENZ_DEFAULTS}


@dataclass(frozen=True, init=False)
class EncoderConfig:
    """A validated encoder set-up: system, its parameters, step, window and samples.

    ``samples`` (T) points are taken evenly over ``[0, tmax]`` including both ends, so
    the integration runs ``n_steps = tmax / dt`` RK4 steps and a sample is taken every
    ``stride = n_steps / (T - 1)`` steps.  Both divisions must be exact.
    """

    system: System = System.MIXED
    params: tuple = field(default=())
    tmax: float = 8.0
    dt: float = 0.01
    samples: int = 5

    def __init__(self, *, system="mixed", tmax=8.0, dt=0.01, samples=5, **params):
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
    def lyapunov_sum(self) -> float:
        return lyapunov_sum_theory(self.system, self.p)

    def real_program(self) -> tuple:
        """Per component ``(dx, dy, dz)``: ``((coefficient, term), ...)`` in real units."""
        p = self.p
        if self.system is System.MIXED:
            a, b, g, w, d = p["alpha"], p["beta"], p["gamma"], p["omega"], p["delta"]
            return (((1.0, "y"),),
                    ((-a, "x"), (-b, "x3"), (-d, "y"), (g, "z")),
                    ((-w, "x"), (-d, "z"), (g, "xy")))
        s, r, b = p["sigma"], p["rho"], p["beta"]
        return (((s, "y"), (-s, "x")),
                ((r, "x"), (-1.0, "y"), (-1.0, "xz")),
                ((1.0, "xy"), (-b, "z")))

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
                "lyapunov_sum": self.lyapunov_sum}


def derivative_float(system, p: dict, x, y, z):
    """The vector field in float64, written out from the equations (not the programme)."""
    system = System.parse(system)
    if system is System.MIXED:
        dx = y
        dy = -p["alpha"] * x - p["beta"] * x ** 3 - p["delta"] * y + p["gamma"] * z
        dz = -p["omega"] * x - p["delta"] * z + p["gamma"] * x * y
    else:
        dx = p["sigma"] * (y - x)
        dy = x * (p["rho"] - z) - y
        dz = x * y - p["beta"] * z
    return dx, dy, dz


def jacobian_float(system, p: dict, s):
    """Jacobian of the vector field at state ``s = (x, y, z)`` (3x3 float64)."""
    system = System.parse(system)
    x, y, z = s
    if system is System.MIXED:
        a, b, g, w, d = p["alpha"], p["beta"], p["gamma"], p["omega"], p["delta"]
        return np.array([[0.0, 1.0, 0.0],
                         [-a - 3 * b * x * x, -d, g],
                         [-w + g * y, g * x, -d]])
    s_, r, b = p["sigma"], p["rho"], p["beta"]
    return np.array([[-s_, s_, 0.0],
                     [r - z, -1.0, -x],
                     [y, x, -b]])


def lyapunov_sum_theory(system, p: dict) -> float:
    """The trace of the Jacobian (constant for both systems): the exponents' sum."""
    system = System.parse(system)
    if system is System.MIXED:
        return -2.0 * p["delta"] + 0.0          # + 0.0: no "-0.0" in reports
    return -(p["sigma"] + 1.0 + p["beta"])


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
