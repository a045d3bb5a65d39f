"""``dynalign export RUN --nir OUT.nir``: the trained network as a NIR graph.

Writes ``OUT.nir`` (Input -> (Affine -> LIF) x L -> Output, the float model at the
recorded ``dt``; the golden integers, formats and reset modes in its metadata) and
``OUT.encoder.npz`` beside it: the encoder parameters, the trajectory table of every
feature code and the feature transform, which produce the graph's input (see
:mod:`dynalign.sw.nirflow`).  A layer that subtracts the threshold has no exact NIR
form: the export says so in a warning and in the node's metadata (train with
``--reset zero`` for an exact graph).
"""

from __future__ import annotations

import sys
import warnings

from ..cli import print_json
from .nir_extra import nir_flow

__all__ = ["register"]


def register(sub):
    p = sub.add_parser("export", help="export a trained run as a NIR graph",
                       description=__doc__)
    p.add_argument("run_dir", metavar="RUN", help="run directory (dynalign train or import)")
    p.add_argument("--nir", required=True, metavar="OUT.nir", help="the graph to write")
    p.add_argument("--dt", type=float, default=1e-4,
                   help="Euler step the LIF time constants are written for (default "
                        "%(default)s, the dt snnTorch's importer assumes)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    flow = nir_flow()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", flow.SubtractResetWarning)
        res = flow.export_run(args.run_dir, args.nir, dt=args.dt)
    for w in caught:
        if issubclass(w.category, flow.SubtractResetWarning):
            print(f"dynalign export: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if args.json:
        print_json(res)
    else:
        print(f"wrote {res['nir']} and {res['front_end']} (layers {res['topology']}, "
              f"reset {', '.join(res['reset'])})")
    return 0
