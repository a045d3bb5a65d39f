"""The virtual board: a board's Verilated top level behind a pseudo-terminal.

:func:`board_top` elaborates exactly the :class:`dynalign.hw.top.DynalignTop` that
:class:`dynalign.constraints.boards.BoardTop` puts on the board (its limits, lanes,
weight RAM and the UART divisor of its clock at ``baud``), or the same top with another
``divisor`` (a faster bit time, for a quicker simulation: the protocol, the results and
their ``cycles`` do not depend on it).  :func:`serve` builds it with Verilator (once per
Verilog text, shared with :func:`dynalign.sim.tb_top_run.run_top_job`) and runs the
cocotb bridge :mod:`dynalign.sim.tb_pty`, which prints nothing: the port is written to
the ``info`` file as soon as it exists (:func:`wait_port` reads it).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from dynalign.constraints.boards import (  # noqa: F401  (board_clock_hz: re-exported)
    board_clock_hz,
    board_spec,
    board_store_ram,
    default_limits,
)
from dynalign.hw.top import DynalignTop
from dynalign.hw.uart import baud_divisor
from dynalign.hw.validate import check_int, check_real
from dynalign.sim.runner import run_cocotb, verilog_of
from dynalign.sim.tb_top_run import BENCH, TOPLEVEL, WRAPPER, default_build_root

__all__ = ["VirtualBoard", "board_top", "board_clock_hz", "serve", "wait_port", "TEST_MODULE"]

TEST_MODULE = "dynalign.sim.tb_pty"


@dataclass(frozen=True)
class VirtualBoard:
    """One board's top level as simulated: the top, its clock and its link."""
    board: str
    top: DynalignTop
    clk_freq: float        # Hz: the board's design clock (cycles -> seconds)
    divisor: int           # UART clock cycles per bit in the simulation
    baud: int              # the board's baud at its own divisor (clk / divisor)

    @property
    def sim_baud(self) -> float:
        """The baud the simulated UART runs at, counted in board-clock time."""
        return self.clk_freq / self.divisor


def board_top(*, board: str, limits=None, baud: int = 115200,
              divisor: int | None = None) -> VirtualBoard:
    """The top level of ``board`` as :class:`dynalign.constraints.boards.BoardTop`
    builds it (default limits: the board's; its link's queues; its model store,
    :func:`dynalign.constraints.boards.board_store_ram`), its UART at ``baud`` (divisor
    ``round(clk / baud)``, within 2 %) or at ``divisor`` cycles per bit."""
    spec = board_spec(board)                            # an unknown board: one line
    clk = board_clock_hz(board)
    if divisor is None:
        divisor = baud_divisor(clk_freq=round(clk), baud=baud)
    check_int("divisor", divisor, lo=1)
    limits = replace(limits or default_limits(board), queue=spec.queue)   # its link's
    top = DynalignTop(limits=limits, divisor=divisor,
                      store_ram=board_store_ram(board, limits))
    return VirtualBoard(board=board, top=top, clk_freq=clk, divisor=top.divisor, baud=baud)


def serve(vb: VirtualBoard, *, info, link=None, idle_exit_s: float = 0,
          unplug_after: int = 0, replug_s: float = 1.0, reply_cycles: int | None = None,
          build_root=None, tcp: str | None = None) -> dict:
    """Build ``vb``'s top (Verilator) and serve it behind a pseudo-terminal until the
    host has been silent for ``idle_exit_s`` seconds (0: until interrupted).  Returns
    the bridge's counters (bytes each way, simulated cycles, wall time).

    ``reply_cycles``: the longest a request may go unanswered before the bridge stops
    simulating for it (default: 2**24 cycles, or 2**27 where the encoder integrates its
    table on chip -- a refill after an upload takes tens of millions of cycles).
    ``tcp``: the ``socket://`` URL of a :class:`dynalign.sim.tcp_port.TcpPort` in front
    of the port, named in the ``info`` file beside it."""
    if check_real("idle_exit_s", idle_exit_s) < 0:
        raise ValueError(f"idle_exit_s must be >= 0, not {idle_exit_s!r}")
    check_int("unplug_after", unplug_after, lo=0)
    if reply_cycles is None:
        reply_cycles = 1 << 24 if vb.top.limits.table else 1 << 27
    text = verilog_of(vb.top, name=TOPLEVEL, ports=[vb.top.rx, vb.top.tx])
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    build_dir = Path(build_root or default_build_root()).resolve() / f"cocotb_top_{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    job = build_dir / f"pty_job_{time.time_ns()}.json"
    result = job.with_name(job.name.replace("job", "result"))
    job.write_text(json.dumps({
        "divisor": vb.divisor, "info": str(Path(info).resolve()),
        "link": str(Path(link).absolute()) if link else None,
        "quiet_cycles": 128 * vb.divisor, "reply_cycles": reply_cycles,
        "idle_exit_s": idle_exit_s, "unplug_after": unplug_after, "replug_s": replug_s,
        "tcp": tcp}))
    try:
        run_cocotb(verilog_text=text + WRAPPER, toplevel=BENCH,
                   test_module=TEST_MODULE, extra_args=("--timing",), build_dir=build_dir,
                   extra_env={"DYNALIGN_PTY_JOB": str(job),
                              "DYNALIGN_PTY_RESULT": str(result)})
    finally:
        job.unlink(missing_ok=True)
    out = json.loads(result.read_text()) if result.exists() else {}
    result.unlink(missing_ok=True)
    return out


def wait_port(info, *, timeout: float, plugged: bool = True, poll: float = 0.05) -> dict:
    """The ``info`` file of a serving board once it says ``plugged`` (``{"port",
    "link", "tcp", "plugged", "pid"}``); ``TimeoutError`` after ``timeout`` seconds."""
    info = Path(info)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if info.exists():
            try:
                state = json.loads(info.read_text())
            except json.JSONDecodeError:
                state = None
            if state and state["plugged"] == plugged:
                return state
        time.sleep(poll)
    raise TimeoutError(f"the virtual board did not {'open' if plugged else 'close'} its "
                       f"port within {timeout:g} s")
