"""The command engine gateware of the host link (its Python model is
:class:`dynalign.sw.device_model.DeviceModel`)."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .formats import CODE
from .wire import (
    COMMAND_LENGTHS,
    ENCODER_OFFSET,
    ERROR,
    FRAME_HEADER_LEN,
    HEADER_AT,
    IMAGE_FLAG_TABLE,
    IMAGE_HEADER_LEN,
    IMAGE_MAGIC,
    IMAGE_VERSION,
    LAYER_HEADER,
    LAYERS_OFFSET,
    MAX_LAYERS,
    REPLY,
    RESULT_SUMMARY_LEN,
    STATUS,
    SYNC,
    TABLE_ROWS,
    Cmd,
    Err,
    Limits,
    result_len,
    table_len,
)

# ======================================================================================
# Gateware
# ======================================================================================


__all__ = ["CoreSignature", "CommandEngine", "StubCore_", "crc16_next", "crc32_next",
            "bank_addr_width"]


def crc16_next(m, crc, byte, *, name="crc16"):
    """:func:`dynalign.hw.wire.crc16_update` unrolled into eight named comb steps of ``m``
    (one wire per step keeps the netlist linear); returns the new CRC signal."""
    c = Signal(16, name=f"{name}_in")
    m.d.comb += c.eq(crc ^ (byte << 8))
    for i in range(8):
        n = Signal(16, name=f"{name}_s{i}")
        m.d.comb += n.eq((c << 1)[:16] ^ Mux(c[15], 0x1021, 0))
        c = n
    return c


def crc32_next(m, crc, byte, *, name="crc32"):
    """One byte of reflected CRC-32 (poly 0xEDB88320), eight named comb steps."""
    c = Signal(32, name=f"{name}_in")
    m.d.comb += c.eq(crc ^ byte)
    for i in range(8):
        n = Signal(32, name=f"{name}_s{i}")
        m.d.comb += n.eq((c >> 1) ^ Mux(c[0], 0xEDB88320, 0))
        c = n
    return c


def bank_addr_width(bank_bytes: int) -> int:
    """Address bits of a byte offset inside one store bank."""
    return max(1, (bank_bytes - 1).bit_length())


class CoreSignature(wiring.Signature):
    """What the command engine asks of a compute core (members seen from the core).

    * ``load`` (in, strobe): the active model in the store changed; re-read it.
    * ``start`` (in, strobe): classify the features in the feature buffer.  The engine
      strobes ``load`` and ``start`` only while ``ready`` is high.
    * ``ready`` (out): idle and loaded.  ``done`` (out, strobe): the run finished and
      the results record is readable.
    * ``store_addr`` / ``store_data``: read port into the active bank of the model
      store (byte address within the image; data one cycle after the address).
    * ``feat_addr`` / ``feat_data``: read port into the feature buffer (int8 codes).
    * ``res_addr`` / ``res_data`` / ``res_len``: the results record
      (:mod:`dynalign.hw.wire`), byte ``res_addr`` valid at most one cycle after the address.
    * ``bank``: the active bank (a table core serves that bank of its table memory).
    * ``tw_en`` (strobe), ``tw_sat``, ``tw_addr``, ``tw_data``: a write into the *shadow*
      bank of a table core's table memory, from the table block of an image being
      uploaded (devices with ``Limits.table`` only): ``tw_sat = 0``: entry word
      ``tw_addr`` (= ``Cat(row, 3 t + c)``, the block's word order) gets the sample
      ``tw_data``; ``tw_sat = 1``: row ``tw_addr`` gets the saturation flag
      ``tw_data[0]``.
    """

    def __init__(self, *, store_addr_width: int, feat_addr_width: int,
                 table_addr_width: int = 1):
        super().__init__({
            "load": In(1), "start": In(1), "ready": Out(1), "done": Out(1),
            "store_addr": Out(store_addr_width), "store_data": In(8),
            "feat_addr": Out(feat_addr_width), "feat_data": In(8),
            "res_addr": In(16), "res_data": Out(8), "res_len": Out(16),
            "bank": In(1), "tw_en": In(1), "tw_sat": In(1),
            "tw_addr": In(table_addr_width), "tw_data": In(32),
        })


def table_addr_width(max_samples: int) -> int:
    """Bits of a table core's entry address ``Cat(row, 3 t + c)``."""
    return CODE.width + (3 * max_samples - 1).bit_length()


def _check_int(name, value, lo, hi=None):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"at least {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be {rng}, not {value!r}")
    return value


class CommandEngine(wiring.Component):
    """Frame parser and command engine of protocol v1 (:mod:`dynalign.hw.wire`).

    Owns the double-buffered model store (two banks of ``bank_bytes``, bank ``b`` at
    byte ``b * bank_bytes``; uploads go to the shadow bank, ``IMAGE_COMMIT`` flips the
    active bank only after a complete image with the right CRC-32; with ``Limits.table``
    the image's table block goes, word by word, to the core's ``tw_*`` port instead of
    the store), the payload buffer
    (a frame is
    executed only after its CRC-16 checked), the feature buffer, and the reply
    transmitter.  Reply bytes equal :class:`DeviceModel`'s, byte for byte.

    Parameters (keyword-only)
    -------------------------
    limits : Limits
        Elaborated limits (reported by ``IDENTIFY``, enforced on ``IMAGE_BEGIN``).
    timeout_cycles : int >= 16
        A frame whose next byte does not arrive within this many cycles is dropped and
        answered with ``Err.TIMEOUT``.
    store_ram : "auto" | "memory" | "spram"
        The model store: a byte-wide block RAM (``memory``), or one 16-bit single-port
        RAM written a byte at a time through its nibble write masks (``spram``: an iCE40
        UltraPlus ``SB_SPRAM256KA``, 32 KB, frees the block RAM; elsewhere a model of it,
        so simulation covers the byte lanes and the shared port).  Its one port is the
        core's while the core loads: the engine then waits before writing (``ready``).
        ``auto``: ``spram`` when elaborated for an iCE40 UltraPlus device.

    Ports
    -----
    rx : In(stream.Signature(8))       bytes from the UART receiver
    rx_framing_error : In(1)           strobe from the UART receiver
    tx : Out(stream.Signature(8))      reply bytes to the UART transmitter
    core : In(CoreSignature)           the compute core (this engine is its host)
    """

    SPRAM_BYTES = 1 << 15

    def __init__(self, *, limits: Limits, timeout_cycles: int, store_ram: str = "auto"):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        _check_int("timeout_cycles", timeout_cycles, 16)
        if store_ram not in ("auto", "memory", "spram"):
            raise ValueError(f"store_ram must be 'auto', 'memory' or 'spram', not "
                             f"{store_ram!r}")
        if store_ram == "spram" and 2 * limits.bank_bytes > self.SPRAM_BYTES:
            # (each bank is half of the SPRAM)
            raise ValueError(f"two banks of {limits.bank_bytes} bytes exceed one SPRAM "
                             f"({self.SPRAM_BYTES} bytes)")
        self.store_ram = store_ram
        self.limits = limits
        self.timeout_cycles = timeout_cycles
        self.store_aw = bank_addr_width(limits.bank_bytes)
        self.feat_aw = max(1, (limits.max_features - 1).bit_length())
        self.table_aw = table_addr_width(limits.max_samples) if limits.table else 1
        super().__init__({
            "rx": In(stream.Signature(8)),
            "rx_framing_error": In(1),
            "tx": Out(stream.Signature(8)),
            "core": In(CoreSignature(store_addr_width=self.store_aw,
                                     feat_addr_width=self.feat_aw,
                                     table_addr_width=self.table_aw)),
        })

    def elaborate(self, platform):
        m = Module()
        lim = self.limits
        aw = self.store_aw

        # ---- memories -----------------------------------------------------------------
        m.submodules.pbuf = pbuf = Memory(shape=8, depth=lim.max_payload, init=[])
        pbuf_w = pbuf.write_port()
        pbuf_r = pbuf.read_port()
        # bank b holds bytes b * bank_bytes .. (b + 1) * bank_bytes - 1 (no power-of-two
        # rounding: block RAM is the scarce resource on the small boards)
        nb = lim.bank_bytes
        store_w, store_r, shared = self._store(m, platform)
        half = self.SPRAM_BYTES.bit_length() - 2        # byte address bits of half an SPRAM

        def baddr(offset, bank):
            if shared:      # an SPRAM: bank b is its half b (no adder)
                return Cat(Cat(offset, Const(0, half))[:half], bank)
            return Mux(bank, offset[:aw] + nb, offset[:aw])
        # (block RAM: a handful of bytes would otherwise take 8 flip-flops each)
        m.submodules.feat = feat = Memory(shape=8, depth=1 << self.feat_aw, init=[],
                                          attrs={"ram_style": "block"})
        feat_w = feat.write_port()
        feat_r = feat.read_port()
        ident = list(lim.pack())
        m.submodules.rom = rom = Memory(shape=8, depth=len(ident), init=ident)
        rom_r = rom.read_port()

        # ---- state --------------------------------------------------------------------
        active = Signal()
        model_valid = Signal()
        upload_open = Signal()
        result_valid = Signal()
        last_error = Signal(8)
        k_active = Signal(8)
        cnt = {n: Signal(16, name=f"cnt_{n}") for n in ("framing", "crc", "timeout",
                                                        "dropped")}
        bump = {n: Signal(name=f"bump_{n}") for n in cnt}
        for n in cnt:
            with m.If(bump[n] & (cnt[n] != 0xFFFF)):
                m.d.sync += cnt[n].eq(cnt[n] + 1)

        cmd = Signal(8)
        seq = Signal(8)
        length = Signal(16)
        count = Signal(17)
        crc = Signal(16)
        crc_hi = Signal(8)
        timer = Signal(range(self.timeout_cycles + 1))
        err = Signal(8)

        # an admitted image is at most bank_bytes (+ the largest table block) long, so
        # its length and the upload pointer need only that many bits
        t_max = table_len(lim.max_samples) if lim.table else 0
        total_len = Signal(range(nb + t_max + 1))
        ptr = Signal.like(total_len)
        # table block of the upload (Limits.table): where it starts in the image, the
        # byte position in it, where its flags start, the sample word being assembled
        t_start = Signal(range(nb + 1))
        t_pos = Signal(range(t_max + 1))
        t_flags = Signal.like(t_pos)
        t_word = Signal(24)
        # the table writes leave the engine through a register (a cycle later: the
        # commit is frames away)
        tw_q = _Port(addr=self.table_aw, data=32, en=1)
        tw_q.sat = Signal()
        m.d.sync += tw_q.en.eq(0)
        m.d.comb += [self.core.tw_en.eq(tw_q.en), self.core.tw_sat.eq(tw_q.sat),
                     self.core.tw_addr.eq(tw_q.addr), self.core.tw_data.eq(tw_q.data)]
        crc32 = Signal(32)
        mism = Signal()           # a 4-byte payload field differs from its target

        # copy loop
        idx = Signal(range(lim.max_payload + 1))
        dst = Signal(4)           # 0 store(shadow, header capture), 1 store(shadow, data),
        #                           2 store(active, encoder), 3 features
        # reply
        r_src = Signal(3)         # 0 none, 1 rom, 2 status, 3 small, 4 core results
        # the longest reply: identity, status, or the results record of the largest
        # network (the stub core's is 16 bytes)
        max_reply = max(len(ident), STATUS.size, RESULT_SUMMARY_LEN, result_len(1, 0),
                        result_len(lim.max_layers, max(lim.max_sizes)))
        r_len = Signal(range(max_reply + 1))
        r_idx = Signal.like(r_len)
        r_byte = Signal(8)
        r_crc = Signal(16)
        r_cmd = Signal(8)
        small = Array(Signal(8, name=f"small{i}") for i in range(2))

        # ---- fixed connections ----------------------------------------------------------
        m.d.comb += [
            store_r.addr.eq(baddr(self.core.store_addr, active)),
            self.core.store_data.eq(store_r.data),
            feat_r.addr.eq(self.core.feat_addr),
            self.core.feat_data.eq(feat_r.data),
            self.core.res_addr.eq(r_idx),
            rom_r.addr.eq(r_idx),
            self.core.bank.eq(active),
        ]
        status = [model_valid, upload_open, active, last_error]
        for n in ("framing", "crc", "timeout", "dropped"):
            status += [cnt[n][:8], cnt[n][8:]]
        status = Array(Cat(v, Const(0, 8))[:8] for v in status)
        src_byte = Signal(8)
        with m.Switch(r_src):
            with m.Case(1):
                m.d.comb += src_byte.eq(rom_r.data)
            with m.Case(2):
                m.d.comb += src_byte.eq(status[r_idx[:4]])
            with m.Case(3):
                m.d.comb += src_byte.eq(small[r_idx[0]])
            with m.Case(4):
                m.d.comb += src_byte.eq(self.core.res_data)

        # payload length rule per command (COMMAND_LENGTHS)
        len_ok = Signal()
        known = Signal()
        with m.Switch(cmd):
            for c, rule in COMMAND_LENGTHS.items():
                with m.Case(int(c)):
                    m.d.comb += known.eq(1)
                    if isinstance(rule, int):
                        m.d.comb += len_ok.eq(length == rule)
                    else:
                        m.d.comb += len_ok.eq(length >= rule[0])

        # header admission check (Limits.check_header, same order), decided as the header
        # streams into the shadow bank: each byte's conditions are accumulated
        # (`header_byte`), ADMIT combines them.  total_len keeps only the bits an
        # admitted image can have, plus whether any higher one is set (then too large).
        h_k, h_t, h_l = Signal(8), Signal(8), Signal(8)
        h_total = Signal.like(total_len)
        h_huge = Signal()
        h_fmt = Signal()                  # an IMAGE_FORMAT condition of the fixed fields
        h_big = Signal()                  # a TOO_LARGE condition of K, T, L
        h_lo = Signal(8)                  # the low byte of a layer size
        h_size = Signal(5)                # the first failing layer size's error code
        admit = Signal(8)                 # the verdict, registered (ADMIT -> ADMIT2)
        # table block: 4 x 3T x R sample bytes (R = 2**CODE.width rows), then R flags;
        # registered when T arrives (header byte 4)
        t_samples = Signal(20)
        t_len = Signal(21)
        m.d.sync += admit.eq(
            Mux(h_fmt | (~h_huge & (h_total < LAYERS_OFFSET + t_len)), int(Err.IMAGE_FORMAT),
                Mux(h_big | h_huge | (h_total - t_len > lim.bank_bytes), int(Err.TOO_LARGE),
                    h_size)))

        def header_byte(i, d):
            """Header byte ``i`` (``d``) arrives: note what it decides."""
            def note(flag, cond):
                with m.If(cond):
                    m.d.sync += flag.eq(1)
            tw = len(h_total)
            with m.Switch(i):
                at = HEADER_AT
                for n, v in ((at["magic"], IMAGE_MAGIC[0]), (at["magic"] + 1, IMAGE_MAGIC[1]),
                             (at["version"], IMAGE_VERSION)):
                    with m.Case(n):
                        note(h_fmt, d != v)
                for n, reg, lo, hi in ((at["k"], h_k, 1, lim.max_features),
                                       (at["t"], h_t, 2, lim.max_samples),
                                       (at["n_layers"], h_l, 1, lim.max_layers)):
                    with m.Case(n):
                        m.d.sync += reg.eq(d)
                        note(h_fmt, d < lo)
                        note(h_big, d > hi)
                        if reg is h_t and lim.table:
                            samples = ((d << 3) + (d << 2)) << CODE.width
                            m.d.sync += [t_samples.eq(samples),
                                         t_len.eq(samples + TABLE_ROWS)]
                with m.Case(at["in_shift"]):
                    note(h_fmt, d > 31)
                with m.Case(at["flags"]):
                    note(h_fmt, d != (IMAGE_FLAG_TABLE if lim.table else 0))
                for n in range(4):                      # total_len, little-endian
                    with m.Case(at["total_len"] + n):
                        below = min(8, max(0, tw - 8 * n))
                        if below:
                            m.d.sync += h_total[8 * n:8 * n + below].eq(d[:below])
                        if below < 8:
                            note(h_huge, d[below:] != 0)
                for n in range(min(MAX_LAYERS, lim.max_layers)):
                    with m.Case(at["sizes"] + 2 * n):
                        m.d.sync += h_lo.eq(d)
                    with m.Case(at["sizes"] + 2 * n + 1):
                        size = Cat(h_lo, d)
                        this = Mux(size == 0, int(Err.IMAGE_FORMAT),
                                   Mux(size > lim.max_sizes[n], int(Err.TOO_LARGE), 0))
                        with m.If((n < h_l) & (h_size == 0)):
                            m.d.sync += h_size.eq(this)

        # ---- rx defaults ------------------------------------------------------------------
        byte = self.rx.payload
        got = Signal()
        m.d.comb += got.eq(self.rx.valid & self.rx.ready)
        m.d.comb += pbuf_w.data.eq(byte)
        rx_crc_next = crc16_next(m, crc, byte, name="rx_crc")
        tx_crc_next = crc16_next(m, r_crc, self.tx.payload, name="tx_crc")
        crc32_nx = crc32_next(m, crc32, pbuf_r.data, name="img_crc")

        def fail(code):
            m.d.sync += [err.eq(code), r_src.eq(3), r_len.eq(2), small[0].eq(code),
                         small[1].eq(cmd), r_cmd.eq(ERROR), last_error.eq(code)]
            m.next = "REPLY"

        def reply(src, n, then="REPLY"):
            m.d.sync += [r_src.eq(src), r_len.eq(n), r_cmd.eq(cmd | REPLY)]
            m.next = then

        mid_frame_states = ("CMD", "SEQ", "LEN_LO", "LEN_HI", "PAYLOAD", "CRC_HI",
                            "CRC_LO", "SKIP")

        with m.FSM():
            # ------------------------------------------------------------ receive
            with m.State("IDLE"):
                m.d.comb += self.rx.ready.eq(1)
                m.d.sync += [cmd.eq(0), seq.eq(0), timer.eq(0)]
                m.d.comb += bump["framing"].eq(self.rx_framing_error)
                with m.If(got):
                    with m.If(byte == SYNC):
                        m.d.sync += crc.eq(0xFFFF)
                        m.next = "CMD"
                    with m.Else():
                        m.d.comb += bump["dropped"].eq(1)

            for name in mid_frame_states:
                with m.State(name):
                    m.d.comb += self.rx.ready.eq(1)
                    with m.If(self.rx_framing_error):
                        m.d.comb += bump["framing"].eq(1)
                        fail(Err.FRAMING)
                    with m.Elif(got):
                        m.d.sync += timer.eq(0)
                        if name in ("CMD", "SEQ", "LEN_LO", "LEN_HI", "PAYLOAD"):
                            m.d.sync += crc.eq(rx_crc_next)
                        if name == "CMD":
                            m.d.sync += cmd.eq(byte)
                            m.next = "SEQ"
                        elif name == "SEQ":
                            m.d.sync += seq.eq(byte)
                            m.next = "LEN_LO"
                        elif name == "LEN_LO":
                            m.d.sync += length[:8].eq(byte)
                            m.next = "LEN_HI"
                        elif name == "LEN_HI":
                            n = Cat(length[:8], byte)
                            m.d.sync += [length[8:].eq(byte), count.eq(0)]
                            with m.If(n > lim.max_payload):
                                m.d.sync += count.eq(n + 1)
                                m.next = "SKIP"
                            with m.Elif(n == 0):
                                m.next = "CRC_HI"
                            with m.Else():
                                m.next = "PAYLOAD"
                        elif name == "PAYLOAD":
                            m.d.comb += [pbuf_w.addr.eq(count), pbuf_w.en.eq(1)]
                            m.d.sync += count.eq(count + 1)
                            with m.If(count + 1 == length):
                                m.next = "CRC_HI"
                        elif name == "CRC_HI":
                            m.d.sync += crc_hi.eq(byte)
                            m.next = "CRC_LO"
                        elif name == "CRC_LO":
                            with m.If(Cat(byte, crc_hi) != crc):
                                m.d.comb += bump["crc"].eq(1)
                                fail(Err.CRC)
                            with m.Elif(~known):
                                fail(Err.UNKNOWN_CMD)
                            with m.Elif(~len_ok):
                                fail(Err.LENGTH)
                            with m.Else():
                                m.next = "EXEC"
                        elif name == "SKIP":
                            m.d.sync += count.eq(count - 1)
                            with m.If(count == 0):
                                fail(Err.LENGTH)
                    with m.Elif(timer == self.timeout_cycles - 1):
                        m.d.comb += bump["timeout"].eq(1)
                        fail(Err.TIMEOUT)
                    with m.Else():
                        m.d.sync += timer.eq(timer + 1)

            # ------------------------------------------------------------ execute
            with m.State("EXEC"):
                m.d.sync += [idx.eq(0), mism.eq(0)]
                with m.Switch(cmd):
                    with m.Case(Cmd.IDENTIFY):
                        reply(1, len(ident))
                    with m.Case(Cmd.STATUS):
                        reply(2, STATUS.size)
                    with m.Case(Cmd.WRITE_ENCODER):
                        if lim.table:       # the uploaded table would no longer match
                            fail(Err.UNSUPPORTED)
                        else:
                            with m.If(~model_valid):
                                fail(Err.NO_MODEL)
                            with m.Else():
                                m.d.sync += dst.eq(2)
                                m.next = "COPY_RD"
                    with m.Case(Cmd.IMAGE_BEGIN):
                        m.d.sync += [dst.eq(0), crc32.eq(0xFFFFFFFF), h_fmt.eq(0),
                                     h_big.eq(0), h_huge.eq(0), h_size.eq(0)]
                        m.next = "COPY_RD"
                    with m.Case(Cmd.IMAGE_DATA, Cmd.IMAGE_COMMIT):
                        with m.If(~upload_open):
                            fail(Err.NO_UPLOAD)
                        with m.Else():
                            m.next = "WORD_RD"
                    with m.Case(Cmd.FEATURES):
                        with m.If(~model_valid):
                            fail(Err.NO_MODEL)
                        with m.Elif(length != k_active):
                            fail(Err.FEATURES)
                        with m.Else():
                            m.d.sync += dst.eq(3)
                            m.next = "COPY_RD"
                    with m.Case(Cmd.RUN):
                        with m.If(~model_valid):
                            fail(Err.NO_MODEL)
                        with m.Else():
                            m.next = "RUN_WAIT_READY"
                    with m.Case(Cmd.RESULTS):
                        with m.If(~result_valid):
                            fail(Err.NO_RESULT)
                        with m.Else():
                            m.d.sync += [r_src.eq(4), r_len.eq(self.core.res_len),
                                         r_cmd.eq(cmd | REPLY)]
                            m.next = "REPLY"

            # payload bytes 0..3 (u32, little-endian) compared byte by byte with the
            # offset the upload is at (IMAGE_DATA) or the image's CRC-32 (IMAGE_COMMIT)
            with m.State("WORD_RD"):
                m.d.comb += pbuf_r.addr.eq(idx)
                m.next = "WORD_WAIT"
            with m.State("WORD_WAIT"):
                m.d.comb += pbuf_r.addr.eq(idx)
                target = Mux(cmd == Cmd.IMAGE_DATA, Cat(ptr, Const(0, 32))[:32], ~crc32)
                with m.If(pbuf_r.data != target.word_select(idx[:2], 8)):
                    m.d.sync += mism.eq(1)
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == 3):
                    m.next = "WORD_DONE"
                with m.Else():
                    m.next = "WORD_RD"
            with m.State("WORD_DONE"):
                with m.If(cmd == Cmd.IMAGE_DATA):
                    with m.If(mism):
                        fail(Err.SEQUENCE)
                    with m.Elif(ptr + (length - 4) > total_len):
                        fail(Err.OVERFLOW)
                    with m.Else():
                        m.d.sync += dst.eq(1)
                        m.next = "COPY_RD"
                with m.Else():      # IMAGE_COMMIT
                    m.d.sync += upload_open.eq(0)
                    with m.If(ptr != total_len):
                        fail(Err.INCOMPLETE)
                    with m.Elif(mism):
                        fail(Err.IMAGE_CRC)
                    with m.Else():
                        m.d.sync += [active.eq(~active), model_valid.eq(1),
                                     result_valid.eq(0), k_active.eq(h_k),
                                     small[0].eq(~active)]
                        m.next = "LOAD_WAIT_READY"

            # copy payload bytes idx..length-1 to the destination (a single-port store
            # is the core's while it loads: wait)
            with m.State("COPY_RD"):
                m.d.comb += pbuf_r.addr.eq(idx)
                if shared:
                    with m.If(self.core.ready | (dst == 3)):
                        m.next = "COPY_WR"
                else:
                    m.next = "COPY_WR"
            with m.State("COPY_WR"):
                data = pbuf_r.data
                m.d.comb += [store_w.data.eq(data), feat_w.data.eq(data)]
                m.d.sync += idx.eq(idx + 1)
                with m.Switch(dst):
                    with m.Case(0):     # IMAGE_BEGIN: header into shadow bank
                        m.d.comb += [store_w.addr.eq(baddr(idx, ~active)),
                                     store_w.en.eq(1)]
                        m.d.sync += crc32.eq(crc32_nx)
                        header_byte(idx, data)
                    with m.Case(1):     # IMAGE_DATA: at ptr into shadow bank
                        m.d.sync += [ptr.eq(ptr + 1), crc32.eq(crc32_nx)]
                        with m.If(ptr < t_start):
                            m.d.comb += [store_w.addr.eq(baddr(ptr, ~active)),
                                         store_w.en.eq(1)]
                        if lim.table:
                            with m.Else():  # table block -> the core's table memory
                                m.d.sync += [t_pos.eq(t_pos + 1),
                                             t_word.eq(Cat(t_word[8:], data))]
                                with m.If(t_pos >= t_flags):
                                    m.d.sync += [tw_q.en.eq(1), tw_q.sat.eq(1),
                                                 tw_q.addr.eq(t_pos[:CODE.width]),
                                                 tw_q.data.eq(data[0])]
                                with m.Elif(t_pos[:2] == 3):
                                    m.d.sync += [tw_q.en.eq(1), tw_q.sat.eq(0),
                                                 tw_q.addr.eq(t_pos[2:]),
                                                 tw_q.data.eq(Cat(t_word, data))]
                    with m.Case(2):     # WRITE_ENCODER: into the active bank
                        m.d.comb += [store_w.addr.eq(baddr(idx + ENCODER_OFFSET, active)),
                                     store_w.en.eq(1)]
                    with m.Case(3):
                        m.d.comb += [feat_w.addr.eq(idx), feat_w.en.eq(1)]
                with m.If(idx + 1 == length):
                    m.next = "COPY_DONE"
                with m.Else():
                    m.next = "COPY_RD"
            with m.State("COPY_DONE"):
                with m.Switch(dst):
                    with m.Case(0):
                        m.next = "ADMIT"
                    with m.Case(2):
                        m.d.sync += result_valid.eq(0)
                        m.next = "LOAD_WAIT_READY"
                    with m.Default():
                        reply(0, 0)
            with m.State("ADMIT"):          # the verdict settles into its register
                m.next = "ADMIT2"
            with m.State("ADMIT2"):
                with m.If(admit != 0):
                    m.d.sync += upload_open.eq(0)
                    fail(admit)
                with m.Else():
                    m.d.sync += [upload_open.eq(1), total_len.eq(h_total),
                                 ptr.eq(IMAGE_HEADER_LEN), t_start.eq(h_total - t_len),
                                 t_pos.eq(0), t_flags.eq(t_samples)]
                    reply(0, 0)

            # core handshakes
            with m.State("LOAD_WAIT_READY"):
                with m.If(self.core.ready):
                    m.d.comb += self.core.load.eq(1)
                    with m.If(cmd == Cmd.IMAGE_COMMIT):
                        reply(3, 1)
                    with m.Else():
                        reply(0, 0)
            with m.State("RUN_WAIT_READY"):
                with m.If(self.core.ready):
                    m.d.comb += self.core.start.eq(1)
                    m.next = "RUN_WAIT_DONE"
            with m.State("RUN_WAIT_DONE"):
                with m.If(self.core.done):
                    m.d.sync += result_valid.eq(1)
                    reply(4, RESULT_SUMMARY_LEN)

            # ------------------------------------------------------------ reply
            r_len16 = Cat(r_len, Const(0, 16))[:16]
            hdr_bytes = Array([Const(SYNC, 8), r_cmd, seq, r_len16[:8], r_len16[8:]])
            with m.State("REPLY"):
                m.d.sync += [r_idx.eq(0), r_crc.eq(0xFFFF)]
                m.next = "R_HDR"
            with m.State("R_HDR"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(hdr_bytes[r_idx[:3]])]
                with m.If(self.tx.ready):
                    with m.If(r_idx != 0):
                        m.d.sync += r_crc.eq(tx_crc_next)
                    m.d.sync += r_idx.eq(r_idx + 1)
                    with m.If(r_idx == FRAME_HEADER_LEN - 1):
                        m.d.sync += r_idx.eq(0)
                        with m.If(r_len == 0):
                            m.next = "R_CRC_HI"
                        with m.Else():
                            m.next = "R_W1"
            with m.State("R_W1"):
                m.next = "R_W2"
            with m.State("R_W2"):
                m.d.sync += r_byte.eq(src_byte)
                m.next = "R_DATA"
            with m.State("R_DATA"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(r_byte)]
                with m.If(self.tx.ready):
                    m.d.sync += [r_crc.eq(tx_crc_next), r_idx.eq(r_idx + 1)]
                    with m.If(r_idx + 1 == r_len):
                        m.next = "R_CRC_HI"
                    with m.Else():
                        m.next = "R_W1"
            with m.State("R_CRC_HI"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(r_crc[8:])]
                with m.If(self.tx.ready):
                    m.next = "R_CRC_LO"
            with m.State("R_CRC_LO"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(r_crc[:8])]
                with m.If(self.tx.ready):
                    m.next = "IDLE"
        return m


    def _use_spram(self, platform) -> bool:
        if self.store_ram != "auto":
            return self.store_ram == "spram"
        return str(getattr(platform, "device", "")).startswith("iCE40UP") and \
            2 * self.limits.bank_bytes <= self.SPRAM_BYTES

    def _store(self, m, platform):
        """The model store's write and read ports (byte wide, ``2 * bank_bytes``), and
        whether they share one port."""
        nb = self.limits.bank_bytes
        if not self._use_spram(platform):
            m.submodules.store = store = Memory(shape=8, depth=2 * nb, init=[])
            return store.write_port(), store.read_port(), False
        aw = self.SPRAM_BYTES.bit_length() - 1          # bank b at byte b * SPRAM_BYTES / 2
        w = _Port(addr=aw, data=8, en=1)
        r = _Port(addr=aw, data=8, en=0)
        # one port: a write takes the address; byte b is lane b[0] of 16-bit word b >> 1
        addr = Signal(max(1, aw - 1))
        lane_q = Signal()
        wmask = Signal(4)
        din, dout = Signal(16), Signal(16)
        m.d.comb += [addr.eq(Mux(w.en, w.addr[1:], r.addr[1:])),
                     wmask.eq(Mux(w.addr[0], 0b1100, 0b0011)), din.eq(Cat(w.data, w.data)),
                     r.data.eq(Mux(lane_q, dout[8:], dout[:8]))]
        m.d.sync += lane_q.eq(r.addr[0])
        if str(getattr(platform, "device", "")).startswith("iCE40UP"):
            m.submodules.store = Instance(
                "SB_SPRAM256KA", i_ADDRESS=addr, i_DATAIN=din, i_MASKWREN=wmask,
                i_WREN=w.en, i_CHIPSELECT=1, i_CLOCK=ClockSignal(), i_STANDBY=0,
                i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=dout)
        else:       # its model: nibble write enables, one shared address
            m.submodules.store = store = Memory(shape=16, depth=1 << (aw - 1), init=[])
            wp = store.write_port(granularity=4)
            rp = store.read_port()
            m.d.comb += [wp.addr.eq(addr), wp.data.eq(din),
                         wp.en.eq(Mux(w.en, wmask, 0)), rp.addr.eq(addr), dout.eq(rp.data)]
        return w, r, True


class _Port:
    """Loose address/data/enable signals of a memory port."""

    def __init__(self, *, addr, data, en):
        self.addr = Signal(addr)
        self.data = Signal(data)
        self.en = Signal(max(en, 1))


class StubCore_(wiring.Component):
    """Gateware twin of :class:`StubCore` (:func:`stub_result`): a dot product of the
    features with the first K weights of layer 1, so the link is testable on its own."""

    def __init__(self, *, store_addr_width: int, feat_addr_width: int,
                 table_addr_width: int = 1):
        super().__init__({"bus": Out(CoreSignature(store_addr_width=store_addr_width,
                                                   feat_addr_width=feat_addr_width,
                                                   table_addr_width=table_addr_width))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        k = Signal(8)
        n_out = Signal(16)
        j = Signal(8)
        acc = Signal(32)
        res = Array([acc[:8], Const(0, 8), Const(1, 8), Const(0, 8),
                     (k + 2)[:8], Const(0, 8), Const(0, 8), Const(0, 8),
                     acc[:8], acc[8:16], acc[16:24], acc[24:],
                     Const(0, 8), Const(0, 8), Const(0, 8), Const(0, 8)])
        m.d.comb += [bus.res_len.eq(result_len(1, 0)),      # one layer, no output counts
                     bus.res_data.eq(res[bus.res_addr[:4]])]
        w0 = LAYERS_OFFSET + LAYER_HEADER.size
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += bus.ready.eq(1)
                with m.If(bus.start):
                    m.d.sync += [acc.eq(0), j.eq(0)]
                    m.next = "K"
            with m.State("K"):
                m.d.comb += bus.store_addr.eq(3)
                m.next = "K2"
            with m.State("K2"):
                m.d.comb += bus.store_addr.eq(16)
                m.d.sync += k.eq(bus.store_data)
                m.next = "N0"
            with m.State("N0"):
                m.d.comb += bus.store_addr.eq(17)
                m.d.sync += n_out[:8].eq(bus.store_data)
                m.next = "N1"
            with m.State("N1"):
                m.d.sync += n_out[8:].eq(bus.store_data)
                m.next = "LOOP"
            with m.State("LOOP"):
                with m.If(j == k):
                    m.next = "DONE"
                with m.Else():
                    m.d.comb += [bus.store_addr.eq(w0 + 2 * n_out + j),
                                 bus.feat_addr.eq(j)]
                    m.next = "MAC"
            with m.State("MAC"):
                m.d.sync += [acc.eq(acc + bus.store_data.as_signed() *
                                    bus.feat_data.as_signed()), j.eq(j + 1)]
                m.next = "LOOP"
            with m.State("DONE"):
                m.d.comb += bus.done.eq(1)
                m.next = "IDLE"
        return m
