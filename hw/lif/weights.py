"""The LIF engine's weight memory: one word of ``lanes`` weights per address."""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..ram import SinglePortRAM
from ..validate import check_choice, check_int, positive_int

__all__ = ["WeightRAM", "WEIGHT_RAMS"]

#: ``weight_ram`` choices of :class:`dynalign.hw.lif.rtl.LIFNetwork`: a true dual-port
#: block RAM, one shared port (SPRAM), or none of its own (the weights read from outside:
#: the model store's bank).  :class:`WeightRAM` is the first two.
WEIGHT_RAMS = ("memory", "spram", "external")


class WeightRAM(wiring.Component):
    """``depth`` words of ``lanes`` weights of ``weight_width`` bits (lane ``k`` in bits
    ``k * weight_width``), written one lane at a time (granule enables) while the engine
    is idle and read one word per cycle by the accumulator.

    ``kind="memory"``: an :class:`amaranth.lib.memory.Memory` with a write and a read port
    (block RAM).  ``kind="spram"``: a :class:`dynalign.hw.ram.SinglePortRAM` (iCE40
    UltraPlus ``SB_SPRAM256KA`` blocks there, a one-port model elsewhere, so simulation
    covers the port sharing): a write takes the one address (``w_addr`` while any
    ``w_en``, else ``r_addr``) -- the engine never reads while configuration writes.

    Ports
    -----
    w_addr : In(address bits), w_data : In(lanes * weight_width), w_en : In(lanes) --
        write; lane ``k`` of word ``w_addr`` takes lane ``k`` of ``w_data`` if ``w_en[k]``.
    r_addr : In(address bits), r_data : Out(lanes * weight_width) -- read, synchronous
        (``r_data`` is the word at ``r_addr`` one cycle earlier; undefined in a cycle
        after a write).
    """

    def __init__(self, *, lanes: int, weight_width: int, depth: int, kind: str = "memory"):
        self.lanes = positive_int("lanes", lanes)
        self.weight_width = check_int("weight_width", weight_width, lo=1)
        self.depth = positive_int("depth", depth)
        self.kind = check_choice("kind", kind, WEIGHT_RAMS[:2])
        aw = max(1, (self.depth - 1).bit_length())
        super().__init__({
            "w_addr": In(aw),
            "w_data": In(self.lanes * self.weight_width),
            "w_en": In(self.lanes),
            "r_addr": In(aw),
            "r_data": Out(self.lanes * self.weight_width),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.lanes * self.weight_width
        if self.kind == "memory":
            m.submodules.mem = mem = Memory(shape=width, depth=self.depth, init=[])
            wp = mem.write_port(granularity=self.weight_width)
            rp = mem.read_port()
            m.d.comb += [wp.addr.eq(self.w_addr), wp.data.eq(self.w_data), wp.en.eq(self.w_en),
                         rp.addr.eq(self.r_addr), self.r_data.eq(rp.data)]
            return m
        m.submodules.ram = ram = SinglePortRAM(width=width, depth=self.depth,
                                               granularity=self.weight_width)
        m.d.comb += [ram.addr.eq(Mux(self.w_en.any(), self.w_addr, self.r_addr)),
                     ram.w_data.eq(self.w_data), ram.w_en.eq(self.w_en), ram.r_en.eq(1),
                     self.r_data.eq(ram.r_data)]
        return m
