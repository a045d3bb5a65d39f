"""The weight image (device layout): header, encoder block, layers, trajectory table
block; the codec between a golden model and the image bytes, and the upload requests.
The layout is written once, in the ``struct`` formats below; every offset is derived
from them (:data:`HEADER_AT`, :data:`ENCODER_AT`, :data:`LAYERS_OFFSET`).  The rules are
in :mod:`dynalign.hw.wire`."""

from __future__ import annotations

import dataclasses
import re
import struct
from dataclasses import dataclass

import numpy as np

from ..encoder.ref import ref_trajectory_table
from ..formats import CODE, STEP_SHIFT_SLOTS, WEIGHT, WEIGHT4
from ..lif.ref import RESET_SUBTRACT, RESET_ZERO, LIFLayerParams, LIFNetworkParams
from ..systems import System, check_step_shifts, program_shape
from ..validate import positive_int
from .frames import Cmd, crc32

__all__ = ["IMAGE_MAGIC", "IMAGE_VERSION", "MAX_LAYERS", "IMAGE_HEADER", "HEADER_AT",
           "IMAGE_FLAG_TABLE", "TABLE_ROWS", "table_len", "IMAGE_HEADER_LEN",
           "ENCODER_OFFSET", "ENCODER_SLOTS", "ENCODER_FIXED", "ENCODER_AT", "ENCODER_SLOT",
           "ENCODER_LEN", "SHIFTS_OFFSET", "SHIFTS_LEN", "LAYERS_OFFSET", "LAYER_HEADER",
           "LAYER_FLAG_RESET_ZERO",
           "layer_block", "weight_words", "pack_weights", "unpack_weights", "packed_mask",
           "relayout",
           "LAYER_FLAGS", "layer_flags", "DATA_OFFSET_LEN", "ImageHeader",
           "SYSTEM_CODES", "EncoderRegisters",
           "DeviceImage", "golden_table", "pack_table", "build_image", "parse_image",
           "image_requests"]

IMAGE_MAGIC = b"DY"
#: 2 (issues 15 and 19): the weights in the device's lane words (a ``lanes`` byte in the
#: header; version 1 had one weight per byte, row by row); the encoder block holds 15
#: coefficient slots, the programme's coefficients one component after the other,
#: without term bytes (version 1: 4 slots per component, each with a term byte), and the
#: system byte names every input system.
#: 3 (issue 18): a step-shift block of :data:`STEP_SHIFT_SLOTS` per-sample input shift
#: bytes follows the encoder block (the layers start at 144, not 112).
#: 4 (issue 15): the header's ``packed`` byte (reserved before) marks the layers whose
#: weights are 4-bit, two to a byte (:func:`layer_block`).
IMAGE_VERSION = 4
#: Layers an image header can describe (the device may elaborate fewer).
MAX_LAYERS = 8
#: magic(2) version K T L in_shift flags total_len(u32) lanes(u8) packed(u8)
#: reserved(u16) sizes(u16 x 8).  Version 2: ``lanes`` (the former reserved u32's first
#: byte) is the weight word the layer blocks are laid out in (the device's lanes).
#: Version 4: bit ``l`` of ``packed`` set -- layer ``l + 1`` has 4-bit weights
#: (:data:`~dynalign.hw.formats.WEIGHT4`), two to a byte; bits ``>= L`` are 0.
IMAGE_HEADER = struct.Struct("<2sBBBBBBIBBH8H")


def _field_offsets(st: struct.Struct, names: tuple) -> dict:
    """``{name: byte offset}`` of the fields of a little-endian ``struct`` format."""
    codes = re.findall(r"\d*[a-zA-Z]", st.format.lstrip("<"))
    assert len(codes) == len(names), (st.format, names)
    return {n: struct.calcsize("<" + "".join(codes[:i])) for i, n in enumerate(names)}


#: Byte offset of each :data:`IMAGE_HEADER` field (the gateware reads them there).
HEADER_AT = _field_offsets(IMAGE_HEADER, ("magic", "version", "k", "t", "n_layers",
                                          "in_shift", "flags", "total_len", "lanes",
                                          "packed", "reserved", "sizes"))
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
#: Coefficient slots in the encoder block: the programme's coefficients in order
#: (component x's, then y's, then z's; the terms are the system's, fixed), then zeros.
#: The longest programme (Aizawa) has 14.
ENCODER_SLOTS = 15
#: system u8, T u8, stride u16, n_steps u16, reserved u16, h u32, h/2 u32, h/6 u32,
#: then ENCODER_SLOTS x coef int32
ENCODER_FIXED = struct.Struct("<BBHHHIII")
#: Byte offset of each :data:`ENCODER_FIXED` field within the encoder block.
ENCODER_AT = _field_offsets(ENCODER_FIXED, ("system", "samples", "stride", "n_steps",
                                            "reserved", "h1", "h2", "h6"))
ENCODER_SLOT = struct.Struct("<i")
ENCODER_LEN = ENCODER_FIXED.size + ENCODER_SLOTS * ENCODER_SLOT.size
assert ENCODER_LEN == 80
#: The step-shift block (version 3): STEP_SHIFT_SLOTS x u8, byte t the input shift of
#: sample t (sample t leaves the encoder as round_shift(sample, byte t)); bytes t >= T
#: are 0.  ``WRITE_ENCODER`` carries the encoder block only: the shifts come with the
#: image, as ``in_shift`` does.
SHIFTS_OFFSET = ENCODER_OFFSET + ENCODER_LEN
SHIFTS_LEN = STEP_SHIFT_SLOTS
LAYERS_OFFSET = SHIFTS_OFFSET + SHIFTS_LEN
assert LAYERS_OFFSET == 144
#: beta u16, flags u16, theta u32
LAYER_HEADER = struct.Struct("<HHI")
#: layer flag bit 0: after a spike the membrane is set to 0 (clear: theta is subtracted)
LAYER_FLAG_RESET_ZERO = 0x0001
#: every defined layer flag bit (the others must be 0)
LAYER_FLAGS = LAYER_FLAG_RESET_ZERO


def layer_flags(layer: LIFLayerParams) -> int:
    """The flags u16 of a layer header."""
    return LAYER_FLAG_RESET_ZERO if layer.reset == RESET_ZERO else 0


def weight_words(n_in: int, n_out: int, lanes: int, packed: bool = False) -> int:
    """Store words of ``lanes`` bytes a layer's weights occupy: ``ceil(n_out / lanes) *
    n_in`` (one weight a byte), or half that rounded up (``packed``: two 4-bit weights a
    byte)."""
    words = -(-n_out // lanes) * n_in
    return (words + 1) // 2 if packed else words


def layer_block(pos: int, n_in: int, n_out: int, lanes: int,
                packed: bool = False) -> tuple[int, int]:
    """``(weights_at, end)``: image offsets of the weight words of the layer block that
    starts at offset ``pos`` and of the byte after it, for ``lanes``-weight words.  The
    block is the header, ``bias int16[n_out]``, zero bytes up to the next multiple of
    ``lanes`` (image offset), then :func:`weight_words` words of ``lanes`` bytes.

    The engine reads the weights of group ``g``, input ``j`` as *logical* word ``w = g
    n_in + j`` (lane ``k``: ``W[g lanes + k, j]``, 0 for ``g lanes + k >= n_out``) -- the
    order it reads its weight memory in.  One weight a byte: byte ``k`` of store word
    ``w`` is lane ``k``'s int8.  ``packed``: store word ``w >> 1`` holds two logical
    words, byte ``k`` = lane ``k`` of word ``w`` in its low nibble if ``w`` is even, in
    its high nibble if odd (int4, two's complement; a last odd word's high nibbles 0)."""
    head = pos + LAYER_HEADER.size + 2 * n_out
    at = -(-head // lanes) * lanes
    return at, at + lanes * weight_words(n_in, n_out, lanes, packed)


def packed_mask(weight_bits) -> int:
    """The header's ``packed`` byte of layers of these weight widths (one per layer):
    bit ``l`` set for a 4-bit layer ``l + 1``."""
    return sum(1 << k for k, b in enumerate(weight_bits) if b == WEIGHT4.width)


def _logical_words(weight, lanes: int) -> np.ndarray:
    """``(groups * n_in, lanes)``: row ``g n_in + j``, column ``k`` = ``W[g lanes + k, j]``."""
    w = np.asarray(weight, dtype=np.int64)
    n_out, n_in = w.shape
    groups = -(-n_out // lanes)
    pad = np.zeros((groups * lanes, n_in), np.int64)
    pad[:n_out] = w
    return pad.reshape(groups, lanes, n_in).transpose(0, 2, 1).reshape(groups * n_in, lanes)


def pack_weights(weight, lanes: int, packed: bool = False) -> bytes:
    """A layer's weights ``(n_out, n_in)`` as its weight words (see :func:`layer_block`;
    ``packed``: every weight must be in WEIGHT4)."""
    words = _logical_words(weight, lanes)
    if not packed:
        return words.astype("i1").tobytes()
    if words.size and (words.min() < WEIGHT4.min_int or words.max() > WEIGHT4.max_int):
        raise ValueError(f"packed weights must lie in {WEIGHT4} "
                         f"[{WEIGHT4.min_int}, {WEIGHT4.max_int}]")
    if len(words) % 2:
        words = np.vstack([words, np.zeros((1, lanes), np.int64)])
    nib = words & 0xF
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_weights(data: bytes, offset: int, n_in: int, n_out: int, lanes: int,
                   packed: bool = False) -> np.ndarray:
    """The ``(n_out, n_in)`` weights of the weight words at ``offset`` of ``data``."""
    groups = -(-n_out // lanes)
    n = groups * n_in
    if packed:
        raw = np.frombuffer(data, dtype=np.uint8, count=weight_words(n_in, n_out, lanes, True)
                            * lanes, offset=offset).astype(np.int64).reshape(-1, lanes)
        nib = np.empty((2 * len(raw), lanes), np.int64)
        nib[0::2], nib[1::2] = raw & 0xF, raw >> 4
        words = np.where(nib >= 8, nib - 16, nib)[:n]
    else:
        words = np.frombuffer(data, dtype="i1", count=n * lanes, offset=offset)
    return words.reshape(groups, n_in, lanes).transpose(0, 2, 1).reshape(
        groups * lanes, n_in)[:n_out].astype(np.int64)


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
    lanes: int = 1
    #: bit ``l``: layer ``l + 1`` has 4-bit weights, two to a byte
    packed: int = 0

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
                                 self.n_layers, self.in_shift, self.flags, self.total_len,
                                 self.lanes, self.packed, 0, *sizes)

    @classmethod
    def unpack(cls, data: bytes) -> ImageHeader:
        if len(data) < IMAGE_HEADER_LEN:
            raise ValueError(f"image header needs {IMAGE_HEADER_LEN} bytes, got {len(data)}")
        magic, version, k, t, n_layers, in_shift, flags, total, lanes, packed, _, *sizes = \
            IMAGE_HEADER.unpack(bytes(data[:IMAGE_HEADER_LEN]))
        return cls(n_features=k, samples=t, in_shift=in_shift,
                   sizes=tuple(sizes[:min(n_layers, MAX_LAYERS)]), total_len=total,
                   magic=magic, version=version, n_layers=n_layers, flags=flags,
                   lanes=lanes, packed=packed)

    def layer_dims(self) -> list[tuple[int, int]]:
        """``(n_in, n_out)`` per layer."""
        dims, n_in = [], 3 * self.n_features
        for n_out in self.sizes:
            dims.append((n_in, n_out))
            n_in = n_out
        return dims

    def layer_packed(self, layer: int) -> bool:
        """Whether layer ``layer`` (0-based) has 4-bit weights, two to a byte."""
        return bool(self.packed >> layer & 1)

    @property
    def has_table(self) -> bool:
        return bool(self.flags & IMAGE_FLAG_TABLE)

    def _blocks(self) -> list[tuple[int, int]]:
        out, pos = [], LAYERS_OFFSET
        for k, (i, o) in enumerate(self.layer_dims()):
            at, pos = layer_block(pos, i, o, max(self.lanes, 1), self.layer_packed(k))
            out.append((at, pos))
        return out

    def model_len(self) -> int:
        """Bytes before the table block (all of them without one)."""
        blocks = self._blocks()
        return blocks[-1][1] if blocks else LAYERS_OFFSET

    def weights_at(self) -> list[int]:
        """Image offset of each layer's first weight word (:func:`layer_block`)."""
        return [at for at, _ in self._blocks()]

    def table_len(self) -> int:
        return table_len(self.samples) if self.has_table else 0

    def expected_len(self) -> int:
        return self.model_len() + self.table_len()



#: The system byte: the order of :class:`dynalign.hw.systems.System` (0 mixed, 1 Lorenz,
#: 2 Chen, 3 Rossler, 4 Aizawa, 5 Nose-Hoover, 6 Sprott C, 7 Chua), as the encoder's
#: ``SYSTEM`` register.
SYSTEM_CODES = {s.value: i for i, s in enumerate(System)}


@dataclass(frozen=True)
class EncoderRegisters:
    """The integer encoder parameters as the device holds them: the 80-byte encoder
    block, and the step shifts of the step-shift block (:meth:`pack_shifts`).

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
    #: the per-sample input shifts, one per slot (:data:`STEP_SHIFT_SLOTS`; 0 past T)
    shift_slots: tuple = (0,) * STEP_SHIFT_SLOTS

    @classmethod
    def from_config(cls, config) -> EncoderRegisters:
        shifts = tuple(config.step_shifts)[:STEP_SHIFT_SLOTS]
        return cls(system=SYSTEM_CODES[config.system.value], samples=config.samples,
                   stride=config.stride, n_steps=config.n_steps,
                   steps=tuple(config.step_constants()), program=config.coef_program(),
                   shift_slots=shifts + (0,) * (STEP_SHIFT_SLOTS - len(shifts)))

    @property
    def step_shifts(self) -> tuple:
        """The shift of each of the T samples (0 for samples past the slots)."""
        return tuple(self.shift_slots[t] if t < STEP_SHIFT_SLOTS else 0
                     for t in range(self.samples))

    def coef_program(self) -> tuple:
        return self.program

    def step_constants(self) -> tuple:
        return self.steps

    def pack(self) -> bytes:
        out = bytearray(ENCODER_FIXED.pack(self.system, self.samples, self.stride,
                                           self.n_steps, 0, *self.steps))
        coefs = [coef for comp in self.program for coef, _ in comp]
        if len(coefs) > ENCODER_SLOTS:
            raise ValueError(f"the encoder programme has {len(coefs)} coefficients, the "
                             f"encoder block holds {ENCODER_SLOTS}")
        for coef in coefs + [0] * (ENCODER_SLOTS - len(coefs)):
            out += ENCODER_SLOT.pack(coef)
        assert len(out) == ENCODER_LEN
        return bytes(out)

    def pack_shifts(self) -> bytes:
        """The step-shift block (:data:`SHIFTS_LEN` bytes)."""
        return bytes(self.shift_slots)

    @classmethod
    def unpack(cls, data: bytes, shifts: bytes = bytes(SHIFTS_LEN)) -> EncoderRegisters:
        """The registers of an encoder block and a step-shift block; the terms are those
        of its system (an unknown system byte gives an empty programme, which
        :meth:`check` reports)."""
        data, shifts = bytes(data), bytes(shifts)
        if len(data) != ENCODER_LEN:
            raise ValueError(f"encoder block must be {ENCODER_LEN} bytes, not {len(data)}")
        if len(shifts) != SHIFTS_LEN:
            raise ValueError(f"step-shift block must be {SHIFTS_LEN} bytes, not {len(shifts)}")
        system, samples, stride, n_steps, _, h1, h2, h6 = \
            ENCODER_FIXED.unpack(data[:ENCODER_FIXED.size])
        coefs = [c for (c,) in ENCODER_SLOT.iter_unpack(data[ENCODER_FIXED.size:])]
        systems = list(System)
        shape = program_shape(systems[system]) if system < len(systems) else ()
        program, pos = [], 0
        for comp in shape:
            program.append(tuple(zip(coefs[pos:pos + len(comp)], comp)))
            pos += len(comp)
        return cls(system=system, samples=samples, stride=stride, n_steps=n_steps,
                   steps=(h1, h2, h6), program=tuple(program),
                   shift_slots=tuple(shifts))

    def check(self) -> str | None:
        """Why these registers cannot run (``None`` if they can)."""
        if not self.program:
            return f"system {self.system} unknown (0..{len(SYSTEM_CODES) - 1})"
        if self.samples < 2:
            return f"T={self.samples} below 2"
        if self.stride < 1 or self.n_steps != self.stride * (self.samples - 1):
            return f"n_steps={self.n_steps} is not stride x (T-1) = {self.stride} x " \
                   f"{self.samples - 1}"
        if min(self.steps) < 1:
            return "a step constant is 0"
        if any(self.shift_slots[self.samples:]):
            return f"a step shift is set past the T={self.samples} samples"
        try:
            check_step_shifts(self.step_shifts, self.samples)
        except ValueError as e:
            return str(e)
        return None

@dataclass(frozen=True)
class DeviceImage:
    """A decoded device image: header, encoder registers and the golden network; with a
    table block also the table (``table``: int64 ``(R, T, 3)`` samples, ``table_sat``:
    bool ``(R,)``, row = code - CODE.min_int)."""
    header: ImageHeader
    encoder: EncoderRegisters
    network: LIFNetworkParams
    table: object = None
    table_sat: object = None

    @property
    def n_features(self) -> int:
        return self.header.n_features


def golden_table(encoder) -> tuple[np.ndarray, np.ndarray]:
    """``(table, sat)`` of an encoder (:class:`dynalign.hw.wire.EncoderRegisters` or
    :class:`dynalign.hw.systems.EncoderConfig`): every code's golden trajectory, int64
    ``(R, T, 3)``, and its saturation flag, bool ``(R,)`` (row = code - CODE.min_int)."""
    codes = np.arange(CODE.min_int, CODE.max_int + 1, dtype=np.int64)
    assert len(codes) == TABLE_ROWS
    traj, sat = ref_trajectory_table(codes, encoder)
    return traj, sat > 0


def pack_table(table, sat) -> bytes:
    """The table block: ``int32[3T][R]`` (entry-major) then ``u8[R]`` flags."""
    table = np.asarray(table, dtype=np.int64)
    rows, t, _ = table.shape
    entries = table.reshape(rows, 3 * t).T              # (3T, R)
    return entries.astype("<i4").tobytes() + np.asarray(sat, dtype=np.uint8).tobytes()


def build_image(*, network, encoder, n_features: int, table: bool = False,
                lanes: int = 1) -> bytes:
    """Device image bytes for a golden network (:class:`dynalign.hw.lif.ref.LIFNetworkParams`),
    an encoder configuration (:class:`dynalign.hw.systems.EncoderConfig` or
    :class:`dynalign.hw.wire.EncoderRegisters`) and K features (layer 1 has 3K inputs).
    ``table=True`` appends the golden trajectory table block (:func:`golden_table`) for
    a device that serves an uploaded table (``Limits.table``).  ``lanes``: the weight word
    of the device the image is for (:func:`layer_block`; :func:`relayout` changes it)."""
    positive_int("lanes", lanes)
    if lanes > 255:
        raise ValueError(f"an image header holds lanes up to 255, not {lanes}")
    if not isinstance(network, LIFNetworkParams):
        raise TypeError(f"network must be LIFNetworkParams, not {type(network).__name__}")
    positive_int("n_features", n_features)
    if network.layers[0].n_in != 3 * n_features:
        raise ValueError(f"layer 1 has {network.layers[0].n_in} inputs; K={n_features} "
                         f"features give {3 * n_features} encoder channels")
    regs = encoder if isinstance(encoder, EncoderRegisters) \
        else EncoderRegisters.from_config(encoder)
    flags = IMAGE_FLAG_TABLE if table else 0
    packed = packed_mask(layer.weight_bits for layer in network.layers)
    header = ImageHeader(n_features=n_features, samples=regs.samples,
                         in_shift=network.in_shift,
                         sizes=tuple(layer.n_out for layer in network.layers), total_len=0,
                         flags=flags, lanes=lanes, packed=packed)
    header = dataclasses.replace(header, total_len=header.expected_len())
    out = bytearray(header.pack())
    out += regs.pack()
    out += regs.pack_shifts()
    for layer in network.layers:
        at, end = layer_block(len(out), layer.n_in, layer.n_out, lanes, layer.packed)
        out += LAYER_HEADER.pack(layer.beta, layer_flags(layer), layer.theta)
        out += np.asarray(layer.bias, dtype="<i2").tobytes()
        out += bytes(at - len(out))
        out += pack_weights(layer.weight, lanes, layer.packed)
        assert len(out) == end
    if table:
        out += pack_table(*golden_table(regs))
    assert len(out) == header.total_len
    return bytes(out)


def parse_image(data: bytes, *, check_len: bool = True, check_table: bool = True,
                table: bytes | None = None, check_flags: bool = True) -> DeviceImage:
    """Device image bytes -> :class:`DeviceImage` (``check_len=False`` accepts trailing
    bytes, e.g. a whole store bank).

    A table block is decoded and, with ``check_table`` (the default), must equal the
    golden table of the image's encoder block (``ValueError`` names the first
    difference); ``check_table=False`` takes it as it is (a device serves whatever was
    uploaded).  ``table``: the table block given apart (a device's table memory), for a
    ``data`` that holds only the bytes before it.  A layer header's undefined flag bits
    are refused unless ``check_flags=False`` (a device reads bit 0 only)."""
    data = bytes(data)
    header = ImageHeader.unpack(data)
    if header.magic == IMAGE_MAGIC and header.version != IMAGE_VERSION:
        raise ValueError(f"model image version {header.version}: this dynalign reads "
                         f"version {IMAGE_VERSION} only (export the model again)")
    if header.lanes < 1:
        raise ValueError("image header: lanes is 0")
    if header.flags & ~IMAGE_FLAG_TABLE:
        raise ValueError(f"image header flags 0x{header.flags:02x}: unknown bits")
    if header.packed >> header.n_layers:
        raise ValueError(f"image header marks 4-bit weights (packed 0x{header.packed:02x}) "
                         f"in layers the model does not have (it has {header.n_layers})")
    need = header.expected_len()
    if table is not None:
        if not header.has_table:
            raise ValueError("a table block was given for an image without one")
        data = data[:header.model_len()] + bytes(table)[:header.table_len()]
    if header.total_len != need or len(data) < need or (check_len and len(data) != need):
        raise ValueError(f"image of {len(data)} bytes, header total {header.total_len}, "
                         f"topology needs {need}")
    regs = EncoderRegisters.unpack(data[ENCODER_OFFSET:ENCODER_OFFSET + ENCODER_LEN],
                                   data[SHIFTS_OFFSET:SHIFTS_OFFSET + SHIFTS_LEN])
    layers, pos = [], LAYERS_OFFSET
    for k, (n_in, n_out) in enumerate(header.layer_dims()):
        beta, lflags, theta = LAYER_HEADER.unpack(data[pos:pos + LAYER_HEADER.size])
        if check_flags and lflags & ~LAYER_FLAGS:
            raise ValueError(f"layer {k + 1} header flags 0x{lflags:04x}: unknown bits")
        packed = header.layer_packed(k)
        at, end = layer_block(pos, n_in, n_out, header.lanes, packed)
        pos += LAYER_HEADER.size
        bias = np.frombuffer(data, dtype="<i2", count=n_out, offset=pos).astype(np.int64)
        weight = unpack_weights(data, at, n_in, n_out, header.lanes, packed)
        pos = end
        layers.append(LIFLayerParams(weight=weight,
                                     bias=bias, beta=beta, theta=theta,
                                     reset=RESET_ZERO if lflags & LAYER_FLAG_RESET_ZERO
                                     else RESET_SUBTRACT,
                                     weight_bits=WEIGHT4.width if packed else WEIGHT.width))
    network = LIFNetworkParams(in_shift=header.in_shift, layers=tuple(layers))
    tab = sat = None
    if header.has_table:
        t = header.samples
        entries = np.frombuffer(data, dtype="<i4", count=3 * t * TABLE_ROWS, offset=pos)
        tab = entries.reshape(3 * t, TABLE_ROWS).T.reshape(TABLE_ROWS, t, 3).astype(np.int64)
        pos += 4 * entries.size
        sat = np.frombuffer(data, dtype=np.uint8, count=TABLE_ROWS, offset=pos) & 1 != 0
        if check_table:
            if regs.check() is not None:
                raise ValueError(f"image encoder block cannot run: {regs.check()}")
            gold, gold_sat = golden_table(regs)
            bad = np.argwhere(gold != tab)
            if len(bad):
                r, ti, c = (int(v) for v in bad[0])
                raise ValueError(f"table block disagrees with the encoder block: row {r} "
                                 f"sample {ti} component {c} is {int(tab[r, ti, c])}, the "
                                 f"golden encoder gives {int(gold[r, ti, c])}")
            if not np.array_equal(gold_sat, sat):
                r = int(np.argmax(gold_sat != sat))
                raise ValueError(f"table block saturation flag of row {r} disagrees with "
                                 f"the encoder block")
    return DeviceImage(header=header, encoder=regs, network=network, table=tab,
                       table_sat=sat)



def relayout(image: bytes, *, lanes: int, table: bool | None = None) -> bytes:
    """``image`` with its weights laid out for ``lanes``-weight words (and, with
    ``table`` given, with or without the table block); the same bytes if nothing
    changes."""
    dev = parse_image(image)
    table = dev.header.has_table if table is None else table
    if dev.header.lanes == lanes and dev.header.has_table == table:
        return bytes(image)
    return build_image(network=dev.network, encoder=dev.encoder, n_features=dev.n_features,
                       table=table, lanes=lanes)


def image_requests(image: bytes, *, max_payload: int, bank: int = 0) -> list[tuple[Cmd, bytes]]:
    """The requests that upload ``image`` into store bank ``bank``: one ``IMAGE_BEGIN``
    (the header, then the bank u8), as many ``IMAGE_DATA`` as ``max_payload`` needs, one
    ``IMAGE_COMMIT`` (CRC-32)."""
    image = bytes(image)
    chunk = max_payload - DATA_OFFSET_LEN
    if chunk < 1:
        raise ValueError(f"max_payload {max_payload} leaves no room for data")
    if bank not in (0, 1):
        raise ValueError(f"a device has banks 0 and 1, not {bank!r}")
    reqs = [(Cmd.IMAGE_BEGIN, image[:IMAGE_HEADER_LEN] + bytes([bank]))]
    for off in range(IMAGE_HEADER_LEN, len(image), chunk):
        reqs.append((Cmd.IMAGE_DATA, struct.pack("<I", off) + image[off:off + chunk]))
    reqs.append((Cmd.IMAGE_COMMIT, struct.pack("<I", crc32(image))))
    return reqs


