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
  fills step ``t+1`` while the engine works on step ``t``).  The loader takes one
  sample per cycle in three stages: LA ``y = x >> max(in_shift - 1, 0)``; LB
  ``r = (y + 1) >> 1`` if ``in_shift`` else ``y`` (``= round_shift(x, in_shift)``) and
  ``r != 0``; LW ``sat_ACT(r)`` written if non-zero.  A deeper layer's inputs are
  the indices of the previous layer's spikes in that step (value 1), written by the
  spike serialiser into one of two ping-pong banks.
* **Engine.**  For each layer, for each group ``g``, for each active entry ``(j, a)``:
  ``acc[k] += W[g*lanes+k, j] * a`` (one entry per cycle, all lanes at once); after the
  group's last entry the group is *finalised* (leak, bias, saturation, threshold, reset,
  count) in a pipeline while the next group accumulates.  A layer step therefore costs
  ``groups x max(active, 1)`` cycles plus a drain (10 cycles, ``dynalign.hw.lif.cycles.DRAIN``,
  and the serialisation of the last group's spikes), against the bound
  ``ceil(active x n_out / lanes)``; the exact count is :func:`dynalign.hw.lif.cycles.ref_cycles`.
  An empty list still finalises every group (one dummy entry of value 0 per group).
* **Memories** (``amaranth.lib.memory.Memory``): weights (word = ``lanes`` weights,
  address ``wbase_l + g * n_in + j``), biases and state (membrane + per-neuron spike
  count, address ``gbase_l + g``), the two list memories.
* **Configuration** goes through the ``cfg`` write port (:func:`config_writes` builds the
  writes for a network); results through ``o`` (the class) and the ``rd_addr`` /
  ``rd_data`` read-back port (counters, per-neuron counts and membranes; see
  :func:`rd_stat_addr`, :func:`rd_count_addr`, :func:`rd_vmem_addr`).  The read-back
  values of an inference are stable while ``o.valid`` is high, i.e. until the class is
  taken (per-neuron values share the engine's state port, so they read correctly only
  while the engine is idle: class valid, or no inference started).

Pipeline (one active entry per cycle; every stage boundary is a register):

* issue -- list read;
* P1 -- the list entry (index, value) registered;
* PA -- weight read at ``wbase + g * n_in + j``; state and bias words of the group read
  at ``gbase + g`` (formed in P1: every block-RAM address is a register or the
  read-back port);
* P2 -- ``lanes`` products ``W * a`` (8 x 16 bits); state and bias words latched;
* P3 -- accumulate; ``beta * (v & 0xff)`` by shift-and-add (a balanced adder tree) from
  the latched state word, rounded and registered;
* F1 -- ``beta * v`` split as ``beta * (v >> 8) * 2**8 + beta * (v & 0xff)``, exact, so
  that ``round_shift(beta * v, 8) = beta * (v >> 8) + ((beta * (v & 0xff) + 128) >> 8)``:
  one 16 x 16 DSP product per lane; ``acc + bias + low part``;
* F2 -- ``u = beta * (v >> 8) + acc + bias + low part``; whether ``u`` overflows MEM
  (then only its low ``MEM.width`` bits and sign are kept); which lanes hold neurons;
* F3 -- ``d = u - theta``, ``sat_MEM``, threshold, reset, count, write back, spike mask
  into a FIFO (``dynalign.hw.lif.cycles.ISSUE_TO_MASK`` = 7 cycles after the issue);
* serialiser -- one spike index per cycle into the next layer's list.

Per-layer constants used from P3 on (beta, theta and what F3 derives from theta, the
layer size and group base) are registered copies: the layer only changes at the end of
a drain.  The counters are updated one cycle after their events (registered masks).

A ``last`` entry is only issued while fewer than ``fifo_depth - 1`` masks are pending
(issued and not yet loaded by the serialiser: a counter), so nothing ever stalls inside
the pipeline.  The read-out scan registers each neuron's key
before comparing it (``READOUT_TAIL`` cycle).

Counters (per inference, reset when it starts): ``cycles`` -- engine cycles from the
start of step 0 to the class being valid, *not* counting cycles spent waiting for input
samples; per layer ``spikes``, ``synops`` (``n_out`` per non-zero active entry) and
``saturations`` (neuron updates clamped by ``sat_MEM``).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, ClockSignal, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..formats import ACT, BETA, BIAS, COUNT, CYCLES, IN_SHIFT_MAX, MEM, SAMPLE, WEIGHT
from .ref import LEAK_SHIFT, LIFNetworkParams

__all__ = ["LIFNetwork", "ConfigSignature", "NetworkLayout", "config_writes",
           "CFG_ADDR_WIDTH", "CFG_DATA_WIDTH", "RD_ADDR_WIDTH", "REG_FIELDS",
           "rd_stat_addr", "rd_count_addr", "rd_vmem_addr", "RD_CLS", "RD_CYCLES",
           "bound_cycles", "bound_cycles_network", "READOUT_TAIL"]

#: Read-out cycles after the scan of the output neurons (the registered key compare).
READOUT_TAIL = 1

CFG_ADDR_WIDTH = 24
CFG_DATA_WIDTH = 32
#: cfg address regions (addr[22:24]): registers, biases, weights.
REGION_REG, REGION_BIAS, REGION_WEIGHT = 0, 1, 2
REGION_SHIFT = 22
#: global registers (region 0, addr 0..3) and per-layer fields (0x80 + 8 l + field).
GLOBAL_REGS = ("n_layers", "steps", "channels", "in_shift")
REG_FIELDS = ("n_in", "n_out", "groups", "wbase", "gbase", "beta", "theta")
LAYER_REG_BASE = 0x80

RD_ADDR_WIDTH = 16
RD_CLS, RD_CYCLES = 0, 1
_RD_STAT_BASE = 0x10
_RD_COUNT, _RD_VMEM = 0x8000, 0xC000
_STATS = ("spikes", "synops", "saturations")


def rd_stat_addr(layer: int, what: str) -> int:
    """Read-back address of counter ``what`` (spikes/synops/saturations) of ``layer``."""
    return _RD_STAT_BASE + 4 * layer + _STATS.index(what)


def rd_count_addr(slot: int) -> int:
    return _RD_COUNT + slot


def rd_vmem_addr(slot: int) -> int:
    return _RD_VMEM + slot


ConfigSignature = wiring.Signature({
    "addr": Out(CFG_ADDR_WIDTH), "data": Out(CFG_DATA_WIDTH), "we": Out(1)})


def _bits(n: int) -> int:
    """Bits to hold 0..n (at least 1)."""
    return max(1, int(n).bit_length())


def _check_int(name, value, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {rng}, not {value}")
    return value


def _ceil_div(a, b):
    return -(-a // b)


def bound_cycles(active, n_out, lanes) -> int:
    """``ceil(active x n_out / lanes)``: the synaptic-work bound of one layer step."""
    return _ceil_div(int(active) * int(n_out), int(lanes))


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
            G = _ceil_div(n_out, lanes)
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

    Parameters (keyword-only)
    -------------------------
    lanes : power of two, 1..64 -- neurons updated per cycle (and multipliers).
    max_layers : 1..16.   max_neurons : largest layer.   max_inputs : largest C.
    weight_words, group_words : depths of the weight and state/bias memories.
    weight_width : bits of a stored weight, 2..WEIGHT.width (a narrower memory for big
        networks; weights must then lie in that signed range).
    fifo_depth : spike-mask FIFO depth (>= 8).
    weight_ram : ``"memory"`` (an ``amaranth.lib.memory.Memory`` with a read and a write
        port: EBR / block RAM) or ``"spram"`` (one shared port, the weight writes taking
        it while ``cfg`` writes: iCE40 UP ``SB_SPRAM256KA`` blocks on an iCE40 platform,
        a single-port ``Memory`` model elsewhere, so simulation covers the port mux).
    max_steps : 1..COUNT.max_int -- largest T the instance runs.  The step counter and
        the per-neuron spike counts (at most T) are ``bits(max_steps)`` wide, the
        per-layer spike and saturation counters ``bits(max_neurons * max_steps)`` (at
        most one per neuron and step), all exact; read back zero-extended.  The default
        keeps :data:`~hw.formats.COUNT` and :data:`~hw.formats.CYCLES`.
    count_synops : bool -- keep the per-layer SynOps counters (``False``: they read 0;
        the accelerator's results record has no use for them).
    count_cycles : bool -- keep the ``cycles`` counter (``False``: it reads 0; the
        accelerator counts its own latency, encoder included).

    Ports
    -----
    i : In(stream of signed SAMPLE)  -- C samples per step, steps in order, T steps.
    o : Out(stream of unsigned class index).
    cfg : In(ConfigSignature)  -- register / bias / weight writes (while idle).
    rd_addr : In(16), rd_data : Out(32) -- read-back, two cycles latency (see above).
    """

    def __init__(self, *, lanes: int = 4, max_layers: int = 4, max_neurons: int = 128,
                 max_inputs: int = 64, weight_words: int = 4096, group_words: int = 128,
                 weight_width: int = WEIGHT.width, fifo_depth: int = 8,
                 weight_ram: str = "memory", max_steps: int = COUNT.max_int,
                 count_synops: bool = True, count_cycles: bool = True):
        _check_int("lanes", lanes, 1, 64)
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes}")
        _check_int("max_layers", max_layers, 1, 16)
        _check_int("max_neurons", max_neurons, 1, 1 << 14)
        _check_int("max_inputs", max_inputs, 1, 1 << 14)
        _check_int("weight_words", weight_words, 1, 1 << 20)
        _check_int("group_words", group_words, 1, 1 << 14)
        _check_int("weight_width", weight_width, 2, WEIGHT.width)
        _check_int("fifo_depth", fifo_depth, 8, 256)
        _check_int("max_steps", max_steps, 1, COUNT.max_int)
        for name, flag in (("count_synops", count_synops), ("count_cycles", count_cycles)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {flag!r}")
        self.max_steps, self.count_synops = max_steps, count_synops
        self.count_cycles = count_cycles
        if weight_ram not in ("memory", "spram"):
            raise ValueError(f"weight_ram must be 'memory' or 'spram', not {weight_ram!r}")
        if weight_ram == "spram":
            if weight_width % 4 or lanes * weight_width > 64 or weight_words > 1 << 14:
                raise ValueError("weight_ram='spram' needs weight_width 4 or 8, at most 64 "
                                 "bits per word (4 SPRAMs) and at most 16384 words")
        self.weight_ram = weight_ram
        if lanes * max_neurons >= 1 << 14 or group_words * lanes > 1 << 14:
            raise ValueError("lanes x neurons exceeds the 14-bit read-back slot space")
        self.lanes, self.max_layers = lanes, max_layers
        self.max_neurons, self.max_inputs = max_neurons, max_inputs
        self.weight_words, self.group_words = weight_words, group_words
        self.weight_width, self.fifo_depth = weight_width, fifo_depth
        self.lane_bits = lanes.bit_length() - 1
        self.idx_width = _bits(max(max_inputs, max_neurons) - 1)
        self.acc_width = ACT.width + weight_width + _bits(max(max_inputs, max_neurons)) + 1
        self.cls_width = _bits(max_neurons - 1)
        super().__init__({
            "i": In(stream.Signature(signed(SAMPLE.width))),
            "o": Out(stream.Signature(unsigned(self.cls_width))),
            "cfg": In(ConfigSignature),
            "rd_addr": In(RD_ADDR_WIDTH),
            "rd_data": Out(32),
        })

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
        if steps is not None:
            _check_int("steps", steps, 1, self.max_steps)
        return lay

    def config_writes(self, net: LIFNetworkParams, steps: int) -> list[tuple[int, int]]:
        return config_writes(self, net, steps)

    # ---------------------------------------------------------------- gateware
    def elaborate(self, platform):
        m = Module()
        lanes, lb, ww = self.lanes, self.lane_bits, self.weight_width
        L = self.max_layers
        iw = self.idx_width
        in_ew = _bits(self.max_inputs - 1)         # entry index within an input bank
        sp_ew = _bits(self.max_neurons - 1)        # entry index within a spike bank
        gw = _bits(self.group_words - 1)
        wa = _bits(self.weight_words - 1)
        gcw = _bits(_ceil_div(self.max_neurons, lanes))
        SW = max(self.acc_width, MEM.width + BETA.width + 1) + 2   # any membrane sum
        CW = _bits(self.max_steps)                  # steps, t, per-neuron counts (<= T)
        STW = MEM.width + CW                        # state word per lane: v, count
        # per-layer counters: spikes and saturations at most one per neuron and step
        EVW = min(CYCLES.width, _bits(self.max_neurons * self.max_steps))
        SYW = min(CYCLES.width, _bits(self.max_neurons * self.max_inputs * self.max_steps))

        # ---------------- configuration registers
        n_layers = Signal(range(L + 1), init=1)
        steps = Signal(CW, init=1)
        channels = Signal(range(self.max_inputs + 1), init=1)
        # in_shift as the loader uses it: round_shift(x, s) = ((x >> (s - 1)) + 1) >> 1
        # for s > 0 (x = q 2**(s-1) + r with 0 <= r < 2**(s-1): the remainder r / 2**s
        # is below 1/2, so it never moves floor((q + 1) / 2)), x for s = 0
        in_sh1 = Signal(range(IN_SHIFT_MAX + 1))      # max(in_shift - 1, 0)
        in_rnd = Signal()                             # in_shift != 0
        f_n_in = Array(Signal(range(max(self.max_inputs, self.max_neurons) + 1),
                              name=f"n_in{k}") for k in range(L))
        f_n_out = Array(Signal(range(self.max_neurons + 1), name=f"n_out{k}")
                        for k in range(L))
        f_groups = Array(Signal(gcw + 1, name=f"groups{k}") for k in range(L))
        f_wbase = Array(Signal(wa + 1, name=f"wbase{k}") for k in range(L))
        f_gbase = Array(Signal(gw + 1, name=f"gbase{k}") for k in range(L))
        f_beta = Array(Signal(BETA.width, name=f"beta{k}") for k in range(L))
        f_theta = Array(Signal(MEM.width - 1, name=f"theta{k}") for k in range(L))
        fields = [f_n_in, f_n_out, f_groups, f_wbase, f_gbase, f_beta, f_theta]

        # ---------------- memories
        w_wr = _Port(addr=wa, data=lanes * ww, en=lanes)
        w_rd = _Port(addr=wa, data=lanes * ww, en=0)
        self._weight_ram(m, platform, w_wr, w_rd)
        # (no memory here is read at an address in the cycle that writes it -- weights and
        # biases are written while the engine is idle, a group's state word in F3 after
        # its last read, a list bank while the engine does not read it -- so builds leave
        # collision data undefined: hw.synth.YOSYS_AFTER_READ)
        m.submodules.bmem = bmem = Memory(shape=unsigned(lanes * BIAS.width),
                                          depth=self.group_words, init=[])
        m.submodules.smem = smem = Memory(shape=unsigned(lanes * STW), depth=self.group_words,
                                          init=[])
        m.submodules.inmem = inmem = Memory(shape=unsigned(iw + ACT.width),
                                            depth=2 << in_ew, init=[])
        m.submodules.spmem = spmem = Memory(shape=unsigned(iw), depth=2 << sp_ew, init=[])
        b_wr = bmem.write_port(granularity=BIAS.width)
        b_rd = bmem.read_port()
        s_wr = smem.write_port()
        s_rd = smem.read_port()
        in_wr = inmem.write_port()
        in_rd = inmem.read_port()
        sp_wr = spmem.write_port()
        sp_rd = spmem.read_port()

        # ---------------- cfg write port
        region = self.cfg.addr[REGION_SHIFT:]
        offset = self.cfg.addr[:REGION_SHIFT]
        with m.If(self.cfg.we):
            with m.Switch(region):
                with m.Case(REGION_REG):
                    with m.If(offset[7]):
                        lidx = offset[3:7]
                        for k in range(L):
                            with m.If(lidx == k):
                                with m.Switch(offset[:3]):
                                    for fi, f in enumerate(fields):
                                        with m.Case(fi):
                                            m.d.sync += f[k].eq(self.cfg.data)
                    with m.Else():
                        with m.Switch(offset[:2]):
                            for ri, reg in enumerate((n_layers, steps, channels)):
                                with m.Case(ri):
                                    m.d.sync += reg.eq(self.cfg.data)
                            with m.Case(GLOBAL_REGS.index("in_shift")):
                                # kept as max(in_shift - 1, 0) and in_shift != 0
                                sh = self.cfg.data[:len(in_sh1)]
                                m.d.sync += [in_sh1.eq(Mux(sh == 0, 0, sh - 1)),
                                             in_rnd.eq(sh != 0)]
        m.d.comb += [
            w_wr.addr.eq(offset >> lb), w_wr.data.eq(Cat(*([self.cfg.data[:ww]] * lanes))),
            b_wr.addr.eq(offset >> lb),
            b_wr.data.eq(Cat(*([self.cfg.data[:BIAS.width]] * lanes))),
        ]
        lane_sel = offset[:lb] if lb else Const(0, 1)
        for k in range(lanes):
            hit = self.cfg.we & (lane_sel == k)
            m.d.comb += [w_wr.en[k].eq(hit & (region == REGION_WEIGHT)),
                         b_wr.en[k].eq(hit & (region == REGION_BIAS))]

        # ---------------- input loader: samples -> non-zero activations, two banks
        # Three stages, one sample per cycle.
        #   LA (accept): y = x >> max(in_shift - 1, 0) (barrel shifter), registered with
        #       the bank it fills and whether it is the bank's last channel (ld_j and
        #       ld_bank count accepted samples; the last one marks the bank taken).
        #   LB: r = (y + 1) >> 1 if in_shift else y (= round_shift(x, in_shift));
        #       r != 0 (= act != 0: sat_ACT keeps a non-zero value non-zero) from y:
        #       y not in {-1, 0} if in_shift, else y != 0.
        #   LW: act = sat_ACT(r) written at entry ld_n of its bank if non-zero (ld_n
        #       counts written entries); the bank's last channel marks it full.
        # LA fills bank ``ld_bank`` only while it is not taken, so a bank held by the
        # engine (taken until released) is never written.
        full = Array([Signal(name="full0"), Signal(name="full1")])
        taken = Array([Signal(name="taken0"), Signal(name="taken1")])
        nnz_in = Array([Signal(range(self.max_inputs + 1), name=f"nnz_in{b}")
                        for b in range(2)])
        ld_bank = Signal()
        ld_j = Signal(range(self.max_inputs + 1))
        ld_n = Signal(range(self.max_inputs + 1))
        release = Signal()          # engine frees bank `eng_bank` (comb strobe)
        eng_bank = Signal()
        x = self.i.payload
        la = _named("la", valid=Signal(), last=Signal(), bank=Signal(),
                    y=Signal(signed(SAMPLE.width)))
        lb_ = _named("lb", valid=Signal(), last=Signal(), bank=Signal(), nz=Signal(),
                   r=Signal(signed(SAMPLE.width)))
        m.d.comb += self.i.ready.eq(~taken[ld_bank])
        accept = self.i.valid & self.i.ready
        ld_is_last = ld_j + 1 >= channels
        m.d.sync += [la["valid"].eq(accept), la["last"].eq(ld_is_last),
                     la["bank"].eq(ld_bank), la["y"].eq(x >> in_sh1)]
        with m.If(accept):
            with m.If(ld_is_last):
                m.d.sync += [ld_j.eq(0), ld_bank.eq(~ld_bank), taken[ld_bank].eq(1)]
            with m.Else():
                m.d.sync += ld_j.eq(ld_j + 1)
        y = la["y"]
        y_zero = y == 0
        y_m1 = y == -1
        m.d.sync += [lb_["valid"].eq(la["valid"]), lb_["last"].eq(la["last"]),
                     lb_["bank"].eq(la["bank"]),
                     lb_["nz"].eq(Mux(in_rnd, ~(y_zero | y_m1), ~y_zero)),
                     lb_["r"].eq(Mux(in_rnd, (y + 1) >> 1, y))]
        r = lb_["r"]
        act = Signal(signed(ACT.width))
        m.d.comb += act.eq(Mux(_overflows(r, ACT.width),
                               Mux(r[-1], ACT.min_int, ACT.max_int), r[:ACT.width]))
        ld_jw = Signal(range(self.max_inputs + 1))   # channel index of the sample in LW
        m.d.comb += [in_wr.addr.eq(Cat(ld_n[:in_ew], lb_["bank"])),
                     in_wr.data.eq(Cat(act, ld_jw)),
                     in_wr.en.eq(lb_["valid"] & lb_["nz"])]
        with m.If(lb_["valid"]):
            nz = Mux(lb_["nz"], 1, 0)
            with m.If(lb_["last"]):
                m.d.sync += [full[lb_["bank"]].eq(1), nnz_in[lb_["bank"]].eq(ld_n + nz),
                             ld_n.eq(0), ld_jw.eq(0)]
            with m.Else():
                m.d.sync += [ld_n.eq(ld_n + nz), ld_jw.eq(ld_jw + 1)]
        with m.If(release):
            m.d.sync += [full[eng_bank].eq(0), taken[eng_bank].eq(0)]

        # ---------------- engine state
        layer = Signal(range(L + 1))
        t = Signal(CW)
        g = Signal(gcw + 1)
        e = Signal(range(max(self.max_inputs, self.max_neurons) + 1))
        nnz = Signal(range(max(self.max_inputs, self.max_neurons) + 1))
        wg = Signal(wa + 1)                         # wbase + g * n_in
        first_step = Signal()
        cycles = Signal(CYCLES.width if self.count_cycles else 0)     # 0 bits: reads 0
        st_spikes = Array(Signal(EVW, name=f"spikes{k}") for k in range(L))
        st_synops = Array(Signal(SYW if self.count_synops else 0, name=f"synops{k}")
                          for k in range(L))
        st_sats = Array(Signal(EVW, name=f"sats{k}") for k in range(L))
        start = Signal()                            # an inference starts (comb)
        syn_v = Signal()                            # the last cycle issued a synop entry
        st_v = Signal()                             # F2 was valid in the last cycle
        st_spk = Signal(lanes, name="st_spk")
        st_sat = Signal(lanes, name="st_sat")
        cls = Signal(self.cls_width)
        out_n = Signal(range(self.max_neurons + 1))     # entries in the spike bank
        cur_n_out = f_n_out[layer]
        cur_gbase = f_gbase[layer]

        # pipeline registers: P1 (list entry), PA (weight/state/bias addresses), P2
        # (weight/state/bias data), P3 (products)
        p1 = _named("p1", valid=Signal(), first=Signal(), last=Signal(), dummy=Signal(),
                    g=Signal(gcw + 1), wg=Signal(wa + 1))
        # PA: the list entry registered (index, value), so that the weight address adder
        # starts from a register, not from the list block RAM's output
        pa = _named("pa", valid=Signal(), first=Signal(), last=Signal(), g=Signal(gcw + 1),
                    wg=Signal(wa + 1), idx=Signal(iw), val=Signal(signed(ACT.width)),
                    saddr=Signal(gw + 1))
        p2 = _named("p2", valid=Signal(), first=Signal(), last=Signal(),
                    val=Signal(signed(ACT.width)), g=Signal(gcw + 1))
        p3 = _named("p3", valid=Signal(), first=Signal(), last=Signal(), g=Signal(gcw + 1))
        prod = [Signal(signed(ACT.width + ww), name=f"prod{k}") for k in range(lanes)]
        acc = [Signal(signed(self.acc_width), name=f"acc{k}") for k in range(lanes)]
        # finalise stages F1 (leak product), F2 (sum, saturate, threshold, write)
        f1 = _named("f1", valid=Signal(), g=Signal(gcw + 1))
        f1_acc = [Signal(signed(self.acc_width), name=f"f1acc{k}") for k in range(lanes)]
        f2 = _named("f2", valid=Signal(), g=Signal(gcw + 1), saddr=Signal(gw + 1))
        f3 = _named("f3", valid=Signal(), g=Signal(gcw + 1), saddr=Signal(gw + 1))
        f2_leak_hi = [Signal(signed(BETA.width + 1 + MEM.width - LEAK_SHIFT),
                             name=f"leak_hi{k}") for k in range(lanes)]
        f2_rest = [Signal(signed(SW), name=f"rest{k}") for k in range(lanes)]
        f2_cnt = [Signal(CW, name=f"cnt{k}") for k in range(lanes)]

        m.submodules.mfifo = mfifo = fifo.SyncFIFOBuffered(width=lanes + gcw + 1,
                                                           depth=self.fifo_depth)
        # masks in flight or in the FIFO: last entries issued and not yet loaded by the
        # serialiser (a counter, not a sum over the stages: the credit is a register
        # compare, whatever the pipeline depth)
        pending = Signal(range(self.fifo_depth + 1))
        credit = Signal()
        m.d.comb += credit.eq(pending < self.fifo_depth - 1)

        # serialiser state
        ser_mask = Signal(lanes)
        ser_g = Signal(gcw + 1)
        busy_pipe = Signal()
        # every stage, the FIFO and the serialiser empty: in DRAIN the last entry issued
        # is a group's last, so an entry in any stage (or a counter update) means that
        # mask is not loaded yet (pending != 0).  Registered: (pending != 0) |
        # (ser_mask != 0) formed from their next values (pending_nx, ser_nx).
        pending_nx = Signal.like(pending)
        ser_nx = Signal(lanes)

        # ---- issue stage (FSM)
        issue = Signal()
        # registered with e, nnz and g: is_last = (nnz == 0) | (e + 1 >= nnz),
        # is_dummy = nnz == 0, g_left = groups - 1 - g, g_last = g + 1 >= groups
        is_last = Signal()
        is_dummy = Signal()
        g_left = Signal(gcw + 1)
        g_last = Signal()

        def list_start(n_entries, n_groups):
            """e = 0, g = 0 and nnz = n_entries for a layer step of n_groups groups."""
            return [g.eq(0), e.eq(0), nnz.eq(n_entries), is_last.eq(n_entries <= 1),
                    is_dummy.eq(n_entries == 0), g_left.eq(n_groups - 1),
                    g_last.eq(n_groups <= 1)]
        list_addr_in = Cat(e[:in_ew], eng_bank)
        list_addr_sp = Cat(e[:sp_ew], ~layer[0])
        m.d.comb += [in_rd.addr.eq(list_addr_in), sp_rd.addr.eq(list_addr_sp)]
        cur_is_l0 = Signal()
        m.d.comb += cur_is_l0.eq(layer == 0)

        ro_i = Signal(range(self.max_neurons + 1))
        ro_gaddr = Signal(gw + 1)
        ro_left = Signal(range(self.max_neurons + READOUT_TAIL + 1))
        l_last = Signal()                           # layer + 1 >= n_layers (registered)
        t_last = Signal()                           # t + 1 >= steps (registered)
        ro_valid = Signal()
        ro_lane = Signal(max(lb, 1))
        ro_idx = Signal(self.cls_width)
        best_key = Signal(MEM.width + CW)
        last_layer = Signal(range(L))
        reading = Signal()
        eng_idle = Signal()
        m.d.comb += last_layer.eq(n_layers - 1)

        m.d.sync += syn_v.eq(0)                     # set below by the issue
        with m.FSM(name="engine"):
            with m.State("IDLE"):
                m.d.comb += eng_idle.eq(1)
                m.d.sync += [layer.eq(0), t.eq(0), l_last.eq(n_layers <= 1),
                             t_last.eq(steps <= 1)]
                with m.If(full[eng_bank]):
                    m.d.sync += [cycles.eq(0), first_step.eq(1), wg.eq(f_wbase[0]),
                                 *list_start(nnz_in[eng_bank], f_groups[0])]
                    m.d.comb += start.eq(1)
                    m.next = "ISSUE"
            with m.State("WAIT_INPUT"):
                with m.If(full[eng_bank]):
                    m.d.sync += [wg.eq(f_wbase[0]), cycles.eq(cycles + 1),
                                 *list_start(nnz_in[eng_bank], f_groups[0])]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += issue.eq(~is_last | credit)
                with m.If(issue):
                    m.d.sync += syn_v.eq((g == 0) & ~is_dummy)
                    with m.If(is_last):
                        m.d.sync += [e.eq(0), g.eq(g + 1), wg.eq(wg + f_n_in[layer]),
                                     is_last.eq(nnz <= 1), g_left.eq(g_left - 1),
                                     g_last.eq(g_left == 1)]
                        with m.If(g_last):
                            m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += [e.eq(e + 1), is_last.eq(e + 2 >= nnz)]
            with m.State("DRAIN"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(~busy_pipe):
                    m.d.comb += release.eq(cur_is_l0)
                    m.d.sync += [layer.eq(layer + 1), out_n.eq(0), wg.eq(f_wbase[layer + 1]),
                                 *list_start(out_n, f_groups[layer + 1]),
                                 l_last.eq(layer + 2 >= n_layers),
                                 ro_gaddr.eq(f_gbase[last_layer]),
                                 ro_left.eq(f_n_out[last_layer] + READOUT_TAIL)]
                    with m.If(cur_is_l0):
                        m.d.sync += eng_bank.eq(~eng_bank)
                    with m.If(l_last):
                        m.d.sync += [layer.eq(0), t.eq(t + 1), first_step.eq(0),
                                     l_last.eq(n_layers <= 1), t_last.eq(t + 2 >= steps)]
                        with m.If(t_last):
                            m.next = "READOUT"
                        with m.Else():
                            m.next = "WAIT_INPUT"
                    with m.Else():
                        m.next = "ISSUE"
            with m.State("READOUT"):
                m.d.comb += reading.eq(1)
                # ro_left = n_last + READOUT_TAIL - ro_i (a down counter: no compare
                # with the layer size here)
                m.d.sync += [ro_valid.eq(ro_left > READOUT_TAIL), ro_i.eq(ro_i + 1),
                             ro_left.eq(ro_left - 1),
                             ro_lane.eq(ro_i[:lb] if lb else 0), ro_idx.eq(ro_i)]
                # ro_gaddr = gbase + (ro_i >> lanes_bits), kept as a register
                with m.If(ro_i[:lb].all() if lb else 1):
                    m.d.sync += ro_gaddr.eq(ro_gaddr + 1)
                # READOUT_TAIL more cycles: the last neuron's key is compared (registered)
                with m.If(ro_left == 0):
                    m.d.sync += [ro_i.eq(0), ro_valid.eq(0)]
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += cycles.eq(cycles + 1)
            with m.State("DONE"):
                m.d.comb += [self.o.valid.eq(1), eng_idle.eq(1)]
                with m.If(self.o.ready):
                    m.next = "IDLE"
        m.d.comb += self.o.payload.eq(cls)

        # state read port: the group in PA (its word is latched in P2 for P3), the read-out
        # scan of the last layer, or the read-back port while the engine is idle
        # (every address a register or the read-back port: the group addresses are
        # formed a stage ahead)
        with m.If(reading):
            m.d.comb += s_rd.addr.eq(ro_gaddr)
        with m.Elif(eng_idle):
            m.d.comb += s_rd.addr.eq(self.rd_addr[lb:14])
        with m.Else():
            m.d.comb += s_rd.addr.eq(pa["saddr"])
        # read-out comparison: key = (count, v + 2**23) as one unsigned number
        # (registered before the compare: block-RAM output -> lane select -> 40-bit
        # compare -> best_key was the ECP5 critical path)
        ro_word = s_rd.data.word_select(ro_lane, STW) if lanes > 1 else s_rd.data
        ro_key = Signal(MEM.width + CW)
        ro_key_valid = Signal()
        ro_key_idx = Signal(self.cls_width)
        m.d.sync += [ro_key.eq(Cat(ro_word[:MEM.width - 1], ~ro_word[MEM.width - 1],
                                   ro_word[MEM.width:])),
                     ro_key_valid.eq(ro_valid), ro_key_idx.eq(ro_idx)]
        with m.If(ro_key_valid):
            with m.If((ro_key_idx == 0) | (ro_key > best_key)):
                m.d.sync += [best_key.eq(ro_key), cls.eq(ro_key_idx)]

        # ---- P1: list data arrives and is registered into PA
        with m.If(issue):
            m.d.sync += [p1["valid"].eq(1), p1["first"].eq(e == 0), p1["last"].eq(is_last),
                         p1["dummy"].eq(is_dummy), p1["g"].eq(g), p1["wg"].eq(wg)]
        with m.Else():
            m.d.sync += p1["valid"].eq(0)
        in_idx = in_rd.data[ACT.width:]
        in_val = in_rd.data[:ACT.width].as_signed()
        p1_idx = Mux(cur_is_l0, in_idx, sp_rd.data)
        p1_val = Mux(p1["dummy"], 0, Mux(cur_is_l0, in_val, 1))
        m.d.sync += [pa["valid"].eq(p1["valid"]), pa["first"].eq(p1["first"]),
                     pa["last"].eq(p1["last"]), pa["g"].eq(p1["g"]), pa["wg"].eq(p1["wg"]),
                     pa["idx"].eq(Mux(p1["dummy"], 0, p1_idx)), pa["val"].eq(p1_val),
                     pa["saddr"].eq(cur_gbase + p1["g"])]

        # ---- PA: read the weight word, the state and bias words
        m.d.comb += [w_rd.addr.eq(pa["wg"] + pa["idx"]),
                     b_rd.addr.eq(pa["saddr"])]
        m.d.sync += [p2["valid"].eq(pa["valid"]), p2["first"].eq(pa["first"]),
                     p2["last"].eq(pa["last"]), p2["val"].eq(pa["val"]), p2["g"].eq(pa["g"])]

        # ---- P2: products; latch the group's state and bias words (read with PA's group)
        m.d.sync += [p3["valid"].eq(p2["valid"]), p3["first"].eq(p2["first"]),
                     p3["last"].eq(p2["last"]), p3["g"].eq(p2["g"])]
        p3_state = Signal.like(s_rd.data, name="p3_state")
        p3_bias = Signal.like(b_rd.data, name="p3_bias")
        m.d.sync += [p3_state.eq(s_rd.data), p3_bias.eq(b_rd.data)]
        for k in range(lanes):
            wk = w_rd.data[k * ww:(k + 1) * ww].as_signed()
            m.d.sync += prod[k].eq(wk * p2["val"])

        # layer constants, registered (the layer only changes at the end of a drain, when
        # every stage is empty, and P3 is at least three cycles after the next issue)
        lc_beta = Signal(BETA.width, name="lc_beta")
        lc_theta = Signal(signed(MEM.width), name="lc_theta")
        lc_n_out = Signal.like(f_n_out[0], name="lc_n_out")
        lc_gbase = Signal.like(f_gbase[0], name="lc_gbase")
        lc_hi_spike = Signal(name="lc_hi_spike")            # MEM.max_int >= theta
        lc_lo_spike = Signal(name="lc_lo_spike")            # MEM.min_int >= theta
        lc_hi_minus = Signal(signed(MEM.width + 1), name="lc_hi_minus")   # max - theta
        lc_lo_minus = Signal(signed(MEM.width + 1), name="lc_lo_minus")   # min - theta
        theta_now = f_theta[layer]
        m.d.sync += [lc_beta.eq(f_beta[layer]), lc_theta.eq(theta_now),
                     lc_n_out.eq(cur_n_out), lc_gbase.eq(cur_gbase),
                     lc_hi_spike.eq(MEM.max_int >= theta_now),
                     lc_lo_spike.eq(MEM.min_int >= theta_now),
                     lc_hi_minus.eq(MEM.max_int - theta_now),
                     lc_lo_minus.eq(MEM.min_int - theta_now)]

        # ---- P3: accumulate; the last entry of a group hands the sum to F1.  The group's
        # state and bias words (latched in P2) are here: the low part of the leak product
        # is formed from them and registered for F1 (no block-RAM output drives an adder
        # chain: that was the ECP5 critical path).
        #   beta * v = beta * v_hi * 2**8 + beta * v_lo  with v_hi = v >> 8 (signed, 16
        #   bits: one 16x16 DSP in F1) and v_lo = v & 0xff (unsigned: shift-and-add in
        #   LUTs), so round_shift(beta * v, 8) = beta * v_hi + ((beta * v_lo + 128) >> 8).
        m.d.sync += [f1["valid"].eq(p3["valid"] & p3["last"]), f1["g"].eq(p3["g"])]
        f1_vhi, f1_lor, f1_bias, f1_cnt = [], [], [], []
        for k in range(lanes):
            s = Mux(p3["first"], 0, acc[k]) + prod[k]
            with m.If(p3["valid"]):
                m.d.sync += acc[k].eq(s)
            m.d.sync += f1_acc[k].eq(s)
            word = p3_state[k * STW:(k + 1) * STW]
            v_old = Mux(first_step, 0, word[:MEM.width].as_signed())
            v_lo = v_old[:LEAK_SHIFT]
            lo = _tree_sum([Mux(lc_beta[b], v_lo << b, 0) for b in range(BETA.width)])
            regs = (Signal(signed(MEM.width - LEAK_SHIFT), name=f"f1vhi{k}"),
                    Signal(BETA.width + 1, name=f"f1lor{k}"),
                    Signal(signed(BIAS.width), name=f"f1bias{k}"),
                    Signal(CW, name=f"f1cnt{k}"))
            m.d.sync += [regs[0].eq(v_old[LEAK_SHIFT:].as_signed()),
                         regs[1].eq((lo + (1 << (LEAK_SHIFT - 1))) >> LEAK_SHIFT),
                         regs[2].eq(p3_bias[k * BIAS.width:(k + 1) * BIAS.width].as_signed()),
                         regs[3].eq(Mux(first_step, 0, word[MEM.width:]))]
            for lst, r in zip((f1_vhi, f1_lor, f1_bias, f1_cnt), regs, strict=True):
                lst.append(r)

        # ---- F1: leak product beta * v_hi; acc + bias + the rounded low part
        m.d.sync += [f2["valid"].eq(f1["valid"]), f2["g"].eq(f1["g"]),
                     f2["saddr"].eq(lc_gbase + f1["g"])]
        for k in range(lanes):
            m.d.sync += [f2_leak_hi[k].eq(lc_beta * f1_vhi[k]),
                         f2_rest[k].eq(f1_acc[k] + f1_bias[k] + f1_lor[k]),
                         f2_cnt[k].eq(f1_cnt[k])]

        # ---- F2: u = round_shift(beta * v, 8) + acc + bias, whether it overflows MEM,
        # which lanes hold neurons of the layer; count + 1 beside the count.
        m.d.sync += [f3["valid"].eq(f2["valid"]), f3["g"].eq(f2["g"]),
                     f3["saddr"].eq(f2["saddr"])]
        base_slot = f2["g"] << lb
        f3_u, f3_ovf, f3_lane, f3_cnt, f3_cnt1 = [], [], [], [], []
        for k in range(lanes):
            u = Signal(signed(SW), name=f"u{k}")
            m.d.comb += u.eq(f2_leak_hi[k] + f2_rest[k])
            regs = (Signal(signed(MEM.width + 1), name=f"f3u{k}"),    # u's low bits, sign
                    Signal(name=f"f3ovf{k}"), Signal(name=f"f3lane{k}"),
                    Signal(CW, name=f"f3cnt{k}"), Signal(CW, name=f"f3cnt1{k}"))
            m.d.sync += [regs[0].eq(Cat(u[:MEM.width], u[-1])),
                         regs[1].eq(_overflows(u, MEM.width)),
                         regs[2].eq((base_slot + k) < lc_n_out),
                         regs[3].eq(f2_cnt[k]), regs[4].eq(f2_cnt[k] + 1)]
            for lst, r in zip((f3_u, f3_ovf, f3_lane, f3_cnt, f3_cnt1), regs, strict=True):
                lst.append(r)

        # ---- F3: us = sat_MEM(u); spike = us >= theta; v = us - theta on a spike; write.
        # Without saturation u fits MEM, us = u, and d = u - theta (MEM.width + 2 bits)
        # gives the spike (d >= 0) and the new v; saturated, us is MEM's min or max and
        # the spike and the new v come from comparing that constant with theta
        # (registered layer constants).
        spike = Signal(lanes)
        satm = Signal(lanes)
        new_words = []
        for k in range(lanes):
            u_neg, ovf = f3_u[k][-1], f3_ovf[k]
            d = Signal(signed(MEM.width + 2), name=f"d{k}")
            m.d.comb += d.eq(f3_u[k] - lc_theta)
            sat_value = Mux(u_neg, MEM.min_int, MEM.max_int)
            sat_spike = Mux(u_neg, lc_lo_spike, lc_hi_spike)
            sat_minus = Mux(u_neg, lc_lo_minus, lc_hi_minus)                 # us - theta
            raw_spike = Mux(ovf, sat_spike, ~d[-1])
            m.d.comb += [satm[k].eq(f3_lane[k] & ovf),
                         spike[k].eq(f3_lane[k] & raw_spike)]
            us_bits = Mux(ovf, sat_value, f3_u[k][:MEM.width])
            sub_bits = Mux(ovf, sat_minus[:MEM.width], d[:MEM.width])
            v_new = Mux(spike[k], sub_bits, us_bits)
            new_words.append(Cat(v_new[:MEM.width], Mux(spike[k], f3_cnt1[k], f3_cnt[k])))
        m.d.comb += [s_wr.addr.eq(f3["saddr"]), s_wr.data.eq(Cat(*new_words)),
                     s_wr.en.eq(f3["valid"]),
                     mfifo.w_data.eq(Cat(spike, f3["g"])), mfifo.w_en.eq(f3["valid"])]

        # ---- counters, one cycle after the events (registered): synops after the issue
        # of a non-dummy entry of group 0, spikes and saturations after F2.  Each layer's
        # counter has its own adder (no shared adder feeding every layer's register).
        def popcount(sig):
            return sum(sig[k] for k in range(len(sig)))

        m.d.sync += [st_v.eq(f3["valid"]), st_spk.eq(spike), st_sat.eq(satm)]
        for k in range(L):
            here = layer == k
            with m.If(start):
                m.d.sync += [st_spikes[k].eq(0), st_synops[k].eq(0), st_sats[k].eq(0)]
            with m.Else():
                with m.If(st_v & here):
                    m.d.sync += [st_spikes[k].eq(st_spikes[k] + popcount(st_spk)),
                                 st_sats[k].eq(st_sats[k] + popcount(st_sat))]
                if self.count_synops:
                    with m.If(syn_v & here):
                        m.d.sync += st_synops[k].eq(st_synops[k] + f_n_out[k])

        # ---- spike serialiser: masks -> indices in spike bank `layer % 2`
        low = Signal(max(lb, 1))
        for k in reversed(range(lanes)):
            with m.If(ser_mask[k]):
                m.d.comb += low.eq(k)
        rest = Signal(lanes)
        m.d.comb += rest.eq(ser_mask & (ser_mask - 1))
        m.d.comb += [sp_wr.addr.eq(Cat(out_n[:sp_ew], layer[0])),
                     sp_wr.data.eq((ser_g << lb) | low if lb else ser_g),
                     sp_wr.en.eq(ser_mask != 0)]
        with m.If(ser_mask != 0):
            m.d.sync += out_n.eq(out_n + 1)
        m.d.comb += pending_nx.eq(pending + (issue & is_last) - (mfifo.r_en & mfifo.r_rdy))
        with m.If(rest == 0):
            m.d.comb += mfifo.r_en.eq(1)
            with m.If(mfifo.r_rdy):
                m.d.comb += ser_nx.eq(mfifo.r_data[:lanes])
                m.d.sync += ser_g.eq(mfifo.r_data[lanes:])
        with m.Else():
            m.d.comb += ser_nx.eq(rest)
        m.d.sync += [pending.eq(pending_nx), ser_mask.eq(ser_nx),
                     busy_pipe.eq((pending_nx != 0) | (ser_nx != 0))]

        # ---------------- read-back port (2 cycles latency)
        rd_q = Signal(RD_ADDR_WIDTH)
        m.d.sync += rd_q.eq(self.rd_addr)
        rb_word = (s_rd.data.word_select(rd_q[:lb], STW) if lanes > 1 else s_rd.data)
        stat = Signal(32)
        with m.Switch(rd_q):
            with m.Case(RD_CLS):
                m.d.comb += stat.eq(cls)
            with m.Case(RD_CYCLES):
                m.d.comb += stat.eq(cycles)
            for k in range(L):
                for si, arr in enumerate((st_spikes, st_synops, st_sats)):
                    with m.Case(_RD_STAT_BASE + 4 * k + si):
                        m.d.comb += stat.eq(arr[k])
        with m.If(rd_q[15]):
            with m.If(rd_q[14]):
                m.d.sync += self.rd_data.eq(rb_word[:MEM.width].as_signed())
            with m.Else():
                m.d.sync += self.rd_data.eq(rb_word[MEM.width:])
        with m.Else():
            m.d.sync += self.rd_data.eq(stat)
        return m

    def _weight_ram(self, m, platform, w_wr, w_rd):
        """Weight memory: see ``weight_ram`` in the class docstring."""
        lanes, ww = self.lanes, self.weight_width
        width = lanes * ww
        if self.weight_ram == "memory":
            m.submodules.wmem = wmem = Memory(shape=unsigned(width), depth=self.weight_words,
                                              init=[])
            wp = wmem.write_port(granularity=ww)
            rp = wmem.read_port()
            m.d.comb += [wp.addr.eq(w_wr.addr), wp.data.eq(w_wr.data), wp.en.eq(w_wr.en),
                         rp.addr.eq(w_rd.addr), w_rd.data.eq(rp.data)]
            return
        # single port: a write (configuration, engine idle) takes the address
        addr = Signal(14)
        m.d.comb += addr.eq(Mux(w_wr.en.any(), w_wr.addr, w_rd.addr))
        if not _is_ice40(platform):
            m.submodules.wmem = wmem = Memory(shape=unsigned(width), depth=self.weight_words,
                                              init=[])
            wp = wmem.write_port(granularity=ww)
            rp = wmem.read_port()
            m.d.comb += [wp.addr.eq(addr), wp.data.eq(w_wr.data), wp.en.eq(w_wr.en),
                         rp.addr.eq(addr), w_rd.data.eq(rp.data)]
            return
        from amaranth.hdl import Instance
        blocks = _ceil_div(width, 16)
        data_in = Signal(16 * blocks)
        data_out = Signal(16 * blocks)
        m.d.comb += [data_in.eq(w_wr.data), w_rd.data.eq(data_out)]
        for b in range(blocks):
            mask = Cat(*[w_wr.en[(16 * b + 4 * n) // ww] if 16 * b + 4 * n < width else Const(0)
                         for n in range(4)])
            m.submodules[f"spram{b}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=addr, i_DATAIN=data_in[16 * b:16 * b + 16], i_MASKWREN=mask,
                i_WREN=w_wr.en.any(), i_CHIPSELECT=1, i_CLOCK=ClockSignal(), i_STANDBY=0,
                i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=data_out[16 * b:16 * b + 16])


def _tree_sum(terms):
    """The sum of ``terms`` as a balanced adder tree (``sum`` chains them)."""
    terms = list(terms)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def _named(prefix, **fields):
    """Pipeline-stage registers as a dict, each signal named ``prefix_field``."""
    return {k: Signal.like(v, name=f"{prefix}_{k}") for k, v in fields.items()}


def _overflows(value, width):
    """True when the signed ``value`` does not fit ``width`` bits: its bits from
    ``width - 1`` up are neither all zeros nor all ones (cheaper than two compares)."""
    top = value[width - 1:]
    return ~((top == 0) | (top == (1 << len(top)) - 1))


class _Port:
    """Loose address/data/enable signals of a memory port (wired by ``_weight_ram``)."""

    def __init__(self, *, addr, data, en):
        self.addr = Signal(addr)
        self.data = Signal(data)
        self.en = Signal(max(en, 1))


def _is_ice40(platform) -> bool:
    try:
        from amaranth.vendor import SiliconBluePlatform
    except ImportError:                       # pragma: no cover -- older amaranth
        from amaranth.vendor import LatticeICE40Platform as SiliconBluePlatform
    return isinstance(platform, SiliconBluePlatform)


def config_writes(dut: LIFNetwork, net: LIFNetworkParams, steps: int) -> list[tuple[int, int]]:
    """The ``(addr, data)`` writes that load ``net`` (run for ``steps`` steps) into
    ``dut``'s memories and registers; raises ``ValueError`` when it does not fit."""
    lay = dut.check_fits(net, steps)
    lanes = dut.lanes
    mask = (1 << CFG_DATA_WIDTH) - 1
    w = [(0, len(net.layers)), (1, steps), (2, net.topology[0]), (3, net.in_shift)]
    for k, layer in enumerate(net.layers):
        vals = (layer.n_in, layer.n_out, lay.groups[k], lay.wbase[k], lay.gbase[k],
                layer.beta, layer.theta)
        for fi, v in enumerate(vals):
            w.append((LAYER_REG_BASE + 8 * k + fi, int(v)))
    for k, layer in enumerate(net.layers):
        for i in range(layer.n_out):
            w.append(((REGION_BIAS << REGION_SHIFT) | lay.slot(k, i),
                      int(layer.bias[i]) & mask))
    for k, layer in enumerate(net.layers):
        wt = np.asarray(layer.weight)
        for i in range(layer.n_out):
            g, lane = divmod(i, lanes)
            base = lay.wbase[k] + g * layer.n_in
            for j in range(layer.n_in):      # zeros too: memories keep the last network
                addr = ((base + j) << (lanes.bit_length() - 1)) | lane
                w.append(((REGION_WEIGHT << REGION_SHIFT) | addr, int(wt[i, j]) & mask))
    return w
