"""Cycle model of :class:`hw.lif.rtl.LIFNetwork`: cycles per inference from the golden
model's active-input counts (``NetworkResult.active``), without simulating RTL."""

from __future__ import annotations

import numpy as np

from .ref import LIFNetworkParams

__all__ = ["ref_cycles", "ref_cycles_from_sizes"]


def ref_cycles(active, net: LIFNetworkParams, *, lanes: int) -> np.ndarray:
    """Per sample: sum over steps and layers of ``groups_l x max(active, 1)``, where
    ``groups_l = ceil(n_out_l / lanes)`` (the engine issues one active entry per cycle
    to all lanes of a group; an empty list still finalises each group)."""
    return ref_cycles_from_sizes(active, [layer.n_out for layer in net.layers], lanes=lanes)


def ref_cycles_from_sizes(active, n_out, *, lanes: int) -> np.ndarray:
    """:func:`ref_cycles` from the layer sizes ``n_out`` alone."""
    active = np.asarray(active, dtype=np.int64)
    groups = -(-np.asarray(n_out, dtype=np.int64) // lanes)
    return (groups * np.maximum(active, 1)).sum(axis=(1, 2))
