"""One single-port RAM for every block that wants one (model store, trajectory table,
LIF weights): iCE40 UltraPlus ``SB_SPRAM256KA`` blocks where the part has them, an
:class:`amaranth.lib.memory.Memory` with the same one-port behaviour everywhere else.

Only the iCE40 UltraPlus parts (``iCE40UP3K``, ``iCE40UP5K``) carry SPRAM; an iCE40 HX/LP,
an ECP5 or simulation (``platform is None``) gets the block-RAM model, so the same design
elaborates on every board and simulates cycle for cycle as it runs on the UP5K.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .validate import positive_int

__all__ = ["SinglePortRAM", "has_spram", "SPRAM_DEPTH", "SPRAM_WIDTH"]

#: Words and bits of one ``SB_SPRAM256KA`` (16K x 16, nibble write masks).
SPRAM_DEPTH = 1 << 14
SPRAM_WIDTH = 16
_NIBBLE = 4


def has_spram(platform) -> bool:
    """True when ``platform`` is an iCE40 UltraPlus part (the only iCE40s with SPRAM)."""
    return str(getattr(platform, "device", "")).startswith("iCE40UP")


class SinglePortRAM(wiring.Component):
    """``depth`` words of ``width`` bits behind one address port.

    Ports
    -----
    addr : In(address bits of ``depth``)
        The one address, shared by the write and the read of a cycle.
    w_en : In(width // granularity)
        Granule write enables: bit ``g`` writes bits ``[g*granularity, (g+1)*granularity)``
        of ``w_data`` at ``addr``.
    w_data : In(width)
    r_en : In(1)
        ``r_data`` takes ``mem[addr]`` at the next clock edge when high, holds when low.
    r_data : Out(width)
        One cycle after the address (synchronous read).  The data read in a cycle that
        also writes is undefined: the blocks that use this RAM never read and write in
        one cycle.

    Parameters (keyword-only)
    -------------------------
    width, depth : positive int
    granularity : positive int dividing ``width`` (default ``width``: whole-word writes);
        on SPRAM a multiple of 4 (its nibble masks).
    """

    def __init__(self, *, width: int, depth: int, granularity: int | None = None):
        self.width = positive_int("width", width)
        self.depth = positive_int("depth", depth)
        self.granularity = self.width if granularity is None else \
            positive_int("granularity", granularity)
        if self.width % self.granularity:
            raise ValueError(f"granularity {self.granularity} must divide width {self.width}")
        aw = max(1, (self.depth - 1).bit_length())
        super().__init__({
            "addr": In(aw),
            "w_en": In(self.width // self.granularity),
            "w_data": In(self.width),
            "r_en": In(1),
            "r_data": Out(self.width),
        })

    def elaborate(self, platform):
        m = Module()
        if not has_spram(platform):
            m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
            wp = mem.write_port(granularity=self.granularity)
            rp = mem.read_port()
            m.d.comb += [wp.addr.eq(self.addr), wp.data.eq(self.w_data), wp.en.eq(self.w_en),
                         rp.addr.eq(self.addr), rp.en.eq(self.r_en),
                         self.r_data.eq(rp.data)]
            return m
        if self.depth > SPRAM_DEPTH:
            raise ValueError(f"a single-port RAM of {self.depth} words exceeds one SPRAM "
                             f"({SPRAM_DEPTH} words)")
        if self.granularity % _NIBBLE:
            raise ValueError(f"SPRAM writes nibbles: granularity must be a multiple of "
                             f"{_NIBBLE}, not {self.granularity}")
        blocks = -(-self.width // SPRAM_WIDTH)
        addr = Signal(14)
        din = Signal(SPRAM_WIDTH * blocks)
        dout = Signal(SPRAM_WIDTH * blocks)
        write = self.w_en.any()
        m.d.comb += [addr.eq(self.addr), din.eq(self.w_data),
                     self.r_data.eq(dout[:self.width])]
        for b in range(blocks):
            lo = SPRAM_WIDTH * b
            mask = Cat(*[self.w_en[(lo + _NIBBLE * n) // self.granularity]
                         if lo + _NIBBLE * n < self.width else Const(0)
                         for n in range(SPRAM_WIDTH // _NIBBLE)])
            m.submodules[f"spram{b}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=addr, i_DATAIN=din[lo:lo + SPRAM_WIDTH], i_MASKWREN=mask,
                i_WREN=write, i_CHIPSELECT=write | self.r_en, i_CLOCK=ClockSignal(),
                i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=dout[lo:lo + SPRAM_WIDTH])
        return m
