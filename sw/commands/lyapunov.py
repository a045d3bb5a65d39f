"""``dynalign lyapunov``: Lyapunov spectrum of the input system (QR method)."""

from __future__ import annotations

from dynalign.hw.systems import lyapunov_spectrum, mean_divergence

from ..cli import print_json
from ..params import add_system_args, config_from_args


def register(sub):
    p = sub.add_parser("lyapunov", help="Lyapunov exponents and their sum",
                       description="Finite-time Lyapunov exponents by QR "
                                   "re-orthonormalisation along the trajectory from "
                                   "(v, 0.2v, -v), with the theoretical sum (the "
                                   "divergence, where it is constant; else its average "
                                   "along the same trajectory) beside them.")
    add_system_args(p, window=False)
    p.add_argument("--v", type=float, default=1.0, help="initial feature value (default 1)")
    p.add_argument("--dt", type=float, default=0.01, help="RK4 step (default 0.01)")
    p.add_argument("--time", type=float, default=8.0,
                   help="integration time (default 8, the encoding window)")
    p.add_argument("--transient", type=float, default=0.0,
                   help="time discarded before averaging (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    args.tmax, args.steps = 1.0, 2        # the window is not used here
    config = config_from_args(args)
    exps = lyapunov_spectrum(config.system, config.p, v=args.v, dt=args.dt,
                             t_total=args.time, transient=args.transient)
    mean_div = mean_divergence(config.system, config.p, v=args.v, dt=args.dt,
                               t_total=args.time, transient=args.transient)
    out = {"system": config.system.value, "params": config.p,
           "exponents": exps.tolist(), "sum": float(exps.sum()),
           "sum_theory": config.lyapunov_sum, "mean_divergence": mean_div,
           "time": args.time, "v": args.v}
    if args.json:
        print_json(out)
    else:
        print("exponents: " + "  ".join(f"{e:+.4f}" for e in exps))
        if out["sum_theory"] is None:
            print(f"sum: {out['sum']:+.4f}  (divergence averaged along the trajectory: "
                  f"{mean_div:+.4f}; not constant for {config.system.value})")
        else:
            print(f"sum: {out['sum']:+.4f}  (divergence: {out['sum_theory']:+.4f})")
    return 0
