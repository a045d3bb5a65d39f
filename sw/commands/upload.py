"""``dynalign upload --port /dev/ttyUSB0 RUN``: upload a model to a board.

Speaks the link protocol through :class:`dynalign.sw.driver.Device` over pyserial: reads the
device's identity (limits), uploads RUN's device image in chunks (``IMAGE_BEGIN`` /
``IMAGE_DATA`` / ``IMAGE_COMMIT``; the previous model keeps running until the commit
succeeds) and prints the new active bank.
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


def upload(dev, image: bytes) -> dict:
    """Upload a device image (:func:`dynalign.sw.rundir.device_image`) to ``dev``."""

    async def go():
        limits = await dev.identify()
        bank = await dev.upload(image)
        return limits, bank
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
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args, transport=None) -> int:
    image = device_image(args.run)  # a bad RUN fails here, before the port is opened
    rep = upload(open_device(args.port, baud=args.baud, transport=transport), image)
    print(json.dumps(rep) if args.json else f"uploaded to bank {rep['bank']}")
    return 0
