"""cocotb bridge to the Verilated ``DynalignTop``: the host driver over the UART pins.

:class:`SimUARTTransport` is a transport for :class:`dynalign.sw.driver.Device`: ``send`` bit-bangs
8N1 frames onto the ``rx`` pin (``divisor`` clock cycles per bit), a monitor coroutine
decodes the ``tx`` pin (sampling each bit in its middle), and ``recv`` returns the bytes
that arrived, waiting at most ``quiet_cycles`` for the first one.  The very same
``Device`` code drives a board over pyserial.

The test reads a job (JSON file named by ``DYNALIGN_TOP_JOB``, made by
:func:`dynalign.sim.tb_top_run.run_top_job`): the UART divisor and a list of operations
(``identify``, ``status``, ``upload``, ``classify``, ``raw``), runs them through the
driver and writes one output per operation to ``DYNALIGN_TOP_RESULT``.  Comparison with
the golden model happens in the caller (pytest, ``dynalign verify system``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, ReadOnly, Timer

from dynalign.sim.tb_top_run import CLOCK_NS


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


def _frame_json(frame):
    if frame is None:
        return None
    return {"cmd": frame.cmd, "seq": frame.seq, "payload": frame.payload.hex()}


@cocotb.test()
async def top_job(dut):
    """Run the job's operations through sw.driver.Device over the simulated UART."""
    from dynalign.sw.driver import Device, DeviceError, LinkTimeout
    job = json.loads(Path(os.environ["DYNALIGN_TOP_JOB"]).read_text())
    # the clock runs in the HDL wrapper (sim.tb_top_run.WRAPPER), period CLOCK_NS
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    transport = SimUARTTransport(dut, divisor=job["divisor"], quiet_cycles=job["quiet_cycles"])
    dev = Device(transport, quiet_limit=job.get("quiet_limit", 2000), retries=0)
    out = []
    clk_start = cocotb.utils.get_sim_time("ns")
    for op in job["ops"]:
        kind = op["op"]
        t0 = cocotb.utils.get_sim_time("ns")
        res = {"op": kind}
        try:
            if kind == "identify":
                await dev.identify()
                res["ok"] = True
            elif kind == "status":
                st = await dev.status()
                res["status"] = st.__dict__
            elif kind == "upload":
                res["bank"] = await dev.upload(bytes.fromhex(op["image"]))
            elif kind == "classify":
                r = await dev.classify(op["codes"])
                res["results"] = r.pack().hex()
            elif kind == "raw":
                if op.get("bits"):
                    await transport.send_bits(op["bits"])
                else:
                    await dev.send_raw(bytes.fromhex(op["hex"]))
                if op.get("reply", True):
                    res["reply"] = _frame_json(await dev.receive())
                else:
                    await ClockCycles(dut.clk, op.get("wait", 1000))
            else:
                raise AssertionError(f"unknown op {kind!r}")
        except DeviceError as exc:
            res["error"] = exc.err.name if hasattr(exc.err, "name") else int(exc.err)
        except LinkTimeout:
            res["error"] = "LINK_TIMEOUT"
        res["sim_cycles"] = int((cocotb.utils.get_sim_time("ns") - t0) // CLOCK_NS)
        out.append(res)
    summary = {"ops": out, "bytes_sent": dev.bytes_sent, "bytes_received": dev.bytes_received,
               "line_bytes": transport.line_bytes,
               "sim_cycles": int((cocotb.utils.get_sim_time("ns") - clk_start) // CLOCK_NS)}
    Path(os.environ["DYNALIGN_TOP_RESULT"]).write_text(json.dumps(summary))
