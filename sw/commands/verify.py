"""``dynalign verify TARGET``: hold the RTL against the golden model.

Each target module in :data:`TARGETS` exposes ``register(subparsers)``.
"""

from __future__ import annotations

import importlib

#: Verify targets (``encoder``, ``network``, ``system``), one module each.
TARGETS: list[str] = [
    "dynalign.sw.verify_encoder",
    "dynalign.sw.verify_network",
    "dynalign.sw.verify_system",
]


def register(sub):
    p = sub.add_parser("verify", help="check RTL simulation against the golden model",
                       description=__doc__)
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name in TARGETS:
        importlib.import_module(name).register(targets)
