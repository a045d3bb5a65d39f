"""The accelerator top level: UART host link + command engine + compute core.

::

    rx pin -> UARTRx -> CommandEngine -> UARTTx -> tx pin
                          |   (model store: 2 banks, feature buffer)
                          v
                        core: LIFCore (loader -> TrajectoryEncoder -> LIFNetwork,
                              read-back -> results record)   or StubCore_ (tests)

:class:`LIFCore` implements :class:`dynalign.hw.link.CoreSignature`:

* ``load`` (after ``IMAGE_COMMIT`` / ``WRITE_ENCODER``): a loader streams the active bank
  of the store (image layout of :mod:`dynalign.hw.protocol`; each field shifted into one 32-bit
  register, the layer blocks read in order, each layer's ``n_out`` from the header when
  its block starts) and writes the LIF network's globals, the encoder registers
  (:class:`dynalign.hw.encoder.regs.Reg`; coefficient slot ``j`` of component ``c`` of the image's
  encoder block -> ``COEF0 + SLOTS_PER_COMP * c + j``), starts the encoder's table
  refill, then writes the rest of the LIF configuration exactly as
  :func:`dynalign.hw.lif.rtl.config_writes` does (per-layer fields with the layout of
  :class:`dynalign.hw.lif.rtl.NetworkLayout`, biases, every weight).  The *table core*
  (``Limits.table``) has no integrator: the engine has already written the image's table
  block into the table server's shadow table bank (``tw_*``), so the loader sets only ``T``
  and ``K`` and the refill strobe commits the table of the now active bank.  The core is ``ready``
  again when the encoder's refill is done.  An image whose encoder T differs from the
  header's T is marked bad: ``RUN`` then answers at once with ``FLAG_CORE_ERROR`` (and
  zero counts) instead of starting a network that would wait for samples forever.
* ``start``: the K codes of the feature buffer go to the encoder; its samples stream
  into the network; when the class is valid the counters are read back into the
  results record (class, flags, L, n_out, cycles, spikes and saturations per layer,
  output spike counts).  ``cycles`` counts clock cycles from ``start`` to the class
  being valid (encoder lookup included): the latency of one inference.

:class:`DynalignTop` has two pins, ``rx`` and ``tx``; a board wrapper
(``constraints/boards.py``) connects them to the board's USB-serial UART.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .encoder.encoder import TrajectoryEncoder
from .encoder.regs import N_SLOTS, SLOTS_PER_COMP, Reg
from .encoder.server import TableServer
from .formats import CODE, WEIGHT
from .lif.rtl import (
    LAYER_REG_BASE,
    REGION_BIAS,
    REGION_SHIFT,
    REGION_WEIGHT,
    LIFNetwork,
    rd_count_addr,
    rd_stat_addr,
)
from .link import CommandEngine, CoreSignature, StubCore_
from .protocol import (
    CORE_LIF,
    CORE_LIF_TABLE,
    ENCODER_AT,
    ENCODER_FIXED,
    ENCODER_OFFSET,
    ENCODER_SLOT,
    ENCODER_SLOTS,
    FLAG_CORE_ERROR,
    FLAG_ENC_SAT,
    FLAG_MEM_SAT,
    HEADER_AT,
    LAYER_HEADER,
    LAYERS_OFFSET,
    RESULT_FIXED,
    Limits,
    result_len,
)
from .uart import UARTRx, UARTTx

__all__ = ["LIFCore", "DynalignTop", "lif_limits"]

assert SLOTS_PER_COMP == ENCODER_SLOTS and N_SLOTS == 3 * ENCODER_SLOTS
# the loader fetches K, T, L and in_shift as one 4-byte field; a layer header is beta u16,
# reserved u16, theta u32 (beta fetched alone, theta in the last four bytes)
assert [HEADER_AT[f] - HEADER_AT["k"] for f in ("k", "t", "n_layers", "in_shift")] == \
    [0, 1, 2, 3]
assert LAYER_HEADER.format.lstrip("<") == "HHI"

def _ceil_div(a, b):
    return -(-a // b)


def lif_limits(*, max_features, max_samples, max_sizes, lanes, max_payload=256,
               table=False) -> Limits:
    """Limits of a LIF top level; ``table=True``: the core serves the image's table
    block (no integrator on chip) -- :data:`~hw.protocol.CORE_LIF_TABLE`."""
    return Limits(max_features=max_features, max_samples=max_samples,
                  max_sizes=tuple(max_sizes), max_payload=max_payload,
                  core=CORE_LIF_TABLE if table else CORE_LIF, lanes=lanes)


class LIFCore(wiring.Component):
    """Encoder + LIF network behind the command engine (see the module docstring).

    Parameters (keyword-only)
    -------------------------
    limits : Limits      the elaborated maxima (``lanes`` taken from it)
    store_addr_width, feat_addr_width, table_addr_width : int   from the
        :class:`CommandEngine`
    code_format : QFormat    encoder code format (default CODE; narrower for small sims;
        a table core must use CODE: the table block has a row per CODE code)
    weight_width : int   stored weight bits (default WEIGHT.width)
    weight_ram : "memory" or "spram"
    """

    def __init__(self, *, limits: Limits, store_addr_width: int, feat_addr_width: int,
                 table_addr_width: int = 1, code_format=CODE, weight_width=WEIGHT.width,
                 weight_ram="memory"):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        if limits.table and code_format != CODE:
            raise ValueError("a table core serves the image's table block: its rows are "
                             f"the codes of {CODE}, so code_format must be CODE")
        self.limits = limits
        self.table = limits.table
        lanes = limits.lanes
        sizes = list(limits.max_sizes)
        max_in = 3 * limits.max_features
        dims_in = [max_in] + sizes[:-1]
        self.weight_words = sum(_ceil_div(o, lanes) * i for i, o in zip(dims_in, sizes))
        self.group_words = sum(_ceil_div(o, lanes) for o in sizes)
        self.lif = LIFNetwork(lanes=lanes, max_layers=limits.max_layers,
                              max_neurons=max(sizes), max_inputs=max_in,
                              weight_words=self.weight_words, group_words=self.group_words,
                              weight_width=weight_width, weight_ram=weight_ram,
                              max_steps=limits.max_samples, count_synops=False,
                              count_cycles=False)
        if self.table:
            self.enc = TableServer(max_T=limits.max_samples,
                                   max_features=limits.max_features, banks=2, fifo_depth=1)
        else:
            self.enc = TrajectoryEncoder(max_T=limits.max_samples,
                                         max_features=limits.max_features, lanes=1,
                                         code_format=code_format)
        self.code_format = code_format
        super().__init__({"bus": Out(CoreSignature(store_addr_width=store_addr_width,
                                                   feat_addr_width=feat_addr_width,
                                                   table_addr_width=table_addr_width))})

    def elaborate(self, platform):
        m = Module()
        lim = self.limits
        lanes = lim.lanes
        lb = lanes.bit_length() - 1
        L = lim.max_layers
        bus = self.bus
        m.submodules.lif = lif = self.lif
        m.submodules.enc = enc = self.enc
        # the table server's commit is immediate: it is never busy
        enc_busy = Const(0, 1) if self.table else enc.busy

        # encoder samples -> network
        m.d.comb += [lif.i.payload.eq(enc.o_samples.payload.samples[0]),
                     lif.i.valid.eq(enc.o_samples.valid),
                     enc.o_samples.ready.eq(lif.i.ready)]
        if self.table:
            # the engine's table writes (shadow bank) and the active bank -> encoder;
            # a sample's word address is Cat(row, 3 t + c), a flag's is the row
            cw = CODE.width
            m.d.comb += [enc.bank.eq(bus.bank), enc.tw_en.eq(bus.tw_en),
                         enc.tw_flag.eq(bus.tw_sat),
                         enc.tw_code.eq(bus.tw_addr[:cw] ^ (1 << (cw - 1))),
                         enc.tw_index.eq(bus.tw_addr[cw:]),
                         enc.tw_data.eq(bus.tw_data), enc.tw_sat.eq(bus.tw_data[0])]

        # ---- model registers (from the store) ------------------------------------------
        k = Signal(8)
        steps = Signal(8)
        n_layers = Signal(range(L + 1))
        bad_model = Signal()

        # ---- store stream: `fetch(n, then)` reads n bytes from `addr` on (one byte per
        # two cycles: the store's data follows its address), shifting each into the top of
        # `sh` (so an n-byte little-endian field ends up in sh[32 - 8n:]), then goes on in
        # state `then` with `addr` just past the field
        aw = len(bus.store_addr)
        addr = Signal(aw)
        sh = Signal(32)
        left = Signal(3)
        m.d.comb += bus.store_addr.eq(addr)

        # loader registers, as wide as the network's own fields
        lif_ = self.lif
        nw = max(lif_.max_inputs, lif_.max_neurons).bit_length()
        li = Signal(range(L + 1))            # layer index
        n_in = Signal(nw)
        n_out = Signal(nw)
        groups = Signal(nw)
        wbase = Signal(lif_.weight_words.bit_length())
        gbase = Signal(lif_.group_words.bit_length())
        row = Signal.like(wbase)             # wbase + g * n_in of the current group
        wj = Signal.like(wbase)              # row + j: the current weight's word
        slot = Signal(range(lif_.group_words * lanes + 1))   # the current bias's slot
        i_cnt = Signal(nw)
        j_cnt = Signal(nw)
        beta = Signal(16)
        field = Signal(range(N_SLOTS + 1))     # LIF global, layer field or coefficient slot
        enc_T = Signal(8)
        pos = Signal(aw)                     # store address of the next layer block

        cfg_addr = Signal(24)
        cfg_data = Signal(32)
        cfg_we = Signal()
        m.d.comb += [lif.cfg.addr.eq(cfg_addr), lif.cfg.data.eq(cfg_data),
                     lif.cfg.we.eq(cfg_we)]
        m.d.sync += cfg_we.eq(0)
        ereg_we = Signal()
        ereg_addr = Signal(enc.reg_addr.shape())
        ereg_data = Signal(32)
        m.d.comb += [enc.reg_we.eq(ereg_we), enc.reg_addr.eq(ereg_addr),
                     enc.reg_data.eq(ereg_data)]
        m.d.sync += ereg_we.eq(0)

        def cfg(a, d):
            m.d.sync += [cfg_addr.eq(a), cfg_data.eq(d), cfg_we.eq(1)]

        def ereg(a, d):
            m.d.sync += [ereg_addr.eq(a), ereg_data.eq(d), ereg_we.eq(1)]

        state_names = ["HDR", "ENC_T", "L_SIZE", "L_BETA", "L_THETA", "BIAS", "WEIGHT"]
        if not self.table:
            state_names += ["ENC_SYS", "ENC_STRIDE", "ENC_H1", "ENC_H2", "ENC_H6",
                            "ENC_COEF"]
        states = {name: n for n, name in enumerate(state_names)}
        ret = Signal(range(len(state_names)))

        def fetch(n, then, at=None):
            if at is not None:
                m.d.sync += addr.eq(at)
            m.d.sync += [left.eq(n - 1), ret.eq(states[then])]
            m.next = "RD"

        # results
        cls = Signal(8)
        flags = Signal(8)
        cycles = Signal(32)
        counting = Signal()
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        n_res_words = 2 * L + max(lim.max_sizes)
        m.submodules.resw = resw = Memory(shape=32, depth=n_res_words, init=[])
        resw_w = resw.write_port()
        resw_r = resw.read_port()
        n_last = Signal.like(n_out)
        gbase_last = Signal.like(gbase)
        m.d.comb += bus.res_len.eq(result_len(n_layers, n_last))

        # result byte `a`: 0..7 fixed, then words (spikes, saturations: 4 bytes each),
        # then output counts (2 bytes each)
        res_bits = result_len(L, max(lim.max_sizes)).bit_length()
        a = bus.res_addr[:res_bits]          # the record is never longer than that
        off = Signal(res_bits)
        cnt_off = Signal(res_bits)
        m.d.comb += [off.eq(a - RESULT_FIXED.size),
                     cnt_off.eq(a - result_len(n_layers, 0))]
        in_words = Signal()
        m.d.comb += in_words.eq(a < result_len(n_layers, 0))
        m.d.comb += resw_r.addr.eq(Mux(in_words, off[2:], 2 * n_layers + cnt_off[1:]))
        sel = Signal(2)
        fixed_sel = Signal(3)
        region = Signal(2)
        m.d.sync += [sel.eq(Mux(in_words, off[:2], cnt_off[0])), fixed_sel.eq(a[:3]),
                     region.eq(Mux(a < 8, 0, Mux(in_words, 1, 2)))]
        fixed = Array([cls, flags, n_layers, n_last[:8], cycles[:8], cycles[8:16],
                       cycles[16:24], cycles[24:]])
        with m.Switch(region):
            with m.Case(0):
                m.d.comb += bus.res_data.eq(fixed[fixed_sel])
            with m.Default():
                m.d.comb += bus.res_data.eq(resw_r.data.word_select(sel, 8))

        # read-back
        rb_i = Signal(range(n_res_words + 1))
        rb_wait = Signal(2)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += bus.ready.eq(~enc_busy)
                with m.If(bus.load):
                    m.d.sync += bad_model.eq(0)
                    fetch(4, "HDR", at=HEADER_AT["k"])    # K, T, L, in_shift
                with m.Elif(bus.start):
                    m.d.sync += [cycles.eq(0), counting.eq(1), i_cnt.eq(0), rb_i.eq(0)]
                    m.d.comb += enc.clear.eq(1)
                    with m.If(bad_model | ~enc.table_valid):
                        m.d.sync += [flags.eq(FLAG_CORE_ERROR), cls.eq(0), counting.eq(0)]
                        m.next = "ZERO"
                    with m.Else():
                        m.next = "FEED"

            with m.State("RD"):
                m.next = "RD2"
            with m.State("RD2"):
                m.d.sync += [sh.eq(Cat(sh[8:], bus.store_data)), addr.eq(addr + 1),
                             left.eq(left - 1)]
                with m.If(left == 0):
                    with m.Switch(ret):
                        for name, n in states.items():
                            with m.Case(n):
                                m.next = name
                with m.Else():
                    m.next = "RD"

            # ---------------- loader: header -> LIF globals
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

            # ---------------- loader: encoder registers
            with m.State("ENC_WAIT"):
                with m.If(~enc_busy):
                    fetch(1, "ENC_T", at=ENCODER_OFFSET + ENCODER_AT["samples"])
            with m.State("ENC_T"):
                m.d.sync += enc_T.eq(sh[24:])
                ereg(Reg.SAMPLES, sh[24:])
                if self.table:          # the table came with the image: T and K only
                    m.next = "ENC_FEATURES"
                else:
                    fetch(1, "ENC_SYS", at=ENCODER_OFFSET + ENCODER_AT["system"])
            if not self.table:
                with m.State("ENC_SYS"):
                    ereg(Reg.SYSTEM, sh[24:])
                    fetch(2, "ENC_STRIDE", at=ENCODER_OFFSET + ENCODER_AT["stride"])
                with m.State("ENC_STRIDE"):
                    ereg(Reg.STRIDE, sh[16:])
                    fetch(4, "ENC_H1", at=ENCODER_OFFSET + ENCODER_AT["h1"])
                with m.State("ENC_H1"):
                    ereg(Reg.H1, sh)
                    fetch(4, "ENC_H2")
                with m.State("ENC_H2"):
                    ereg(Reg.H2, sh)
                    fetch(4, "ENC_H6")
                with m.State("ENC_H6"):
                    ereg(Reg.H6, sh)
                    m.d.sync += field.eq(0)
                    fetch(4, "ENC_COEF", at=ENCODER_OFFSET + ENCODER_FIXED.size)
                with m.State("ENC_COEF"):
                    # slot `field` of N_SLOTS: coef int32, then its term byte (skipped)
                    ereg(Reg.COEF0 + field, sh)
                    m.d.sync += field.eq(field + 1)
                    with m.If(field + 1 < N_SLOTS):
                        fetch(4, "ENC_COEF", at=addr + ENCODER_SLOT.size - 4)
                    with m.Else():
                        m.next = "ENC_FEATURES"
            with m.State("ENC_FEATURES"):
                ereg(Reg.FEATURES, k)
                m.next = "ENC_REFILL"
            with m.State("ENC_REFILL"):
                m.d.comb += enc.refill.eq(1)
                m.d.sync += [bad_model.eq(enc_T != steps), li.eq(0), wbase.eq(0),
                             gbase.eq(0), n_in.eq(3 * k), pos.eq(LAYERS_OFFSET)]
                m.next = "LAYER"

            # ---------------- loader: layers (n_out from the header, then the layer
            # block streamed in order: beta, reserved, theta, biases, weights)
            with m.State("LAYER"):
                with m.If(li == n_layers):
                    m.next = "LOADED"
                with m.Else():
                    fetch(2, "L_SIZE", at=HEADER_AT["sizes"] + 2 * li)
            with m.State("L_SIZE"):
                m.d.sync += [n_out.eq(sh[16:]), groups.eq((sh[16:] + lanes - 1) >> lb)]
                fetch(2, "L_BETA", at=pos)
            with m.State("L_BETA"):
                m.d.sync += beta.eq(sh[16:])
                fetch(LAYER_HEADER.size - 2, "L_THETA")     # reserved u16, theta u32
            with m.State("L_THETA"):
                m.d.sync += field.eq(0)
                m.next = "FIELDS"
            with m.State("FIELDS"):
                vals = [n_in, n_out, groups, wbase, gbase, beta, sh]      # REG_FIELDS
                with m.Switch(field):
                    for n, v in enumerate(vals):
                        with m.Case(n):
                            cfg(LAYER_REG_BASE | (li << 3) | n, v)
                m.d.sync += [field.eq(field + 1), i_cnt.eq(0), slot.eq(gbase << lb)]
                with m.If(field == len(vals) - 1):
                    with m.If(n_out == 0):
                        m.next = "LAYER_END"
                    with m.Else():
                        fetch(2, "BIAS")
            with m.State("BIAS"):
                cfg((REGION_BIAS << REGION_SHIFT) | slot, sh[16:].as_signed())
                m.d.sync += [i_cnt.eq(i_cnt + 1), slot.eq(slot + 1)]
                with m.If(i_cnt + 1 < n_out):
                    fetch(2, "BIAS")
                with m.Else():
                    m.d.sync += [i_cnt.eq(0), j_cnt.eq(0), row.eq(wbase), wj.eq(wbase)]
                    fetch(1, "WEIGHT")
            with m.State("WEIGHT"):
                lane = i_cnt[:lb] if lb else Const(0, 1)
                waddr = Cat(lane, wj) if lb else wj
                cfg((REGION_WEIGHT << REGION_SHIFT) | waddr, sh[24:].as_signed())
                with m.If(j_cnt + 1 < n_in):
                    m.d.sync += [j_cnt.eq(j_cnt + 1), wj.eq(wj + 1)]
                    fetch(1, "WEIGHT")
                with m.Else():
                    m.d.sync += [j_cnt.eq(0), i_cnt.eq(i_cnt + 1)]
                    last_lane = ((i_cnt + 1)[:lb] == 0) if lb else Const(1, 1)
                    with m.If(last_lane):               # the group is complete
                        m.d.sync += [row.eq(row + n_in), wj.eq(row + n_in)]
                    with m.Else():
                        m.d.sync += wj.eq(row)
                    with m.If(i_cnt + 1 < n_out):
                        fetch(1, "WEIGHT")
                    with m.Else():
                        m.d.sync += pos.eq(addr)
                        m.next = "LAYER_END"
            with m.State("LAYER_END"):
                # row = wbase + (complete groups) x n_in; a partial last group adds one
                partial = (n_out[:lb] != 0) if lb else Const(0, 1)
                m.d.sync += [wbase.eq(row + Mux(partial, n_in, 0)), gbase.eq(gbase + groups),
                             n_in.eq(n_out), li.eq(li + 1)]
                with m.If(li + 1 == n_layers):
                    m.d.sync += [n_last.eq(n_out), gbase_last.eq(gbase)]
                m.next = "LAYER"
            with m.State("LOADED"):
                m.next = "IDLE"


            # ---------------- run
            with m.State("FEED"):
                m.d.comb += bus.feat_addr.eq(i_cnt)
                m.next = "FEED2"
            with m.State("FEED2"):
                m.d.comb += [bus.feat_addr.eq(i_cnt),
                             enc.i_codes.valid.eq(1),
                             enc.i_codes.payload.code.eq(bus.feat_data.as_signed())]
                with m.If(enc.i_codes.ready):
                    m.d.sync += i_cnt.eq(i_cnt + 1)
                    with m.If(i_cnt + 1 == k):
                        m.next = "WAIT_CLASS"
                    with m.Else():
                        m.next = "FEED"
            with m.State("WAIT_CLASS"):
                with m.If(lif.o.valid):
                    m.d.sync += [cls.eq(lif.o.payload), counting.eq(0), rb_i.eq(0),
                                 rb_wait.eq(0),
                                 flags.eq(Mux(enc.sat, FLAG_ENC_SAT, 0)
                                          | Mux(enc.error != 0, FLAG_CORE_ERROR, 0))]
                    m.next = "READBACK"
            with m.State("READBACK"):
                # address of result word rb_i: spikes (0..L-1), saturations (L..2L-1),
                # output counts (2L..)
                lay = Signal(8)
                m.d.comb += lay.eq(Mux(rb_i < n_layers, rb_i, rb_i - n_layers))
                stat_sp = Signal(16)
                stat_sat = Signal(16)
                m.d.comb += [stat_sp.eq(rd_stat_addr(0, "spikes") + 4 * lay),
                             stat_sat.eq(rd_stat_addr(0, "saturations") + 4 * lay)]
                m.d.comb += lif.rd_addr.eq(
                    Mux(rb_i < n_layers, stat_sp,
                        Mux(rb_i < 2 * n_layers, stat_sat,
                            rd_count_addr(0) + (gbase_last << lb) + rb_i - 2 * n_layers)))
                m.d.sync += rb_wait.eq(rb_wait + 1)
                with m.If(rb_wait == 2):
                    m.d.comb += [resw_w.addr.eq(rb_i), resw_w.data.eq(lif.rd_data),
                                 resw_w.en.eq(1)]
                    with m.If((rb_i >= n_layers) & (rb_i < 2 * n_layers)
                              & (lif.rd_data != 0)):
                        m.d.sync += flags.eq(flags | FLAG_MEM_SAT)
                    m.d.sync += [rb_wait.eq(0), rb_i.eq(rb_i + 1)]
                    with m.If(rb_i + 1 == 2 * n_layers + n_last):
                        m.next = "POP"
            with m.State("POP"):
                m.d.comb += lif.o.ready.eq(1)
                m.next = "DONE"
            with m.State("ZERO"):
                m.d.comb += [resw_w.addr.eq(rb_i), resw_w.data.eq(0), resw_w.en.eq(1)]
                m.d.sync += rb_i.eq(rb_i + 1)
                with m.If(rb_i + 1 >= n_res_words):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += bus.done.eq(1)
                m.next = "IDLE"
        return m


class DynalignTop(wiring.Component):
    """The accelerator: ``rx`` / ``tx`` UART pins in, everything else inside.

    Parameters (keyword-only)
    -------------------------
    limits : Limits
        Elaborated maxima (``lanes`` of the LIF engine included).
    divisor : int
        UART clock cycles per bit (``dynalign.hw.uart.baud_divisor(clk_freq=..., baud=...)``).
    timeout_cycles : int
        Frame timeout (default: 64 bit times, ~6 bytes of silence).
    core : "lif" or "stub"
    code_format, weight_width, weight_ram : passed to :class:`LIFCore`.
    store_ram : passed to :class:`dynalign.hw.link.CommandEngine` (the model store).

    ``limits.core`` picks the core: :data:`~hw.protocol.CORE_LIF` (on-chip integrator)
    or :data:`~hw.protocol.CORE_LIF_TABLE` (serves the image's table block).
    """

    def __init__(self, *, limits: Limits, divisor: int, timeout_cycles: int | None = None,
                 core: str = "lif", code_format=CODE, weight_width=WEIGHT.width,
                 weight_ram="memory", store_ram="auto"):
        if core not in ("lif", "stub"):
            raise ValueError(f"core must be 'lif' or 'stub', not {core!r}")
        if timeout_cycles is None:
            timeout_cycles = max(16, 64 * divisor) if isinstance(divisor, int) else 16
        self.uart_rx = UARTRx(divisor=divisor)
        self.uart_tx = UARTTx(divisor=divisor)
        if core == "lif" and limits.core not in (CORE_LIF, CORE_LIF_TABLE):
            raise ValueError(f"limits for the LIF core must say core={CORE_LIF} or "
                             f"{CORE_LIF_TABLE} (use lif_limits)")
        self.engine = CommandEngine(limits=limits, timeout_cycles=timeout_cycles,
                                    store_ram=store_ram)
        if core == "lif":
            self.core = LIFCore(limits=limits, store_addr_width=self.engine.store_aw,
                                feat_addr_width=self.engine.feat_aw,
                                table_addr_width=self.engine.table_aw,
                                code_format=code_format, weight_width=weight_width,
                                weight_ram=weight_ram)
        else:
            self.core = StubCore_(store_addr_width=self.engine.store_aw,
                                  feat_addr_width=self.engine.feat_aw,
                                  table_addr_width=self.engine.table_aw)
        self.limits = limits
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = self.uart_rx
        m.submodules.uart_tx = tx = self.uart_tx
        m.submodules.engine = eng = self.engine
        m.submodules.core = core = self.core
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     eng.rx_framing_error.eq(rx.framing_error)]
        wiring.connect(m, rx.o, eng.rx)
        wiring.connect(m, eng.tx, tx.i)
        wiring.connect(m, eng.core, core.bus)
        return m
