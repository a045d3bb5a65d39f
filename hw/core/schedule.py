"""The compute core's schedule: the plain integers that :class:`dynalign.hw.top.LIFCore`
and its run sequencer (:class:`dynalign.hw.core.run.RunSequencer`) are built to and that
the whole-device cycle model (:mod:`dynalign.hw.core.cycles`) counts with.

Plain integers, no gateware: the golden cycle model imports this module, never the RTL.
"""

from __future__ import annotations

__all__ = ["FEED_CYCLES", "TABLE_FIFO_DEPTH"]

#: The run sequencer's feed: one code per ``FEED_CYCLES`` cycles (FEED addresses the
#: feature buffer, FEED2 offers its code), the first offered ``FEED_CYCLES`` cycles
#: after ``start``.
FEED_CYCLES = 2
#: Output FIFO depth of the table core's :class:`dynalign.hw.encoder.server.TableServer`
#: (one beat per ``ISSUE_TO_BEAT + 1`` cycles: the next read waits for the beat to be
#: taken; the iCEBreaker's flip-flops are scarce and its layer 1 is slower anyway).
TABLE_FIFO_DEPTH = 1
