"""What the blocks of the LIF engine share: :class:`LIFGeometry` (the parameters of an
instance and every width derived from them, computed in this one place), the payload
layouts passed between the blocks, and a few combinational helpers.

The blocks (each a :class:`amaranth.lib.wiring.Component` taking ``geometry=``):
:class:`~dynalign.hw.lif.config.ConfigRegisters`,
:class:`~dynalign.hw.lif.loader.InputLoader`,
:class:`~dynalign.hw.lif.issue.IssueSequencer`,
:class:`~dynalign.hw.lif.accumulate.Accumulator`,
:class:`~dynalign.hw.lif.update.NeuronUpdate`,
:class:`~dynalign.hw.lif.serialiser.SpikeSerialiser`,
:class:`~dynalign.hw.lif.readout.ClassScan`,
:class:`~dynalign.hw.lif.readback.LayerCounters`,
:class:`~dynalign.hw.lif.readback.ReadBack` and
:class:`~dynalign.hw.lif.weights.WeightRAM`; :class:`~dynalign.hw.lif.rtl.LIFNetwork`
composes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, signed
from amaranth.lib import data

from ..formats import ACT, BETA, BIAS, COUNT, CYCLES, MEM, WEIGHT
from ..validate import check_int
from .regmap import RD_SLOT_BITS, REG_FIELDS
from .schedule import FIFO_DEPTH

__all__ = ["LIFGeometry", "bits", "ceil_div", "tree_sum", "overflows", "popcount",
           "select"]


def bits(n: int) -> int:
    """Bits to hold 0..n (at least 1)."""
    return max(1, int(n).bit_length())


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class LIFGeometry:
    """The parameters of one LIF engine and the widths derived from them.

    Parameters (keyword-only, checked; see :class:`dynalign.hw.lif.rtl.LIFNetwork`)
    -------------------------------------------------------------------------
    lanes : power of two, 1..64.   max_layers : 1..16.
    max_neurons, max_inputs : 1..16384.   weight_words : 1..2**20.
    group_words : 1..16384.   weight_width : 2..WEIGHT.width.
    fifo_depth : 8..256.   max_steps : 1..COUNT.max_int.
    count_synops, count_cycles : bool.
    packed_weights : bool -- layers may have 4-bit weights, two to a byte of an external
        weight word (:data:`~.regmap.FLAG_PACKED`): word addresses are *logical*, one bit
        wider (:attr:`word_addr_width`).
    """

    lanes: int = 4
    max_layers: int = 4
    max_neurons: int = 128
    max_inputs: int = 64
    weight_words: int = 4096
    group_words: int = 128
    weight_width: int = WEIGHT.width
    fifo_depth: int = FIFO_DEPTH
    max_steps: int = COUNT.max_int
    count_synops: bool = True
    count_cycles: bool = True
    packed_weights: bool = False

    def __post_init__(self):
        checks = (("lanes", 1, 64), ("max_layers", 1, 16), ("max_neurons", 1, 1 << 14),
                  ("max_inputs", 1, 1 << 14), ("weight_words", 1, 1 << 20),
                  ("group_words", 1, 1 << 14), ("weight_width", 2, WEIGHT.width),
                  ("fifo_depth", 8, 256), ("max_steps", 1, COUNT.max_int))
        for name, lo, hi in checks:
            object.__setattr__(self, name, check_int(name, getattr(self, name), lo=lo, hi=hi))
            if name == "lanes" and self.lanes & (self.lanes - 1):
                raise ValueError(f"lanes must be a power of two, not {self.lanes}")
        for name in ("count_synops", "count_cycles", "packed_weights"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {getattr(self, name)!r}")
        if (self.lanes * self.max_neurons >= 1 << RD_SLOT_BITS
                or self.group_words * self.lanes > 1 << RD_SLOT_BITS):
            raise ValueError("lanes x neurons exceeds the 14-bit read-back slot space")

    # ------------------------------------------------------------ derived widths
    @property
    def lane_bits(self) -> int:
        """log2(lanes): neuron ``i`` is lane ``i % lanes`` of group ``i >> lane_bits``."""
        return self.lanes.bit_length() - 1

    @property
    def max_fan_in(self) -> int:
        """Largest list of a layer step: the inputs, or a layer's neurons (spikes)."""
        return max(self.max_inputs, self.max_neurons)

    @property
    def idx_width(self) -> int:
        """Bits of a list entry's index (an input channel or a neuron of the layer)."""
        return bits(self.max_fan_in - 1)

    @property
    def in_entry_bits(self) -> int:
        """Bits of an entry's position within one input-list bank."""
        return bits(self.max_inputs - 1)

    @property
    def sp_entry_bits(self) -> int:
        """Bits of an entry's position within one spike-list bank."""
        return bits(self.max_neurons - 1)

    @property
    def group_addr_width(self) -> int:
        """Bits of a state / bias memory address (a group)."""
        return bits(self.group_words - 1)

    @property
    def weight_addr_width(self) -> int:
        """Bits of a weight memory address."""
        return bits(self.weight_words - 1)

    @property
    def word_addr_width(self) -> int:
        """Bits of a weight word address as the engine counts it: the memory's
        (:attr:`weight_addr_width`), one more with ``packed_weights`` (a 4-bit layer's
        logical word ``w`` is half of store word ``w >> 1``)."""
        return self.weight_addr_width + int(self.packed_weights)

    @property
    def group_width(self) -> int:
        """Bits of a group index within a layer (and of a layer's group count)."""
        return bits(ceil_div(self.max_neurons, self.lanes)) + 1

    @property
    def acc_width(self) -> int:
        """Bits of a lane's accumulator: any ``sum_j W * a`` of a layer, exactly."""
        return ACT.width + self.weight_width + bits(self.max_fan_in) + 1

    @property
    def sum_width(self) -> int:
        """Bits of ``round_shift(beta * v, 8) + acc + bias`` before ``sat_MEM``."""
        return max(self.acc_width, MEM.width + BETA.width + 1) + 2

    @property
    def count_width(self) -> int:
        """Bits of a step count (T, t and a per-neuron spike count, at most T)."""
        return bits(self.max_steps)

    @property
    def state_width(self) -> int:
        """Bits of one lane of a state word: membrane (MEM) below, spike count above."""
        return MEM.width + self.count_width

    @property
    def event_width(self) -> int:
        """Bits of a per-layer spike or saturation counter (one per neuron and step)."""
        return min(CYCLES.width, bits(self.max_neurons * self.max_steps))

    @property
    def synop_width(self) -> int:
        """Bits of a per-layer SynOps counter (0 without ``count_synops``: reads 0)."""
        if not self.count_synops:
            return 0
        return min(CYCLES.width, bits(self.max_neurons * self.max_inputs * self.max_steps))

    @property
    def cycles_width(self) -> int:
        """Bits of the cycle counter (0 without ``count_cycles``: reads 0)."""
        return CYCLES.width if self.count_cycles else 0

    @property
    def cls_width(self) -> int:
        """Bits of a class (an output neuron index)."""
        return bits(self.max_neurons - 1)

    # ------------------------------------------------------------ payload layouts
    @property
    def layer_fields(self) -> data.StructLayout:
        """One layer's configuration registers, in :data:`~.regmap.REG_FIELDS` order:
        sizes, group count, weight base (words), group base, beta, theta, flags (reset
        mode, packed weights: :data:`~.regmap.FLAG_RESET_ZERO`, :data:`~.regmap.FLAG_PACKED`)."""
        shapes = {"n_in": range(self.max_fan_in + 1), "n_out": range(self.max_neurons + 1),
                  "groups": self.group_width, "wbase": self.word_addr_width + 1,
                  "gbase": self.group_addr_width + 1, "beta": BETA.width,
                  "theta": MEM.width - 1, "flags": 2}
        return data.StructLayout({name: shapes[name] for name in REG_FIELDS})

    @property
    def layers_layout(self) -> data.ArrayLayout:
        """Every layer's :attr:`layer_fields`."""
        return data.ArrayLayout(self.layer_fields, self.max_layers)

    @property
    def issue_entry(self) -> data.StructLayout:
        """One issued list entry: whether it is its group's first and last, whether it is
        the dummy entry of an empty list, its group and the group's weight address
        (``wbase + g * n_in``; the entry's weight word is that plus its index)."""
        return data.StructLayout({"first": 1, "last": 1, "dummy": 1,
                                  "group": self.group_width,
                                  "waddr": self.word_addr_width + 1})

    @property
    def group_sum(self) -> data.StructLayout:
        """A group at the end of its accumulation: its index, every lane's
        ``acc = sum_j W * a`` and the group's state and bias words."""
        return data.StructLayout({
            "group": self.group_width,
            "acc": data.ArrayLayout(signed(self.acc_width), self.lanes),
            "state": self.lanes * self.state_width,
            "bias": self.lanes * BIAS.width})

    @property
    def spike_mask(self) -> data.StructLayout:
        """A group's spikes, one bit per lane, and the group index."""
        return data.StructLayout({"spikes": self.lanes, "group": self.group_width})


# ---------------------------------------------------------------- combinational helpers
def tree_sum(terms):
    """The sum of ``terms`` as a balanced adder tree (``sum`` chains them)."""
    terms = list(terms)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def overflows(value, width):
    """True when the signed ``value`` does not fit ``width`` bits: its bits from
    ``width - 1`` up are neither all zeros nor all ones (cheaper than two compares)."""
    top = value[width - 1:]
    return ~((top == 0) | (top == (1 << len(top)) - 1))


def popcount(value):
    """The number of set bits of ``value``."""
    return sum(value[k] for k in range(len(value)))


def select(layers, name, index):
    """Field ``name`` of layer ``index`` (a value) of a :attr:`LIFGeometry.layers_layout`
    view (an :class:`~amaranth.hdl.Array` over the layers)."""
    return Array(getattr(layers[k], name) for k in range(len(layers)))[index]
