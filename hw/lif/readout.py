"""The LIF engine's read-out: the class, scanned from the output layer's state words."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import MEM
from .common import LIFGeometry
from .schedule import READOUT_TAIL

__all__ = ["ClassScan"]


class ClassScan(wiring.Component):
    """The class of an inference: the argmax over the output neurons ``i = 0 .. n_out - 1``
    of ``(count_i, v_i)`` compared lexicographically, ties to the lowest index (as
    :func:`dynalign.hw.lif.ref.argmax_class`).

    One neuron per cycle: the scan reads state word ``gbase + (i >> log2(lanes))`` at
    ``s_addr``, takes lane ``i % lanes`` of it one cycle later (``s_data``) and registers
    its key ``count * 2**24 + (v + 2**23)`` (one unsigned number, ordered as the pair);
    the next cycle keeps it if ``i == 0`` or it is strictly greater than the best so far.
    ``load`` (a strobe, while not ``run``) sets the scan up for the output layer; while
    ``run`` it advances.  ``done`` is high ``n_out + READOUT_TAIL`` cycles after ``run``
    rose (the last neuron's key is registered by then, ``READOUT_TAIL`` = 1), and ``cls``
    holds the class from the cycle after that (its compare is in the ``done`` cycle).

    Ports
    -----
    load : In(1) -- strobe: set up a scan of ``n_out`` neurons from group ``gbase``.
    gbase : In(group_addr_width + 1), n_out : In(range(max_neurons + 1)) -- the output
        layer's group base and size (read at ``load``).
    run : In(1) -- scan (the engine is in READOUT).
    s_addr : Out(group_addr_width + 1) -- state memory read address (register).
    s_data : In(lanes * state_width) -- the state word read at ``s_addr`` last cycle.
    done : Out(1) -- the scan is over (comb).
    cls : Out(cls_width) -- the class (valid once ``done``, held until the next scan).
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "load": In(1),
            "gbase": In(g.group_addr_width + 1),
            "n_out": In(range(g.max_neurons + 1)),
            "run": In(1),
            "s_addr": Out(g.group_addr_width + 1),
            "s_data": In(g.lanes * g.state_width),
            "done": Out(1),
            "cls": Out(g.cls_width),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        lb, stw = geo.lane_bits, geo.state_width
        i = Signal(range(geo.max_neurons + 1), name="ro_i")                # neuron read
        left = Signal(range(geo.max_neurons + READOUT_TAIL + 1), name="ro_left")
        valid = Signal(name="ro_valid")             # s_data holds neuron `idx`
        lane = Signal(max(lb, 1), name="ro_lane")
        idx = Signal(geo.cls_width, name="ro_idx")
        m.d.comb += self.done.eq(left == 0)

        with m.If(self.load):
            m.d.sync += [self.s_addr.eq(self.gbase), left.eq(self.n_out + READOUT_TAIL)]
        with m.If(self.run):
            # left = n_out + READOUT_TAIL - i (a down counter: no compare with the size)
            m.d.sync += [valid.eq(left > READOUT_TAIL), i.eq(i + 1), left.eq(left - 1),
                         lane.eq(i[:lb] if lb else 0), idx.eq(i)]
            # s_addr = gbase + (i >> lane_bits), kept as a register
            with m.If(i[:lb].all() if lb else 1):
                m.d.sync += self.s_addr.eq(self.s_addr + 1)
            # READOUT_TAIL more cycles: the last neuron's key is compared (registered)
            with m.If(left == 0):
                m.d.sync += [i.eq(0), valid.eq(0)]

        # key = (count, v + 2**23) as one unsigned number, registered before the compare
        # (block-RAM output -> lane select -> 40-bit compare -> best_key was the ECP5
        # critical path)
        word = self.s_data.word_select(lane, stw) if geo.lanes > 1 else self.s_data
        key = Signal(MEM.width + geo.count_width, name="ro_key")
        key_valid = Signal(name="ro_key_valid")
        key_idx = Signal(geo.cls_width, name="ro_key_idx")
        best_key = Signal(MEM.width + geo.count_width)
        m.d.sync += [key.eq(Cat(word[:MEM.width - 1], ~word[MEM.width - 1], word[MEM.width:])),
                     key_valid.eq(valid), key_idx.eq(idx)]
        with m.If(key_valid):
            with m.If((key_idx == 0) | (key > best_key)):
                m.d.sync += [best_key.eq(key), self.cls.eq(key_idx)]
        return m
