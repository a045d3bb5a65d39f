"""The LIF engine's schedule: the latencies and defaults that the RTL
(:mod:`dynalign.hw.lif.rtl` and its blocks) is built to and that the cycle model
(:mod:`dynalign.hw.lif.cycles`) counts with.

Plain integers, no gateware: the golden cycle model imports this module, never the RTL.
The block tests (``tests/test_lif_blocks.py``) hold each block to its latency here, and
``tests/test_lif_cycles.py`` holds the whole engine to the model built from them.
"""

from __future__ import annotations

__all__ = ["FIFO_DEPTH", "ACCUMULATE_LATENCY", "UPDATE_LATENCY", "ISSUE_TO_MASK",
           "FIFO_LATENCY", "MASK_TO_SERIALISER", "DRAIN", "READOUT_TAIL", "INPUT_TO_FULL"]

#: Default depth of the spike-mask FIFO (``LIFNetwork(fifo_depth=...)``); a group's last
#: entry is issued only while fewer than ``fifo_depth - 1`` masks are pending.
FIFO_DEPTH = 8
#: issue -> P1 -> PA -> P2 -> P3: a group's sum leaves the accumulator (P3) four cycles
#: after the issue of its last entry.
ACCUMULATE_LATENCY = 4
#: P3 -> F1 -> F2 -> F3: the neuron update writes the group's spike mask three cycles
#: after the sum.
UPDATE_LATENCY = 3
#: issue -> mask written into the FIFO.
ISSUE_TO_MASK = ACCUMULATE_LATENCY + UPDATE_LATENCY
#: FIFO write -> the mask visible at the FIFO output (``SyncFIFOBuffered``).
FIFO_LATENCY = 2
#: FIFO write -> the mask loaded into the serialiser (its first index written).
MASK_TO_SERIALISER = FIFO_LATENCY + 1
#: issue of a group's last entry -> its mask loaded into the serialiser.
DRAIN = ISSUE_TO_MASK + MASK_TO_SERIALISER
#: Read-out cycles after the scan of the output neurons (the registered key compare).
READOUT_TAIL = 1
#: The input loader (LA -> LB -> LW): the last sample of a step accepted -> its bank
#: seen full by the sequencer, which issues the step's first entry one cycle later.
INPUT_TO_FULL = 3
