"""LIF network RTL: cycles per inference against the synaptic-work bound.

For each topology and each target spike rate (5 % and 30 %, every layer's threshold
bisected to that rate on calibration samples), random networks and random inputs run
through the Verilated ``LIFNetwork`` (no input idles, no backpressure; the cycle counter
excludes waiting for input anyway).  Every inference is also checked with ``==``.

Prints JSON: per (topology, lanes, rate) the mean cycles, the mean bound (sum over layers
and steps of ``ceil(active inputs x n_out / lanes)``), their ratio (target: <= 1.3), the
measured spike rate per layer and the mismatches.
"""

import argparse
import json

import numpy as np

from dynalign.hw.lif.rtl_check import dut_for, random_case, summarise
from dynalign.sim.tb_lif_run import run_lif_cases


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--samples", type=int, default=16, help="inferences per point")
    p.add_argument("--networks", type=int, default=2, help="random networks per point")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    points = [([21, 64, 32, 10], 8), ([48, 128, 128, 10], 8), ([48, 128, 128, 10], 4)]
    rates = (0.05, 0.3)
    out = []
    for topo, lanes in points:
        rng = np.random.default_rng(args.seed)
        dut = dut_for([topo], lanes=lanes)
        cases, tags = [], []
        for rate in rates:
            for _ in range(args.networks):
                cases.append(random_case(rng, dut, topo, samples=args.samples // args.networks,
                                         rate=rate))
                tags.append(rate)
        results, passed = run_lif_cases(dut, cases, tag="bench")
        for rate in rates:
            sel = [i for i, t in enumerate(tags) if t == rate]
            s = summarise([cases[i] for i in sel], [results[i] for i in sel])
            rates_meas = np.mean([cases[i]["spike_rate"] for i in sel], axis=0)
            out.append({"topology": topo, "lanes": lanes, "target_rate": rate,
                        "measured_rate": [round(float(r), 3) for r in rates_meas],
                        "compared": s["compared"], "mismatches": s["mismatches"],
                        "cycles_per_inference": round(s["cycles_per_inference"], 1),
                        "bound_cycles_per_inference": round(s["bound_cycles_per_inference"], 1),
                        "ratio": round(s["cycles_per_inference"]
                                       / s["bound_cycles_per_inference"], 3),
                        "synops_per_inference": round(s["synops_per_inference"], 1),
                        "passed": passed})
    print(json.dumps({"points": out, "target_ratio": 1.3}, indent=1))


if __name__ == "__main__":
    main()
