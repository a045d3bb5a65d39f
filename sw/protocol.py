"""Host side of the link protocol: device images, records, and the golden results.

Frame constants, CRCs and layouts live in :mod:`dynalign.hw.protocol` (one place); this module
builds what the host sends and decodes what the device answers:

* :func:`build_image` / :func:`parse_image`: a model (golden LIF network + encoder
  configuration + K) <-> the device image bytes (:mod:`dynalign.hw.protocol`, "Weight image"),
  with the trajectory table block for devices that serve an uploaded table;
  :func:`image_for` adds or drops that block as a device's limits ask;
* :func:`image_requests`: the ``IMAGE_BEGIN`` / ``IMAGE_DATA`` / ``IMAGE_COMMIT``
  payloads that upload an image in chunks that fit the device's ``max_payload``;
* :class:`Status`, :class:`Results`: decoded ``STATUS`` / ``RESULTS`` records;
* :func:`golden_results`: what the device must answer for given feature codes (golden
  encoder on the uploaded integers + golden LIF network).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dynalign.hw.protocol import (
    DATA_OFFSET_LEN,
    ENCODER_LEN,
    ENCODER_OFFSET,
    FLAG_ENC_SAT,
    FLAG_MEM_SAT,
    IMAGE_FLAG_TABLE,
    IMAGE_HEADER_LEN,
    LAYER_HEADER,
    LAYERS_OFFSET,
    RESULT_FIXED,
    STATUS,
    TABLE_ROWS,
    Cmd,
    EncoderRegisters,
    ImageHeader,
    Limits,
    crc32,
)

__all__ = ["DeviceImage", "build_image", "parse_image", "image_requests", "Status",
           "Results", "golden_results", "network_of", "image_for", "golden_table",
           "pack_table"]


@dataclass(frozen=True)
class DeviceImage:
    """A decoded device image: header, encoder registers and the golden network; with a
    table block also the table (``table``: int64 ``(R, T, 3)`` samples, ``table_sat``:
    bool ``(R,)``, row = code - CODE.min_int)."""
    header: ImageHeader
    encoder: EncoderRegisters
    network: object          # hw.lif.ref.LIFNetworkParams
    table: object = None
    table_sat: object = None

    @property
    def n_features(self) -> int:
        return self.header.n_features


def golden_table(encoder) -> tuple[np.ndarray, np.ndarray]:
    """``(table, sat)`` of an encoder (:class:`dynalign.hw.protocol.EncoderRegisters` or
    :class:`dynalign.hw.systems.EncoderConfig`): every code's golden trajectory, int64
    ``(R, T, 3)``, and its saturation flag, bool ``(R,)`` (row = code - CODE.min_int)."""
    from dynalign.hw.encoder.ref import ref_trajectory_table
    from dynalign.hw.formats import CODE
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


def build_image(*, network, encoder, n_features: int, table: bool = False) -> bytes:
    """Device image bytes for a golden network (:class:`dynalign.hw.lif.ref.LIFNetworkParams`),
    an encoder configuration (:class:`dynalign.hw.systems.EncoderConfig` or
    :class:`dynalign.hw.protocol.EncoderRegisters`) and K features (layer 1 has 3K inputs).
    ``table=True`` appends the golden trajectory table block (:func:`golden_table`) for
    a device that serves an uploaded table (``Limits.table``)."""
    from dynalign.hw.lif.ref import LIFNetworkParams
    if not isinstance(network, LIFNetworkParams):
        raise TypeError(f"network must be LIFNetworkParams, not {type(network).__name__}")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, not {n_features!r}")
    if network.layers[0].n_in != 3 * n_features:
        raise ValueError(f"layer 1 has {network.layers[0].n_in} inputs; K={n_features} "
                         f"features give {3 * n_features} encoder channels")
    regs = encoder if isinstance(encoder, EncoderRegisters) \
        else EncoderRegisters.from_config(encoder)
    flags = IMAGE_FLAG_TABLE if table else 0
    header = ImageHeader(n_features=n_features, samples=regs.samples,
                         in_shift=network.in_shift,
                         sizes=tuple(layer.n_out for layer in network.layers), total_len=0,
                         flags=flags)
    header = ImageHeader(n_features=n_features, samples=regs.samples,
                         in_shift=network.in_shift, sizes=header.sizes,
                         total_len=header.expected_len(), flags=flags)
    out = bytearray(header.pack())
    out += regs.pack()
    for layer in network.layers:
        out += LAYER_HEADER.pack(layer.beta, 0, layer.theta)
        out += np.asarray(layer.bias, dtype="<i2").tobytes()
        out += np.asarray(layer.weight, dtype="i1").tobytes()      # row-major (n_out, n_in)
    if table:
        out += pack_table(*golden_table(regs))
    assert len(out) == header.total_len
    return bytes(out)


def parse_image(data: bytes, *, check_len: bool = True, check_table: bool = True,
                table: bytes | None = None) -> DeviceImage:
    """Device image bytes -> :class:`DeviceImage` (``check_len=False`` accepts trailing
    bytes, e.g. a whole store bank).

    A table block is decoded and, with ``check_table`` (the default), must equal the
    golden table of the image's encoder block (``ValueError`` names the first
    difference); ``check_table=False`` takes it as it is (a device serves whatever was
    uploaded).  ``table``: the table block given apart (a device's table memory), for a
    ``data`` that holds only the bytes before it."""
    from dynalign.hw.lif.ref import LIFLayerParams, LIFNetworkParams
    data = bytes(data)
    header = ImageHeader.unpack(data)
    if header.flags & ~IMAGE_FLAG_TABLE:
        raise ValueError(f"image header flags 0x{header.flags:02x}: unknown bits")
    need = header.expected_len()
    if table is not None:
        if not header.has_table:
            raise ValueError("a table block was given for an image without one")
        data = data[:header.model_len()] + bytes(table)[:header.table_len()]
    if header.total_len != need or len(data) < need or (check_len and len(data) != need):
        raise ValueError(f"image of {len(data)} bytes, header total {header.total_len}, "
                         f"topology needs {need}")
    regs = EncoderRegisters.unpack(data[ENCODER_OFFSET:ENCODER_OFFSET + ENCODER_LEN])
    layers, pos = [], LAYERS_OFFSET
    for n_in, n_out in header.layer_dims():
        beta, _, theta = LAYER_HEADER.unpack(data[pos:pos + LAYER_HEADER.size])
        pos += LAYER_HEADER.size
        bias = np.frombuffer(data, dtype="<i2", count=n_out, offset=pos).astype(np.int64)
        pos += 2 * n_out
        weight = np.frombuffer(data, dtype="i1", count=n_in * n_out, offset=pos)
        pos += n_in * n_out
        layers.append(LIFLayerParams(weight=weight.reshape(n_out, n_in).astype(np.int64),
                                     bias=bias, beta=beta, theta=theta))
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


def image_for(image: bytes, limits: Limits) -> bytes:
    """``image`` as a device with these limits takes it: with the table block when the
    device serves an uploaded table (``limits.table``), without one otherwise."""
    dev = parse_image(image)
    if dev.header.has_table == limits.table:
        return bytes(image)
    return build_image(network=dev.network, encoder=dev.encoder,
                       n_features=dev.n_features, table=limits.table)


def image_requests(image: bytes, *, max_payload: int) -> list[tuple[Cmd, bytes]]:
    """The requests that upload ``image``: one ``IMAGE_BEGIN`` (the header), as many
    ``IMAGE_DATA`` as ``max_payload`` needs, one ``IMAGE_COMMIT`` (CRC-32)."""
    image = bytes(image)
    chunk = max_payload - DATA_OFFSET_LEN
    if chunk < 1:
        raise ValueError(f"max_payload {max_payload} leaves no room for data")
    reqs = [(Cmd.IMAGE_BEGIN, image[:IMAGE_HEADER_LEN])]
    for off in range(IMAGE_HEADER_LEN, len(image), chunk):
        reqs.append((Cmd.IMAGE_DATA, struct.pack("<I", off) + image[off:off + chunk]))
    reqs.append((Cmd.IMAGE_COMMIT, struct.pack("<I", crc32(image))))
    return reqs


@dataclass(frozen=True)
class Status:
    model_valid: bool
    upload_open: bool
    active_bank: int
    last_error: int
    framing_errors: int
    crc_errors: int
    timeouts: int
    dropped_bytes: int

    @classmethod
    def unpack(cls, data: bytes) -> Status:
        if len(data) != STATUS.size:
            raise ValueError(f"status record of {len(data)} bytes, expected {STATUS.size}")
        v, u, b, e, *counters = STATUS.unpack(bytes(data))
        return cls(bool(v), bool(u), b, e, *counters)


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

    @classmethod
    def unpack_summary(cls, data: bytes) -> tuple[int, int, int]:
        """``RUN`` reply -> ``(class, flags, cycles)``."""
        c, flags, _, _, cycles = RESULT_FIXED.unpack(bytes(data))
        return c, flags, cycles


def golden_results(image: DeviceImage, codes) -> Results:
    """What the device answers for one sample's codes (shape (1, K) or (K,)), cycles 0.

    Encoder: :func:`dynalign.hw.encoder.ref.ref_trajectory_table` on the image's encoder
    registers (the uploaded integers), or the image's table block where it has one;
    network: :func:`dynalign.hw.lif.ref.ref_network`.
    """
    from dynalign.hw.encoder.ref import check_codes, ref_trajectory_table
    from dynalign.hw.formats import CODE
    from dynalign.hw.lif.ref import ref_network
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
    return Results(cls=int(res.cls[0]), flags=flags, cycles=0,
                   spikes=tuple(int(v) for v in res.spikes[0]),
                   saturations=tuple(int(v) for v in res.saturations[0]),
                   out_counts=tuple(int(v) for v in res.out_counts[0]))


def network_of(image: DeviceImage):
    return image.network
