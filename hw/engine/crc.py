"""The two checksums of the wire format as :mod:`amaranth.lib.crc` processors."""

from __future__ import annotations

from amaranth.hdl import ResetInserter
from amaranth.lib.crc import catalog

__all__ = ["CRC16", "CRC32", "crc_processor"]

#: CRC-16/CCITT-FALSE over a frame's ``CMD .. PAYLOAD`` (:mod:`dynalign.hw.wire`)
CRC16 = catalog.CRC16_CCITT_FALSE(data_width=8)
#: CRC-32 (IEEE 802.3, ``zlib.crc32``) of an image
CRC32 = catalog.CRC32_ISO_HDLC(data_width=8)


def crc_processor(parameters, restart):
    """A :class:`amaranth.lib.crc.Processor` for ``parameters`` whose register returns
    to the initial value on ``restart`` through a synchronous reset.

    Its ports are the processor's (``valid``, ``data``, ``crc``); ``start`` stays low.
    ``restart`` must never be high together with ``valid`` (it wins).  A reset maps
    onto the flip-flops' set/reset pins, where the processor's own ``start`` would
    enter every bit's XOR network (iCE40: 43 instead of 51 LUT4 for CRC-16, 78 instead
    of 105 for CRC-32).
    """
    return ResetInserter(restart)(parameters.create())
