"""``dynalign build --board {icebreaker,ulx3s} [RUN] --json``: the accelerator bitstream.

Builds :class:`dynalign.constraints.boards.BoardTop` (the UART host link, command engine,
encoder and LIF network) with the YoWASP tools (:func:`dynalign.hw.synth.build_board`)
and prints its report::

    {"board", "bitstream", "fmax_mhz", "clock_mhz", "luts", "luts_total", "ffs", "dsps",
     "brams", "meets_timing", ...}

``fmax_mhz`` and utilisation come from nextpnr's report; ``clock_mhz`` is the clock the
board runs the design at; ``meets_timing`` is ``fmax_mhz >= clock_mhz``.  The network
size defaults to what the board holds (:func:`dynalign.constraints.boards.default_limits`);
with RUN it is the run's topology (K, T and layer sizes), so exactly that model and
smaller ones fit.  A run larger than what the board holds by default is refused in one
line (its features, layers and weights, the board's limit, the nearest size that fits).
"""

from __future__ import annotations

import json

from dynalign.constraints.boards import BOARDS, default_limits
from dynalign.hw.synth import build_board
from dynalign.hw.wire import parse_image

from ..fit import fit_problem
from ..programmer import program
from ..rundir import device_image, limits_for_run
from .program import add_program_args

__all__ = ["register", "build"]


def build(*, board: str, run=None, baud: int = 115200, build_dir=None,
          do_build: bool = True, name: str = "dynalign", lanes: int | None = None,
          core: str = "lif"):
    """Build (or, with ``do_build=False``, only plan) the bitstream for ``board``, sized
    for RUN's model when ``run`` is given.  Returns the report dict, or the Amaranth
    ``BuildPlan`` when ``do_build`` is False."""
    if run is not None:
        problem = fit_problem(parse_image(device_image(run)).header, default_limits(board),
                              where=f"the {board} board")
        if problem:
            raise ValueError(problem)
    limits = None if run is None else limits_for_run(run, board=board, lanes=lanes)
    return build_board(board=board, limits=limits, lanes=lanes, baud=baud, core=core,
                       build_dir=build_dir, do_build=do_build, name=name)


def register(sub):
    p = sub.add_parser("build", help="build the accelerator bitstream for a board",
                       description=__doc__)
    p.add_argument("run", nargs="?", help="run directory or weight image: size the "
                                          "network for this model (default: board default)")
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    p.add_argument("--baud", type=int, default=115200, help="UART baud (default 115200)")
    p.add_argument("--lanes", type=int, help="LIF lanes (default: the board's)")
    p.add_argument("--out", help="build directory (default build/bitstream/BOARD)")
    p.add_argument("--core", choices=["lif", "stub"], default="lif",
                   help="stub: the host link alone, to measure its share")
    p.add_argument("--program", action="store_true",
                   help="program the board with the new bitstream (dynalign program)")
    add_program_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_main)


def _main(args) -> int:
    rep = build(board=args.board, run=args.run, baud=args.baud, build_dir=args.out,
                lanes=args.lanes, core=args.core)
    if rep["bitstream"] and args.program:
        rep["programmed"] = program(board=args.board, bitstream=rep["bitstream"],
                                    flash=args.flash)["command"]
    if args.json:
        print(json.dumps(rep))
    else:
        for k, v in rep.items():
            print(f"{k}: {v}")
    return 0 if rep["bitstream"] else 1
