"""The two banks of the model store behind byte-wide ports, in block RAM or in SPRAM."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynalign.hw.ram import SPRAM_DEPTH, SPRAM_WIDTH, SinglePortRAM, has_spram
from dynalign.hw.validate import check_choice, check_int

from .core import bank_addr_width

__all__ = ["BankedStore", "SPRAM_BYTES", "check_store_ram", "use_spram"]

#: Bytes of one SPRAM block: the two banks of a store in SPRAM share one.
SPRAM_BYTES = SPRAM_DEPTH * SPRAM_WIDTH // 8
_HALF = (SPRAM_BYTES // 2 - 1).bit_length()     # byte address bits of half an SPRAM


def check_store_ram(store_ram: str, bank_bytes: int) -> str:
    """``store_ram`` if it is ``"auto"``, ``"memory"`` or ``"spram"`` and, for ``"spram"``,
    two banks of ``bank_bytes`` fit in one SPRAM; else ``ValueError``."""
    check_choice("store_ram", store_ram, ("auto", "memory", "spram"))
    if store_ram == "spram" and 2 * bank_bytes > SPRAM_BYTES:
        raise ValueError(f"two banks of {bank_bytes} bytes exceed one SPRAM "
                         f"({SPRAM_BYTES} bytes)")
    return store_ram


def use_spram(store_ram: str, bank_bytes: int, platform, lanes: int = 1) -> bool:
    """Whether a store of two ``bank_bytes`` banks in words of ``lanes`` bytes goes into
    SPRAM: ``"spram"`` always, ``"auto"`` where the part has SPRAM
    (:func:`dynalign.hw.ram.has_spram`), the two banks fit in one block and a word is at
    most its 16 bits, ``"memory"`` never."""
    check_store_ram(store_ram, bank_bytes)
    if store_ram == "auto":
        return has_spram(platform) and 2 * bank_bytes <= SPRAM_BYTES and lanes <= 2
    return store_ram == "spram"


class BankedStore(wiring.Component):
    """Two banks of ``bank_bytes`` bytes in words of ``lanes`` bytes, a byte-wide write
    port addressed by ``(bank, byte offset)`` and a word-wide read port addressed by
    ``(bank, word)``: byte ``a`` of a bank is byte lane ``a mod lanes`` (bits ``8 (a mod
    lanes)`` up) of its word ``a // lanes``.  The LIF engine reads its weight words
    through the read port exactly as they were uploaded (the image is laid out in these
    words: :func:`dynalign.hw.wire.layer_block`).

    * ``spram=False``: one block RAM of ``2 * bank_words`` words of ``8 lanes`` bits,
      bank ``b`` at word ``b * bank_words`` (no power-of-two rounding: block RAM is the
      scarce resource on the small boards), written through byte enables; the two ports
      are independent.
    * ``spram=True`` (``lanes`` 1 or 2): one 16-bit :class:`dynalign.hw.ram.SinglePortRAM`
      (an ``SB_SPRAM256KA`` on an iCE40 UltraPlus part, its model elsewhere), bank ``b``
      in its half ``b``; byte ``a`` is lane ``a[0]`` of 16-bit word ``a >> 1``, written
      through the granule enables (``lanes=1``: the word read is the byte, picked by
      ``a[0]``; ``lanes=2``: the 16-bit word itself).  The one address is the write's
      while ``w_en`` is high: a writer must not write while the reader reads
      (:attr:`shared`).

    Parameters (keyword-only)
    -------------------------
    bank_bytes : int >= 1  (``spram``: at most half an SPRAM, :data:`SPRAM_BYTES` / 2)
    lanes : int >= 1  bytes per word (``spram``: 1 or 2)
    spram : bool

    Ports
    -----
    w_bank : In(1); w_offset : In(bank_addr_width(bank_bytes)); w_data : In(8); w_en : In(1)
        Byte ``w_data`` to byte ``w_offset`` of bank ``w_bank`` when ``w_en``
        (``spram=False``: the write is registered and lands a cycle later, so a read in
        the cycle after ``w_en`` still sees the old byte).
    r_bank : In(1); r_word : In(bank_addr_width(bank_words)); r_data : Out(8 lanes)
        ``r_data`` is word ``r_word`` of bank ``r_bank`` one cycle earlier.
    """

    def __init__(self, *, bank_bytes: int, spram: bool, lanes: int = 1):
        self.bank_bytes = check_int("bank_bytes", bank_bytes, lo=1)
        self.lanes = check_int("lanes", lanes, lo=1)
        self.shared = bool(spram)
        if self.shared:
            check_store_ram("spram", self.bank_bytes)
            if self.lanes > 2:
                raise ValueError(f"a store in SPRAM has 16-bit words: lanes 1 or 2, "
                                 f"not {self.lanes}")
        self.bank_words = -(-self.bank_bytes // self.lanes)
        aw = bank_addr_width(bank_bytes)
        super().__init__({
            "w_bank": In(1), "w_offset": In(aw), "w_data": In(8), "w_en": In(1),
            "r_bank": In(1), "r_word": In(bank_addr_width(self.bank_words)),
            "r_data": Out(8 * self.lanes),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, nw = self.lanes, self.bank_words
        lb = (lanes - 1).bit_length()
        if not self.shared:
            m.submodules.mem = mem = Memory(shape=8 * lanes, depth=2 * nw, init=[])
            wp = mem.write_port(granularity=8)
            rp = mem.read_port()
            word = self.w_offset[lb:] if lb else self.w_offset
            lane = self.w_offset[:lb] if lb else Const(0, 1)
            # the write through a register: its enable fans out to every block RAM of
            # the store (204 on the ULX3S), so no logic may sit in front of that net
            m.d.sync += [wp.addr.eq(Mux(self.w_bank, word + nw, word)),
                         wp.data.eq(self.w_data.replicate(lanes)),
                         wp.en.eq(Mux(self.w_en, Const(1, lanes) << lane, 0))]
            m.d.comb += [rp.addr.eq(Mux(self.r_bank, self.r_word + nw, self.r_word)),
                         self.r_data.eq(rp.data)]
            return m
        m.submodules.ram = ram = SinglePortRAM(width=16, depth=SPRAM_DEPTH, granularity=8)

        def byte_addr(bank, offset):
            return Cat(Cat(offset, Const(0, _HALF))[:_HALF], bank)
        w_addr = byte_addr(self.w_bank, self.w_offset)
        if lanes == 1:
            r_addr = byte_addr(self.r_bank, self.r_word)
        else:                               # 16-bit words: the byte address of lane 0
            r_addr = byte_addr(self.r_bank, Cat(Const(0, 1), self.r_word))
        lane = Signal()                 # the lane of the byte being read
        m.d.sync += lane.eq(r_addr[0])
        m.d.comb += [ram.addr.eq(Mux(self.w_en, w_addr[1:], r_addr[1:])),
                     ram.w_data.eq(Cat(self.w_data, self.w_data)),
                     ram.w_en.eq(Mux(self.w_en, Mux(w_addr[0], 0b10, 0b01), 0)),
                     ram.r_en.eq(1)]
        if lanes == 1:
            m.d.comb += self.r_data.eq(Mux(lane, ram.r_data[8:], ram.r_data[:8]))
        else:
            m.d.comb += self.r_data.eq(ram.r_data)
        return m
