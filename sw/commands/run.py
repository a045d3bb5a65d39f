"""``dynalign run --port /dev/ttyUSB0 --input X [--run RUN]``: classify on a board.

``--input`` is either comma-separated feature codes (``"3,-5,17,..."``, K int8 values)
or a ``.npy`` / ``.npz`` file of raw inputs (rows of a dataset; ``.npz`` key ``x``) that
RUN's feature transform turns into codes.  Each sample goes through ``FEATURES`` /
``RUN`` / ``RESULTS``; the class, spike counts per layer, cycles and flags are printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..driver import run_sync
from ..rundir import RunDir
from .upload import LINK_HELP, add_link_args, device_from_args

__all__ = ["register", "classify", "parse_input"]


def parse_input(text: str, *, run=None) -> np.ndarray:
    path = Path(text)
    if path.suffix in (".npy", ".npz"):
        if not path.is_file():
            raise FileNotFoundError(f"no such input file: {path}")
        x = np.load(path)
        x = x["x"] if path.suffix == ".npz" else x
        x = np.atleast_2d(x)
        if run is None:
            raise ValueError("raw inputs need --run RUN (its feature transform)")
        _, _, transform = RunDir(run).load()
        return transform.codes(x)
    try:
        codes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--input must be comma-separated integers or a .npy/.npz file, "
                         f"not {text!r}") from None
    if not codes:
        raise ValueError("--input is empty")
    return np.asarray([codes], dtype=np.int64)


def classify(dev, codes) -> list[dict]:
    async def go():
        out = []
        for row in codes:
            r = await dev.classify([int(c) for c in row])
            out.append({"class": r.cls, "spikes": list(r.spikes),
                        "saturations": list(r.saturations), "out_counts": list(r.out_counts),
                        "cycles": r.cycles, "flags": r.flags})
        return out
    return run_sync(go())


def register(sub):
    p = sub.add_parser("run", help="classify inputs on a board over its serial port",
                       description=__doc__, epilog=LINK_HELP)
    add_link_args(p)
    p.add_argument("--input", required=True, help="codes 'c0,c1,...' or a .npy/.npz file")
    p.add_argument("--run", help="run directory (feature transform for raw inputs)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args, transport=None) -> int:
    codes = parse_input(args.input, run=args.run)
    res = classify(device_from_args(args, transport), codes)
    if args.json:
        print(json.dumps(res))
    else:
        for r in res:
            print(f"class {r['class']}  spikes {r['spikes']}  cycles {r['cycles']}")
    return 0
