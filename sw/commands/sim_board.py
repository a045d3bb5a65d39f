"""``dynalign sim-board --board {icebreaker,ulx3s} [RUN ...]``: a virtual board.

Runs the Verilated top level of the board (:func:`dynalign.sim.virtual_board.board_top`:
the core, limits, lanes and weight RAM that ``dynalign build --board`` puts on it, sized
for RUN's models when given) behind a pseudo-terminal, and prints the port to use
(``/dev/pts/N``).  Every host command works against it unchanged over pyserial::

    dynalign sim-board --board icebreaker --link /tmp/dynalign-board &
    dynalign upload --port /tmp/dynalign-board RUN
    dynalign check  --port /tmp/dynalign-board RUN --samples 20

The UART is cycle-true: each bit lasts ``clock / baud`` cycles of the board's clock
(each board's PLL: 24 MHz on the iCEBreaker, 50 MHz on the ULX3S).  ``--baud`` defaults to
the fastest rate the board's USB UART carries exactly from its clock (3,000,000 = 24 MHz
/ 8 on the iCEBreaker, 2,000,000 = 50 MHz / 25 on the ULX3S);
``--divisor`` sets the cycles per bit directly (at least 4).

Real-time cost: Verilator runs the iCEBreaker's top at 0.2-0.6 M cycles per second on
one core (about 0.22 M over a whole-split ``check`` on a loaded 2-core machine: 723
inferences, 155 KB on the line, ~27.5 M cycles in 2 min 3 s), so the virtual board is
40-100 times slower than a 24 MHz iCEBreaker; at 3 Mbaud a byte costs 80 cycles, an
inference 15-30 k.
The ULX3S's encoder integrates its trajectory table on chip after
every upload (~37 M cycles, minutes of simulation): give the host ``--timeout 400``.
Simulated time stands still while the link is idle (no CPU used).

``--tcp PORT`` also serves the same byte stream on ``127.0.0.1:PORT`` (0: any free
port; :mod:`dynalign.sim.tcp_port`), for pyserial's URL handler: give the host commands
``--port socket://127.0.0.1:PORT`` (the line printed, or the ``tcp`` of ``--json``).
One client at a time; an unplug closes its connection.

Stops on Ctrl-C, or after ``--idle-exit`` seconds without a byte from the host.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from dynalign.constraints.boards import BOARDS, check_baud, default_baud, limits_for_images
from dynalign.hw.wire import parse_image
from dynalign.sim.tcp_port import TcpPort
from dynalign.sim.virtual_board import board_top, serve, wait_port

from ..rundir import device_image

__all__ = ["register", "SIM_BAUD"]

#: The default baud of each virtual board: the fastest rate its USB UART (FT2232H on the
#: iCEBreaker, FT231X on the ULX3S; both up to 3 Mbaud) makes that the board's clock
#: divides to exactly (:func:`dynalign.constraints.boards.default_baud`).
SIM_BAUD = {b: default_baud(b) for b in BOARDS}


def register(sub):
    p = sub.add_parser("sim-board", help="run a board's Verilated top level behind a "
                                         "serial port (no hardware needed)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="size the network for these models (default: the board's default)")
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    p.add_argument("--baud", type=int, help="UART baud at the board's clock, one of the "
                   "rates `dynalign build --list-bauds` prints (default: "
                   + ", ".join(f"{b} {r:,}" for b, r in SIM_BAUD.items()) + ")")
    p.add_argument("--divisor", type=int, help="UART clock cycles per bit (overrides --baud)")
    p.add_argument("--link", help="also make this symlink to the port (kept across an "
                                  "unplug / replug)")
    p.add_argument("--tcp", type=int, metavar="PORT",
                   help="also serve the port on 127.0.0.1:PORT (0: any free port) for "
                        "--port socket://127.0.0.1:PORT")
    p.add_argument("--idle-exit", type=float, default=0, metavar="S",
                   help="stop after S seconds without a byte from the host (default: never)")
    p.add_argument("--unplug-after", type=int, default=0, metavar="BYTES",
                   help="fault injection: close the port after BYTES bytes from the host "
                        "(a pulled cable); it reappears after --replug-after seconds")
    p.add_argument("--replug-after", type=float, default=1.0, metavar="S")
    p.add_argument("--json", action="store_true",
                   help="print the port as one JSON line")
    p.set_defaults(func=_main)


def _main(args) -> int:
    limits = None
    if args.runs:
        spec = BOARDS[args.board]
        limits = limits_for_images([parse_image(device_image(r)) for r in args.runs],
                                   lanes=spec.lanes, table=spec.table)
    baud = args.baud or SIM_BAUD[args.board]
    if args.divisor is None:
        check_baud(baud, board=args.board)      # the rates `dynalign build --baud` takes
    vb = board_top(board=args.board, limits=limits, baud=baud, divisor=args.divisor)
    tmp = Path(tempfile.mkdtemp(prefix="dynalign-sim-board-"))
    info = tmp / "port.json"
    tcp = None
    if args.tcp is not None:
        try:
            tcp = TcpPort(info=info, port=args.tcp).start()
        except ValueError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def announce():
        try:
            state = wait_port(info, timeout=3600)
        except TimeoutError:
            return
        lim = vb.top.limits
        rep = {"board": args.board, "port": state["port"], "link": state["link"],
               "tcp": tcp.url if tcp else None, "clock_mhz": vb.clk_freq / 1e6,
               "divisor": vb.divisor,
               "baud": round(vb.sim_baud), "topology_max": [3 * lim.max_features,
                                                            *lim.max_sizes]}
        if args.json:
            print(json.dumps(rep), flush=True)
        else:
            port = state["link"] or state["port"]
            print(f"virtual {args.board} on {state['port']}"
                  + (f" (link {state['link']})" if state["link"] else "")
                  + (f" and {rep['tcp']}" if rep["tcp"] else "")
                  + f": {rep['clock_mhz']:g} MHz, UART {rep['baud']:,} baud "
                  f"({vb.divisor} cycles per bit), up to {rep['topology_max']}; try: "
                  f"dynalign upload --port {port} RUN", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    print(f"building the Verilated {args.board} top level (first time: a minute or more)",
          file=sys.stderr, flush=True)
    def stop(signum, frame):
        raise KeyboardInterrupt
    old_term = signal.signal(signal.SIGTERM, stop)     # kill: stop as Ctrl-C does
    try:
        serve(vb, info=info, link=args.link, idle_exit_s=args.idle_exit,
              unplug_after=args.unplug_after, replug_s=args.replug_after,
              tcp=tcp.url if tcp else None)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, AssertionError) as exc:       # no verilator, a failed build
        print(f"dynalign sim-board: error: the virtual board stopped: {exc}",
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if tcp:
            tcp.close()
        info.unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
