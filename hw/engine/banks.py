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


def use_spram(store_ram: str, bank_bytes: int, platform) -> bool:
    """Whether a store of two ``bank_bytes`` banks goes into SPRAM: ``"spram"`` always,
    ``"auto"`` where the part has SPRAM (:func:`dynalign.hw.ram.has_spram`) and the two
    banks fit in one block, ``"memory"`` never."""
    check_store_ram(store_ram, bank_bytes)
    if store_ram == "auto":
        return has_spram(platform) and 2 * bank_bytes <= SPRAM_BYTES
    return store_ram == "spram"


class BankedStore(wiring.Component):
    """Two banks of ``bank_bytes`` bytes, a byte-wide write port and a byte-wide read
    port, each addressed by ``(bank, offset)``.

    * ``spram=False``: one byte-wide block RAM of ``2 * bank_bytes`` bytes, bank ``b`` at
      byte ``b * bank_bytes`` (no power-of-two rounding: block RAM is the scarce
      resource on the small boards); the two ports are independent.
    * ``spram=True``: one 16-bit :class:`dynalign.hw.ram.SinglePortRAM` (an
      ``SB_SPRAM256KA`` on an iCE40 UltraPlus part, its model elsewhere), bank ``b`` in
      its half ``b``; byte ``a`` is lane ``a[0]`` of word ``a >> 1``, written through the
      granule enables.  The one address is the write's while ``w_en`` is high: a writer
      must not write while the reader reads (:attr:`shared`).

    Parameters (keyword-only)
    -------------------------
    bank_bytes : int >= 1  (``spram``: at most half an SPRAM, :data:`SPRAM_BYTES` / 2)
    spram : bool

    Ports
    -----
    w_bank : In(1); w_offset : In(bank_addr_width(bank_bytes)); w_data : In(8); w_en : In(1)
        Byte ``w_data`` to ``w_offset`` of bank ``w_bank`` when ``w_en``.
    r_bank : In(1); r_offset : In(bank_addr_width(bank_bytes)); r_data : Out(8)
        ``r_data`` is the byte at ``(r_bank, r_offset)`` one cycle earlier.
    """

    def __init__(self, *, bank_bytes: int, spram: bool):
        self.bank_bytes = check_int("bank_bytes", bank_bytes, lo=1)
        self.shared = bool(spram)
        if self.shared:
            check_store_ram("spram", self.bank_bytes)
        aw = bank_addr_width(bank_bytes)
        super().__init__({
            "w_bank": In(1), "w_offset": In(aw), "w_data": In(8), "w_en": In(1),
            "r_bank": In(1), "r_offset": In(aw), "r_data": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        nb = self.bank_bytes
        if not self.shared:
            m.submodules.mem = mem = Memory(shape=8, depth=2 * nb, init=[])
            wp = mem.write_port()
            rp = mem.read_port()
            m.d.comb += [wp.addr.eq(Mux(self.w_bank, self.w_offset + nb, self.w_offset)),
                         wp.data.eq(self.w_data), wp.en.eq(self.w_en),
                         rp.addr.eq(Mux(self.r_bank, self.r_offset + nb, self.r_offset)),
                         self.r_data.eq(rp.data)]
            return m
        m.submodules.ram = ram = SinglePortRAM(width=16, depth=SPRAM_DEPTH, granularity=8)

        def byte_addr(bank, offset):
            return Cat(Cat(offset, Const(0, _HALF))[:_HALF], bank)
        w_addr = byte_addr(self.w_bank, self.w_offset)
        r_addr = byte_addr(self.r_bank, self.r_offset)
        lane = Signal()                 # the lane of the byte being read
        m.d.sync += lane.eq(r_addr[0])
        m.d.comb += [ram.addr.eq(Mux(self.w_en, w_addr[1:], r_addr[1:])),
                     ram.w_data.eq(Cat(self.w_data, self.w_data)),
                     ram.w_en.eq(Mux(self.w_en, Mux(w_addr[0], 0b10, 0b01), 0)),
                     ram.r_en.eq(1),
                     self.r_data.eq(Mux(lane, ram.r_data[8:], ram.r_data[:8]))]
        return m
