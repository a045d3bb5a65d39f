"""The NIR flow, imported when a NIR command runs (it imports torch and the optional
``nir`` extra; ``dynalign --help`` must load neither)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from ..cli import UsageError

__all__ = ["nir_flow", "EXTRA"]

#: The install extra that brings the NIR libraries.
EXTRA = "pip install 'dynalign[nir]'"


def nir_flow() -> SimpleNamespace:
    """``export_run``, ``import_graph`` and the warning class, or a one-line
    :class:`UsageError` when the optional NIR packages are not installed."""
    try:
        flow = importlib.import_module("dynalign.sw.nirflow")
        io = importlib.import_module("dynalign.sw.nir_io")
    except ModuleNotFoundError as exc:
        if exc.name in ("nir", "h5py", "snntorch", "nirtorch", "neurobench"):
            raise UsageError(f"NIR support needs the optional package {exc.name!r}: "
                             f"{EXTRA}") from None
        raise
    return SimpleNamespace(export_run=flow.export_run, import_graph=flow.import_graph,
                           SubtractResetWarning=io.SubtractResetWarning)
