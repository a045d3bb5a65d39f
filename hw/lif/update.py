"""The LIF engine's neuron update: a group's sums -> new membranes, counts and spikes."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import BETA, BIAS, MEM
from .common import LIFGeometry, overflows, tree_sum
from .ref import LEAK_SHIFT

__all__ = ["NeuronUpdate"]


class NeuronUpdate(wiring.Component):
    """Finalises a group of ``lanes`` neurons of the current layer: for each lane ``k``
    (neuron ``i = g * lanes + k``) with its state ``(v, count)`` (both 0 at the first
    step), sum ``acc`` and bias ``b``::

        u      = round_shift(beta * v, 8) + acc + b          (exact, sum_width bits)
        us     = sat_MEM(u)                                  (clamp, never wrap)
        spike  = us >= theta                                 (and i < n_out)
        v'     = us - theta if spike else us                 (fits MEM: us >= theta)
                                                             (reset_zero: 0 if spike)
        count' = count + spike

    ``round_shift(a, 8) = (a + 128) >> 8`` (arithmetic shift: round half up).  The leak
    is formed exactly from ``beta * v = beta * (v >> 8) * 2**8 + beta * (v & 0xff)``:
    ``round_shift(beta * v, 8) = beta * (v >> 8) + ((beta * (v & 0xff) + 128) >> 8)``,
    the low product by shift-and-add (a balanced adder tree), the high one a 16 x 16
    multiplier.  A lane past ``n_out`` holds no neuron: it never spikes nor counts a
    saturation (its word is written back, unused).  ``saturated`` marks the lanes whose
    ``u`` was clamped.

    Stages (``UPDATE_LATENCY`` = 3 cycles from ``sums`` to ``masks``; every boundary a
    register): in the cycle of the sum (P3) the low leak ``(beta * (v & 0xff) + 128) >>
    8``, registered with the sum, ``v >> 8``, bias and count; F1 -- ``beta * (v >> 8)``
    (one 16 x 16 product per lane), ``acc + b + low leak``; F2 -- ``u``, whether it
    overflows MEM (then only its sign is kept) and which lanes hold neurons; F3 -- ``d =
    u - theta``, ``sat_MEM``, threshold, reset and count: the new state word written back
    and the spike mask (comb).  The layer constants (``beta``, ``theta`` and what F3
    derives from it, ``reset_zero``, ``n_out``, ``gbase``) are registered: the layer
    changes only when the pipeline is empty.

    Ports
    -----
    sums : In(stream of group_sum, always ready) -- a group's ``acc`` per lane, its state
        word (lane ``k``: ``v`` in the low ``MEM.width`` bits, ``count`` above) and bias
        word.
    first_step : In(1) -- step 0: ``v`` and ``count`` read as 0.
    beta : In(BETA.width), theta : In(MEM.width - 1), reset_zero : In(1),
        n_out : In(range(max_neurons + 1)), gbase : In(group_addr_width + 1) -- the current
        layer's (``reset_zero``: a spike sets the membrane to 0 instead of subtracting
        ``theta``).
    s_waddr : Out(group_addr_width + 1), s_wdata : Out(lanes * state_width),
        s_wen : Out(1) -- state memory write of the group's new word (comb, F3).
    masks : Out(stream of spike_mask, always ready) -- the group's spikes (comb, F3).
    saturated : Out(lanes) -- the lanes clamped by ``sat_MEM`` (comb, F3).
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "sums": In(stream.Signature(g.group_sum, always_ready=True)),
            "first_step": In(1),
            "beta": In(BETA.width),
            "theta": In(MEM.width - 1),
            "reset_zero": In(1),
            "n_out": In(range(g.max_neurons + 1)),
            "gbase": In(g.group_addr_width + 1),
            "s_waddr": Out(g.group_addr_width + 1),
            "s_wdata": Out(g.lanes * g.state_width),
            "s_wen": Out(1),
            "masks": Out(stream.Signature(g.spike_mask, always_ready=True)),
            "saturated": Out(g.lanes),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        lanes, cw, stw = geo.lanes, geo.count_width, geo.state_width
        stage = data.StructLayout({"valid": 1, "g": geo.group_width,
                                   "saddr": geo.group_addr_width + 1})
        f1 = Signal(data.StructLayout({"valid": 1, "g": geo.group_width}), name="f1")
        f2 = Signal(stage, name="f2")
        f3 = Signal(stage, name="f3")

        # layer constants, registered: the layer only changes at the end of a drain, when
        # every stage is empty, and its first sum arrives four cycles after its first issue
        lc_beta = Signal(BETA.width, name="lc_beta")
        lc_theta = Signal(signed(MEM.width), name="lc_theta")
        lc_zero = Signal(name="lc_zero")
        lc_n_out = Signal.like(self.n_out, name="lc_n_out")
        lc_gbase = Signal.like(self.gbase, name="lc_gbase")
        lc_hi_spike = Signal(name="lc_hi_spike")            # MEM.max_int >= theta
        lc_lo_spike = Signal(name="lc_lo_spike")            # MEM.min_int >= theta
        lc_hi_minus = Signal(signed(MEM.width + 1), name="lc_hi_minus")   # max - theta
        lc_lo_minus = Signal(signed(MEM.width + 1), name="lc_lo_minus")   # min - theta
        theta = self.theta
        m.d.sync += [lc_beta.eq(self.beta), lc_theta.eq(theta), lc_zero.eq(self.reset_zero),
                     lc_n_out.eq(self.n_out), lc_gbase.eq(self.gbase),
                     lc_hi_spike.eq(MEM.max_int >= theta), lc_lo_spike.eq(MEM.min_int >= theta),
                     lc_hi_minus.eq(MEM.max_int - theta), lc_lo_minus.eq(MEM.min_int - theta)]

        # ---- into F1: the sum; v_hi = v >> 8 (signed, 16 bits: one 16x16 DSP in F1) and
        # the rounded low part (beta * v_lo + 128) >> 8 of v_lo = v & 0xff (shift-and-add
        # in LUTs) from the state word (no block-RAM output drives an adder chain: that
        # was the ECP5 critical path)
        grp = self.sums.payload
        m.d.sync += [f1.valid.eq(self.sums.valid), f1.g.eq(grp.group)]
        f1_acc, f1_vhi, f1_lor, f1_bias, f1_cnt = [], [], [], [], []
        for k in range(lanes):
            word = grp.state[k * stw:(k + 1) * stw]
            v_old = Mux(self.first_step, 0, word[:MEM.width].as_signed())
            v_lo = v_old[:LEAK_SHIFT]
            lo = tree_sum([Mux(lc_beta[b], v_lo << b, 0) for b in range(BETA.width)])
            regs = (Signal(signed(geo.acc_width), name=f"f1acc{k}"),
                    Signal(signed(MEM.width - LEAK_SHIFT), name=f"f1vhi{k}"),
                    Signal(BETA.width + 1, name=f"f1lor{k}"),
                    Signal(signed(BIAS.width), name=f"f1bias{k}"),
                    Signal(cw, name=f"f1cnt{k}"))
            m.d.sync += [regs[0].eq(grp.acc[k]),
                         regs[1].eq(v_old[LEAK_SHIFT:].as_signed()),
                         regs[2].eq((lo + (1 << (LEAK_SHIFT - 1))) >> LEAK_SHIFT),
                         regs[3].eq(grp.bias[k * BIAS.width:(k + 1) * BIAS.width].as_signed()),
                         regs[4].eq(Mux(self.first_step, 0, word[MEM.width:]))]
            for lst, r in zip((f1_acc, f1_vhi, f1_lor, f1_bias, f1_cnt), regs, strict=True):
                lst.append(r)

        # ---- F1: leak product beta * v_hi; acc + bias + the rounded low part
        m.d.sync += [f2.valid.eq(f1.valid), f2.g.eq(f1.g), f2.saddr.eq(lc_gbase + f1.g)]
        f2_leak_hi = [Signal(signed(BETA.width + 1 + MEM.width - LEAK_SHIFT),
                             name=f"leak_hi{k}") for k in range(lanes)]
        f2_rest = [Signal(signed(geo.sum_width), name=f"rest{k}") for k in range(lanes)]
        f2_cnt = [Signal(cw, name=f"cnt{k}") for k in range(lanes)]
        for k in range(lanes):
            m.d.sync += [f2_leak_hi[k].eq(lc_beta * f1_vhi[k]),
                         f2_rest[k].eq(f1_acc[k] + f1_bias[k] + f1_lor[k]),
                         f2_cnt[k].eq(f1_cnt[k])]

        # ---- F2: u = round_shift(beta * v, 8) + acc + bias, whether it overflows MEM,
        # which lanes hold neurons of the layer; count + 1 beside the count.
        m.d.sync += [f3.valid.eq(f2.valid), f3.g.eq(f2.g), f3.saddr.eq(f2.saddr)]
        base_slot = f2.g << geo.lane_bits
        f3_u, f3_ovf, f3_lane, f3_cnt, f3_cnt1 = [], [], [], [], []
        for k in range(lanes):
            u = Signal(signed(geo.sum_width), name=f"u{k}")
            m.d.comb += u.eq(f2_leak_hi[k] + f2_rest[k])
            regs = (Signal(signed(MEM.width + 1), name=f"f3u{k}"),    # u's low bits, sign
                    Signal(name=f"f3ovf{k}"), Signal(name=f"f3lane{k}"),
                    Signal(cw, name=f"f3cnt{k}"), Signal(cw, name=f"f3cnt1{k}"))
            m.d.sync += [regs[0].eq(Cat(u[:MEM.width], u[-1])),
                         regs[1].eq(overflows(u, MEM.width)),
                         regs[2].eq((base_slot + k) < lc_n_out),
                         regs[3].eq(f2_cnt[k]), regs[4].eq(f2_cnt[k] + 1)]
            for lst, r in zip((f3_u, f3_ovf, f3_lane, f3_cnt, f3_cnt1), regs, strict=True):
                lst.append(r)

        # ---- F3: us = sat_MEM(u); spike = us >= theta; v = us - theta on a spike; write.
        # Without saturation u fits MEM, us = u, and d = u - theta (MEM.width + 2 bits)
        # gives the spike (d >= 0) and the new v; saturated, us is MEM's min or max and
        # the spike and the new v come from comparing that constant with theta
        # (registered layer constants).  A zero reset clears the membrane bits instead.
        spike = Signal(lanes)
        new_words = []
        for k in range(lanes):
            u_neg, ovf = f3_u[k][-1], f3_ovf[k]
            d = Signal(signed(MEM.width + 2), name=f"d{k}")
            m.d.comb += d.eq(f3_u[k] - lc_theta)
            sat_value = Mux(u_neg, MEM.min_int, MEM.max_int)
            sat_spike = Mux(u_neg, lc_lo_spike, lc_hi_spike)
            sat_minus = Mux(u_neg, lc_lo_minus, lc_hi_minus)                 # us - theta
            raw_spike = Mux(ovf, sat_spike, ~d[-1])
            m.d.comb += [self.saturated[k].eq(f3_lane[k] & ovf),
                         spike[k].eq(f3_lane[k] & raw_spike)]
            us_bits = Mux(ovf, sat_value, f3_u[k][:MEM.width])
            sub_bits = Mux(ovf, sat_minus[:MEM.width], d[:MEM.width])
            v_new = Mux(spike[k], Mux(lc_zero, 0, sub_bits), us_bits)
            new_words.append(Cat(v_new[:MEM.width], Mux(spike[k], f3_cnt1[k], f3_cnt[k])))
        m.d.comb += [self.s_waddr.eq(f3.saddr), self.s_wdata.eq(Cat(*new_words)),
                     self.s_wen.eq(f3.valid),
                     self.masks.valid.eq(f3.valid), self.masks.payload.spikes.eq(spike),
                     self.masks.payload.group.eq(f3.g)]
        return m
