"""``dynalign run --port /dev/ttyUSB0 --input X [--run RUN]``: classify on a board.

``--input`` is either comma-separated feature codes (``"3,-5,17,..."``, K int8 values)
or a ``.npy`` / ``.npz`` file of raw inputs (rows of a dataset as its source gives them:
digits pixels 0..16, MNIST bytes 0..255, an .npz in the units RUN was trained on;
``.npz`` key ``x``) that RUN's feature transform turns into codes; rows outside the
training range and codes that clip are counted on stderr.  Each sample goes through ``FEATURES`` /
``RUN`` / ``RESULTS``; the class, spike counts per layer, cycles and flags are printed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..driver import run_sync
from ..rundir import RunDir
from .upload import LINK_HELP, add_link_args, device_from_args

__all__ = ["register", "classify", "parse_input", "load_rows", "input_note"]


def load_rows(path, *, run) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Raw rows of a ``.npy`` / ``.npz`` (key ``x``; ``y`` optional) through RUN's feature
    transform, which owns the step from the source's units (digits 0..16, MNIST 0..255,
    an .npz in the units RUN was trained on) to codes: ``(codes, labels, report)`` with
    :meth:`dynalign.sw.features.FeatureTransform.input_report`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such input file: {path}")
    if run is None:
        raise ValueError("raw inputs need --run RUN (its feature transform)")
    labels = None
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "x" not in z:
                raise ValueError(f"{path} has no array 'x' (the rows to classify)")
            x, labels = z["x"], (z["y"] if "y" in z else None)
    else:
        x = np.load(path)
    _, _, transform = RunDir(run).load()
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(len(x), -1) if x.ndim > 2 else np.atleast_2d(x)
    return transform.raw_codes(x), labels, transform.input_report(x)


def input_note(report: dict) -> str | None:
    """One line on rows outside the training range and clipped codes (``None``: none)."""
    if not report["rows_outside_training_range"] and not report["clipped_codes"]:
        return None
    lo, hi = report["training_range"] or (None, None)
    units = f" {report['units']}" if report["units"] else ""
    return (f"{report['rows_outside_training_range']} of {report['rows']} rows have values "
            f"outside the training range {lo:g}..{hi:g}{units}; {report['clipped_codes']} "
            f"of {report['codes']} feature codes clipped")


def parse_input(text: str, *, run=None, report: dict | None = None) -> np.ndarray:
    """``--input``: comma-separated codes, or raw rows (``.npy``/``.npz``, see
    :func:`load_rows`; its report goes into ``report`` when given)."""
    path = Path(text)
    if path.suffix in (".npy", ".npz"):
        codes, _, rep = load_rows(path, run=run)
        if report is not None:
            report.update(rep)
        return codes
    try:
        codes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--input must be comma-separated integers or a .npy/.npz file, "
                         f"not {text!r}") from None
    if not codes:
        raise ValueError("--input is empty")
    return np.asarray([codes], dtype=np.int64)


def classify(dev, codes, *, brief: bool = False) -> list[dict]:
    """The results record of every row as a dict (:meth:`Device.classify_many`);
    ``brief``: the brief record (no saturation or output counts)."""
    async def go():
        got = await dev.classify_many(codes, brief=brief)
        return [{"class": r.cls, "spikes": list(r.spikes), "cycles": r.cycles,
                 "flags": r.flags, **({} if brief else {
                     "saturations": list(r.saturations),
                     "out_counts": list(r.out_counts)})} for r in got]
    return run_sync(go())


def register(sub):
    p = sub.add_parser("run", help="classify inputs on a board over its serial port",
                       description=__doc__, epilog=LINK_HELP)
    add_link_args(p)
    p.add_argument("--input", required=True, help="codes 'c0,c1,...' or a .npy/.npz file")
    p.add_argument("--run", help="run directory (feature transform for raw inputs)")
    p.add_argument("--brief", action="store_true",
                   help="the brief records only (class, flags, cycles, spikes per layer: "
                        "CLASSIFY requests, the link's full rate)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args, transport=None) -> int:
    report = {}
    codes = parse_input(args.input, run=args.run, report=report)
    note = input_note(report) if report else None
    if note:
        print(f"dynalign run: note: {note}", file=sys.stderr)
    res = classify(device_from_args(args, transport), codes, brief=args.brief)
    if args.json:
        print(json.dumps(res))
    else:
        for r in res:
            print(f"class {r['class']}  spikes {r['spikes']}  cycles {r['cycles']}")
    return 0
