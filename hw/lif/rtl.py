"""Event-driven LIF network in Amaranth: one shared datapath of ``lanes`` neuron lanes.

The integer equations are those of :mod:`dynalign.hw.lif.ref` (``v = sat_MEM(round_shift(beta * v,
8) + I + bias)``, spike when ``v >= theta``, subtract ``theta``); this module only
schedules them.

Organisation
------------
* Neurons of a layer are processed in *groups* of ``lanes`` (neuron ``i`` is lane
  ``i % lanes`` of group ``i // lanes``); every memory word holds one group.
* **Active lists.**  Layer 1's inputs are the non-zero activations
  ``a = sat_ACT(round_shift(sample, in_shift))`` of one time step, written as
  ``(index, a)`` entries by the input loader into one of two banks (the loader
  fills step ``t+1`` while the engine works on step ``t``).  A deeper layer's inputs are
  the indices of the previous layer's spikes in that step (value 1), written by the
  spike serialiser into one of two ping-pong banks.
* **Engine.**  For each layer, for each group ``g``, for each active entry ``(j, a)``:
  ``acc[k] += W[g*lanes+k, j] * a`` (one entry per cycle, all lanes at once); after the
  group's last entry the group is *finalised* (leak, bias, saturation, threshold, reset,
  count) in a pipeline while the next group accumulates.  A layer step therefore costs
  ``groups x max(active, 1)`` cycles plus a drain (``DRAIN`` = 10 cycles,
  :mod:`dynalign.hw.lif.schedule`, and the serialisation of the last group's spikes),
  against the bound ``ceil(active x n_out / lanes)``; the exact count is
  :func:`dynalign.hw.lif.cycles.ref_cycles`.  An empty list still finalises every group
  (one dummy entry of value 0 per group).
* **Memories** (``amaranth.lib.memory.Memory``): weights (word = ``lanes`` weights,
  address ``wbase_l + g * n_in + j``; :class:`~dynalign.hw.lif.weights.WeightRAM`),
  biases and state (membrane + per-neuron spike count, address ``gbase_l + g``), the two
  list memories.  No memory is read at an address in the cycle that writes it --
  weights and biases are written while the engine is idle, a group's state word in F3
  after its last read, a list bank while the engine does not read it -- so builds leave
  collision data undefined (``hw.synth.YOSYS_AFTER_READ``).
* **Configuration** goes through the ``cfg`` write port (:func:`config_writes` builds the
  writes for a network; the map is :mod:`dynalign.hw.lif.regmap`); results through ``o``
  (the class) and the ``rd_addr`` / ``rd_data`` read-back port (counters, per-neuron
  counts and membranes; see :func:`rd_stat_addr`, :func:`rd_count_addr`,
  :func:`rd_vmem_addr`).  The read-back values of an inference are stable while
  ``o.valid`` is high, i.e. until the class is taken (per-neuron values share the
  engine's state port, so they read correctly only while the engine is idle: class
  valid, or no inference started).

Blocks (each a :class:`amaranth.lib.wiring.Component` of its own module, every stage
boundary a register; the widths come from :class:`~dynalign.hw.lif.common.LIFGeometry`):

* :class:`~dynalign.hw.lif.config.ConfigRegisters` -- ``cfg`` writes -> registers,
  bias and weight writes;
* :class:`~dynalign.hw.lif.loader.InputLoader` -- samples -> the input list (stages LA,
  LB, LW);
* :class:`~dynalign.hw.lif.issue.IssueSequencer` -- the entry issued per cycle, the
  group / layer / step loops, the FIFO credit, the cycle counter;
* :class:`~dynalign.hw.lif.accumulate.Accumulator` -- P1 (entry), PA (weight, state and
  bias reads), P2 (products), P3 (accumulate);
* :class:`~dynalign.hw.lif.update.NeuronUpdate` -- F1..F3: leak, bias, ``sat_MEM``,
  threshold, reset, count, write back, spike mask (``ISSUE_TO_MASK`` = 7 cycles after
  the issue);
* :class:`~dynalign.hw.lif.serialiser.SpikeSerialiser` -- mask FIFO, one spike index
  per cycle into the next layer's list;
* :class:`~dynalign.hw.lif.readout.ClassScan` -- the class, from the output layer's
  state (``READOUT_TAIL`` cycle for the registered key compare);
* :class:`~dynalign.hw.lif.readback.LayerCounters` and
  :class:`~dynalign.hw.lif.readback.ReadBack` -- per-layer counters, the read-back port.

A ``last`` entry is only issued while fewer than ``fifo_depth - 1`` masks are pending
(issued and not yet loaded by the serialiser: a counter), so nothing ever stalls inside
the pipeline.

Counters (per inference, reset when it starts): ``cycles`` -- engine cycles from the
start of step 0 to the class being valid, *not* counting cycles spent waiting for input
samples; per layer ``spikes``, ``synops`` (``n_out`` per non-zero active entry) and
``saturations`` (neuron updates clamped by ``sat_MEM``).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..formats import ACT, BIAS, COUNT, SAMPLE, WEIGHT
from ..ram import SPRAM_DEPTH, SPRAM_WIDTH
from ..validate import check_choice, check_int
from .accumulate import Accumulator
from .common import LIFGeometry, ceil_div, select
from .config import ConfigRegisters, ConfigSignature
from .issue import IssueSequencer
from .loader import InputLoader
from .readback import LayerCounters, ReadBack
from .readout import ClassScan
from .ref import LIFNetworkParams
from .regmap import (
    CFG_ADDR_WIDTH,
    CFG_DATA_WIDTH,
    FLAG_PACKED,
    FLAG_RESET_ZERO,
    LAYER_REG_BASE,
    LAYER_REG_STRIDE,
    RD_ADDR_WIDTH,
    RD_CLS,
    RD_CYCLES,
    RD_DATA_WIDTH,
    REG_FIELDS,
    REGION_BIAS,
    REGION_REG,
    REGION_SHIFT,
    REGION_WEIGHT,
    rd_count_addr,
    rd_stat_addr,
    rd_vmem_addr,
)
from .schedule import FIFO_DEPTH, READOUT_TAIL
from .serialiser import SpikeSerialiser
from .update import NeuronUpdate
from .weights import WEIGHT_RAMS, WeightRAM

__all__ = ["LIFNetwork", "ConfigSignature", "NetworkLayout", "config_writes",
           "CFG_ADDR_WIDTH", "CFG_DATA_WIDTH", "RD_ADDR_WIDTH", "REG_FIELDS",
           "REGION_REG", "REGION_BIAS", "REGION_WEIGHT", "REGION_SHIFT", "LAYER_REG_BASE",
           "rd_stat_addr", "rd_count_addr", "rd_vmem_addr", "RD_CLS", "RD_CYCLES",
           "bound_cycles", "bound_cycles_network", "READOUT_TAIL"]


def bound_cycles(active, n_out, lanes) -> int:
    """``ceil(active x n_out / lanes)``: the synaptic-work bound of one layer step."""
    return ceil_div(int(active) * int(n_out), int(lanes))


def bound_cycles_network(result, net: LIFNetworkParams, lanes: int) -> np.ndarray:
    """Per sample, the sum over steps and layers of ``ceil(active x n_out / lanes)``,
    from a :class:`dynalign.hw.lif.ref.NetworkResult` (its ``active`` field)."""
    n_out = np.array([layer.n_out for layer in net.layers], np.int64)
    return (-(-(result.active * n_out) // lanes)).sum(axis=(1, 2))


class NetworkLayout:
    """Where a network lives in a :class:`LIFNetwork` of ``lanes`` lanes: per layer the
    group count, weight base (words) and group base; per neuron its state *slot*
    (``gbase * lanes + i``)."""

    def __init__(self, topology, *, lanes: int):
        self.topology = [int(n) for n in topology]
        self.lanes = lanes
        self.groups, self.wbase, self.gbase = [], [], []
        w = g = 0
        for n_in, n_out in zip(self.topology[:-1], self.topology[1:]):
            G = ceil_div(n_out, lanes)
            self.groups.append(G)
            self.wbase.append(w)
            self.gbase.append(g)
            w += G * n_in
            g += G
        self.weight_words, self.group_words = w, g

    def slot(self, layer: int, neuron: int) -> int:
        return self.gbase[layer] * self.lanes + neuron


class LIFNetwork(wiring.Component):
    """LIF network engine; see the module docstring.

    Parameters (keyword-only, checked: :class:`~dynalign.hw.lif.common.LIFGeometry`)
    -------------------------------------------------------------------------------
    lanes : power of two, 1..64 -- neurons updated per cycle (and multipliers).
    max_layers : 1..16.   max_neurons : largest layer.   max_inputs : largest C.
    weight_words, group_words : depths of the weight and state/bias memories.
    weight_width : bits of a stored weight, 2..WEIGHT.width (a narrower memory for big
        networks; weights must then lie in that signed range).
    fifo_depth : spike-mask FIFO depth (8..256).
    weight_ram : ``"memory"`` (an ``amaranth.lib.memory.Memory`` with a read and a write
        port: EBR / block RAM) or ``"spram"`` (one shared port, the weight writes taking
        it while ``cfg`` writes: :class:`dynalign.hw.ram.SinglePortRAM`, i.e. iCE40
        UltraPlus ``SB_SPRAM256KA`` blocks on those parts, a single-port ``Memory`` model
        elsewhere, so simulation covers the port mux) or ``"external"`` (no weight memory
        of its own: the engine reads word ``wbase_l + g n_in + j`` through the ``w_addr``
        / ``w_data`` ports -- the command engine's model store, where the image was
        uploaded in these words -- and ``cfg`` weight writes do nothing).
    max_steps : 1..COUNT.max_int -- largest T the instance runs.  The step counter and
        the per-neuron spike counts (at most T) are ``bits(max_steps)`` wide, the
        per-layer spike and saturation counters ``bits(max_neurons * max_steps)`` (at
        most one per neuron and step), all exact; read back zero-extended.  The default
        keeps :data:`~hw.formats.COUNT` and :data:`~hw.formats.CYCLES`.
    count_synops : bool -- keep the per-layer SynOps counters (``False``: they read 0;
        the accelerator's results record has no use for them).
    count_cycles : bool -- keep the ``cycles`` counter (``False``: it reads 0; the
        accelerator counts its own latency, encoder included).
    bias_banks : 1 or 2 -- ``2``: the bias memory holds two sets, ``bias_bank`` picks the
        one that ``cfg`` bias writes fill and the engine reads (the accelerator keeps the
        biases of both resident models, so that a ``SELECT`` rewrites none).
    packed_weights : bool -- ``weight_ram="external"`` only (``weight_width`` >= 4): a
        layer whose ``flags`` set :data:`~dynalign.hw.lif.regmap.FLAG_PACKED` has 4-bit
        weights, two to a byte.  Its ``wbase`` and the engine's word addresses are
        logical: logical word ``w`` is read as store word ``w >> 1`` (``w_addr``), lane
        ``k``'s weight the low nibble of byte ``k`` for an even ``w``, the high nibble for
        an odd one, sign-extended (:func:`dynalign.hw.wire.layer_block`).

    Ports
    -----
    i : In(stream of signed SAMPLE)  -- C samples per step, steps in order, T steps.
    o : Out(stream of unsigned class index).
    cfg : In(ConfigSignature)  -- register / bias / weight writes (while idle).
    rd_addr : In(16), rd_data : Out(32) -- read-back, two cycles latency (see above).
    bias_bank : In(1) -- ``bias_banks=2`` only: the bias set written and read.
    w_addr : Out(weight address bits), w_data : In(lanes * 8) -- ``weight_ram="external"``
        only: the weight word read (lane ``k`` in bits ``8 k``, an int8 whose low
        ``weight_width`` bits are the weight, or two int4 of a packed layer), ``w_data``
        the cycle after ``w_addr``.
    """

    def __init__(self, *, lanes: int = 4, max_layers: int = 4, max_neurons: int = 128,
                 max_inputs: int = 64, weight_words: int = 4096, group_words: int = 128,
                 weight_width: int = WEIGHT.width, fifo_depth: int = FIFO_DEPTH,
                 weight_ram: str = "memory", max_steps: int = COUNT.max_int,
                 count_synops: bool = True, count_cycles: bool = True, bias_banks: int = 1,
                 packed_weights: bool = False):
        self.geometry = geo = LIFGeometry(
            lanes=lanes, max_layers=max_layers, max_neurons=max_neurons,
            max_inputs=max_inputs, weight_words=weight_words, group_words=group_words,
            weight_width=weight_width, fifo_depth=fifo_depth, max_steps=max_steps,
            count_synops=count_synops, count_cycles=count_cycles,
            packed_weights=packed_weights)
        self.weight_ram = check_choice("weight_ram", weight_ram, WEIGHT_RAMS)
        self.bias_banks = check_choice("bias_banks", bias_banks, (1, 2))
        if weight_ram == "external" and geo.weight_width > 8:
            raise ValueError("weight_ram='external' reads int8 weights: weight_width at "
                             "most 8")
        if packed_weights and (weight_ram != "external" or geo.weight_width < 4):
            raise ValueError("packed_weights reads two 4-bit weights a byte of an external "
                             "weight word: it needs weight_ram='external' and weight_width "
                             ">= 4")
        if weight_ram == "spram":
            if (geo.weight_width % 4 or geo.lanes * geo.weight_width > 4 * SPRAM_WIDTH
                    or geo.weight_words > SPRAM_DEPTH):
                raise ValueError("weight_ram='spram' needs weight_width 4 or 8, at most 64 "
                                 "bits per word (4 SPRAMs) and at most 16384 words")
        # the parameters and the widths the host side and the tests read
        for name in ("lanes", "max_layers", "max_neurons", "max_inputs", "weight_words",
                     "group_words", "weight_width", "fifo_depth", "max_steps",
                     "count_synops", "count_cycles", "packed_weights", "lane_bits",
                     "idx_width", "acc_width", "cls_width"):
            setattr(self, name, getattr(geo, name))
        ports = {
            "i": In(stream.Signature(signed(SAMPLE.width))),
            "o": Out(stream.Signature(unsigned(self.cls_width))),
            "cfg": In(ConfigSignature),
            "rd_addr": In(RD_ADDR_WIDTH),
            "rd_data": Out(RD_DATA_WIDTH),
        }
        if weight_ram == "external":
            ports.update({"w_addr": Out(geo.weight_addr_width), "w_data": In(8 * geo.lanes)})
        if self.bias_banks == 2:
            ports["bias_bank"] = In(1)
        super().__init__(ports)

    # ---------------------------------------------------------------- host side
    def layout(self, net_or_topology) -> NetworkLayout:
        topo = (net_or_topology.topology if isinstance(net_or_topology, LIFNetworkParams)
                else list(net_or_topology))
        return NetworkLayout(topo, lanes=self.lanes)

    def check_fits(self, net: LIFNetworkParams, steps: int | None = None) -> NetworkLayout:
        """Raise ``ValueError`` unless ``net`` (and ``steps``) fit this instance."""
        if not isinstance(net, LIFNetworkParams):
            raise TypeError(f"net must be LIFNetworkParams, not {type(net).__name__}")
        lay = self.layout(net)
        topo = net.topology
        if len(net.layers) > self.max_layers:
            raise ValueError(f"{len(net.layers)} layers exceed max_layers={self.max_layers}")
        if topo[0] > self.max_inputs:
            raise ValueError(f"{topo[0]} inputs exceed max_inputs={self.max_inputs}")
        if max(topo[1:]) > self.max_neurons:
            raise ValueError(f"{max(topo[1:])} neurons exceed max_neurons={self.max_neurons}")
        if lay.weight_words > self.weight_words:
            raise ValueError(f"network needs {lay.weight_words} weight words, the memory "
                             f"has {self.weight_words}")
        if lay.group_words > self.group_words:
            raise ValueError(f"network needs {lay.group_words} groups, the memory has "
                             f"{self.group_words}")
        lim = 1 << (self.weight_width - 1)
        for k, layer in enumerate(net.layers):
            if layer.weight.min() < -lim or layer.weight.max() > lim - 1:
                raise ValueError(f"layer {k + 1} weights exceed the {self.weight_width}-bit "
                                 f"weight memory")
            if layer.packed and self.weight_ram == "external" and not self.packed_weights:
                raise ValueError(f"layer {k + 1} has 4-bit weights, two to a byte; this "
                                 f"network engine reads one weight a byte")
        if steps is not None:
            check_int("steps", steps, lo=1, hi=self.max_steps)
        return lay

    def config_writes(self, net: LIFNetworkParams, steps: int) -> list[tuple[int, int]]:
        return config_writes(self, net, steps)

    # ---------------------------------------------------------------- gateware
    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        lanes, L = geo.lanes, geo.max_layers
        m.submodules.config = config = ConfigRegisters(geometry=geo)
        m.submodules.loader = loader = InputLoader(geometry=geo)
        m.submodules.issue = issue = IssueSequencer(geometry=geo)
        m.submodules.accumulate = acc = Accumulator(geometry=geo)
        m.submodules.update = update = NeuronUpdate(geometry=geo)
        m.submodules.serialiser = ser = SpikeSerialiser(geometry=geo)
        m.submodules.scan = scan = ClassScan(geometry=geo)
        m.submodules.counters = counters = LayerCounters(geometry=geo)
        m.submodules.readback = readback = ReadBack(geometry=geo)

        # ---------------- memories (see the module docstring on collisions)
        external = self.weight_ram == "external"
        if not external:
            m.submodules.wmem = wmem = WeightRAM(lanes=lanes, weight_width=geo.weight_width,
                                                 depth=geo.weight_words, kind=self.weight_ram)
        m.submodules.bmem = bmem = Memory(
            shape=unsigned(lanes * BIAS.width), init=[],
            depth=geo.group_words if self.bias_banks == 1 else 2 << geo.group_addr_width)
        m.submodules.smem = smem = Memory(shape=unsigned(lanes * geo.state_width),
                                          depth=geo.group_words, init=[])
        m.submodules.inmem = inmem = Memory(shape=unsigned(geo.idx_width + ACT.width),
                                            depth=2 << geo.in_entry_bits, init=[])
        m.submodules.spmem = spmem = Memory(shape=unsigned(geo.idx_width),
                                            depth=2 << geo.sp_entry_bits, init=[])
        b_wr = bmem.write_port(granularity=BIAS.width)
        b_rd = bmem.read_port()
        s_wr = smem.write_port()
        s_rd = smem.read_port()
        in_wr = inmem.write_port()
        in_rd = inmem.read_port()
        sp_wr = spmem.write_port()
        sp_rd = spmem.read_port()

        # ---------------- configuration: registers, bias and weight writes
        wiring.connect(m, wiring.flipped(self.cfg), config.cfg)
        layers = config.layers
        if not external:
            m.d.comb += [wmem.w_addr.eq(config.w_addr), wmem.w_data.eq(config.w_data),
                         wmem.w_en.eq(config.w_en)]
        def bias_addr(a):           # the group's word in bias set bias_bank (the top bit)
            if self.bias_banks == 1:
                return a
            return Cat(a[:geo.group_addr_width], self.bias_bank)
        m.d.comb += [b_wr.addr.eq(bias_addr(config.b_addr)), b_wr.data.eq(config.b_data),
                     b_wr.en.eq(config.b_en)]

        # ---------------- input loader -> input list (bank handshake with the issue)
        wiring.connect(m, wiring.flipped(self.i), loader.i)
        m.d.comb += [loader.channels.eq(config.channels),
                     loader.in_pre_shift.eq(config.in_pre_shift),
                     loader.in_round.eq(config.in_round),
                     in_wr.addr.eq(loader.l_addr), in_wr.data.eq(loader.l_data),
                     in_wr.en.eq(loader.l_en),
                     loader.bank.eq(issue.bank), loader.release.eq(issue.release)]

        # ---------------- sequencer: entries, loops, the class offered on `o`
        layer = issue.layer
        m.d.comb += [issue.n_layers.eq(config.n_layers), issue.steps.eq(config.steps),
                     issue.layers.eq(layers),
                     issue.bank_full.eq(loader.bank_full), issue.bank_nnz.eq(loader.bank_nnz),
                     issue.credit.eq(ser.credit), issue.busy.eq(ser.busy),
                     issue.spike_count.eq(ser.count), issue.scan_done.eq(scan.done),
                     in_rd.addr.eq(issue.in_addr), sp_rd.addr.eq(issue.sp_addr),
                     issue.result_ready.eq(self.o.ready), self.o.valid.eq(issue.result_valid),
                     self.o.payload.eq(scan.cls)]

        # ---------------- accumulate: list entries x weight words -> group sums
        wiring.connect(m, issue.issue, acc.issue)
        m.d.comb += [acc.from_input.eq(issue.from_input), acc.in_entry.eq(in_rd.data),
                     acc.sp_entry.eq(sp_rd.data), acc.gbase.eq(select(layers, "gbase", layer)),
                     b_rd.addr.eq(bias_addr(acc.s_addr)), acc.s_data.eq(s_rd.data),
                     acc.b_data.eq(b_rd.data)]

        if external and geo.packed_weights:
            # a packed layer: logical word w is store word w >> 1, its nibble w & 1 (both
            # registered with the read, for the word that arrives the cycle after)
            ww = geo.weight_width
            packed = select(layers, "flags", layer)[1]
            hi = Signal()
            packed_q = Signal()
            m.d.sync += [hi.eq(acc.w_addr[0]), packed_q.eq(packed)]
            m.d.comb += self.w_addr.eq(Mux(packed, acc.w_addr >> 1, acc.w_addr))
            lane_w = [Signal(signed(ww), name=f"w_lane{k}") for k in range(lanes)]
            for k, w in enumerate(lane_w):
                byte = self.w_data[8 * k:8 * k + 8]
                m.d.comb += w.eq(Mux(packed_q,
                                     Mux(hi, byte[4:].as_signed(), byte[:4].as_signed()),
                                     byte[:ww].as_signed()))
            m.d.comb += acc.w_data.eq(Cat(*lane_w))
        elif external:      # the low weight_width bits of each byte lane
            ww = geo.weight_width
            m.d.comb += [self.w_addr.eq(acc.w_addr),
                         acc.w_data.eq(Cat(*(self.w_data[8 * k:8 * k + ww]
                                             for k in range(lanes))))]
        else:
            m.d.comb += [wmem.r_addr.eq(acc.w_addr), acc.w_data.eq(wmem.r_data)]

        # ---------------- neuron update: sums -> state write back, spike masks
        wiring.connect(m, acc.sums, update.sums)
        m.d.comb += [update.first_step.eq(issue.first_step),
                     update.beta.eq(select(layers, "beta", layer)),
                     update.theta.eq(select(layers, "theta", layer)),
                     update.reset_zero.eq(select(layers, "flags", layer)[0]),
                     update.n_out.eq(select(layers, "n_out", layer)),
                     update.gbase.eq(select(layers, "gbase", layer)),
                     s_wr.addr.eq(update.s_waddr), s_wr.data.eq(update.s_wdata),
                     s_wr.en.eq(update.s_wen)]

        # ---------------- masks -> serialiser (spike list of bank layer % 2), counters
        wiring.connect(m, update.masks, ser.masks)
        m.d.comb += [counters.masks.valid.eq(update.masks.valid),
                     counters.masks.payload.eq(update.masks.payload),
                     ser.group_issued.eq(issue.issue.valid & issue.issue.payload.last),
                     ser.bank.eq(layer[0]), ser.clear.eq(issue.layer_done),
                     sp_wr.addr.eq(ser.l_addr), sp_wr.data.eq(ser.l_data),
                     sp_wr.en.eq(ser.l_en),
                     counters.start.eq(issue.start), counters.layer.eq(layer),
                     counters.saturated.eq(update.saturated), counters.synop.eq(issue.synop),
                     counters.layers.eq(layers)]

        # ---------------- class scan of the output layer, set up at every drain's end
        last_layer = Signal(range(L))
        m.d.comb += [last_layer.eq(config.n_layers - 1),
                     scan.load.eq(issue.layer_done),
                     scan.gbase.eq(select(layers, "gbase", last_layer)),
                     scan.n_out.eq(select(layers, "n_out", last_layer)),
                     scan.run.eq(issue.scanning), scan.s_data.eq(s_rd.data)]

        # ---------------- read-back port
        wiring.connect(m, counters.stats, readback.stats)
        m.d.comb += [readback.addr.eq(self.rd_addr), self.rd_data.eq(readback.data),
                     readback.s_data.eq(s_rd.data), readback.cls.eq(scan.cls),
                     readback.cycles.eq(issue.cycles)]

        # state read port: the group in PA (its word is latched in P2 for P3), the scan
        # of the output layer, or the read-back port while the engine is idle (every
        # address a register or the read-back port)
        with m.If(issue.scanning):
            m.d.comb += s_rd.addr.eq(scan.s_addr)
        with m.Elif(issue.idle):
            m.d.comb += s_rd.addr.eq(readback.s_addr)
        with m.Else():
            m.d.comb += s_rd.addr.eq(acc.s_addr)
        return m


def config_writes(dut: LIFNetwork, net: LIFNetworkParams, steps: int, *,
                  wbase=None) -> list[tuple[int, int]]:
    """The ``(addr, data)`` writes that load ``net`` (run for ``steps`` steps) into
    ``dut``'s memories and registers; raises ``ValueError`` when it does not fit.

    ``wbase``: each layer's weight base given (the store words where an uploaded
    image's weights lie: :meth:`dynalign.hw.wire.ImageHeader.weights_at` / lanes) -- then
    no weight is written (a ``weight_ram="external"`` network reads them there)."""
    lay = dut.check_fits(net, steps)
    if wbase is not None:
        lay.wbase = [int(w) for w in wbase]
    lanes = dut.lanes
    mask = (1 << CFG_DATA_WIDTH) - 1
    w = [(0, len(net.layers)), (1, steps), (2, net.topology[0]), (3, net.in_shift)]
    for k, layer in enumerate(net.layers):
        # a packed layer read from the store: logical word addresses, the packed flag (a
        # network with a weight memory of its own holds every weight at weight_width)
        packed = layer.packed and dut.packed_weights
        wb = lay.wbase[k] * 2 if packed else lay.wbase[k]
        flags = FLAG_RESET_ZERO * layer.zero_reset | FLAG_PACKED * packed
        vals = (layer.n_in, layer.n_out, lay.groups[k], wb, lay.gbase[k],
                layer.beta, layer.theta, flags)
        for fi, v in enumerate(vals):
            w.append((LAYER_REG_BASE + LAYER_REG_STRIDE * k + fi, int(v)))
    for k, layer in enumerate(net.layers):
        for i in range(layer.n_out):
            w.append(((REGION_BIAS << REGION_SHIFT) | lay.slot(k, i),
                      int(layer.bias[i]) & mask))
    for k, layer in enumerate(net.layers):
        if wbase is not None:
            break
        wt = np.asarray(layer.weight)
        for i in range(layer.n_out):
            g, lane = divmod(i, lanes)
            base = lay.wbase[k] + g * layer.n_in
            for j in range(layer.n_in):      # zeros too: memories keep the last network
                addr = ((base + j) << (lanes.bit_length() - 1)) | lane
                w.append(((REGION_WEIGHT << REGION_SHIFT) | addr, int(wt[i, j]) & mask))
    return w
