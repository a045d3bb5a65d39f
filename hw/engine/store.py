"""The model store: two banks, each a resident model; uploads into a named bank,
``SELECT`` between them; the feature buffer."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynalign.hw.formats import CODE
from dynalign.hw.wire import (
    BANK_EMPTY,
    BANK_UPLOADING,
    BANK_VALID,
    ENCODER_OFFSET,
    HEADER_AT,
    IMAGE_HEADER_LEN,
    Limits,
)

from .banks import BankedStore, check_store_ram, use_spram
from .core import bank_addr_width, table_addr_width
from .crc import CRC32, crc_processor
from .layouts import HeaderByte, StoreError, StoreOp, upload_layout

__all__ = ["ModelStore"]


class ModelStore(wiring.Component):
    """The double-banked model store and the feature buffer, and every operation that
    moves a frame's payload into them.

    Each bank holds one model (the image as uploaded, its weights in the words of
    :class:`BankedStore`) and has a state (``bank_state``: :data:`BANK_EMPTY`,
    :data:`BANK_UPLOADING`, :data:`BANK_VALID`), its image CRC-32 and K.  The *active*
    bank is the one served (the core's ``store_addr`` / ``store_data``);
    ``model_valid`` = the active bank is valid.  An upload goes into the bank its
    ``IMAGE_BEGIN`` names (``tw_bank``), never into the bank being served.  Operations
    (:class:`StoreOp`, one per ``op`` beat, each answered by one ``result`` beat):

    * ``HEADER``: payload byte 32 names the bank: ``NO_BANK`` unless 0 or 1,
      ``BANK_SERVED`` if it is the active bank while that is valid (nothing changes);
      else an open upload is abandoned (its bank empty), the named bank becomes the
      upload's (empty), the CRC-32 restarts and payload bytes 0..31 go into it,
      each also on ``header`` (for the admission check).  ``upload`` then opens the
      upload (pointer at byte 32, the bank uploading) or closes it.
    * ``DATA``: payload ``offset u32, bytes``: ``SEQUENCE`` unless the offset is the
      upload's pointer, ``OVERFLOW`` if the bytes run past the image's total length;
      else the bytes are appended at the pointer (into the CRC-32), those before the
      table block into the upload's bank, those of the table block (``Limits.table``) to
      the core's table memory: each sample word (4 bytes, little-endian) as one ``tw_*``
      write at ``Cat(row, 3 t + c)``, then one per row's flag byte (``tw_is_flag``).
    * ``COMMIT``: payload ``crc32 u32``; closes the upload: ``INCOMPLETE`` unless every
      byte arrived, ``IMAGE_CRC`` unless the CRC-32 matches (either way the bank is
      empty), else the bank is valid (its CRC-32 and K kept) and becomes the active one.
    * ``SELECT``: payload byte 0 names the bank: ``NO_BANK`` unless 0 or 1,
      ``BANK_INVALID`` unless it is valid, else it becomes the active one.
    * ``ENCODER``: the payload into the active bank at the encoder block.
    * ``FEATURES``: the payload into the feature buffer.

    A payload byte takes two cycles (buffer read, write); in SPRAM (:class:`BankedStore`)
    a write waits for ``core_ready`` (the core reads the one port while it loads or runs).

    Parameters (keyword-only)
    -------------------------
    limits : Limits  (``lanes``: the bytes of a store word)
    store_ram : "auto" | "memory" | "spram"  (see :func:`dynalign.hw.engine.banks.use_spram`)

    Ports
    -----
    op : In(stream.Signature(StoreOp, always_ready=True))
        Start an operation (taken only while idle: one operation per frame).
    length : In(16)
        The frame's payload length, held during the operation.
    result : Out(stream.Signature(StoreError, always_ready=True))
        The operation finished (``NONE``) or failed.
    pay_addr : Out(range(max_payload)); pay_data : In(8)
        Read port into the receiver's payload buffer.
    header : Out(stream.Signature(HeaderByte, always_ready=True))
        The header bytes as ``HEADER`` stores them, in order (to the admission check).
    upload : In(stream.Signature(upload_layout(limits), always_ready=True))
        The admission verdict of the header just stored.
    upload_open : Out(1); active : Out(1); model_valid : Out(1); k : Out(8)
        The upload state, the bank served, whether it is valid and its K.
    bank_state : Out(ArrayLayout(8, 2))
        Each bank's state (for ``STATUS``).
    crc_addr : In(1); crc_data : Out(32)
        The CRC-32 of bank ``crc_addr``'s last good commit (0 before the first), the cycle
        after (a two-word block RAM: for ``STATUS``).
    store_addr : In(word address bits); store_data : Out(8 lanes)
        The active bank's word ``store_addr``, one cycle later.
    feat_addr : In(feature address bits); feat_data : Out(8)
    core_ready : In(1)
    tw_en : Out(1); tw_is_flag : Out(1); tw_addr : Out(table address bits); tw_data : Out(32)
        Registered: a write leaves one cycle after its last byte was taken.
    tw_bank : Out(1)
        The bank of the upload (the table bank the ``tw_*`` writes go to).
    """

    def __init__(self, *, limits: Limits, store_ram: str = "auto"):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        self.limits = limits
        self.store_ram = check_store_ram(store_ram, limits.bank_bytes)
        self.byte_aw = bank_addr_width(limits.bank_bytes)
        self.store_aw = bank_addr_width(-(-limits.bank_bytes // limits.lanes))
        self.feat_aw = max(1, (limits.max_features - 1).bit_length())
        self.table_aw = table_addr_width(limits.max_samples) if limits.table else 1
        super().__init__({
            "op": In(stream.Signature(StoreOp, always_ready=True)),
            "length": In(16),
            "result": Out(stream.Signature(StoreError, always_ready=True)),
            "pay_addr": Out(range(limits.max_payload)),
            "pay_data": In(8),
            "header": Out(stream.Signature(HeaderByte, always_ready=True)),
            "upload": In(stream.Signature(upload_layout(limits), always_ready=True)),
            "upload_open": Out(1),
            "active": Out(1),
            "model_valid": Out(1),
            "k": Out(8),
            "bank_state": Out(data.ArrayLayout(8, 2)),
            "crc_addr": In(1), "crc_data": Out(32),
            "store_addr": In(self.store_aw),
            "store_data": Out(8 * limits.lanes),
            "feat_addr": In(self.feat_aw),
            "feat_data": Out(8),
            "core_ready": In(1),
            "tw_en": Out(1), "tw_is_flag": Out(1), "tw_addr": Out(self.table_aw),
            "tw_data": Out(32), "tw_bank": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lim = self.limits
        shared = use_spram(self.store_ram, lim.bank_bytes, platform, lim.lanes)
        m.submodules.banks = banks = BankedStore(bank_bytes=lim.bank_bytes, spram=shared,
                                                 lanes=lim.lanes)
        # (block RAM: a handful of bytes would otherwise take 8 flip-flops each)
        m.submodules.feat = feat = Memory(shape=8, depth=1 << self.feat_aw, init=[],
                                          attrs={"ram_style": "block"})
        feat_w = feat.write_port()
        feat_r = feat.read_port()
        restart = Signal()          # an image header begins: the CRC-32 starts over
        m.submodules.crc = crc = crc_processor(CRC32, restart)
        active = self.active
        ubank = self.tw_bank            # the upload's bank
        # each bank's state (2 bits, shown zero-extended) and the CRC-32 of its last good
        # commit (written by the commit only)
        state = Array([Signal(2, name="state0"), Signal(2, name="state1")])
        # (block RAM: 64 flip-flops would take an iCE40 logic cell each)
        m.submodules.crcmem = crcmem = Memory(shape=32, depth=2, init=[0, 0],
                                              attrs={"ram_style": "block"})
        crc_w = crcmem.write_port()
        crc_r = crcmem.read_port()
        m.d.comb += [crc_r.addr.eq(self.crc_addr), self.crc_data.eq(crc_r.data),
                     crc_w.addr.eq(ubank), crc_w.data.eq(crc.crc)]
        m.d.comb += [self.bank_state[0].eq(state[0]), self.bank_state[1].eq(state[1])]
        bank_k = Array([Signal(8, name="bank_k0"), Signal(8, name="bank_k1")])
        hdr_k = Signal(8)               # K of the header being uploaded
        m.d.comb += [self.model_valid.eq(state[active] == BANK_VALID),
                     self.k.eq(bank_k[active])]
        m.d.comb += [banks.r_bank.eq(active), banks.r_word.eq(self.store_addr),
                     self.store_data.eq(banks.r_data),
                     feat_r.addr.eq(self.feat_addr), self.feat_data.eq(feat_r.data),
                     crc.data.eq(self.pay_data)]

        # the upload: its total length, the pointer, the table block
        plan = Signal(upload_layout(lim))
        ptr = Signal.like(plan.total_len)
        t_pos = Signal.like(plan.table_flags)       # byte position in the table block
        t_word = Signal(24)                         # the sample word being assembled
        with m.If(self.upload.valid):
            m.d.sync += self.upload_open.eq(self.upload.payload.open)
            with m.If(self.upload.payload.open):
                m.d.sync += [plan.eq(self.upload.payload), ptr.eq(IMAGE_HEADER_LEN),
                             t_pos.eq(0), state[ubank].eq(BANK_UPLOADING)]

        # the table writes leave through a register (the commit is frames away)
        m.d.sync += self.tw_en.eq(0)

        def table_byte(data):
            m.d.sync += [t_pos.eq(t_pos + 1), t_word.eq(Cat(t_word[8:], data))]
            with m.If(t_pos >= plan.table_flags):
                m.d.sync += [self.tw_en.eq(1), self.tw_is_flag.eq(1),
                             self.tw_addr.eq(t_pos[:CODE.width]), self.tw_data.eq(data[0])]
            with m.Elif(t_pos[:2] == 3):
                m.d.sync += [self.tw_en.eq(1), self.tw_is_flag.eq(0),
                             self.tw_addr.eq(t_pos[2:]), self.tw_data.eq(Cat(t_word, data))]

        def finish(error):
            m.d.comb += [self.result.valid.eq(1), self.result.payload.eq(error)]
            m.next = "IDLE"

        def write(offset, bank):
            m.d.comb += [banks.w_offset.eq(offset), banks.w_bank.eq(bank), banks.w_en.eq(1)]

        op = Signal(StoreOp)
        idx = Signal(range(lim.max_payload + 1))    # payload byte
        mism = Signal()             # the u32 of payload bytes 0..3 differs from its target
        # the upload's length checks, registered: the pointer, the payload length and the
        # total length hold still from WORD_RD to WORD_DONE, and the registers keep the
        # adder and comparators off the path from the verdict to the reply
        overflow = Signal()         # DATA: the bytes would run past the image
        incomplete = Signal()       # COMMIT: bytes are missing
        m.d.sync += [overflow.eq(ptr + (self.length - 4) > plan.total_len),
                     incomplete.eq(ptr != plan.total_len)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.op.valid):
                    m.d.sync += [op.eq(self.op.payload), idx.eq(0), mism.eq(0)]
                    with m.Switch(self.op.payload):
                        with m.Case(StoreOp.DATA, StoreOp.COMMIT):
                            m.next = "WORD_RD"
                        with m.Case(StoreOp.HEADER):
                            m.d.sync += idx.eq(IMAGE_HEADER_LEN)    # the bank byte
                            m.next = "BANK_RD"
                        with m.Case(StoreOp.SELECT):
                            m.next = "BANK_RD"
                        with m.Default():
                            m.next = "COPY_RD"

            # the bank byte (HEADER: byte 32, SELECT: byte 0)
            with m.State("BANK_RD"):
                m.d.comb += self.pay_addr.eq(idx)
                m.next = "BANK_CHK"
            with m.State("BANK_CHK"):
                m.d.comb += self.pay_addr.eq(idx)
                b = self.pay_data
                with m.If(b > 1):
                    finish(StoreError.NO_BANK)
                with m.Elif(op == StoreOp.SELECT):
                    with m.If(state[b[0]] != BANK_VALID):
                        finish(StoreError.BANK_INVALID)
                    with m.Else():
                        m.d.sync += active.eq(b[0])
                        finish(StoreError.NONE)
                with m.Elif(self.model_valid & (b[0] == active)):
                    finish(StoreError.BANK_SERVED)
                with m.Else():          # HEADER: the upload starts over in bank b
                    with m.If(self.upload_open):
                        m.d.sync += state[ubank].eq(BANK_EMPTY)
                    m.d.sync += [self.upload_open.eq(0), ubank.eq(b[0]),
                                 state[b[0]].eq(BANK_EMPTY), idx.eq(0)]
                    m.d.comb += restart.eq(1)
                    m.next = "COPY_RD"

            # payload bytes 0..3 (u32, little-endian) against the upload's pointer (DATA)
            # or the image's CRC-32 (COMMIT), a byte at a time
            with m.State("WORD_RD"):
                m.d.comb += self.pay_addr.eq(idx)
                m.next = "WORD_CMP"
            with m.State("WORD_CMP"):
                m.d.comb += self.pay_addr.eq(idx)
                target = Mux(op == StoreOp.DATA, Cat(ptr, Const(0, 32))[:32], crc.crc)
                with m.If(self.pay_data != target.word_select(idx[:2], 8)):
                    m.d.sync += mism.eq(1)
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == 3):
                    m.next = "WORD_DONE"
                with m.Else():
                    m.next = "WORD_RD"
            with m.State("WORD_DONE"):
                with m.If(op == StoreOp.DATA):
                    with m.If(mism):
                        finish(StoreError.SEQUENCE)
                    with m.Elif(overflow):
                        finish(StoreError.OVERFLOW)
                    with m.Else():
                        m.next = "COPY_RD"
                with m.Else():          # COMMIT
                    m.d.sync += self.upload_open.eq(0)
                    with m.If(incomplete):
                        m.d.sync += state[ubank].eq(BANK_EMPTY)
                        finish(StoreError.INCOMPLETE)
                    with m.Elif(mism):
                        m.d.sync += state[ubank].eq(BANK_EMPTY)
                        finish(StoreError.IMAGE_CRC)
                    with m.Else():
                        m.d.sync += [state[ubank].eq(BANK_VALID), bank_k[ubank].eq(hdr_k),
                                     active.eq(ubank)]
                        m.d.comb += crc_w.en.eq(1)
                        finish(StoreError.NONE)

            # copy payload bytes idx..length-1 (a store in SPRAM is the core's while it
            # loads: wait)
            with m.State("COPY_RD"):
                m.d.comb += self.pay_addr.eq(idx)
                if shared:
                    with m.If(self.core_ready | (op == StoreOp.FEATURES)):
                        m.next = "COPY_WR"
                else:
                    m.next = "COPY_WR"
            with m.State("COPY_WR"):
                data = self.pay_data
                m.d.comb += [banks.w_data.eq(data), feat_w.data.eq(data)]
                m.d.sync += idx.eq(idx + 1)
                with m.Switch(op):
                    with m.Case(StoreOp.HEADER):
                        write(idx, ubank)
                        m.d.comb += [crc.valid.eq(1), self.header.valid.eq(1),
                                     self.header.payload.index.eq(idx),
                                     self.header.payload.data.eq(data)]
                        with m.If(idx == HEADER_AT["k"]):
                            m.d.sync += hdr_k.eq(data)
                    with m.Case(StoreOp.DATA):
                        m.d.comb += crc.valid.eq(1)
                        m.d.sync += ptr.eq(ptr + 1)
                        with m.If(ptr < plan.table_start):
                            write(ptr, ubank)
                        if lim.table:
                            with m.Else():
                                table_byte(data)
                    with m.Case(StoreOp.ENCODER):
                        write(idx + ENCODER_OFFSET, active)
                    with m.Case(StoreOp.FEATURES):
                        m.d.comb += [feat_w.addr.eq(idx), feat_w.en.eq(1)]
                last = Mux(op == StoreOp.HEADER, idx + 1 == IMAGE_HEADER_LEN,
                           idx + 1 == self.length)
                with m.If(last):
                    m.next = "COPY_DONE"
                with m.Else():
                    m.next = "COPY_RD"
            with m.State("COPY_DONE"):
                finish(StoreError.NONE)
        return m
