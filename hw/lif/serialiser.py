"""The LIF engine's spike serialiser: spike masks -> the next layer's active list."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .common import LIFGeometry

__all__ = ["SpikeSerialiser"]


class SpikeSerialiser(wiring.Component):
    """Turns each group's spike mask into list entries, one per cycle: for mask ``s`` of
    group ``g`` it writes ``g * lanes + k`` for every set bit ``k``, lowest first, at the
    next entries of spike bank ``bank`` (``count`` counts them; ``clear`` restarts it).

    The masks wait in a ``fifo_depth``-deep :class:`~amaranth.lib.fifo.SyncFIFOBuffered`
    (``FIFO_LATENCY`` = 2 cycles to its output); a mask is loaded when the previous one's
    last index is being written (or the serialiser is empty), ``MASK_TO_SERIALISER`` = 3
    cycles after its FIFO write, and takes ``max(spikes, 1)`` cycles.  The serialiser
    keeps the issue's credit: ``pending`` counts the groups whose last entry was issued
    and whose mask is not loaded yet, and ``credit`` (``pending < fifo_depth - 1``) allows
    the next last entry, so the FIFO never overflows and nothing stalls in the pipeline.

    Ports
    -----
    masks : In(stream of spike_mask, always ready) -- a group's spikes, from the update.
    group_issued : In(1) -- strobe: a group's last entry is issued (its mask will come).
    credit : Out(1) -- a group's last entry may be issued (comb).
    busy : Out(1) -- masks pending or indices left (registered from the next state):
        low means the drain is over.
    bank : In(1) -- the spike bank written (the current layer's parity).
    clear : In(1) -- strobe: the list is complete, ``count`` restarts at 0.
    count : Out(range(max_neurons + 1)) -- entries written since the last ``clear``.
    l_addr : Out(sp_entry_bits + 1), l_data : Out(idx_width), l_en : Out(1) -- spike list
        write (comb): address ``bank * 2**sp_entry_bits + count``.
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "masks": In(stream.Signature(g.spike_mask, always_ready=True)),
            "group_issued": In(1),
            "credit": Out(1),
            "busy": Out(1),
            "bank": In(1),
            "clear": In(1),
            "count": Out(range(g.max_neurons + 1)),
            "l_addr": Out(g.sp_entry_bits + 1),
            "l_data": Out(g.idx_width),
            "l_en": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        lanes, lb = geo.lanes, geo.lane_bits
        m.submodules.mfifo = mfifo = fifo.SyncFIFOBuffered(width=geo.spike_mask.size,
                                                           depth=geo.fifo_depth)
        m.d.comb += [mfifo.w_data.eq(self.masks.payload), mfifo.w_en.eq(self.masks.valid)]
        head = data.View(geo.spike_mask, mfifo.r_data)

        # masks in flight or in the FIFO: last entries issued and not yet loaded (a
        # counter, not a sum over the stages: the credit is a register compare, whatever
        # the pipeline depth)
        pending = Signal(range(geo.fifo_depth + 1))
        m.d.comb += self.credit.eq(pending < geo.fifo_depth - 1)

        mask = Signal(lanes, name="ser_mask")       # spikes of group `group` left to write
        group = Signal(geo.group_width, name="ser_g")
        # busy: every stage, the FIFO and the serialiser empty (in DRAIN the last entry
        # issued is a group's last, so an entry in any stage means that mask is not loaded
        # yet: pending != 0).  Registered from the next values pending_nx, mask_nx.
        pending_nx = Signal.like(pending)
        mask_nx = Signal(lanes)

        with m.If(self.clear):
            m.d.sync += self.count.eq(0)
        low = Signal(max(lb, 1))                    # the lowest set lane of the mask
        for k in reversed(range(lanes)):
            with m.If(mask[k]):
                m.d.comb += low.eq(k)
        rest = Signal(lanes)                        # the mask without its lowest bit
        m.d.comb += rest.eq(mask & (mask - 1))
        m.d.comb += [self.l_addr.eq(Cat(self.count[:geo.sp_entry_bits], self.bank)),
                     self.l_data.eq((group << lb) | low if lb else group),
                     self.l_en.eq(mask != 0)]
        with m.If(mask != 0):
            m.d.sync += self.count.eq(self.count + 1)
        m.d.comb += pending_nx.eq(pending + self.group_issued - (mfifo.r_en & mfifo.r_rdy))
        with m.If(rest == 0):
            m.d.comb += mfifo.r_en.eq(1)
            with m.If(mfifo.r_rdy):
                m.d.comb += mask_nx.eq(head.spikes)
                m.d.sync += group.eq(head.group)
        with m.Else():
            m.d.comb += mask_nx.eq(rest)
        m.d.sync += [pending.eq(pending_nx), mask.eq(mask_nx),
                     self.busy.eq((pending_nx != 0) | (mask_nx != 0))]
        return m
