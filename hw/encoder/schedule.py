"""The encoder's serve schedule: the latencies and defaults that the lookup
(:class:`dynalign.hw.encoder.lookup.TableLookup`, shared by the integrating encoder and
the table server) is built to and that the whole-device cycle model
(:mod:`dynalign.hw.core.cycles`) counts with.

Plain integers, no gateware: the golden cycle model imports this module, never the RTL.
"""

from __future__ import annotations

__all__ = ["OUTPUT_FIFO_DEPTH", "REQUEST_TO_ISSUE", "ISSUE_TO_BEAT", "REFILL_STEP_CYCLES",
           "REFILL_CODE_CYCLES", "refill_cycles"]

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

#: Cycles of one RK4 step of the integrating encoder's microprogram, per system (the
#: issue schedule of :class:`dynalign.hw.encoder.integrator.IntegratorSequencer`: its
#: scoreboard, the wait flags and the serial multiplier's three cycles a multiply),
#: measured and pinned by ``tests/test_encoder_rtl.py``: a change of the microprogram's
#: timing must change this table.
REFILL_STEP_CYCLES = {"mixed": 189, "lorenz": 153, "chen": 153, "rossler": 145,
                      "aizawa": 305, "nose-hoover": 141, "sprott-c": 137, "chua": 145}
#: Cycles a code costs besides its steps and its last sample's table writes (its start,
#: the pipeline's drain, its saturation bit).
REFILL_CODE_CYCLES = 12


def refill_cycles(system: str, n_steps: int, code_width: int, *, lanes: int = 1) -> int:
    """The encoder's ``refill_cycles`` for ``n_steps`` RK4 steps of ``system`` (its
    name, :class:`dynalign.hw.systems.System` value) over all ``2**code_width`` codes,
    ``lanes`` samples per table word (1 or 3): ``2**w * (n_steps *
    REFILL_STEP_CYCLES[system] + REFILL_CODE_CYCLES + 3 / lanes) + 1`` (the last
    sample's ``3 / lanes`` writes; the counter starts at 1 on the ``refill`` strobe)."""
    if lanes not in (1, 3):
        raise ValueError(f"lanes must be 1 or 3, not {lanes!r}")
    per_code = n_steps * REFILL_STEP_CYCLES[system] + REFILL_CODE_CYCLES + 3 // lanes
    return (1 << code_width) * per_code + 1
