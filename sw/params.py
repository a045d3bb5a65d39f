"""Command-line options shared by the commands that take an encoder configuration."""

from __future__ import annotations

from dynalign.hw.systems import MODE_PRESETS, EncoderConfig, System

__all__ = ["add_system_args", "config_from_args", "parse_floats"]


def parse_floats(text: str, *, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated numbers, not {text!r}") from None
    if not values:
        raise ValueError(f"{what} is empty")
    return values


def add_system_args(p, *, window: bool = True) -> None:
    """``--system`` and the parameters of both systems (defaults: the paper's)."""
    g = p.add_argument_group("input dynamical system")
    g.add_argument("--system", default="mixed", choices=[s.value for s in System],
                   help="mixed oscillator (paper) or Lorenz (default: mixed)")
    g.add_argument("--mode", choices=sorted(MODE_PRESETS),
                   help="paper preset for delta: expansive=-1.5, critical=0, "
                        "dissipative=2, strongly-dissipative=10")
    g.add_argument("--delta", type=float, help="mixed: damping delta (default 0)")
    g.add_argument("--alpha", type=float, help="mixed: alpha (default 2)")
    g.add_argument("--beta", type=float, help="mixed: beta (default 0.1)")
    g.add_argument("--gamma", type=float, help="mixed: gamma (default 0.1)")
    g.add_argument("--omega", type=float, help="mixed: omega (default 1)")
    g.add_argument("--sigma", type=float, help="Lorenz: sigma (default 10)")
    g.add_argument("--rho", type=float, help="Lorenz: rho (default 28)")
    g.add_argument("--lorenz-beta", type=float, help="Lorenz: beta (default 8/3)")
    if window:
        g.add_argument("--tmax", type=float, default=8.0, help="time window (default 8)")
        g.add_argument("--dt", type=float, default=0.01, help="RK4 step h (default 0.01)")
        g.add_argument("--steps", type=int, default=5,
                       help="T, samples over [0, tmax] including both ends (default 5)")


def system_params(args) -> dict:
    """The parameter dict for ``args.system`` (only options the user gave)."""
    if args.system == "mixed":
        for name in ("sigma", "rho", "lorenz_beta"):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name.replace('_', '-')} applies to --system lorenz")
        if args.mode is not None and args.delta is not None:
            raise ValueError("give --mode or --delta, not both")
        delta = MODE_PRESETS[args.mode] if args.mode is not None else args.delta
        return {"alpha": args.alpha, "beta": args.beta, "gamma": args.gamma,
                "omega": args.omega, "delta": delta}
    for name in ("alpha", "beta", "gamma", "omega", "delta", "mode"):
        if getattr(args, name) is not None:
            raise ValueError(f"--{name} applies to --system mixed")
    return {"sigma": args.sigma, "rho": args.rho, "beta": args.lorenz_beta}


def config_from_args(args, **overrides) -> EncoderConfig:
    params = system_params(args)
    params.update(overrides)
    return EncoderConfig(system=args.system, tmax=args.tmax, dt=args.dt,
                         samples=args.steps, **params)
