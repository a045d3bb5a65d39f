"""The LIF engine's synaptic pipeline: issued list entries -> per-group sums ``W * a``."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import ACT, BIAS
from .common import LIFGeometry

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """For the entries ``(j, a_j)`` issued for group ``g`` (one per cycle, the group's
    first to its last), every lane ``k`` accumulates, exactly::

        acc[k] = sum_j W[g * lanes + k, j] * a_j        (acc_width bits: never wraps)

    with the weight word of entry ``j`` at ``waddr + j`` (``waddr = wbase + g * n_in``).
    An input entry (``from_input``) carries ``(j, a_j)`` from the input list; a spike
    entry carries index ``j`` and ``a_j = 1``; a dummy entry (an empty list) adds 0.

    Stages (every boundary a register, one entry per cycle, no stall):

    * P1 -- the issued entry registered; its list word arrives (``in_entry`` /
      ``sp_entry``, read at the issue);
    * PA -- index and value registered; the weight word read at ``waddr + j``
      (``w_addr``) and the group's state and bias words at ``gbase + g`` (``s_addr``);
    * P2 -- the weight word registered (the block RAM's output and the store's bank
      multiplexer end at a register, not in a multiplier: on the ECP5 that path set the
      clock); the state and bias words latched;
    * P3 -- ``acc = (0 if first else acc) + W * a``, the ``lanes`` products
      (``weight_width x 16`` bits) and the sum in one stage; after the group's last
      entry the sum goes out on ``sums`` (``ACCUMULATE_LATENCY`` = 4 cycles after its
      issue) with the group's state and bias words.

    Ports
    -----
    issue : In(stream of issue_entry, always ready) -- the entry issued this cycle.
    from_input : In(1) -- entries are input entries (layer 0), else spike entries.
    in_entry : In(idx_width + ACT.width) -- input list word ``Cat(a, j)``, the cycle after
        the issue.
    sp_entry : In(idx_width) -- spike list word ``j``, the cycle after the issue.
    gbase : In(group_addr_width + 1) -- the layer's group base.
    w_addr : Out(word_addr_width) -- weight word read address (comb, from PA; a logical
        word address with ``packed_weights``: the network maps it to the store's).
    w_data : In(lanes * weight_width) -- the weight word (lane ``k`` in bits ``k * ww``),
        the cycle after ``w_addr``.
    s_addr : Out(group_addr_width + 1) -- state and bias read address (register, PA).
    s_data : In(lanes * state_width), b_data : In(lanes * BIAS.width) -- the words read
        at ``s_addr``, the cycle after it.
    sums : Out(stream of group_sum, always ready) -- a group's sums (comb ``acc``), its
        state and bias words.
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "issue": In(stream.Signature(g.issue_entry, always_ready=True)),
            "from_input": In(1),
            "in_entry": In(g.idx_width + ACT.width),
            "sp_entry": In(g.idx_width),
            "gbase": In(g.group_addr_width + 1),
            "w_addr": Out(g.word_addr_width),
            "w_data": In(g.lanes * g.weight_width),
            "s_addr": Out(g.group_addr_width + 1),
            "s_data": In(g.lanes * g.state_width),
            "b_data": In(g.lanes * BIAS.width),
            "sums": Out(stream.Signature(g.group_sum, always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        lanes, ww = geo.lanes, geo.weight_width
        gr, wa = geo.group_width, geo.word_addr_width + 1
        val = signed(ACT.width)
        p1 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "dummy": 1,
                                       "g": gr, "wg": wa}), name="p1")
        # PA: the list entry registered (index, value), so that the weight address adder
        # starts from a register, not from the list block RAM's output
        pa = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "g": gr, "wg": wa,
                                       "idx": geo.idx_width, "val": val,
                                       "saddr": geo.group_addr_width + 1}), name="pa")
        p2 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "val": val,
                                       "g": gr}), name="p2")
        p3 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "val": val,
                                       "g": gr}), name="p3")
        p3_w = Signal.like(self.w_data, name="p3_w")
        acc = [Signal(signed(geo.acc_width), name=f"acc{k}") for k in range(lanes)]

        # ---- P1: the issued entry; its list word arrives
        entry = self.issue.payload
        with m.If(self.issue.valid):
            m.d.sync += [p1.valid.eq(1), p1.first.eq(entry.first), p1.last.eq(entry.last),
                         p1.dummy.eq(entry.dummy), p1.g.eq(entry.group),
                         p1.wg.eq(entry.waddr)]
        with m.Else():
            m.d.sync += p1.valid.eq(0)
        in_idx = self.in_entry[ACT.width:]
        in_val = self.in_entry[:ACT.width].as_signed()
        p1_idx = Mux(self.from_input, in_idx, self.sp_entry)
        p1_val = Mux(p1.dummy, 0, Mux(self.from_input, in_val, 1))
        m.d.sync += [pa.valid.eq(p1.valid), pa.first.eq(p1.first), pa.last.eq(p1.last),
                     pa.g.eq(p1.g), pa.wg.eq(p1.wg), pa.idx.eq(Mux(p1.dummy, 0, p1_idx)),
                     pa.val.eq(p1_val), pa.saddr.eq(self.gbase + p1.g)]

        # ---- PA: read the weight word, the state and bias words
        m.d.comb += [self.w_addr.eq(pa.wg + pa.idx), self.s_addr.eq(pa.saddr)]
        m.d.sync += [p2.valid.eq(pa.valid), p2.first.eq(pa.first), p2.last.eq(pa.last),
                     p2.val.eq(pa.val), p2.g.eq(pa.g)]

        # ---- P2: register the weight word; latch the group's state and bias words (read
        # with PA's group)
        p3_state = Signal.like(self.s_data, name="p3_state")
        p3_bias = Signal.like(self.b_data, name="p3_bias")
        m.d.sync += [p3.valid.eq(p2.valid), p3.first.eq(p2.first), p3.last.eq(p2.last),
                     p3.val.eq(p2.val), p3.g.eq(p2.g), p3_w.eq(self.w_data),
                     p3_state.eq(self.s_data), p3_bias.eq(self.b_data)]

        # ---- P3: multiply and accumulate; the last entry of a group hands the sum on
        out = self.sums.payload
        m.d.comb += [self.sums.valid.eq(p3.valid & p3.last), out.group.eq(p3.g),
                     out.state.eq(p3_state), out.bias.eq(p3_bias)]
        for k in range(lanes):
            prod = p3_w[k * ww:(k + 1) * ww].as_signed() * p3.val
            s = Mux(p3.first, 0, acc[k]) + prod
            with m.If(p3.valid):
                m.d.sync += acc[k].eq(s)
            m.d.comb += out.acc[k].eq(s)
        return m
