"""The device, byte for byte, in Python: the model of the command engine
(:class:`dynalign.hw.engine.CommandEngine`) and of the whole top level
(:class:`dynalign.hw.top.DynalignTop`), for host tools and tests without a board.

:class:`DeviceModel` consumes the bytes the host sends, one at a time, plus two line
events (``timeout()``: the line went quiet for the device's timeout; ``framing_error()``:
the UART saw a low stop bit), and produces the reply bytes the gateware produces, in the
same order.  A reply is instantaneous here; on the device it takes time, and what arrives
meanwhile is given with ``busy=True`` (``feed(data, busy=True)``: the bytes are discarded
and counted as lost; ``framing_error(busy=True)``: counted, nothing aborted).  A device
with a receive queue (``limits.queue`` > 0) is never busy in that sense: what arrives
meanwhile waits in its queue, and reaches this model with ``busy=False``, in order; only
a byte that overflows the queue is given with ``busy=True``.  The
compute core is pluggable: :class:`StubCoreModel` (a tiny dot product, the
model of the gateware :class:`dynalign.hw.engine.StubCore`, so the link can be tested on
its own) or :class:`GoldenCore` (the golden encoder + golden LIF network: what
``DynalignTop`` computes).

The rules are those of :mod:`dynalign.hw.wire`; where the protocol leaves a choice (the order
of checks), this model fixes it and the gateware follows it.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np

from dynalign.hw.encoder.ref import check_codes, ref_trajectory_table
from dynalign.hw.formats import CODE
from dynalign.hw.lif.ref import ref_network
from dynalign.hw.wire import (
    BANK_EMPTY,
    BANK_UPLOADING,
    BANK_VALID,
    ENCODER_LEN,
    ENCODER_OFFSET,
    ERROR,
    FLAG_ENC_SAT,
    FLAG_MEM_SAT,
    HEADER_AT,
    IMAGE_HEADER_LEN,
    LAYERS_OFFSET,
    REPLY,
    RESULT_FIXED,
    RESULT_SUMMARY_LEN,
    STATUS,
    SYNC,
    Cmd,
    Err,
    ImageHeader,
    Limits,
    Results,
    brief_len,
    crc16,
    device_cycles,
    encode_frame,
    layer_block,
    parse_image,
    payload_length_ok,
    table_len,
)

__all__ = ["DeviceModel", "StubCoreModel", "GoldenCore", "golden_core", "stub_result"]

def stub_result(store: bytes, codes: list[int]) -> bytes:
    """The stub core: ``acc = sum_j code_j * w_j`` (int32 wrap-around) with ``w_j`` the
    int8 weights of neuron 0 of layer 1 for ``j < K`` (lane 0 of weight word ``j``); class
    ``acc & 0xFF``, cycles ``K + 2``, layer-1 "spikes" ``acc`` (as u32), no saturations,
    no output counts."""
    header = ImageHeader.unpack(store[:IMAGE_HEADER_LEN])
    k = header.n_features
    lanes = max(header.lanes, 1)
    w0, _ = layer_block(LAYERS_OFFSET, 3 * k, header.sizes[0], lanes)
    acc = 0
    for j in range(k):
        w = store[w0 + lanes * j]
        w = w - 256 if w >= 128 else w
        c = codes[j] if j < len(codes) else 0
        acc += w * c
    acc &= 0xFFFFFFFF
    return RESULT_FIXED.pack(acc & 0xFF, 0, 1, 0, k + 2) + struct.pack("<II", acc, 0)


class StubCoreModel:
    """Model of the gateware stub core (:class:`dynalign.hw.engine.StubCore`):
    :func:`stub_result` on the active bank."""

    def __init__(self):
        self._store = None

    def load(self, store: bytes, table: bytes | None = None) -> None:
        self._store = bytes(store)

    def run(self, codes: list[int]) -> bytes:
        return stub_result(self._store, codes)


class GoldenCore:
    """The golden encoder + golden LIF network, fed from the uploaded image bytes.

    Per run: the image's codes through :func:`dynalign.hw.encoder.ref.ref_trajectory_table`
    on the *uploaded* encoder registers (or, on a device that serves an uploaded table,
    the rows of the uploaded table, as they are), the samples in the encoder's channel
    order (``f0x f0y f0z f1x ...``) through :func:`dynalign.hw.lif.ref.ref_network`; the
    results record is packed from what they return.

    ``cycles`` comes from the ``cycle_model(image, net)`` callable (``net``: the
    :class:`dynalign.hw.lif.ref.NetworkResult` of the one sample): the whole-device
    model of a device with given limits is :func:`golden_core`'s
    (:func:`dynalign.hw.wire.device_cycles`, the cycles the gateware counts); without
    one it is 0.
    """

    def __init__(self, *, cycle_model=None):
        self._cycle_model = cycle_model
        self._image = None

    def load(self, store: bytes, table: bytes | None = None) -> None:
        """``store``: the active bank; ``table``: the active table memory (a device that
        serves an uploaded table), taken as it is."""
        self._image = parse_image(bytes(store), check_len=False, check_table=False,
                                  table=table, check_flags=False)    # bit 0 only, as a device

    def run(self, codes: list[int]) -> bytes:
        image = self._image
        codes = check_codes(np.asarray(codes, dtype=np.int64).ravel())
        if image.table is not None:
            rows = codes - CODE.min_int
            traj, sat = image.table[rows], image.table_sat[rows]
        else:
            traj, sat = ref_trajectory_table(codes, image.encoder)        # (K, T, 3)
        samples = np.stack([traj[:, t, :].ravel() for t in range(image.encoder.samples)])
        net = ref_network(samples[None], image.network)
        flags = (FLAG_ENC_SAT if np.any(sat) else 0) | \
            (FLAG_MEM_SAT if np.any(net.saturations[0]) else 0)
        res = Results(cls=int(net.cls[0]), flags=flags, cycles=0,
                      spikes=tuple(int(v) for v in net.spikes[0]),
                      saturations=tuple(int(v) for v in net.saturations[0]),
                      out_counts=tuple(int(v) for v in net.out_counts[0]))
        if self._cycle_model is not None:
            res = res._replace(cycles=int(self._cycle_model(image, net)))
        return res.pack()


def golden_core(limits: Limits) -> GoldenCore:
    """A :class:`GoldenCore` that answers the cycles of a device with ``limits`` (its
    lanes and core), from the whole-device cycle model."""
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits, not {limits!r}")
    return GoldenCore(cycle_model=functools.partial(device_cycles, limits=limits))


class DeviceModel:
    """The device, byte for byte.  ``feed(data)`` -> reply bytes.

    Parameters
    ----------
    limits : Limits
        What the device was elaborated for.
    core : object with ``load(store_bytes)`` and ``run(codes) -> result bytes``
    """

    def __init__(self, *, limits: Limits, core=None):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        self.limits = limits
        self.core = StubCoreModel() if core is None else core
        self.banks = [bytearray(limits.bank_bytes), bytearray(limits.bank_bytes)]
        tlen = table_len(limits.max_samples) if limits.table else 0
        self.tables = [bytearray(tlen), bytearray(tlen)]
        self.table_start = 0            # image offset of the table block being uploaded
        self.active = 0                 # the bank served
        self.model_valid = False        # == bank_state[active] == BANK_VALID
        self.bank_state = [BANK_EMPTY, BANK_EMPTY]
        self.bank_crc = [0, 0]
        self.upload_bank = 0            # the bank the open (or last) upload went into
        self.upload_open = False
        self.ptr = 0
        self.total_len = 0
        self.crc = 0
        self.k = 0
        self.features = [0] * limits.max_features
        self.result = b""
        self.result_valid = False
        self.last_error = 0
        self.counters = {"framing": 0, "crc": 0, "timeout": 0, "dropped": 0, "lost": 0}
        self._state = "IDLE"
        self._hdr = bytearray()
        self._payload = bytearray()
        self._crc = bytearray()
        self._skip = 0

    @property
    def in_frame(self) -> bool:
        """A frame has begun (its ``SYNC`` arrived) and has not ended yet."""
        return self._state != "IDLE"

    # -- line events ----------------------------------------------------------------
    def feed(self, data: bytes, *, busy: bool = False) -> bytes:
        """The reply bytes to ``data``.  ``busy``: the bytes arrived while the device was
        sending a reply (between the end of a frame and the last byte of its reply): the
        device discards them and counts each in ``lost``."""
        if busy:
            for _ in bytes(data):
                self._bump("lost")
            return b""
        out = bytearray()
        for b in bytes(data):
            out += self._byte(b)
        return bytes(out)

    def timeout(self) -> bytes:
        """The line was quiet for the device's timeout: a half-received frame is dropped
        and answered with :attr:`Err.TIMEOUT`."""
        if self._state == "IDLE":
            return b""
        self._bump("timeout")
        return self._abort(Err.TIMEOUT)

    def framing_error(self, *, busy: bool = False) -> bytes:
        """A framing error: counted wherever it happens; inside a frame it aborts the
        frame (:attr:`Err.FRAMING`).  ``busy``: it happened while a reply was being sent
        (counted, nothing else)."""
        self._bump("framing")
        if busy or self._state == "IDLE":
            return b""
        return self._abort(Err.FRAMING)

    # -- parser ---------------------------------------------------------------------
    def _bump(self, name):
        self.counters[name] = min(self.counters[name] + 1, 0xFFFF)

    def _cmd_seq(self):
        cmd = self._hdr[0] if len(self._hdr) > 0 else 0
        seq = self._hdr[1] if len(self._hdr) > 1 else 0
        return cmd, seq

    def _abort(self, err) -> bytes:
        cmd, seq = self._cmd_seq()
        self._state = "IDLE"
        return self._error(err, cmd, seq)

    def _error(self, err, cmd, seq) -> bytes:
        self.last_error = int(err)
        return encode_frame(ERROR, bytes([int(err), cmd]), seq=seq)

    def _byte(self, b: int) -> bytes:
        st = self._state
        if st == "IDLE":
            if b == SYNC:
                self._hdr.clear()
                self._payload.clear()
                self._crc.clear()
                self._state = "HDR"
            else:
                self._bump("dropped")
            return b""
        if st == "HDR":
            self._hdr.append(b)
            if len(self._hdr) == 4:
                n = self._hdr[2] | self._hdr[3] << 8
                if n > self.limits.max_payload:
                    self._skip = n + 2
                    self._state = "SKIP"
                elif n == 0:
                    self._state = "CRC"
                else:
                    self._state = "PAYLOAD"
            return b""
        if st == "SKIP":
            self._skip -= 1
            if self._skip == 0:
                return self._abort(Err.LENGTH)
            return b""
        if st == "PAYLOAD":
            self._payload.append(b)
            if len(self._payload) == (self._hdr[2] | self._hdr[3] << 8):
                self._state = "CRC"
            return b""
        # CRC
        self._crc.append(b)
        if len(self._crc) < 2:
            return b""
        self._state = "IDLE"
        cmd, seq = self._cmd_seq()
        if crc16(bytes(self._hdr) + bytes(self._payload)) != (self._crc[0] << 8 | self._crc[1]):
            self._bump("crc")
            return self._error(Err.CRC, cmd, seq)
        return self._execute(cmd, seq, bytes(self._payload))

    # -- commands -------------------------------------------------------------------
    def _reply(self, cmd, seq, payload=b"") -> bytes:
        return encode_frame(cmd | REPLY, payload, seq=seq)

    def _execute(self, cmd_byte: int, seq: int, p: bytes) -> bytes:
        try:
            cmd = Cmd(cmd_byte)
        except ValueError:
            return self._error(Err.UNKNOWN_CMD, cmd_byte, seq)
        if not payload_length_ok(cmd, len(p)):
            return self._error(Err.LENGTH, cmd_byte, seq)
        err, payload = getattr(self, "_cmd_" + cmd.name.lower())(p)
        if err is not None:
            return self._error(err, cmd_byte, seq)
        return self._reply(cmd_byte, seq, payload)

    def _cmd_identify(self, p):
        return None, self.limits.pack()

    def _cmd_status(self, p):
        c = self.counters
        return None, STATUS.pack(int(self.model_valid), int(self.upload_open), self.active,
                                 self.last_error, c["framing"], c["crc"], c["timeout"],
                                 c["dropped"], c["lost"], *self.bank_state, *self.bank_crc)

    def _load(self):
        table = self.tables[self.active] if self.limits.table else None
        self.core.load(self.banks[self.active], table=table)

    def _cmd_write_encoder(self, p):
        if self.limits.table:
            return Err.UNSUPPORTED, b""
        if not self.model_valid:
            return Err.NO_MODEL, b""
        self.banks[self.active][ENCODER_OFFSET:ENCODER_OFFSET + ENCODER_LEN] = p
        self._load()
        self.result_valid = False
        return None, b""

    def _close_upload(self, state):
        """An open upload ends: its bank becomes ``state``."""
        if self.upload_open:
            self.bank_state[self.upload_bank] = state
        self.upload_open = False

    def _cmd_image_begin(self, p):
        """Header bytes 0..31, then the bank.  A bank other than 0 / 1
        (:attr:`Err.NO_BANK`) or the bank being served (:attr:`Err.BANK_SERVED`) is
        refused before anything changes; else an open upload is abandoned (its bank
        empty), the header goes into the named bank (now empty) and, admitted, opens the
        upload (the bank uploading)."""
        bank = p[IMAGE_HEADER_LEN]
        if bank > 1:
            return Err.NO_BANK, b""
        if self.model_valid and bank == self.active:
            return Err.BANK_SERVED, b""
        p = p[:IMAGE_HEADER_LEN]
        header = ImageHeader.unpack(p)
        self._close_upload(BANK_EMPTY)
        self.upload_bank = bank
        self.bank_state[bank] = BANK_EMPTY
        self.banks[bank][:IMAGE_HEADER_LEN] = p
        err = self.limits.check_header(header)
        if err is not None:
            return err, b""
        self.upload_open = True
        self.bank_state[bank] = BANK_UPLOADING
        self.total_len = header.total_len
        self.table_start = header.total_len - header.table_len()
        self.ptr = IMAGE_HEADER_LEN
        self.crc = zlib.crc32(p)
        return None, b""

    def _cmd_image_data(self, p):
        if not self.upload_open:
            return Err.NO_UPLOAD, b""
        offset = int.from_bytes(p[:4], "little")
        data = p[4:]
        if offset != self.ptr:
            return Err.SEQUENCE, b""
        if self.ptr + len(data) > self.total_len:
            return Err.OVERFLOW, b""
        for b in data:              # bytes before the table block -> store, then table
            if self.ptr < self.table_start:
                self.banks[self.upload_bank][self.ptr] = b
            else:
                self.tables[self.upload_bank][self.ptr - self.table_start] = b
            self.ptr += 1
        self.crc = zlib.crc32(data, self.crc)
        return None, b""

    def _cmd_image_commit(self, p):
        if not self.upload_open:
            return Err.NO_UPLOAD, b""
        if self.ptr != self.total_len:
            self._close_upload(BANK_EMPTY)
            return Err.INCOMPLETE, b""
        if int.from_bytes(p, "little") != self.crc & 0xFFFFFFFF:
            self._close_upload(BANK_EMPTY)
            return Err.IMAGE_CRC, b""
        self._close_upload(BANK_VALID)
        self.bank_crc[self.upload_bank] = self.crc & 0xFFFFFFFF
        return None, self._serve(self.upload_bank)

    def _serve(self, bank) -> bytes:
        """Serve ``bank`` (valid): the core loads it; the reply payload ``[bank]``."""
        self.active = bank
        self.model_valid = True
        self.result_valid = False
        self.k = self.banks[bank][HEADER_AT["k"]]
        self._load()
        return bytes([bank])

    def _cmd_select(self, p):
        """Serve bank ``p[0]``: :attr:`Err.NO_BANK` unless 0 / 1, :attr:`Err.BANK_INVALID`
        unless it holds a complete CRC-valid model (an upload into it is open or failed,
        or it never had one)."""
        bank = p[0]
        if bank > 1:
            return Err.NO_BANK, b""
        if self.bank_state[bank] != BANK_VALID:
            return Err.BANK_INVALID, b""
        return None, self._serve(bank)

    def _cmd_features(self, p):
        if not self.model_valid:
            return Err.NO_MODEL, b""
        if len(p) != self.k:
            return Err.FEATURES, b""
        for i, b in enumerate(p):
            self.features[i] = b - 256 if b >= 128 else b
        return None, b""

    def _cmd_run(self, p):
        if not self.model_valid:
            return Err.NO_MODEL, b""
        self.result = self.core.run(self.features[:self.k])
        self.result_valid = True
        return None, self.result[:RESULT_SUMMARY_LEN]

    def _cmd_results(self, p):
        if not self.result_valid:
            return Err.NO_RESULT, b""
        return None, self.result

    def _cmd_stream(self, p):
        """``FEATURES`` then ``RUN``; the reply is the whole results record."""
        err, _ = self._cmd_features(p)
        if err is not None:
            return err, b""
        self._cmd_run(b"")
        return self._cmd_results(b"")

    def _cmd_classify(self, p):
        """``STREAM`` with the brief record for a reply: the results record's first
        ``brief_len(L)`` bytes (``L``: its byte 2)."""
        err, record = self._cmd_stream(p)
        if err is not None:
            return err, b""
        return None, record[:brief_len(record[2])]
