"""The image loader: the model store image -> the LIF configuration and the encoder
(not the weights: the LIF network reads them from the store bank itself)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..encoder.regs import N_SLOTS, REG_ADDR_WIDTH, Reg, shift_registers
from ..lif.rtl import LAYER_REG_BASE, REGION_BIAS, REGION_SHIFT, ConfigSignature
from ..wire import (
    ENCODER_AT,
    ENCODER_FIXED,
    ENCODER_OFFSET,
    ENCODER_SLOT,
    ENCODER_SLOTS,
    HEADER_AT,
    LAYER_FLAG_RESET_ZERO,
    LAYER_HEADER,
    LAYERS_OFFSET,
    SHIFTS_OFFSET,
)
from .layout import CoreLayout

__all__ = ["ImageLoader"]

assert N_SLOTS <= ENCODER_SLOTS
# the loader fetches K, T, L and in_shift as one 4-byte field; a layer header is beta u16,
# flags u16, theta u32 (beta and flags fetched as one 4-byte field, then theta)
assert [HEADER_AT[f] - HEADER_AT["k"] for f in ("k", "t", "n_layers", "in_shift")] == \
    [0, 1, 2, 3]
assert LAYER_HEADER.format.lstrip("<") == "HHI" and LAYER_FLAG_RESET_ZERO == 1

#: The integrator's registers after ``SAMPLES``, in image order: (loader state, register,
#: bytes of its field in the encoder block).
_ENC_FIELDS = (("ENC_SYS", Reg.SYSTEM, 1), ("ENC_STRIDE", Reg.STRIDE, 2),
               ("ENC_H1", Reg.H1, 4), ("ENC_H2", Reg.H2, 4), ("ENC_H6", Reg.H6, 4))
#: Where each field's fetch starts (None: right after the previous field).
_ENC_FETCH_AT = {"ENC_SYS": ENCODER_OFFSET + ENCODER_AT["system"],
                 "ENC_STRIDE": ENCODER_OFFSET + ENCODER_AT["stride"],
                 "ENC_H1": ENCODER_OFFSET + ENCODER_AT["h1"], "ENC_H2": None, "ENC_H6": None}
assert ENCODER_AT["h2"] == ENCODER_AT["h1"] + 4 and ENCODER_AT["h6"] == ENCODER_AT["h2"] + 4


class ImageLoader(wiring.Component):
    """Streams the active model image's configuration into the LIF network and the
    encoder; the weights stay where they were uploaded.

    On ``load`` it reads the store (image layout of :mod:`dynalign.hw.wire`; one byte
    per two cycles, each field shifted little-endian into one 32-bit register) and
    writes, in order: the LIF network's globals (``n_layers``, ``T``, ``3 K``,
    ``in_shift``); once the encoder is idle, the encoder registers (``SAMPLES``; with an
    integrator also ``SYSTEM``, ``STRIDE``, ``H1``, ``H2``, ``H6`` and the coefficients:
    slot ``j`` of the image's encoder block -> ``COEF0 + j``, ``j < N_SLOTS``, and byte
    ``t`` of the step-shift block -> ``SHIFT0 + t``, ``t <`` the encoder's step-shift
    registers),
    ``FEATURES = K`` and the ``refill`` strobe (a ``SELECT`` on an integrator: ``FEATURES``
    only, no refill -- the encoder keeps one table per resident model and serves the
    selected bank's); then
    per layer (``n_out`` from the header, the layer blocks of
    :func:`dynalign.hw.wire.layer_block` in order) the fields of
    :class:`dynalign.hw.lif.rtl.NetworkLayout` (``n_in`` = ``3 K`` or the previous
    ``n_out``, ``groups = ceil(n_out / lanes)``, ``gbase`` the running sum) but with
    ``wbase`` = the store word of the layer's first weight word (``ceil((block + 8 + 2
    n_out) / lanes)``: the engine reads its weight word ``wbase + g n_in + j`` from the
    store bank, where the image put ``W[g lanes + k, j]`` in lane ``k``), and the biases
    (slot ``gbase * lanes + i``); the next block starts ``groups * n_in`` words later
    (found by ``groups`` additions).  A layer the header's ``packed`` byte marks (a core
    elaborated with ``Limits.packed``) has 4-bit weights, two to a byte: its ``wbase``
    is the logical word ``2 x`` the store word, its ``flags`` have
    :data:`~dynalign.hw.lif.regmap.FLAG_PACKED` set, and its block ends
    ``ceil(groups * n_in / 2)`` words after its first weight word.  No weight is written:
    every ``cfg`` write is one of :func:`dynalign.hw.lif.rtl.config_writes` but for
    ``wbase`` and the weights.

    Ports
    -----
    load : In(1)  strobe (taken while ``idle``).
    select : In(1)  with ``load``: a ``SELECT`` -- the biases are not written (the network
        keeps each bank's biases: :attr:`dynalign.hw.lif.rtl.LIFNetwork.bias_banks`),
        every other write is.
    idle : Out(1)  not loading.
    store_addr : Out(store byte address) / store_data : In(8)  the store's byte, data one
        cycle after the address.
    cfg : Out(:data:`~dynalign.hw.lif.rtl.ConfigSignature`)  LIF configuration writes.
    enc_busy : In(1)  the encoder is refilling: its registers wait.
    reg_we : Out(1), reg_addr : Out(REG_ADDR_WIDTH), reg_data : Out(32), refill : Out(1)
        encoder register writes and the refill strobe.
    k : Out(8), n_layers : Out(range(max_layers + 1))  the image's ``K`` and ``L``.
    n_last : Out(field width), gbase_last : Out(group address width)  the last layer's
        ``n_out`` and ``gbase``.
    bad_model : Out(1)  the encoder block's ``T`` differs from the header's.
    """

    def __init__(self, *, layout: CoreLayout):
        if not isinstance(layout, CoreLayout):
            raise TypeError(f"layout must be a CoreLayout, not {layout!r}")
        self.layout = layout
        super().__init__({
            "load": In(1), "select": In(1), "idle": Out(1),
            "store_addr": Out(layout.store_addr_width), "store_data": In(8),
            "cfg": Out(ConfigSignature),
            "enc_busy": In(1),
            "reg_we": Out(1), "reg_addr": Out(REG_ADDR_WIDTH), "reg_data": Out(32),
            "refill": Out(1),
            "k": Out(8), "n_layers": Out(range(layout.max_layers + 1)),
            "n_last": Out(layout.field_width), "gbase_last": Out(layout.gbase_width),
            "bad_model": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self.layout
        lanes, lb = lay.lanes, lay.lane_bits
        table = lay.limits.table
        k, n_layers, bad_model = self.k, self.n_layers, self.bad_model
        steps = Signal(8)

        # ---- store stream: `fetch(n, then)` reads n bytes from `addr` on (one byte per
        # two cycles: the store's data follows its address), shifting each into the top of
        # `sh` (so an n-byte little-endian field ends up in sh[32 - 8n:]), then goes on in
        # state `then` with `addr` just past the field
        addr = Signal(lay.store_addr_width)
        sh = Signal(32)
        left = Signal(3)
        m.d.comb += self.store_addr.eq(addr)

        # loader registers, as wide as the network's own fields
        nw = lay.field_width
        li = Signal(range(lay.max_layers + 1))    # layer index
        n_in = Signal(nw)
        n_out = Signal(nw)
        groups = Signal(nw)
        wbase = Signal(lay.wbase_width)
        gbase = Signal(lay.gbase_width)
        packs = lay.limits.packed
        pk = Signal()                        # this layer's weights are 4-bit (packed)
        # wbase + g * n_in of group g, in logical words (a packed layer's are 2 x the
        # store's)
        row = Signal(lay.wbase_width + int(packs))
        wlog = Signal.like(row)              # the layer's wbase, logical
        m.d.comb += wlog.eq(Mux(pk, wbase << 1, wbase) if packs else wbase)
        slot = Signal(range(lay.group_words * lanes + 1))   # the current bias's slot
        i_cnt = Signal(nw)
        beta = Signal(16)
        reset_zero = Signal()                # bit 0 of the layer's flags
        n_shift = shift_registers(lay.limits.max_samples)
        # LIF global, layer field, coefficient slot or step shift
        field = Signal(range(max(N_SLOTS, n_shift) + 1))
        enc_T = Signal(8)
        no_bias = Signal()                   # this load is a SELECT: no bias writes
        pos = Signal(lay.store_addr_width)   # store address of the next layer block

        m.d.sync += [self.cfg.we.eq(0), self.reg_we.eq(0)]

        def cfg(a, d):
            m.d.sync += [self.cfg.addr.eq(a), self.cfg.data.eq(d), self.cfg.we.eq(1)]

        def ereg(a, d):
            m.d.sync += [self.reg_addr.eq(a), self.reg_data.eq(d), self.reg_we.eq(1)]

        state_names = ["HDR", "ENC_T", "L_PACK", "L_SIZE", "L_BETA", "L_THETA", "BIAS"]
        if not table:
            state_names += ["ENC_SYS", "ENC_STRIDE", "ENC_H1", "ENC_H2", "ENC_H6",
                            "ENC_COEF", "ENC_SHIFT"]
        states = {name: n for n, name in enumerate(state_names)}
        ret = Signal(range(len(state_names)))

        def fetch(n, then, at=None):
            if at is not None:
                m.d.sync += addr.eq(at)
            m.d.sync += [left.eq(n - 1), ret.eq(states[then])]
            m.next = "RD"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(1)
                with m.If(self.load):
                    m.d.sync += [bad_model.eq(0), no_bias.eq(self.select)]
                    fetch(4, "HDR", at=HEADER_AT["k"])    # K, T, L, in_shift

            with m.State("RD"):
                m.next = "RD2"
            with m.State("RD2"):
                m.d.sync += [sh.eq(Cat(sh[8:], self.store_data)), addr.eq(addr + 1),
                             left.eq(left - 1)]
                with m.If(left == 0):
                    with m.Switch(ret):
                        for name, n in states.items():
                            with m.Case(n):
                                m.next = name
                with m.Else():
                    m.next = "RD"

            # ---------------- header -> LIF globals
            with m.State("HDR"):
                m.d.sync += [k.eq(sh[:8]), steps.eq(sh[8:16]), n_layers.eq(sh[16:24]),
                             field.eq(0)]
                m.next = "GLOBALS"
            with m.State("GLOBALS"):
                vals = [n_layers, steps, 3 * k, sh[24:]]       # GLOBAL_REGS order
                with m.Switch(field):
                    for n, v in enumerate(vals):
                        with m.Case(n):
                            cfg(n, v)
                m.d.sync += field.eq(field + 1)
                with m.If(field == len(vals) - 1):
                    m.next = "ENC_WAIT"

            # ---------------- encoder registers
            with m.State("ENC_WAIT"):
                with m.If(~self.enc_busy):
                    fetch(1, "ENC_T", at=ENCODER_OFFSET + ENCODER_AT["samples"])
            with m.State("ENC_T"):
                m.d.sync += enc_T.eq(sh[24:])
                if table:               # the table came with the image: T and K only
                    ereg(Reg.SAMPLES, sh[24:])
                    m.next = "ENC_FEATURES"
                else:
                    with m.If(no_bias):
                        # a SELECT: the encoder holds a table per resident model, and
                        # the selected one's is built; K only, no refill
                        m.next = "ENC_FEATURES"
                    with m.Else():
                        ereg(Reg.SAMPLES, sh[24:])
                        fetch(1, "ENC_SYS", at=_ENC_FETCH_AT["ENC_SYS"])
            if not table:
                # one state per register: write it, fetch the next field (the steps are
                # contiguous), the coefficient slots after the last one
                for (state, reg, n), (nxt, _, n_nxt) in zip(_ENC_FIELDS, _ENC_FIELDS[1:]):
                    with m.State(state):
                        ereg(reg, sh[32 - 8 * n:])
                        fetch(n_nxt, nxt, at=_ENC_FETCH_AT[nxt])
                with m.State(_ENC_FIELDS[-1][0]):
                    ereg(_ENC_FIELDS[-1][1], sh)
                    m.d.sync += field.eq(0)
                    fetch(4, "ENC_COEF", at=ENCODER_OFFSET + ENCODER_FIXED.size)
                with m.State("ENC_COEF"):
                    # slot `field` of N_SLOTS: coef int32 (the block's slots are contiguous)
                    ereg(Reg.COEF0 + field, sh)
                    m.d.sync += field.eq(field + 1)
                    with m.If(field + 1 < N_SLOTS):
                        fetch(4, "ENC_COEF", at=addr + ENCODER_SLOT.size - 4)
                    with m.Else():
                        m.d.sync += field.eq(0)
                        fetch(1, "ENC_SHIFT", at=SHIFTS_OFFSET)
                with m.State("ENC_SHIFT"):
                    # byte `field` of the step-shift block (contiguous)
                    ereg(Reg.SHIFT0 + field, sh[24:])
                    m.d.sync += field.eq(field + 1)
                    with m.If(field + 1 < n_shift):
                        fetch(1, "ENC_SHIFT")
                    with m.Else():
                        m.next = "ENC_FEATURES"
            with m.State("ENC_FEATURES"):
                ereg(Reg.FEATURES, k)
                m.next = "ENC_REFILL"
            with m.State("ENC_REFILL"):
                m.d.comb += self.refill.eq(1 if table else ~no_bias)
                m.d.sync += [bad_model.eq(enc_T != steps), li.eq(0),
                             gbase.eq(0), n_in.eq(3 * k), pos.eq(LAYERS_OFFSET)]
                m.next = "LAYER"

            # ---------------- layers (n_out from the header, then the layer block
            # streamed in order: beta, flags, theta, biases, weights)
            with m.State("LAYER"):
                with m.If(li == n_layers):
                    m.next = "LOADED"
                with m.Else():
                    if packs:
                        fetch(1, "L_PACK", at=HEADER_AT["packed"])
                    else:
                        fetch(2, "L_SIZE", at=HEADER_AT["sizes"] + 2 * li)
            with m.State("L_PACK"):                         # the header's packed byte
                m.d.sync += pk.eq(sh[24:].bit_select(li, 1))
                fetch(2, "L_SIZE", at=HEADER_AT["sizes"] + 2 * li)
            with m.State("L_SIZE"):
                head = pos + LAYER_HEADER.size + 2 * sh[16:]
                m.d.sync += [n_out.eq(sh[16:]), groups.eq((sh[16:] + lanes - 1) >> lb),
                             wbase.eq((head + lanes - 1) >> lb)]
                fetch(4, "L_BETA", at=pos)                   # beta u16, flags u16
            with m.State("L_BETA"):
                m.d.sync += [beta.eq(sh[:16]), reset_zero.eq(sh[16])]
                fetch(LAYER_HEADER.size - 4, "L_THETA")     # theta u32
            with m.State("L_THETA"):
                m.d.sync += field.eq(0)
                m.next = "FIELDS"
            with m.State("FIELDS"):
                vals = [n_in, n_out, groups, wlog, gbase, beta, sh,
                        Cat(reset_zero, pk)]                            # REG_FIELDS
                with m.Switch(field):
                    for n, v in enumerate(vals):
                        with m.Case(n):
                            cfg(LAYER_REG_BASE | (li << 3) | n, v)
                m.d.sync += [field.eq(field + 1), i_cnt.eq(0), slot.eq(gbase << lb)]
                with m.If(field == len(vals) - 1):
                    with m.If(n_out == 0):
                        m.next = "LAYER_END"
                    with m.Elif(no_bias):
                        m.d.sync += [i_cnt.eq(0), row.eq(wlog)]
                        m.next = "SKIP"
                    with m.Else():
                        fetch(2, "BIAS")
            with m.State("BIAS"):
                cfg((REGION_BIAS << REGION_SHIFT) | slot, sh[16:].as_signed())
                m.d.sync += [i_cnt.eq(i_cnt + 1), slot.eq(slot + 1)]
                with m.If(i_cnt + 1 < n_out):
                    fetch(2, "BIAS")
                with m.Else():
                    m.d.sync += [i_cnt.eq(0), row.eq(wlog)]
                    m.next = "SKIP"
            with m.State("SKIP"):           # past the weight words: groups x n_in
                with m.If(i_cnt == groups):
                    end = Mux(pk, (row + 1) >> 1, row) if packs else row   # store words
                    m.d.sync += pos.eq(end << lb)
                    m.next = "LAYER_END"
                with m.Else():
                    m.d.sync += [row.eq(row + n_in), i_cnt.eq(i_cnt + 1)]
            with m.State("LAYER_END"):
                m.d.sync += [gbase.eq(gbase + groups), n_in.eq(n_out), li.eq(li + 1)]
                with m.If(li + 1 == n_layers):
                    m.d.sync += [self.n_last.eq(n_out), self.gbase_last.eq(gbase)]
                m.next = "LAYER"
            with m.State("LOADED"):
                m.next = "IDLE"
        return m
