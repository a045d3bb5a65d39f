"""Cycle model of :class:`dynalign.hw.lif.rtl.LIFNetwork`: the ``cycles`` counter (``RD_CYCLES``) of
every inference, exactly, from the golden model's results -- without simulating RTL.

The schedule (derived from the engine, loader and serialiser in :mod:`dynalign.hw.lif.rtl`, their
latencies in :mod:`dynalign.hw.lif.schedule`, which this model shares with the RTL; the
counter counts every engine cycle of an inference except those spent waiting for input
samples, so input idles and output backpressure do not change it):

* a *layer step* (layer ``l`` at step ``t``) issues ``n = max(a, 1)`` list entries per
  group (``a`` = active inputs, :attr:`dynalign.hw.lif.ref.NetworkResult.active`; an empty list
  issues one dummy entry), group after group, then drains: it ends in the first cycle in
  which the pipeline, the spike-mask FIFO and the serialiser are all empty;
* the last entry of a group reaches F3 ``ISSUE_TO_MASK`` = 7 cycles after its issue and
  writes the group's spike mask into the FIFO; the (buffered) FIFO shows it two cycles
  later and the serialiser loads it one cycle after that (``MASK_TO_SERIALISER`` = 3),
  then spends ``max(p, 1)`` cycles on it (``p`` = spikes in the group at that step: one
  index per cycle);
* a group's last entry is only issued while fewer than ``fifo_depth - 1`` masks are in
  flight or waiting in the FIFO (those issued and not yet loaded by the serialiser);
* between steps the engine spends one counted cycle in ``WAIT_INPUT`` (the cycles it
  waits there for a full input bank are not counted); after the last step the read-out
  scans the ``n_L`` output neurons, one per cycle, plus ``READOUT_TAIL`` cycles (the
  last neuron's registered compare).
"""

from __future__ import annotations

import numpy as np

from ..validate import check_int
from .ref import LIFNetworkParams, NetworkResult
from .schedule import DRAIN, FIFO_DEPTH, ISSUE_TO_MASK, MASK_TO_SERIALISER, READOUT_TAIL

__all__ = ["ref_cycles", "ref_cycles_from_trains", "ref_cycles_from_sizes",
           "layer_step_cycles",
           "group_spikes", "FIFO_DEPTH", "MASK_TO_SERIALISER", "ISSUE_TO_MASK", "DRAIN",
           "READOUT_TAIL"]


def group_spikes(train, lanes: int) -> np.ndarray:
    """Per group of ``lanes`` neurons, the spikes of a layer: ``train`` (..., n_l) of
    0/1 -> (..., ceil(n_l / lanes)) int64 (neuron ``i`` is lane ``i % lanes`` of group
    ``i // lanes``; the lanes past ``n_l`` never spike)."""
    train = np.asarray(train)
    n = train.shape[-1]
    groups = -(-n // lanes)
    pad = np.zeros(train.shape[:-1] + (groups * lanes - n,), train.dtype)
    full = np.concatenate([train, pad], axis=-1).astype(np.int64)
    return full.reshape(train.shape[:-1] + (groups, lanes)).sum(axis=-1)


def ref_cycles(result: NetworkResult, net: LIFNetworkParams, *, lanes: int,
               fifo_depth: int = FIFO_DEPTH) -> np.ndarray:
    """Per sample, the RTL's ``cycles`` counter of an :class:`dynalign.hw.lif.rtl.LIFNetwork` of
    ``lanes`` lanes and spike-mask FIFO depth ``fifo_depth``, from ``result =
    ref_network(samples, net)`` (its ``active`` and ``spike_trains``).  Exact (integer
    equal to the RTL counter; see ``tests/test_lif_cycles.py``).

    The equation.  Per sample::

        cycles = sum_{t, l} D[t, l]  +  (T - 1)  +  n_L  +  READOUT_TAIL

    where ``n_L`` is the output layer's size and, for the layer step ``(t, l)`` with
    ``G = ceil(n_l / lanes)`` groups, ``n = max(active[t, l], 1)`` entries per group,
    ``p_g`` = spikes of layer ``l`` at step ``t`` among neurons ``g*lanes ..
    g*lanes + lanes - 1``, ``q_g = max(p_g, 1)``, ``K = fifo_depth - 1``, and times
    counted from the step's first issue cycle (= 0)::

        I_g = max(I_{g-1} + n, S_{g-K})      issue of group g's last entry
                                             (I_{-1} = -1; S_j = -inf for j < 0)
        S_g = max(I_g + DRAIN, S_{g-1} + q_{g-1})   serialiser loads group g's mask
                                             (S_{-1} term absent)
        D[t, l] = S_{G-1} + p_{G-1} + 1      cycles from the first issue to the end of
                                             the drain, inclusive

    (``DRAIN = ISSUE_TO_MASK + MASK_TO_SERIALISER = 10``).  Without FIFO back-pressure
    (the ``S_{g-K}`` term never binds, e.g. ``G < K``) this is
    ``D = DRAIN + p_{G-1} + max_g ((g + 1) n + sum_{g <= j < G-1} q_j)``, at least
    ``G n + DRAIN``.
    """
    if not isinstance(net, LIFNetworkParams):
        raise TypeError(f"net must be LIFNetworkParams, not {type(net).__name__}")
    if result.spike_trains is None or len(result.spike_trains) != len(net.layers):
        raise ValueError("result has no spike trains for every layer (use ref_network)")
    for k, (train, layer) in enumerate(zip(result.spike_trains, net.layers)):
        if train.shape[-1] != layer.n_out:
            raise ValueError(f"layer {k + 1}: spike trains of {train.shape[-1]} neurons, "
                             f"the network has {layer.n_out}")
    return ref_cycles_from_trains(result.active, result.spike_trains, lanes=lanes,
                                  fifo_depth=fifo_depth)


def ref_cycles_from_trains(active, spike_trains, *, lanes: int,
                           fifo_depth: int = FIFO_DEPTH) -> np.ndarray:
    """:func:`ref_cycles` from ``active`` (N, T, L) and ``spike_trains`` (L arrays
    (N, T, n_l) of 0/1), e.g. as saved by the sweep."""
    steps = layer_step_cycles(active, spike_trains, lanes=lanes, fifo_depth=fifo_depth)
    T = steps.shape[1]
    n_last = np.asarray(spike_trains[-1]).shape[-1]
    return steps.sum(axis=(1, 2)) + (T - 1) + n_last + READOUT_TAIL


def layer_step_cycles(active, spike_trains, *, lanes: int,
                      fifo_depth: int = FIFO_DEPTH) -> np.ndarray:
    """``D[n, t, l]`` of :func:`ref_cycles` (N, T, L) int64: the cycles of layer step
    ``(t, l)`` of sample ``n``, from its first issue to the end of its drain inclusive
    (what the whole-device model, :mod:`dynalign.hw.core.cycles`, schedules)."""
    _check_design(lanes, fifo_depth)
    active = np.asarray(active, dtype=np.int64)
    if active.ndim != 3:
        raise ValueError(f"active must have shape (N, T, L), not {active.shape}")
    N, T, L = active.shape
    if len(spike_trains) != L:
        raise ValueError(f"{len(spike_trains)} spike trains for {L} layers")
    K = fifo_depth - 1
    steps = np.zeros((N, T, L), np.int64)
    for k, train in enumerate(spike_trains):
        train = np.asarray(train)
        if train.shape[:2] != (N, T):
            raise ValueError(f"layer {k + 1}: spike trains of shape {train.shape}, want "
                             f"({N}, {T}, n)")
        p = group_spikes(train, lanes)                  # (N, T, G)
        G = p.shape[-1]
        q = np.maximum(p, 1)
        n = np.maximum(active[:, :, k], 1)              # (N, T)
        issue = np.full((N, T), -1, np.int64)
        load = np.zeros((N, T, G), np.int64)
        for g in range(G):
            issue = issue + n
            if g >= K:
                issue = np.maximum(issue, load[:, :, g - K])
            s = issue + DRAIN
            if g:
                s = np.maximum(s, load[:, :, g - 1] + q[:, :, g - 1])
            load[:, :, g] = s
        steps[:, :, k] = load[:, :, G - 1] + p[:, :, G - 1] + 1
    return steps


def ref_cycles_from_sizes(active, n_out, *, lanes: int) -> np.ndarray:
    """A lower bound of :func:`ref_cycles` from the active counts and layer sizes alone
    (no spike trains): ``sum_{t,l} (G_l max(active, 1) + DRAIN) + (T - 1) + n_L +
    READOUT_TAIL``, which is
    exact when no spike delays the drain (the last group has no spike and the serialiser
    keeps up) -- e.g. a silent network.  Only for results saved without spike trains."""
    _check_design(lanes, FIFO_DEPTH)
    active = np.asarray(active, dtype=np.int64)
    n_out = np.asarray(n_out, dtype=np.int64)
    groups = -(-n_out // lanes)
    T = active.shape[1]
    per = groups * np.maximum(active, 1) + DRAIN
    return per.sum(axis=(1, 2)) + (T - 1) + int(n_out[-1]) + READOUT_TAIL


def _check_design(lanes, fifo_depth):
    check_int("lanes", lanes, lo=1)
    check_int("fifo_depth", fifo_depth, lo=8)
