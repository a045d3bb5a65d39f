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

``--baud`` is fixed in the bitstream: one of the rates the board's clock and its FTDI USB
UART agree on (:func:`dynalign.constraints.boards.board_bauds`; any other is refused in
one line listing them); ``dynalign build --list-bauds [--board B]`` prints that table.
The report, ``baud`` included, is also written beside the bitstream
(``BUILD_DIR/dynalign.build.json``), where ``upload`` / ``run`` / ``check --board B``
find it and warn when their ``--baud`` differs.
"""

from __future__ import annotations

import json
from pathlib import Path

from dynalign.constraints.boards import BOARDS, baud_table, check_baud, default_limits
from dynalign.hw.synth import build_board
from dynalign.hw.wire import parse_image

from ..fit import fit_problem
from ..programmer import program
from ..rundir import device_image, limits_for_run
from .program import add_program_args

__all__ = ["register", "build", "build_report_path", "read_build_report", "print_bauds"]


def build_report_path(board: str, build_dir=None, name: str = "dynalign") -> Path:
    """Where :func:`build` writes its report: ``BUILD_DIR/NAME.build.json`` (default
    ``build/bitstream/BOARD``, :func:`dynalign.hw.synth.build_board`'s directory)."""
    return Path(build_dir or Path("build") / "bitstream" / board) / f"{name}.build.json"


def read_build_report(board: str, build_dir=None) -> dict | None:
    """The report of the last successful build for ``board`` in ``build_dir`` (default
    directory), or ``None`` when there is none (or it cannot be read)."""
    path = build_report_path(board, build_dir)
    try:
        rep = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rep if isinstance(rep, dict) and rep.get("board") == board else None


def build(*, board: str, run=None, baud: int = 115200, build_dir=None,
          do_build: bool = True, name: str = "dynalign", lanes: int | None = None,
          core: str = "lif"):
    """Build (or, with ``do_build=False``, only plan) the bitstream for ``board``, sized
    for RUN's model when ``run`` is given.  Returns the report dict, or the Amaranth
    ``BuildPlan`` when ``do_build`` is False."""
    check_baud(baud, board=board)                       # one line listing the rates
    if run is not None:
        problem = fit_problem(parse_image(device_image(run)).header, default_limits(board),
                              where=f"the {board} board", board=board)
        if problem:
            raise ValueError(problem)
    limits = None if run is None else limits_for_run(run, board=board, lanes=lanes)
    rep = build_board(board=board, limits=limits, lanes=lanes, baud=baud, core=core,
                      build_dir=build_dir, do_build=do_build, name=name)
    if do_build and rep["bitstream"]:
        path = build_report_path(board, build_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rep))
    return rep


def print_bauds(boards=None, *, as_json: bool = False) -> None:
    """The baud table (:func:`dynalign.constraints.boards.baud_table`) of ``boards``."""
    rows = baud_table(boards)
    if as_json:
        print(json.dumps(rows))
        return
    print(f"{'board':<11} {'clock':>6} {'baud':>10} {'divisor':>7} {'board rate':>12} "
          f"{'FTDI rate':>12} {'error':>7}")
    for r in rows:
        print(f"{r['board']:<11} {r['clock_mhz']:>4g} MHz {r['baud']:>10,} {r['divisor']:>7} "
              f"{r['board_hz']:>12,.1f} {r['bridge_hz']:>12,.1f} {r['error_pct']:>6.3f} %"
              + ("  (default of sim-board)" if r["default"] else ""))


def register(sub):
    p = sub.add_parser("build", help="build the accelerator bitstream for a board",
                       description=__doc__)
    p.add_argument("run", nargs="?", help="run directory or weight image: size the "
                                          "network for this model (default: board default)")
    p.add_argument("--board", choices=sorted(BOARDS), help="the board (required, except "
                                                            "with --list-bauds)")
    p.add_argument("--baud", type=int, default=115200,
                   help="UART baud fixed in the bitstream (default 115200): a rate the "
                        "board's clock and its FTDI USB UART agree on (--list-bauds)")
    p.add_argument("--list-bauds", action="store_true",
                   help="print the rates each board (or --board) makes, with the UART "
                        "divisor and the error against the FTDI bridge's rate, and exit")
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
    if args.list_bauds:
        print_bauds([args.board] if args.board else None, as_json=args.json)
        return 0
    if args.board is None:
        raise ValueError("the following argument is required: --board "
                         f"({', '.join(sorted(BOARDS))})")
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
