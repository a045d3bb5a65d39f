"""The dynalign host link protocol, version 1: every constant and layout in one place.

The gateware (:mod:`dynalign.hw.link`), its Python reference (:class:`dynalign.hw.link.DeviceModel`) and
the host driver (:mod:`dynalign.sw.driver`, :mod:`dynalign.sw.protocol`) all import this module.

Frames (both directions)
------------------------
::

    SYNC  CMD  SEQ  LEN_LO  LEN_HI  PAYLOAD[LEN]  CRC_HI  CRC_LO

* ``SYNC`` = 0xA5.  Bytes outside a frame that are not ``SYNC`` are dropped (and
  counted); a ``SYNC`` starts a frame.
* ``CMD``: a :class:`Cmd` in a request; ``CMD | 0x80`` in its reply; ``0xFF``
  (:data:`ERROR`) in an error reply.
* ``SEQ``: any byte chosen by the host, echoed in the reply (the driver uses it to
  drop stale replies).
* ``LEN``: payload length, 16 bits little-endian.  A device accepts at most its
  ``max_payload`` (reported by ``IDENTIFY``); a longer frame is skipped (``LEN + 2``
  bytes) and answered with :attr:`Err.LENGTH`.
* ``CRC``: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
  XOR; check value of ``b"123456789"`` is 0x29B1) over ``CMD SEQ LEN_LO LEN_HI
  PAYLOAD``, sent most significant byte first.  A wrong CRC gets :attr:`Err.CRC` and the
  frame is not executed.
* A frame whose next byte does not arrive within the device's timeout is dropped and
  answered with :attr:`Err.TIMEOUT` (a truncated frame never hangs the device).
* A UART framing error inside a frame aborts it with :attr:`Err.FRAMING`.

Every request gets exactly one reply: its own (``CMD | 0x80``) or an error reply with
payload ``[err, cmd]`` (``cmd`` = the request's command byte, 0 if it never arrived).

Commands (payloads little-endian)
---------------------------------
========================  =========================  ======================================
command                   request payload            reply payload
========================  =========================  ======================================
``IDENTIFY``  0x01        --                         :data:`IDENTITY` record
``STATUS``    0x02        --                         :data:`STATUS` record
``WRITE_ENCODER`` 0x03    encoder block (80 bytes)   --  (written into the *active* model)
``IMAGE_BEGIN`` 0x10      image header (32 bytes)    --  (opens an upload into the shadow bank)
``IMAGE_DATA``  0x11      offset u32, bytes          --  (offset must follow on exactly)
``IMAGE_COMMIT`` 0x12     CRC-32 of the image u32    bank u8 (the new active bank)
``FEATURES``  0x20        K feature codes (int8)     --
``RUN``       0x21        --                         first :data:`RESULT_SUMMARY_LEN` bytes
                                                     of the results record
``RESULTS``   0x22        --                         the results record
========================  =========================  ======================================

Weight image (device layout)
----------------------------
An image is the bytes of one model, uploaded into the *shadow* bank of a double-buffered
store: ``IMAGE_BEGIN`` carries the 32-byte header (checked against the elaborated
limits: a topology larger than the device gets :attr:`Err.TOO_LARGE`), ``IMAGE_DATA``
frames carry the rest in order, ``IMAGE_COMMIT`` carries the CRC-32 (IEEE 802.3:
reflected poly 0xEDB88320, init and final XOR 0xFFFFFFFF, ``zlib.crc32``) of the whole
image.  Only a complete image with the right CRC flips the active bank; any failure
leaves the previous model running.  Layout (see :data:`HEADER`, :data:`LAYER_HEADER`)::

    0    header (32 bytes)                  magic "DY", version, K, T, L, in_shift,
                                            flags, total length, n_out of each layer
                                            (u16 x 8)
    32   encoder block (80 bytes)           see :data:`ENCODER`
    112  layer 1 .. L, each:                beta u16, reserved u16, theta u32,
                                            bias int16[n_out], weight int8[n_out][n_in]
                                            (row i = the weights into neuron i)
    ...  trajectory table (only with        sample int32[3 T][R], then saturation
         flag IMAGE_FLAG_TABLE)             u8[R]  (R = 2**CODE.width rows, row =
                                            code - CODE.min_int; entry 3 t + c of a row
                                            is component c of sample t)

The table block (:func:`table_len` bytes) is the golden trajectory table of the encoder
block (``ref_trajectory_table`` of every code), computed by the host.  It is for devices
without an on-chip integrator (core :data:`CORE_LIF_TABLE`, e.g. the iCEBreaker): they
serve the uploaded table as it is, and hold it in a double-buffered table memory of
their own, so ``bank_bytes`` counts only the bytes before it.  Such a device requires
the flag (and a device with an integrator refuses it: :attr:`Err.IMAGE_FORMAT`), and
answers ``WRITE_ENCODER`` with :attr:`Err.UNSUPPORTED` (the table would no longer match:
upload a whole image).  A saturation byte's bit 0 is the row's flag.

Layer 1 has ``n_in = 3 K`` (encoder channels f0x f0y f0z f1x ...), layer l > 1 has the
previous layer's ``n_out``.

Results record
--------------
::

    0  class u8   1  flags u8   2  L u8   3  n_out u8   4  cycles u32
    8  spikes of layer 1..L  u32 x L
       saturations of layer 1..L  u32 x L
       output spike counts  u16 x n_out

``flags``: bit 0 encoder saturation, bit 1 membrane saturation, bit 2 core error.
"""

from __future__ import annotations

import enum
import re
import struct
import zlib
from dataclasses import dataclass

from .formats import CODE

__all__ = [
    "PROTOCOL_VERSION", "SYNC", "REPLY", "ERROR", "HEADER_LEN", "TRAILER_LEN",
    "DEFAULT_MAX_PAYLOAD", "Cmd", "Err", "crc16", "crc16_update", "crc32",
    "encode_frame", "Frame", "FrameDecoder", "IMAGE_MAGIC", "IMAGE_VERSION", "MAX_LAYERS",
    "IMAGE_HEADER_LEN", "ENCODER_OFFSET", "ENCODER_LEN", "LAYERS_OFFSET", "ENCODER_SLOTS",
    "IDENTITY_MAGIC", "IDENTITY_LEN_FIXED", "STATUS_LEN", "RESULT_SUMMARY_LEN",
    "Limits", "ImageHeader", "FLAG_ENC_SAT", "FLAG_MEM_SAT", "FLAG_CORE_ERROR",
    "DATA_OFFSET_LEN", "EncoderRegisters", "ENCODER_TERMS", "LAYER_HEADER", "IMAGE_HEADER",
    "IDENTITY", "STATUS", "RESULT_FIXED", "IMAGE_FLAG_TABLE", "TABLE_ROWS", "table_len",
    "CORE_STUB", "CORE_LIF", "CORE_LIF_TABLE", "HEADER_AT", "ENCODER_AT", "result_len",
]

PROTOCOL_VERSION = 1

#: Core ids of the ``IDENTIFY`` record: the stub (link tests), the LIF engine with the
#: on-chip RK4 integrator, the LIF engine that serves an uploaded trajectory table.
CORE_STUB, CORE_LIF, CORE_LIF_TABLE = 0, 1, 2

SYNC = 0xA5
REPLY = 0x80
ERROR = 0xFF
#: SYNC CMD SEQ LEN_LO LEN_HI
HEADER_LEN = 5
#: CRC_HI CRC_LO
TRAILER_LEN = 2
DEFAULT_MAX_PAYLOAD = 256


class Cmd(enum.IntEnum):
    IDENTIFY = 0x01
    STATUS = 0x02
    WRITE_ENCODER = 0x03
    IMAGE_BEGIN = 0x10
    IMAGE_DATA = 0x11
    IMAGE_COMMIT = 0x12
    FEATURES = 0x20
    RUN = 0x21
    RESULTS = 0x22


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


# --------------------------------------------------------------------------------------
# CRCs
# --------------------------------------------------------------------------------------

def crc16_update(crc: int, byte: int) -> int:
    """One byte of CRC-16/CCITT-FALSE (MSB first, poly 0x1021); the gateware unrolls
    exactly these eight steps."""
    crc ^= (byte & 0xFF) << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    for b in data:
        crc = crc16_update(crc, b)
    return crc


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
            if len(self._buf) < HEADER_LEN:
                return out
            n = self._buf[3] | self._buf[4] << 8
            if n > self.max_payload:
                self.bad_frames += 1
                del self._buf[:1]
                continue
            end = HEADER_LEN + n + TRAILER_LEN
            if len(self._buf) < end:
                return out
            body = bytes(self._buf[1:HEADER_LEN + n])
            crc = self._buf[end - 2] << 8 | self._buf[end - 1]
            if crc16(body) != crc:
                self.bad_frames += 1
                del self._buf[:1]
                continue
            out.append(Frame(body[0], body[1], body[4:]))
            del self._buf[:end]

    def reset(self):
        self._buf.clear()


# --------------------------------------------------------------------------------------
# Image layout
# --------------------------------------------------------------------------------------

IMAGE_MAGIC = b"DY"
IMAGE_VERSION = 1
#: Layers an image header can describe (the device may elaborate fewer).
MAX_LAYERS = 8
#: magic(2) version K T L in_shift flags total_len(u32) reserved(u32) sizes(u16 x 8)
IMAGE_HEADER = struct.Struct("<2sBBBBBBII8H")


def _field_offsets(st: struct.Struct, names: tuple) -> dict:
    """``{name: byte offset}`` of the fields of a little-endian ``struct`` format."""
    codes = re.findall(r"\d*[a-zA-Z]", st.format.lstrip("<"))
    assert len(codes) == len(names), (st.format, names)
    return {n: struct.calcsize("<" + "".join(codes[:i])) for i, n in enumerate(names)}


#: Byte offset of each :data:`IMAGE_HEADER` field (the gateware reads them there).
HEADER_AT = _field_offsets(IMAGE_HEADER, ("magic", "version", "k", "t", "n_layers",
                                          "in_shift", "flags", "total_len", "reserved",
                                          "sizes"))
#: header flag: a trajectory table block follows the layers
IMAGE_FLAG_TABLE = 0x01
#: rows of a trajectory table: one per feature code
TABLE_ROWS = 1 << CODE.width


def table_len(samples: int) -> int:
    """Bytes of the table block of a T-sample encoder: ``4 * 3T * R + R``."""
    return 4 * 3 * samples * TABLE_ROWS + TABLE_ROWS

IMAGE_HEADER_LEN = IMAGE_HEADER.size
assert IMAGE_HEADER_LEN == 32
ENCODER_OFFSET = IMAGE_HEADER_LEN
#: Coefficient slots per derivative component in the encoder block.
ENCODER_SLOTS = 4
#: system u8, T u8, stride u16, n_steps u16, reserved u16, h u32, h/2 u32, h/6 u32,
#: then 3 components x ENCODER_SLOTS x (coef int32, term u8; term 0xFF = unused)
ENCODER_FIXED = struct.Struct("<BBHHHIII")
#: Byte offset of each :data:`ENCODER_FIXED` field within the encoder block.
ENCODER_AT = _field_offsets(ENCODER_FIXED, ("system", "samples", "stride", "n_steps",
                                            "reserved", "h1", "h2", "h6"))
ENCODER_SLOT = struct.Struct("<iB")
ENCODER_LEN = ENCODER_FIXED.size + 3 * ENCODER_SLOTS * ENCODER_SLOT.size
assert ENCODER_LEN == 80
LAYERS_OFFSET = ENCODER_OFFSET + ENCODER_LEN
#: beta u16, reserved u16, theta u32
LAYER_HEADER = struct.Struct("<HHI")
#: IMAGE_DATA payload: offset u32, then the bytes
DATA_OFFSET_LEN = 4


@dataclass(frozen=True)
class ImageHeader:
    """The 32-byte image header.  ``n_layers`` is the byte as sent (it may exceed
    :data:`MAX_LAYERS` in a bad header); ``sizes`` holds the first
    ``min(n_layers, MAX_LAYERS)`` entries."""
    n_features: int
    samples: int
    in_shift: int
    sizes: tuple            # n_out of each layer
    total_len: int
    magic: bytes = IMAGE_MAGIC
    version: int = IMAGE_VERSION
    n_layers: int = -1
    flags: int = 0

    def __post_init__(self):
        if self.n_layers < 0:
            object.__setattr__(self, "n_layers", len(self.sizes))
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))

    def pack(self) -> bytes:
        if len(self.sizes) > MAX_LAYERS:
            raise ValueError(f"an image holds at most {MAX_LAYERS} layers, "
                             f"not {len(self.sizes)}")
        sizes = list(self.sizes) + [0] * (MAX_LAYERS - len(self.sizes))
        return IMAGE_HEADER.pack(self.magic, self.version, self.n_features, self.samples,
                                 self.n_layers, self.in_shift, self.flags, self.total_len, 0,
                                 *sizes)

    @classmethod
    def unpack(cls, data: bytes) -> ImageHeader:
        if len(data) < IMAGE_HEADER_LEN:
            raise ValueError(f"image header needs {IMAGE_HEADER_LEN} bytes, got {len(data)}")
        magic, version, k, t, n_layers, in_shift, flags, total, _, *sizes = \
            IMAGE_HEADER.unpack(bytes(data[:IMAGE_HEADER_LEN]))
        return cls(n_features=k, samples=t, in_shift=in_shift,
                   sizes=tuple(sizes[:min(n_layers, MAX_LAYERS)]), total_len=total,
                   magic=magic, version=version, n_layers=n_layers, flags=flags)

    def layer_dims(self) -> list[tuple[int, int]]:
        """``(n_in, n_out)`` per layer."""
        dims, n_in = [], 3 * self.n_features
        for n_out in self.sizes:
            dims.append((n_in, n_out))
            n_in = n_out
        return dims

    @property
    def has_table(self) -> bool:
        return bool(self.flags & IMAGE_FLAG_TABLE)

    def model_len(self) -> int:
        """Bytes before the table block (all of them without one)."""
        return LAYERS_OFFSET + sum(LAYER_HEADER.size + 2 * o + o * i
                                   for i, o in self.layer_dims())

    def table_len(self) -> int:
        return table_len(self.samples) if self.has_table else 0

    def expected_len(self) -> int:
        return self.model_len() + self.table_len()


# --------------------------------------------------------------------------------------
# Identity / status / results records
# --------------------------------------------------------------------------------------

IDENTITY_MAGIC = b"DYNA"
#: magic(4) proto u8, core u8, max_payload u16, bank_bytes u32, max_K u8, max_T u8,
#: max_L u8, lanes u8, then max n_out per layer u16 x max_L
IDENTITY = struct.Struct("<4sBBHIBBBB")
IDENTITY_LEN_FIXED = IDENTITY.size
#: model_valid u8, upload_open u8, active_bank u8, last_error u8, then u16 counters:
#: framing errors, CRC errors, timeouts, dropped (garbage) bytes
STATUS = struct.Struct("<BBBBHHHH")
STATUS_LEN = STATUS.size
RESULT_FIXED = struct.Struct("<BBBBI")
RESULT_SUMMARY_LEN = RESULT_FIXED.size


def result_len(n_layers, n_out):
    """Bytes of a results record: the fixed part, spikes and saturations (u32) per layer,
    a u16 count per output neuron.  Integers or Amaranth values alike."""
    return RESULT_FIXED.size + 8 * n_layers + 2 * n_out
FLAG_ENC_SAT = 1
FLAG_MEM_SAT = 2
FLAG_CORE_ERROR = 4


@dataclass(frozen=True)
class Limits:
    """What a device was elaborated for (the ``IDENTIFY`` reply).

    ``max_sizes[l]`` is the largest n_out of layer l+1; layer 1's n_in is at most
    ``3 * max_features``.  ``bank_bytes`` is the size of one bank of the model store:
    an image longer than that (not counting a table block) is :attr:`Err.TOO_LARGE`.
    ``core`` :data:`CORE_LIF_TABLE` marks a device that needs the table block
    (:attr:`table`).
    """
    max_features: int
    max_samples: int
    max_sizes: tuple
    max_payload: int = DEFAULT_MAX_PAYLOAD
    bank_bytes: int = 0
    core: int = 0
    lanes: int = 1

    def __post_init__(self):
        def check(name, value, lo, hi):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, not {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be in {lo}..{hi}, not {value!r}")
        check("max_features", self.max_features, 1, 85)
        check("max_samples", self.max_samples, 2, 255)
        check("max_payload", self.max_payload, 16, 0xFFFF)
        check("lanes", self.lanes, 1, 255)
        check("core", self.core, 0, 255)
        if not isinstance(self.max_sizes, tuple) or not 1 <= len(self.max_sizes) <= MAX_LAYERS:
            raise ValueError(f"max_sizes must be a tuple of 1..{MAX_LAYERS} layer sizes, "
                             f"not {self.max_sizes!r}")
        for i, s in enumerate(self.max_sizes):
            check(f"max_sizes[{i}]", s, 1, 0xFFFF)
        if self.max_payload < max(IMAGE_HEADER_LEN, ENCODER_LEN, self.max_features,
                                  DATA_OFFSET_LEN + 1):
            raise ValueError(f"max_payload {self.max_payload} cannot carry the image header "
                             f"({IMAGE_HEADER_LEN}), encoder block ({ENCODER_LEN}) and features")
        if self.bank_bytes == 0:
            object.__setattr__(self, "bank_bytes", self.largest_image())
        check("bank_bytes", self.bank_bytes, LAYERS_OFFSET, 0xFFFFFFFF)

    @property
    def max_layers(self) -> int:
        return len(self.max_sizes)

    @property
    def table(self) -> bool:
        """The device serves an uploaded trajectory table (images need the table block)."""
        return self.core == CORE_LIF_TABLE

    def largest_image(self) -> int:
        """Image bytes of the largest topology these limits allow."""
        return ImageHeader(n_features=self.max_features, samples=self.max_samples,
                           in_shift=0, sizes=self.max_sizes, total_len=0).expected_len()

    def pack(self) -> bytes:
        return IDENTITY.pack(IDENTITY_MAGIC, PROTOCOL_VERSION, self.core, self.max_payload,
                             self.bank_bytes, self.max_features, self.max_samples,
                             self.max_layers, self.lanes) + \
            struct.pack(f"<{self.max_layers}H", *self.max_sizes)

    @classmethod
    def unpack(cls, data: bytes) -> tuple[Limits, int]:
        """-> ``(limits, protocol_version)``; raises ``ValueError`` on a bad record."""
        data = bytes(data)
        if len(data) < IDENTITY_LEN_FIXED or data[:4] != IDENTITY_MAGIC:
            raise ValueError(f"not a dynalign identity record: {data[:8].hex()}")
        magic, proto, core, max_payload, bank, k, t, n_layers, lanes = \
            IDENTITY.unpack(data[:IDENTITY_LEN_FIXED])
        need = IDENTITY_LEN_FIXED + 2 * n_layers
        if len(data) != need:
            raise ValueError(f"identity record of {len(data)} bytes, expected {need}")
        sizes = struct.unpack(f"<{n_layers}H", data[IDENTITY_LEN_FIXED:])
        return cls(max_features=k, max_samples=t, max_sizes=tuple(sizes),
                   max_payload=max_payload, bank_bytes=bank, core=core, lanes=lanes), proto

    def check_header(self, header: ImageHeader) -> Err | None:
        """The device's admission check of an ``IMAGE_BEGIN`` header, in the order the
        gateware performs it; ``None`` if admitted."""
        if header.magic != IMAGE_MAGIC or header.version != IMAGE_VERSION:
            return Err.IMAGE_FORMAT
        if header.flags != (IMAGE_FLAG_TABLE if self.table else 0):
            return Err.IMAGE_FORMAT
        if header.in_shift > 31 or header.samples < 2 or header.n_features < 1 \
                or header.n_layers < 1:
            return Err.IMAGE_FORMAT
        tlen = header.table_len()
        if header.total_len < LAYERS_OFFSET + tlen:
            return Err.IMAGE_FORMAT
        if header.n_features > self.max_features or header.samples > self.max_samples \
                or header.n_layers > self.max_layers \
                or header.total_len - tlen > self.bank_bytes:
            return Err.TOO_LARGE
        for i, size in enumerate(header.sizes[:header.n_layers]):
            if size < 1:
                return Err.IMAGE_FORMAT
            if size > self.max_sizes[i]:
                return Err.TOO_LARGE
        return None


# --------------------------------------------------------------------------------------
# Encoder block
# --------------------------------------------------------------------------------------

#: Product terms in the encoder block's ``term`` field (index = code; 0xFF = unused
#: slot).  Same order as :data:`dynalign.hw.systems.TERMS`.
ENCODER_TERMS = ("x", "y", "z", "x3", "xy", "xz")
ENCODER_UNUSED = 0xFF
SYSTEM_CODES = {"mixed": 0, "lorenz": 1}


@dataclass(frozen=True)
class EncoderRegisters:
    """The integer encoder parameters as the device holds them (the 80-byte block).

    Quacks like :class:`dynalign.hw.systems.EncoderConfig` for
    :func:`dynalign.hw.encoder.ref.ref_trajectory_table` (``coef_program()``,
    ``step_constants()``, ``n_steps``, ``stride``, ``samples``), so the device model runs
    the golden encoder on exactly the integers that were uploaded.
    """
    system: int
    samples: int
    stride: int
    n_steps: int
    steps: tuple            # (h, h/2, h/6) in STEP integers
    program: tuple          # per component: ((coef, term name), ...)

    @classmethod
    def from_config(cls, config) -> EncoderRegisters:
        return cls(system=SYSTEM_CODES[config.system.value], samples=config.samples,
                   stride=config.stride, n_steps=config.n_steps,
                   steps=tuple(config.step_constants()), program=config.coef_program())

    def coef_program(self) -> tuple:
        return self.program

    def step_constants(self) -> tuple:
        return self.steps

    def pack(self) -> bytes:
        out = bytearray(ENCODER_FIXED.pack(self.system, self.samples, self.stride,
                                           self.n_steps, 0, *self.steps))
        for comp in self.program:
            if len(comp) > ENCODER_SLOTS:
                raise ValueError(f"a derivative component has {len(comp)} terms, the "
                                 f"encoder block holds {ENCODER_SLOTS}")
            for coef, term in comp:
                out += ENCODER_SLOT.pack(coef, ENCODER_TERMS.index(term))
            for _ in range(ENCODER_SLOTS - len(comp)):
                out += ENCODER_SLOT.pack(0, ENCODER_UNUSED)
        assert len(out) == ENCODER_LEN
        return bytes(out)

    @classmethod
    def unpack(cls, data: bytes) -> EncoderRegisters:
        data = bytes(data)
        if len(data) != ENCODER_LEN:
            raise ValueError(f"encoder block must be {ENCODER_LEN} bytes, not {len(data)}")
        system, samples, stride, n_steps, _, h1, h2, h6 = \
            ENCODER_FIXED.unpack(data[:ENCODER_FIXED.size])
        program, pos = [], ENCODER_FIXED.size
        for _ in range(3):
            comp = []
            for _ in range(ENCODER_SLOTS):
                coef, term = ENCODER_SLOT.unpack(data[pos:pos + ENCODER_SLOT.size])
                pos += ENCODER_SLOT.size
                if term != ENCODER_UNUSED:
                    if term >= len(ENCODER_TERMS):
                        raise ValueError(f"encoder block: term code {term} unknown")
                    comp.append((coef, ENCODER_TERMS[term]))
            program.append(tuple(comp))
        return cls(system=system, samples=samples, stride=stride, n_steps=n_steps,
                   steps=(h1, h2, h6), program=tuple(program))

    def check(self) -> str | None:
        """Why these registers cannot run (``None`` if they can)."""
        if self.samples < 2:
            return f"T={self.samples} below 2"
        if self.stride < 1 or self.n_steps != self.stride * (self.samples - 1):
            return f"n_steps={self.n_steps} is not stride x (T-1) = {self.stride} x " \
                   f"{self.samples - 1}"
        if min(self.steps) < 1:
            return "a step constant is 0"
        return None
