"""The paper's grid on the hardware model: each input system's best window and sample count.

For every window ``tmax`` and sample count ``T`` of the grid, one ``dynalign sweep
--systems all`` (the mixed oscillator at delta=-1.5, Lorenz and the six other systems at
the paper's parameters; the RK4 step the one nearest 0.01 on which every sample falls,
:func:`dynalign.hw.systems.grid_step`) into ``OUT/tTMAX_TT``; finished settings are
reused, so an interrupted run goes on where it stopped.  Then, per system, the grid
point with the best golden accuracy (what the hardware computes: golden = RTL), its
spikes, SynOps and cycles per inference and its Lyapunov sum, beside the paper's figure
3/4 best (its float protocol on MNIST).  T = 1 is not on the grid: the encoder takes T >=
2 (a single sample at t = 0 is the scaled feature itself, the direct baseline).

Prints one JSON object (``{"bench": "systems_grid", "grid": ..., "best": ...}``) and,
with ``--markdown``, the comparison table.

    python bench/systems_grid.py [--windows 2,4,8,16,32] [--samples 3,5,10,20] \\
        [--seeds 1] [--input-scale step] [--workers 2] [--out out/systems-grid] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

#: The paper's figure 3/4 best (test accuracy, tmax, T), its float protocol on MNIST.
PAPER_BEST = {"lorenz": (0.9476, 4, 20), "sprott-c": (0.9470, 32, 10),
              "aizawa": (0.9438, 8, 5), "chua": (0.9435, 8, 5), "rossler": (0.9424, 32, 3),
              "nose-hoover": (0.9391, 4, 5)}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def run_grid(args) -> dict:
    """Run (or reuse) every grid point's sweep; ``{(tmax, T): sweep summary}``."""
    out = {}
    for tmax in _ints(args.windows):
        for t in _ints(args.samples):
            folder = Path(args.out) / f"t{tmax}_T{t}"
            cmd = [sys.executable, "-m", "dynalign.sw.cli", "sweep", "--dataset", args.dataset,
                   "--deltas=-1.5", "--seeds", str(args.seeds), "--systems", "all",
                   "--baselines=", "--tmax", str(tmax), "--steps", str(t),
                   "--epochs", str(args.epochs), "--input-scale", args.input_scale,
                   "--workers", str(args.workers), "--out", str(folder)]
            t0 = time.monotonic()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            print(f"tmax {tmax} T {t}: {time.monotonic() - t0:.0f} s", file=sys.stderr,
                  flush=True)
            out[(tmax, t)] = json.loads((folder / "sweep.json").read_text())
    return out


def best_per_system(grid: dict) -> dict:
    """Per system (``kind``): the grid point of the best golden accuracy and its row."""
    best = {}
    for (tmax, t), summ in grid.items():
        for r in summ["table"]:
            b = best.get(r["kind"])
            if b is None or r["golden_accuracy"] > b["golden_accuracy"]:
                best[r["kind"]] = {**r, "tmax": tmax, "T": t}
    return best


def markdown(best: dict, grid: dict) -> str:
    rows = ["| system | best (tmax, T) | golden acc | spikes/inf | SynOps/inf | cycles/inf "
            "| Lyapunov sum | paper best acc (tmax, T) |", "|---|---|---|---|---|---|---|---|"]
    for kind, r in sorted(best.items(), key=lambda kv: -kv[1]["golden_accuracy"]):
        paper = PAPER_BEST.get(kind)
        lsum = r.get("lyapunov_sum")
        rows.append(
            f"| {kind}{' (delta=-1.5)' if kind == 'mixed' else ''} | ({r['tmax']}, {r['T']}) "
            f"| {r['golden_accuracy']:.3f} | {r['spikes_per_inference']:.1f} "
            f"| {r['synops_per_inference']:,.0f} | {r['cycles_per_inference']:,.0f} "
            f"| {'-' if lsum is None else format(lsum, '+.2f')} "
            f"| {'-' if paper is None else f'{paper[0]:.4f} ({paper[1]}, {paper[2]})'} |")
    kinds = sorted(best)
    points = sorted(grid)
    rows += ["", "Golden accuracy at every grid point:", "",
             "| tmax, T | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for p in points:
        acc = {r["kind"]: r["golden_accuracy"] for r in grid[p]["table"]}
        rows.append(f"| {p[0]}, {p[1]} | "
                    + " | ".join(f"{acc[k]:.3f}" if k in acc else "-" for k in kinds) + " |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits", choices=["digits", "mnist"])
    ap.add_argument("--windows", default="2,4,8,16,32")
    ap.add_argument("--samples", default="3,5,10,20")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--input-scale", default="step", choices=["single", "step"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="out/systems-grid")
    ap.add_argument("--markdown", action="store_true", help="also print the table")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    grid = run_grid(args)
    best = best_per_system(grid)
    report = {"bench": "systems_grid", "dataset": args.dataset, "seeds": args.seeds,
              "epochs": args.epochs, "input_scale": args.input_scale,
              "seconds": round(time.monotonic() - t0, 1),
              "best": {k: {f: r[f] for f in ("tmax", "T", "golden_accuracy",
                                             "spikes_per_inference", "synops_per_inference",
                                             "cycles_per_inference", "lyapunov_sum")}
                       for k, r in best.items()},
              "grid": {f"{p[0]},{p[1]}": {r["kind"]: r["golden_accuracy"]
                                          for r in s["table"]} for p, s in grid.items()}}
    print(json.dumps(report))
    if args.markdown:
        print(markdown(best, grid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
