"""``dynalign upload --port /dev/ttyUSB0 RUN``: upload a model to a board.

Speaks the link protocol through :class:`dynalign.sw.driver.Device` over pyserial: reads the
device's identity (limits), uploads RUN's device image in chunks (``IMAGE_BEGIN`` /
``IMAGE_DATA`` / ``IMAGE_COMMIT``) into ``--bank`` (default: the bank not being served;
the served model keeps running until the commit succeeds) and prints the bank now
served.
"""

from __future__ import annotations

import json
import sys

from dynalign.constraints.boards import BOARDS, check_baud
from dynalign.hw.wire import parse_image

from ..driver import Device, SerialTransport, run_sync
from ..fit import fit_problem
from ..rundir import device_image
from .build import read_build_report

__all__ = ["register", "upload", "open_device", "add_link_args", "device_from_args",
           "LINK_HELP", "baud_note"]


#: pyserial's read timeout: one quiet period of the driver (``--timeout`` is a whole
#: number of them).
QUIET_S = 0.25
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_RETRIES = 2

LINK_HELP = ("Each request waits at most --timeout seconds of silence for its reply and "
             "is sent again at most --retries times after a damaged frame or a lost "
             "reply, so a dead link fails within (retries + 1) x timeout seconds; a port "
             "that goes away fails at once, in one line, and the device keeps its "
             "previous model.")


def add_link_args(p) -> None:
    """The serial-link options shared by every command that talks to a board."""
    p.add_argument("--port", required=True,
                   help="serial port, e.g. /dev/ttyUSB1 or a virtual board's /dev/pts/N, "
                        "or a pyserial URL such as socket://127.0.0.1:PORT (sim-board --tcp)")
    p.add_argument("--baud", type=int, default=115200,
                   help="link speed, the one the bitstream was built for (dynalign build "
                        "--baud; --list-bauds prints the rates; a pseudo-terminal or "
                        "socket:// port ignores it; default 115200)")
    p.add_argument("--board", choices=sorted(BOARDS),
                   help="the board behind the port: --baud must be one of its rates, "
                        "--build's report is read, the latency is given at its clock")
    p.add_argument("--build", metavar="DIR",
                   help="with --board: the build directory of its bitstream (default "
                        "build/bitstream/BOARD), to warn when --baud differs from the "
                        "bitstream's")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds of silence before a request fails (default "
                        f"{DEFAULT_TIMEOUT_S:g}; a virtual board with an on-chip "
                        "integrator needs ~400 after an upload)")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                   help=f"resends after a damaged frame or lost reply (default "
                        f"{DEFAULT_RETRIES})")


def open_device(port: str, *, baud: int, transport=None, timeout: float = DEFAULT_TIMEOUT_S,
                retries: int = DEFAULT_RETRIES):
    """A :class:`dynalign.sw.driver.Device` on ``port`` (or on ``transport``, for tests):
    a request fails after ``timeout`` seconds without a reply, and is resent at most
    ``retries`` times."""
    if not timeout > 0:
        raise ValueError(f"--timeout must be a positive number of seconds, not {timeout!r}")
    quiet = max(1, round(timeout / QUIET_S))
    if transport is None:
        transport = SerialTransport(port, baud=baud, timeout=QUIET_S)
    return Device(transport, quiet_limit=quiet, retries=retries)


def baud_note(baud: int, *, board: str | None, build_dir=None) -> str | None:
    """One line when the build report of ``board`` (in ``build_dir``, default
    ``build/bitstream/BOARD``; :func:`dynalign.sw.commands.build.read_build_report`)
    records another baud than ``baud`` (``None``: no report at hand, or the same)."""
    if board is None:
        return None
    rep = read_build_report(board, build_dir)
    if rep is None or rep.get("baud") in (None, baud):
        return None
    return (f"the {board} bitstream {rep.get('bitstream')} was built for {rep['baud']:,} "
            f"baud, not --baud {baud:,}: the board will not understand the host (give "
            f"--baud {rep['baud']} or rebuild with dynalign build --baud {baud})")


def device_from_args(args, transport=None):
    """:func:`open_device` from the options of :func:`add_link_args`, after checking
    ``--baud`` (:func:`dynalign.constraints.boards.check_baud`: a rate of ``--board``, or
    of some board; the message ``dynalign build --baud`` gives) and warning on stderr
    when the board's build report records another baud (:func:`baud_note`)."""
    board = getattr(args, "board", None)
    check_baud(args.baud, board=board)
    note = baud_note(args.baud, board=board, build_dir=getattr(args, "build", None))
    if note:
        print(f"dynalign {getattr(args, 'command', None) or 'link'}: warning: {note}",
              file=sys.stderr)
    return open_device(args.port, baud=args.baud, transport=transport,
                       timeout=getattr(args, "timeout", DEFAULT_TIMEOUT_S),
                       retries=getattr(args, "retries", DEFAULT_RETRIES))


def upload(dev, image: bytes, *, bank: int | None = None) -> dict:
    """Upload a device image (:func:`dynalign.sw.rundir.device_image`) to ``dev`` (into
    ``bank``; default the one not served)."""

    hdr = parse_image(image).header

    async def go():
        limits = await dev.identify()
        problem = fit_problem(hdr, limits)
        if problem:
            raise ValueError(problem)
        bank_now = await dev.upload(image, bank=bank)
        return limits, bank_now
    limits, bank = run_sync(go())
    return {"bank": bank, "image_bytes": len(image),
            "topology": [3 * hdr.n_features, *hdr.sizes],
            "device_max": [3 * limits.max_features, *limits.max_sizes]}


def register(sub):
    p = sub.add_parser("upload", help="upload a model to a board over its serial port",
                       description=__doc__, epilog=LINK_HELP)
    p.add_argument("run", help="run directory (dynalign train --out) or weight image")
    add_link_args(p)
    p.add_argument("--bank", type=int, choices=(0, 1),
                   help="store bank to upload into (default: the one not being served)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args, transport=None) -> int:
    image = device_image(args.run)  # a bad RUN fails here, before the port is opened
    rep = upload(device_from_args(args, transport), image, bank=getattr(args, "bank", None))
    print(json.dumps(rep) if args.json else f"uploaded to bank {rep['bank']}")
    return 0
