"""``dynalign plot``: trajectories of the encoder for a set of deltas, as a PNG."""

from __future__ import annotations

from ..params import parse_floats
from ..plots import plot_trajectories


def register(sub):
    p = sub.add_parser("plot", help="plot trajectories for several deltas (PNG)",
                       description="Plot x(t), z(t) and the (x, z) phase portrait of the "
                                   "mixed oscillator for each delta: float64 trajectory as "
                                   "a line, fixed-point samples as markers.")
    p.add_argument("--deltas", default="-1.5,0,2,10", help="comma-separated deltas")
    p.add_argument("--values", default="0.5,1.0,-1.5", help="comma-separated feature values")
    p.add_argument("--tmax", type=float, default=8.0)
    p.add_argument("--dt", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=5, help="T samples (markers)")
    p.add_argument("--out", default="trajectories.png", help="output PNG path")
    p.set_defaults(func=run)


def run(args) -> int:
    deltas = parse_floats(args.deltas, what="--deltas")
    values = parse_floats(args.values, what="--values")
    path = plot_trajectories(deltas, values, tmax=args.tmax, dt=args.dt, steps=args.steps,
                             out=args.out)
    print(f"wrote {path}")
    return 0
