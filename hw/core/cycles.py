"""Cycle model of the whole device: the ``cycles`` field of every results record, exactly,
from the golden network's result -- without simulating RTL.

``cycles`` is counted by the run sequencer (:class:`dynalign.hw.core.run.RunSequencer`)
from ``start`` (the ``RUN`` command) to the cycle in which the LIF network's class is
valid: the feed of the ``K`` codes, the encoder's lookup of the ``3 K T`` samples (the
integrating encoder after its refill, or the table core's uploaded table), the LIF
network's ``T`` steps and its class scan.  The latencies are the shared schedule
constants of :mod:`dynalign.hw.core.schedule`, :mod:`dynalign.hw.encoder.schedule` and
:mod:`dynalign.hw.lif.schedule`, and the LIF network's layer steps are
:func:`dynalign.hw.lif.cycles.layer_step_cycles` (the exact LIF model).  The model
imports no gateware.

The equation.  Times in cycles after ``start`` (= 0).  Beat ``j = 3 K t + 3 k + c`` is
sample ``c`` of feature ``k`` at step ``t``; ``depth`` is the lookup's output FIFO depth
(``OUTPUT_FIFO_DEPTH`` = 4 for the integrating encoder, ``TABLE_FIFO_DEPTH`` = 1 for the
table core); ``D[t, l]`` the layer-step cycles of the LIF model::

    request complete   Q   = FEED_CYCLES * K                  (code i offered, and
                                                               taken, at 2 + 2 i)
    lookup issue       I_j = max(I_{j-1} + 1, A_{j-depth} + 1)       I_{-1} = Q
                                                         (+ REQUEST_TO_ISSUE - 1)
    network accepts    A_j = max(A_{j-1} + 1, I_j + ISSUE_TO_BEAT, B_j)
                       B_j = R_{t-2} + 1 for the first beat of step t >= 2 (its input
                             bank is free once layer 1 of step t - 2 released it), else 0
    bank full          F_t = A_{3K(t+1)-1} + INPUT_TO_FULL
    step start         E_0 = F_0 + 1,   E_t = max(X_{t-1} + 1, F_t) + 1   (WAIT_INPUT)
    layer 1 released   R_t = E_t + D[t, 0] - 1
    step end           X_t = E_t + sum_l D[t, l] - 1
    class valid        cycles = X_{T-1} + n_L + READOUT_TAIL + 2

(``n_L`` output neurons scanned one per cycle, the registered compare, and the class
offered the cycle after the scan).  When the network never waits for a sample this is
``F_0 + 1 + ref_cycles + 1``: the LIF network's own count plus the time to its first
full input bank.  An image the core refuses (``FLAG_CORE_ERROR``) answers 0 cycles.
"""

from __future__ import annotations

import numpy as np

from ..encoder.schedule import ISSUE_TO_BEAT, OUTPUT_FIFO_DEPTH, REQUEST_TO_ISSUE
from ..lif.cycles import layer_step_cycles
from ..lif.ref import NetworkResult
from ..lif.schedule import FIFO_DEPTH, INPUT_TO_FULL, READOUT_TAIL
from ..validate import check_int
from .schedule import FEED_CYCLES, TABLE_FIFO_DEPTH

__all__ = ["ref_device_cycles", "ref_device_cycles_from_steps", "lookup_fifo_depth"]


def lookup_fifo_depth(table: bool) -> int:
    """The output FIFO depth of the core's encoder: the table server's or the
    integrating encoder's."""
    return TABLE_FIFO_DEPTH if table else OUTPUT_FIFO_DEPTH


def ref_device_cycles(result: NetworkResult, *, n_features: int, lanes: int,
                      table: bool) -> np.ndarray:
    """Per sample, the ``cycles`` of the results record of a device with ``lanes`` LIF
    lanes and the table core (``table=True``) or the integrating encoder, from ``result
    = ref_network(samples, net)`` of the ``n_features``-feature model (its ``active``
    and ``spike_trains``).  Exact (see the module docstring and ``tests/test_top.py``)."""
    if not isinstance(result, NetworkResult):
        raise TypeError(f"result must be a NetworkResult, not {type(result).__name__}")
    if result.spike_trains is None:
        raise ValueError("result has no spike trains (use ref_network)")
    steps = layer_step_cycles(result.active, result.spike_trains, lanes=lanes,
                              fifo_depth=FIFO_DEPTH)
    n_last = np.asarray(result.spike_trains[-1]).shape[-1]
    return ref_device_cycles_from_steps(steps, n_features=n_features, n_last=n_last,
                                        depth=lookup_fifo_depth(bool(table)))


def ref_device_cycles_from_steps(steps, *, n_features: int, n_last: int,
                                 depth: int) -> np.ndarray:
    """:func:`ref_device_cycles` from the layer-step cycles ``steps`` (N, T, L) of
    :func:`dynalign.hw.lif.cycles.layer_step_cycles`, the output layer's size and the
    lookup's FIFO depth."""
    k = check_int("n_features", n_features, lo=1)
    check_int("n_last", n_last, lo=1)
    check_int("depth", depth, lo=1)
    steps = np.asarray(steps, dtype=np.int64)
    if steps.ndim != 3:
        raise ValueError(f"steps must have shape (N, T, L), not {steps.shape}")
    N, T, _ = steps.shape
    per_step = 3 * k
    issue = np.full(N, FEED_CYCLES * k + REQUEST_TO_ISSUE - 1, np.int64)   # I_{-1}
    accept = np.full(N, -1, np.int64)                                     # A_{-1}
    hist = []                               # A_j of the beats still in the FIFO window
    release = []                            # R_t
    end = None                              # X_{t-1}
    for t in range(T):
        for c in range(per_step):
            j = t * per_step + c
            issue = issue + 1
            if j >= depth:
                issue = np.maximum(issue, hist[j - depth] + 1)
            a = np.maximum(accept + 1, issue + ISSUE_TO_BEAT)
            if c == 0 and t >= 2:
                a = np.maximum(a, release[t - 2] + 1)
            accept = a
            hist.append(a)
        full = accept + INPUT_TO_FULL
        start = full + 1 if t == 0 else np.maximum(end + 1, full) + 1
        release.append(start + steps[:, t, 0] - 1)
        end = start + steps[:, t, :].sum(axis=1) - 1
    return end + n_last + READOUT_TAIL + 2
