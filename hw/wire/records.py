"""The records a device answers with: ``IDENTIFY`` (:class:`Limits`, what the device
was elaborated for, and its admission check of an image header), ``STATUS``
(:class:`Status`) and ``RESULTS`` (:class:`Results`), and :func:`golden_results`, what
a device must answer for given feature codes.  The rules are in :mod:`dynalign.hw.wire`."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..core.cycles import ref_device_cycles
from ..encoder.ref import check_codes, ref_trajectory_table
from ..formats import CODE
from ..lif.ref import ref_network
from ..validate import check_int
from .frames import DEFAULT_MAX_PAYLOAD, PROTOCOL_VERSION, Err
from .image import (
    DATA_OFFSET_LEN,
    ENCODER_LEN,
    IMAGE_FLAG_TABLE,
    IMAGE_HEADER_LEN,
    IMAGE_MAGIC,
    IMAGE_VERSION,
    LAYERS_OFFSET,
    MAX_LAYERS,
    DeviceImage,
    ImageHeader,
    golden_table,
    relayout,
)

__all__ = ["CORE_STUB", "CORE_LIF", "CORE_LIF_TABLE", "IDENTITY_MAGIC", "IDENTITY",
           "IDENTITY_LEN_FIXED", "CAP_PACKED", "STATUS", "STATUS_LEN", "BANK_EMPTY",
           "BANK_UPLOADING", "BANK_VALID", "RESULT_FIXED", "RESULT_SUMMARY_LEN", "result_len",
           "brief_len",
           "Brief", "QUEUE_MIN", "QUEUE_MAX", "queue_depth_ok", "FLAG_ENC_SAT",
           "FLAG_MEM_SAT", "FLAG_CORE_ERROR", "Limits",
           "Status", "Results", "golden_results", "golden_records", "device_cycles", "image_for"]


#: Core ids of the ``IDENTIFY`` record: the stub (link tests), the LIF engine with the
#: on-chip RK4 integrator, the LIF engine that serves an uploaded trajectory table.
CORE_STUB, CORE_LIF, CORE_LIF_TABLE = 0, 1, 2

IDENTITY_MAGIC = b"DYNA"
#: magic(4) proto u8, core u8, max_payload u16, bank_bytes u32, max_K u8, max_T u8,
#: max_L u8, lanes u8, queue u16 (receive / transmit queue bytes, 0: none), caps u8
#: (protocol version 3; bit 0, :data:`CAP_PACKED`: the device takes layers of 4-bit
#: weights), then max n_out per layer u16 x max_L
IDENTITY = struct.Struct("<4sBBHIBBBBHB")
#: ``caps`` bit 0: layers of 4-bit weights, two to a byte (image header ``packed``)
CAP_PACKED = 0x01
IDENTITY_LEN_FIXED = IDENTITY.size
#: model_valid u8, upload_open u8, active_bank u8, last_error u8, then u16 counters
#: (each saturates at 0xFFFF): framing errors (anywhere), CRC errors, timeouts, dropped
#: (garbage) bytes between frames, lost bytes (arrived while a frame was being answered);
#: then (protocol version 2) each bank's state u8 (:data:`BANK_EMPTY`,
#: :data:`BANK_UPLOADING`, :data:`BANK_VALID`) and each bank's image CRC-32 u32 (that of
#: its last good commit, kept when a later upload fails; 0 before the first: it names the
#: bank's model while the bank is valid)
STATUS = struct.Struct("<BBBBHHHHHBBII")
#: A bank's state in ``STATUS``: no model (never uploaded, or an upload failed), an
#: upload open into it, a complete CRC-valid model.
BANK_EMPTY, BANK_UPLOADING, BANK_VALID = 0, 1, 2
STATUS_LEN = STATUS.size
RESULT_FIXED = struct.Struct("<BBBBI")
RESULT_SUMMARY_LEN = RESULT_FIXED.size


#: Bounds of a line queue (:attr:`Limits.queue`): a power of two of bytes, or 0 (none).
QUEUE_MIN, QUEUE_MAX = 16, 4096


def queue_depth_ok(n) -> bool:
    """Whether ``n`` is a valid :attr:`Limits.queue`: 0, or a power of two in
    ``QUEUE_MIN .. QUEUE_MAX``."""
    return isinstance(n, int) and not isinstance(n, bool) and (
        n == 0 or (QUEUE_MIN <= n <= QUEUE_MAX and n & (n - 1) == 0))


def result_len(n_layers, n_out):
    """Bytes of a results record: the fixed part, spikes and saturations (u32) per layer,
    a u16 count per output neuron.  Integers or Amaranth values alike."""
    return RESULT_FIXED.size + 8 * n_layers + 2 * n_out


def brief_len(n_layers):
    """Bytes of the brief record (``CLASSIFY``'s reply): the results record's fixed part
    and its spikes per layer (u32), i.e. its first ``8 + 4 L`` bytes -- what classifying
    at the link's full rate needs, without the saturation and output counts.  Integers
    or Amaranth values alike."""
    return RESULT_FIXED.size + 4 * n_layers

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
    (:attr:`table`).  ``queue`` is the bytes of the device's receive queue (and of its
    transmit queue): a host may have that many request bytes sent and not yet answered;
    0, no queue (one frame at a time).  ``packed``: the device takes layers of 4-bit
    weights, two to a byte (an image header's ``packed`` bits); without it such an
    image is :attr:`Err.IMAGE_FORMAT`.
    """
    max_features: int
    max_samples: int
    max_sizes: tuple
    max_payload: int = DEFAULT_MAX_PAYLOAD
    bank_bytes: int = 0
    core: int = 0
    lanes: int = 1
    queue: int = 0
    packed: bool = False

    def __post_init__(self):
        if not isinstance(self.packed, bool):
            raise TypeError(f"packed must be a bool, not {self.packed!r}")

        def check(name, value, lo, hi):
            check_int(name, value, lo=lo, hi=hi)
        check("max_features", self.max_features, 1, 85)
        check("max_samples", self.max_samples, 2, 255)
        check("max_payload", self.max_payload, 16, 0xFFFF)
        check("lanes", self.lanes, 1, 255)
        check("core", self.core, 0, 255)
        if not queue_depth_ok(self.queue):
            raise ValueError(f"queue must be 0 (none) or a power of two from "
                             f"{QUEUE_MIN} to {QUEUE_MAX} bytes, not {self.queue!r}")
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

    def largest_image(self, packed: int = 0) -> int:
        """Image bytes of the largest topology these limits allow (with 8-bit weights,
        or ``packed``: the 4-bit layers of an image header's ``packed`` byte)."""
        return ImageHeader(n_features=self.max_features, samples=self.max_samples,
                           in_shift=0, sizes=self.max_sizes, total_len=0,
                           lanes=self.lanes, packed=packed).expected_len()

    def pack(self) -> bytes:
        return IDENTITY.pack(IDENTITY_MAGIC, PROTOCOL_VERSION, self.core, self.max_payload,
                             self.bank_bytes, self.max_features, self.max_samples,
                             self.max_layers, self.lanes, self.queue,
                             CAP_PACKED if self.packed else 0) + \
            struct.pack(f"<{self.max_layers}H", *self.max_sizes)

    @classmethod
    def unpack(cls, data: bytes) -> tuple[Limits, int]:
        """-> ``(limits, protocol_version)``; raises ``ValueError`` on a bad record."""
        data = bytes(data)
        if len(data) < IDENTITY_LEN_FIXED or data[:4] != IDENTITY_MAGIC:
            raise ValueError(f"not a dynalign identity record: {data[:8].hex()}")
        magic, proto, core, max_payload, bank, k, t, n_layers, lanes, queue, caps = \
            IDENTITY.unpack(data[:IDENTITY_LEN_FIXED])
        need = IDENTITY_LEN_FIXED + 2 * n_layers
        if len(data) != need:
            raise ValueError(f"identity record of {len(data)} bytes, expected {need}")
        sizes = struct.unpack(f"<{n_layers}H", data[IDENTITY_LEN_FIXED:])
        return cls(max_features=k, max_samples=t, max_sizes=tuple(sizes),
                   max_payload=max_payload, bank_bytes=bank, core=core, lanes=lanes,
                   queue=queue, packed=bool(caps & CAP_PACKED)), proto

    def check_header(self, header: ImageHeader) -> Err | None:
        """The device's admission check of an ``IMAGE_BEGIN`` header, in the order the
        gateware performs it; ``None`` if admitted."""
        if header.magic != IMAGE_MAGIC or header.version != IMAGE_VERSION:
            return Err.IMAGE_FORMAT
        if header.flags != (IMAGE_FLAG_TABLE if self.table else 0):
            return Err.IMAGE_FORMAT
        if header.lanes != self.lanes:
            return Err.IMAGE_FORMAT
        if header.packed and not self.packed or header.packed >> max(header.n_layers, 0):
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

@dataclass(frozen=True)
class Status:
    """The ``STATUS`` record (:data:`STATUS`).  The counters as they were at the end of
    the request: ``lost_bytes`` counts the bytes that arrived while the device was
    answering a frame (a host sent before the reply was complete) -- on a device with a
    receive queue, those that found it full --, ``framing_errors``
    every UART framing error, inside a frame, between frames or during a reply."""
    model_valid: bool
    upload_open: bool
    active_bank: int
    last_error: int
    framing_errors: int
    crc_errors: int
    timeouts: int
    dropped_bytes: int
    lost_bytes: int
    bank_state: tuple = (BANK_EMPTY, BANK_EMPTY)    # per bank
    bank_crc: tuple = (0, 0)                        # per bank

    @classmethod
    def unpack(cls, data: bytes) -> Status:
        if len(data) != STATUS.size:
            raise ValueError(f"status record of {len(data)} bytes, expected {STATUS.size}")
        v, u, b, e, *rest = STATUS.unpack(bytes(data))
        counters, (s0, s1, c0, c1) = rest[:5], rest[5:]
        return cls(bool(v), bool(u), b, e, *counters, bank_state=(s0, s1),
                   bank_crc=(c0, c1))

    def pack(self) -> bytes:
        return STATUS.pack(int(self.model_valid), int(self.upload_open), self.active_bank,
                           self.last_error, self.framing_errors, self.crc_errors,
                           self.timeouts, self.dropped_bytes, self.lost_bytes,
                           *self.bank_state, *self.bank_crc)


class Brief(NamedTuple):
    """The brief record (``CLASSIFY``): class, flags, cycles and spikes per layer."""
    cls: int
    flags: int
    cycles: int
    spikes: tuple           # per layer

    @classmethod
    def unpack(cls, data: bytes) -> Brief:
        data = bytes(data)
        if len(data) < RESULT_FIXED.size:
            raise ValueError(f"brief record of {len(data)} bytes is too short")
        c, flags, n, _, cycles = RESULT_FIXED.unpack(data[:RESULT_FIXED.size])
        if len(data) != brief_len(n):
            raise ValueError(f"brief record of {len(data)} bytes, expected {brief_len(n)}")
        return cls(c, flags, cycles, struct.unpack(f"<{n}I", data[RESULT_FIXED.size:]))


class Results(NamedTuple):
    """The results record: class, flags, cycles and per-layer counters."""
    cls: int
    flags: int
    cycles: int
    spikes: tuple           # per layer
    saturations: tuple      # per layer
    out_counts: tuple       # per output neuron

    def pack(self) -> bytes:
        n = len(self.spikes)
        return RESULT_FIXED.pack(self.cls, self.flags, n, len(self.out_counts), self.cycles) \
            + struct.pack(f"<{n}I{n}I{len(self.out_counts)}H", *self.spikes,
                          *self.saturations, *self.out_counts)

    @classmethod
    def unpack(cls, data: bytes) -> Results:
        data = bytes(data)
        if len(data) < RESULT_FIXED.size:
            raise ValueError(f"results record of {len(data)} bytes is too short")
        c, flags, n, n_out, cycles = RESULT_FIXED.unpack(data[:RESULT_FIXED.size])
        need = RESULT_FIXED.size + 8 * n + 2 * n_out
        if len(data) != need:
            raise ValueError(f"results record of {len(data)} bytes, expected {need}")
        vals = struct.unpack(f"<{n}I{n}I{n_out}H", data[RESULT_FIXED.size:])
        return cls(c, flags, cycles, tuple(vals[:n]), tuple(vals[n:2 * n]),
                   tuple(vals[2 * n:]))

    def brief(self) -> Brief:
        """The brief record of this record (what ``CLASSIFY`` answers)."""
        return Brief(self.cls, self.flags, self.cycles, tuple(self.spikes))

    @classmethod
    def unpack_summary(cls, data: bytes) -> tuple[int, int, int]:
        """``RUN`` reply -> ``(class, flags, cycles)``."""
        c, flags, _, _, cycles = RESULT_FIXED.unpack(bytes(data))
        return c, flags, cycles


def golden_results(image: DeviceImage, codes, *, limits: Limits | None = None) -> Results:
    """What the device answers for one sample's codes (shape (1, K) or (K,)).

    Encoder: :func:`dynalign.hw.encoder.ref.ref_trajectory_table` on the image's encoder
    registers (the uploaded integers), or the image's table block where it has one;
    network: :func:`dynalign.hw.lif.ref.ref_network`.  ``cycles``: with ``limits`` (the
    device's lanes and core) the device's count, :func:`device_cycles`; without, 0.
    """
    codes = check_codes(np.asarray(codes).reshape(1, -1))
    k = image.n_features
    if codes.shape[1] != k:
        raise ValueError(f"{codes.shape[1]} codes for a model with K={k}")
    if image.table is not None:         # the device serves the uploaded table
        rows = codes.ravel() - CODE.min_int
        traj, sat = image.table[rows], image.table_sat[rows].astype(np.int64)
    else:
        traj, sat = ref_trajectory_table(codes.ravel(), image.encoder)   # (K, T, 3)
    samples = traj.transpose(1, 0, 2).reshape(1, image.encoder.samples, 3 * k)
    res = ref_network(samples, image.network)
    flags = (FLAG_ENC_SAT if int(sat.sum()) else 0) | \
        (FLAG_MEM_SAT if int(res.saturations[0].sum()) else 0)
    cycles = 0 if limits is None else device_cycles(image, res, limits)
    return Results(cls=int(res.cls[0]), flags=flags, cycles=cycles,
                   spikes=tuple(int(v) for v in res.spikes[0]),
                   saturations=tuple(int(v) for v in res.saturations[0]),
                   out_counts=tuple(int(v) for v in res.out_counts[0]))


def golden_records(image: DeviceImage, codes, *, limits: Limits | None = None) -> list:
    """:func:`golden_results` of every row of ``codes`` (M, K), vectorised: the encoder's
    table of every code once (:func:`dynalign.hw.wire.golden_table`, or the image's
    table block), the M samples through the golden network at once, and with
    ``limits`` the device's cycles of each (:func:`dynalign.hw.core.cycles.ref_device_cycles`).
    For whole test splits; equal to ``[golden_results(image, c, limits=limits) for c in
    codes]``."""
    codes = check_codes(np.asarray(codes))
    k = image.n_features
    if codes.ndim != 2 or codes.shape[1] != k:
        raise ValueError(f"codes of shape {codes.shape} for a model with K={k}: want (M, {k})")
    if image.table is not None:         # the device serves the uploaded table
        table, sat = image.table, image.table_sat.astype(bool)
    else:
        table, sat = golden_table(image.encoder)
    rows = codes - CODE.min_int                                  # (M, K)
    traj = table[rows]                                           # (M, K, T, 3)
    m, _, steps, _ = traj.shape
    samples = traj.transpose(0, 2, 1, 3).reshape(m, steps, 3 * k)
    res = ref_network(samples, image.network)
    enc_sat = sat[rows].any(axis=1)
    mem_sat = res.saturations.sum(axis=1) > 0
    if limits is None:
        cycles = np.zeros(m, np.int64)
    else:
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        cycles = ref_device_cycles(res, n_features=k, lanes=limits.lanes, table=limits.table)
    return [Results(cls=int(res.cls[i]),
                    flags=(FLAG_ENC_SAT if enc_sat[i] else 0) | (FLAG_MEM_SAT if mem_sat[i] else 0),
                    cycles=int(cycles[i]),
                    spikes=tuple(int(v) for v in res.spikes[i]),
                    saturations=tuple(int(v) for v in res.saturations[i]),
                    out_counts=tuple(int(v) for v in res.out_counts[i])) for i in range(m)]


def device_cycles(image: DeviceImage, result, limits: Limits) -> int:
    """The ``cycles`` of the results record of a device with ``limits`` (its ``lanes``
    and its core: the table core or the integrating encoder) for one sample whose golden
    network result is ``result`` (:func:`dynalign.hw.lif.ref.ref_network` of one
    sample): :func:`dynalign.hw.core.cycles.ref_device_cycles`."""
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits, not {limits!r}")
    return int(ref_device_cycles(result, n_features=image.n_features, lanes=limits.lanes,
                                 table=limits.table)[0])


def image_for(image: bytes, limits: Limits) -> bytes:
    """``image`` as a device with these limits takes it: its weights in the device's
    words (``limits.lanes``, :func:`dynalign.hw.wire.relayout`), with the table block when
    the device serves an uploaded table (``limits.table``), without one otherwise."""
    return relayout(image, lanes=limits.lanes, table=limits.table)
