"""The trajectory table: its layout and its memory.

A table holds, for every code of the code format (row ``code + 2**(w-1)``, ``w`` the
code width), the ``T`` samples ``[x, y, z]`` of that code's trajectory (SAMPLE
integers).  With one sample per word (``lanes=1``) entry ``3 t + c`` of row ``r`` is at
word ``Cat(r, 3 t + c)``; with three (``lanes=3``) sample ``t`` is at ``Cat(r, t)``.
"""

from __future__ import annotations

from amaranth import Module, Mux, Shape
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..formats import CODE, QFormat
from ..ram import SinglePortRAM, has_spram
from ..validate import positive_int

__all__ = ["table_layout", "check_code_format", "TableMemory"]


def table_layout(lanes: int, max_t: int, code_width: int) -> tuple:
    """``(words per sample triple, table depth, address width)`` of a table of
    ``max_t`` samples per code, ``lanes`` samples per word, ``2**code_width`` codes."""
    words = 3 // lanes
    depth = (max_t * words) << code_width
    return words, depth, (depth - 1).bit_length()


def check_code_format(code_format) -> QFormat:
    """``code_format`` if it is a subset of :data:`~hw.formats.CODE` (signed, the same
    fraction, 2 .. CODE.width bits): the codes a table has rows for."""
    if not isinstance(code_format, QFormat):
        raise TypeError(f"code_format must be a QFormat, not {code_format!r}")
    if (not code_format.signed or code_format.frac != CODE.frac
            or not 2 <= code_format.width <= CODE.width):
        raise ValueError(f"code_format must be signed with frac {CODE.frac} and 2..{CODE.width} "
                         f"bits (a subset of {CODE}), not {code_format}")
    return code_format


class TableMemory(wiring.Component):
    """The trajectory table: one write port (refill), one synchronous read port (serve).

    On an iCE40 UltraPlus part the table is a :class:`dynalign.hw.ram.SinglePortRAM`
    (``SB_SPRAM256KA`` blocks): write and read share its one address, the write's when
    ``w_en`` is high.  Its users never read and write in one cycle there (the encoder's
    lookup waits while the integrator refills; the table server's writes come between
    commands).  Elsewhere it is an :class:`amaranth.lib.memory.Memory` with a separate
    write port and read port: the table server's contract lets a host write the shadow
    bank while the other bank is served, which a single port would not.

    Ports
    -----
    w_en : In(1);  w_addr : In(address bits of ``depth``);  w_data : In(shape)
        ``mem[w_addr] = w_data`` at the clock edge.
    r_en : In(1);  r_addr : In(address bits of ``depth``)
    r_data : Out(shape)
        ``mem[r_addr]`` one cycle after a cycle with ``r_en`` high; held otherwise.

    Parameters (keyword-only)
    -------------------------
    shape : shape-castable   one word (``lanes x signed(SAMPLE.width)``)
    depth : positive int     words
    """

    def __init__(self, *, shape, depth):
        self._shape = shape
        self._depth = positive_int("depth", depth)
        aw = max(1, (depth - 1).bit_length())
        super().__init__({
            "w_en": In(1), "w_addr": In(aw), "w_data": In(shape),
            "r_en": In(1), "r_addr": In(aw), "r_data": Out(shape),
        })

    def elaborate(self, platform):
        m = Module()
        if has_spram(platform):
            m.submodules.ram = ram = SinglePortRAM(width=Shape.cast(self._shape).width,
                                                   depth=self._depth)
            m.d.comb += [ram.addr.eq(Mux(self.w_en, self.w_addr, self.r_addr)),
                         ram.w_en.eq(self.w_en), ram.w_data.eq(self.w_data),
                         ram.r_en.eq(self.r_en), self.r_data.eq(ram.r_data)]
            return m
        m.submodules.mem = mem = memory.Memory(shape=self._shape, depth=self._depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="sync")
        m.d.comb += [wp.en.eq(self.w_en), wp.addr.eq(self.w_addr), wp.data.eq(self.w_data),
                     rp.en.eq(self.r_en), rp.addr.eq(self.r_addr), self.r_data.eq(rp.data)]
        return m
