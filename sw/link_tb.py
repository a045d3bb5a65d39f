"""cocotb test: the host driver (:class:`dynalign.sw.driver.Device`) over the UART pins
of the Verilated ``DynalignTop`` -- the very same ``Device`` code that drives a board over
pyserial.

The test reads a job (JSON file named by ``DYNALIGN_TOP_JOB``, made by
:func:`dynalign.sw.sim_link.run_ops`): the UART divisor and a list of operations
(``identify``, ``status``, ``upload``, ``select``, ``classify``, ``raw``), runs them through the
driver and writes one output per operation to ``DYNALIGN_TOP_RESULT``.  Comparison with
the golden model happens in the caller (pytest, ``dynalign verify system``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb

from dynalign.sim.tb_top import SimUARTTransport, cycles, reset
from dynalign.sim.tb_top_run import CLOCK_NS
from dynalign.sw.driver import Device, DeviceError, LinkTimeout


def _frame_json(frame):
    if frame is None:
        return None
    return {"cmd": frame.cmd, "seq": frame.seq, "payload": frame.payload.hex()}


@cocotb.test()
async def top_job(dut):
    """Run the job's operations through :class:`Device` over the simulated UART."""
    job = json.loads(Path(os.environ["DYNALIGN_TOP_JOB"]).read_text())
    await reset(dut)
    transport = SimUARTTransport(dut, divisor=job["divisor"], quiet_cycles=job["quiet_cycles"])
    dev = Device(transport, quiet_limit=job.get("quiet_limit", 2000), retries=0)
    out = []
    clk_start = cocotb.utils.get_sim_time("ns")
    wall_start = time.perf_counter()
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
                res["bank"] = await dev.upload(bytes.fromhex(op["image"]), bank=op.get("bank"))
            elif kind == "select":
                res["bank"] = await dev.select(op["bank"])
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
                    await cycles(op.get("wait", 1000))
            else:
                raise AssertionError(f"unknown op {kind!r}")
        except DeviceError as exc:
            res["error"] = exc.err.name if hasattr(exc.err, "name") else int(exc.err)
        except LinkTimeout:
            res["error"] = "LINK_TIMEOUT"
        res["sim_cycles"] = int((cocotb.utils.get_sim_time("ns") - t0) // CLOCK_NS)
        out.append(res)
        if res.get("error") == "LINK_TIMEOUT":
            break           # a device that stopped answering: the rest would wait as long
    summary = {"ops": out, "bytes_sent": dev.bytes_sent, "bytes_received": dev.bytes_received,
               "line_bytes": transport.line_bytes,
               "sim_cycles": int((cocotb.utils.get_sim_time("ns") - clk_start) // CLOCK_NS),
               "sim_wall_s": time.perf_counter() - wall_start}
    Path(os.environ["DYNALIGN_TOP_RESULT"]).write_text(json.dumps(summary))
