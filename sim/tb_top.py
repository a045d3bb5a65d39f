"""cocotb bridge to the Verilated ``DynalignTop``: bytes over its UART pins.

:class:`SimUARTTransport` is a byte transport (``send`` / ``recv``, the interface of the
host driver's transports): ``send`` bit-bangs 8N1 frames onto the ``rx`` pin
(``divisor`` clock cycles per bit), a monitor coroutine decodes the ``tx`` pin (sampling
each bit in its middle), and ``recv`` returns the bytes that arrived, waiting at most
``quiet_cycles`` for the first one.  :func:`reset` starts the design.

Speed: the clock runs in the HDL wrapper, so the bit times are timed callbacks
(:class:`~cocotb.triggers.Timer`, one per run of equal bits on ``rx`` and one per bit
sampled on ``tx``), not :class:`~cocotb.triggers.ClockCycles` (a Python callback per
clock edge).  Every line change and every sample falls a quarter clock period after a
rising edge, never on one, so the design sees each level change at a defined edge.

The harness knows nothing of the host protocol: the cocotb test that drives a job through
the host driver lives in the host layer (:mod:`dynalign.sw.link_tb`), and
:func:`dynalign.sim.tb_top_run.run_top_job` runs whichever test module it is given.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, Timer
from cocotb.utils import get_sim_time

from dynalign.sim.tb_top_run import CLOCK_NS

#: Simulated picoseconds per clock cycle.  The wrapper's clock starts low and toggles
#: every half period, so it rises at ``CLOCK_PS / 2 + k CLOCK_PS``; line changes and
#: samples fall at ``PHASE_PS`` (mod ``CLOCK_PS``), a quarter period after a rising edge.
CLOCK_PS = CLOCK_NS * 1000
PHASE_PS = (CLOCK_PS // 2 + CLOCK_PS // 4) % CLOCK_PS


async def _to_phase() -> None:
    """Wait until ``PHASE_PS`` after the next (or the current) rising clock edge."""
    now = get_sim_time("ps")
    wait = (PHASE_PS - now) % CLOCK_PS
    if wait:
        await Timer(wait, unit="ps")


async def cycles(n: int) -> None:
    """Wait ``n`` clock cycles with one timed callback (keeps the phase)."""
    if n > 0:
        await Timer(n * CLOCK_PS, unit="ps")


async def reset(dut, *, cycles: int = 4) -> None:
    """Hold ``rst`` for ``cycles`` clock cycles with the line idle, then run ``cycles``
    more (the clock runs in the HDL wrapper, :data:`dynalign.sim.tb_top_run.WRAPPER`)."""
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await ClockCycles(dut.clk, cycles)


class SimUARTTransport:
    """Host side of the UART, on the pins of the simulated top level."""

    def __init__(self, dut, *, divisor: int, quiet_cycles: int):
        self.dut = dut
        self.divisor = divisor
        self.quiet_cycles = quiet_cycles
        self.buf = bytearray()
        self.event = Event()
        self.line_bytes = 0
        dut.rx.value = 1
        self._monitor = cocotb.start_soon(self._rx_monitor())

    async def _rx_monitor(self):
        dut, d = self.dut, self.divisor
        while True:
            await FallingEdge(dut.tx)         # tx changes just after a rising edge
            await _to_phase()
            await cycles(d // 2)              # the start bit's middle
            if int(dut.tx.value):
                continue                      # glitch
            byte = 0
            for i in range(8):
                await cycles(d)
                byte |= int(dut.tx.value) << i
            await cycles(d)
            if not int(dut.tx.value):
                raise AssertionError("framing error on the device's tx line")
            self.buf.append(byte)
            self.line_bytes += 1
            self.event.set()

    async def _drive(self, levels) -> None:
        """``levels`` on ``rx``, one bit time each, one timed wait per run of equal
        levels."""
        d = self.divisor
        await _to_phase()
        levels = list(levels)
        i = 0
        while i < len(levels):
            j = i
            while j < len(levels) and levels[j] == levels[i]:
                j += 1
            self.dut.rx.value = levels[i]
            await cycles((j - i) * d)
            i = j

    async def send(self, data: bytes) -> None:
        levels = []
        for byte in bytes(data):
            levels += [0] + [(byte >> i) & 1 for i in range(8)] + [1]
        await self._drive(levels)
        self.line_bytes += len(bytes(data))

    async def send_bits(self, levels) -> None:
        """Raw line levels, one bit time each (framing-error injection)."""
        await self._drive(levels)
        self.dut.rx.value = 1

    async def recv(self) -> bytes:
        if not self.buf:
            self.event.clear()
            # one timed callback (not one per clock edge) keeps long waits cheap
            await First(self.event.wait(), Timer(self.quiet_cycles * CLOCK_NS, unit="ns"))
            await Timer(1, unit="ps")
        out, self.buf = bytes(self.buf), bytearray()
        return out
