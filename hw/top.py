"""The accelerator top level: UART host link + command engine + compute core.

::

    rx pin -> UARTRx -> CommandEngine -> UARTTx -> tx pin
                          |   (model store: 2 banks, feature buffer)
                          v
                        core: LIFCore (loader -> TrajectoryEncoder -> LIFNetwork,
                              read-back -> results record)   or StubCore_ (tests)

:class:`LIFCore` implements :class:`hw.link.CoreSignature`:

* ``load`` (after ``IMAGE_COMMIT`` / ``WRITE_ENCODER``): a loader reads the active bank
  of the store (image layout of :mod:`hw.protocol`) and writes the encoder registers
  (:class:`hw.encoder.rtl.Reg`; coefficient slot ``j`` of component ``c`` of the image's
  encoder block -> ``COEF0 + SLOTS_PER_COMP * c + j``), starts the encoder's table
  refill, then writes the LIF network's configuration exactly as
  :func:`hw.lif.rtl.config_writes` does (globals, per-layer fields with the layout of
  :class:`hw.lif.rtl.NetworkLayout`, biases, every weight).  The core is ``ready``
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

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .encoder.rtl import N_SLOTS, SLOTS_PER_COMP, Reg, TrajectoryEncoder
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
    ENCODER_FIXED,
    ENCODER_OFFSET,
    ENCODER_SLOT,
    ENCODER_SLOTS,
    FLAG_CORE_ERROR,
    FLAG_ENC_SAT,
    FLAG_MEM_SAT,
    LAYER_HEADER,
    LAYERS_OFFSET,
    Limits,
)
from .uart import UARTRx, UARTTx

__all__ = ["LIFCore", "DynalignTop", "lif_limits"]

assert SLOTS_PER_COMP == ENCODER_SLOTS and N_SLOTS == 3 * ENCODER_SLOTS

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
    store_addr_width, feat_addr_width : int   from the :class:`CommandEngine`
    code_format : QFormat    encoder code format (default CODE; narrower for small sims)
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
                              weight_width=weight_width, weight_ram=weight_ram)
        self.enc = TrajectoryEncoder(max_T=limits.max_samples,
                                     max_features=limits.max_features, lanes=1,
                                     code_format=code_format,
                                     integrator=not self.table,
                                     table_banks=2 if self.table else 1)
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
        in_shift = Signal(8)
        sizes = Array(Signal(16, name=f"size{i}") for i in range(L))
        bad_model = Signal()

        # ---- store reader: `nbytes` little-endian bytes at `addr` into `word` ---------------
        addr = Signal(32)
        word = Signal(32)
        nbytes = Signal(3)
        bcount = Signal(3)
        m.d.comb += bus.store_addr.eq(addr)

        # loader registers
        li = Signal(8)                       # layer index
        n_in = Signal(16)
        n_out = Signal(16)
        groups = Signal(16)
        wbase = Signal(24)
        gbase = Signal(16)
        row = Signal(24)                     # wbase + g * n_in of the current neuron
        i_cnt = Signal(16)
        j_cnt = Signal(16)
        beta = Signal(16)
        theta = Signal(32)
        slot = Signal(4)
        enc_T = Signal(8)

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

        def read(a, n, then):
            """Read n bytes at a (store), continue in state `then` with `word` loaded."""
            m.d.sync += [addr.eq(a), nbytes.eq(n), bcount.eq(0), word.eq(0)]
            m.d.sync += ret.eq(states[then])
            m.next = "RD"

        states = {}
        state_names = ["HDR_K", "HDR_T", "HDR_L", "HDR_SHIFT", "HDR_SIZE", "ENC_T",
                       "ENC_SYS", "ENC_STRIDE", "ENC_H1", "ENC_H2", "ENC_H6", "ENC_COEF",
                       "LAYER_BETA", "LAYER_THETA", "BIAS", "WEIGHT"]
        for n, name in enumerate(state_names):
            states[name] = n
        ret = Signal(range(len(state_names)))

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
        n_last = Signal(16)
        gbase_last = Signal(16)
        m.d.comb += bus.res_len.eq(8 + 8 * n_layers + 2 * n_last)

        # result byte `a`: 0..7 fixed, then words (spikes, saturations: 4 bytes each),
        # then output counts (2 bytes each)
        a = bus.res_addr
        off = Signal(16)
        cnt_off = Signal(16)
        m.d.comb += [off.eq(a - 8), cnt_off.eq(a - 8 - 8 * n_layers)]
        in_words = Signal()
        m.d.comb += in_words.eq(a < 8 + 8 * n_layers)
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
        rb_i = Signal(16)
        rb_wait = Signal(2)

        wt_base = LAYERS_OFFSET       # store address of the current layer block
        pos = Signal(32)              # running store address inside the layer blocks

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += bus.ready.eq(~enc.busy)
                with m.If(bus.load):
                    m.d.sync += bad_model.eq(0)
                    read(3, 1, "HDR_K")
                with m.Elif(bus.start):
                    m.d.sync += [cycles.eq(0), counting.eq(1), i_cnt.eq(0), rb_i.eq(0)]
                    m.d.comb += enc.clear.eq(1)
                    with m.If(bad_model | ~enc.table_valid):
                        m.d.sync += [flags.eq(FLAG_CORE_ERROR), cls.eq(0), counting.eq(0)]
                        m.next = "ZERO"
                    with m.Else():
                        m.next = "FEED"

            # generic multi-byte read (store data is one cycle after its address)
            with m.State("RD"):
                m.next = "RD2"
            with m.State("RD2"):
                m.d.sync += [word.eq(word | (bus.store_data << (8 * bcount)).as_unsigned()),
                             bcount.eq(bcount + 1), addr.eq(addr + 1)]
                with m.If(bcount + 1 == nbytes):
                    m.next = "DISPATCH"
                with m.Else():
                    m.next = "RD"
            with m.State("DISPATCH"):
                with m.Switch(ret):
                    for name, n in states.items():
                        with m.Case(n):
                            m.next = name

            # ---------------- loader: header
            with m.State("HDR_K"):
                m.d.sync += k.eq(word)
                read(4, 1, "HDR_T")
            with m.State("HDR_T"):
                m.d.sync += steps.eq(word)
                read(5, 1, "HDR_L")
            with m.State("HDR_L"):
                m.d.sync += [n_layers.eq(word), li.eq(0)]
                read(6, 1, "HDR_SHIFT")
            with m.State("HDR_SHIFT"):
                m.d.sync += in_shift.eq(word)
                read(16, 2, "HDR_SIZE")
            with m.State("HDR_SIZE"):
                m.d.sync += [sizes[li].eq(word), li.eq(li + 1)]
                with m.If(li + 1 < n_layers):
                    read(addr, 2, "HDR_SIZE")
                with m.Else():
                    m.next = "ENC_WAIT"

            # ---------------- loader: encoder registers
            with m.State("ENC_WAIT"):
                with m.If(~enc.busy):
                    read(ENCODER_OFFSET + 1, 1, "ENC_T")
            with m.State("ENC_T"):
                m.d.sync += enc_T.eq(word)
                ereg(Reg.SAMPLES, word)
                if self.table:          # the table came with the image: T and K only
                    m.next = "ENC_FEATURES"
                else:
                    read(ENCODER_OFFSET, 1, "ENC_SYS")
            with m.State("ENC_SYS"):
                ereg(Reg.SYSTEM, word)
                read(ENCODER_OFFSET + 2, 2, "ENC_STRIDE")
            with m.State("ENC_STRIDE"):
                ereg(Reg.STRIDE, word)
                read(ENCODER_OFFSET + 8, 4, "ENC_H1")
            with m.State("ENC_H1"):
                ereg(Reg.H1, word)
                read(addr, 4, "ENC_H2")
            with m.State("ENC_H2"):
                ereg(Reg.H2, word)
                read(addr, 4, "ENC_H6")
            with m.State("ENC_H6"):
                ereg(Reg.H6, word)
                m.d.sync += slot.eq(0)
                read(ENCODER_OFFSET + ENCODER_FIXED.size, 4, "ENC_COEF")
            with m.State("ENC_COEF"):
                ereg(Reg.COEF0 + slot, word)
                m.d.sync += slot.eq(slot + 1)
                with m.If(slot + 1 < N_SLOTS):
                    read(addr + ENCODER_SLOT.size - 4, 4, "ENC_COEF")
                with m.Else():
                    m.next = "ENC_FEATURES"
            with m.State("ENC_FEATURES"):
                ereg(Reg.FEATURES, k)
                m.next = "ENC_REFILL"
            with m.State("ENC_REFILL"):
                m.d.comb += enc.refill.eq(1)
                m.d.sync += bad_model.eq(enc_T != steps)
                m.next = "LIF_GLOBALS"

            # ---------------- loader: LIF globals and layers
            with m.State("LIF_GLOBALS"):
                cfg(0, n_layers)
                m.next = "LIF_G1"
            with m.State("LIF_G1"):
                cfg(1, steps)
                m.next = "LIF_G2"
            with m.State("LIF_G2"):
                cfg(2, 3 * k)
                m.next = "LIF_G3"
            with m.State("LIF_G3"):
                cfg(3, in_shift)
                m.d.sync += [li.eq(0), wbase.eq(0), gbase.eq(0), n_in.eq(3 * k),
                             pos.eq(wt_base)]
                m.next = "LAYER"
            with m.State("LAYER"):
                with m.If(li == n_layers):
                    m.next = "LOADED"
                with m.Else():
                    m.d.sync += [n_out.eq(sizes[li]),
                                 groups.eq((sizes[li] + lanes - 1) >> lb)]
                    read(pos, 2, "LAYER_BETA")
            with m.State("LAYER_BETA"):
                m.d.sync += beta.eq(word)
                read(pos + 4, 4, "LAYER_THETA")
            with m.State("LAYER_THETA"):
                m.d.sync += [theta.eq(word), slot.eq(0)]
                m.next = "FIELDS"
            with m.State("FIELDS"):
                vals = Array([n_in, n_out, groups, wbase, gbase, beta, theta])
                cfg(LAYER_REG_BASE + 8 * li + slot, vals[slot])
                m.d.sync += slot.eq(slot + 1)
                with m.If(slot == 6):
                    m.d.sync += i_cnt.eq(0)
                    with m.If(n_out == 0):
                        m.next = "LAYER_END"
                    with m.Else():
                        read(pos + LAYER_HEADER.size, 2, "BIAS")
            with m.State("BIAS"):
                cfg((REGION_BIAS << REGION_SHIFT) | ((gbase << lb) + i_cnt)[:REGION_SHIFT],
                    word[:16].as_signed())
                m.d.sync += i_cnt.eq(i_cnt + 1)
                with m.If(i_cnt + 1 < n_out):
                    read(addr, 2, "BIAS")
                with m.Else():
                    m.d.sync += [i_cnt.eq(0), j_cnt.eq(0), row.eq(wbase)]
                    read(addr, 1, "WEIGHT")
            with m.State("WEIGHT"):
                lane = i_cnt[:lb] if lb else Const(0, 1)
                waddr = (((row + j_cnt) << lb) | lane) if lb else (row + j_cnt)
                cfg((REGION_WEIGHT << REGION_SHIFT) | waddr, word[:8].as_signed())
                with m.If(j_cnt + 1 < n_in):
                    m.d.sync += j_cnt.eq(j_cnt + 1)
                    read(addr, 1, "WEIGHT")
                with m.Else():
                    m.d.sync += [j_cnt.eq(0), i_cnt.eq(i_cnt + 1)]
                    last_lane = ((i_cnt + 1)[:lb] == 0) if lb else Const(1, 1)
                    with m.If(last_lane):
                        m.d.sync += row.eq(row + n_in)
                    with m.If(i_cnt + 1 < n_out):
                        read(addr, 1, "WEIGHT")
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
        UART clock cycles per bit (``hw.uart.baud_divisor(clk_freq=..., baud=...)``).
    timeout_cycles : int
        Frame timeout (default: 64 bit times, ~6 bytes of silence).
    core : "lif" or "stub"
    code_format, weight_width, weight_ram : passed to :class:`LIFCore`.

    ``limits.core`` picks the core: :data:`~hw.protocol.CORE_LIF` (on-chip integrator)
    or :data:`~hw.protocol.CORE_LIF_TABLE` (serves the image's table block).
    """

    def __init__(self, *, limits: Limits, divisor: int, timeout_cycles: int | None = None,
                 core: str = "lif", code_format=CODE, weight_width=WEIGHT.width,
                 weight_ram="memory"):
        if core not in ("lif", "stub"):
            raise ValueError(f"core must be 'lif' or 'stub', not {core!r}")
        if timeout_cycles is None:
            timeout_cycles = max(16, 64 * divisor) if isinstance(divisor, int) else 16
        self.uart_rx = UARTRx(divisor=divisor)
        self.uart_tx = UARTTx(divisor=divisor)
        if core == "lif" and limits.core not in (CORE_LIF, CORE_LIF_TABLE):
            raise ValueError(f"limits for the LIF core must say core={CORE_LIF} or "
                             f"{CORE_LIF_TABLE} (use lif_limits)")
        self.engine = CommandEngine(limits=limits, timeout_cycles=timeout_cycles)
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
