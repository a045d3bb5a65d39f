"""The accelerator top level: UART host link + command engine + compute core.

::

    rx pin -> UARTRx -> CommandEngine -> UARTTx -> tx pin
                          |   (model store: 2 banks, feature buffer)
                          v
                        core: LIFCore (ImageLoader -> TrajectoryEncoder / TableServer
                              -> LIFNetwork, RunSequencer -> ResultsRecord)
                              or StubCore (tests)

:class:`LIFCore` implements :class:`dynalign.hw.engine.CoreSignature` with three blocks
(:mod:`dynalign.hw.core`) around the encoder and the network:

* the weights stay where they were uploaded: the LIF network
  (``weight_ram="external"``) reads its weight words from the active bank of the model
  store through the core's store port (words of ``lanes`` bytes, the image laid out in
  them), and the loader reads the same port a byte at a time while it loads.
* ``load`` (after ``IMAGE_COMMIT``, ``SELECT`` / ``WRITE_ENCODER``): the loader
  (:class:`dynalign.hw.core.loader.ImageLoader`) streams the active bank of the store
  (image layout of :mod:`dynalign.hw.wire`; each field shifted into one 32-bit
  register, the layer blocks read in order, each layer's ``n_out`` from the header when
  its block starts) and writes the LIF network's globals, the encoder registers
  (:class:`dynalign.hw.encoder.regs.Reg`; coefficient slot ``j`` of the image's encoder
  block -> ``COEF0 + j``), starts the encoder's
  table refill (an integrating encoder keeps one table per resident model, ``banks=2``,
  and serves the active bank's: a ``SELECT`` writes ``K`` and starts no refill), then
  writes the rest of the LIF configuration as
  :func:`dynalign.hw.lif.rtl.config_writes` does with ``wbase`` = each layer's weight
  words in the store (per-layer fields, biases into the bias set of the active bank; a
  ``SELECT`` writes no bias: the network holds both banks' biases, ``bias_banks=2``), and
  no weight.  The *table core*
  (``Limits.table``) has no integrator: its encoder is a
  :class:`dynalign.hw.encoder.server.TableServer`; the engine has already written the
  image's table block into the table bank of the upload's store bank (``tw_*``, two
  tables resident), so the loader sets only ``T`` and ``K`` and the refill strobe
  commits the table of the now active bank (a ``SELECT`` costs no table work).  The
  integrating core has a table per bank too (``TrajectoryEncoder(banks=2)``): a commit
  or ``WRITE_ENCODER`` rebuilds the active bank's, a ``SELECT`` rebuilds none (the block
  RAM of a second table bought a ``SELECT`` as cheap as the table core's).  The core is
  ``ready`` again when the encoder's refill is done.  An image whose encoder T
  differs from the header's T is marked bad: ``RUN`` then answers at once with
  ``FLAG_CORE_ERROR`` (and zero counts) instead of starting a network that would wait
  for samples forever.
* ``start`` (:class:`dynalign.hw.core.run.RunSequencer`): the K codes of the feature
  buffer go to the encoder; its samples stream into the network; when the class is
  valid the counters are read back into the results record
  (:class:`dynalign.hw.core.record.ResultsRecord`: class, flags, L, n_out, cycles,
  spikes and saturations per layer, output spike counts).  ``cycles`` counts clock
  cycles from ``start`` to the class being valid (encoder lookup included): the latency
  of one inference, exactly :func:`dynalign.hw.core.cycles.ref_device_cycles` (the
  schedule constants in :mod:`dynalign.hw.core.schedule`,
  :mod:`dynalign.hw.encoder.schedule` and :mod:`dynalign.hw.lif.schedule`).

:class:`DynalignTop` has two pins, ``rx`` and ``tx``; a board wrapper
(``constraints/boards.py``) connects them to the board's USB-serial UART.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .core.layout import CoreLayout
from .core.loader import ImageLoader
from .core.record import ResultsRecord
from .core.run import RunSequencer
from .core.schedule import TABLE_FIFO_DEPTH
from .encoder.encoder import TrajectoryEncoder
from .encoder.server import TableServer
from .engine import CommandEngine, CoreSignature, StubCore
from .formats import CODE, WEIGHT
from .lif.rtl import LIFNetwork
from .uart import UARTRx, UARTTx
from .wire import CORE_LIF, CORE_LIF_TABLE, Limits

__all__ = ["LIFCore", "DynalignTop", "lif_limits"]


def _ceil_div(a, b):
    return -(-a // b)


def lif_limits(*, max_features, max_samples, max_sizes, lanes, max_payload=256,
               table=False, queue=0, packed=False, bank_bytes=0) -> Limits:
    """Limits of a LIF top level; ``table=True``: the core serves the image's table
    block (no integrator on chip) -- :data:`~dynalign.hw.wire.CORE_LIF_TABLE`;
    ``queue``: bytes of the link's receive and transmit queues (0: none); ``packed``:
    the core takes layers of 4-bit weights, two to a byte; ``bank_bytes``: one bank of
    the model store (0: the largest image of these sizes at 8 bits)."""
    return Limits(max_features=max_features, max_samples=max_samples,
                  max_sizes=tuple(max_sizes), max_payload=max_payload,
                  core=CORE_LIF_TABLE if table else CORE_LIF, lanes=lanes, queue=queue,
                  packed=packed, bank_bytes=bank_bytes)


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

    The weights have no memory of their own: the network reads them in the model store.
    """

    def __init__(self, *, limits: Limits, store_addr_width: int, feat_addr_width: int,
                 table_addr_width: int = 1, code_format=CODE, weight_width=WEIGHT.width):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {limits!r}")
        if limits.table and code_format != CODE:
            raise ValueError("a table core serves the image's table block: its rows are "
                             f"the codes of {CODE}, so code_format must be CODE")
        self.limits = limits
        self.table = limits.table
        lanes = limits.lanes
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes}")
        sizes = list(limits.max_sizes)
        max_in = 3 * limits.max_features
        # the weights stay in the store bank they were uploaded into: the network reads
        # its weight words there (word addresses of one bank)
        self.weight_words = _ceil_div(limits.bank_bytes, lanes)
        self.group_words = sum(_ceil_div(o, lanes) for o in sizes)
        self.lif = LIFNetwork(lanes=lanes, max_layers=limits.max_layers,
                              max_neurons=max(sizes), max_inputs=max_in,
                              weight_words=self.weight_words, group_words=self.group_words,
                              weight_width=weight_width, weight_ram="external",
                              max_steps=limits.max_samples, count_synops=False,
                              count_cycles=False, bias_banks=2,
                              packed_weights=limits.packed)
        if self.table:
            self.enc = TableServer(max_T=limits.max_samples,
                                   max_features=limits.max_features, code_format=code_format,
                                   banks=2, fifo_depth=TABLE_FIFO_DEPTH)
        else:
            # one trajectory table per resident model: a SELECT serves the other table,
            # no refill
            self.enc = TrajectoryEncoder(max_T=limits.max_samples,
                                         max_features=limits.max_features, lanes=1,
                                         code_format=code_format, banks=2)
        self.code_format = code_format
        self.lane_bits = lanes.bit_length() - 1
        self.layout = CoreLayout(limits=limits,
                                 store_addr_width=store_addr_width + self.lane_bits,
                                 feat_addr_width=feat_addr_width,
                                 code_width=code_format.width, max_inputs=max_in,
                                 max_neurons=max(sizes), weight_words=self.weight_words,
                                 group_words=self.group_words,
                                 cls_width=self.lif.cls_width)
        super().__init__({"bus": Out(CoreSignature(store_addr_width=store_addr_width,
                                                   feat_addr_width=feat_addr_width,
                                                   table_addr_width=table_addr_width,
                                                   lanes=lanes))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        lb = self.lane_bits
        m.submodules.lif = lif = self.lif
        m.submodules.enc = enc = self.enc
        m.submodules.loader = loader = ImageLoader(layout=self.layout)
        m.submodules.run = run = RunSequencer(layout=self.layout)
        m.submodules.record = record = ResultsRecord(layout=self.layout)

        # encoder samples -> network
        m.d.comb += [lif.i.payload.eq(enc.o_samples.payload.samples[0]),
                     lif.i.valid.eq(enc.o_samples.valid),
                     enc.o_samples.ready.eq(lif.i.ready)]
        if self.table:
            # the engine's table writes (shadow bank) and the active bank -> table server;
            # a sample's word address is Cat(row, 3 t + c), a flag's is the row
            cw = CODE.width
            m.d.comb += [enc.bank.eq(bus.bank), enc.tw_en.eq(bus.tw_en),
                         enc.tw_bank.eq(bus.tw_bank),
                         enc.tw_flag.eq(bus.tw_is_flag),
                         enc.tw_code.eq(bus.tw_addr[:cw] ^ (1 << (cw - 1))),
                         enc.tw_index.eq(bus.tw_addr[cw:]),
                         enc.tw_data.eq(bus.tw_data), enc.tw_sat.eq(bus.tw_data[0])]
        else:
            m.d.comb += enc.bank.eq(bus.bank)       # the table of the model served
        # the table server's commit is immediate: it is never busy
        enc_busy = Const(0, 1) if self.table else enc.busy

        # one of load / start at a time, load first, only while both blocks are idle
        idle = Signal()
        m.d.comb += [idle.eq(loader.idle & run.idle),
                     bus.ready.eq(idle & ~enc_busy),
                     loader.load.eq(idle & bus.load), loader.select.eq(bus.select),
                     run.start.eq(idle & ~bus.load & bus.start)]

        # the store's read port: the loader's bytes while it loads, else the network's
        # weight words (it reads them only while it runs)
        lane = Signal(max(lb, 1))           # the lane of the byte the loader reads
        if lb:
            m.d.sync += lane.eq(loader.store_addr[:lb])
        m.d.comb += [bus.store_addr.eq(Mux(loader.idle, lif.w_addr,
                                           loader.store_addr[lb:])),
                     loader.store_data.eq(bus.store_data.word_select(lane, 8) if lb
                                          else bus.store_data),
                     lif.w_data.eq(bus.store_data)]

        # loader: store -> LIF configuration, encoder registers
        wiring.connect(m, loader.cfg, lif.cfg)
        m.d.comb += [lif.bias_bank.eq(bus.bank), loader.enc_busy.eq(enc_busy),
                     enc.reg_we.eq(loader.reg_we), enc.reg_addr.eq(loader.reg_addr),
                     enc.reg_data.eq(loader.reg_data), enc.refill.eq(loader.refill)]

        # run: features -> encoder, class and counters -> record
        wiring.connect(m, run.codes, enc.i_codes)
        wiring.connect(m, lif.o, run.lif_cls)
        m.d.comb += [run.bad_model.eq(loader.bad_model), run.k.eq(loader.k),
                     run.n_layers.eq(loader.n_layers), run.n_last.eq(loader.n_last),
                     run.gbase_last.eq(loader.gbase_last),
                     bus.feat_addr.eq(run.feat_addr), run.feat_data.eq(bus.feat_data),
                     enc.clear.eq(run.enc_clear), run.enc_table_valid.eq(enc.table_valid),
                     run.enc_sat.eq(enc.sat), run.enc_error.eq(enc.error),
                     lif.rd_addr.eq(run.rd_addr), run.rd_data.eq(lif.rd_data),
                     bus.done.eq(run.done)]

        # record: written by the run, read by the engine
        m.d.comb += [record.w_en.eq(run.w_en), record.w_addr.eq(run.w_addr),
                     record.w_data.eq(run.w_data), record.cls.eq(run.cls),
                     record.flags.eq(run.flags), record.cycles.eq(run.cycles),
                     record.n_layers.eq(loader.n_layers), record.n_last.eq(loader.n_last),
                     record.res_addr.eq(bus.res_addr), bus.res_data.eq(record.res_data),
                     bus.res_len.eq(record.res_len), bus.brief_len.eq(record.brief_len)]
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
    code_format, weight_width : passed to :class:`LIFCore`.
    store_ram : passed to :class:`dynalign.hw.engine.CommandEngine` (the model store).

    ``limits.core`` picks the core: :data:`~dynalign.hw.wire.CORE_LIF` (on-chip integrator)
    or :data:`~dynalign.hw.wire.CORE_LIF_TABLE` (serves the image's table block).
    """

    def __init__(self, *, limits: Limits, divisor: int, timeout_cycles: int | None = None,
                 core: str = "lif", code_format=CODE, weight_width=WEIGHT.width,
                 store_ram="auto"):
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
                                code_format=code_format, weight_width=weight_width)
        else:
            self.core = StubCore(store_addr_width=self.engine.store_aw,
                                 feat_addr_width=self.engine.feat_aw,
                                 table_addr_width=self.engine.table_aw, lanes=limits.lanes)
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
                     eng.rx_framing_error.eq(rx.framing_error),
                     eng.rx_overrun.eq(rx.overrun)]
        wiring.connect(m, rx.o, eng.rx)
        wiring.connect(m, eng.tx, tx.i)
        wiring.connect(m, eng.core, core.bus)
        return m
