"""``dynalign check --port P RUN [--switch RUN2] [--samples N|all] [--json]``.

Uploads RUN to the board (a real one, or ``dynalign sim-board``), classifies its test
split (or the rows of ``--input X.npz``: ``x`` as the source gives them -- digits 0..16,
MNIST 0..255 -- or in the units of RUN's .npz; ``y`` optional) and compares every
results record -- class, flags, cycles, spikes and saturations per layer, output spike
counts -- with the golden model
(:mod:`dynalign.sw.check`).  With ``--switch RUN2``: A, then B, then A again.  Prints
the device accuracy, the mismatches, the host-measured throughput and the device
latency per inference (cycles; microseconds at the clock of ``--board``).  Exits 1 on
any mismatch.
"""

from __future__ import annotations

import json
import sys

from dynalign.sim.virtual_board import board_clock_hz

from ..check import CheckModel, check_device
from ..driver import run_sync
from ..rundir import RunDir, run_codes
from ..verify_system import _samples
from .run import input_note, load_rows
from .upload import LINK_HELP, add_link_args, device_from_args

__all__ = ["register", "models_from_args"]


def _model(run, *, name: str, input_path=None) -> CheckModel:
    if input_path is None:
        image, codes, labels = run_codes(run)
        if codes is None:
            raise ValueError(f"{run} is a bare weight image: it has no test split; give a "
                             "run directory, or --input X.npz")
        return CheckModel(name=name, image=image, codes=codes, labels=labels)
    codes, labels, report = load_rows(input_path, run=run)
    note = input_note(report)
    if note:
        print(f"dynalign check: note: {name}: {note}", file=sys.stderr)
    return CheckModel(name=name, image=RunDir(run).image().payload(), codes=codes,
                      labels=labels)


def models_from_args(args) -> list[CheckModel]:
    models = [_model(args.run, name="A", input_path=args.input)]
    if args.switch:
        models.append(_model(args.switch, name="B", input_path=args.input))
    return models


def register(sub):
    p = sub.add_parser("check", help="classify a test split on a board and compare every "
                                     "record with the golden model",
                       description=__doc__, epilog=LINK_HELP)
    p.add_argument("run", help="run directory (dynalign train --out)")
    add_link_args(p)
    p.add_argument("--switch", metavar="RUN2", help="second model: switch A -> B -> A")
    p.add_argument("--samples", type=_samples, default=20,
                   help="samples per model, or 'all': the whole test split (default 20)")
    p.add_argument("--input", help=".npz with x (rows in RUN's units) and optional y, "
                                   "instead of the test split")
    p.add_argument("--no-upload", action="store_true",
                   help="check the model the device serves now (no upload)")
    p.add_argument("--brief", action="store_true",
                   help="compare the brief records (class, flags, cycles, spikes per "
                        "layer: CLASSIFY requests, the link's full rate) instead of the "
                        "whole records")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_main)


def _main(args, transport=None) -> int:
    models = models_from_args(args)          # bad runs fail before the port is opened
    dev = device_from_args(args, transport)
    board = getattr(args, "board", None)
    clock = board_clock_hz(board) if board else None
    rep = run_sync(check_device(dev, models, samples=args.samples,
                                upload=not args.no_upload, clock_hz=clock,
                                brief=args.brief))
    if args.json:
        print(json.dumps(rep))
    else:
        for m in rep["models"]:
            acc = "n/a" if m["accuracy"] is None else f"{m['accuracy']:.4f}"
            gacc = "n/a" if m["golden_accuracy"] is None else f"{m['golden_accuracy']:.4f}"
            lat = f", {m['latency_us']:.1f} us" if "latency_us" in m else ""
            print(f"model {m['model']}: {m['compared']} compared, {m['mismatches']} "
                  f"mismatches, device accuracy {acc} (golden {gacc}), "
                  f"{m['cycles_per_inference']:.0f} cycles per inference{lat}")
        print(f"{rep['compared']} records, {rep['mismatches']} mismatches, "
              f"{rep['mode_switches']} switches, host throughput "
              f"{rep['inferences_per_s']:.1f} inferences/s, {rep['wall_s']:.1f} s")
    if rep["mismatches"]:
        print(f"dynalign check: mismatch: {rep['first_mismatch']['message']}",
              file=sys.stderr)
    return 1 if rep["mismatches"] else 0
