"""cocotb bridge to the Verilated ``DynalignTop``: bytes over its UART pins.

:class:`SimUARTTransport` is a byte transport (``send`` / ``recv``, the interface of the
host driver's transports): ``send`` bit-bangs 8N1 frames onto the ``rx`` pin
(``divisor`` clock cycles per bit), a monitor coroutine decodes the ``tx`` pin (sampling
each bit in its middle), and ``recv`` returns the bytes that arrived, waiting at most
``quiet_cycles`` for the first one.  :func:`reset` starts the design.

The harness knows nothing of the host protocol: the cocotb test that drives a job through
the host driver lives in the host layer (:mod:`dynalign.sw.link_tb`), and
:func:`dynalign.sim.tb_top_run.run_top_job` runs whichever test module it is given.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, ReadOnly, Timer

from dynalign.sim.tb_top_run import CLOCK_NS


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
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, d // 2)
            await ReadOnly()
            if int(dut.tx.value):
                continue                      # glitch
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, d)
                await ReadOnly()
                byte |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, d)
            await ReadOnly()
            if not int(dut.tx.value):
                raise AssertionError("framing error on the device's tx line")
            self.buf.append(byte)
            self.line_bytes += 1
            self.event.set()

    async def send(self, data: bytes) -> None:
        dut, d = self.dut, self.divisor
        for byte in bytes(data):
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                dut.rx.value = bit
                await ClockCycles(dut.clk, d)
            self.line_bytes += 1

    async def send_bits(self, levels) -> None:
        """Raw line levels, one bit time each (framing-error injection)."""
        for level in levels:
            self.dut.rx.value = level
            await ClockCycles(self.dut.clk, self.divisor)
        self.dut.rx.value = 1

    async def recv(self) -> bytes:
        if not self.buf:
            self.event.clear()
            # one timed callback (not one per clock edge) keeps long waits cheap
            await First(self.event.wait(), Timer(self.quiet_cycles * CLOCK_NS, unit="ns"))
            await Timer(1, unit="ps")
        out, self.buf = bytes(self.buf), bytearray()
        return out
