"""``dynalign verify network``: the Verilated LIF network against the golden model.

``--random``: random networks of the topology ``--layers`` (``n_in,n_1,...,n_out``),
each layer's threshold tuned to a random spike rate in [3 %, 40 %], every third network
with extreme weights, biases and thresholds (membranes saturate), random SAMPLE inputs,
random idle cycles on the sample stream and random backpressure on the class.  One
design sized for the topology serves every network (loaded through its ``cfg`` port).
Class, every per-neuron spike count, every output membrane and every counter (spikes,
synops, saturations per layer) are compared with ``==`` to ``dynalign.hw.lif.ref.ref_network``.

Prints ``{"compared", "mismatches", "cycles_per_inference", "synops_per_inference",
"lanes", "bound_cycles_per_inference", ...}`` where the bound is the mean over
inferences of the sum over layers and steps of ``ceil(active inputs x n_out / lanes)``;
exits 1 on any mismatch and describes the first one.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from dynalign.hw.lif.rtl_check import dut_for, random_case, summarise
from dynalign.sim.tb_lif_run import run_lif_cases

__all__ = ["register", "run", "parse_layers"]


def register(sub):
    p = sub.add_parser("network", help="Verilated LIF network vs the golden model",
                       description=__doc__)
    p.add_argument("--random", action="store_true", required=True,
                   help="random networks, weights and inputs (the only mode so far)")
    p.add_argument("--layers", default="21,64,32,10",
                   help="topology n_in,n_1,...,n_out (default 21,64,32,10)")
    p.add_argument("--samples", type=int, default=200,
                   help="inferences to compare in all (default 200)")
    p.add_argument("--networks", type=int, default=None,
                   help="random networks (default: one per 40 samples, at least 3)")
    p.add_argument("--steps", type=int, default=5, help="time steps T (default 5)")
    p.add_argument("--lanes", type=int, default=8,
                   help="neuron lanes of the design (power of two, default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def parse_layers(text: str) -> list[int]:
    try:
        topo = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers, not {text!r}") from None
    if len(topo) < 2 or min(topo) < 1:
        raise ValueError(f"--layers needs an input size and at least one layer, all "
                         f"positive, not {text!r}")
    return topo


def build_cases(dut, topology, *, samples, networks, steps, seed):
    rng = np.random.default_rng(seed)
    per = [samples // networks + (i < samples % networks) for i in range(networks)]
    cases = []
    for i, n in enumerate(per):
        extreme = i % 3 == 2
        cases.append(random_case(rng, dut, topology, samples=n, steps=steps,
                                 extreme=extreme,
                                 rate=None if extreme else float(rng.uniform(0.03, 0.4)),
                                 idle=float(rng.uniform(0, 0.5)),
                                 backpressure=float(rng.uniform(0, 0.6))))
    return cases


def run(args) -> int:
    topology = parse_layers(args.layers)
    for name in ("samples", "steps", "lanes"):
        v = getattr(args, name)
        if v < 1:
            raise ValueError(f"--{name} must be a positive integer, not {v}")
    networks = args.networks if args.networks is not None else max(3, args.samples // 40)
    networks = min(networks, args.samples)
    if networks < 1:
        raise ValueError(f"--networks must be a positive integer, not {networks}")
    dut = dut_for([topology], lanes=args.lanes)
    cases = build_cases(dut, topology, samples=args.samples, networks=networks,
                        steps=args.steps, seed=args.seed)
    results, passed = run_lif_cases(dut, cases, tag=f"verify_{args.seed}")
    summary = summarise(cases, results)
    if not passed and summary["mismatches"] == 0:
        summary["mismatches"] = 1
        summary["first"] = {"error": "the cocotb test failed (see build/cocotb_lif_*/test.log)"}
    out = {"compared": summary["compared"], "mismatches": summary["mismatches"],
           "cycles_per_inference": round(summary["cycles_per_inference"], 2),
           "synops_per_inference": round(summary["synops_per_inference"], 2),
           "lanes": args.lanes,
           "bound_cycles_per_inference": round(summary["bound_cycles_per_inference"], 2),
           "topology": topology, "networks": networks, "steps": args.steps,
           "seed": args.seed, "first_mismatch": summary["first"]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"compared {out['compared']} inferences of {topology} on {networks} random "
              f"networks: {out['mismatches']} mismatches; cycles/inference "
              f"{out['cycles_per_inference']} (bound {out['bound_cycles_per_inference']}, "
              f"{args.lanes} lanes)")
    if out["mismatches"]:
        print(f"first mismatch: {json.dumps(summary['first'])}", file=sys.stderr)
        return 1
    return 0
