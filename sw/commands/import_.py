"""``dynalign import IN.nir --out RUN [--calib DATA] [--board B]``: a NIR graph as a run.

Takes feed-forward graphs of Affine / Linear and LIF / IF nodes (with Input, Output,
Flatten) whose input is dynalign's encoder output, quantises them to the device formats
(per-layer scales chosen on calibration data; a graph that carries dynalign's integers
keeps them) and writes a RUN that ``eval``, ``verify``, ``build`` and ``upload`` use as
they use a trained one.  ``--calib RUN0``: the dynalign run whose features and encoder
produce the graph's input (its train split calibrates, its test split scores); without
it, the ``IN.encoder.npz`` that ``dynalign export`` writes beside a graph.  Prints float
(the graph itself) and golden (the hardware) accuracy and the fraction of test samples
with the same class.  A graph the device cannot run gets one line naming the node and
the limit.  (The module is ``import_``: ``import`` is a Python keyword.)
"""

from __future__ import annotations

from ..cli import print_json
from .nir_extra import nir_flow

__all__ = ["register"]

KEYS = ("topology", "reset", "in_shift", "quantisation", "float_accuracy", "golden_accuracy",
        "float_golden_agreement", "golden_spikes_per_inference", "test_samples")


def register(sub):
    p = sub.add_parser("import", help="import a NIR graph as a run", description=__doc__)
    p.add_argument("nir", metavar="IN.nir", help="the NIR graph")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory to write")
    p.add_argument("--calib", metavar="DATA", help="dynalign run directory whose features "
                   "and encoder give the graph's input (default: IN.encoder.npz)")
    p.add_argument("--board", help="refuse a network larger than this board holds "
                   "(icebreaker, ulx3s)")
    p.add_argument("--finetune", type=int, default=0, metavar="EPOCHS",
                   help="quantisation-aware fine-tuning epochs after quantising (default 0)")
    p.add_argument("--reset", choices=("subtract", "zero"),
                   help="every layer's reset (default: as the graph says; NIR resets to "
                        "zero, snnTorch's exporter does not record its default subtract)")
    p.add_argument("--dt", type=float, help="Euler step of the LIF nodes (default: the "
                   "graph's dynalign metadata, else 1e-4, snnTorch's)")
    p.add_argument("--requantise", action="store_true", help="quantise on the calibration "
                   "data even when the graph carries dynalign integers")
    p.add_argument("--seed", type=int, default=0, help="fine-tuning seed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.finetune < 0:
        raise ValueError(f"--finetune must be >= 0, not {args.finetune}")
    flow = nir_flow()
    res = flow.import_graph(args.nir, args.out, calib=args.calib, board=args.board,
                            finetune=args.finetune, reset=args.reset, dt=args.dt,
                            requantise=args.requantise, seed=args.seed)
    if args.json:
        print_json(res)
    else:
        for k in KEYS:
            print(f"{k:28s} {res[k]}")
    return 0
