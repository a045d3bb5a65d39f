"""Frames of the host link (both directions): constants, commands, error codes, CRCs,
the encoder and the incremental host-side decoder.  The rules are in :mod:`dynalign.hw.wire`."""

from __future__ import annotations

import binascii
import enum
import zlib
from dataclasses import dataclass

__all__ = ["PROTOCOL_VERSION", "SYNC", "REPLY", "ERROR", "FRAME_HEADER_LEN",
           "FRAME_TRAILER_LEN", "DEFAULT_MAX_PAYLOAD", "Cmd", "Err", "crc16", "crc32",
           "encode_frame", "Frame", "FrameDecoder"]

PROTOCOL_VERSION = 3

SYNC = 0xA5
REPLY = 0x80
ERROR = 0xFF
#: SYNC CMD SEQ LEN_LO LEN_HI
FRAME_HEADER_LEN = 5
#: CRC_HI CRC_LO
FRAME_TRAILER_LEN = 2
DEFAULT_MAX_PAYLOAD = 256

class Cmd(enum.IntEnum):
    IDENTIFY = 0x01
    STATUS = 0x02
    WRITE_ENCODER = 0x03
    IMAGE_BEGIN = 0x10
    IMAGE_DATA = 0x11
    IMAGE_COMMIT = 0x12
    SELECT = 0x13
    FEATURES = 0x20
    RUN = 0x21
    RESULTS = 0x22
    STREAM = 0x23      #: FEATURES + RUN + RESULTS in one frame (pipelined)
    CLASSIFY = 0x24    #: STREAM with the brief record for a reply (class, cycles, spikes)


class Err(enum.IntEnum):
    """Error codes of an error reply (payload ``[err, cmd]``)."""
    CRC = 1             #: frame CRC wrong; not executed
    LENGTH = 2          #: payload longer than max_payload, or wrong for the command
    UNKNOWN_CMD = 3     #: command byte not in :class:`Cmd`
    TIMEOUT = 4         #: frame incomplete when the line went quiet
    FRAMING = 5         #: UART framing error inside a frame
    NO_UPLOAD = 6       #: IMAGE_DATA / IMAGE_COMMIT without IMAGE_BEGIN
    SEQUENCE = 7        #: IMAGE_DATA offset is not the next byte of the image
    OVERFLOW = 8        #: IMAGE_DATA past the image's total length
    INCOMPLETE = 9      #: IMAGE_COMMIT before every byte arrived (upload aborted)
    IMAGE_CRC = 10      #: IMAGE_COMMIT with a CRC-32 that does not match (upload aborted)
    TOO_LARGE = 11      #: image topology beyond the elaborated limits
    IMAGE_FORMAT = 12   #: bad image magic / version / field
    NO_MODEL = 13       #: FEATURES / RUN / WRITE_ENCODER before any model was committed
    FEATURES = 14       #: FEATURES count differs from the model's K
    NO_RESULT = 15      #: RESULTS before any RUN since the model changed
    UNSUPPORTED = 16    #: WRITE_ENCODER on a device that serves an uploaded table
    BANK_SERVED = 17    #: IMAGE_BEGIN into the bank whose model is being served
    NO_BANK = 18        #: IMAGE_BEGIN / SELECT of a bank other than 0 and 1
    BANK_INVALID = 19   #: SELECT of a bank without a complete, CRC-valid model


# --------------------------------------------------------------------------------------
# CRCs
# --------------------------------------------------------------------------------------

def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, MSB first, no final XOR;
    ``crc16(b"123456789") == 0x29B1``): ``binascii.crc_hqx``."""
    return binascii.crc_hqx(bytes(data), crc)


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3), the image checksum: ``zlib.crc32``."""
    return zlib.crc32(bytes(data)) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------

def encode_frame(cmd: int, payload: bytes = b"", *, seq: int = 0) -> bytes:
    """One frame: ``SYNC CMD SEQ LEN PAYLOAD CRC16``."""
    for name, value in (("cmd", cmd), ("seq", seq)):
        if not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise ValueError(f"{name} must be a byte (0..255), not {value!r}")
    payload = bytes(payload)
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the 16-bit length field")
    body = bytes([cmd, seq, len(payload) & 0xFF, len(payload) >> 8]) + payload
    crc = crc16(body)
    return bytes([SYNC]) + body + bytes([crc >> 8, crc & 0xFF])


@dataclass(frozen=True)
class Frame:
    cmd: int
    seq: int
    payload: bytes

    @property
    def is_error(self) -> bool:
        return self.cmd == ERROR

    @property
    def error(self) -> Err | None:
        if not self.is_error or len(self.payload) < 1:
            return None
        try:
            return Err(self.payload[0])
        except ValueError:
            return None


class FrameDecoder:
    """Incremental host-side frame decoder: feed bytes, take complete good frames.

    Bytes before a ``SYNC`` are skipped; a frame with a bad CRC or an over-long length
    is skipped by resynchronising at the next ``SYNC`` after its first byte (counted in
    :attr:`bad_frames`).  Replies are never longer than ``max_payload``.
    """

    def __init__(self, *, max_payload: int = 0xFFFF):
        self.max_payload = max_payload
        self._buf = bytearray()
        self.skipped = 0
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out = []
        while True:
            i = self._buf.find(SYNC)
            if i < 0:
                self.skipped += len(self._buf)
                self._buf.clear()
                return out
            if i:
                self.skipped += i
                del self._buf[:i]
            if len(self._buf) < FRAME_HEADER_LEN:
                return out
            n = self._buf[3] | self._buf[4] << 8
            if n > self.max_payload:
                self.bad_frames += 1
                del self._buf[:1]
                continue
            end = FRAME_HEADER_LEN + n + FRAME_TRAILER_LEN
            if len(self._buf) < end:
                return out
            body = bytes(self._buf[1:FRAME_HEADER_LEN + n])
            crc = self._buf[end - 2] << 8 | self._buf[end - 1]
            if crc16(body) != crc:
                self.bad_frames += 1
                del self._buf[:1]
                continue
            out.append(Frame(body[0], body[1], body[4:]))
            del self._buf[:end]

    def reset(self):
        self._buf.clear()


