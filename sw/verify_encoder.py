"""``dynalign verify encoder``: the Verilated encoder against the golden model.

Random valid configurations (the first ones pinned to delta = -1.5, delta = 10, then
one of every other input system -- Lorenz, Chen, Rossler, Aizawa, Nose-Hoover, Sprott C,
Chua; then the mixed oscillator with delta uniform in [-1.5, 10] or another system,
parameters random around the paper's), random feature codes, random idle cycles and
output backpressure; every output sample compared with ``==`` to
:class:`dynalign.hw.encoder.ref.FixedEncoder`.
One extra stall-free case (T=5, K=8) measures the cycles per feature.

Prints ``{"compared", "mismatches", "cycles_per_feature", "configs", ...}``; exits 1 on
any mismatch and describes the first one (config, code, sample index, expected, got).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from dynalign.hw.encoder.encoder import TrajectoryEncoder
from dynalign.hw.encoder.rtl_check import make_case, random_config
from dynalign.hw.formats import CODE
from dynalign.hw.systems import EncoderConfig, System
from dynalign.sim.tb_encoder_run import run_encoder_cases

__all__ = ["register", "run"]


def register(sub):
    p = sub.add_parser("encoder", help="Verilated TrajectoryEncoder vs the golden model",
                       description=__doc__)
    p.add_argument("--samples", type=int, default=500,
                   help="feature vectors (requests) to encode in all (default 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--configs", type=int, default=20,
                   help="random configurations (default 20; the first 9 cover every "
                        "system)")
    p.add_argument("--max-steps", type=int, default=16,
                   help="most RK4 steps per configuration (keeps the refills short)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _check_args(args):
    for name in ("samples", "configs", "max_steps"):
        v = getattr(args, name)
        if v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, not {v}")
    if args.configs > args.samples:
        raise ValueError(f"--configs ({args.configs}) must not exceed --samples "
                         f"({args.samples}): every configuration encodes at least one sample")


def build_cases(*, samples, configs, seed, max_steps):
    """Case list (see :func:`dynalign.hw.encoder.rtl_check.make_case`) + the timing case last."""
    rng = np.random.default_rng(seed)
    pinned = [("mixed", -1.5), ("mixed", 10.0)] + [(s.value, None) for s in System
                                                   if s is not System.MIXED]
    per = [samples // configs + (i < samples % configs) for i in range(configs)]
    cases = []
    for i in range(configs):
        system, delta = pinned[i] if i < len(pinned) else (None, None)
        cfg = random_config(rng, max_steps=max_steps, system=system, delta=delta)
        k = int(rng.integers(1, 9))
        reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=k)]
                for _ in range(per[i])]
        case = make_case(cfg, reqs)
        case.update(idle=float(rng.uniform(0, 0.5)), backpressure=float(rng.uniform(0, 0.6)),
                    seed=int(rng.integers(1 << 30)))
        cases.append(case)
    timing_cfg = EncoderConfig(system="mixed", delta=2.0, tmax=0.04, dt=0.01, samples=5)
    reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=8)]
            for _ in range(8)]
    timing = make_case(timing_cfg, reqs)
    timing.update(idle=0.0, backpressure=0.0, seed=1)
    cases.append(timing)
    return cases


def run(args) -> int:
    _check_args(args)
    cases = build_cases(samples=args.samples, configs=args.configs, seed=args.seed,
                        max_steps=args.max_steps)
    results, passed = run_encoder_cases(cases, tag=f"verify_{args.seed}", seed=args.seed)
    timing = results[-1]
    per_step = []
    for case, res in zip(cases, results):
        cfg = EncoderConfig(**case["config"])
        per_step.append(res["refill_cycles"] / (256 * cfg.n_steps))
    deltas = [c["config"]["delta"] for c in cases[:-1] if c["config"]["system"] == "mixed"]
    by_system = {}
    for case, res, cyc in zip(cases[:-1], results, per_step):
        e = by_system.setdefault(case["config"]["system"],
                                 {"configs": 0, "compared": 0, "mismatches": 0,
                                  "refill_cycles_per_code_step": []})
        e["configs"] += 1
        e["compared"] += res["compared"]
        e["mismatches"] += res["mismatches"]
        e["refill_cycles_per_code_step"].append(cyc)
    for e in by_system.values():
        c = e.pop("refill_cycles_per_code_step")
        e["refill_cycles_per_code_step"] = {"min": min(c), "max": max(c)}
    summary = {
        "compared": sum(r["compared"] for r in results),
        "mismatches": sum(r["mismatches"] for r in results),
        "cycles_per_feature": timing["stream_cycles"] / timing["features"],
        "configs": len(cases) - 1,
        "samples": sum(len(c["requests"]) for c in cases[:-1]),
        "lorenz_configs": sum(c["config"]["system"] == "lorenz" for c in cases[:-1]),
        "delta_range": [min(deltas), max(deltas)] if deltas else None,
        "saturating_configs": sum(c["expected_table_sat"] for c in cases[:-1]),
        "refill_cycles_per_code_step": {"min": min(per_step), "max": max(per_step)},
        "systems": by_system,
        "samples_per_beat": 1,
        "T_for_cycles_per_feature": 5,
        "design": {"max_T": 5, "max_features": 8, "lanes": 1,
                   "class": TrajectoryEncoder.__name__},
    }
    first = next((r["first"] for r in results if r["mismatches"]), None)
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
    if first is not None or not passed or summary["mismatches"]:
        print(f"dynalign verify encoder: first mismatch: {json.dumps(first)}", file=sys.stderr)
        return 1
    return 0
