"""``dynalign sweep``: train and score one network across deltas, seeds and codings."""

from __future__ import annotations

import json
import time
from pathlib import Path

from dynalign.hw.systems import System

from ..cli import UsageError, print_json
from ..params import parse_floats


def register(sub):
    p = sub.add_parser(
        "sweep", help="delta sweep + baselines on the golden model (resumable)",
        description="Train one network size for every delta and seed (mixed oscillator), "
                    "a Lorenz row and the direct / rate / latency baselines; score each on "
                    "the golden model; write OUT/sweep.json, OUT/table.md and plots. "
                    "Finished settings are reused when the command is run again.")
    p.add_argument("--dataset", default="digits", choices=["digits", "mnist"])
    p.add_argument("--data-dir", help="MNIST IDX folder (default: ../shared/data/mnist)")
    p.add_argument("--deltas", default="-1.5,-1,-0.6,-0.3,0,0.3,0.6,1,2,5,10")
    p.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    p.add_argument("--protocol", default="hardware", choices=["hardware", "paper"],
                   help="hardware: quantisation-aware training scored on the golden model "
                        "(default); paper: the paper's float protocol (UMAP fitted on the "
                        "training split, per-batch max normalisation, snnTorch Leaky "
                        "21-500-500-500-10 with learned beta and threshold, Adam, early "
                        "stopping on validation; spikes counted per training epoch and "
                        "per inference)")
    p.add_argument("--features", type=int, default=7, help="K features (default 7)")
    p.add_argument("--layers", help="hidden sizes (default 128; 500,500,500 for "
                                    "--protocol paper)")
    p.add_argument("--steps", type=int, default=5, help="T (default 5)")
    p.add_argument("--epochs", type=int, help="default 30 (100 for --protocol paper)")
    p.add_argument("--patience", type=int, help="default 10 (15 for --protocol paper)")
    p.add_argument("--lr", type=float, default=1e-4,
                   help="Adam learning rate of --protocol paper (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="batch size of --protocol paper (default 64)")
    p.add_argument("--loss", default="membrane", choices=["membrane", "spikes"],
                   help="--protocol paper: cross-entropy of the output membrane at every "
                        "step (default, the paper's code) or of the output spikes")
    p.add_argument("--limit", type=int, help="use only this many samples (quick runs)")
    p.add_argument("--lanes", type=int, default=8, help="LIF lanes for the cycle model")
    p.add_argument("--in-shift-percentile", type=float, default=100.0,
                   help="percentile of |samples| that layer-1's input shift keeps "
                        "unclamped (default 100: nothing saturates)")
    p.add_argument("--input-scale", default="single", choices=["single", "step"],
                   help="how the dynamical rows' encoder samples enter layer 1 (hardware "
                        "protocol only): single, one input shift per model (default); "
                        "step, one shift per sample index chosen from the training "
                        "samples and carried in the image (issue 18)")
    p.add_argument("--baselines", default="direct,rate,latency",
                   help="comma-separated baselines ('' for none)")
    p.add_argument("--no-lorenz", action="store_true", help="skip the Lorenz row")
    p.add_argument("--systems", default="",
                   help="comma-separated other input systems, one row each at the paper's "
                        "parameters: chen, rossler, aizawa, nose-hoover, sprott-c, chua, "
                        "or 'all' (default: none)")
    p.add_argument("--tmax", type=float, default=8.0,
                   help="the encoding window of every row (default 8); the RK4 step is "
                        "the one nearest 0.01 on which every sample falls")
    p.add_argument("--workers", type=int, help="parallel processes (default: all cores); "
                                               "with --ray, the CPUs of a local instance")
    p.add_argument("--ray", metavar="auto|ADDRESS",
                   help="run the settings as Ray tasks: 'auto' joins a running cluster or "
                        "starts a local Ray; ADDRESS is a cluster (ray://host:10001). Same "
                        "results and files as the local processes (needs the 'ray' extra)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..results import write_table
    from ..sweep import (  # here: the flow imports torch, the parser must not
        SweepOptions,
        aggregate,
        make_settings,
        raster_data,
        run_sweep,
        summary,
        write_plots,
    )

    deltas = parse_floats(args.deltas, what="--deltas")
    paper = args.protocol == "paper"
    text = args.layers or ("500,500,500" if paper else "128")
    try:
        layers = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers, not {text!r}") \
            from None
    baselines = [b for b in args.baselines.split(",") if b.strip()]
    if paper and args.input_scale != "single":
        raise UsageError("--input-scale step is a hardware-protocol option; the paper's "
                         "protocol normalises by the batch maximum")
    if paper:
        from ..paper import PaperOptions

        opts = PaperOptions(dataset=args.dataset, data_dir=args.data_dir,
                            features=args.features, layers=layers, steps=args.steps,
                            epochs=args.epochs or 100, patience=args.patience or 15,
                            limit=args.limit, lr=args.lr, batch_size=args.batch_size,
                            loss=args.loss)
    else:
        opts = SweepOptions(dataset=args.dataset, data_dir=args.data_dir,
                            features=args.features, layers=layers, steps=args.steps,
                            epochs=args.epochs or 30, patience=args.patience or 10,
                            limit=args.limit, lanes=args.lanes,
                            in_shift_percentile=args.in_shift_percentile, tmax=args.tmax,
                            input_scale=args.input_scale)
    opts.validate()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if systems == ["all"]:
        systems = [s.value for s in System if s not in (System.MIXED, System.LORENZ)]
    settings = make_settings(deltas, args.seeds, lorenz=not args.no_lorenz,
                             baselines=baselines, systems=systems, protocol=args.protocol)
    out = Path(args.out)
    t0 = time.perf_counter()
    results = run_sweep(settings, opts, out, workers=args.workers, progress=not args.json,
                        ray=args.ray)
    if paper:
        from ..paper import aggregate_paper, paper_table

        rows = aggregate_paper(results)
        summ = {"protocol": "paper", "options": results[0]["options"] if results else {},
                "settings": len(results), "seconds": time.perf_counter() - t0,
                "reused": sum(1 for r in results if r.get("reused")), "table": rows,
                "results": results}
        (out / "sweep.json").write_text(json.dumps(summ, indent=2) + "\n")
        (out / "table.md").write_text(paper_table(rows) + "\n")
        if args.json:
            print_json({k: v for k, v in summ.items() if k != "results"})
        else:
            print(paper_table(rows))
            print(f"wrote {out / 'sweep.json'}, {out / 'table.md'}")
        return 0
    rows = aggregate(results)
    examples = []
    for d in (min(deltas), max(deltas)):
        run_dir = out / "settings" / f"mixed_d{d:+g}_s0" / "run"
        if run_dir.is_dir():
            examples.append(raster_data(run_dir))
    plots = write_plots(rows, out, example=examples or None)
    summ = summary(results, rows, opts, seconds=time.perf_counter() - t0)
    summ["plots"] = plots
    (out / "sweep.json").write_text(json.dumps(summ, indent=2) + "\n")
    (out / "table.md").write_text(write_table(rows) + "\n")
    if args.json:
        print_json({k: v for k, v in summ.items() if k != "results"})
    else:
        print(write_table(rows))
        print(f"wrote {out / 'sweep.json'}, {out / 'table.md'}, plots: "
              + ", ".join(plots.values()))
    return 0
