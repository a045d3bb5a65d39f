"""The encoder's serve schedule: the latencies and defaults that the lookup
(:class:`dynalign.hw.encoder.lookup.TableLookup`, shared by the integrating encoder and
the table server) is built to and that the whole-device cycle model
(:mod:`dynalign.hw.core.cycles`) counts with.

Plain integers, no gateware: the golden cycle model imports this module, never the RTL.
"""

from __future__ import annotations

__all__ = ["OUTPUT_FIFO_DEPTH", "REQUEST_TO_ISSUE", "ISSUE_TO_BEAT"]

#: Default depth of the lookup's output FIFO (a beat per cycle through the lookup).  A
#: read is issued only while fewer than ``fifo_depth`` beats are in flight or waiting
#: in the FIFO (issued and not yet taken by the sink).
OUTPUT_FIFO_DEPTH = 4
#: The last code of a request accepted -> the first read of its samples issued (the
#: request's ``full`` bit is registered).
REQUEST_TO_ISSUE = 1
#: A read issued -> its beat at the output FIFO's read side (code buffer read, table
#: read, FIFO write; the FIFO shows a written entry one cycle later).
ISSUE_TO_BEAT = 3
