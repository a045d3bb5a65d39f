"""Command-line options shared by the commands that take an encoder configuration."""

from __future__ import annotations

import argparse

from dynalign.hw.systems import DEFAULTS, MODE_PRESETS, EncoderConfig, System, grid_step

__all__ = ["add_system_args", "config_from_args", "parse_floats", "resolve_dt"]


def parse_floats(text: str, *, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated numbers, not {text!r}") from None
    if not values:
        raise ValueError(f"{what} is empty")
    return values


#: The parameter options: ``(option, parameter name, help)``; an option applies to every
#: system that has the parameter (``--lorenz-beta`` is Lorenz's beta, as ``--beta``).
_PARAM_OPTIONS = (
    ("delta", "delta", "mixed: damping delta (default 0); Aizawa: delta (3.5)"),
    ("alpha", "alpha", "mixed: alpha (2); Aizawa (0.95), Nose-Hoover (1), Chua (15.6)"),
    ("beta", "beta", "mixed: beta (0.1); Lorenz (8/3), Aizawa (0.7), Chua (28.58)"),
    ("gamma", "gamma", "mixed: gamma (0.1); Aizawa (0.6), Chua (0)"),
    ("omega", "omega", "mixed: omega (1)"),
    ("sigma", "sigma", "Lorenz: sigma (10)"),
    ("rho", "rho", "Lorenz: rho (28)"),
    ("lorenz_beta", "beta", "Lorenz: beta (8/3)"),
    ("a", "a", "Chen: a (60; textbook 35), Rossler (0.2), Sprott C (3)"),
    ("b", "b", "Chen: b (2.667; textbook 3), Rossler (0.2)"),
    ("c", "c", "Chen: c (97; textbook 28), Rossler (5.7)"),
    ("eps", "eps", "Aizawa: epsilon (0.25)"),
    ("zeta", "zeta", "Aizawa: zeta (0.1)"),
    ("m0", "m0", "Chua: inner slope m0 (-1.143)"),
    ("m1", "m1", "Chua: outer slope m1 (-0.714)"),
)


def _dt_arg(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'auto', not {text!r}") \
            from None


def resolve_dt(args) -> float:
    """``args.dt``, with ``auto`` the grid step of ``args.tmax`` and ``args.steps``."""
    if args.dt == "auto":
        return grid_step(args.tmax, args.steps)
    return args.dt


def add_system_args(p, *, window: bool = True) -> None:
    """``--system`` and the parameters of every system (defaults: the paper's)."""
    g = p.add_argument_group("input dynamical system")
    g.add_argument("--system", default="mixed", choices=[s.value for s in System],
                   help="the input system (default: mixed, the paper's mixed oscillator); "
                        "all are integrated with RK4")
    g.add_argument("--mode", choices=sorted(MODE_PRESETS),
                   help="paper preset for delta: expansive=-1.5, critical=0, "
                        "dissipative=2, strongly-dissipative=10")
    for opt, _, text in _PARAM_OPTIONS:
        g.add_argument("--" + opt.replace("_", "-"), dest=opt, type=float, help=text)
    if window:
        g.add_argument("--tmax", type=float, default=8.0, help="time window (default 8)")
        g.add_argument("--dt", type=_dt_arg, default=0.01,
                       help="RK4 step h (default 0.01); 'auto': the step nearest 0.01 on "
                            "which every sample falls")
        g.add_argument("--steps", type=int, default=5,
                       help="T, samples over [0, tmax] including both ends (default 5)")


def system_params(args) -> dict:
    """The parameter dict for ``args.system`` (only options the user gave); an option
    of a parameter the system does not have is an error naming the systems it fits."""
    system = System.parse(args.system)
    names = set(DEFAULTS[system])
    if args.mode is not None and system is not System.MIXED:
        raise ValueError("--mode applies to --system mixed")
    out = {}
    for opt, name, _ in _PARAM_OPTIONS:
        value = getattr(args, opt, None)
        if value is None:
            continue
        fits = [s.value for s in System if name in DEFAULTS[s]]
        if opt == "lorenz_beta":
            fits = ["lorenz"]
        if system.value not in fits:
            raise ValueError(f"--{opt.replace('_', '-')} applies to --system "
                             f"{', '.join(fits)}")
        if name in out:
            raise ValueError("give --beta or --lorenz-beta, not both")
        assert name in names
        out[name] = value
    if system is System.MIXED and args.mode is not None:
        if "delta" in out:
            raise ValueError("give --mode or --delta, not both")
        out["delta"] = MODE_PRESETS[args.mode]
    return out


def config_from_args(args, **overrides) -> EncoderConfig:
    params = system_params(args)
    params.update(overrides)
    return EncoderConfig(system=args.system, tmax=args.tmax, dt=resolve_dt(args),
                         samples=args.steps, **params)
