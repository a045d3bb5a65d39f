"""The LIF engine's sequencer: which list entry is issued in which cycle, the layer and
step loops, the read-out scan's turn and the cycle counter."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .common import LIFGeometry, select

__all__ = ["IssueSequencer"]


class IssueSequencer(wiring.Component):
    """Issues one active-list entry per cycle, group after group, layer after layer, step
    after step, and hands the engine's other blocks their turn.

    For each step ``t = 0 .. steps - 1`` and each layer ``l = 0 .. n_layers - 1`` the
    *layer step* issues, for each group ``g = 0 .. groups_l - 1``, the entries ``e = 0
    .. n - 1`` of the step's list (``n = max(nnz, 1)``: an empty list issues one *dummy*
    entry per group, so every group is still finalised); layer 0 reads the input list of
    bank ``bank`` (``nnz = bank_nnz``), a deeper layer the spike list the serialiser
    wrote for it (``nnz = spike_count``).  A group's last entry is issued only with
    ``credit`` (room for its spike mask); then the layer step *drains* until ``busy``
    falls.  Between steps the sequencer waits for a full input bank; after the last
    step the class scan runs until ``scan_done``, then the class is offered
    (``result_valid``) until ``result_ready``.

    States: IDLE (an inference starts when ``bank_full``), ISSUE, DRAIN, WAIT_INPUT,
    READOUT, DONE.  ``cycles`` counts from the start: every ISSUE and DRAIN cycle, one
    WAIT_INPUT cycle per step (not the cycles waiting there for input), the READOUT
    cycles but the last -- the equation of :func:`dynalign.hw.lif.cycles.ref_cycles`.

    Ports
    -----
    n_layers : In(range(max_layers + 1)), steps : In(count_width), layers :
        In(layers_layout) -- the configuration (``wbase``, ``groups`` and ``n_in`` used).
    bank_full : In(1), bank_nnz : In(range(max_inputs + 1)) -- the input bank ``bank``.
    credit : In(1) -- a group's last entry may be issued (fewer than ``fifo_depth - 1``
        masks pending).
    busy : In(1) -- masks pending or the serialiser busy (the drain is not over).
    spike_count : In(range(max_neurons + 1)) -- entries of the spike list just written.
    scan_done : In(1) -- the class scan is over.
    result_ready : In(1) -- the class is taken.
    issue : Out(stream of issue_entry, always ready) -- the entry issued this cycle
        (comb); its list data arrive one cycle later at ``in_addr`` / ``sp_addr``.
    in_addr : Out(in_entry_bits + 1), sp_addr : Out(sp_entry_bits + 1) -- list read
        addresses of entry ``e`` (input bank ``bank``; spike bank ``~layer[0]``).
    layer : Out(range(max_layers + 1)) -- the current layer (changes only at the end of a
        drain).   from_input : Out(1) -- ``layer == 0`` (the entries are input entries).
    first_step : Out(1) -- ``t == 0`` (membranes and counts start from 0).
    start : Out(1) -- strobe: an inference starts (the counters clear).
    synop : Out(1) -- registered: the last cycle issued a non-dummy entry of group 0.
    layer_done : Out(1) -- strobe: the drain is over (next layer / step).
    release : Out(1) -- strobe: the input bank is free again (``layer_done`` of layer 0).
    bank : Out(1) -- the input bank the engine reads.
    scanning : Out(1) -- READOUT (the scan owns the state read port).
    idle : Out(1) -- IDLE or DONE (the read-back owns the state read port).
    cycles : Out(cycles_width) -- the cycle counter (0 bits without ``count_cycles``).
    result_valid : Out(1) -- DONE: the class is valid.
    """

    def __init__(self, *, geometry: LIFGeometry):
        if not isinstance(geometry, LIFGeometry):
            raise TypeError(f"geometry must be a LIFGeometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "n_layers": In(range(g.max_layers + 1)),
            "steps": In(g.count_width),
            "layers": In(g.layers_layout),
            "bank_full": In(1),
            "bank_nnz": In(range(g.max_inputs + 1)),
            "credit": In(1),
            "busy": In(1),
            "spike_count": In(range(g.max_neurons + 1)),
            "scan_done": In(1),
            "result_ready": In(1),
            "issue": Out(stream.Signature(g.issue_entry, always_ready=True)),
            "in_addr": Out(g.in_entry_bits + 1),
            "sp_addr": Out(g.sp_entry_bits + 1),
            "layer": Out(range(g.max_layers + 1)),
            "from_input": Out(1),
            "first_step": Out(1),
            "start": Out(1),
            "synop": Out(1),
            "layer_done": Out(1),
            "release": Out(1),
            "bank": Out(1),
            "scanning": Out(1),
            "idle": Out(1),
            "cycles": Out(g.cycles_width),
            "result_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        layer, cycles, n_layers, steps = self.layer, self.cycles, self.n_layers, self.steps

        def field(name, index):
            return select(self.layers, name, index)

        t = Signal(geo.count_width)
        g = Signal(geo.group_width)
        e = Signal(range(geo.max_fan_in + 1))            # entry within the group's list
        nnz = Signal(range(geo.max_fan_in + 1))          # list length
        wg = Signal(geo.word_addr_width + 1)             # wbase + g * n_in
        # registered with e, nnz and g: is_last = (nnz == 0) | (e + 1 >= nnz),
        # is_dummy = nnz == 0, g_left = groups - 1 - g, g_last = g + 1 >= groups
        is_last = Signal()
        is_dummy = Signal()
        g_left = Signal(geo.group_width)
        g_last = Signal()
        l_last = Signal()                                # layer + 1 >= n_layers
        t_last = Signal()                                # t + 1 >= steps

        def list_start(n_entries, n_groups):
            """e = 0, g = 0 and nnz = n_entries for a layer step of n_groups groups."""
            return [g.eq(0), e.eq(0), nnz.eq(n_entries), is_last.eq(n_entries <= 1),
                    is_dummy.eq(n_entries == 0), g_left.eq(n_groups - 1),
                    g_last.eq(n_groups <= 1)]

        entry = self.issue.payload
        m.d.comb += [entry.first.eq(e == 0), entry.last.eq(is_last),
                     entry.dummy.eq(is_dummy), entry.group.eq(g), entry.waddr.eq(wg),
                     self.in_addr.eq(Cat(e[:geo.in_entry_bits], self.bank)),
                     self.sp_addr.eq(Cat(e[:geo.sp_entry_bits], ~layer[0])),
                     self.from_input.eq(layer == 0)]

        m.d.sync += self.synop.eq(0)                     # set below by the issue
        with m.FSM(name="engine"):
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(1)
                m.d.sync += [layer.eq(0), t.eq(0), l_last.eq(n_layers <= 1),
                             t_last.eq(steps <= 1)]
                with m.If(self.bank_full):
                    m.d.sync += [cycles.eq(0), self.first_step.eq(1), wg.eq(field("wbase", 0)),
                                 *list_start(self.bank_nnz, field("groups", 0))]
                    m.d.comb += self.start.eq(1)
                    m.next = "ISSUE"
            with m.State("WAIT_INPUT"):
                with m.If(self.bank_full):
                    m.d.sync += [wg.eq(field("wbase", 0)), cycles.eq(cycles + 1),
                                 *list_start(self.bank_nnz, field("groups", 0))]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += self.issue.valid.eq(~is_last | self.credit)
                with m.If(self.issue.valid):
                    m.d.sync += self.synop.eq((g == 0) & ~is_dummy)
                    with m.If(is_last):
                        m.d.sync += [e.eq(0), g.eq(g + 1), wg.eq(wg + field("n_in", layer)),
                                     is_last.eq(nnz <= 1), g_left.eq(g_left - 1),
                                     g_last.eq(g_left == 1)]
                        with m.If(g_last):
                            m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += [e.eq(e + 1), is_last.eq(e + 2 >= nnz)]
            with m.State("DRAIN"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(~self.busy):
                    m.d.comb += [self.layer_done.eq(1), self.release.eq(self.from_input)]
                    m.d.sync += [layer.eq(layer + 1), wg.eq(field("wbase", layer + 1)),
                                 *list_start(self.spike_count, field("groups", layer + 1)),
                                 l_last.eq(layer + 2 >= n_layers)]
                    with m.If(self.from_input):
                        m.d.sync += self.bank.eq(~self.bank)
                    with m.If(l_last):
                        m.d.sync += [layer.eq(0), t.eq(t + 1), self.first_step.eq(0),
                                     l_last.eq(n_layers <= 1), t_last.eq(t + 2 >= steps)]
                        with m.If(t_last):
                            m.next = "READOUT"
                        with m.Else():
                            m.next = "WAIT_INPUT"
                    with m.Else():
                        m.next = "ISSUE"
            with m.State("READOUT"):
                m.d.comb += self.scanning.eq(1)
                with m.If(self.scan_done):
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += cycles.eq(cycles + 1)
            with m.State("DONE"):
                m.d.comb += [self.result_valid.eq(1), self.idle.eq(1)]
                with m.If(self.result_ready):
                    m.next = "IDLE"
        return m
