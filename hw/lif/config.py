"""The LIF engine's configuration port: ``cfg`` writes -> registers, bias and weight writes.

Address map: :mod:`dynalign.hw.lif.regmap`; the host side is
:func:`dynalign.hw.lif.rtl.config_writes`.  Written while the engine is idle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import BIAS, IN_SHIFT_MAX
from .common import LIFGeometry
from .regmap import (
    CFG_ADDR_WIDTH,
    CFG_DATA_WIDTH,
    GLOBAL_REGS,
    LAYER_REG_BASE,
    LAYER_REG_STRIDE,
    REG_FIELDS,
    REGION_BIAS,
    REGION_REG,
    REGION_SHIFT,
    REGION_WEIGHT,
)

__all__ = ["ConfigSignature", "ConfigRegisters"]

#: The ``cfg`` write port, from the writer's side.
ConfigSignature = wiring.Signature({
    "addr": Out(CFG_ADDR_WIDTH), "data": Out(CFG_DATA_WIDTH), "we": Out(1)})

#: region-0 offsets: bit 7 selects the per-layer fields, bits 3..6 the layer, 0..2 the field
_LAYER_BIT = LAYER_REG_BASE.bit_length() - 1
_FIELD_BITS = LAYER_REG_STRIDE.bit_length() - 1
assert LAYER_REG_BASE == 1 << _LAYER_BIT and LAYER_REG_STRIDE == 1 << _FIELD_BITS
assert len(REG_FIELDS) <= LAYER_REG_STRIDE and _LAYER_BIT - _FIELD_BITS == 4   # 16 layers


class ConfigRegisters(wiring.Component):
    """Decodes ``cfg`` writes (one per cycle while ``cfg.we``) into the engine's registers
    and into write strobes for the bias and weight memories.

    A register takes the write's low bits (``data`` truncated to its width).  ``in_shift``
    (``s``) is kept in the form the input loader uses: ``in_pre_shift = max(s - 1, 0)``,
    ``in_round = s != 0`` (the loader computes ``round_shift(x, s) = ((x >> (s - 1)) + 1)
    >> 1`` for ``s > 0``).  A bias or weight write of slot / address ``a`` writes lane
    ``a % lanes`` of word ``a >> log2(lanes)`` (the data's low ``BIAS.width`` /
    ``weight_width`` bits, replicated to every lane, the lane's granule enable set).

    Ports
    -----
    cfg : In(ConfigSignature) -- ``addr`` (24), ``data`` (32), ``we``.
    n_layers : Out(range(max_layers + 1)), init 1 -- layers of the loaded network.
    steps : Out(count_width), init 1 -- time steps T per inference.
    channels : Out(range(max_inputs + 1)), init 1 -- samples per step (layer-1 inputs).
    in_pre_shift : Out(range(IN_SHIFT_MAX + 1)) -- ``max(in_shift - 1, 0)``.
    in_round : Out(1) -- ``in_shift != 0``.
    layers : Out(geometry.layers_layout) -- per layer ``n_in, n_out, groups, wbase,
        gbase, beta, theta, reset`` (:data:`~dynalign.hw.lif.regmap.REG_FIELDS`).
    b_addr : Out(group_addr_width), b_data : Out(lanes * BIAS.width), b_en : Out(lanes)
        -- bias memory write (granule enables, one per lane; comb).
    w_addr : Out(weight_addr_width), w_data : Out(lanes * weight_width), w_en : Out(lanes)
        -- weight memory write (comb).
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "cfg": In(ConfigSignature),
            "n_layers": Out(range(g.max_layers + 1), init=1),
            "steps": Out(g.count_width, init=1),
            "channels": Out(range(g.max_inputs + 1), init=1),
            "in_pre_shift": Out(range(IN_SHIFT_MAX + 1)),
            "in_round": Out(1),
            "layers": Out(g.layers_layout),
            "b_addr": Out(g.group_addr_width),
            "b_data": Out(g.lanes * BIAS.width),
            "b_en": Out(g.lanes),
            "w_addr": Out(g.weight_addr_width),
            "w_data": Out(g.lanes * g.weight_width),
            "w_en": Out(g.lanes),
        })

    def elaborate(self, platform):
        m = Module()
        geo, cfg = self.geometry, self.cfg
        lanes, lb = geo.lanes, geo.lane_bits
        region = cfg.addr[REGION_SHIFT:]
        offset = cfg.addr[:REGION_SHIFT]
        globals_ = {"n_layers": self.n_layers, "steps": self.steps, "channels": self.channels}
        # one register per layer and field (n_in0, beta2, ...), driving the `layers` port
        fields = [{name: Signal.like(self.layers[k][name], name=f"{name}{k}")
                   for name in REG_FIELDS} for k in range(geo.max_layers)]
        m.d.comb += [self.layers[k][name].eq(reg) for k in range(geo.max_layers)
                     for name, reg in fields[k].items()]
        with m.If(cfg.we):
            with m.Switch(region):
                with m.Case(REGION_REG):
                    with m.If(offset[_LAYER_BIT]):
                        layer = offset[_FIELD_BITS:_LAYER_BIT]
                        for k in range(geo.max_layers):
                            with m.If(layer == k):
                                with m.Switch(offset[:_FIELD_BITS]):
                                    for fi, name in enumerate(REG_FIELDS):
                                        with m.Case(fi):
                                            m.d.sync += fields[k][name].eq(cfg.data)
                    with m.Else():
                        with m.Switch(offset[:2]):
                            for ri, name in enumerate(GLOBAL_REGS):
                                with m.Case(ri):
                                    if name in globals_:
                                        m.d.sync += globals_[name].eq(cfg.data)
                                    else:       # in_shift, kept as max(s - 1, 0), s != 0
                                        sh = cfg.data[:len(self.in_pre_shift)]
                                        m.d.sync += [
                                            self.in_pre_shift.eq(Mux(sh == 0, 0, sh - 1)),
                                            self.in_round.eq(sh != 0)]

        # bias / weight writes: word offset >> lb, lane offset % lanes
        m.d.comb += [
            self.w_addr.eq(offset >> lb),
            self.w_data.eq(Cat(*([cfg.data[:geo.weight_width]] * lanes))),
            self.b_addr.eq(offset >> lb),
            self.b_data.eq(Cat(*([cfg.data[:BIAS.width]] * lanes))),
        ]
        lane_sel = offset[:lb] if lb else Const(0, 1)
        for k in range(lanes):
            hit = cfg.we & (lane_sel == k)
            m.d.comb += [self.w_en[k].eq(hit & (region == REGION_WEIGHT)),
                         self.b_en[k].eq(hit & (region == REGION_BIAS))]
        return m
