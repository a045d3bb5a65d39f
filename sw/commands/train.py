"""``dynalign train``: train a quantisation-aware LIF network and export it to RUN/.

``--board icebreaker|ulx3s`` trains the network that board's default bitstream holds
(:func:`dynalign.sw.fit.board_network`: its features, hidden layers and weight widths --
the iCEBreaker's 8-bit 48-128-10, the ULX3S's 96-512-512-10 with 4-bit hidden layers;
``--features`` / ``--layers`` / ``--weight-bits`` given as well must fit it), and
refuses, before any training, a network, time-step count or class count the board cannot
hold, in one line with the board's limit.

See :mod:`dynalign.sw.train` for the pipeline and :mod:`dynalign.sw.image` for the weight image.
"""

from __future__ import annotations

from dynalign.constraints.boards import BOARDS
from dynalign.hw.formats import WEIGHT_BITS

from ..cli import UsageError, print_json
from ..data import DATASETS
from ..params import add_system_args, config_from_args

#: Classes of the built-in datasets (an .npz's are counted from its labels).
DATASET_CLASSES = {"digits": 10, "mnist": 10}

#: Same as sw.qat.READOUTS (not imported: the CLI must not import torch to build parsers).
READOUTS = ("counts", "membrane")

#: Shown in --help; equal to sw.train.TrainOptions' defaults (a test holds them equal).
DEFAULTS = {"dataset": "digits", "features": 32, "layers": "256,256", "epochs": 100,
            "patience": 100, "batch_size": 64, "lr": 0.003, "seed": 0, "readout": "counts",
            "spike_reg": 0.0, "dropout": 0.2, "code_noise": 4.0, "beta_init": 0.9,
            "in_shift_percentile": 100.0, "in_shift": None, "input_scale": "single",
            "ann_epochs": 100, "reset": "subtract", "weight_bits": 8}


def parse_layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--layers must be comma-separated integers, not {text!r}") from None
    if not layers or min(layers) < 1:
        raise UsageError(f"--layers must list positive hidden sizes, not {text!r}")
    return layers


def parse_weight_bits(text: str):
    """``"8"`` / ``"4"`` (every layer) or one width per layer (``"4,4,8"``: the hidden
    layers, then the output layer)."""
    try:
        bits = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        bits = ()
    if not bits or any(b not in WEIGHT_BITS for b in bits):
        raise UsageError(f"--weight-bits must be 8 or 4, or one of them per layer "
                         f"(e.g. 4,4,8), not {text!r}")
    return bits[0] if len(bits) == 1 else bits


def add_data_args(p) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, help="digits (sklearn, default), mnist "
                   "(IDX files in --data-dir) or npz (--data FILE with arrays x, y)")
    g.add_argument("--data-dir", help="directory of MNIST-style IDX files (gz or raw; "
                   "default ../shared/data/mnist from the project root)")
    g.add_argument("--data", dest="data_path", help=".npz file with x (N, ...) and y (N,)")


def register(sub):
    p = sub.add_parser("train", help="train a QAT LIF network and export a weight image",
                       description=__doc__,
                       epilog="defaults: " + ", ".join(f"{k}={v}" for k, v in DEFAULTS.items()))
    p.add_argument("--out", required=True, metavar="RUN", help="output run directory")
    add_data_args(p)
    add_system_args(p)
    g = p.add_argument_group("model and training")
    g.add_argument("--board", choices=sorted(BOARDS), default=None,
                   help="train the network this board's default bitstream holds "
                        "(icebreaker: 16 features, layers 128, 8-bit weights; ulx3s: 32 "
                        "features, layers 512,512, weights 4,4,8 bits) and refuse one it "
                        "cannot hold")
    g.add_argument("--features", type=int, default=None,
                   help="K, PCA features (default 32, or the board's); layer 1 has 3K "
                        "inputs")
    g.add_argument("--layers", default=None,
                   help="hidden layer sizes (default 256,256, or the board's); the output "
                        "layer has one neuron per class")
    g.add_argument("--epochs", type=int, default=None,
                   help="most training epochs (early stopping may end sooner)")
    g.add_argument("--patience", type=int, default=None,
                   help="early stopping: epochs without a better validation accuracy")
    g.add_argument("--batch-size", type=int, default=None, help="minibatch size")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    g.add_argument("--seed", type=int, default=None, help="seed of splits, init and "
                   "batches")
    g.add_argument("--readout", choices=READOUTS, default=None,
                   help="what the loss is on (counts: output spike counts "
                        "with the final membrane as tie-breaker)")
    g.add_argument("--spike-reg", type=float, default=None,
                   help="penalty on spikes per neuron per inference")
    g.add_argument("--dropout", type=float, default=None,
                   help="dropout on hidden spikes while training")
    g.add_argument("--code-noise", type=float, default=None,
                   help="augmentation: Gaussian noise on feature codes, in code LSBs "
                        "")
    g.add_argument("--beta-init", type=float, default=None,
                   help="initial LIF leak")
    g.add_argument("--in-shift-percentile", type=float, default=None,
                   help="in_shift keeps this percentile of |training samples| unclamped "
                        "")
    g.add_argument("--in-shift", type=int, default=None,
                   help="layer-1 input shift 0..31 (default: chosen from the training "
                        "samples); larger = coarser, sparser input, fewer cycles")
    g.add_argument("--input-scale", choices=("single", "step"), default=None,
                   help="single: one layer-1 input shift (default); step: one shift per "
                        "sample index, chosen from the training samples and carried in "
                        "the image's encoder block (in_shift 0; not with --in-shift)")
    g.add_argument("--reset", choices=("subtract", "zero"), default=None,
                   help="every layer's reset after a spike: subtract the threshold "
                        "(default) or set the membrane to zero (exports to NIR exactly)")
    g.add_argument("--weight-bits", default=None, metavar="BITS",
                   help="weight width: 8 (default) or 4 (two weights a byte: half the "
                        "model store, on a board whose bitstream takes them, the ulx3s), "
                        "or one per layer, hidden layers then output (e.g. 4,4,8)")
    g.add_argument("--ann-epochs", type=int, default=None,
                   help="most epochs of the MLP baseline")
    g.add_argument("--limit", type=int, help="use a stratified subset of this many samples")
    g.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation")
    g.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=run)


def options_from_args(args):
    from ..train import TrainOptions  # here: the flow imports torch, the parser must not
    given = {name: getattr(args, name) for name in (
        "dataset", "data_dir", "data_path", "limit", "seed", "features", "epochs",
        "batch_size", "lr", "patience", "readout", "spike_reg", "dropout", "code_noise",
        "beta_init", "in_shift_percentile", "in_shift", "input_scale", "device", "ann_epochs",
        "reset")}
    given = {k: v for k, v in given.items() if v is not None}
    if args.layers is not None:
        given["layers"] = parse_layers(args.layers)
    if getattr(args, "weight_bits", None) is not None:
        given["weight_bits"] = parse_weight_bits(args.weight_bits)
    board = getattr(args, "board", None)
    if board is not None:
        from ..fit import board_network
        net = board_network(board)
        given.setdefault("features", net.features)
        given.setdefault("layers", net.layers)
        given.setdefault("weight_bits", net.widths_for(len(given["layers"])))
        given["extra"] = {"board": board}
    return TrainOptions(progress=not args.no_progress, **given)


def _classes(opts) -> int | None:
    """Classes of the dataset ``opts`` trains on, without loading the images (None when
    an .npz's labels cannot be read: the loader says why)."""
    if opts.dataset in DATASET_CLASSES:
        return DATASET_CLASSES[opts.dataset]
    import numpy as np
    try:
        with np.load(opts.data_path) as z:
            return int(np.unique(z["y"]).size)
    except Exception:
        return None


def check_board(board: str, opts, config) -> None:
    """One line (:class:`UsageError`) when ``board``'s default bitstream cannot hold the
    network ``opts`` and ``config`` describe."""
    from ..fit import board_problem
    classes = _classes(opts)
    if classes is None:
        return
    problem = board_problem(board, features=opts.features, layers=opts.layers,
                            samples=config.samples, classes=classes,
                            weight_bits=opts.weight_bits)
    if problem:
        raise UsageError(problem)


def run(args) -> int:
    from ..train import train_run  # here: the flow imports torch, the parser must not
    config = config_from_args(args)
    opts = options_from_args(args)
    if args.board is not None:
        check_board(args.board, opts, config)
    if opts.input_scale == "step" and opts.in_shift is not None:
        raise UsageError("--in-shift cannot be combined with --input-scale step (the "
                         "shifts are chosen per step; in_shift is 0)")
    metrics = train_run(args.out, encoder=config, opts=opts, evaluate=not args.no_eval)
    if args.json:
        print_json(metrics)
        return 0
    lsum = config.lyapunov_sum
    lsum = "not constant" if lsum is None else format(lsum, "+g")
    print(f"trained {metrics['sizes']} on {opts.dataset} ({config.system.value}, "
          f"Lyapunov sum {lsum}) in {metrics['train_seconds']:.1f} s; "
          f"best epoch {metrics['best_epoch']}, val accuracy {metrics['val_accuracy']:.4f}")
    if opts.input_scale == "step":
        print(f"input scale: per step, shifts {metrics['step_shifts']} (in_shift 0)")
    else:
        print(f"input scale: single, in_shift {metrics['in_shift']}")
    t = metrics.get("test")
    if t:
        print(f"test: golden {t['golden_accuracy']:.4f}  float {t['float_accuracy']:.4f}  "
              f"ANN {t['ann_accuracy']:.4f}  agreement {t['torch_golden_agreement']:.4f}  "
              f"spikes/inf {t['spikes_per_inference']:.1f}  "
              f"SynOps/inf {t['synops_per_inference']:.0f}")
    print(f"wrote {args.out}/")
    return 0
