"""``dynalign upload --port /dev/ttyUSB0 RUN``: upload a model to a board.

Speaks the link protocol through :class:`dynalign.sw.driver.Device` over pyserial: reads the
device's identity (limits), uploads RUN's device image in chunks (``IMAGE_BEGIN`` /
``IMAGE_DATA`` / ``IMAGE_COMMIT``) into ``--bank`` (default: the bank not being served;
the served model keeps running until the commit succeeds) and prints the bank now
served.
"""

from __future__ import annotations

import json

from dynalign.hw.wire import parse_image

from ..driver import Device, SerialTransport, run_sync
from ..rundir import device_image

__all__ = ["register", "upload", "open_device"]


def open_device(port: str, *, baud: int, transport=None):
    """A :class:`dynalign.sw.driver.Device` on ``port`` (or on ``transport``, for tests)."""
    return Device(transport if transport is not None else SerialTransport(port, baud=baud))


def upload(dev, image: bytes, *, bank: int | None = None) -> dict:
    """Upload a device image (:func:`dynalign.sw.rundir.device_image`) to ``dev`` (into
    ``bank``; default the one not served)."""

    async def go():
        limits = await dev.identify()
        bank_now = await dev.upload(image, bank=bank)
        return limits, bank_now
    limits, bank = run_sync(go())
    hdr = parse_image(image).header
    return {"bank": bank, "image_bytes": len(image),
            "topology": [3 * hdr.n_features, *hdr.sizes],
            "device_max": [3 * limits.max_features, *limits.max_sizes]}


def register(sub):
    p = sub.add_parser("upload", help="upload a model to a board over its serial port",
                       description=__doc__)
    p.add_argument("run", help="run directory (dynalign train --out) or weight image")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--bank", type=int, choices=(0, 1),
                   help="store bank to upload into (default: the one not being served)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args, transport=None) -> int:
    image = device_image(args.run)  # a bad RUN fails here, before the port is opened
    rep = upload(open_device(args.port, baud=args.baud, transport=transport), image,
                 bank=args.bank)
    print(json.dumps(rep) if args.json else f"uploaded to bank {rep['bank']}")
    return 0
