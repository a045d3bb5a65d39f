"""The LIF engine's status: per-layer event counters and the ``rd_addr`` read-back port."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import MEM
from .common import LIFGeometry, popcount
from .regmap import (
    RD_ADDR_WIDTH,
    RD_CLS,
    RD_CYCLES,
    RD_DATA_WIDTH,
    RD_SLOT_BITS,
    RD_STATS,
    rd_stat_addr,
)

__all__ = ["stats_signature", "LayerCounters", "ReadBack"]


def stats_signature(geometry: LIFGeometry) -> wiring.Signature:
    """Every layer's counters, from the counting side: ``spikes`` and ``saturations``
    (``event_width`` bits each), ``synops`` (``synop_width``: 0 bits without
    ``count_synops``)."""
    L = geometry.max_layers
    return wiring.Signature({
        "spikes": Out(data.ArrayLayout(geometry.event_width, L)),
        "synops": Out(data.ArrayLayout(geometry.synop_width, L)),
        "saturations": Out(data.ArrayLayout(geometry.event_width, L)),
    })


class LayerCounters(wiring.Component):
    """Per layer ``l``, over one inference (cleared by ``start``):

    * ``spikes[l]`` -- the spikes of layer ``l`` (popcount of each of its masks);
    * ``saturations[l]`` -- its neuron updates clamped by ``sat_MEM``;
    * ``synops[l]`` -- ``n_out_l`` per non-dummy entry issued for its group 0 (one
      synaptic operation per neuron of the layer and non-zero input), if counted.

    Each counter adds one cycle after its event (the events are registered) and each
    layer has its own adder.  The widths hold the maxima exactly (no wrap).

    Ports
    -----
    start : In(1) -- strobe: an inference starts (every counter to 0).
    layer : In(range(max_layers + 1)) -- the layer the events belong to.
    masks : In(stream of spike_mask, always ready) -- a group update and its spikes.
    saturated : In(lanes) -- the lanes of that update clamped by ``sat_MEM``.
    synop : In(1) -- a non-dummy entry of group 0 was issued (registered by the issue).
    layers : In(layers_layout) -- the configuration (``n_out`` used).
    stats : Out(stats_signature) -- the counters.
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "start": In(1),
            "layer": In(range(g.max_layers + 1)),
            "masks": In(stream.Signature(g.spike_mask, always_ready=True)),
            "saturated": In(g.lanes),
            "synop": In(1),
            "layers": In(g.layers_layout),
            "stats": Out(stats_signature(g)),
        })

    def elaborate(self, platform):
        m = Module()
        geo, st = self.geometry, self.stats
        ev_valid = Signal(name="st_v")
        ev_spikes = Signal(geo.lanes, name="st_spk")
        ev_sats = Signal(geo.lanes, name="st_sat")
        m.d.sync += [ev_valid.eq(self.masks.valid), ev_spikes.eq(self.masks.payload.spikes),
                     ev_sats.eq(self.saturated)]
        for k in range(geo.max_layers):
            here = self.layer == k
            counted = [st.spikes[k], st.saturations[k]]
            if geo.synop_width:
                counted.append(st.synops[k])
            with m.If(self.start):
                m.d.sync += [c.eq(0) for c in counted]
            with m.Else():
                with m.If(ev_valid & here):
                    m.d.sync += [st.spikes[k].eq(st.spikes[k] + popcount(ev_spikes)),
                                 st.saturations[k].eq(st.saturations[k] + popcount(ev_sats))]
                if geo.synop_width:
                    with m.If(self.synop & here):
                        m.d.sync += st.synops[k].eq(st.synops[k] + self.layers[k].n_out)
        return m


class ReadBack(wiring.Component):
    """The read-back port: ``data`` is the value at ``addr`` two cycles earlier
    (:mod:`dynalign.hw.lif.regmap`): the class, the cycle counter, a layer's counter
    (zero-extended), or, with ``addr[15]``, a per-neuron value of state slot ``addr[:14]``
    -- its spike count (zero-extended) or, with ``addr[14]``, its membrane (sign-extended).
    Other addresses read 0.  Per-neuron values come through the engine's state read port:
    they read correctly only while the engine leaves it to ``s_addr`` (idle).

    Ports
    -----
    addr : In(RD_ADDR_WIDTH), data : Out(RD_DATA_WIDTH) -- the port (``data`` registered).
    s_addr : Out(14 - log2(lanes)) -- the state word of slot ``addr[:14]`` (comb).
    s_data : In(lanes * state_width) -- that word, one cycle later.
    cls : In(cls_width), cycles : In(cycles_width) -- the class and the cycle counter.
    stats : In(stats_signature) -- the per-layer counters.
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "addr": In(RD_ADDR_WIDTH),
            "data": Out(RD_DATA_WIDTH),
            "s_addr": Out(RD_SLOT_BITS - g.lane_bits),
            "s_data": In(g.lanes * g.state_width),
            "cls": In(g.cls_width),
            "cycles": In(g.cycles_width),
            "stats": In(stats_signature(g)),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        lb = geo.lane_bits
        m.d.comb += self.s_addr.eq(self.addr[lb:RD_SLOT_BITS])
        rd_q = Signal(RD_ADDR_WIDTH)
        m.d.sync += rd_q.eq(self.addr)
        word = (self.s_data.word_select(rd_q[:lb], geo.state_width) if geo.lanes > 1
                else self.s_data)
        stat = Signal(RD_DATA_WIDTH)
        with m.Switch(rd_q):
            with m.Case(RD_CLS):
                m.d.comb += stat.eq(self.cls)
            with m.Case(RD_CYCLES):
                m.d.comb += stat.eq(self.cycles)
            for k in range(geo.max_layers):
                for what in RD_STATS:
                    with m.Case(rd_stat_addr(k, what)):
                        m.d.comb += stat.eq(getattr(self.stats, what)[k])
        with m.If(rd_q[RD_SLOT_BITS + 1]):
            with m.If(rd_q[RD_SLOT_BITS]):
                m.d.sync += self.data.eq(word[:MEM.width].as_signed())
            with m.Else():
                m.d.sync += self.data.eq(word[MEM.width:])
        with m.Else():
            m.d.sync += self.data.eq(stat)
        return m
