"""``dynalign eval RUN``: score a trained run on its test split.

Golden model (what the hardware computes), torch integer forward (must agree on every
sample), float network and the MLP baseline; spikes and SynOps per inference.
"""

from __future__ import annotations

from dynalign.constraints.boards import BOARDS

from ..cli import UsageError, print_json
from .nir_extra import EXTRA
from .train import add_data_args

KEYS = ("float_accuracy", "golden_accuracy", "torch_golden_agreement", "spikes_per_inference",
        "synops_per_inference", "per_layer_spikes", "ann_accuracy", "test_samples", "delta",
        "lyapunov_sum")


def register(sub):
    p = sub.add_parser("eval", help="evaluate a trained run (golden, torch, float, ANN)",
                       description=__doc__)
    p.add_argument("run_dir", metavar="RUN", help="run directory written by dynalign train")
    add_data_args(p)
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="which split to score (default %(default)s)")
    p.add_argument("--device", help="torch device for the integer forward (default cpu)")
    p.add_argument("--lanes", type=int, help="also the LIF cycles per inference at this "
                   "many lanes (exact cycle model; default with --board: the board's)")
    p.add_argument("--board", choices=sorted(BOARDS), help="also the latency of one "
                   "inference on that board's bitstream (its lanes, core and clock; RUN to "
                   "class, the whole-device cycle model); a model it does not hold is "
                   "refused")
    p.add_argument("--neurobench", action="store_true", help="also NeuroBench's Footprint, "
                   "ConnectionSparsity, ActivationSparsity and SynapticOperations of the "
                   "golden network (needs the optional nir extra)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..evaluate import evaluate_run  # here: the flow imports torch, the parser must not
    try:
        res = evaluate_run(args.run_dir, dataset=args.dataset, data_dir=args.data_dir,
                           data_path=args.data_path, device=args.device, split=args.split,
                           lanes=args.lanes, neurobench=args.neurobench, board=args.board)
    except ModuleNotFoundError as exc:
        if exc.name not in ("neurobench", "snntorch", "nir"):
            raise
        raise UsageError(f"--neurobench needs the optional package {exc.name!r}: "
                         f"{EXTRA}") from None
    if args.json:
        print_json(res)
    else:
        extra = ("lanes", "lif_cycles_per_inference") if "lanes" in res else ()
        if args.board is not None:
            extra += ("board", "clock_mhz", "device_cycles_per_inference",
                      "device_cycles_max", "latency_us", "latency_us_max")
        for k in KEYS + ("torch_golden_exact", "per_layer_synops",
                         "saturations_per_inference") + extra:
            print(f"{k:28s} {res[k]}")
        for k, v in res.get("neurobench", {}).items():
            print(f"neurobench {k:17s} {v}")
    if args.neurobench and not res["neurobench"]["accuracy_equals_golden"]:
        print("error: the NeuroBench model's accuracy differs from the golden model's",
              flush=True)
        return 1
    if res["torch_golden_agreement"] != 1.0 or not res["torch_golden_exact"]:
        print("error: torch integer forward and golden model disagree", flush=True)
        return 1
    return 0
