"""The types that pass between the blocks of the command engine.

Every enum whose members are error outcomes uses the :class:`dynalign.hw.wire.Err`
codes as its values, so that a block passes an outcome on as the error code of the
reply without translating it.
"""

# (no ``from __future__ import annotations``: the Struct classes below read their
# annotations as shapes)
from amaranth.lib import data, enum

from dynalign.hw.wire import IMAGE_HEADER_LEN, STATUS, Err, Limits, table_len

__all__ = ["RxResult", "FrameHeader", "Counters", "StatusRecord", "STATUS_CRC_BYTES",
           "ReplySource",
           "ReplyRequest", "StoreOp", "StoreError", "HeaderByte", "upload_layout",
           "table_max"]


class RxResult(enum.Enum, shape=8):
    """How a frame ended (the receiver's event): ``OK`` (complete, CRC-16 right) or the
    error that aborted it."""
    OK = 0
    CRC = int(Err.CRC)
    LENGTH = int(Err.LENGTH)            #: longer than max_payload: skipped
    TIMEOUT = int(Err.TIMEOUT)
    FRAMING = int(Err.FRAMING)


class FrameHeader(data.Struct):
    """The header fields of the frame being received (and then executed and answered)."""
    cmd: 8
    seq: 8
    length: 16


class Counters(data.Struct):
    """The receiver's line counters (each saturates at 0xFFFF)."""
    framing: 16         #: UART framing errors
    crc: 16             #: frames with a wrong CRC-16
    timeout: 16         #: frames cut off by the timeout
    dropped: 16         #: bytes outside a frame that were not SYNC
    lost: 16            #: bytes that arrived while a frame was being answered (or overran)


class StatusRecord(data.Struct):
    """The ``STATUS`` record up to the banks' CRC-32s, bit for bit: byte ``i`` of the reply
    is bits ``8 i .. 8 i + 7`` (:data:`dynalign.hw.wire.STATUS`, little-endian); the last
    :data:`STATUS_CRC_BYTES` bytes, each bank's CRC-32 u32, are read from the model
    store's CRC memory (:attr:`dynalign.hw.engine.store.ModelStore.crc_addr`)."""
    model_valid: 8
    upload_open: 8
    active: 8
    last_error: 8
    counters: Counters
    bank_state: data.ArrayLayout(8, 2)      #: BANK_EMPTY / BANK_UPLOADING / BANK_VALID


#: the STATUS bytes that are the banks' CRC-32s (the record's end)
STATUS_CRC_BYTES = 8
assert STATUS.format.lstrip("<") == "BBBBHHHHHBBII"
assert StatusRecord.as_shape().size == 8 * (STATUS.size - STATUS_CRC_BYTES)


class ReplySource(enum.Enum, shape=3):
    """Where the payload bytes of a reply come from."""
    NONE = 0            #: no payload
    IDENTITY = 1        #: the identity record (a ROM)
    STATUS = 2          #: the :class:`StatusRecord`
    SMALL = 3           #: the request's two ``small`` bytes
    RESULTS = 4         #: the core's results record


class ReplyRequest(data.Struct):
    """One reply: command byte (``cmd | REPLY``, or ``ERROR``), payload source and length,
    and two bytes for :attr:`ReplySource.SMALL` (an error's ``[err, cmd]``, a commit's
    bank)."""
    cmd: 8
    source: ReplySource
    length: 16
    small: data.ArrayLayout(8, 2)


class StoreOp(enum.Enum, shape=3):
    """What the model store does with the payload of the frame."""
    HEADER = 0          #: IMAGE_BEGIN: header into the named bank (CRC-32 restarted)
    DATA = 1            #: IMAGE_DATA: check the offset, append to the upload
    ENCODER = 2         #: WRITE_ENCODER: encoder block into the active bank
    FEATURES = 3        #: FEATURES: codes into the feature buffer
    COMMIT = 4          #: IMAGE_COMMIT: check length and CRC-32, serve the uploaded bank
    SELECT = 5          #: SELECT: serve the named bank if it holds a valid model


class StoreError(enum.Enum, shape=8):
    """The outcome of a store operation."""
    NONE = 0
    SEQUENCE = int(Err.SEQUENCE)
    OVERFLOW = int(Err.OVERFLOW)
    INCOMPLETE = int(Err.INCOMPLETE)
    IMAGE_CRC = int(Err.IMAGE_CRC)
    BANK_SERVED = int(Err.BANK_SERVED)
    NO_BANK = int(Err.NO_BANK)
    BANK_INVALID = int(Err.BANK_INVALID)


class HeaderByte(data.Struct):
    """Byte ``index`` of an image header, as IMAGE_BEGIN copies it."""
    index: range(IMAGE_HEADER_LEN)
    data: 8


def table_max(limits: Limits) -> int:
    """Bytes of the largest table block an upload can carry (0 without ``Limits.table``)."""
    return table_len(limits.max_samples) if limits.table else 0


def upload_layout(limits: Limits) -> data.StructLayout:
    """The admission verdict of an IMAGE_BEGIN as the model store takes it: ``open``
    (admitted), and for an admitted image its total length, where its table block
    starts and where the block's flags start (an admitted image is at most
    ``bank_bytes`` plus the largest table block long: that many bits)."""
    nb, tm = limits.bank_bytes, table_max(limits)
    return data.StructLayout({"open": 1, "total_len": range(nb + tm + 1),
                              "table_start": range(nb + 1), "table_flags": range(tm + 1)})
