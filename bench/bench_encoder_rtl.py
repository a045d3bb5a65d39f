"""Encoder RTL timing from Verilator: cycles per refill (parameter change) and per feature.

    python bench/bench_encoder_rtl.py [--steps 8 16] [--full]

For each system (mixed at delta=-1.5 and 10, Lorenz, Chen (the paper's parameters and
the textbook ones), Rossler, Aizawa, Nose-Hoover, Sprott C, Chua) the refill is simulated at the
given numbers of RK4 steps (dt=0.01, T=5); refill cycles are linear in the steps,
``256 * (n_steps * per_step + per_code)``, so the two points give the cycles of the
paper's window (tmax=8, 800 steps), printed as ``refill_cycles_paper_fit``.  ``--full``
also simulates that window directly (~35M cycles per configuration, minutes).
Cycles per feature: a stall-free stream of 8 requests of 8 codes at T=5.
Prints one JSON object.
"""

import argparse
import json

import numpy as np

from dynalign.hw.encoder.microcode import Kind, microprogram
from dynalign.hw.encoder.rtl_check import make_case
from dynalign.hw.formats import CODE
from dynalign.hw.systems import CHEN_TEXTBOOK, EncoderConfig, System
from dynalign.sim.tb_encoder_run import run_encoder_cases

SYSTEMS = {"mixed_expansive": {"system": "mixed", "delta": -1.5},
           "mixed_dissipative": {"system": "mixed", "delta": 10.0},
           "lorenz": {"system": "lorenz"},
           "chen_textbook": {"system": "chen", **CHEN_TEXTBOOK}}
SYSTEMS.update({s.value: {"system": s.value} for s in System
                if s not in (System.MIXED, System.LORENZ)})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs=2, default=[8, 16])
    p.add_argument("--full", action="store_true")
    p.add_argument("--clock-mhz", type=float, nargs="*", default=[30.0, 80.0],
                   help="clock rates for the seconds-per-refill figures")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    cases, keys = [], []
    for name, params in SYSTEMS.items():
        for n in args.steps + ([800] if args.full else []):
            cfg = EncoderConfig(**params, tmax=round(n * 0.01, 10), dt=0.01, samples=5)
            cases.append(make_case(cfg, [[1, -1]]))
            keys.append((name, n))
    reqs = [[int(c) for c in rng.integers(CODE.min_int, CODE.max_int + 1, size=8)]
            for _ in range(8)]
    timing = make_case(EncoderConfig(system="mixed", delta=2.0, tmax=0.04, dt=0.01, samples=5),
                       reqs)
    cases.append(timing)
    results, passed = run_encoder_cases(cases, tag="bench")
    out = {"passed": passed, "mismatches": sum(r["mismatches"] for r in results),
           "cycles_per_feature_T5": results[-1]["stream_cycles"] / results[-1]["features"],
           "codes": 1 << CODE.width, "systems": {}}
    (a, b) = args.steps
    for name in SYSTEMS:
        got = {n: r["refill_cycles"] for (k, n), r in zip(keys, results) if k == name}
        per_step = (got[b] - got[a]) / ((b - a) * (1 << CODE.width))
        per_code = got[a] / (1 << CODE.width) - a * per_step
        fit = round((1 << CODE.width) * (800 * per_step + per_code))
        multiplies = sum(u.kind is not Kind.OPS
                         for u in microprogram(SYSTEMS[name]["system"])[1:])
        entry = {"refill_cycles": got, "cycles_per_rk4_step": per_step,
                 "multiplies_per_rk4_step": multiplies,
                 "cycles_per_code_overhead": per_code, "refill_cycles_paper_fit": fit,
                 "refill_seconds_paper": {f"{f:g}MHz": fit / (f * 1e6) for f in args.clock_mhz}}
        if args.full:
            entry["refill_cycles_paper_measured"] = got[800]
        out["systems"][name] = entry
    print(json.dumps(out))


if __name__ == "__main__":
    main()
