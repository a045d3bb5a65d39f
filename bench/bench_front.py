"""Accuracy against latency on a board: trained runs placed on the board's bitstream.

For each RUN (a directory written by ``dynalign train``), the golden model's accuracy on
its test split, the MLP's on the same features, and the latency of one inference on the
board's bitstream -- ``RUN`` to class, from the whole-device cycle model at the board's
lanes, core and clock (``dynalign eval RUN --board B``, which refuses a model the board
does not hold).  The runs are ranked by latency; ``pareto`` marks those that no faster
run beats on accuracy.  ``target`` is the issue's bar for the board (iCEBreaker: Spiker+'s
MNIST 93.85 % at 780 us, beaten on both counts; ULX3S: at least 95.5 %, within 0.5
points of the MLP, at most 200 us), and each run says whether it meets it, by the mean
latency (``meets_target``) and by the slowest test inference (``meets_target_max``).

    .venv/bin/python bench/bench_front.py --board icebreaker RUN [RUN ...]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from dynalign.constraints.boards import BOARDS
from dynalign.sw.evaluate import evaluate_run

#: The bar per board: (least accuracy, most points below the MLP or None, most us).
TARGETS = {"icebreaker": {"accuracy": 0.939, "below_mlp": None, "latency_us": 780.0,
                          "what": "Spiker+ on MNIST: 93.85 % at 780 us per image"},
           "ulx3s": {"accuracy": 0.955, "below_mlp": 0.005, "latency_us": 200.0,
                     "what": "MNIST >= 95.5 %, within 0.5 points of an MLP, <= 200 us"}}


def point(run: str, board: str) -> dict:
    res = evaluate_run(run, board=board)
    return {"run": run, "topology": res["topology"], "golden_accuracy": res["golden_accuracy"],
            "mlp_accuracy": res["ann_accuracy"], "spikes_per_inference":
            res["spikes_per_inference"], "lanes": res["lanes"],
            "device_cycles_per_inference": res["device_cycles_per_inference"],
            "device_cycles_max": res["device_cycles_max"], "latency_us": res["latency_us"],
            "latency_us_max": res["latency_us_max"]}


def meets(p: dict, target: dict, latency: float) -> bool:
    ok = p["golden_accuracy"] >= target["accuracy"] and latency <= target["latency_us"]
    if target["below_mlp"] is not None and p["mlp_accuracy"] is not None:
        ok &= p["golden_accuracy"] >= p["mlp_accuracy"] - target["below_mlp"]
    return bool(ok)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    ap.add_argument("--board", choices=sorted(BOARDS), required=True)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    target = TARGETS[args.board]
    points = sorted((point(r, args.board) for r in args.runs), key=lambda p: p["latency_us"])
    best = -1.0
    for p in points:
        p["pareto"] = p["golden_accuracy"] > best
        best = max(best, p["golden_accuracy"])
        p["meets_target"] = meets(p, target, p["latency_us"])
        p["meets_target_max"] = meets(p, target, p["latency_us_max"])
    print(json.dumps({"bench": "front", "board": args.board, "target": target,
                      "points": points, "any_meets_target": any(p["meets_target"]
                                                                for p in points),
                      "seconds": round(time.monotonic() - t0, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
