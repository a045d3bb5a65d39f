"""The ``dynalign`` command-line tool.

Every command lives in its own module under ``dynalign.sw.commands`` (listed in
:data:`COMMANDS`); a module exposes ``register(subparsers)``, which adds its parser
and sets ``func`` to the function that runs it.  ``func(args)`` returns the exit code.
Errors a user can cause (bad files, bad parameters) are raised as
:class:`UsageError` or ``ValueError``/``TypeError`` and printed as one clear line (exit
code 2); a serial port that cannot be opened, a board that does not answer or answers
with an error reply is printed the same way with exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from .driver import DeviceError, LinkTimeout, PortError
from .programmer import ProgramError

__all__ = ["main", "build_parser", "UsageError", "print_json"]

#: Command modules, in the order ``dynalign --help`` lists them.
COMMANDS = [
    "dynalign.sw.commands.encode",
    "dynalign.sw.commands.train",
    "dynalign.sw.commands.eval",
    "dynalign.sw.commands.lyapunov",
    "dynalign.sw.commands.plot",
    "dynalign.sw.commands.verify",
    "dynalign.sw.commands.sweep",
    "dynalign.sw.commands.build",
    "dynalign.sw.commands.program",
    "dynalign.sw.commands.upload",
    "dynalign.sw.commands.run",
    "dynalign.sw.commands.check",
    "dynalign.sw.commands.sim_board",
    "dynalign.sw.commands.export",
    "dynalign.sw.commands.import_",
]


class UsageError(Exception):
    """A user error: printed as ``dynalign: error: <message>``, exit code 2."""


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=None, sort_keys=False)
    sys.stdout.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynalign",
        description="Dynamical Alignment on an FPGA: encode, train, verify, build.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"dynalign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (PortError, LinkTimeout, DeviceError, ProgramError) as exc:  # the board
        print(f"dynalign {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
