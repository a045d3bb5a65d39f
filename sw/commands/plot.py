"""``dynalign plot``: trajectories of the encoder, as a PNG: the mixed oscillator for a
set of deltas, one input system with its parameters, or several systems."""

from __future__ import annotations

from dynalign.hw.systems import EncoderConfig, System

from ..params import add_system_args, config_from_args, parse_floats, resolve_dt
from ..plots import plot_systems, plot_trajectories


def register(sub):
    p = sub.add_parser("plot", help="plot trajectories of the input systems (PNG)",
                       description="Plot x(t), z(t) and the (x, z) phase portrait: float64 "
                                   "trajectory as a line, fixed-point samples as markers. "
                                   "Default: the mixed oscillator for each --deltas; "
                                   "--system S (and its parameters): that system; "
                                   "--systems all (or a list): one row per system at the "
                                   "paper's parameters.")
    add_system_args(p)
    p.add_argument("--deltas", default="-1.5,0,2,10",
                   help="comma-separated deltas (mixed oscillator)")
    p.add_argument("--systems", help="comma-separated systems, or 'all'")
    p.add_argument("--values", default="0.5,1.0,-1.5", help="comma-separated feature values")
    p.add_argument("--out", default="trajectories.png", help="output PNG path")
    p.set_defaults(func=run)


def _systems(text: str) -> list[System]:
    if text.strip() == "all":
        return list(System)
    return [System.parse(s.strip()) for s in text.split(",") if s.strip()]


def run(args) -> int:
    values = parse_floats(args.values, what="--values")
    if args.systems:
        rows = [(s.value, EncoderConfig(system=s, tmax=args.tmax, dt=resolve_dt(args),
                                        samples=args.steps))
                for s in _systems(args.systems)]
        path = plot_systems(rows, values, out=args.out)
    elif args.system != "mixed":
        cfg = config_from_args(args)
        path = plot_systems([(f"{cfg.system.value}\n{cfg.p}", cfg)], values, out=args.out)
    else:
        deltas = parse_floats(args.deltas, what="--deltas")
        path = plot_trajectories(deltas, values, tmax=args.tmax, dt=resolve_dt(args),
                                 steps=args.steps, out=args.out)
    print(f"wrote {path}")
    return 0
